"""``wsli``: the operator's command line.

    wsli up | down | status          run the whole stack locally (SQLite under var/)
    wsli migrate [component ...]     apply Alembic migrations (a job, not a replica's start-up)
    wsli rotate-pii                  re-encrypt personal data after a new key is put first
    wsli token create --role R ...   mint a bearer token and print it once
    wsli token list | revoke ID ...  what tokens exist (expiry, last use), and end them
    wsli user create|password|unlock console accounts for people (gateway/web)
    wsli dlq list | replay | discard parked event messages
    wsli asyncapi [--check]          write or verify docs/asyncapi.yaml
    wsli demo [--url U] [--token T]  load a small data set through the gateway, create console accounts
    wsli demo --programme            the 2022 programme for 180 candidates with the bulk routes, calls counted
    wsli calendar list | show Y | add FILE [--replace] | status
                                     official holiday arrangements added for new years
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from shared.config import REPO_ROOT, load_config

VAR = Path(os.environ.get("WSLI_VAR_DIR") or REPO_ROOT / "var")  # pids and logs of `wsli up`
RUN = VAR / "run"
LOGS = VAR / "log"
SUPERVISOR = "supervisor"  # var/run/supervisor.pid: the process that restarts the components


def _gateway_config() -> dict:
    from shared.catalogue import GATEWAY
    return load_config(GATEWAY.config_path)


def _amqp_uri() -> str:
    return _gateway_config()["AMQP_URI"]


# ---- migrate ------------------------------------------------------------------------------------

def cmd_migrate(args) -> int:
    from shared.catalogue import COMPONENTS, component
    from shared.migrate import db_uri_of, upgrade

    targets = [component(n) for n in args.components] if args.components else COMPONENTS
    for c in targets:
        uri = db_uri_of(c)
        upgrade(c, uri)
        print(f"migrated {c.name}: {_safe_uri(uri)}")
    return 0


def _safe_uri(uri: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(uri).render_as_string(hide_password=True)


def cmd_rotate_pii(args) -> int:
    from shared.catalogue import COMPONENTS
    from shared.migrate import db_uri_of, rotate_pii
    from shared.pii import PiiVault

    for c in COMPONENTS:
        vault = PiiVault.from_config(load_config(c.config_path))
        count = rotate_pii(c.models().Base.metadata, db_uri_of(c), vault)
        print(f"{c.name}: re-encrypted {count} row(s) under the newest key")
    return 0


# ---- tokens -------------------------------------------------------------------------------------

def cmd_token_create(args) -> int:
    from sqlalchemy.orm import Session

    from gateway.tokens import create_token
    from shared.db import make_engine
    from shared.errors import WsliError
    from shared.pii import PiiVault, configure_vault

    config = _gateway_config()
    configure_vault(PiiVault.from_config(config))
    engine = make_engine(config["DB_URI"])
    agency = args.agency or config["AGENCY_ID"]
    try:
        with Session(engine, expire_on_commit=False) as session:
            token, row = create_token(session, role=args.role, agency=agency, name=args.name,
                                      unit_id=args.unit_id, district=args.district, person=args.person,
                                      expires_in_days=args.expires_in_days)
            session.commit()
    except WsliError as exc:
        print(f"wsli: {exc.message}: {json.dumps(exc.fields, ensure_ascii=False)}", file=sys.stderr)
        return 2
    print(token)
    print(f"# token #{row.id}: role={row.role} agency={row.agency_id} expires={row.expires_at:%Y-%m-%d}",
          file=sys.stderr)
    return 0


def _token_session():
    from sqlalchemy.orm import Session

    from shared.db import make_engine
    config = _gateway_config()
    return Session(make_engine(config["DB_URI"]), expire_on_commit=False), config["AGENCY_ID"]


def cmd_token_list(args) -> int:
    from sqlalchemy import select

    from gateway.models import ApiToken
    from gateway.tokens import token_out

    session, agency = _token_session()
    with session:
        rows = session.scalars(select(ApiToken).where(ApiToken.agency_id == (args.agency or agency))
                               .order_by(ApiToken.id)).all()
        out = [token_out(r) for r in rows if args.all or r.revoked_at is None]
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for t in out:
        state = "revoked " + t["revoked_at"][:16] if t["revoked_at"] else "expires " + (t["expires_at"] or "never")[:10]
        print(f"#{t['id']}  {t['prefix']}…  {t['role']:<10} {t['name']}  {state}  "
              f"last used {(t['last_used_at'] or 'never')[:16]}")
    print(f"{len(out)} token(s)")
    return 0


def cmd_token_revoke(args) -> int:
    from sqlalchemy import insert

    from gateway.models import platform
    from gateway.tokens import revoke

    session, agency = _token_session()
    with session:
        missing = []
        for token_id in args.ids:
            row = revoke(session, token_id, args.agency or agency)
            if row is None:
                missing.append(token_id)
            else:
                session.execute(insert(platform.audit).values(
                    at=row.revoked_at, agency_id=row.agency_id, actor="wsli", actor_role="admin",
                    action="token.revoke", entity_type="api_token", entity_id=str(row.id), detail="{}"))
                print(f"revoked token #{row.id} ({row.role}, {row.name})")
        session.commit()
    if missing:
        print(f"wsli: no token {', '.join(map(str, missing))} in this agency", file=sys.stderr)
        return 2
    return 0


# ---- dead letters -------------------------------------------------------------------------------

def cmd_dlq(args) -> int:
    from shared import dlq

    uri = args.amqp_uri or _amqp_uri()
    if args.action == "list":
        parked = dlq.list_parked(uri, limit=args.limit)
        if args.json:
            print(json.dumps(parked, ensure_ascii=False, indent=2))
        else:
            for p in parked:
                print(f"{p['dlq_id']}  {p['failed_at']}  {p['handler'] or '-'}  {p['type'] or '-'}  {p['error']}")
            print(f"{len(parked)} parked message(s)")
        return 0
    ids = None if args.all else args.ids
    if not ids and not args.all:
        print("wsli: name the dlq ids, or --all", file=sys.stderr)
        return 2
    count = dlq.replay(uri, ids) if args.action == "replay" else dlq.discard(uri, ids)
    print(f"{args.action}ed {count} message(s)")
    return 0


# ---- asyncapi -----------------------------------------------------------------------------------

def cmd_asyncapi(args) -> int:
    from shared.asyncapi import render

    target = Path(args.output)
    text = render()
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"{target} is out of date: run `wsli asyncapi`", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


# ---- up / down ----------------------------------------------------------------------------------

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _broker_problem(uri: str, timeout: float = 3.0) -> tuple[str, str] | None:
    """None when the broker at ``uri`` accepts us; else (kind, what to tell the person).

    The kinds are told apart by the AMQP answer, because only one of them is fixed by
    starting a broker: ``down`` (nothing listens: the connection is refused),
    ``credentials`` (ACCESS_REFUSED: wrong user name or password), ``vhost`` (NOT_ALLOWED,
    vhost not found), ``permissions`` (NOT_ALLOWED for this user on an existing vhost),
    ``unreachable`` (a timeout or another network error).
    """
    import socket

    import amqp
    from kombu.utils.url import parse_url

    parts = parse_url(uri)
    host, port = parts.get("hostname") or "localhost", parts.get("port") or 5672
    user, vhost = parts.get("userid") or "guest", parts.get("virtual_host") or "/"
    where = f"{host}:{port}"
    conn = amqp.Connection(host=where, userid=user, password=parts.get("password") or "guest",
                           virtual_host=vhost, connect_timeout=timeout)
    try:
        conn.connect()
        return None
    except amqp.exceptions.AccessRefused:
        return "credentials", (f"RabbitMQ at {where} refused user {user!r}: wrong user name or password "
                               "(check AMQP_URI, or rabbitmqctl add_user / change_password).")
    except amqp.exceptions.NotAllowed as exc:
        if "not found" in str(exc):
            return "vhost", (f"RabbitMQ at {where} has no vhost {vhost!r}: create it (rabbitmqctl add_vhost "
                             f"{vhost}; rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*') or fix AMQP_URI.")
        return "permissions", (f"RabbitMQ at {where} does not let user {user!r} use vhost {vhost!r} "
                               f"(rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'): {exc}")
    except ConnectionRefusedError:
        return "down", f"nothing listens at {where} (connection refused)"
    except (socket.timeout, OSError, amqp.exceptions.AMQPError) as exc:
        return "unreachable", f"RabbitMQ at {where} did not answer: {exc.__class__.__name__}: {exc}"
    finally:
        try:
            conn.collect()
        except Exception:  # nothing opened, nothing to release
            pass


def _broker_reachable(uri: str, timeout: float = 3.0) -> bool:
    return _broker_problem(uri, timeout) is None


def _ensure_broker(uri: str) -> None:
    problem = _broker_problem(uri)
    if problem is None:
        return
    kind, message = problem
    from kombu.utils.url import parse_url
    host = parse_url(uri).get("hostname") or "localhost"
    if kind != "down" or host not in LOOPBACK_HOSTS:
        # a broker answers (or the address is not this machine's): starting one here would fix nothing
        raise SystemExit(f"{message}\nAMQP_URI: {_safe_uri(uri)}")
    server = shutil.which("rabbitmq-server")
    if not server:
        raise SystemExit(
            f"RabbitMQ is not reachable at {_safe_uri(uri)} ({message}) and rabbitmq-server is not installed.\n"
            "Install it (Debian/Ubuntu: apt-get install rabbitmq-server), or point AMQP_URI at a running broker.")
    print(f"{message}: starting the local rabbitmq-server ...")
    subprocess.run([server, "-detached"], check=False)
    for _ in range(60):
        if _broker_reachable(uri, timeout=1.0):
            return
        time.sleep(1)
    raise SystemExit("rabbitmq-server did not come up within 60 s; see its log under /var/log/rabbitmq")


def _ensure_plugins() -> None:
    """Shovel and federation carry the cross-agency links (docs/agencies.md); enabling is idempotent
    and online (the broker keeps running). A broker elsewhere is its operator's to configure."""
    tool = shutil.which("rabbitmq-plugins")
    if not tool:
        print("note: rabbitmq-plugins not found here; the broker needs " + ", ".join(links_plugins()))
        return
    listed = subprocess.run([tool, "-q", "list", "-e", "-m"], capture_output=True, text=True, timeout=120)
    if listed.returncode == 0 and set(links_plugins()) <= set(listed.stdout.split()):
        return
    done = subprocess.run([tool, "-q", "enable", "--online", *links_plugins()], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        print(f"warning: could not enable {', '.join(links_plugins())}: {done.stderr.strip() or done.stdout.strip()}")


def links_plugins() -> tuple[str, ...]:
    from shared.links import PLUGINS
    return PLUGINS


def _agencies_file(path: str | None) -> dict:
    import yaml
    path = path or os.environ.get("AGENCIES_FILE") or str(REPO_ROOT / "var" / "agencies.yml")
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise SystemExit(f"wsli: no partner configuration at {path} (see deploy/agencies.example.yml)") from None


def cmd_agency(args) -> int:
    from shared import links
    if args.agency_command != "list" and not args.name:
        raise SystemExit(f"wsli: agency {args.agency_command} needs the partner's name")
    uri = args.amqp_uri or _amqp_uri()
    admin = links.admin_for(uri, args.api or os.environ.get("RABBITMQ_API"))
    if args.agency_command == "list":
        rows = links.listing(admin, uri)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        for r in [] if args.json else rows:
            print(f"{r['partner']:<16} directed: {r.get('directed', '-')}  facts: {r.get('facts', '-')}")
        return 0
    if args.agency_command == "remove":
        links.remove(admin, uri, args.name)
        print(f"link to {args.name} removed; messages not yet delivered stay in "
              f"{links.agency.outgoing_queue_name(args.name)}. Take {args.name} out of AGENCY_PARTNERS too.")
        return 0
    entry = (_agencies_file(args.config).get("partners") or {}).get(args.name)
    if entry is None:
        raise SystemExit(f"wsli: {args.name} is not under partners: in the configuration")
    partner_uri = os.path.expandvars(str(entry["uri"]))
    links.add(admin, uri, args.name, partner_uri, directed=bool(entry.get("directed", True)),
              facts=bool(entry.get("facts", True)))
    print(f"link to {args.name} set up ({type(admin).__name__.lower()}); add {args.name} to AGENCY_PARTNERS "
          "of cases and training so its messages are applied")
    return 0


def _pidfile(name: str) -> Path:
    return RUN / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _running() -> dict[str, int]:
    found = {}
    for pidfile in sorted(RUN.glob("*.pid")) if RUN.exists() else []:
        try:
            pid = int(pidfile.read_text().strip())
        except ValueError:
            continue
        if _alive(pid):
            found[pidfile.stem] = pid
    return found


def _health(url: str) -> dict | None:
    import requests
    try:
        return requests.get(url, timeout=3).json()
    except Exception:
        return None


def cmd_up(args) -> int:
    from shared.catalogue import COMPONENTS, component

    config = _gateway_config()
    _ensure_broker(config["AMQP_URI"])
    _ensure_plugins()
    RUN.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    cmd_migrate(argparse.Namespace(components=[]))
    running = _running()
    nameko = str(Path(sys.executable).with_name("nameko"))
    if SUPERVISOR in running:
        print(f"already running under the supervisor (pid {running[SUPERVISOR]})")
    else:
        children = {}
        for c in COMPONENTS:
            if c.name in running:
                print(f"{c.name} already running (pid {running[c.name]}), not supervised")
                continue
            children[c.name] = [nameko, "run", "--config", str(c.config_path), c.service_path]
        plan = {"run": str(RUN), "logs": str(LOGS), "cwd": str(REPO_ROOT), "children": children}
        with open(LOGS / "supervisor.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "shared.supervisor", json.dumps(plan)], cwd=REPO_ROOT,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _pidfile(SUPERVISOR).write_text(str(proc.pid))
        print(f"started the supervisor (pid {proc.pid}) for {', '.join(children)}; logs under {LOGS}")
    url = f"http://{config['WEB_SERVER_ADDRESS']}"
    deadline = time.monotonic() + args.wait
    health = None
    while time.monotonic() < deadline:
        health = _health(url + "/health")
        if health and health.get("status") == "ok":
            break
        time.sleep(0.5)
    if not health or health.get("status") != "ok":
        print(f"the stack did not become healthy within {args.wait:g}s: {health}", file=sys.stderr)
        print(f"see {LOGS}/*.log", file=sys.stderr)
        return 1
    web = f"http://{load_config(component('web').config_path)['WEB_SERVER_ADDRESS']}"
    while time.monotonic() < deadline and (_health(web + "/health") or {}).get("status") != "ok":
        time.sleep(0.5)  # the console has its own port and /health
    print(json.dumps(health, ensure_ascii=False))
    print(f"\nwsli is up: {url}   (API under {url}/api/v1, OpenAPI at {url}/openapi.json)")
    print(f"web console: {web}/")
    print("create a token with:  .venv/bin/wsli token create --role admin")
    print("create a console account with:  .venv/bin/wsli user create --username NAME --role operator")
    return 0


def cmd_down(args) -> int:
    running = _running()
    supervisor = running.pop(SUPERVISOR, None)
    if supervisor is not None:
        # first the supervisor, so it does not restart what we stop; it stops its children
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(supervisor):
            time.sleep(0.2)
        if _alive(supervisor):
            os.kill(supervisor, signal.SIGKILL)
        _pidfile(SUPERVISOR).unlink(missing_ok=True)
        print(f"stopped the supervisor (pid {supervisor})")
    for pid in running.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in running.values()):
        time.sleep(0.2)
    for name, pid in running.items():
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:  # gone meanwhile
                pass
        _pidfile(name).unlink(missing_ok=True)
        print(f"stopped {name} (pid {pid})")
    if not running and supervisor is None:
        print("nothing was running")
    return 0


def cmd_status(args) -> int:
    from shared.supervisor import read_state

    running = _running()
    supervised = (read_state(RUN) or {}).get("children", {}) if SUPERVISOR in running else {}
    if SUPERVISOR in running:
        print(f"supervisor: running (pid {running.pop(SUPERVISOR)})")
    for name, child in supervised.items():
        if child["state"] == "running":
            line = f"{name}: running (pid {child['pid']}, restarts {child['restarts']}"
        else:
            line = f"{name}: restarting in {child['next_start_in']}s (restarts {child['restarts']}"
        if child.get("last_exit") is not None:
            line += f", last exit {child['last_exit']}"
        print(line + ")")
    for name, pid in running.items():
        if name not in supervised:
            print(f"{name}: running (pid {pid}, not supervised)")
    base = f"http://{_gateway_config()['WEB_SERVER_ADDRESS']}"
    health = _health(base + "/health")
    print(json.dumps(health, ensure_ascii=False) if health else "gateway not answering")
    _print_lag(_lag_from_databases())
    return 0 if health and health.get("status") == "ok" else 1


# ---- calendar -----------------------------------------------------------------------------------

def cmd_calendar(args) -> int:
    import datetime

    import yaml

    from shared.calendar import CalendarStore, calendar_status, configure_calendar
    from shared.errors import WsliError

    directory = args.dir or _gateway_config().get("CALENDAR_DIR") or os.environ.get("CALENDAR_DIR") \
        or str(VAR / "calendar")
    configure_calendar(directory)
    store = CalendarStore(directory)
    try:
        if args.action == "add":
            if not args.target:
                print("wsli calendar add needs a YAML or JSON file", file=sys.stderr)
                return 2
            with open(args.target, encoding="utf-8") as fh:
                # BaseLoader keeps dates as text, so a bad date is named by its field, not by PyYAML
                data = yaml.load(fh, Loader=yaml.BaseLoader)
            if isinstance(data, dict) and isinstance(data.get("year"), str) and data["year"].isdigit():
                data["year"] = int(data["year"])
            actor = args.by or os.environ.get("USER") or "wsli"
            added = store.add(data, actor=f"cli:{actor}", replace=args.replace)
            print(f"{added.year}: {len(added.holidays)} holidays, {len(added.workdays)} adjusted working days "
                  f"({added.source}) added to {directory}")
        elif args.action == "show":
            print(json.dumps(store.get(int(args.target)).to_dict(), ensure_ascii=False, indent=1))
        elif args.action == "list":
            for year, arrangement in sorted(store.load().items()):
                print(f"{year}\t{arrangement.source}\t{arrangement.added_at}\t{arrangement.added_by}")
        else:
            today = datetime.datetime.now(datetime.timezone.utc).date()
            print(json.dumps(calendar_status(today), ensure_ascii=False))
    except (WsliError, OSError, ValueError, yaml.YAMLError) as exc:
        print(f"wsli calendar: {exc}", file=sys.stderr)
        if getattr(exc, "fields", None):
            print(json.dumps(exc.fields, ensure_ascii=False), file=sys.stderr)
        return 1
    return 0


def _lag_from_databases() -> dict:
    """``GET /api/v1/status/lag`` without a token: the operator reads the databases directly."""
    from shared.catalogue import SERVICES
    from shared.db import make_engine
    from shared.lag import add_queues, combine, published_at, service_stats

    stats, sources, unavailable = {}, {}, []
    for c in SERVICES:
        tables = c.models().platform
        engine = make_engine(load_config(c.config_path)["DB_URI"])
        try:
            with engine.connect() as conn:
                stats[c.name] = service_stats(conn, tables, c.service())
            sources[c.name] = (engine, tables)
        except Exception:  # no database yet, or unreachable: say so below
            unavailable.append(c.name)

    def published_at_of(source, event_type, offset):
        engine, tables = sources[source]
        with engine.connect() as conn:
            return published_at(conn, tables, event_type, offset)

    report = add_queues(combine(stats, published_at_of, unavailable), _amqp_uri())
    for engine, _ in sources.values():
        engine.dispose()
    return report


def _print_lag(report: dict) -> None:
    print(f"consumers caught up: {'yes' if report['caught_up'] else 'NO'}"
          + (f" (no answer from {', '.join(report['unavailable'])})" if report["unavailable"] else ""))
    for c in report["consumers"]:
        age = c.get("oldest_unprocessed_age_s")
        print(f"  {c['handler']:<42} {c['source']}.{c['event']:<28} published {c['published']}  "
              f"processed {c['processed']}  behind {c['behind']}  queued {c.get('queued', '?')}"
              + (f"  oldest unprocessed {age:g}s" if age is not None else ""))
    for service, o in report["outboxes"].items():
        if o["pending"]:
            print(f"  outbox {service}: {o['pending']} unpublished, oldest {o['oldest_pending_age_s']}s")
    if "dead_letters" in report:
        print(f"  dead letters: {report['dead_letters']} (wsli dlq list)")


# ---- entry point --------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    from shared.auth import ROLES

    p = argparse.ArgumentParser(prog="wsli", description="wsli operator commands")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run every service and the gateway in the background")
    up.add_argument("--wait", type=float, default=90, help="seconds to wait for /health")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=cmd_down)
    sub.add_parser("status", help="what runs, and the gateway's /health").set_defaults(func=cmd_status)

    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("components", nargs="*", help="default: all")
    mig.set_defaults(func=cmd_migrate)

    sub.add_parser("rotate-pii", help="re-encrypt personal data under the first key of PII_KEYS").set_defaults(
        func=cmd_rotate_pii)

    tok = sub.add_parser("token", help="API tokens")
    tok_sub = tok.add_subparsers(dest="token_command", required=True)
    create = tok_sub.add_parser("create", help="mint a token; prints it once")
    create.add_argument("--role", required=True, choices=[r for r in ROLES if r != "public"])
    create.add_argument("--agency", help="default: AGENCY_ID of this deployment")
    create.add_argument("--name")
    create.add_argument("--unit-id", type=int)
    create.add_argument("--district")
    create.add_argument("--person")
    create.add_argument("--expires-in-days", type=int, help="default by role: admin 30, operator/finance 90, else 365")
    create.set_defaults(func=cmd_token_create)
    listing = tok_sub.add_parser("list", help="tokens of this agency: role, expiry, last use (never the token)")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--agency")
    listing.set_defaults(func=cmd_token_list)
    revoking = tok_sub.add_parser("revoke", help="revoke tokens by id (from `token list`)")
    revoking.add_argument("ids", nargs="+", type=int)
    revoking.add_argument("--agency")
    revoking.set_defaults(func=cmd_token_revoke)

    user = sub.add_parser("user", help="console accounts (web pages) for people")
    from gateway.web.users import add_arguments, run
    add_arguments(user.add_subparsers(dest="user_command", required=True))
    user.set_defaults(func=run)

    dlq = sub.add_parser("dlq", help="dead-lettered event messages")
    dlq.add_argument("action", choices=["list", "replay", "discard"])
    dlq.add_argument("ids", nargs="*", help="dlq ids (from `list`)")
    dlq.add_argument("--all", action="store_true")
    dlq.add_argument("--json", action="store_true")
    dlq.add_argument("--limit", type=int, default=1000)
    dlq.add_argument("--amqp-uri")
    dlq.set_defaults(func=cmd_dlq)

    cal = sub.add_parser("calendar", help="official holiday arrangements for years the package lacks")
    cal.add_argument("action", choices=["list", "show", "add", "status"])
    cal.add_argument("target", nargs="?", help="the year (show) or the YAML/JSON file (add)")
    cal.add_argument("--replace", action="store_true", help="replace a year already added")
    cal.add_argument("--by", help="who adds it (audit); default $USER")
    cal.add_argument("--dir", help="calendar directory; default CALENDAR_DIR or var/calendar")
    cal.set_defaults(func=cmd_calendar)

    ag = sub.add_parser("agency", help="links to partner agencies (shovel, federation): add, list, remove")
    ag.add_argument("agency_command", choices=["add", "list", "remove"])
    ag.add_argument("name", nargs="?", help="the partner agency (add, remove)")
    ag.add_argument("--config", help="partner configuration (YAML); default AGENCIES_FILE or var/agencies.yml")
    ag.add_argument("--amqp-uri", help="this agency's broker and vhost; default AMQP_URI")
    ag.add_argument("--api", help="management API base URL; default RABBITMQ_API or http://127.0.0.1:15672 "
                    "(rabbitmqctl when it does not answer)")
    ag.add_argument("--json", action="store_true")
    ag.set_defaults(func=cmd_agency)

    demo = sub.add_parser("demo", help="load a small, realistic data set through the gateway (every service)")
    from shared import demo as demo_module
    demo_module.add_arguments(demo)
    demo.set_defaults(func=demo_module.run)

    api = sub.add_parser("asyncapi", help="write (or --check) the event catalogue")
    api.add_argument("--output", default=str(REPO_ROOT / "docs" / "asyncapi.yaml"))
    api.add_argument("--check", action="store_true")
    api.set_defaults(func=cmd_asyncapi)
    return p


def main(argv=None) -> int:
    import warnings
    warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
    args = parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
