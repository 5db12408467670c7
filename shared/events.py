"""The event contract: CloudEvents 1.0 envelopes around marshmallow-defined data.

Exchange ``<service>.events`` (nameko's topic exchange); routing key is the event
name for major version 1 and ``<name>_v<major>`` after a breaking change, so a v1
consumer never receives a v2 body. The type is ``wsli.<service>.<name>.v<major>``.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from marshmallow import Schema, ValidationError

SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"
# Structured content mode of the CloudEvents AMQP binding: the whole envelope is the body.
# Messages published before it carry ``application/json``; consumers accept both.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
ACCEPTED_CONTENT_TYPES = ("application/json", "application/cloudevents+json", STRUCTURED_CONTENT_TYPE)


def _register_structured_serializer():
    """Teach kombu to decode structured CloudEvents (it matches the content type verbatim)."""
    from kombu import serialization

    def decode(body):
        return json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)

    for name, content_type in (("cloudevents", "application/cloudevents+json"),
                               ("cloudevents-utf8", STRUCTURED_CONTENT_TYPE)):
        serialization.register(name, json.dumps, decode, content_type=content_type, content_encoding="utf-8")


_register_structured_serializer()


@dataclass(frozen=True)
class EventSpec:
    service: str
    name: str
    version: int
    schema: type[Schema]
    description: str
    retired: bool = False

    @property
    def type(self) -> str:
        return f"wsli.{self.service}.{self.name}.v{self.version}"

    @property
    def routing_key(self) -> str:
        return self.name if self.version == 1 else f"{self.name}_v{self.version}"

    @property
    def exchange(self) -> str:
        return f"{self.service}.events"


REGISTRY: dict[str, EventSpec] = {}


def event_type(service: str, name: str, version: int = 1, description: str = "", retired: bool = False):
    """Class decorator registering a marshmallow schema as the data of an event."""

    def register(schema_cls: type[Schema]) -> type[Schema]:
        spec = EventSpec(service, name, version, schema_cls, description or (schema_cls.__doc__ or "").strip(), retired)
        existing = REGISTRY.get(spec.type)
        if existing is not None and existing.schema.__qualname__ != schema_cls.__qualname__:
            raise ValueError(f"event type {spec.type} registered twice")
        REGISTRY[spec.type] = spec
        return schema_cls

    return register


def specs_for(service: str, name: str) -> list[EventSpec]:
    """Every live major version of an event: all of them are emitted until retired."""
    found = [s for s in REGISTRY.values() if s.service == service and s.name == name and not s.retired]
    if not found:
        raise LookupError(f"no event {service}.{name} is registered")
    return sorted(found, key=lambda s: s.version)


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# CloudEvents extension attribute: the request that caused the event (the gateway's
# X-Request-ID), so one request can be followed across services. Extension names
# are lower-case letters and digits only (CloudEvents 1.0, "Naming Conventions").
REQUEST_ID_ATTRIBUTE = "requestid"


def build_envelope(spec: EventSpec, agency: str, subject: str, data: dict, moment: datetime,
                   request_id: str | None = None) -> dict:
    from shared.schemas import schema_instance

    schema = schema_instance(spec.schema)  # shared: building a schema costs more than dumping with it
    payload = schema.dump(data)
    errors = schema.validate(payload)
    if errors:
        # A producer bug, not user input: fail the transaction rather than publish junk.
        raise ValueError(f"{spec.type} data does not match its schema: {errors}")
    envelope = {
        "specversion": SPECVERSION,
        "id": str(uuid.uuid4()),
        "type": spec.type,
        "source": f"/agencies/{agency}/{spec.service}",
        "subject": str(subject),
        "time": rfc3339(moment),
        "datacontenttype": DATACONTENTTYPE,
        "agency": agency,
        "data": payload,
    }
    if request_id:
        envelope[REQUEST_ID_ATTRIBUTE] = str(request_id)
    return envelope


def build_envelopes(spec: EventSpec, agency: str, items: list[tuple[str, dict]], moment: datetime,
                    request_id: str | None = None) -> list[dict]:
    """``build_envelope`` for many events of one type: one schema instance, one validation pass
    (a bulk import announces thousands of rows; building a schema twice per row was most of its cost)."""
    schema = spec.schema()
    payloads = schema.dump([data for _, data in items], many=True)
    errors = schema.validate(payloads, many=True)
    if errors:
        raise ValueError(f"{spec.type} data does not match its schema: {errors}")
    time_ = rfc3339(moment)
    envelopes = []
    for (subject, _), payload in zip(items, payloads):
        envelope = {"specversion": SPECVERSION, "id": str(uuid.uuid4()), "type": spec.type,
                    "source": f"/agencies/{agency}/{spec.service}", "subject": str(subject), "time": time_,
                    "datacontenttype": DATACONTENTTYPE, "agency": agency, "data": payload}
        if request_id:
            envelope[REQUEST_ID_ATTRIBUTE] = str(request_id)
        envelopes.append(envelope)
    return envelopes


class InvalidEnvelope(ValueError):
    """A message that is not a well-formed wsli CloudEvent: never retried, parked at once."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: str
    agency: str
    data: dict = field(default_factory=dict)
    # set by the subscriber: the data as it came (``data`` is what the consumer's schema
    # loaded) and the handler's inbox name, ``<service>.<method>``
    raw_data: dict | None = None
    handler: str = ""
    request_id: str | None = None
    # the envelope as received, extension attributes included (forwarded verbatim by webhooks)
    envelope: dict = field(default_factory=dict, compare=False, repr=False)
    # ``data`` as the producer's schema loaded it when checking the envelope: a consumer
    # reading with that same schema takes it instead of loading the data a second time
    checked: dict | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.type.split(".")[2]

    @property
    def version(self) -> int:
        return int(self.type.rsplit(".v", 1)[1])


_REQUIRED = ("specversion", "id", "type", "source", "time", "data")


def parse_envelope(body) -> Event:
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEnvelope(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidEnvelope(f"body must be a JSON object, got {type(body).__name__}")
    missing = [k for k in _REQUIRED if k not in body]
    if missing:
        raise InvalidEnvelope(f"envelope lacks {', '.join(missing)}")
    if body["specversion"] != SPECVERSION:
        raise InvalidEnvelope(f"unsupported specversion {body['specversion']!r}")
    if not isinstance(body["data"], dict):
        raise InvalidEnvelope("data must be a JSON object")
    spec = REGISTRY.get(body["type"])
    checked = None
    if spec is not None:
        from shared.schemas import schema_instance
        try:
            checked = schema_instance(spec.schema).load(body["data"])
        except ValidationError as exc:
            raise InvalidEnvelope(f"data does not match {spec.type}: {exc.messages}") from exc
    source = str(body["source"])
    agency = body.get("agency") or (source.split("/")[2] if source.startswith("/agencies/") else "")
    return Event(
        id=str(body["id"]),
        type=str(body["type"]),
        source=source,
        subject=str(body.get("subject", "")),
        time=str(body["time"]),
        agency=str(agency),
        data=body["data"],
        request_id=str(body[REQUEST_ID_ATTRIBUTE]) if body.get(REQUEST_ID_ATTRIBUTE) else None,
        envelope=body,
        checked=checked,
    )
