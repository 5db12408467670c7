"""``python -m shared.probe <component>``: can this component reach its broker and its database?

The exec probe of the Kubernetes manifests and the compose healthchecks. It reads
the component's own config.yml with the container's environment, so it checks
exactly what ``nameko run`` would use. Prints ``ok`` and exits 0, or prints what
failed and exits 1.
"""
from __future__ import annotations

import argparse
import sys

import shared  # noqa: F401  (warning filters before nameko pulls in eventlet)

TIMEOUT_SECONDS = 3.0


def _safe(uri: str) -> str:
    from sqlalchemy.engine import make_url
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show only the scheme
        return uri.split("://", 1)[0] + "://..."


def check_amqp(uri: str, timeout: float = TIMEOUT_SECONDS) -> None:
    from kombu import Connection

    with Connection(uri, connect_timeout=timeout) as conn:
        # max_retries=0: fail on the first refusal instead of kombu's back-off loop
        conn.ensure_connection(max_retries=0, timeout=timeout)
        conn.channel().close()  # the vhost and permissions are checked on open


def check_db(uri: str, timeout: float = TIMEOUT_SECONDS) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from shared.db import make_engine

    kwargs = {}
    if make_url(uri).get_backend_name() == "postgresql":
        kwargs = {"connect_args": {"connect_timeout": int(max(1, timeout))}, "pool_size": 1, "max_overflow": 0}
    engine = make_engine(uri, **kwargs)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def probe(name: str) -> list[str]:
    """The problems found; empty when the component's dependencies answer."""
    from shared.catalogue import component
    from shared.config import load_config

    config = load_config(component(name).config_path)
    problems = []
    amqp_uri = str(config.get("AMQP_URI") or "")
    try:
        check_amqp(amqp_uri)
    except Exception as exc:
        problems.append(f"AMQP {_safe(amqp_uri)}: {type(exc).__name__}: {exc}")
    db_uri = str(config.get("DB_URI") or "")
    try:
        check_db(db_uri)
    except Exception as exc:
        problems.append(f"database {_safe(db_uri)}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.probe", description=__doc__.splitlines()[0])
    parser.add_argument("component", help="a component name from shared.catalogue")
    args = parser.parse_args(argv)
    try:
        problems = probe(args.component)
    except Exception as exc:  # unknown component, unreadable config: still a clear one-liner
        print(f"{args.component}: probe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if problems:
        for problem in problems:
            print(f"{args.component}: {problem}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
