"""Training: exam grading throughput and the yearly class-hours lookup, on a running service.

    python -m tests.bench.training [--attempts 10000] [--people 110210] [--concurrency 8]
                                   [--databases sqlite,postgresql]

For each backend: a fresh database (migrated), a private RabbitMQ vhost, and the
training service in this process (nameko ServiceRunner, shipped worker count).

1. Grading: a 50-question paper drawn from a 200-question bank; N attempts are
   started (bulk-inserted, like a morning of trainees opening the paper), then N
   answer sheets are submitted over RPC by C concurrent clients. Each submission is
   graded, stored and writes its ``exam_scored`` event to the outbox in one
   transaction. Throughput = N / wall time of the submissions.
2. Class hours: the ledger holds every one of the 2018 quota's 110,210 people (one
   class each, a fifth of them two classes). Measured: ``person_hours`` over RPC for
   1,000 random people (latency), and the year's total per person for all of them
   (the aggregate a yearly report runs, over the same index).

Results are printed and written to docs/benchmarks.md (this bench's section only).
"""
from __future__ import annotations

import shared  # noqa: F401  (warning filters before eventlet)
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date, datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.bench import sections  # noqa: E402

START_MARK = "<!-- bench:training:start -->"
END_MARK = "<!-- bench:training:end -->"
AMQP_BASE = "pyamqp://guest:guest@127.0.0.1:5672"
# a cluster of one's own: WSLI_BENCH_PG (or the tests' WSLI_TEST_PG), else the local default
PG_ADMIN = os.environ.get("WSLI_BENCH_PG") or os.environ.get("WSLI_TEST_PG") or "postgresql://postgres@127.0.0.1:5432/postgres"
AGENCY = "beijing"
PAPER = 50
BANK = 200


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60).stdout


