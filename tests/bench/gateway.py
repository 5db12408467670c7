"""The cost of the request path: gateway vs direct RPC vs a bare WSGI floor, CPU per request per process.

    python -m tests.bench.gateway [--requests 400] [--posts 600] [--databases sqlite,postgresql]

One run, one stack (``wsli up``: every component, shipped configs, SQLite, a private
RabbitMQ vhost) plus the registration bench's event consumer, and it measures:

1. latency floor: an eventlet WSGI "hello" server, c=1 and c=8;
2. ``GET /api/v1/cycles/<code>`` through the gateway vs ``registration.get_cycle`` called
   directly over nameko RPC, c=1 and c=8; CPU per call of the gateway and of the service;
   and through a bare nameko gateway (``@http`` and the gateway's RPC client, nothing else);
3. registration POSTs (c=8): CPU per request of every process (gateway, registration,
   broker, the rest) against a minimal single-process baseline (plain eventlet WSGI +
   SQLAlchemy Core: the same schema validation, encryption, blind index, queries,
   candidate/outbox/audit inserts), and event latency commit → consumer commit;
4. the dashboard (5 RPCs to 3 services) and the enterprise safety file against a
   single-service GET (p50, c=1) and against the sum of their parts' CPU;
5. the capacity model: a GET and POSTs paced at a light rate (10/s, open loop, as an
   agency's traffic arrives), POSTs at a brisk one (50/s); the line through the two POST
   phases' cores predicts a third rate (25/s), driven and measured;
6. resident memory of every process at the end.

With ``postgresql`` in ``--databases`` the POST phase and its event latency are run
again on a second stack whose databases are PostgreSQL (``WSLI_TEST_PG`` or the local
server). CPU comes from ``/proc/<pid>/stat`` (utime + stime) before and after each
phase. The broker is the machine's shared RabbitMQ: its CPU includes whatever else
used it meanwhile, so it is reported beside, not inside, the ratios that do not need it.
Results go to docs/benchmarks.md (this bench's section) and a pass/fail line per target.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
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

import requests

from tests.bench import sections
from tests.bench import registration as reg
from tests.bench.registration import (
    AGENCY, BIN, REPO_ROOT, BenchError, TimeLimit, free_port, percentile, quietly, stop_process,
)

DOC = sections.DOC
START_MARK = "<!-- bench:gateway:start -->"
END_MARK = "<!-- bench:gateway:end -->"
TIME_LIMIT_S = 15 * 60
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

reg.PG_ADMIN = os.environ.get("WSLI_TEST_PG") or reg.PG_ADMIN  # a private cluster when one is given
_rabbitmqctl_once = reg.rabbitmqctl


def _rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """rabbitmqctl, tried again when its CLI node could not start (busy hosts: "Distribution failed")."""
    for attempt in range(5):
        try:
            return _rabbitmqctl_once(*args, timeout=timeout)
        except BenchError as exc:
            if "Distribution failed" not in str(exc) or attempt == 4:
                raise
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


reg.rabbitmqctl = _rabbitmqctl  # the registration bench's World calls it by its module's name


# ---- processes and their CPU --------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except OSError:
        return float("nan")


def broker_pid(port: int = 5672) -> int | None:
    """The RabbitMQ node listening on the AMQP port (other nodes may run beside it)."""
    import re
    try:
        listing = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True,
                                 timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'"beam\.smp",pid=(\d+)', listing)
    return int(found.group(1)) if found else None


class Meter:
    """CPU seconds of named processes between ``start`` and ``stop``."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids

    def snapshot(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def measure(self, fn):
        before, t0 = self.snapshot(), time.perf_counter()
        result = fn()
        after, wall = self.snapshot(), time.perf_counter() - t0
        return result, {k: after[k] - before[k] for k in self.pids}, wall


# ---- load ------------------------------------------------------------------------------------------

def run_clients(concurrency: int, count: int, one, budget_s: float = 120) -> tuple[list[float], list[str]]:
    """``one(state, i)`` per request, ``concurrency`` threads, each with its own ``state`` (a dict)."""
    jobs: queue.Queue = queue.Queue()
    for i in range(count):
        jobs.put(i)
    latencies, errors = [], []
    deadline = time.monotonic() + budget_s

    def client():
        state: dict = {}
        while time.monotonic() < deadline:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                break
            t0 = time.perf_counter()
            try:
                problem = one(state, i)
            except Exception as exc:  # noqa: BLE001 - counted as an error
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                errors.append(str(problem)[:300])
            else:
                latencies.append(time.perf_counter() - t0)
        for closer in state.get("close", []):
            quietly("close a client", closer)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=budget_s + 30)
    return latencies, errors


def http_get(url: str, headers: dict | None = None, ok=(200,)):
    def one(state, i):
        session = state.get("s")
        if session is None:
            session = state["s"] = requests.Session()
        r = session.get(url, headers=headers, timeout=30)
        return None if r.status_code in ok else f"{r.status_code}: {r.text[:200]}"
    return one


def rpc_call(config: dict, principal, service: str, method: str, *args):
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.auth import CONTEXT_KEY

    def one(state, i):
        proxy = state.get("p")
        if proxy is None:
            cluster = ClusterRpcProxy(config, context_data={CONTEXT_KEY: principal.to_context()}, timeout=30)
            proxy = state["p"] = cluster.start()
            state.setdefault("close", []).append(cluster.stop)
        getattr(getattr(proxy, service), method)(*args)
        return None
    return one


def post_json(url: str, tokens: list[str], forms: list[dict]):
    def one(state, i):
        session = state.get("s")
        if session is None:
            session = state["s"] = requests.Session()
        r = session.post(url, data=json.dumps(forms[i]), timeout=30, headers={
            "Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"})
        return None if r.status_code == 201 else f"{r.status_code}: {r.text[:200]}"
    return one


# ---- the floor and the baseline, as small servers of their own ------------------------------------

