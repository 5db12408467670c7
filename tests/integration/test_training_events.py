"""Training consumes registration's and scoring's events over the real broker, idempotently,
and publishes its own (exam_scored, expert_scored) from the outbox."""
from __future__ import annotations

import json
import uuid

import pytest
from kombu import Connection, Exchange, Producer, Queue
from nameko.testing.services import entrypoint_waiter

from services.registration.service import RegistrationService
from services.training.service import TrainingService
from shared.catalogue import component
from shared.events import build_envelope, specs_for
from shared.workdays import utcnow
from tests.conftest import ADMIN, AGENCY, rpc, wait_for
from tests.support import candidate_form, credit_code, resident_id

pytestmark = pytest.mark.integration

component("registration").schemas()
component("scoring").schemas()
component("training").schemas()


HANDLERS = [("registration", "candidate_approved"), ("registration", "candidate_withdrawn"),
            ("registration", "trainee_enrolled"), ("registration", "enrolment_cancelled"),
            ("scoring", "candidate_advanced"), ("scoring", "candidate_not_advanced")]


def drop_training_queues(amqp_uri, delays):
    """The session's vhost is shared: other tests' events (for candidate 1, 2, … of *their*
    fresh databases) wait in training's durable queues and would land on this test's ids."""
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for source, event in HANDLERS:
            queue = f"evt-{source}-{event}--training.on_{event}"
            for name in [queue] + [f"{queue}.retry.{d}ms" for d in delays]:
                channel.queue_delete(name)


@pytest.fixture
def containers(databases, base_config, runners, amqp_uri):
    """The two services' configs and their in-process containers (to wait on an entrypoint)."""
    reg = base_config(databases.migrated("registration"))
    tr = base_config(databases.migrated("training"))
    drop_training_queues(amqp_uri, tr["EVENT_RETRY_DELAYS_MS"].split(","))
    reg_runner = runners(reg, RegistrationService)
    tr_runner = runners(tr, TrainingService)
    return reg, tr, next(iter(reg_runner.containers)), next(iter(tr_runner.containers))


@pytest.fixture
def stack(containers):
    return containers[:2]


def publish(amqp_uri, service, name, data, envelope=None):
    envelope = envelope or build_envelope(specs_for(service, name)[0], AGENCY, str(data.get("candidate_id", "")),
                                          data, utcnow())
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        Producer(conn.default_channel).publish(
            json.dumps(envelope).encode(), exchange=Exchange(f"{service}.events", type="topic", durable=True),
            routing_key=name, content_type="application/json", content_encoding="utf-8",
            message_id=envelope["id"], delivery_mode=2)
    return envelope


def approved_candidate(reg_config, cycle, new_cycle=True):
    with rpc(reg_config, ADMIN) as c:
        if new_cycle:
            c.registration.create_cycle({"code": cycle, "title": "t", "deadline": "2099-12-31"})
        unit = c.registration.create_unit({"name": f"东城区应急管理局{uuid.uuid4().hex[:4]}",
                                           "kind": "district_safety_office", "district": "东城区"})
        cand = c.registration.register_candidate(candidate_form(cycle, unit_id=unit["id"]))
        c.registration.unit_approve(cand["id"], {"signed_by": "王五"})
        c.registration.center_approve(cand["id"], {"signed_by": "中心"})
        return cand


def trainee(tr_config, candidate_id):
    with rpc(tr_config, ADMIN) as c:
        try:
            return c.training.get_trainee(candidate_id)
        except Exception:  # not there yet
            return None


def test_approval_makes_a_basic_trainee_and_scoring_advances_them_once(containers, amqp_uri):
    reg, tr, _, training = containers
    cycle = "E" + uuid.uuid4().hex[:6]
    cand = approved_candidate(reg, cycle)
    got = wait_for(lambda: trainee(tr, cand["id"]), message="the trainee from candidate_approved")
    assert (got["stage"], got["status"], got["district"], got["unit_kind"]) == \
        ("basic", "active", "东城区", "district_safety_office")
    assert got["id_number"] == cand["id_number"]  # masked, as registration sent it

    advanced = {"cycle": cycle, "candidate_id": cand["id"], "from_stage": "basic", "to_stage": "key",
                "rank": 3, "score": "91.50"}
    envelope = publish(amqp_uri, "scoring", "candidate_advanced", advanced)
    wait_for(lambda: trainee(tr, cand["id"])["stage"] == "key", message="advanced to key")
    # scoring says "not advanced" from key; then the *same* advance envelope is redelivered:
    publish(amqp_uri, "scoring", "candidate_not_advanced",
            {"cycle": cycle, "candidate_id": cand["id"], "stage": "key", "rank": 99, "score": "50.00",
             "reason": "below the cut-off of 80"})
    wait_for(lambda: trainee(tr, cand["id"])["status"] == "not_advanced", message="not advanced")
    # the same envelope again: wait until its worker has finished (not a pause); processed,
    # it would have made the first trainee active again
    other = approved_candidate(reg, cycle, new_cycle=False)
    wait_for(lambda: trainee(tr, other["id"]), message="the second trainee")
    with entrypoint_waiter(training, "on_candidate_advanced", timeout=10,
                           callback=lambda worker_ctx, result, exc_info: worker_ctx.args[0].id == envelope["id"]):
        publish(amqp_uri, "scoring", "candidate_advanced", advanced, envelope=envelope)
    publish(amqp_uri, "scoring", "candidate_advanced", dict(advanced, candidate_id=other["id"]))
    wait_for(lambda: trainee(tr, other["id"])["stage"] == "key", message="a fresh event still handled")
    assert trainee(tr, cand["id"])["status"] == "not_advanced"


