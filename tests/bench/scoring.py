"""Scoring: full re-rank of 110,210 sheets, and the cost of one event through the real service.

    python -m tests.bench.scoring [--sheets 110210] [--events 1000] [--databases sqlite,postgresql]

1. Full re-rank: the domain ranking function (``ranks.rank``: every stage score of
   every sheet computed in Decimal, then the sort with the tie-break) on N in-memory
   sheets shaped like the 2022 programme (110,210 = the 2018 district training quota,
   the largest cohort the seeds mention), for each stage of the 2022 scheme.
2. Incremental update per event: a ScoringService (nameko, in this process) on a fresh
   database of each backend and a private RabbitMQ vhost; M documented training
   events are published at once and the bench waits until every one is in the event
   log. Per event: envelope ``time`` (stamped when published) to the log row's
   ``received_at`` (stamped in the consuming transaction: validate, lock the sheet,
   append to the log, re-fold the candidate's sheet, check for late scores).

Results are printed and written to docs/benchmarks.md (this bench's section only).
``make bench-scoring`` runs it; ``make test`` does not.
"""
from __future__ import annotations

from tests.bench import sections

import shared  # noqa: F401  (warning filters before eventlet)
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import yaml  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = sections.DOC
START_MARK = "<!-- bench:scoring:start -->"
END_MARK = "<!-- bench:scoring:end -->"
AMQP_BASE = "pyamqp://guest:guest@127.0.0.1:5672"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AGENCY = "beijing"
EVENT_WAIT_S = 300
SINGLE = 100                               # events sent one at a time, each awaited
T0 = datetime(2022, 8, 1, tzinfo=timezone.utc)

def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def scheme_2022():
    from services.scoring import domain, schemas
    from shared.schemas import load
    raw = yaml.safe_load((REPO_ROOT / "services/scoring/data/scheme_2022.yml").read_text(encoding="utf-8"))
    return domain.scheme_from_data(load(schemas.SchemeIn, raw))


# ---- 1. the domain ranking function ---------------------------------------------------------

def make_sheets(n: int):
    from services.scoring import domain
    rng = random.Random(2022)
    sheets = []
    for cid in range(1, n + 1):
        parts = {}
        for part in domain.PARTS:
            if rng.random() < 0.98:  # a few missing parts: those are listed as unranked
                parts[part] = domain.PartScore(Decimal(rng.randint(3000, 10000)).scaleb(-2), f"e{cid}{part}", T0)
        lectures = {i: domain.Lecture(i, True, "self_hosted", "2022-10-20", f"l{cid}-{i}", T0)
                    for i in range(rng.randint(0, 5))}
        sheets.append(domain.Sheet(cid, f"候选人{cid}", T0 + timedelta(seconds=rng.randint(0, 10**6)), None,
                                   True, False, parts, lectures))
    return sheets


def bench_rank(n: int, repeat: int = 3) -> list[dict]:
    from services.scoring import ranking as ranks
    scheme = scheme_2022()
    sheets = make_sheets(n)
    rows = []
    for stage in scheme.stage_names:
        times, cpu = [], []
        for _ in range(repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            ranking = ranks.rank(scheme, stage, sheets)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        rows.append({"stage": stage, "sheets": n, "ranked": len(ranking.ranked), "unranked": len(ranking.unranked),
                     "best_s": min(times), "median_s": statistics.median(times), "cpu_s": min(cpu)})
        print(f"  rank {stage}: {len(ranking.ranked)} ranked, {len(ranking.unranked)} unranked, "
              f"best {min(times):.3f} s, median {statistics.median(times):.3f} s, cpu {min(cpu):.3f} s")
    return rows


# ---- 2. per event through the service --------------------------------------------------------

def rabbitmqctl(*args):
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        raise SystemExit("rabbitmqctl is not on PATH; the bench needs it for its private vhost")
    subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)