# The gateway's transport and nothing else: nameko's @http entrypoint (without eventlet's access line) and
# the gateway's own RPC client, the reply dumped as JSON. No token, routing table, access line, metrics or
# error mapping: what the gateway costs beyond it is what those cost.
BARE_GATEWAY = """
import json

from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer

from gateway.service import Cluster
from shared.auth import CONTEXT_KEY, Principal


class QuietServer(WebServer):
    def get_wsgi_server(self, sock, wsgi_app, **kwargs):
        server = super().get_wsgi_server(sock, wsgi_app, **kwargs)
        server.log_output = False
        return server


class Handler(HttpRequestHandler):
    server = QuietServer()


class Operator(DependencyProvider):
    # the principal the gateway would have taken from a cached token
    def setup(self):
        self.context = Principal(role="operator", agency=self.container.config["AGENCY_ID"], token_id="bench",
                                 name="bench").to_context()

    def worker_setup(self, worker_ctx):
        worker_ctx.data[CONTEXT_KEY] = self.context


class BareGateway:
    name = "bare_gateway"
    services = Cluster()
    operator = Operator()

    @Handler.decorator("GET", "/api/v1/cycles/<code>")
    def get_cycle(self, request, code):
        answer = self.services.registration.get_cycle.call_async(code).result()
        return 200, {"Content-Type": "application/json"}, json.dumps(answer, ensure_ascii=False, default=str)
"""

HELLO = """
import eventlet, sys
eventlet.monkey_patch()
from eventlet import wsgi
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
wsgi.server(eventlet.listen(("127.0.0.1", int(sys.argv[1]))), app, log_output=False)
"""


def raw_server(port: int, db_uri: str, token_units: dict[str, int]) -> None:
    """The minimal baseline: plain eventlet WSGI + SQLAlchemy Core, one process, no broker.

    Per POST it does what registration does for a candidate: the schema load, the cycle
    and unit reads, identity checks, the blind index and the duplicate check, the row
    with its encrypted columns, the outbox row (a full CloudEvents envelope) and the
    audit row in one transaction, and the JSON answer.
    """
    import eventlet
    eventlet.monkey_patch()
    from eventlet import wsgi
    from sqlalchemy import insert, select

    from services.registration import domain, schemas
    from services.registration.models import Candidate, Cycle, Unit, platform
    from shared import events as ev
    from shared.db import make_engine
    from shared.pii import get_vault, mask_id_number
    from shared.schemas import load
    from shared.workdays import utcnow

    from shared.pii import PiiVault, configure_vault
    configure_vault(PiiVault.from_config(dict(os.environ)))
    engine = make_engine(db_uri)
    cand, cycles, units = Candidate.__table__, Cycle.__table__, Unit.__table__
    spec = ev.specs_for("registration", "candidate_registered")[0]

    def app(environ, start_response):
        unit_id = token_units.get(environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2])
        if unit_id is None:
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error":"unauthenticated"}']
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        data = load(schemas.CandidateIn, json.loads(body))
        now = utcnow()
        with engine.begin() as conn:
            cycle = conn.execute(select(cycles).where(cycles.c.agency_id == AGENCY,
                                                      cycles.c.code == data.pop("cycle"))).one()
            domain.ensure_registration_open(cycle.code, cycle.deadline, now)
            unit = conn.execute(select(units).where(units.c.id == unit_id)).one()
            data.pop("unit_id", None)
            data.pop("photo", None)
            birth_month, gender = domain.reconcile_identity(data["id_number"], data.get("birth_month"),
                                                            data.get("gender"))
            id_index = get_vault().blind_index(data["id_number"])
            if conn.scalar(select(cand.c.id).where(cand.c.cycle_id == cycle.id, cand.c.id_index == id_index)):
                start_response("409 Conflict", [("Content-Type", "application/json")])
                return [b'{"error":"conflict"}']
            values = dict(agency_id=AGENCY, cycle_id=cycle.id, unit_id=unit.id, status=domain.SUBMITTED, version=1,
                          birth_month=birth_month, gender=gender, id_index=id_index,
                          id_masked=mask_id_number(data["id_number"]), created_at=now, updated_at=now,
                          **{k: v for k, v in data.items() if k not in ("birth_month", "gender")})
            new_id = conn.execute(insert(cand).values(**values)).inserted_primary_key[0]
            envelope = ev.build_envelope(spec, AGENCY, str(new_id), {
                "candidate_id": new_id, "cycle": cycle.code, "unit_id": unit.id, "status": domain.SUBMITTED,
                "unit_kind": unit.kind, "district": unit.district, "name": values["name"],
                "id_number_masked": values["id_masked"], "person_key": id_index}, now)
            conn.execute(insert(platform.outbox).values(
                event_id=envelope["id"], event_type=spec.type, exchange=spec.exchange, routing_key=spec.routing_key,
                subject=str(new_id), body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
                created_at=now, attempts=0))
            conn.execute(insert(platform.audit).values(
                at=now, agency_id=AGENCY, actor=f"unit:{unit.id}", actor_role="unit", action="candidate.register",
                entity_type="candidate", entity_id=str(new_id), detail=json.dumps({"cycle": cycle.code})))
        out = schemas.CandidateOut().dump(dict(values, id=new_id, cycle=cycle.code, phone=values["phone"]))
        payload = json.dumps(out, ensure_ascii=False, default=str).encode()
        start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    wsgi.server(eventlet.listen(("127.0.0.1", port)), app, log_output=False)


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise BenchError(f"{what} did not listen within {timeout}s")


