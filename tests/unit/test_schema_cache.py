"""Schemas are built once and shared: the same results as a fresh instance, no state between calls,
and the envelope's data loaded once for a consumer that reads it with the producer's schema."""
from __future__ import annotations

import json
from types import SimpleNamespace

import eventlet
import pytest
from marshmallow import Schema, fields, validate

from shared import events as ev
from shared.errors import ValidationFailed
from shared.schemas import load, schema_instance
from shared.subscriber import Subscriber
from shared.workdays import utcnow


class Form(Schema):
    name = fields.String(required=True, validate=validate.Length(max=5))
    count = fields.Integer(load_default=1)


def test_one_instance_per_class_and_options():
    assert schema_instance(Form) is schema_instance(Form)
    assert schema_instance(Form, partial=True) is not schema_instance(Form)
    assert schema_instance(Form, partial=True).partial is True


def test_a_shared_instance_keeps_no_state_between_loads():
    assert load(Form, {"name": "ab"}) == {"name": "ab", "count": 1}
    with pytest.raises(ValidationFailed) as refused:
        load(Form, {"name": "toolong", "count": "x"})
    assert set(refused.value.fields) == {"name", "count"}
    assert load(Form, {"name": "cd", "count": 3}) == {"name": "cd", "count": 3}, "no errors carried over"
    assert load(Form, {}, partial=True) == {}, "partial: nothing required, no defaults"


def test_concurrent_greenthreads_get_their_own_results():
    def one(i):
        eventlet.sleep(0)
        try:
            return load(Form, {"name": str(i) if i % 3 else "x" * 9, "count": i})
        except ValidationFailed as exc:
            return ("refused", i, sorted(exc.fields))

    pool = eventlet.GreenPool(50)
    results = list(pool.imap(one, range(300)))
    for i, got in enumerate(results):
        assert got == (("refused", i, ["name"]) if i % 3 == 0 else {"name": str(i), "count": i})


def test_a_consumer_with_the_producers_schema_reuses_the_checked_data(monkeypatch):
    from services.registration import schemas  # noqa: F401  (registers the events)

    spec = ev.specs_for("registration", "unit_created")[0]
    envelope = ev.build_envelope(spec, "beijing", "3", {"unit_id": 3, "name": "朝阳", "kind": "district_safety_office",
                                                        "district": "朝阳"}, utcnow())
    event = ev.parse_envelope(json.dumps(envelope).encode())
    assert event.checked == {"unit_id": 3, "name": "朝阳", "kind": "district_safety_office", "district": "朝阳"}

    loads = []
    original = Schema.load
    monkeypatch.setattr(Schema, "load", lambda self, *a, **k: loads.append(type(self)) or original(self, *a, **k))
    same = Subscriber("registration", "unit_created", schema=spec.schema)
    same.container, same.method_name = SimpleNamespace(service_name="webhooks"), "on_unit"
    assert same.read(event).data == event.checked and loads == [], "no second load with the same schema"

    class Narrow(Schema):
        unit_id = fields.Integer(required=True)

    other = Subscriber("registration", "unit_created", schema=Narrow)
    other.container, other.method_name = SimpleNamespace(service_name="training"), "on_unit"
    assert other.read(event).data == {"unit_id": 3} and loads == [Narrow]
