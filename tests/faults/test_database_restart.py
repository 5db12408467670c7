"""PostgreSQL going away in the middle of a burst of approvals (our own cluster, not the shared one).

Every component keeps its database in a PostgreSQL cluster started by the test,
which is stopped (sessions cut) and started again while approvals and their
events are in flight. Afterwards: every process is still the one we started,
every outbox row is sent, every consumer caught up once, and the gateway said
503 (never 500) while the database was away.
"""
from __future__ import annotations

import time
import uuid

import eventlet
import pytest
from eventlet.event import Event

from shared.catalogue import SERVICE_NAMES, component
from shared.migrate import upgrade

from .burst import approve_all, caught_up, prepare_candidates, start_stack
from .nodes import PostgresCluster, ProcessStack, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

CANDIDATES = 30
OUTAGE_SECONDS = 6.0


@pytest.fixture
def cluster(tmp_path):
    pg = PostgresCluster()
    pg.init()
    pg.start()
    yield pg
    pg.destroy()


def test_a_database_restart_mid_burst_loses_nothing_and_kills_nothing(cluster, amqp_uri, tmp_path):
    stack = ProcessStack(tmp_path / "stack")
    try:
        db_uris = {}
        for name in (*SERVICE_NAMES, "gateway"):
            db_uris[name] = cluster.create_database(f"wsli_{name}_{uuid.uuid4().hex[:6]}")
            upgrade(component(name), db_uris[name])
        admin, _ = start_stack(stack, amqp_uri, db_uris)
        ids = prepare_candidates(admin, CANDIDATES)
        pids = {name: proc.pid for name, proc in stack.procs.items()}
        marks = {}
        down, up = Event(), Event()

        def fault():
            try:
                eventlet.sleep(0.6)
                cluster.stop()
                marks["down"] = time.monotonic()
                down.send()
                t0 = time.monotonic()
                marks["health"] = admin.get("/health")
                marks["health_seconds"] = time.monotonic() - t0
                eventlet.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - marks["down"])))
                marks["restarting"] = time.monotonic()
                cluster.start()
                marks["up"] = time.monotonic()
                up.send()
            finally:  # never leave a wave waiting for a fault that failed
                for event in (down, up):
                    if not event.ready():
                        event.send()

        breaker = eventlet.spawn(fault)
        third = len(ids) // 3
        # the first wave is in flight when the fault hits, the second is sent during it, the third after
        burst = approve_all(admin, [(ids[:third], None), (ids[third:2 * third], down), (ids[2 * third:], up)],
                            spacing=0.05, deadline=time.monotonic() + 90)
        breaker.wait()

        state = poll(lambda: caught_up(db_uris, ids, stack), 120, 0.5, "every consumer to catch up")
        recovered = time.monotonic()
        during = burst.within(marks["down"], marks["restarting"])
        statuses = burst.statuses()
        acknowledged = sum(1 for a in burst.answers if a.status == 200)
        late = sum(1 for a in burst.answers if a.status == 422)
        first_ok_after = min((a.answered for a in burst.answers if a.status == 200 and a.sent >= marks["up"]),
                             default=None)
        figures = {
            "sent": len(ids), "requests": len(burst.answers), "statuses": statuses, "acknowledged": acknowledged,
            "acknowledged_late_422": late, "stored": state["stored"], "events": state["emitted"],
            "processed": state["processed"], "lost": state["lost"], "doubled": state["doubled"],
            "answers_during_outage": len(during), "health_during_outage_s": round(marks["health_seconds"], 2),
            "database_down_s": round(marks["up"] - marks["down"], 1),
            "first_200_after_restart_s": None if first_ok_after is None else round(first_ok_after - marks["up"], 2),
            "caught_up_after_restart_s": round(recovered - marks["up"], 2),
        }
        print("\ndatabase restart figures:", figures)

        assert stack.alive() == {name: True for name in pids}
        assert {name: proc.pid for name, proc in stack.procs.items()} == pids
        assert during, "some requests were answered while the database was down"
        assert {a.status for a in during} == {503}, [(a.status, a.body) for a in during if a.status != 503]
        assert set(statuses) <= {200, 422, 503}, statuses
        assert all(a.body.get("rule") == "status_transition" for a in burst.answers if a.status == 422)
        assert {a.candidate for a in burst.answers if a.status in (200, 422)} == set(ids)
        assert state["stored"] == len(ids) and state["emitted"] == len(ids)
        assert all(v == 0 for v in state["lost"].values()) and all(v == 0 for v in state["doubled"].values())
        status, health = marks["health"]
        assert status == 200 and health["status"] == "degraded" and marks["health_seconds"] < 4, health
        assert poll(lambda: admin.get("/health")[1].get("status") == "ok", 30, 0.5, "health after the restart")
    finally:
        stack.stop()
