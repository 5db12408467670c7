"""A RabbitMQ restart in the middle of a burst of approvals (our own node, not the shared broker).

Every component runs as its own ``nameko run`` process. Afterwards: every process
is the one we started (none died), every outbox row is sent, every consumer has
processed every approval once, and while the broker was down the gateway said 503.
"""
from __future__ import annotations

import time

import eventlet
import pytest

from shared.catalogue import SERVICE_NAMES
from eventlet.event import Event

from tests.conftest import DATABASES, Databases

from .burst import approve_all, caught_up, ledger, prepare_candidates, start_stack
from .nodes import ProcessStack, RabbitNode, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

CANDIDATES = 40
OUTAGE_SECONDS = 8.0


@pytest.fixture
def node(tmp_path):
    rabbit = RabbitNode(tmp_path / "rabbit")
    rabbit.start()
    yield rabbit
    rabbit.destroy()


@pytest.fixture
def kind():
    # one backend bounds the time; PostgreSQL is the production store
    return "postgresql" if "postgresql" in DATABASES else "sqlite"


def test_a_broker_restart_mid_burst_loses_nothing_and_kills_nothing(node, kind, tmp_path):
    dbs = Databases(kind, tmp_path)
    stack = ProcessStack(tmp_path / "stack")
    try:
        db_uris = {name: dbs.migrated(name) for name in (*SERVICE_NAMES, "gateway")}
        admin, _ = start_stack(stack, node.amqp_uri, db_uris)
        ids = prepare_candidates(admin, CANDIDATES)
        pids = {name: proc.pid for name, proc in stack.procs.items()}

        marks = {}
        down, up = Event(), Event()

        def fault():
            try:
                eventlet.sleep(0.6)  # the first wave is in flight: requests mid-handler, events mid-delivery
                node.stop()
                marks["down"] = time.monotonic()
                down.send()
                t0 = time.monotonic()
                status, health = admin.get("/health")
                marks["health_seconds"] = time.monotonic() - t0
                marks["health"] = (status, health)
                eventlet.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - marks["down"])))
                marks["restarting"] = time.monotonic()
                node.start()
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
        alive = stack.alive()

        during = burst.within(marks["down"], marks["restarting"])
        statuses = burst.statuses()
        first_ok_after = min((a.answered for a in burst.answers if a.status == 200 and a.sent >= marks["up"]),
                             default=None)
        acknowledged = sum(1 for a in burst.answers if a.status == 200)
        late = sum(1 for a in burst.answers if a.status == 422)
        figures = {
            "backend": kind, "sent": len(ids), "requests": len(burst.answers), "statuses": statuses,
            "acknowledged": acknowledged, "acknowledged_late_422": late, "stored": state["stored"],
            "events": state["emitted"], "processed": state["processed"], "lost": state["lost"],
            "doubled": state["doubled"], "answers_during_outage": len(during),
            "health_during_outage_s": round(marks["health_seconds"], 2),
            "broker_down_s": round(marks["up"] - marks["down"], 1),
            "first_200_after_restart_s": None if first_ok_after is None else round(first_ok_after - marks["up"], 2),
            "caught_up_after_restart_s": round(recovered - marks["up"], 2),
        }
        print("\nbroker restart figures:", figures)

        assert alive == {name: True for name in pids}, {n: stack.log_tail(n) for n, ok in alive.items() if not ok}
        assert {name: proc.pid for name, proc in stack.procs.items()} == pids
        assert during, "some requests were answered while the broker was down"
        assert {a.status for a in during} == {503}, [(a.status, a.body) for a in during if a.status != 503]
        assert set(statuses) <= {200, 422, 503}, statuses
        assert all(a.body.get("rule") == "status_transition" for a in burst.answers if a.status == 422)
        assert acknowledged + late >= len(ids) and {a.candidate for a in burst.answers if a.status in (200, 422)} \
            == set(ids), "every client got its approval through"
        assert state["stored"] == len(ids) and state["emitted"] == len(ids)
        assert all(v == 0 for v in state["lost"].values()) and all(v == 0 for v in state["doubled"].values())
        status, health = marks["health"]
        assert status == 200 and health["status"] == "degraded" and marks["health_seconds"] < 4
        assert poll(lambda: admin.get("/health")[1].get("status") == "ok", 30, 0.5, "health after the restart")
        assert ledger(db_uris, ids)["stored"] == len(ids)
    finally:
        stack.stop()
        dbs.drop_all()
