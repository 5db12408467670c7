"""Registration throughput and event latency, measured on the real stack.

    python -m tests.bench.registration [--count 2000] [--concurrency 8] [--databases sqlite,postgresql]

For each database backend the bench builds a private world (a RabbitMQ vhost,
fresh databases, a temporary var dir), starts the stack with ``wsli up`` plus the
consumer service ``tests.bench.latency_consumer`` as separate processes, and measures

1. registrations per second through the gateway: N candidate forms POSTed by C
   client threads, each acting as a nominating unit with its own token;
2. event latency: for every registered candidate, the producer's outbox
   ``created_at`` (stamped inside the registering transaction) to the consumer's
   inbox ``processed_at`` (stamped inside the consuming transaction).

Results are printed and written to docs/benchmarks.md (this bench's section only).
Everything it starts is stopped again, on errors and Ctrl-C too, and the whole run
has a time limit. ``make bench`` runs it; ``make test`` does not.
"""
from __future__ import annotations

from tests.bench import sections

import argparse
import json
import math
import os
import platform
import queue
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent          # the virtualenv's bin: python, wsli, nameko
DOC = sections.DOC
START_MARK = "<!-- bench:registration:start -->"
END_MARK = "<!-- bench:registration:end -->"

AMQP_BASE = "pyamqp://guest:guest@127.0.0.1:5672"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AGENCY = "beijing"
EVENT_TYPE = "wsli.registration.candidate_registered.v1"
OUTBOX_POLL_SECONDS = "1.0"                # the shipped default, on purpose: see the report's note

TIME_LIMIT_S = 15 * 60                     # the whole run, every backend included
UP_WAIT_S = 90                             # `wsli up --wait`
CONSUMER_READY_S = 60
EVENT_WAIT_S = 120                         # for the last events to reach the consumer's inbox
REQUEST_TIMEOUT_S = 30
MAX_COUNT = 50_000

UNIT_KINDS = ["district_safety_office", "insurer_branch", "insured_enterprise", "safety_service_org", "social_org"]
DISTRICTS = ["东城", "西城", "朝阳", "海淀", "丰台", "通州", "大兴", "昌平"]


class BenchError(RuntimeError):
    """The stack misbehaved or did not come up: the message says what happened."""


class TimeLimit(BaseException):
    """Raised by SIGALRM; a BaseException so no ``except Exception`` swallows it."""