def test_withdrawal_frees_the_group_seat(stack, amqp_uri):
    reg, tr = stack
    cycle = "W" + uuid.uuid4().hex[:6]
    cand = approved_candidate(reg, cycle)
    wait_for(lambda: trainee(tr, cand["id"]), message="trainee")
    publish(amqp_uri, "scoring", "candidate_advanced", {"cycle": cycle, "candidate_id": cand["id"],
                                                        "from_stage": "basic", "to_stage": "key", "rank": 1,
                                                        "score": "99.00"})
    wait_for(lambda: trainee(tr, cand["id"])["stage"] == "key", message="key")
    with rpc(tr, ADMIN) as c:
        result = c.training.assign_groups(cycle, "key")
        assert result["assigned"] == 1
        assert trainee(tr, cand["id"])["groups"]["key"] > 0
    with rpc(reg, ADMIN) as c:
        c.registration.withdraw_candidate(cand["id"], {"reason": "工作调动"})
    wait_for(lambda: trainee(tr, cand["id"])["status"] == "withdrawn", message="withdrawn")
    assert trainee(tr, cand["id"])["groups"] == {}


def test_enrolment_events_feed_the_class_pool(stack, amqp_uri):
    reg, tr = stack
    id_number = resident_id()
    with rpc(reg, ADMIN) as c:
        c.registration.load_district_quotas({"year": 2018})
        enrolment = c.registration.enrol({"year": 2018, "role": "principal", "organised_by": "东城区应急管理局",
                                          "unit": {"name": "某公司", "credit_code": credit_code(), "staff_count": 20,
                                                   "operating_district": "东城"},
                                          "person": {"name": "李四", "id_number": id_number}})
    with rpc(tr, ADMIN) as c:
        inst = c.training.register_institution({"name": "培训机构" + uuid.uuid4().hex[:4], "full_time_managers": 3,
                                                "management_system": True, "teacher_min_years": 5,
                                                "evaluation_mechanism": True, "seats": 60})
        manager = c.training.register_class_manager({"institution_id": inst["id"], "name": "赵班主任",
                                                     "id_number": resident_id(birth="19800101")})
        klass = c.training.create_class({"title": "2018年第1期", "institution_id": inst["id"], "district": "东城",
                                         "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"],
                                         "capacity": 2})

    def seat():
        with rpc(tr, ADMIN) as c:
            try:
                return c.training.add_seat(klass["id"], {"enrolment_id": enrolment["id"]})
            except Exception as exc:  # the event may still be on its way
                return None if "unknown enrolment" in str(exc) else pytest.fail(str(exc))
    got = wait_for(seat, message="the enrolment from trainee_enrolled")
    assert got["person_name"] == "李四" and got["status"] == "enrolled"
    with rpc(reg, ADMIN) as c:
        c.registration.cancel_enrolment(enrolment["id"], {"reason": "离职"})

    def cancelled():
        with rpc(tr, ADMIN) as c:
            return c.training.get_class(klass["id"])["seats"][0]["status"] == "cancelled"
    wait_for(cancelled, message="the seat freed by enrolment_cancelled")


def test_expert_scores_are_published_with_the_panel_mean(stack, amqp_uri):
    reg, tr = stack
    cycle = "X" + uuid.uuid4().hex[:6]
    cand = approved_candidate(reg, cycle)
    wait_for(lambda: trainee(tr, cand["id"]), message="trainee")
    publish(amqp_uri, "scoring", "candidate_advanced", {"cycle": cycle, "candidate_id": cand["id"],
                                                        "from_stage": "basic", "to_stage": "key", "rank": 1,
                                                        "score": "99.00"})
    wait_for(lambda: trainee(tr, cand["id"])["stage"] == "key", message="key")
    queue = Queue(f"test-training-{uuid.uuid4().hex[:6]}",
                  exchange=Exchange("training.events", type="topic", durable=True), routing_key="expert_scored",
                  auto_delete=True)
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
        from shared.auth import Principal
        with rpc(tr, ADMIN) as c:
            group_id = c.training.assign_groups(cycle, "key")["groups"][0]["id"]
            group_id = trainee(tr, cand["id"])["groups"]["key"]
            c.training.add_group_expert(group_id, {"expert": "expert-1"})
            c.training.add_group_expert(group_id, {"expert": "expert-2"})
        for person, score in (("expert-1", "80.25"), ("expert-2", "80.30"), ("expert-1", "90.00")):
            with rpc(tr, Principal(role="expert", agency=AGENCY, person=person, name=person)) as c:
                c.training.score_by_expert({"candidate_id": cand["id"], "part": "key_expert", "score": score})
        bodies = []

        def drain():
            message = queue(conn.default_channel).get(no_ack=True)
            if message is not None:
                bodies.append(json.loads(message.body))
            return len(bodies) == 3
        wait_for(drain, message="three expert_scored events")
    data = [b["data"] for b in bodies]
    # 80.25 alone; (80.25 + 80.30)/2 = 80.275 -> 80.28; expert-1 replaced: (90 + 80.30)/2 = 85.15
    assert [(d["score"], d["panel_size"]) for d in data] == [("80.25", 1), ("80.28", 2), ("85.15", 2)]
    # the exact sums go along: scoring takes total / size as the exact mean (80.275, not 80.28)
    assert [d["panel_total"] for d in data] == ["80.25", "160.55", "170.30"]
    assert {(d["cycle"], d["candidate_id"], d["stage"], d["part"]) for d in data} == \
        {(cycle, cand["id"], "key", "key_expert")}
    assert all(b["type"] == "wsli.training.expert_scored.v1" for b in bodies)
