"""The event catalogue as an AsyncAPI 3.1 document, generated from the registry.

Two ways out for every event: the agency's broker (topic exchange ``<service>.events``,
CloudEvents structured mode) and integrators' webhooks (HTTP POST, Standard Webhooks
headers, the same envelope). ``tests/unit/test_asyncapi.py`` checks it with the
official parser (``@asyncapi/parser``): no errors, no warnings.
"""
from __future__ import annotations

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from shared import agency
from shared.catalogue import load_all_event_schemas
from shared.events import REGISTRY, STRUCTURED_CONTENT_TYPE

ENVELOPE_DOC = (
    "CloudEvents 1.0 in structured content mode (the whole envelope is the body, "
    f"`{STRUCTURED_CONTENT_TYPE}`). On the broker: exchange `<service>.events` (topic, durable), routing key = "
    "event name (`<name>_v<major>` from major version 2), AMQP message_id = event id. As a webhook: an HTTP POST "
    "of the same envelope signed per Standard Webhooks, `webhook-id` = event id. Consumers deduplicate by it."
)
WEBHOOK_HEADERS = {
    "type": "object",
    "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
    "properties": {
        "webhook-id": {"type": "string", "description": "the CloudEvents id; the same on every retry"},
        "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$",
                              "description": "seconds since the epoch of this attempt"},
        "webhook-signature": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$",
                              "description": "v1,<base64 HMAC-SHA256 of id.timestamp.body>; two during a rotation"},
    },
}


