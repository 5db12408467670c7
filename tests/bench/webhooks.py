"""Webhook deliveries per second to a loopback receiver, and commit → receipt latency.

    python -m tests.bench.webhooks [--events 1000] [--fanout-events 100] [--databases postgresql,sqlite]

Per backend: a private RabbitMQ vhost, a fresh migrated webhooks database, the
WebhooksService (nameko, in this process, shipped defaults: 10 workers, 20 concurrent
HTTP calls), a producer (an outbox table and the real ``OutboxRelay``, woken on each
commit as a service's unit of work wakes it) and a receiver in its own process that
verifies every signature with ``standardwebhooks``.

1. **1 endpoint**: first 50 events one at a time, each awaited (latency with nothing
   queued), then a burst of ``--events`` committed back to back.
2. **100 endpoints**: a burst of ``--fanout-events`` events, each delivered to all 100
   (``--fanout-events`` × 100 deliveries).

Latency = the producer's commit returned (host clock) → the receiver read the request
(same host clock). Deliveries/s = deliveries / (last receipt − first commit).
Results are printed and written to docs/benchmarks.md (this bench's section only).
``make bench-webhooks`` runs it; ``make test`` does not.
"""
from __future__ import annotations

import shared  # noqa: F401  (warning filters before eventlet)
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date, datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import requests  # noqa: E402

