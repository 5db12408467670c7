"""The event contract: registry, CloudEvents 1.0 envelopes, and the committed AsyncAPI document."""
import datetime
import json
import re
import uuid
import zoneinfo

import pytest
import yaml
from marshmallow import Schema, fields

import services.registration.schemas  # noqa: F401  (registers the registration events)
from shared import asyncapi
from shared.config import REPO_ROOT
from shared.events import REGISTRY, Event, InvalidEnvelope, build_envelope, event_type, parse_envelope, specs_for

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
SEALED = datetime.datetime(2022, 8, 12, 10, 30, tzinfo=SHANGHAI)
MASKED_ID = "110105********0011"
PERSON_KEY = "a" * 64
REF = {"candidate_id": 7, "cycle": "2022", "unit_id": 3}

# One valid body per registration event: what the service publishes.
SAMPLES = {
    "cycle_created": {"cycle": "2022", "title": "2022年北京安责险金牌宣讲员培养计划",
                      "deadline": datetime.date(2022, 8, 10),
                      "minimums": {"district_safety_office": 6, "insurer_branch": 6}},
    "cycle_updated": {"cycle": "2022", "title": "2022年北京安责险金牌宣讲员培养计划",
                      "deadline": datetime.date(2022, 8, 20), "minimums": {"district_safety_office": 6},
                      "changed": ["deadline"]},
    "unit_created": {"unit_id": 3, "name": "朝阳区专职安全员", "kind": "district_safety_office", "district": "朝阳"},
    "candidate_registered": {**REF, "status": "submitted", "unit_kind": "district_safety_office", "district": "朝阳",
                             "name": "李明", "id_number_masked": MASKED_ID, "person_key": PERSON_KEY},
    "candidate_edited": {**REF, "status": "submitted", "changed": ["phone", "deeds"]},
    "candidate_unit_approved": {**REF, "status": "unit_approved", "signed_by": "张主任", "opinion": "同意推荐",
                                "sealed_at": SEALED},
    "candidate_approved": {**REF, "status": "approved", "signed_by": "中心", "opinion": None, "sealed_at": SEALED,
                           "unit_kind": "district_safety_office", "district": "朝阳", "name": "李明",
                           "gender": "male", "id_number_masked": MASKED_ID, "person_key": PERSON_KEY,
                           "registered_at": SEALED - datetime.timedelta(days=5)},
    "candidate_rejected": {**REF, "status": "rejected", "stage": "unit", "reason": "材料不全", "signed_by": "张主任"},
    "candidate_withdrawn": {**REF, "status": "withdrawn", "previous_status": "approved", "reason": "工作调动"},
    "district_quotas_loaded": {"year": 2018, "districts": {"东城": 6868, "西城": 10376}, "total": 6868 + 10376},
    "trainee_enrolled": {"enrolment_id": 11, "year": 2018, "district": "朝阳", "role": "principal",
                         "unit_name": "某制造企业", "unit_credit_code": "91110000600037341L", "person_name": "王强",
                         "id_number_masked": MASKED_ID, "person_key": PERSON_KEY},
    "enrolment_cancelled": {"enrolment_id": 11, "year": 2018, "district": "朝阳", "role": "principal",
                            "person_key": PERSON_KEY, "reason": "重复报名"},
}
REGISTRATION_EVENTS = tuple(SAMPLES)

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def spec_of(name, version=1):
    return REGISTRY[f"wsli.registration.{name}.v{version}"]


def envelope(name="unit_created", **overrides):
    env = build_envelope(spec_of(name), "beijing", "3", SAMPLES[name], SEALED)
    env.update(overrides)
    return env


# ---- registry ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", REGISTRATION_EVENTS)
def test_registration_events_are_registered(name):
    spec = spec_of(name)
    assert spec.type == f"wsli.registration.{name}.v1"
    assert (spec.service, spec.name, spec.version, spec.retired) == ("registration", name, 1, False)
    assert spec.exchange == "registration.events"
    assert spec.routing_key == name
    assert spec.description
    assert specs_for("registration", name)[0] == spec