def _envelope(type_: str, source_example: str, data_ref: str) -> dict:
    return {
        "type": "object",
        "required": ["specversion", "id", "type", "source", "time", "datacontenttype", "data"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "type": {"type": "string", "const": type_},
            "source": {"type": "string", "examples": [source_example]},
            "subject": {"type": "string", "description": "id of the entity the event is about"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "agency": {"type": "string", "description": "the agency that emitted it"},
            "requestid": {"type": "string", "description": "CloudEvents extension: the request id (X-Request-ID) "
                                                           "of the API call, or of the event, that caused this one; "
                                                           "absent when nothing asked"},
            "data": {"$ref": data_ref},
        },
    }


def _json_schema(schema: dict) -> dict:
    """apispec writes OpenAPI 3.0 schemas; AsyncAPI's are JSON Schema: ``nullable`` → a type list."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _json_schema(v) for k, v in schema.items() if k not in ("nullable", "example")}
    if "example" in schema:
        out["examples"] = [schema["example"]]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
    return out


def build() -> dict:
    load_all_event_schemas()
    spec = APISpec(title="x", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=lambda s: None)])
    channels, operations, messages, tags = {}, {}, {}, set()
    webhook_refs = {}
    for type_, es in sorted(REGISTRY.items()):
        key = f"{es.service}.{es.name}.v{es.version}"
        tags.add(es.service)
        spec.components.schema(key, schema=es.schema)
        summary = es.description + (" (retired)" if es.retired else "")
        payload = {"$ref": f"#/components/schemas/{key}.envelope"}
        messages[key] = {
            "name": es.name, "title": type_, "summary": summary, "contentType": STRUCTURED_CONTENT_TYPE,
            "payload": payload, "tags": [{"name": es.service}],
            "bindings": {"amqp": {"messageType": type_, "bindingVersion": "0.3.0"}},
        }
        messages[f"webhook.{key}"] = {
            "name": f"webhook_{es.name}", "title": f"{type_} (webhook)", "summary": summary,
            "contentType": "application/cloudevents+json", "headers": {"$ref": "#/components/schemas/webhook.headers"},
            "payload": payload, "tags": [{"name": es.service}, {"name": "webhooks"}],
        }
        channels[key] = {
            "address": es.routing_key,
            "title": f"{es.exchange} / {es.routing_key}",
            "description": summary,
            "servers": [{"$ref": "#/servers/broker"}],
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": es.exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": "0.3.0"}},
        }
        operations[f"publish_{es.service}_{es.name}_v{es.version}"] = {
            "action": "send", "title": f"{es.service} publishes {es.name} v{es.version}",
            "summary": f"Published by {es.service} after the state change commits (outbox relay).",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "tags": [{"name": es.service}],
        }
        webhook_refs[key] = {"$ref": f"#/components/messages/webhook.{key}"}
    channels["webhooks"] = {
        "address": "{endpoint}",
        "title": "an integrator's webhook endpoint",
        "description": "Every event an endpoint asked for (service, event, version; wildcards), POSTed there. "
                       "Any 2xx is success; other answers are retried on a schedule; 410 disables the endpoint.",
        "servers": [{"$ref": "#/servers/webhooks"}],
        "parameters": {"endpoint": {"description": "the path of the URL the integrator registered"}},
        "messages": {f"webhook.{k}": v for k, v in webhook_refs.items()},
        "bindings": {"http": {"bindingVersion": "0.3.0"}},
    }
    operations["deliver_webhooks"] = {
        "action": "send", "title": "deliver to webhook endpoints",
        "summary": "Signed POST of the CloudEvents envelope per Standard Webhooks, at least once, retried.",
        "channel": {"$ref": "#/channels/webhooks"},
        "messages": [{"$ref": f"#/channels/webhooks/messages/webhook.{k}"} for k in webhook_refs],
        "bindings": {"http": {"method": "POST", "bindingVersion": "0.3.0"}},
        "tags": [{"name": "webhooks"}],
    }
    _agency_messages(spec, channels, operations, messages, tags)
    schemas = {name: _json_schema(s) for name, s in spec.to_dict()["components"]["schemas"].items()}
    for type_, es in REGISTRY.items():
        key = f"{es.service}.{es.name}.v{es.version}"
        schemas[f"{key}.envelope"] = _envelope(type_, f"/agencies/beijing/{es.service}", f"#/components/schemas/{key}")
    for m in agency.MESSAGES.values():
        key = f"agency.{m.service}.{m.name}.v{m.version}"
        schemas[f"{key}.envelope"] = _envelope(m.type, f"/agencies/beijing/{m.service}", f"#/components/schemas/{key}")
    schemas["webhook.headers"] = WEBHOOK_HEADERS
    return {
        "asyncapi": "3.1.0",
        "id": "urn:wsli:events",
        "info": {
            "title": "wsli events", "version": "1.0.0", "description": ENVELOPE_DOC,
            "contact": {"name": "wsli operation center", "url": "https://wsli.example.org"},
            "license": {"name": "Proprietary", "url": "https://wsli.example.org/terms"},
            "tags": [{"name": t, "description": {"webhooks": "deliveries to integrators' endpoints",
                                                        "agencies": "messages between partner agencies "
                                                                    "(docs/agencies.md)"}.get(t, f"events of the {t} service")} for t in sorted(tags | {"webhooks"})],
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "broker": {"host": "127.0.0.1:5672", "protocol": "amqp", "pathname": "/{agency}",
                       "description": "the agency's RabbitMQ; one vhost per agency",
                       "variables": {"agency": {"default": "beijing", "description": "the agency's vhost"}},
                       "tags": [{"name": "broker"}]},
            "webhooks": {"host": "{receiver}", "protocol": "https",
                         "description": "an integrator's receiver, registered through the gateway",
                         "variables": {"receiver": {"description": "host of the integrator's endpoint URL"}},
                         "tags": [{"name": "webhooks"}]},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


AGENCY_DOC = {
    agency.DIRECTED: "Directed to one partner agency: published to `wsli.agency.out` with routing key "
                     "`<to>.<service>.<name>`, held in the durable queue `wsli.agency.to.<to>`, moved by a dynamic "
                     "shovel into the partner's `wsli.agency.in` (acked after the partner's broker confirms).",
    agency.BROADCAST: "A fact for every partner agency: published to `wsli.agency.facts` with routing key "
                      "`<issuer>.<service>.<name>`; partners federate the exchange (max-hops 1).",
}


def _agency_messages(spec, channels, operations, messages, tags):
    """The cross-agency exchange's messages (shared.agency): their own exchanges, their own types."""
    for m in sorted(agency.MESSAGES.values(), key=lambda m: m.type):
        key = f"agency.{m.service}.{m.name}.v{m.version}"
        tags.add("agencies")
        spec.components.schema(key, schema=m.schema)
        messages[key] = {
            "name": f"agency_{m.name}", "title": m.type, "summary": m.description,
            "contentType": STRUCTURED_CONTENT_TYPE, "payload": {"$ref": f"#/components/schemas/{key}.envelope"},
            "tags": [{"name": m.service}, {"name": "agencies"}],
            "bindings": {"amqp": {"messageType": m.type, "bindingVersion": "0.3.0"}},
        }
        channels[key] = {
            "address": f"{{agency}}.{m.service}.{m.name}",
            "title": f"{m.exchange} / {{agency}}.{m.service}.{m.name}",
            "description": f"{m.description} {AGENCY_DOC[m.flow]} A receiver applies it only from an agency in "
                           "its AGENCY_PARTNERS (others are parked in wsli.dlq), once (inbox).",
            "servers": [{"$ref": "#/servers/broker"}],
            "parameters": {"agency": {"description": "the destination agency (directed) or the issuer (broadcast)"}},
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": {
                "name": m.exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                "bindingVersion": "0.3.0"}},
        }
        operations[f"send_agency_{m.service}_{m.name}_v{m.version}"] = {
            "action": "send", "title": f"{m.service} sends {m.name} to partner agencies",
            "summary": "Written to the outbox with the state change; the relay publishes it after commit.",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "tags": [{"name": "agencies"}],
        }


def render() -> str:
    return "# Generated by `wsli asyncapi`; do not edit by hand.\n" + yaml.safe_dump(
        build(), sort_keys=True, allow_unicode=True, width=110)
