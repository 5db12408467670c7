"""A burst of center approvals through the gateway while something breaks, and the ledger.

The client behaves as a well-mannered integrator: on 503 it waits ``Retry-After``
(capped) and asks again; a 422 ``status_transition`` on a retry means an earlier
attempt did commit and only its answer was lost. Afterwards every service
database is read to count what was stored, sent, processed, lost and doubled.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import eventlet
from sqlalchemy import text

from gateway.service import GatewayService  # noqa: F401  (registers the gateway component's imports)
from shared.catalogue import GATEWAY, SERVICES
from shared.db import make_engine
from tests.conftest import AGENCY, INDEX_KEY, PII_KEY
from tests.e2e.conftest import Api
from tests.support import candidate_form

from .nodes import ProcessStack, free_port, poll

CONSUMERS = ("scoring.on_candidate_approved", "subsidies.on_candidate_approved", "training.on_candidate_approved")


def start_stack(stack: ProcessStack, amqp_uri: str, db_uris: dict[str, str], **extra) -> tuple[Api, str]:
    port = free_port()
    bootstrap = "boot-" + uuid.uuid4().hex
    common = {"AMQP_URI": amqp_uri, "AGENCY_ID": AGENCY, "PII_KEYS": PII_KEY, "PII_INDEX_KEY": INDEX_KEY,
              "serializer": "json", "max_workers": 10, "OUTBOX_POLL_SECONDS": 0.2,
              "EVENT_RETRY_DELAYS_MS": "200,500,1000", "FILE_STORE": str(stack.base / "files"),
              "RPC_TIMEOUT_SECONDS": 3, "HEALTH_TIMEOUT_SECONDS": 1, "BROKER_RETRY_AFTER_SECONDS": 1,
              "HEARTBEAT": 10, **extra}
    for c in SERVICES:
        stack.start(c, dict(common, DB_URI=db_uris[c.name]))
    stack.start(GATEWAY, dict(common, DB_URI=db_uris["gateway"], BOOTSTRAP_TOKEN=bootstrap,
                              WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", RATE_LIMIT_ENABLED=False))
    admin = Api(f"http://127.0.0.1:{port}", bootstrap)

    def healthy():
        if not all(stack.alive().values()):
            dead = [n for n, ok in stack.alive().items() if not ok]
            raise AssertionError(f"{dead} died at start:\n" + "\n".join(stack.log_tail(n) for n in dead))
        try:
            return admin.get("/health")[1].get("status") == "ok"
        except Exception:  # not listening yet
            return False

    poll(healthy, 120, 0.5, "a healthy process stack")
    return admin, bootstrap


def prepare_candidates(admin: Api, count: int) -> list[int]:
    """``count`` candidates sealed by their unit, ready for the center's approval."""
    code = "F" + uuid.uuid4().hex[:8]
    status, body = admin.post("/api/v1/cycles", {"code": code, "title": f"cycle {code}", "deadline": "2026-12-31"})
    assert status == 201, body
    status, unit = admin.post("/api/v1/units", {"name": f"unit-{uuid.uuid4().hex[:8]}", "kind": "district_safety_office",
                                                "district": "东城", "contact_phone": "13900001111"})
    assert status == 201, unit
    unit_api = admin.as_(admin.token_for("unit", unit_id=unit["id"]))
    ids = []
    for _ in range(count):
        status, cand = unit_api.post("/api/v1/candidates", candidate_form(code))
        assert status == 201, cand
        status, sealed = unit_api.post(f"/api/v1/candidates/{cand['id']}/unit-approval", {"signed_by": "王主任"})
        assert status == 200, sealed
        ids.append(cand["id"])
    return ids


@dataclass
class Answer:
    candidate: int
    sent: float
    answered: float
    status: int
    body: object


@dataclass
class Burst:
    answers: list[Answer] = field(default_factory=list)

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.answers:
            out[a.status] = out.get(a.status, 0) + 1
        return out

    def within(self, start: float, end: float) -> list[Answer]:
        """Answers to requests sent and answered while the fault was in place."""
        return [a for a in self.answers if a.sent >= start and a.answered <= end]


def approve_all(admin: Api, waves: list[tuple[list[int], object]], spacing: float, deadline: float) -> Burst:
    """One green client per candidate, started ``spacing`` apart; each retries 503s until answered.

    ``waves``: (candidate ids, an ``eventlet.event.Event`` to wait for before starting them, or
    None), so a wave can be held until the fault is in place, whatever the machine's speed.
    """
    burst = Burst()

    def client(cid: int):
        api = Api(admin.base, admin.token)
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                status, body = api.post(f"/api/v1/candidates/{cid}/center-approval", {"signed_by": "中心"})
            except Exception as exc:  # the gateway itself must keep answering
                status, body = 0, repr(exc)
            burst.answers.append(Answer(cid, sent, time.monotonic(), status, body))
            if status != 503:
                return
            eventlet.sleep(0.5)

    pool = eventlet.GreenPool(sum(len(ids) for ids, _ in waves))
    for ids, ready in waves:
        if ready is not None:
            ready.wait()
        for cid in ids:
            pool.spawn_n(client, cid)
            eventlet.sleep(spacing)
    pool.waitall()
    return burst


def scalar(uri: str, sql: str, **params):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def rows(uri: str, sql: str, **params):
    engine = make_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def ledger(db_uris: dict[str, str], ids: list[int]) -> dict:
    """What the databases say after the burst."""
    reg = db_uris["registration"]
    id_list = ",".join(str(i) for i in ids)
    stored = scalar(reg, f"SELECT count(*) FROM candidates WHERE status = 'approved' AND id IN ({id_list})")
    emitted = rows(reg, "SELECT event_id, subject FROM outbox WHERE event_type = "
                        "'wsli.registration.candidate_approved.v1'")
    emitted = [(e, s) for e, s in emitted if int(s) in set(ids)]
    event_ids = {e for e, _ in emitted}
    pending = {c.name: scalar(db_uris[c.name], "SELECT count(*) FROM outbox WHERE published_at IS NULL")
               for c in SERVICES}
    processed, lost = {}, {}
    for handler in CONSUMERS:
        uri = db_uris[handler.split(".")[0]]
        seen = {r[0] for r in rows(uri, "SELECT event_id FROM inbox WHERE handler = :h", h=handler)}
        processed[handler] = len(seen & event_ids)
        lost[handler] = len(event_ids - seen)
    doubled = {
        "approved_events_per_candidate": sum(1 for n in _counts([s for _, s in emitted]).values() if n > 1),
        "training_trainees": len(rows(db_uris["training"],
                                      f"SELECT candidate_id FROM trainees WHERE candidate_id IN ({id_list}) "
                                      "GROUP BY candidate_id HAVING count(*) > 1")),
        "scoring_logged_events": len(rows(db_uris["scoring"],
                                          "SELECT event_id FROM score_events GROUP BY event_id HAVING count(*) > 1")),
    }
    return {"stored": stored, "emitted": len(event_ids), "pending": pending, "processed": processed,
            "lost": lost, "doubled": doubled}


def caught_up(db_uris, ids, stack: ProcessStack | None = None) -> dict | None:
    if stack is not None:
        dead = [n for n, ok in stack.alive().items() if not ok]
        assert not dead, f"{dead} died:\n" + "\n".join(stack.log_tail(n, 15) for n in dead)
    state = ledger(db_uris, ids)
    done = (state["emitted"] == len(ids) and not any(state["pending"].values())
            and all(n == len(ids) for n in state["processed"].values()))
    return state if done else None


def _counts(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