def pg_admin(sql):
    import psycopg2
    conn = psycopg2.connect(PG_ADMIN, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def envelopes(count: int, cycle: str):
    """Approvals first (one per 5 events), then training scores for those candidates."""
    from shared.events import rfc3339
    out = []
    parts = [("exam_scored", "basic_test"), ("exam_scored", "key_theory"), ("expert_scored", "key_expert"),
             ("expert_scored", "intensive_review")]
    rng = random.Random(7)
    for i in range(count):
        cid = i // 5 + 1
        if i % 5 == 0:
            source, name = "registration", "candidate_approved"
            data = {"candidate_id": cid, "cycle": cycle, "unit_id": 1, "status": "approved", "signed_by": "中心",
                    "opinion": None, "sealed_at": "2022-08-12T02:00:00.000000Z",
                    "unit_kind": "district_safety_office", "district": "朝阳", "name": f"候选人{cid}",
                    "gender": "male", "id_number_masked": "110105********0011", "person_key": f"{cid:064d}",
                    "registered_at": "2022-08-02T02:00:00.000000Z"}
        else:
            name, part = parts[i % 5 - 1]
            source = "training"
            data = {"cycle": cycle, "candidate_id": cid, "score": f"{rng.randint(3000, 10000) / 100:.2f}",
                    "scored_at": "2022-09-14T02:00:00Z"}
            if name == "exam_scored":
                data.update(stage="basic" if part == "basic_test" else "key", exam=part, attempt_id=i,
                            source="online")
            else:
                data.update(stage="key" if part == "key_expert" else "intensive", part=part, panel_size=3)
        out.append((source, name, {"specversion": "1.0", "id": str(uuid.uuid4()), "type": f"wsli.{source}.{name}.v1",
                                   "source": f"/agencies/{AGENCY}/{source}", "subject": str(cid), "time": None,
                                   "datacontenttype": "application/json", "agency": AGENCY, "data": data}))
    return out


def bench_events(kind: str, count: int, workdir: Path) -> dict:
    from kombu import Connection, Exchange, Producer
    from nameko.runners import ServiceRunner
    from sqlalchemy import func, select

    from services.scoring.models import LoggedEvent
    from services.scoring.service import ScoringService
    from shared.db import make_engine
    from shared.events import rfc3339
    from shared.migrate import upgrade
    from shared.catalogue import component
    from shared.pii import PiiVault, configure_vault, generate_key

    vhost = f"wsli-bench-scoring-{uuid.uuid4().hex[:8]}"
    db_name = f"wsli_bench_scoring_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    amqp = f"{AMQP_BASE}/{quote(vhost, safe='')}"
    if kind == "sqlite":
        uri = f"sqlite:///{workdir}/scoring-{uuid.uuid4().hex[:6]}.db"
    else:
        pg_admin(f'CREATE DATABASE "{db_name}"')
        uri = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    runner = None
    try:
        upgrade(component("scoring"), uri)
        key = generate_key()
        configure_vault(PiiVault([key], "bench-index"))
        config = {"AMQP_URI": amqp, "AGENCY_ID": AGENCY, "DB_URI": uri, "PII_KEYS": key, "PII_INDEX_KEY": "bench",
                  "serializer": "json", "max_workers": 10, "OUTBOX_POLL_SECONDS": 1.0,
                  "EVENT_RETRY_DELAYS_MS": "1000,10000"}
        runner = ServiceRunner(config)
        runner.add_service(ScoringService)
        runner.start()
        engine = make_engine(uri)
        db = engine.connect()

        def logged() -> int:
            db.rollback()
            return db.execute(select(func.count()).select_from(LoggedEvent)).scalar()

        def wait_until(total: int) -> None:
            deadline = time.monotonic() + EVENT_WAIT_S
            while logged() < total:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{kind}: not every event was logged within {EVENT_WAIT_S} s")
                eventlet.sleep(0.002)

        with Connection(amqp, transport_options={"confirm_publish": True}) as conn:
            producer = Producer(conn.default_channel)

            def send(source, name, env):
                env["time"] = rfc3339(datetime.now(timezone.utc))
                producer.publish(json.dumps(env).encode(), exchange=Exchange(f"{source}.events", type="topic",
                                                                             durable=True),
                                 routing_key=name, content_type="application/json", message_id=env["id"])

            # one at a time: the cost of one update with nothing queued
            single = envelopes(SINGLE, "2021")
            for i, (source, name, env) in enumerate(single):
                send(source, name, env)
                wait_until(i + 1)
            # a burst: throughput, and latency including the wait in the queue
            events = envelopes(count, "2022")
            started = time.perf_counter()
            for source, name, env in events:
                send(source, name, env)
            wait_until(SINGLE + count)
            elapsed = time.perf_counter() - started
        rows = db.execute(select(LoggedEvent.event_id, LoggedEvent.received_at)).all()
        db.close()
        engine.dispose()
        sent = {env["id"]: datetime.fromisoformat(env["time"].replace("Z", "+00:00"))
                for _, _, env in single + events}
        latency = {r.event_id: (r.received_at - sent[r.event_id]).total_seconds() * 1000 for r in rows}
        one = [latency[env["id"]] for _, _, env in single]
        burst = [latency[env["id"]] for _, _, env in events]
        result = {"backend": kind, "events": count, "elapsed_s": elapsed, "per_s": count / elapsed,
                  "single": SINGLE, "one_p50": percentile(one, 50), "one_p99": percentile(one, 99),
                  "p50": percentile(burst, 50), "p99": percentile(burst, 99)}
        print(f"  {kind}: one at a time p50 {result['one_p50']:.1f} ms, p99 {result['one_p99']:.1f} ms; burst of "
              f"{count} in {elapsed:.2f} s ({result['per_s']:.0f}/s), latency p50 {result['p50']:.1f} ms, "
              f"p99 {result['p99']:.1f} ms")
        return result
    finally:
        if runner is not None:
            try:
                runner.kill()
            except Exception:  # already dead
                pass
        if kind == "postgresql":
            try:
                pg_admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            except Exception as exc:  # report, keep cleaning
                print(f"  cleanup: dropping {db_name} failed: {exc}", file=sys.stderr)
        subprocess.run([shutil.which("rabbitmqctl") or "rabbitmqctl", "-q", "delete_vhost", vhost],
                       capture_output=True, check=False)


# ---- the report ------------------------------------------------------------------------------

def machine() -> str:
    cpus = os.cpu_count()
    try:
        mem = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1]) / 2**20
        memory = f"{mem:.1f} GiB RAM"
    except (OSError, StopIteration):
        memory = "? RAM"
    import nameko
    return f"{cpus} CPUs, {memory}; Python {platform.python_version()}, nameko {nameko.__version__ if hasattr(nameko, '__version__') else '2.14'}"