def test_cycle_created_v2_is_emitted_beside_v1_from_the_same_data():
    v1, v2 = specs_for("registration", "cycle_created")
    assert (v1.version, v2.version) == (1, 2)
    assert v2.type == "wsli.registration.cycle_created.v2" and v2.routing_key == "cycle_created_v2"
    assert v2.exchange == v1.exchange, "same exchange; a v1 consumer's binding never matches the v2 key"
    body = build_envelope(v2, "beijing", "2022", SAMPLES["cycle_created"], SEALED)["data"]
    assert body["closes_at"] == "2022-08-10T15:59:59.999999+00:00"  # the end of 2022-08-10 in Asia/Shanghai
    assert body["minimums"] == [{"kind": "district_safety_office", "count": 6}, {"kind": "insurer_branch", "count": 6}]
    assert "deadline" not in body
    parsed = parse_envelope(build_envelope(v2, "beijing", "2022", SAMPLES["cycle_created"], SEALED))
    assert parsed.version == 2 and parsed.data == body


def test_no_other_registration_events_are_registered():
    registered = {s.name for s in REGISTRY.values() if s.service == "registration"}
    assert registered == set(REGISTRATION_EVENTS)


@pytest.mark.parametrize("service, name", [("registration", "no_such_event"), ("nosuchservice", "unit_created")])
def test_specs_for_an_unknown_event_raises_lookup_error(service, name):
    with pytest.raises(LookupError):
        specs_for(service, name)


@pytest.fixture
def throwaway_specs():
    """A v1 and a v2 of a test-only event; removed again so no real catalogue sees them."""
    added = ("wsli.testsvc.thing_done.v1", "wsli.testsvc.thing_done.v2")
    assert not any(t in REGISTRY for t in added)

    @event_type("testsvc", "thing_done", description="test only")
    class ThingDoneV1(Schema):
        count = fields.Integer(required=True)

    @event_type("testsvc", "thing_done", version=2, description="test only, breaking change")
    class ThingDoneV2(Schema):
        count = fields.String(required=True)

    try:
        yield REGISTRY[added[0]], REGISTRY[added[1]]
    finally:
        for t in added:
            REGISTRY.pop(t, None)


def test_routing_key_is_the_name_for_v1_and_suffixed_from_v2(throwaway_specs):
    v1, v2 = throwaway_specs
    assert v1.routing_key == "thing_done"
    assert v2.routing_key == "thing_done_v2"
    assert v2.type == "wsli.testsvc.thing_done.v2"
    assert v2.exchange == v1.exchange == "testsvc.events"


def test_every_live_major_version_is_emitted_in_order(throwaway_specs):
    v1, v2 = throwaway_specs
    assert specs_for("testsvc", "thing_done") == [v1, v2]


def test_a_type_cannot_be_registered_twice_with_another_schema(throwaway_specs):
    with pytest.raises(ValueError):
        @event_type("testsvc", "thing_done", version=2)
        class Impostor(Schema):
            other = fields.String()


# ---- build_envelope ----------------------------------------------------------------------------

def test_envelope_is_a_cloudevent():
    env = envelope()
    assert env["specversion"] == "1.0"
    assert uuid.UUID(env["id"]).version == 4
    assert env["type"] == "wsli.registration.unit_created.v1"
    assert env["source"] == "/agencies/beijing/registration"
    assert env["datacontenttype"] == "application/json"
    assert env["subject"] == "3"
    assert env["data"] == {"unit_id": 3, "name": "朝阳区专职安全员", "kind": "district_safety_office",
                           "district": "朝阳"}
    json.dumps(env)  # the whole envelope is plain JSON


def test_envelope_time_is_rfc3339_utc():
    time = envelope()["time"]
    assert RFC3339_UTC.match(time)
    # 10:30 in Beijing is 02:30 UTC.
    assert time.startswith("2022-08-12T02:30:00")
    assert datetime.datetime.fromisoformat(time.replace("Z", "+00:00")) == SEALED


def test_each_envelope_has_its_own_id():
    assert envelope()["id"] != envelope()["id"]


def test_envelope_refuses_a_naive_time():
    with pytest.raises(ValueError):
        build_envelope(spec_of("unit_created"), "beijing", "3", SAMPLES["unit_created"],
                       datetime.datetime(2022, 8, 12, 10, 30))