from tests.bench import sections
from tests.bench.scoring import AGENCY, AMQP_BASE, machine, pg_admin, rabbitmqctl  # noqa: E402
from tests.bench.registration import percentile  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = sections.DOC
START_MARK = "<!-- bench:webhooks:start -->"
END_MARK = "<!-- bench:webhooks:end -->"
SINGLE = 50
NOTE = ('- **Reading it:** the one-at-a-time rows are the latency with nothing queued. In a burst every delivery waits behind those before it, so p50/p99 there mostly measure the queue: 10,000 fan-out deliveries drain at the rate shown, and the last waits roughly deliveries ÷ rate. On SQLite (one connection per process) the 1-endpoint burst queues at ingestion; the rate is bound by these 2 shared CPUs, which the bench, RabbitMQ, PostgreSQL and the receiver all use. No delivery arrived twice.')
WAIT_S = 300


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    """Vhost, databases, receiver process, webhooks service and producer of one backend."""

    def __init__(self, kind: str, workdir: Path):
        from nameko.runners import ServiceRunner

        from services.webhooks.service import WebhooksService
        from shared.catalogue import component, load_all_event_schemas
        from shared.db import PlatformTables, create_all, new_metadata
        from shared.migrate import upgrade
        from shared.pii import PiiVault, configure_vault, generate_key
        from shared.relay import OutboxRelay

        load_all_event_schemas()
        self.kind = kind
        self.vhost = f"wsli-bench-webhooks-{uuid.uuid4().hex[:8]}"
        self.dbs = []
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        self.amqp = f"{AMQP_BASE}/{quote(self.vhost, safe='')}"
        webhooks_uri, producer_uri = self._db(workdir, "webhooks"), self._db(workdir, "producer")
        upgrade(component("webhooks"), webhooks_uri)
        key = generate_key()
        configure_vault(PiiVault([key], "bench-index"))
        self.port = free_port()
        self.receiver = subprocess.Popen([sys.executable, "-m", "tests.bench.webhook_receiver", str(self.port)],
                                         cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.receiver.stdout.readline().strip() == "ready"
        self.config = {"AMQP_URI": self.amqp, "AGENCY_ID": AGENCY, "DB_URI": webhooks_uri, "PII_KEYS": key,
                       "PII_INDEX_KEY": "bench", "serializer": "json", "max_workers": 10,
                       "OUTBOX_POLL_SECONDS": 1.0, "EVENT_RETRY_DELAYS_MS": "1000,10000",
                       "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}
        self.runner = ServiceRunner(self.config)
        self.runner.add_service(WebhooksService)
        self.runner.start()
        metadata = new_metadata()
        self.tables = PlatformTables(metadata)
        self.engine = create_all(producer_uri, metadata)
        self.relay = OutboxRelay(self.engine, self.tables.outbox, {"AMQP_URI": self.amqp}, poll_seconds=1.0)
        self.relay_thread = eventlet.spawn(self.relay.run_forever)
        self.committed: dict[str, float] = {}
        from shared.auth import Principal
        self.integrator = Principal(role="integrator", agency=AGENCY, name=f"bench-{uuid.uuid4().hex[:6]}")

    def _db(self, workdir: Path, label: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{workdir}/{label}-{uuid.uuid4().hex[:6]}.db"
        name = f"wsli_bench_{label}_{uuid.uuid4().hex[:8]}"
        pg_admin(f'CREATE DATABASE "{name}"')
        self.dbs.append(name)
        return f"postgresql://postgres@127.0.0.1:5432/{name}"

    def endpoints(self, count: int) -> None:
        from nameko.standalone.rpc import ClusterRpcProxy

        from shared.auth import CONTEXT_KEY

        who = self.integrator
        secrets = {}
        with ClusterRpcProxy(self.config, context_data={CONTEXT_KEY: who.to_context()}, timeout=30) as cluster:
            for old in cluster.webhooks.list_endpoints():
                cluster.webhooks.update_endpoint(old["id"], {"enabled": False})
            for n in range(count):
                path = f"/hooks/{uuid.uuid4().hex[:8]}"
                out = cluster.webhooks.create_endpoint({"url": f"http://127.0.0.1:{self.port}{path}", "event_types": [
                    {"service": "registration", "event": "cycle_created", "version": 1}]})
                secrets[path] = out["secret"]
        requests.put(f"http://127.0.0.1:{self.port}/secrets", data=json.dumps(secrets), timeout=10)

    def commit_event(self) -> str:
        from sqlalchemy import insert

        from shared.events import build_envelope, specs_for

        spec = specs_for("registration", "cycle_created")[0]
        code = uuid.uuid4().hex[:12]
        env = build_envelope(spec, AGENCY, code, {"cycle": code, "title": "bench", "deadline": date(2026, 12, 31),
                                                  "minimums": {}}, datetime.now(timezone.utc))
        with self.engine.begin() as conn:
            conn.execute(insert(self.tables.outbox).values(
                event_id=env["id"], event_type=spec.type, exchange=spec.exchange, routing_key=spec.routing_key,
                subject=code, body=json.dumps(env, separators=(",", ":")), created_at=datetime.now(timezone.utc),
                attempts=0))
        self.committed[env["id"]] = time.time()
        self.relay.wake()
        return env["id"]

    def received(self) -> list[list]:
        return requests.get(f"http://127.0.0.1:{self.port}/received", timeout=30).json()

    def count(self) -> int:
        return requests.get(f"http://127.0.0.1:{self.port}/count", timeout=10).json()["count"]

    def wait_for(self, total: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.count() < total:
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.kind}: only {self.count()} of {total} deliveries within {WAIT_S} s")
            eventlet.sleep(0.02)

    def close(self):
        self.relay.stop()
        for step in (self.runner.kill, self.engine.dispose, self.receiver.terminate):
            try:
                step()
            except Exception as exc:  # keep cleaning
                print(f"  cleanup: {exc}", file=sys.stderr)
        for name in self.dbs:
            try:
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # report, keep cleaning
                print(f"  cleanup: dropping {name} failed: {exc}", file=sys.stderr)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True, check=False)


def measure(world: World, ids: list[str], endpoints: int, before: int) -> dict:
    rows = world.received()[before:]
    assert all(r[3] for r in rows), "a delivery failed signature verification"
    wanted = set(ids)
    rows = [r for r in rows if r[1] in wanted]
    first_receipt: dict[tuple, list] = {}
    for r in rows:  # at least once: a duplicate (same endpoint, same webhook-id) is counted, not timed
        first_receipt.setdefault((r[0], r[1]), r)
    duplicates = len(rows) - len(first_receipt)
    rows = list(first_receipt.values())
    assert len(rows) == len(ids) * endpoints, (len(rows), len(ids) * endpoints)
    latency = [(r[2] - world.committed[r[1]]) * 1000 for r in rows]
    first = min(world.committed[i] for i in ids)
    elapsed = max(r[2] for r in rows) - first
    return {"events": len(ids), "endpoints": endpoints, "deliveries": len(rows), "elapsed_s": elapsed,
            "per_s": len(rows) / elapsed, "p50": percentile(latency, 50), "p99": percentile(latency, 99),
            "max": max(latency), "duplicates": duplicates}


def run_backend(kind: str, args, workdir: Path) -> list[dict]:
    world = World(kind, workdir)
    try:
        results = []
        world.endpoints(1)
        single = []
        for _ in range(SINGLE):
            single.append(world.commit_event())
            world.wait_for(len(single))
        one = measure(world, single, 1, 0)
        results.append(dict(one, label="1 endpoint, one event at a time", backend=kind))
        before = world.count()
        burst = [world.commit_event() for _ in range(args.events)]
        world.wait_for(before + len(burst))
        results.append(dict(measure(world, burst, 1, before), label="1 endpoint, burst", backend=kind))
        world.endpoints(100)  # the first one is disabled: exactly 100 receive the next events
        before = world.count()
        fan = [world.commit_event() for _ in range(args.fanout_events)]
        world.wait_for(before + len(fan) * 100)
        eventlet.sleep(2)  # let a late duplicate, if any, arrive to be counted
        results.append(dict(measure(world, fan, 100, before), label="100 endpoints, burst", backend=kind))
        for r in results:
            print(f"  {kind} {r['label']}: {r['deliveries']} deliveries, {r['per_s']:.0f}/s, "
                  f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms")
        return results
    finally:
        world.close()


def section(args, results, started, load) -> str:
    lines = [
        START_MARK,
        "## Webhooks: deliveries per second and commit → receipt",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** {machine()}; 1-minute load average {load:.1f} at the start (the CPUs are shared with "
        "other work: read the figures as lower bounds)",
        f"- **Command:** `.venv/bin/python -m tests.bench.webhooks --events {args.events} --fanout-events "
        f"{args.fanout_events} --databases {','.join(args.databases)}` (`make bench-webhooks`)",
        "- **Setup:** WebhooksService in the bench process with the shipped defaults (10 workers, 20 concurrent "
        "HTTP calls, 15 s timeout); the producer commits outbox rows of `registration.cycle_created` and the real "
        "`OutboxRelay` publishes them (woken on commit); the receiver is a separate process on loopback "
        "(`ThreadingHTTPServer`, keep-alive) that verifies every signature with `standardwebhooks` and answers 204. "
        "Every delivery verified.",
        "- **Latency:** the producer's commit returned → the receiver read the request, same host clock; a burst's "
        "latency includes the wait behind the deliveries before it.",
        NOTE,
        "",
        "| backend | scenario | events | deliveries | deliveries/s | p50 ms | p99 ms | max ms | duplicates |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['backend']} | {r['label']} | {r['events']} | {r['deliveries']} | {r['per_s']:.0f} | "
                     f"{r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['duplicates']} |")
    lines.append(END_MARK)
    return "\n".join(lines)


def write_doc(text: str) -> None:
    sections.write_section(START_MARK, END_MARK, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--fanout-events", type=int, default=100)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    started, load = datetime.now(timezone.utc), os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="wsli-bench-webhooks-") as workdir:
        for kind in args.databases:
            print(f"webhooks on {kind}")
            results.extend(run_backend(kind, args, Path(workdir)))
    text = section(args, results, started, load)
    print(text)
    if not args.no_write:
        write_doc(text)
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