# ---- small helpers ------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: always one of the measured values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quietly(what: str, fn, *args, **kwargs) -> None:
    """Run a cleanup step; report its failure instead of letting it skip the remaining steps."""
    try:
        fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - cleanup must go on whatever happened
        print(f"  cleanup: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        raise BenchError("rabbitmqctl is not on PATH; the bench needs it (as root) for its private vhost")
    done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise BenchError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def pg_admin(sql: str) -> None:
    import psycopg2
    conn = psycopg2.connect(PG_ADMIN, connect_timeout=10)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE refuse to run inside a transaction
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def log_excerpt(paths: list[Path], limit: int = 40) -> str:
    """ERROR lines and tracebacks from the stack's logs, for reports of what went wrong."""
    out = []
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        hits = [ln for ln in lines if any(k in ln for k in ("ERROR", "CRITICAL", "Traceback", "Error:"))]
        picked = hits[-limit:] if hits else lines[-10:]
        out.append(f"--- {path} ({'error lines' if hits else 'last lines'}) ---")
        out.extend(picked)
    return "\n".join(out)


# ---- the private world of one backend -----------------------------------------------------------

@dataclass
class World:
    """Broker vhost, databases, var dir and processes of one backend's run."""

    kind: str
    tmp: Path
    cleanup: ExitStack
    vhost: str = ""
    amqp_uri: str = ""
    db_uris: dict[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = ""
    consumer: subprocess.Popen | None = None

    def __post_init__(self):
        from shared.pii import generate_key
        # fresh secrets per run: nothing of a developer's stack (keys, tokens, port) is reused
        self.pii_keys = generate_key()
        self.index_key = secrets.token_urlsafe(24)
        self.token = "bench-" + secrets.token_urlsafe(24)
        self.port = free_port()

    @property
    def var_dir(self) -> Path:
        return self.tmp / "var"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs(self) -> list[Path]:
        return sorted((self.var_dir / "log").glob("*.log")) + [self.tmp / "bench_consumer.log"]

    def env(self) -> dict[str, str]:
        """What `wsli up`/`down` read: every file, queue and port points into this world."""
        return dict(
            os.environ,
            WSLI_VAR_DIR=str(self.var_dir), AMQP_URI=self.amqp_uri, AGENCY_ID=AGENCY,
            REGISTRATION_DB_URI=self.db_uris["registration"], GATEWAY_DB_URI=self.db_uris["gateway"],
            GATEWAY_ADDRESS=f"127.0.0.1:{self.port}", WSLI_BOOTSTRAP_TOKEN=self.token,
            OUTBOX_POLL_SECONDS=OUTBOX_POLL_SECONDS, PII_KEYS=self.pii_keys, PII_INDEX_KEY=self.index_key,
            FILE_STORE=str(self.tmp / "files"),
            RATE_LIMIT_ENABLED="false",  # the bench measures capacity, not the limits in front of it
        )

    # -- broker

    def create_vhost(self) -> None:
        self.vhost = f"wsli-bench-{uuid.uuid4().hex[:10]}"
        self.cleanup.callback(quietly, f"delete vhost {self.vhost}", rabbitmqctl, "delete_vhost", self.vhost)
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        self.amqp_uri = f"{AMQP_BASE}/{quote(self.vhost, safe='')}"

    # -- databases

    def create_databases(self) -> None:
        for label in ("registration", "gateway", "consumer"):
            if self.kind == "sqlite":
                self.db_uris[label] = f"sqlite:///{self.tmp / (label + '.db')}"
                continue
            name = f"wsli_bench_{label}_{uuid.uuid4().hex[:10]}"
            self.cleanup.callback(quietly, f"drop database {name}", pg_admin,
                                  f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            pg_admin(f'CREATE DATABASE "{name}"')
            self.db_uris[label] = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    # -- processes

    def start_consumer(self) -> None:
        from shared.db import create_all
        from tests.bench import latency_consumer

        # the consumer has no Alembic history: its schema is the platform tables only
        create_all(self.db_uris["consumer"], latency_consumer.metadata).dispose()
        config = {
            "AMQP_URI": self.amqp_uri, "AGENCY_ID": AGENCY, "DB_URI": self.db_uris["consumer"],
            "PII_KEYS": self.pii_keys, "PII_INDEX_KEY": self.index_key, "serializer": "json",
            "max_workers": 10, "OUTBOX_RELAY": False, "EVENT_RETRY_DELAYS_MS": "1000,10000,60000",
            "LOGGING": {"version": 1, "disable_existing_loggers": False,
                        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
                        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
                        "root": {"level": "INFO", "handlers": ["console"]}},
        }
        config_path = self.tmp / "bench_consumer.yml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        log = open(self.tmp / "bench_consumer.log", "ab")
        self.cleanup.callback(log.close)
        self.consumer = subprocess.Popen(
            [str(BIN / "nameko"), "run", "--config", str(config_path), "tests.bench.latency_consumer:BenchConsumer"],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.cleanup.callback(quietly, "stop the consumer", stop_process, self.consumer)

    def wsli_up(self) -> None:
        # registered first: `up` may fail after starting some of the processes
        self.cleanup.callback(quietly, "wsli down", self._wsli, "down", timeout=60)
        done = self._wsli("up", "--wait", str(UP_WAIT_S), timeout=UP_WAIT_S + 120)
        if done.returncode != 0:
            raise BenchError(f"`wsli up` exited {done.returncode}:\n{done.stdout}{done.stderr}\n"
                             + log_excerpt(self.logs))

    def _wsli(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "wsli"), *args], cwd=REPO_ROOT, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def wait_for_consumer(self) -> None:
        """Its queue must exist and be consumed before the first event, or the event goes nowhere."""
        deadline = time.monotonic() + CONSUMER_READY_S
        while time.monotonic() < deadline:
            if self.consumer.poll() is not None:
                raise BenchError(f"the consumer exited {self.consumer.returncode}\n" + log_excerpt(self.logs))
            listing = rabbitmqctl("list_queues", "-p", self.vhost, "--no-table-headers", "name", "consumers")
            for line in listing.splitlines():
                name, _, consumers = line.rpartition("\t")
                if "bench_consumer" in name and consumers.strip().isdigit() and int(consumers) > 0:
                    return
            time.sleep(1)
        raise BenchError(f"the consumer's queue was not consumed within {CONSUMER_READY_S}s\n"
                         + log_excerpt(self.logs))


def stop_process(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the process group (nameko stops gracefully), SIGKILL it if that takes too long."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# ---- load -------------------------------------------------------------------------------------------

class Api:
    def __init__(self, base: str, token: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def post(self, path: str, body: dict) -> dict:
        response = self.session.post(self.base + path, data=json.dumps(body), timeout=REQUEST_TIMEOUT_S)
        if response.status_code not in (200, 201):
            raise BenchError(f"POST {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()


def set_up_units(world: World, cycle: str, how_many: int) -> list[str]:
    """A cycle and one unit per client, each with a unit token: units submit their own forms."""
    admin = Api(world.base_url, world.token)
    admin.post("/api/v1/cycles", {"code": cycle, "title": f"压测周期 {cycle}",
                                  "deadline": f"{datetime.now().year + 1}-12-31"})
    tokens = []
    for i in range(how_many):
        kind = UNIT_KINDS[i % len(UNIT_KINDS)]
        unit = admin.post("/api/v1/units", {"name": f"压测单位{i + 1:02d}", "kind": kind,
                                            "district": DISTRICTS[i % len(DISTRICTS)],
                                            "contact_phone": "13900001111"})
        tokens.append(admin.post("/api/v1/tokens", {"role": "unit", "unit_id": unit["id"],
                                                    "name": unit["name"]})["token"])
    return tokens


def build_forms(cycle: str, count: int) -> list[dict]:
    from tests.support import candidate_form, resident_id

    # resident_id's serial repeats after 10,000 numbers; a new birth year per 9,000 keeps them unique
    forms = [candidate_form(cycle, resident_id(birth=f"{1960 + (i // 9000) % 40}0307")) for i in range(count)]
    assert len({f["id_number"] for f in forms}) == count, "ID numbers must be unique within the cycle"
    return forms


@dataclass
class LoadResult:
    created: list[int]
    latencies_s: list[float]
    errors: list[str]
    wall_s: float


def post_forms(base_url: str, tokens: list[str], forms: list[dict], concurrency: int,
               time_budget_s: float) -> LoadResult:
    """C threads drain one queue of forms; only 201s count, anything else is an error."""
    jobs: queue.Queue = queue.Queue()
    for form in forms:
        jobs.put(form)
    created, latencies, errors = [], [], []
    stop = threading.Event()
    deadline = time.monotonic() + time_budget_s

    def client(token: str) -> None:
        session = requests.Session()  # keep-alive: one connection per client, like a real one
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                form = jobs.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            try:
                response = session.post(base_url + "/api/v1/candidates", data=json.dumps(form), headers=headers,
                                        timeout=REQUEST_TIMEOUT_S)
            except requests.RequestException as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            elapsed = time.perf_counter() - started
            if response.status_code == 201:
                latencies.append(elapsed)
                created.append(response.json()["id"])
            else:
                errors.append(f"{response.status_code}: {response.text[:300]}")

    threads = [threading.Thread(target=client, args=(tokens[i % len(tokens)],), daemon=True)
               for i in range(concurrency)]
    began = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT_S)
    finally:
        stop.set()
    wall = time.perf_counter() - began
    if not jobs.empty():
        errors.append(f"time budget exhausted: {jobs.qsize()} forms never sent")
    return LoadResult(created, latencies, errors, wall)


# ---- event latency ----------------------------------------------------------------------------------

@dataclass
class EventResult:
    latencies_ms: list[float]
    missing: int
    drain_s: float          # from the last response until the last awaited event was in the inbox


def event_latency(world: World, candidate_ids: list[int]) -> EventResult:
    """Join the producer's outbox rows with the consumer's inbox rows by event id."""
    from sqlalchemy import func, select

    from services.registration.models import platform as producer
    from shared.db import make_engine
    from tests.bench.latency_consumer import HANDLER, platform as consumer

    wanted = {str(i) for i in candidate_ids}
    produced_engine = make_engine(world.db_uris["registration"])
    consumed_engine = make_engine(world.db_uris["consumer"])
    try:
        outbox = producer.outbox
        with produced_engine.connect() as conn:
            produced = {r.event_id: r.created_at for r in conn.execute(
                select(outbox.c.event_id, outbox.c.subject, outbox.c.created_at)
                .where(outbox.c.event_type == EVENT_TYPE)) if r.subject in wanted}
        if len(produced) != len(wanted):
            raise BenchError(f"{len(wanted)} candidates registered but {len(produced)} candidate_registered "
                             "rows in the outbox")
        inbox = consumer.inbox
        began = time.monotonic()
        deadline = began + EVENT_WAIT_S
        consumed: dict = {}
        while True:
            # every candidate_registered event this stack emitted, warm-up included, ends up here
            with consumed_engine.connect() as conn:
                count = conn.scalar(select(func.count()).select_from(inbox).where(inbox.c.handler == HANDLER))
                if count >= len(produced):
                    consumed = {r.event_id: r.processed_at for r in conn.execute(
                        select(inbox.c.event_id, inbox.c.processed_at).where(inbox.c.handler == HANDLER))}
                    if all(e in consumed for e in produced):
                        break
            if time.monotonic() >= deadline:
                with consumed_engine.connect() as conn:
                    consumed = {r.event_id: r.processed_at for r in conn.execute(
                        select(inbox.c.event_id, inbox.c.processed_at).where(inbox.c.handler == HANDLER))}
                break
            time.sleep(0.5)
        drain = time.monotonic() - began
    finally:
        produced_engine.dispose()
        consumed_engine.dispose()
    latencies = [(consumed[e] - created).total_seconds() * 1000 for e, created in produced.items() if e in consumed]
    return EventResult(latencies, len(produced) - len(latencies), drain)


# ---- one backend --------------------------------------------------------------------------------------

@dataclass
class BackendResult:
    kind: str
    registered: int = 0
    per_second: float = float("nan")
    request_ms: tuple[float, float] = (float("nan"), float("nan"))
    event_ms: tuple[float, float, float] = (float("nan"), float("nan"), float("nan"))
    errors: list[str] = field(default_factory=list)
    missing_events: int = 0
    drain_s: float = float("nan")
    failure: str | None = None


def run_backend(kind: str, args, outer: ExitStack, time_left) -> BackendResult:
    result = BackendResult(kind)
    tmp = Path(tempfile.mkdtemp(prefix=f"wsli-bench-{kind}-"))
    cleanup = ExitStack()
    outer.callback(cleanup.close)       # on Ctrl-C or the time limit; closed right below otherwise
    cleanup.callback(quietly, f"remove {tmp}", shutil.rmtree, tmp, ignore_errors=True)
    world = World(kind, tmp, cleanup)
    try:
        print(f"[{kind}] broker vhost, databases, consumer, `wsli up` ...", flush=True)
        world.create_vhost()
        world.create_databases()
        world.start_consumer()
        world.wsli_up()
        world.wait_for_consumer()

        cycle = "B" + uuid.uuid4().hex[:8]
        tokens = set_up_units(world, cycle, args.concurrency)
        forms = build_forms(cycle, args.count + args.concurrency)
        # a few forms first, outside the measurement: connections, RPC reply queues, caches
        warm_up = post_forms(world.base_url, tokens, forms[:args.concurrency], args.concurrency, 60)
        if warm_up.errors:
            raise BenchError("warm-up registrations failed: " + "; ".join(warm_up.errors[:5]))

        print(f"[{kind}] posting {args.count} forms from {args.concurrency} clients ...", flush=True)
        load = post_forms(world.base_url, tokens, forms[args.concurrency:], args.concurrency,
                          max(10.0, time_left() - EVENT_WAIT_S - 90))
        result.registered = len(load.created)
        result.per_second = len(load.created) / load.wall_s if load.wall_s else float("nan")
        result.request_ms = (percentile(load.latencies_s, 50) * 1000, percentile(load.latencies_s, 99) * 1000)
        result.errors = load.errors

        print(f"[{kind}] {result.registered} registered in {load.wall_s:.1f}s; waiting for their events ...",
              flush=True)
        events = event_latency(world, load.created)
        result.event_ms = (percentile(events.latencies_ms, 50), percentile(events.latencies_ms, 99),
                           max(events.latencies_ms, default=float("nan")))
        result.missing_events = events.missing
        result.drain_s = events.drain_s
        if result.errors or result.missing_events:
            print(log_excerpt(world.logs), file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - recorded, reported and turned into the exit status
        result.failure = f"{type(exc).__name__}: {exc}"
        print(f"[{kind}] FAILED: {result.failure}", file=sys.stderr)
    # Ctrl-C and the time limit skip this: main() closes `outer` with those signals ignored
    print(f"[{kind}] stopping everything it started ...", flush=True)
    cleanup.close()
    return result


# ---- report -------------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    info = {"nproc": str(os.cpu_count() or "?"), "cpu": "unknown", "memory": "unknown",
            "python": platform.python_version(), "rabbitmq": "unknown", "postgresql": "unknown"}
    try:
        info["nproc"] = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")]
    if models:
        info["cpu"] = models[0]
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            info["memory"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        info["rabbitmq"] = rabbitmqctl("version", timeout=30).strip() or "unknown"
    except (BenchError, subprocess.TimeoutExpired):
        pass
    try:
        import psycopg2
        conn = psycopg2.connect(PG_ADMIN, connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            info["postgresql"] = cur.fetchone()[0].split()[0]
        conn.close()
    except Exception:  # noqa: BLE001 - reported as unknown
        pass
    try:
        from importlib.metadata import version
        info["nameko"] = version("nameko")
    except Exception:  # noqa: BLE001
        info["nameko"] = "unknown"
    return info


def command_line() -> str:
    python = Path(sys.executable)
    try:
        python = python.relative_to(REPO_ROOT)
    except ValueError:
        pass
    return " ".join([str(python), "-m", "tests.bench.registration", *map(shlex.quote, sys.argv[1:])])


def fmt(value: float, digits: int = 0) -> str:
    return "–" if value != value else f"{value:,.{digits}f}"  # NaN: nothing was measured


def table(results: list[BackendResult]) -> str:
    rows = ["| backend | registrations/s | request p50 ms | request p99 ms | event p50 ms | event p99 ms "
            "| event max ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        problems = []
        if r.failure:
            problems.append(f"run failed: {r.failure.splitlines()[0][:200]}")
        if r.errors:
            problems.append(f"{len(r.errors)} failed requests")
        if r.missing_events:
            problems.append(f"{r.missing_events} events not consumed within {EVENT_WAIT_S}s")
        rows.append(f"| {r.kind} | {fmt(r.per_second, 1)} | {fmt(r.request_ms[0], 1)} | {fmt(r.request_ms[1], 1)} "
                    f"| {fmt(r.event_ms[0], 1)} | {fmt(r.event_ms[1], 1)} | {fmt(r.event_ms[2], 1)} "
                    f"| {'; '.join(problems) or '0'} |")
    return "\n".join(rows)


def section(results: list[BackendResult], args, info: dict[str, str], started: datetime) -> str:
    drains = ", ".join(f"{r.kind} {fmt(r.drain_s, 1)} s" for r in results if not r.failure)
    return "\n".join([
        START_MARK,
        "## Registration: throughput and event latency",
        "",
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M %Z').strip()}",
        f"- **Machine:** {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM; Python {info['python']}, "
        f"nameko {info['nameko']}, RabbitMQ {info['rabbitmq']}, PostgreSQL {info['postgresql']}",
        f"- **Command:** `{command_line()}` (`make bench-registration` runs it with the defaults)",
        f"- **Parameters:** {args.count} candidate forms (after {args.concurrency} warm-up forms) POSTed by "
        f"{args.concurrency} client threads, each a nominating unit with its own token and `requests` session; "
        f"backends: {', '.join(args.databases)}. Each backend gets fresh databases, a private RabbitMQ vhost and "
        "its own `wsli up` (registration + gateway with the shipped configs, one process each) plus the bench "
        "consumer; client and stack share this machine's CPUs.",
        f"- **Event latency:** outbox `created_at` (stamped inside the registering transaction) to the consumer's "
        "inbox `processed_at` (stamped inside its consuming transaction), same host clock. "
        f"`OUTBOX_POLL_SECONDS={OUTBOX_POLL_SECONDS}` (the shipped default): every commit hands its rows to the "
        "relay, so the latency does not depend on the poll interval. "
        f"Time from the last response until every event was in the inbox: {drains or '–'}.",
        "",
        table(results),
        END_MARK,
    ])



def write_doc(text: str) -> None:
    sections.write_section(START_MARK, END_MARK, text)


# ---- entry point -------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.bench.registration", description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=2000, help="candidate forms to register per backend (default 2000)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent client threads (default 8)")
    p.add_argument("--databases", default="sqlite,postgresql",
                   help="comma-separated backends to measure (default sqlite,postgresql)")
    args = p.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not 1 <= args.count <= MAX_COUNT:
        p.error(f"--count must be between 1 and {MAX_COUNT}")
    if not 1 <= args.concurrency <= 64:
        p.error("--concurrency must be between 1 and 64")
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown or not args.databases:
        p.error(f"--databases takes sqlite and/or postgresql, not {', '.join(sorted(unknown)) or 'nothing'}")
    return args


def _on_alarm(signum, frame):
    raise TimeLimit(f"the bench exceeded its {TIME_LIMIT_S // 60} min limit")


def _on_term(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def main(argv=None) -> int:
    args = parse_args(argv)
    started = datetime.now().astimezone()
    limit_at = time.monotonic() + TIME_LIMIT_S
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.alarm(TIME_LIMIT_S)
    outer = ExitStack()
    results: list[BackendResult] = []
    try:
        for kind in args.databases:
            results.append(run_backend(kind, args, outer, lambda: limit_at - time.monotonic()))
    except (KeyboardInterrupt, TimeLimit) as exc:
        print(f"\ninterrupted ({exc or type(exc).__name__}); stopping everything ...", file=sys.stderr)
        return 130
    finally:
        # Cleanup is bounded by its own timeouts; a second Ctrl-C must not leave processes behind.
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        outer.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    info = machine()
    text = section(results, args, info, started)
    write_doc(text)
    print()
    print(table(results))
    print(f"\nOUTBOX_POLL_SECONDS={OUTBOX_POLL_SECONDS}: every commit hands its rows to the relay, so event "
          "latency does not depend on the poll interval.")
    print(f"written to {DOC.relative_to(REPO_ROOT)}")
    failed = [r for r in results if r.failure or r.errors or r.missing_events]
    for r in failed:
        for line in ([r.failure] if r.failure else []) + r.errors[:10]:
            print(f"[{r.kind}] {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