@pytest.mark.parametrize("name, data", [
    ("unit_created", {"unit_id": 3, "kind": "insurer_branch"}),                      # name missing
    ("candidate_rejected", {**SAMPLES["candidate_rejected"], "stage": "board"}),    # not unit/center
    ("district_quotas_loaded", {"year": 2018, "districts": {"东城": 6868}}),          # total missing
])
def test_envelope_refuses_data_that_fails_its_schema(name, data):
    with pytest.raises(ValueError):
        build_envelope(spec_of(name), "beijing", "3", data, SEALED)


# ---- parse_envelope ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", REGISTRATION_EVENTS)
def test_envelopes_round_trip_through_json(name):
    env = build_envelope(spec_of(name), "beijing", "42", SAMPLES[name], SEALED)
    event = parse_envelope(json.dumps(env, ensure_ascii=False).encode("utf-8"))
    assert isinstance(event, Event)
    assert (event.id, event.type, event.source, event.subject, event.time, event.agency) == (
        env["id"], env["type"], "/agencies/beijing/registration", "42", env["time"], "beijing")
    assert (event.name, event.version) == (name, 1)
    assert event.data == env["data"]
    # Loading the data gives back what the producer put in (dates and times included).
    assert spec_of(name).schema().load(event.data) == SAMPLES[name]


def test_parse_accepts_an_already_decoded_object():
    env = envelope()
    assert parse_envelope(env).id == env["id"]


def test_agency_falls_back_to_the_source():
    env = envelope()
    del env["agency"]
    assert parse_envelope(env).agency == "beijing"


def test_version_is_read_from_the_type():
    event = Event(id="1", type="wsli.testsvc.thing_done.v2", source="/agencies/x/testsvc", subject="",
                  time="2022-08-12T02:30:00Z", agency="x")
    assert (event.name, event.version) == ("thing_done", 2)


def without(key):
    env = envelope()
    del env[key]
    return env


@pytest.mark.parametrize("body", [
    pytest.param(b"\xff\xfe not json", id="non-JSON bytes"),
    pytest.param(b"{\"specversion\": ", id="truncated JSON"),
    pytest.param(b"[1, 2, 3]", id="JSON list"),
    pytest.param("just a string", id="string"),
    *[pytest.param(without(k), id=f"missing {k}") for k in ("specversion", "id", "type", "source", "time", "data")],
    pytest.param(envelope(specversion="0.3"), id="wrong specversion"),
    pytest.param(envelope(data=["not", "an", "object"]), id="data a list"),
    pytest.param(envelope(data="text"), id="data a string"),
    pytest.param(envelope(data={"unit_id": 3}), id="data fails its schema"),
    pytest.param(envelope(data={**envelope()["data"], "unit_id": "three"}), id="data of the wrong type"),
])
def test_malformed_envelopes_are_invalid(body):
    with pytest.raises(InvalidEnvelope):
        parse_envelope(body)


def test_invalid_envelope_is_a_value_error():
    # Consumers park these at once rather than retrying.
    assert issubclass(InvalidEnvelope, ValueError)


# ---- AsyncAPI document -------------------------------------------------------------------------

ASYNCAPI_FILE = REPO_ROOT / "docs" / "asyncapi.yaml"


def test_committed_asyncapi_document_is_up_to_date():
    assert asyncapi.render() == ASYNCAPI_FILE.read_text(encoding="utf-8"), (
        "docs/asyncapi.yaml is stale: regenerate it with `wsli asyncapi`")


def test_asyncapi_has_a_channel_for_every_registration_event():
    doc = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    components = doc["components"]
    for spec in (s for s in REGISTRY.values() if s.service == "registration"):
        key = f"registration.{spec.name}.v{spec.version}"
        channel = doc["channels"].get(key)
        assert channel is not None, f"no channel for {spec.type}"
        assert channel["address"] == spec.routing_key
        assert channel["bindings"]["amqp"]["exchange"]["name"] == spec.exchange
        message_ref = channel["messages"][key]["$ref"]
        assert message_ref.startswith("#/components/messages/")
        message = components["messages"][message_ref.rsplit("/", 1)[1]]
        envelope_schema = components["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]
        assert envelope_schema["properties"]["type"]["const"] == spec.type
        data_ref = envelope_schema["properties"]["data"]["$ref"]
        assert data_ref.startswith("#/components/schemas/")
        schema = components["schemas"].get(data_ref.rsplit("/", 1)[1])
        assert schema is not None, f"{spec.type} refers to a missing schema {data_ref}"
        assert set(schema["properties"]) == set(spec.schema().fields)
