"""Four honest replicas: separate `nameko run` processes on one vhost and one PostgreSQL database.

PostgreSQL only: SQLite is a single-writer embedded database, so several processes
sharing one file is not a deployment anyone runs (and its busy-waiting would measure
SQLite, not the service). The burst carries duplicate submissions and hand-made
redeliveries; the database must still show every report checked once, one subsidy
per approved lecture, and work done by every replica.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select, text

from services.subsidies import models
from shared.config import REPO_ROOT
from shared.db import make_engine
from shared.errors import RuleViolation
from tests.conftest import ADMIN, AGENCY, INDEX_KEY, PII_KEY, Databases, rpc, wait_for
from tests.integration.test_subsidies_flow import (
    JPEG, MP4, envelope, lecturer_ready, make_lecturer, recent_working_day, report, upload,
)

pytestmark = pytest.mark.integration

NAMEKO = str(Path(sys.executable).with_name("nameko"))
REPLICAS = 4
LECTURERS = 20
BASE = 7_100_000    # candidate ids far from any registration's (the vhost is shared)
REPORTS = 400          # of which every 10th repeats an earlier one and every 8th fails a check
CHECK_QUEUE = "evt-subsidies-report_submitted--subsidies.run_checks"


def start_replicas(n, env, log_dir):
    procs = []
    for i in range(n):
        log = open(log_dir / f"replica-{i}.log", "wb")
        procs.append(subprocess.Popen(
            [NAMEKO, "run", "--config", "services/subsidies/config.yml", "services.subsidies.service:SubsidiesService"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return procs


def stop_replicas(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def consumers(amqp_uri, queue):
    with Connection(amqp_uri) as conn:
        try:
            _, messages, consumer_count = conn.default_channel.queue_declare(queue, passive=True)
        except Exception:
            return 0, -1
        return consumer_count, messages


@pytest.fixture
def replicas(amqp_uri, tmp_path):
    dbs = Databases("postgresql", tmp_path)
    uri = dbs.migrated("subsidies")
    # four replicas on a PostgreSQL that the other suites share: 4 × (4 + 4) connections at most
    env = dict(os.environ, AMQP_URI=amqp_uri, AGENCY_ID=AGENCY, SUBSIDIES_DB_URI=uri, PII_KEYS=PII_KEY,
               SUBSIDIES_DB_POOL_SIZE="4",
               PII_INDEX_KEY=INDEX_KEY, FILE_STORE=str(tmp_path / "files"), OUTBOX_POLL_SECONDS="0.2",
               EVENT_RETRY_DELAYS_MS="200,500", LOG_LEVEL="WARNING", SUBSIDIES_MAX_WORKERS="10")
    procs = start_replicas(REPLICAS, env, tmp_path)
    try:
        wait_for(lambda: consumers(amqp_uri, CHECK_QUEUE)[0] == REPLICAS, timeout=60,
                 message=f"{REPLICAS} replicas consuming {CHECK_QUEUE}")
        config = {"AMQP_URI": amqp_uri, "serializer": "json"}
        yield {"procs": procs, "uri": uri, "config": config, "amqp": amqp_uri}
    finally:
        stop_replicas(procs)
        dbs.drop_all()


def scalar(uri, stmt):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(stmt).scalar()
    finally:
        engine.dispose()


def rows(uri, stmt):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(stmt).all()
    finally:
        engine.dispose()


def call_all(cluster_method, args_list, window=40):
    """RPCs in flight together (bounded), so the replicas see a burst; results in order."""
    results = []
    for start in range(0, len(args_list), window):
        pending = [cluster_method.call_async(*args) for args in args_list[start:start + window]]
        for reply in pending:
            try:
                results.append(reply.result())
            except Exception as exc:  # the expected refusals are asserted by the caller
                results.append(exc)
    return results


def test_four_replicas_share_the_checks_and_never_pay_twice(replicas):
    uri, cfg, amqp = replicas["uri"], replicas["config"], replicas["amqp"]
    cycle = "R" + uuid.uuid4().hex[:8]
    day = recent_working_day()
    ids = {cid: make_lecturer(amqp, cycle, cid) for cid in range(BASE + 1, BASE + LECTURERS + 1)}
    with rpc(cfg, ADMIN, timeout=30) as cluster:
        cluster.subsidies.set_cycle(cycle, {"tour_start": (day - timedelta(days=30)).isoformat(),
                                            "tour_end": (day + timedelta(days=30)).isoformat(),
                                            "lecture_subsidy_fen": 25050})
        wait_for(lambda: all(lecturer_ready(uri, cycle, cid) for cid in (BASE + 1, BASE + LECTURERS)), timeout=30,
                 message="the lecturers' events")
        wait_for(lambda: scalar(uri, select(func.count()).select_from(models.Lecturer)
                                .where(models.Lecturer.in_tour.is_(True))) == LECTURERS, timeout=30,
                 message="every lecturer in the tour")
        files = {"signin": upload(cluster, JPEG + b"s"), "video": upload(cluster, MP4),
                 "photos": [upload(cluster, JPEG + bytes([n])) for n in range(4)]}

        forms, expected_valid, expected_failed, duplicates = [], set(), set(), 0
        for n in range(REPORTS):
            if n % 10 == 9:   # the same report submitted again
                forms.append(forms[n - 1])
                duplicates += 1
                continue
            cid = BASE + n % LECTURERS + 1
            venue = f"单位{n:04d}"
            audience = 31 if n % 8 == 0 else 30
            forms.append(report(cycle, cid, ids[cid], files, day, venue=venue, audience_count=audience))
            (expected_failed if audience == 31 else expected_valid).add((cid, venue))
        results = call_all(cluster.subsidies.submit_lecture, [(f,) for f in forms])

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == duplicates
    assert all(isinstance(r, RuleViolation) and r.rule == "duplicate_lecture" for r in refused)
    stored = REPORTS - duplicates
    assert scalar(uri, select(func.count()).select_from(models.Lecture)) == stored

    # redeliveries by hand: 60 of the relayed envelopes again (same id), and 20 new envelopes
    # (new id) for report versions already queued
    outbox = models.platform.outbox
    wait_for(lambda: scalar(uri, select(func.count()).select_from(outbox).where(
        outbox.c.event_type == "wsli.subsidies.report_submitted.v1", outbox.c.published_at.is_(None))) == 0,
        timeout=60, message="the outbox relayed")
    bodies = [r[0] for r in rows(uri, select(outbox.c.body).where(
        outbox.c.event_type == "wsli.subsidies.report_submitted.v1").order_by(outbox.c.id).limit(80))]
    with Connection(amqp, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel)
        exchange = Exchange("subsidies.events", type="topic", durable=True)
        fresh = []  # the new envelopes' ids: each leaves an inbox row when handled
        for n, raw in enumerate(bodies):
            body = json.loads(raw)
            if n >= 60:
                body = envelope("subsidies", "report_submitted", body["data"], subject=body["subject"])
                fresh.append(body["id"])
            producer.publish(json.dumps(body).encode(), exchange=exchange, routing_key="report_submitted",
                             content_type="application/json", message_id=body["id"], delivery_mode=2)

    received = models.Lecture.status == "received"
    wait_for(lambda: scalar(uri, select(func.count()).select_from(models.Lecture).where(received)) == 0,
             timeout=120, interval=0.5, message="every report checked")
    wait_for(lambda: consumers(amqp, CHECK_QUEUE)[1] == 0, timeout=60, message="the check queue drained")
    inbox = models.platform.inbox
    wait_for(lambda: scalar(uri, select(func.count()).select_from(inbox).where(
        inbox.c.handler == "subsidies.run_checks", inbox.c.event_id.in_(fresh))) == len(fresh),
        timeout=60, message="every new envelope handled")

    by_status = dict(rows(uri, select(models.Lecture.status, func.count()).group_by(models.Lecture.status)))
    assert by_status == {"awaiting_review": len(expected_valid), "checks_failed": len(expected_failed)}
    failed_rules = rows(uri, select(models.Lecture.failed_rules).where(models.Lecture.status == "checks_failed"))
    assert all([f["rule"] for f in r[0]] == ["audience_mismatch"] for r in failed_rules)
    # checked once: one outcome event per report, even for the redelivered ones
    outcomes = rows(uri, select(outbox.c.subject, func.count()).where(
        outbox.c.event_type.in_(["wsli.subsidies.lecture_checks_passed.v1",
                                 "wsli.subsidies.lecture_checks_failed.v1"])).group_by(outbox.c.subject))
    assert len(outcomes) == stored and {c for _, c in outcomes} == {1}
    # every replica did some of the checks
    workers = {r[0] for r in rows(uri, select(models.Lecture.checked_by).distinct())}
    assert {int(w.rsplit(":", 1)[1]) for w in workers} == {p.pid for p in replicas["procs"]}
    assert not any(p.poll() is not None for p in replicas["procs"]), "a replica died"

    # approvals, each requested twice at once (two operators, or a retried click)
    valid_ids = [r[0] for r in rows(uri, select(models.Lecture.id).where(models.Lecture.status == "awaiting_review"))]
    with rpc(cfg, ADMIN, timeout=30) as cluster:
        approvals = call_all(cluster.subsidies.approve_lecture, [(i, {"signed_by": "审核"}) for i in valid_ids * 2])
        assert sum(1 for a in approvals if isinstance(a, dict)) == len(valid_ids)
        assert all(a.rule == "status_transition" for a in approvals if isinstance(a, Exception))
        # two batches asked for at the same moment split the pool, never share a subsidy
        batches = call_all(cluster.subsidies.create_batch, [({"cycle": cycle, "limit": 200},)] * 2)
    assert scalar(uri, select(func.count()).select_from(models.Subsidy)) == len(valid_ids)
    assert scalar(uri, select(func.count(func.distinct(models.Subsidy.lecture_id)))) == len(valid_ids)
    assert scalar(uri, select(func.sum(models.Subsidy.amount_fen))) == 25050 * len(valid_ids)
    items = models.PaymentItem
    assert scalar(uri, select(func.count()).select_from(items)) == len(valid_ids)
    assert scalar(uri, select(func.count(func.distinct(items.subsidy_id)))) == len(valid_ids)
    assert sum(b["item_count"] for b in batches if isinstance(b, dict)) == len(valid_ids)
    assert scalar(uri, text("SELECT count(*) FROM pg_indexes WHERE indexname = 'uq_payment_items_live_subsidy'")) == 1

    # quiescence, not a pause: a stopped replica has finished and acked what it took (an
    # unfinished delivery would be back in the queue), so no redelivery is still in flight
    assert not any(p.poll() is not None for p in replicas["procs"]), "a replica died"
    stop_replicas(replicas["procs"])
    assert all(p.returncode is not None for p in replicas["procs"])
    assert consumers(amqp, CHECK_QUEUE)[1] == 0, "a delivery was left unacknowledged"
    outcomes = rows(uri, select(outbox.c.subject, func.count()).where(
        outbox.c.event_type.in_(["wsli.subsidies.lecture_checks_passed.v1",
                                 "wsli.subsidies.lecture_checks_failed.v1"])).group_by(outbox.c.subject))
    assert len(outcomes) == stored and {c for _, c in outcomes} == {1}