class World:
    """A vhost and a database of one backend; both removed afterwards."""

    def __init__(self, kind: str, tmp: Path):
        self.kind = kind
        self.vhost = f"wsli-bench-training-{uuid.uuid4().hex[:8]}"
        self.db_name = f"wsli_bench_training_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            self.db_uri = f"sqlite:///{tmp}/training-{uuid.uuid4().hex[:6]}.db"
        else:
            self.db_uri = make_url(PG_ADMIN).set(database=self.db_name).render_as_string(hide_password=False)

    def __enter__(self):
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        if self.kind == "postgresql":
            self._pg(f'CREATE DATABASE "{self.db_name}"')
        from shared.catalogue import component
        from shared.migrate import upgrade
        upgrade(component("training"), self.db_uri)
        return self

    def __exit__(self, *exc):
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True, timeout=60)
        if self.kind == "postgresql":
            self._pg(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    @staticmethod
    def _pg(sql):
        import psycopg2
        conn = psycopg2.connect(PG_ADMIN)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    def config(self) -> dict:
        from shared.config import load_config
        from shared.catalogue import component
        config = load_config(component("training").config_path)
        config.update({"AMQP_URI": f"{AMQP_BASE}/{quote(self.vhost, safe='')}", "DB_URI": self.db_uri,
                       "AGENCY_ID": AGENCY, "LOGGING": {"version": 1, "root": {"level": "WARNING"}}})
        return config


def seed_exam(engine, attempts: int) -> tuple[int, list[int], dict]:
    from services.training.models import Attempt, Exam, Question
    now = datetime.now(timezone.utc)
    rng = random.Random(7)
    with engine.begin() as conn:
        rows = []
        for i in range(BANK):
            kind = ("single", "multiple", "true_false")[i % 3]
            answer = {"single": ["A"], "multiple": ["A", "C"], "true_false": ["T"]}[kind]
            rows.append({"agency_id": AGENCY, "topic": "安责险", "kind": kind, "text": f"题目{i}",
                         "options": {"A": "甲", "B": "乙", "C": "丙", "D": "丁"}, "answer": answer,
                         "created_at": now})
        conn.execute(insert(Question), rows)
        qs = conn.execute(select(Question.id, Question.answer)).all()
        paper = rng.sample([q.id for q in qs], PAPER)
        key = {str(q.id): q.answer for q in qs if q.id in paper}
        exam_id = conn.execute(insert(Exam).values(
            agency_id=AGENCY, kind="basic_test", title="bench", cycle="BENCH", seed=7, draw=[], paper=paper,
            answer_key=key, duration_minutes=600, pass_mark=60, created_at=now).returning(Exam.id)).scalar_one()
        batch = []
        for n in range(attempts):
            batch.append({"agency_id": AGENCY, "exam_id": exam_id, "taker": f"candidate:{n + 1}",
                          "candidate_id": n + 1, "person_key": f"pk{n}", "status": "started", "source": "online",
                          "started_at": now, "deadline_at": now + timedelta(hours=10)})
            if len(batch) == 2000:
                conn.execute(insert(Attempt), batch)
                batch = []
        if batch:
            conn.execute(insert(Attempt), batch)
        ids = list(conn.execute(select(Attempt.id).where(Attempt.exam_id == exam_id).order_by(Attempt.id)).scalars())
    return exam_id, ids, key


def answer_sheet(key: dict, rng: random.Random) -> dict:
    # about 80% right, as a trained class would score
    return {qid: (ans if rng.random() < 0.8 else ["B"]) for qid, ans in key.items()}


def bench_grading(world, runner_config, attempts: int, concurrency: int) -> dict:
    from nameko.standalone.rpc import ClusterRpcProxy
    from shared.auth import CONTEXT_KEY, Principal
    from shared.db import make_engine
    engine = make_engine(world.db_uri)
    exam_id, ids, key = seed_exam(engine, attempts)
    engine.dispose()
    rng = random.Random(11)
    sheets = [answer_sheet(key, rng) for _ in ids]
    context = {CONTEXT_KEY: Principal(role="operator", agency=AGENCY, name="bench").to_context()}
    latencies, errors = [], []
    queue = list(zip(ids, sheets))

    def client():
        with ClusterRpcProxy(runner_config, context_data=context, timeout=60) as cluster:
            while queue:
                attempt_id, sheet = queue.pop()
                t0 = time.perf_counter()
                try:
                    cluster.training.submit_attempt(attempt_id, {"answers": sheet})
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(repr(exc)[:200])
                latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    pool = eventlet.GreenPool(concurrency)
    for _ in range(concurrency):
        pool.spawn(client)
    pool.waitall()
    wall = time.perf_counter() - started
    engine = make_engine(world.db_uri)
    from services.training.models import Attempt, platform as tables
    with engine.connect() as conn:
        graded = conn.scalar(select(func.count()).where(Attempt.exam_id == exam_id, Attempt.status == "submitted"))
        events = conn.scalar(select(func.count()).select_from(tables.outbox))
    engine.dispose()
    return {"per_second": attempts / wall, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "graded": graded, "events": events, "errors": len(errors), "wall": wall}


def seed_hours(engine, people: int) -> list[str]:
    from services.training.models import HoursEntry, Institution, TrainingClass
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        inst = conn.execute(insert(Institution).values(
            agency_id=AGENCY, name="bench", full_time_managers=3, management_system=True, teacher_min_years=5,
            evaluation_mechanism=True, seats=60, created_at=now, updated_at=now).returning(Institution.id)).scalar_one()
        classes = []
        for n in range(200):
            classes.append(conn.execute(insert(TrainingClass).values(
                agency_id=AGENCY, title=f"2018-{n}", institution_id=inst, year=2018, district="朝阳",
                day1=date(2018, 5, 1) + timedelta(days=n), day2=date(2018, 5, 2) + timedelta(days=n),
                day_start="09:00", day_end="17:00", manager_name="m", capacity=60, class_hours=16, pass_mark=60,
                status="completed", created_at=now).returning(TrainingClass.id)).scalar_one())
        keys = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(people)]
        batch = []
        for n, key in enumerate(keys):
            batch.append({"agency_id": AGENCY, "person_key": key, "year": 2018, "class_id": classes[n % 200],
                          "hours": 16, "credited_at": now})
            if n % 5 == 0:  # a fifth took a second class that year
                batch.append({"agency_id": AGENCY, "person_key": key, "year": 2018,
                              "class_id": classes[(n + 1) % 200], "hours": 8, "credited_at": now})
            if len(batch) >= 5000:
                conn.execute(insert(HoursEntry), batch)
                batch = []
        if batch:
            conn.execute(insert(HoursEntry), batch)
    return keys