def start_bare_gateway(world, outer: ExitStack) -> subprocess.Popen:
    """``BARE_GATEWAY`` under ``nameko run`` on the world's broker, on a port of its own (``.port``)."""
    port = free_port()
    home = world.tmp / "bare_gateway"
    home.mkdir(exist_ok=True)
    (home / "bare_gateway.py").write_text(BARE_GATEWAY, encoding="utf-8")
    (home / "config.yml").write_text(json.dumps({
        "AMQP_URI": world.amqp_uri, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "AGENCY_ID": AGENCY,
        "serializer": "json", "max_workers": 20}), encoding="utf-8")  # JSON is YAML
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(home), str(REPO_ROOT)]))
    proc = subprocess.Popen([str(BIN / "nameko"), "run", "--config", str(home / "config.yml"), "bare_gateway"],
                            cwd=REPO_ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    outer.callback(quietly, "stop the bare gateway", stop_process, proc, 5)
    wait_listening(port, proc, "the bare gateway")
    proc.port = port
    return proc


# ---- the stack ------------------------------------------------------------------------------------

class World(reg.World):
    """The registration bench's world, with every component's database and port private."""

    def create_databases(self) -> None:
        from shared.catalogue import COMPONENTS
        for label in [c.name for c in COMPONENTS] + ["consumer"]:
            if self.kind == "sqlite":
                self.db_uris[label] = f"sqlite:///{self.tmp / (label + '.db')}"
                continue
            name = f"wsli_bench_{label}_{uuid.uuid4().hex[:10]}"
            self.cleanup.callback(quietly, f"drop database {name}", reg.pg_admin,
                                  f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            reg.pg_admin(f'CREATE DATABASE "{name}"')
            self.db_uris[label] = reg.PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def env(self) -> dict[str, str]:
        env = super().env()
        for name, uri in self.db_uris.items():
            env[f"{name.upper()}_DB_URI"] = uri
        for name in ("REGISTRATION", "SCORING", "SUBSIDIES", "TRAINING", "CASES", "RISK", "WEBHOOKS"):
            env[f"{name}_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"
        env["WEB_ADDRESS"] = f"127.0.0.1:{free_port()}"
        env["CALENDAR_DIR"] = str(self.tmp / "calendar")
        return env

    def pids(self) -> dict[str, int]:
        found = {}
        for pidfile in sorted((self.var_dir / "run").glob("*.pid")):
            if pidfile.stem != "supervisor":
                found[pidfile.stem] = int(pidfile.read_text().strip())
        if self.consumer is not None:
            found["consumer"] = self.consumer.pid
        return found


def start_world(kind: str, outer: ExitStack) -> World:
    tmp = Path(tempfile.mkdtemp(prefix=f"wsli-bench-gw-{kind}-"))
    cleanup = ExitStack()
    outer.callback(cleanup.close)
    cleanup.callback(quietly, f"remove {tmp}", shutil.rmtree, tmp, ignore_errors=True)
    world = World(kind, tmp, cleanup)
    print(f"[{kind}] broker vhost, databases, consumer, `wsli up` ...", flush=True)
    world.create_vhost()
    world.create_databases()
    world.start_consumer()
    world.wsli_up()
    world.wait_for_consumer()
    return world


class Admin:
    def __init__(self, base: str, token: str):
        self.base, self.session = base, requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def call(self, method: str, path: str, body=None, ok=(200, 201)) -> dict:
        r = self.session.request(method, self.base + path, data=None if body is None else json.dumps(body), timeout=30)
        if r.status_code not in ok:
            raise BenchError(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
        return r.json()


# ---- measurements ---------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    count: int
    p50_ms: float
    p99_ms: float
    wall_s: float
    cpu: dict[str, float]
    errors: list[str] = field(default_factory=list)

    def per_request_ms(self, *names: str) -> float:
        done = self.count - len(self.errors)
        return sum(self.cpu.get(n, 0.0) for n in names) / max(1, done) * 1000

    @property
    def rate(self) -> float:
        return (self.count - len(self.errors)) / self.wall_s if self.wall_s else float("nan")


def phase(meter: Meter, name: str, concurrency: int, count: int, one, warm: int = 10) -> Phase:
    run_clients(concurrency, min(warm, count), one)  # connections, reply queues, caches
    (lat, errors), cpu, wall = meter.measure(lambda: run_clients(concurrency, count, one))
    result = Phase(name, count, percentile(lat, 50) * 1000, percentile(lat, 99) * 1000, wall, cpu, errors)
    print(f"  {name}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, {result.rate:.0f}/s, "
          f"errors {len(errors)}" + (f" ({errors[0]})" if errors else ""), flush=True)
    return result


def forms_for(cycle: str, count: int, offset: int) -> list[dict]:
    from tests.support import candidate_form, resident_id
    return [candidate_form(cycle, resident_id(birth=f"{1950 + ((i + offset) // 9000) % 40}0307"))
            for i in range(count)]


def set_up(world: World, clients: int) -> dict:
    admin = Admin(world.base_url, world.token)
    year = datetime.now().year
    open_cycle = "G" + uuid.uuid4().hex[:7]
    admin.call("POST", "/api/v1/cycles", {"code": open_cycle, "title": "压测", "deadline": f"{year + 1}-12-31"})
    admin.call("PUT", "/api/v1/scoring/schemes/2022", {"published": "2022"})
    admin.call("POST", "/api/v1/cycles", {"code": "2022", "title": "2022年金牌宣讲员", "deadline": "2022-08-10"})
    admin.call("PUT", "/api/v1/district-quotas", {"year": 2018}, ok=(200, 201, 400))
    units, unit_tokens = [], []
    for i in range(clients):
        unit = admin.call("POST", "/api/v1/units", {"name": f"压测单位{i:02d}", "kind": reg.UNIT_KINDS[i % 5],
                                                   "district": reg.DISTRICTS[i % 8], "contact_phone": "13900001111"})
        units.append(unit)
        unit_tokens.append(admin.call("POST", "/api/v1/tokens", {"role": "unit", "unit_id": unit["id"]})["token"])
    operator = admin.call("POST", "/api/v1/tokens", {"role": "operator", "name": "bench"})["token"]
    from tests.support import credit_code
    code = credit_code(424242)
    enterprise = admin.call("POST", "/api/v1/risk/enterprises", {
        "credit_code": code, "name": "压测企业", "district": "南海区", "town": "桂城街道", "industry": "制造业",
        "staff_count": 120})
    return {"open_cycle": open_cycle, "units": units, "unit_tokens": unit_tokens, "operator": operator,
            "credit_code": code, "enterprise_id": enterprise["id"], "year": 2018}


def amqp_config(world: World) -> dict:
    return {"AMQP_URI": world.amqp_uri, "serializer": "json"}


def latency_summary(times: list[tuple]) -> tuple[float, float, int]:
    """p50 and p99 in ms of ``latencies`` and how many events never arrived."""
    lat, missing = latencies(times)
    return percentile(lat, 50), percentile(lat, 99), missing


def event_latencies(world: World, since_id: int) -> tuple[list[float], int]:
    """Outbox created_at → the consumer's inbox processed_at (ms) for candidate events after ``since_id``,
    and how many never arrived."""
    return latencies(event_times(world, since_id))


def latencies(times: list[tuple]) -> tuple[list[float], int]:
    lat = [(consumed - created).total_seconds() * 1000 for created, _, consumed in times if consumed]
    return lat, len(times) - len(lat)


def event_split(times: list[tuple]) -> dict[str, tuple[float, float]]:
    """Where an event's time goes, p50 and p99 in ms: outbox ``created_at`` → ``published_at`` (when the broker
    had confirmed it) → the consumer's commit."""
    confirmed = [(published - created).total_seconds() * 1000 for created, published, _ in times if published]
    consumed = [(done - published).total_seconds() * 1000 for _, published, done in times if published and done]
    return {"created → confirmed": (percentile(confirmed, 50), percentile(confirmed, 99)),
            "confirmed → consumed": (percentile(consumed, 50), percentile(consumed, 99))}


def event_times(world: World, since_id: int) -> list[tuple]:
    """(created_at, published_at, the consumer's processed_at or None) of each candidate event after
    ``since_id``, once every one is marked sent and has arrived, or a minute has passed."""
    from sqlalchemy import select

    from services.registration.models import platform as producer
    from shared.db import make_engine
    from tests.bench.latency_consumer import HANDLER, platform as consumer

    produced = (select(producer.outbox.c.event_id, producer.outbox.c.created_at, producer.outbox.c.published_at)
                .where(producer.outbox.c.event_type == reg.EVENT_TYPE, producer.outbox.c.id > since_id))
    p_engine, c_engine = make_engine(world.db_uris["registration"]), make_engine(world.db_uris["consumer"])
    try:
        deadline = time.monotonic() + 60
        while True:
            with p_engine.connect() as conn:
                rows = conn.execute(produced).all()
            with c_engine.connect() as conn:
                consumed = {r.event_id: r.processed_at for r in conn.execute(
                    select(consumer.inbox.c.event_id, consumer.inbox.c.processed_at)
                    .where(consumer.inbox.c.handler == HANDLER))}
            arrived = all(r.event_id in consumed and r.published_at for r in rows)
            if arrived or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    finally:
        p_engine.dispose()
        c_engine.dispose()
    return [(r.created_at, r.published_at, consumed.get(r.event_id)) for r in rows]


def outbox_high_water(world: World) -> int:
    from sqlalchemy import func, select

    from services.registration.models import platform as producer
    from shared.db import make_engine
    engine = make_engine(world.db_uris["registration"])
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.coalesce(func.max(producer.outbox.c.id), 0)))
    finally:
        engine.dispose()


def paced(meter: Meter, name: str, rate: float, seconds: float, one) -> Phase:
    """Requests at a fixed rate (open loop, 8 senders), as an agency's traffic arrives: CPU over the window.
    Latency is from each request's slot, not from when its sender started waiting for it."""
    count = int(rate * seconds)
    start = time.perf_counter() + 0.2
    state = {"next": 0}
    lock = threading.Lock()
    latencies: list[float] = []

    def on_time(st, i):
        with lock:
            slot = state["next"]
            state["next"] += 1
        due = start + slot / rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        problem = one(st, i)
        if not problem:
            latencies.append(time.perf_counter() - due)
        return problem

    (_, errors), cpu, wall = meter.measure(lambda: run_clients(8, count, on_time, budget_s=seconds * 3))
    result = Phase(name, count, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, wall, cpu,
                   errors)
    print(f"  {name}: p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, {len(errors)} errors, "
          f"{sum(cpu.values()) / wall:.3f} cores", flush=True)
    return result


def capacity_check(light: Phase, brisk: Phase, check: Phase, saturated: Phase, rates: tuple[float, float],
                   rate: float, stack: list[str]) -> dict:
    """The model's line through two paced rates, checked at a third: cores = fixed + rate × CPU per request.

    CPU per request falls as load rises (confirms batch, wake-ups coalesce), so one figure
    cannot size both an agency's light peaks and a busy stack: the line's slope is the cost of
    one more request, its intercept what the stack costs for being in use at all (timers,
    wake-ups). The saturated phase's cost, rate × CPU per request, is the lower bound."""
    def cores(phase: Phase) -> float:
        return sum(phase.cpu.get(n, 0.0) for n in stack) / phase.wall_s

    (r1, r2), (c1, c2) = rates, (cores(light), cores(brisk))
    marginal = (c2 - c1) / (r2 - r1)
    fixed = c1 - r1 * marginal
    per_saturated = saturated.per_request_ms(*stack) / 1000
    return {"rates": list(rates), "rate": rate, "count": check.count, "errors": check.errors,
            "wall": check.wall_s, "fixed_cores": fixed, "marginal_ms": marginal * 1000,
            "light_ms": light.per_request_ms(*stack), "saturated_ms": per_saturated * 1000,
            "predicted_cores": fixed + rate * marginal, "lower_cores": rate * per_saturated,
            "measured_cores": cores(check)}


def run(args, outer: ExitStack) -> dict:
    from shared.auth import Principal
    from shared.catalogue import component
    from shared.migrate import upgrade

    out: dict = {"args": vars(args)}
    world = start_world("sqlite", outer)
    ctx = set_up(world, 8)
    pids = world.pids()
    broker = broker_pid()
    if broker:
        pids["broker"] = broker
    meter = Meter(pids)
    base = world.base_url
    op_headers = {"Authorization": f"Bearer {ctx['operator']}"}
    operator = Principal(role="operator", agency=AGENCY, token_id="bench", name="bench")
    n = args.requests

    # 1. the floor
    hello_port = free_port()
    hello = subprocess.Popen([str(BIN / "python"), "-c", HELLO, str(hello_port)], cwd=REPO_ROOT,
                             start_new_session=True)
    outer.callback(quietly, "stop hello", stop_process, hello, 5)
    wait_listening(hello_port, hello, "the hello server")
    hello_meter = Meter({"hello": hello.pid, "client": os.getpid()})  # the HTTP hop: server and client
    print("[sqlite] floor, gateway GET, direct RPC ...", flush=True)
    out["hello1"] = phase(hello_meter, "hello c=1", 1, n, http_get(f"http://127.0.0.1:{hello_port}/"))
    out["hello8"] = phase(hello_meter, "hello c=8", 8, n, http_get(f"http://127.0.0.1:{hello_port}/"))
    stop_process(hello, 5)

    # 2. gateway GET vs direct RPC (alternating blocks would be fairer under noise; two rounds each, best kept)
    get_url = f"{base}/api/v1/cycles/{ctx['open_cycle']}"
    direct = rpc_call(amqp_config(world), operator, "registration", "get_cycle", ctx["open_cycle"])
    # this process too: at c=1 its CPU per direct call is the RPC client's, a part of any gateway's floor
    with_client = Meter(dict(pids, client=os.getpid()))
    for c in (1, 8):
        gws, rpcs = [], []
        for _ in range(2):
            gws.append(phase(meter, f"gateway GET c={c}", c, n, http_get(get_url, op_headers)))
            rpcs.append(phase(with_client, f"direct RPC c={c}", c, n, direct))
        out[f"gw{c}"] = min(gws, key=lambda p: p.p50_ms)
        out[f"rpc{c}"] = min(rpcs, key=lambda p: p.p50_ms)
    bare = start_bare_gateway(world, outer)
    bare_meter = Meter(dict(pids, bare=bare.pid))
    out["bare1"] = min((phase(bare_meter, "bare nameko gateway GET c=1", 1, n,
                              http_get(f"http://127.0.0.1:{bare.port}/api/v1/cycles/{ctx['open_cycle']}"))
                        for _ in range(2)), key=lambda p: p.p50_ms)
    stop_process(bare, 5)

    # 3. registration POSTs and the raw baseline
    print("[sqlite] registration POSTs, raw baseline ...", flush=True)
    forms = forms_for(ctx["open_cycle"], args.posts + 40, 0)
    since = outbox_high_water(world)
    out["post"] = phase(meter, "POST c=8", 8, args.posts, post_json(f"{base}/api/v1/candidates",
                                                                      ctx["unit_tokens"], forms[40:]), warm=0)
    times = event_times(world, since)
    out["events_sqlite"], out["events_sqlite_split"] = latency_summary(times), event_split(times)
    print(f"  event latency sqlite p50 {out['events_sqlite'][0]:.1f} ms p99 {out['events_sqlite'][1]:.1f} ms "
          f"missing {out['events_sqlite'][2]}", flush=True)

    from shared.pii import PiiVault, configure_vault
    configure_vault(PiiVault.from_config({"PII_KEYS": world.pii_keys, "PII_INDEX_KEY": world.index_key}))
    raw_db = f"sqlite:///{world.tmp / 'raw.db'}"
    upgrade(component("registration"), raw_db)
    token_units = seed_raw(raw_db, ctx)
    raw_port = free_port()
    raw_env = dict(os.environ, PII_KEYS=world.pii_keys, PII_INDEX_KEY=world.index_key, AGENCY_ID=AGENCY)
    raw = subprocess.Popen([str(BIN / "python"), "-m", "tests.bench.gateway", "--raw-server", str(raw_port),
                            "--raw-db", raw_db, "--raw-tokens", json.dumps(token_units)],
                           cwd=REPO_ROOT, env=raw_env, start_new_session=True)
    outer.callback(quietly, "stop the raw server", stop_process, raw, 5)
    wait_listening(raw_port, raw, "the raw baseline")
    raw_forms = forms_for(ctx["open_cycle"], args.posts + 40, 0)
    out["raw"] = phase(Meter({"raw": raw.pid}), "raw baseline POST c=8", 8, args.posts,
                       post_json(f"http://127.0.0.1:{raw_port}/", list(token_units), raw_forms), warm=0)
    stop_process(raw, 5)

    # 4. aggregates vs single GETs and their parts
    print("[sqlite] aggregates ...", flush=True)
    k = max(50, n // 4)
    dash = f"{base}/api/v1/dashboard?cycle=2022&stage=basic&year={ctx['year']}"
    parts = {"quota_report": f"{base}/api/v1/cycles/2022/quota-report",
             "cycle": f"{base}/api/v1/cycles/2022",
             "lecture_compliance": f"{base}/api/v1/subsidy-cycles/2022/compliance",
             "ranking": f"{base}/api/v1/scoring/cycles/2022/stages/basic/ranking",
             "enrolment_progress": f"{base}/api/v1/enrolment-progress/{ctx['year']}"}
    status = requests.get(dash, headers=op_headers, timeout=30).json()
    out["dash_parts"] = {p: v["status"] for p, v in status["parts"].items()}
    out["dash"] = phase(meter, "dashboard c=1", 1, k, http_get(dash, op_headers))
    out["single"] = phase(meter, "single GET c=1", 1, k, http_get(f"{base}/api/v1/cycles/2022", op_headers))
    out["dash_part_phases"] = {p: phase(meter, f"part {p}", 1, k, http_get(u, op_headers, ok=(200, 400, 404)))
                               for p, u in parts.items()}
    out["safety"] = phase(meter, "safety file c=1", 1, k,
                          http_get(f"{base}/api/v1/safety-files/{ctx['credit_code']}", op_headers))
    out["risk_single"] = phase(meter, "risk GET c=1", 1, k,
                               http_get(f"{base}/api/v1/risk/enterprises/{ctx['enterprise_id']}", op_headers))
    # the safety file's parts on their own, each over RPC as the gateway fetches them (gateway/safety_file.py)
    from gateway.safety_file import PARTS as SAFETY_PARTS
    out["safety_parts"] = {
        part: phase(meter, f"direct RPC {service}.{method} c=1", 1, k,
                    rpc_call(amqp_config(world), operator, service, method, ctx["credit_code"]))
        for part, (service, method) in SAFETY_PARTS.items()}

    # 5. the capacity model: its line through two paced rates, then a third rate predicted vs measured
    stack = [name for name in pids if name not in ("broker",)]
    light, brisk, rate = args.light_rate, args.brisk_rate, args.paced_rate
    print(f"[sqlite] capacity model: {light:.0f} and {brisk:.0f} req/s, then {rate:.0f} POST/s ...", flush=True)
    seconds = args.paced_seconds
    paced_forms = forms_for(ctx["open_cycle"], int((light + brisk + rate) * seconds) + 30, 30000)
    used = 0

    def post_forms(count: int):
        nonlocal used
        one = post_json(f"{base}/api/v1/candidates", ctx["unit_tokens"], paced_forms[used:used + count + 10])
        used += count + 10
        return one

    out["light_get"] = paced(meter, f"GET paced {light:.0f}/s", light, seconds, http_get(get_url, op_headers))
    out["light_post"] = paced(meter, f"POST paced {light:.0f}/s", light, seconds, post_forms(int(light * seconds)))
    out["brisk_post"] = paced(meter, f"POST paced {brisk:.0f}/s", brisk, seconds, post_forms(int(brisk * seconds)))
    out["check_post"] = paced(meter, f"POST paced {rate:.0f}/s", rate, seconds, post_forms(int(rate * seconds)))
    out["paced"] = capacity_check(out["light_post"], out["brisk_post"], out["check_post"], out["post"],
                                  (light, brisk), rate, stack)

    # 6. memory
    out["rss"] = {name: rss_mb(pid) for name, pid in pids.items() if name != "broker"}
    out["pids"] = pids
    world.cleanup.close()

    # the same POST phase with every database on PostgreSQL: event latency there
    if "postgresql" in args.databases:
        try:
            run_postgresql(args, outer, out, k)
        except (TimeLimit, BenchError) as exc:  # the SQLite figures still get reported
            out["pg_failure"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"[postgresql] not measured: {out['pg_failure']}", file=sys.stderr, flush=True)
    return out


def run_postgresql(args, outer: ExitStack, out: dict, k: int) -> None:
    pg = start_world("postgresql", outer)
    pctx = set_up(pg, 8)
    ppids = pg.pids()
    broker = broker_pid()
    if broker:  # the aggregates' CPU floor counts the broker's share, as on SQLite
        ppids["broker"] = broker
    pmeter = Meter(ppids)
    pforms = forms_for(pctx["open_cycle"], args.posts + 40, 0)
    since = outbox_high_water(pg)
    out["post_pg"] = phase(pmeter, "POST c=8 (postgresql)", 8, args.posts,
                           post_json(f"{pg.base_url}/api/v1/candidates", pctx["unit_tokens"], pforms[40:]), warm=0)
    times = event_times(pg, since)
    out["events_pg"], out["events_pg_split"] = latency_summary(times), event_split(times)
    print(f"  event latency postgresql p50 {out['events_pg'][0]:.1f} ms p99 {out['events_pg'][1]:.1f} ms",
          flush=True)
    # the aggregates again: on PostgreSQL a service's parts run on connections of their own
    pbase, phdr = pg.base_url, {"Authorization": f"Bearer {pctx['operator']}"}
    out["dash_pg"] = phase(pmeter, "dashboard c=1 (postgresql)", 1, k,
                           http_get(f"{pbase}/api/v1/dashboard?cycle=2022&stage=basic&year={pctx['year']}", phdr))
    out["single_pg"] = phase(pmeter, "single GET c=1 (postgresql)", 1, k,
                             http_get(f"{pbase}/api/v1/cycles/2022", phdr))
    out["safety_pg"] = phase(pmeter, "safety file c=1 (postgresql)", 1, k,
                             http_get(f"{pbase}/api/v1/safety-files/{pctx['credit_code']}", phdr))
    out["risk_single_pg"] = phase(pmeter, "risk GET c=1 (postgresql)", 1, k,
                                  http_get(f"{pbase}/api/v1/risk/enterprises/{pctx['enterprise_id']}", phdr))
    out["rss"].update({f"{name} (pg)": rss_mb(pid) for name, pid in pg.pids().items()})
    pg.cleanup.close()


def seed_raw(db_uri: str, ctx: dict) -> dict[str, int]:
    """The raw baseline's database: the same cycle and units, one token per unit."""
    from datetime import date

    from sqlalchemy import insert

    from services.registration.models import Cycle, Unit
    from shared.db import make_engine
    from shared.workdays import utcnow

    engine = make_engine(db_uri)
    tokens = {}
    with engine.begin() as conn:
        conn.execute(insert(Cycle.__table__).values(agency_id=AGENCY, code=ctx["open_cycle"], title="压测",
                                                    deadline=date(datetime.now().year + 1, 12, 31), minimums={},
                                                    created_at=utcnow(), updated_at=utcnow()))
        for u in ctx["units"]:
            uid = conn.execute(insert(Unit.__table__).values(agency_id=AGENCY, name=u["name"], kind=u["kind"],
                                                             district=u["district"], contact_phone="13900001111",
                                                             created_at=utcnow())).inserted_primary_key[0]
            tokens["raw-" + uuid.uuid4().hex] = uid
    engine.dispose()
    return tokens


# ---- targets and report ----------------------------------------------------------------------------

def hop_floor(hello: Phase, rpc: Phase) -> float:
    """The p50 ratio a gateway doing no work of its own would reach: an HTTP round trip, then the call."""
    return (hello.p50_ms + rpc.p50_ms) / rpc.p50_ms


def cpu_hop_floor(hello: Phase, rpc: Phase) -> float:
    """With the CPUs saturated, latency ∝ CPU per request in every process: the call's (its client, the service,
    the broker) plus an HTTP hop's (the hello server and its client) over the call's."""
    call = rpc.per_request_ms(*rpc.cpu)
    return (call + hello.per_request_ms(*hello.cpu)) / call


def cpu_floor(agg: Phase, single: Phase, cpus: int | None = None) -> str:
    """An aggregate cannot answer sooner than its CPU (every process, the broker's too) spread over every core."""
    cpus = cpus or os.cpu_count() or 1
    floor_ms = sum(agg.cpu.values()) / max(1, agg.count - len(agg.errors)) * 1000 / cpus
    return (f"floor on {cpus} CPUs, its CPU in every process ({floor_ms * cpus:.2f} ms) ÷ {cpus}: "
            f"{floor_ms:.2f} ms = {floor_ms / single.p50_ms:.2f}× the single GET")


def critical_path(agg: Phase, single: Phase, cpus: int | None = None) -> str:
    """A closer estimate than ``cpu_floor``: the gateway's CPU comes before and after the parts (it parses,
    authenticates and sends, then merges and answers), and the services' CPU and the broker's fill the CPUs
    meanwhile, the busiest service on one CPU at most (a process runs on one core)."""
    cpus = cpus or os.cpu_count() or 1
    services = {n: agg.per_request_ms(n) for n in agg.cpu if n not in ("gateway", "broker", "consumer")}
    busiest = max(services.values(), default=0.0)
    middle = max(busiest, (sum(services.values()) + agg.per_request_ms("broker")) / cpus)
    estimate = agg.per_request_ms("gateway") + middle
    return (f"; the critical path, the gateway's CPU ({agg.per_request_ms('gateway'):.2f} ms) before and after the "
            f"services' and the broker's on {cpus} CPUs (no less than the busiest service's {busiest:.2f}): "
            f"{estimate:.2f} ms = {estimate / single.p50_ms:.2f}×")


def slowest_part(parts: dict[str, Phase], single: Phase) -> str:
    name, part = max(parts.items(), key=lambda item: item[1].p50_ms)
    return f"; its slowest part alone ({name}): {part.p50_ms:.2f} ms = {part.p50_ms / single.p50_ms:.2f}×"


def targets(out: dict) -> list[tuple[str, bool, str]]:
    rows = []
    stack_names = [n for n in out["pids"] if n != "broker"]
    for c in (1, 8):
        gw, rpc, hello = out[f"gw{c}"], out[f"rpc{c}"], out[f"hello{c}"]
        ratio = gw.p50_ms / rpc.p50_ms
        figures = f"{gw.p50_ms:.2f} / {rpc.p50_ms:.2f} ms = {ratio:.2f}× (hello floor {hello.p50_ms:.2f} ms"
        if c == 1:  # one request at a time: the HTTP hop and the call follow each other, their times add up
            figures += f"; floor of any gateway, an HTTP hop plus the call: {hop_floor(hello, rpc):.2f}×"
            bare = out.get("bare1")
            if bare is not None:  # what nameko's @http and the RPC client take before the gateway does anything
                figures += (f"; a bare nameko gateway, the same call: {bare.p50_ms:.2f} ms = "
                            f"{bare.p50_ms / rpc.p50_ms:.2f}×, so the gateway's own work adds "
                            f"{gw.p50_ms - bare.p50_ms:.2f} ms")
        else:  # 8 at once keep the CPUs busy: latency follows the CPU a request costs everywhere, clients too
            # an estimate, not a bound: 8 direct callers in one process also wait for each other's GIL
            figures += ("; CPU-bound estimate for any gateway, the call's CPU plus the HTTP hop's: "
                        f"{cpu_hop_floor(hello, rpc):.2f}×")
        rows.append((f"gateway GET p50 ≤ 1.25× direct RPC, c={c}", ratio <= 1.25, figures + ")"))
    gw_cpu, svc_cpu = out["gw1"].per_request_ms("gateway"), out["rpc1"].per_request_ms("registration")
    floor_cpu = out["hello1"].per_request_ms("hello") + out["rpc1"].per_request_ms("client")
    bare_cpu = out["bare1"].per_request_ms("bare")
    rows.append(("gateway CPU per proxied GET ≤ the service's CPU for the call", gw_cpu <= svc_cpu,
                 f"gateway {gw_cpu:.2f} ms vs registration {svc_cpu:.2f} ms (direct RPC); "
                 f"registration under the gateway {out['gw1'].per_request_ms('registration'):.2f} ms; floors: "
                 f"nameko's @http and the gateway's RPC client alone {bare_cpu:.2f} ms (so its token, routes, access "
                 f"line, metrics and error mapping cost {gw_cpu - bare_cpu:.2f}), an HTTP server's answer "
                 f"({out['hello1'].per_request_ms('hello'):.2f}) plus nameko's standalone RPC client's call "
                 f"({out['rpc1'].per_request_ms('client'):.2f}) {floor_cpu:.2f} ms"))
    post_total = out["post"].per_request_ms("gateway", "registration", "broker")
    raw = out["raw"].per_request_ms("raw")
    rows.append(("POST CPU (gateway + registration + broker) ≤ 3× raw baseline", post_total <= 3 * raw,
                 f"{post_total:.2f} ms vs {raw:.2f} ms = {post_total / raw:.2f}× "
                 f"(gateway {out['post'].per_request_ms('gateway'):.2f}, registration "
                 f"{out['post'].per_request_ms('registration'):.2f}, broker {out['post'].per_request_ms('broker'):.2f}, "
                 f"consumer {out['post'].per_request_ms('consumer'):.2f}, others "
                 f"{out['post'].per_request_ms(*[n for n in stack_names if n not in ('gateway', 'registration', 'consumer')]):.2f})"))
    for name, agg, single, part_names in (
            ("dashboard", out["dash"], out["single"], list(out["dash_part_phases"])),
            ("safety file", out["safety"], out["risk_single"], None)):
        ratio = agg.p50_ms / single.p50_ms
        rows.append((f"{name} p50 ≤ 1.5× a single-service GET (c=1, sqlite)", ratio <= 1.5,
                     f"{agg.p50_ms:.2f} / {single.p50_ms:.2f} ms = {ratio:.2f}×; " + cpu_floor(agg, single)
                     + critical_path(agg, single)
                     + (slowest_part(out["dash_part_phases"], single) if part_names else "")))
        agg_cpu = agg.per_request_ms(*stack_names)
        if part_names:
            parts_cpu = sum(out["dash_part_phases"][p].per_request_ms(*stack_names) for p in part_names)
        else:
            # each fetched part called directly + the gateway's cost of one proxied GET per part (as the
            # dashboard's parts, which are proxied GETs)
            parts_cpu = sum(ph.per_request_ms(*stack_names) + single.per_request_ms("gateway")
                            for ph in out["safety_parts"].values())
        rows.append((f"{name} CPU ≤ sum of parts + 20 %", agg_cpu <= 1.2 * parts_cpu,
                     f"{agg_cpu:.2f} ms vs parts {parts_cpu:.2f} ms = {agg_cpu / parts_cpu:.2f}× (stack processes)"))
    for name, agg, single in (("dashboard", "dash_pg", "single_pg"), ("safety file", "safety_pg", "risk_single_pg")):
        if agg in out:
            ratio = out[agg].p50_ms / out[single].p50_ms
            rows.append((f"{name} p50 ≤ 1.5× a single-service GET (c=1, postgresql)", ratio <= 1.5,
                         f"{out[agg].p50_ms:.2f} / {out[single].p50_ms:.2f} ms = {ratio:.2f}×; "
                         + cpu_floor(out[agg], out[single]) + critical_path(out[agg], out[single])))
    for label, key in (("sqlite", "events_sqlite"), ("postgresql", "events_pg")):
        if key in out:
            p50, p99, missing = out[key]
            split = "; ".join(f"{part} p50 {a:.1f} / p99 {b:.1f} ms" for part, (a, b) in out[key + "_split"].items())
            split += " (below zero: the consumer had committed before the confirm reached the relay)"
            rows.append((f"event commit → consumer commit p99 ≤ 50 ms ({label})", p99 <= 50 and not missing,
                         f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (from `created_at`, before the commit), {missing} "
                         f"missing; {split}"))
    worst = max(out["rss"].items(), key=lambda kv: kv[1])
    rows.append(("no process above 120 MB RSS", worst[1] <= 120, f"largest {worst[0]} {worst[1]:.0f} MB"))
    paced = out["paced"]
    rows.append(("capacity model: predicted CPU within 25 % of measured at a fixed rate",
                 abs(paced["predicted_cores"] - paced["measured_cores"]) <= 0.25 * paced["measured_cores"],
                 f"{paced['rate']:.0f} POST/s: predicted {paced['predicted_cores']:.2f} cores "
                 f"({paced['fixed_cores']:.3f} + {paced['marginal_ms']:.1f} ms per POST, the line through "
                 f"{paced['rates'][0]:.0f} and {paced['rates'][1]:.0f}/s), measured {paced['measured_cores']:.2f}; "
                 f"{len(paced['errors'])} errors; the saturated POST phase's {paced['saturated_ms']:.1f} ms per POST "
                 f"would predict {paced['lower_cores']:.2f}, the light-load {paced['light_ms']:.1f} ms "
                 f"{paced['light_ms'] * paced['rate'] / 1000:.2f}"))
    return rows


def report(out: dict, rows, info: dict, started: datetime, load: tuple) -> str:
    names = ["gateway", "registration", "subsidies", "scoring", "risk", "broker", "consumer"]
    phases = [out[k] for k in ("hello1", "hello8", "gw1", "rpc1", "bare1", "gw8", "rpc8", "post", "raw", "dash",
                               "single")]
    phases += list(out["dash_part_phases"].values()) + [out["safety"], out["risk_single"], *out["safety_parts"].values()]
    phases += [out[k] for k in ("light_get", "light_post", "brisk_post", "check_post")]
    phases += [out[k] for k in ("post_pg", "dash_pg", "single_pg", "safety_pg", "risk_single_pg") if k in out]
    table = ["| phase | ok | p50 ms | p99 ms | per s | " + " | ".join(f"CPU ms {n}" for n in names)
             + " | CPU ms own server |", "|---|---:|---:|---:|---:|" + "---:|" * (len(names) + 1)]
    for p in phases:
        own = next((n for n in ("hello", "raw", "bare") if n in p.cpu), None)
        cells = ["–" if n not in p.cpu else f"{p.per_request_ms(n):.2f}" for n in names]
        cells.append(f"{p.per_request_ms(own):.2f}" if own else "–")
        table.append(f"| {p.name} | {p.count - len(p.errors)} | {p.p50_ms:.2f} | {p.p99_ms:.2f} | {p.rate:.0f} | "
                     + " | ".join(cells) + " |")
    verdicts = ["| target | result | figures |", "|---|---|---|"]
    verdicts += [f"| {t} | {'met' if ok else 'NOT met'} | {fig} |" for t, ok, fig in rows]
    rss = ", ".join(f"{k} {v:.0f}" for k, v in sorted(out["rss"].items()))
    return "\n".join([
        START_MARK,
        "## Gateway: the request path's cost (latency and CPU per request per process)",
        "",
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M %Z').strip()}",
        f"- **Machine:** {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM; Python {info['python']}, "
        f"nameko {info['nameko']}, RabbitMQ {info['rabbitmq']}, PostgreSQL {info['postgresql']}; "
        f"1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end (the CPUs are shared)",
        f"- **Command:** `{command_line()}` (`make bench-gateway`)",
        f"- **Setup:** `wsli up` (every component, shipped configs and worker counts, SQLite) on a private vhost of "
        "the machine's RabbitMQ, plus the registration bench's event consumer; GETs with an operator token "
        f"(not the bootstrap token: the token path is measured), POSTs from 8 unit tokens. {out['args']['requests']} "
        f"requests per latency phase (after 10 warm-up), {out['args']['posts']} POSTs. CPU per request = "
        "(utime + stime from /proc/<pid>/stat after − before) ÷ requests; the broker is the shared RabbitMQ "
        "(its figure includes other users of it). The raw baseline is one eventlet WSGI process with SQLAlchemy "
        "Core doing registration's validation, encryption, blind index, reads and the candidate + outbox + "
        "audit inserts in one transaction, without broker or relay. The paced phases (the capacity model) "
        "send requests open loop at a fixed rate from 8 senders; their latency counts from each request's "
        "due time. A target's floor is what no gateway could beat on these CPUs (see each line). "
        "The bare nameko gateway is nameko's `@http` entrypoint and the gateway's own RPC client forwarding the "
        "same GET, nothing else (no token, routing table, access line, metrics or error mapping). Dashboard parts: "
        + ", ".join(f"{k} {v}" for k, v in out["dash_parts"].items()) + ".",
        "",
        "\n".join(verdicts),
        "",
        "\n".join(table),
        "",
        f"Resident memory after the run (MB): {rss}.",
        END_MARK,
    ])


def command_line() -> str:
    import shlex
    return " ".join([".venv/bin/python", "-m", "tests.bench.gateway", *map(shlex.quote, sys.argv[1:])])


def write_doc(text: str) -> None:
    sections.write_section(START_MARK, END_MARK, text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.bench.gateway", description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400, help="requests per latency phase (default 400)")
    p.add_argument("--posts", type=int, default=600, help="registration POSTs (default 600)")
    p.add_argument("--light-rate", type=float, default=10.0,
                   help="the first rate of the model's line, and of its light-load GET cost (default 10)")
    p.add_argument("--brisk-rate", type=float, default=50.0,
                   help="the second rate of the model's line (default 50)")
    p.add_argument("--paced-rate", type=float, default=25.0, help="POSTs per second of the model check (default 25)")
    p.add_argument("--paced-seconds", type=float, default=20.0, help="length of each paced phase (default 20)")
    p.add_argument("--databases", default="sqlite,postgresql")
    p.add_argument("--json", help="also write the figures to this file (for docs/capacity.md)")
    p.add_argument("--raw-server", type=int, help=argparse.SUPPRESS)
    p.add_argument("--raw-db", help=argparse.SUPPRESS)
    p.add_argument("--raw-tokens", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.raw_server:
        raw_server(args.raw_server, args.raw_db, json.loads(args.raw_tokens))
        return 0
    started = datetime.now().astimezone()
    load_start = os.getloadavg()[0]

    def on_alarm(signum, frame):
        raise TimeLimit(f"the bench exceeded its {TIME_LIMIT_S // 60} min limit")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt("SIGTERM")))
    signal.alarm(TIME_LIMIT_S)
    outer = ExitStack()
    try:
        out = run(args, outer)
    except (KeyboardInterrupt, TimeLimit) as exc:
        print(f"\ninterrupted ({exc or type(exc).__name__}); stopping everything ...", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        outer.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    rows = targets(out)
    if args.json:
        figures = {k: (v.__dict__ if isinstance(v, Phase) else v) for k, v in out.items() if k != "dash_part_phases"}
        figures["dash_part_phases"] = {k: v.__dict__ for k, v in out["dash_part_phases"].items()}
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")
    text = report(out, rows, reg.machine(), started, (load_start, os.getloadavg()[0]))
    write_doc(text)
    print()
    for target, ok, figures in rows:
        print(f"{'PASS' if ok else 'FAIL'}  {target}: {figures}")
    print(f"written to {DOC.relative_to(REPO_ROOT)}")
    return 0 if all(ok for _, ok, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