def section(args, ranks, events, started) -> str:
    lines = [
        START_MARK,
        "## Scoring: full re-rank and per-event update",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** {machine()}; 1-minute load average {args.load:.1f} at the start (other work shares "
        "these CPUs: wall times are upper bounds; CPU time is this process's own)",
        f"- **Command:** `.venv/bin/python -m tests.bench.scoring --sheets {args.sheets} --events {args.events} "
        f"--databases {','.join(args.databases)}` (`make bench-scoring` runs it with the defaults)",
        f"- **Full re-rank:** `ranks.rank` on {args.sheets} in-memory sheets (2022 scheme; ~2% of parts missing, "
        "0–5 lectures each): every stage score in exact integer hundredths (the same half-up result as the Decimal explanation, proven by a unit test), then the sort with the tie-break; best and median of 3.",
        "",
        "| stage | sheets | ranked | unranked | best s | median s | CPU s (best) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ranks:
        lines.append(f"| {r['stage']} | {r['sheets']} | {r['ranked']} | {r['unranked']} | {r['best_s']:.3f} | "
                     f"{r['median_s']:.3f} | {r['cpu_s']:.3f} |")
    lines += [
        "",
        f"- **Per event:** a ScoringService (nameko, in the bench process, `max_workers` 10) on a fresh database "
        "and a private vhost, fed documented events (1 `candidate_approved` + 4 training scores per candidate). "
        "Latency = envelope `time` (stamped at publish) to the event-log row's `received_at` (inside the consuming "
        "transaction: validate, lock the sheet, log, re-fold the candidate's sheet, late-score check). First "
        f"{SINGLE} events one at a time (each awaited: the cost of one update), then a burst of {args.events} "
        "published at once (throughput; its latency includes the wait in the queue).",
        "",
        "| backend | one at a time p50 ms | p99 ms | burst events | events/s | burst p50 ms | burst p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for e in events:
        lines.append(f"| {e['backend']} | {e['one_p50']:.1f} | {e['one_p99']:.1f} | {e['events']} | "
                     f"{e['per_s']:.0f} | {e['p50']:.1f} | {e['p99']:.1f} |")
    lines.append(END_MARK)
    return "\n".join(lines)


def write_doc(text: str) -> None:
    sections.write_section(START_MARK, END_MARK, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sheets", type=int, default=110_210)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    started = datetime.now(timezone.utc)
    args.load = os.getloadavg()[0]
    print(f"full re-rank of {args.sheets} sheets")
    ranks = bench_rank(args.sheets)
    results = []
    with tempfile.TemporaryDirectory(prefix="wsli-bench-scoring-") as workdir:
        for kind in args.databases:
            print(f"{args.events} events through the service on {kind}")
            results.append(bench_events(kind, args.events, Path(workdir)))
    text = section(args, ranks, results, started)
    print(text)
    if not args.no_write:
        write_doc(text)
        print(f"written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