def bench_hours(world, runner_config, people: int) -> dict:
    from nameko.standalone.rpc import ClusterRpcProxy
    from services.training.models import HoursEntry
    from shared.auth import CONTEXT_KEY, Principal
    from shared.db import make_engine
    engine = make_engine(world.db_uri)
    keys = seed_hours(engine, people)
    if world.kind == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE hours_ledger")
    t0 = time.perf_counter()
    with engine.connect() as conn:
        totals = conn.execute(select(HoursEntry.person_key, func.sum(HoursEntry.hours)).where(
            HoursEntry.agency_id == AGENCY, HoursEntry.year == 2018).group_by(HoursEntry.person_key)).all()
    aggregate_s = time.perf_counter() - t0
    engine.dispose()
    expected = people * 16 + ((people + 4) // 5) * 8
    context = {CONTEXT_KEY: Principal(role="operator", agency=AGENCY, name="bench").to_context()}
    sample = random.Random(3).sample(keys, 1000)
    latencies, wrong = [], 0
    with ClusterRpcProxy(runner_config, context_data=context, timeout=60) as cluster:
        for key in sample:
            t = time.perf_counter()
            out = cluster.training.person_hours(key)
            latencies.append((time.perf_counter() - t) * 1000)
            wrong += out["years"].get("2018") not in (16, 24)
    return {"people": len(totals), "sum_ok": sum(t for _, t in totals) == expected, "aggregate_s": aggregate_s,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "wrong": wrong}


def run_backend(kind: str, args, tmp: Path) -> dict:
    from nameko.runners import ServiceRunner
    from services.training.service import TrainingService
    with World(kind, tmp) as world:
        config = world.config()
        runner = ServiceRunner(config)
        runner.add_service(TrainingService)
        runner.start()
        try:
            grading = bench_grading(world, config, args.attempts, args.concurrency)
            hours = bench_hours(world, config, args.people)
        finally:
            runner.kill()
    return {"kind": kind, "grading": grading, "hours": hours}


def machine() -> str:
    cpu = "unknown"
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    for line in info.splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}; shared with other work"


def write_section(text: str):
    sections.write_section(START_MARK, END_MARK, f"{START_MARK}\n{text}\n{END_MARK}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10000)
    parser.add_argument("--people", type=int, default=110210)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    from shared.pii import PiiVault, configure_vault, generate_key
    configure_vault(PiiVault([generate_key()], "bench-index-key"))
    started = datetime.now(timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix="wsli-bench-training-"))
    results = []
    try:
        for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
            print(f"[{kind}] running…", flush=True)
            results.append(run_backend(kind, args, tmp))
            print(results[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = ["| backend | attempts graded/s | submit p50 ms | submit p99 ms | graded / events | errors "
            "| hours lookup p50 ms | p99 ms | year total for all people s | people / totals right |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for r in results:
        g, h = r["grading"], r["hours"]
        rows.append(f"| {r['kind']} | {g['per_second']:.1f} | {g['p50']:.1f} | {g['p99']:.1f} "
                    f"| {g['graded']} / {g['events']} | {g['errors']} | {h['p50']:.2f} | {h['p99']:.2f} "
                    f"| {h['aggregate_s']:.2f} | {h['people']} / {'yes' if h['sum_ok'] and not h['wrong'] else 'NO'} |")
    command = " ".join([".venv/bin/python", "-m", "tests.bench.training", *map(shlex.quote, sys.argv[1:])])
    text = "\n".join([
        "## Training: exam grading and yearly class hours",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** {machine()}",
        f"- **Command:** `{command}` (`make bench-training`)",
        f"- **Parameters:** {args.attempts} answer sheets to a {PAPER}-question paper (bank of {BANK}) submitted "
        f"over RPC by {args.concurrency} concurrent clients to one training process (shipped `max_workers`); each "
        "submission is graded, stored and writes `exam_scored` to the outbox in one transaction. Class hours: "
        f"a ledger of {args.people} people (the 2018 quota; a fifth with two classes), 1,000 `person_hours` "
        "lookups over RPC, and the whole year's per-person totals in one aggregate query.",
        "",
        *rows,
    ])
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
