"""Cross-agency exchange: what one agency's services send to partner agencies, and how they read it.

Agencies run separate brokers (here: one vhost each). Nothing crosses through a
service's own ``<service>.events`` exchange or nameko's RPC exchange; three
dedicated topic exchanges carry the cross-agency messages (``docs/agencies.md``):

- ``wsli.agency.out``: directed messages that must arrive (a case sent to the
  national campaign, its result sent back). Routing key ``<to>.<service>.<name>``.
  Each partner has a durable queue ``wsli.agency.to.<partner>`` bound with
  ``<partner>.#``; a dynamic shovel (ack after the partner's broker confirms)
  moves it into the partner's ``wsli.agency.in``. While the link is down the queue
  keeps the messages.
- ``wsli.agency.in``: where partners' shovels deliver; handlers bind
  ``<own>.<service>.<name>``.
- ``wsli.agency.facts``: facts broadcast to every partner (certificates issued or
  revoked). Routing key ``<issuer>.<service>.<name>``. Each agency federates the
  exchange from its partners (max-hops 1: a fact never travels beyond the issuer's
  own partners). Local publishes reach local bindings too; a handler ignores its
  own agency's facts.

A handler (``@from_partners``) parks in ``wsli.dlq`` any message whose agency is
not in ``AGENCY_PARTNERS``: a broker link is plumbing, not trust. It claims the
inbox like any handler, so a message a shovel or federation link repeats after a
partition is applied once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from kombu import Exchange, Queue
from marshmallow import Schema
from nameko.events import EventHandler
from nameko.messaging import Consumer

from shared.config import agency_of, as_list
from shared.errors import RuleViolation, ValidationFailed
from shared.events import Event, InvalidEnvelope, build_envelope, parse_envelope
from shared.subscriber import DEFAULT_DELAYS_MS, Republisher, Subscriber, handler_transaction
from shared.workdays import utcnow

OUT = "wsli.agency.out"
IN = "wsli.agency.in"
FACTS = "wsli.agency.facts"
EXCHANGES = (OUT, IN, FACTS)
DIRECTED = "directed"
BROADCAST = "broadcast"
# One directed message carries at most this much of a file (base64 makes it ~342 KiB on the wire),
# well under RabbitMQ's message size limit and small enough not to stall a shovel.
CHUNK_BYTES = 256 * 1024


def exchange(name: str) -> Exchange:
    return Exchange(name, type="topic", durable=True)


def outgoing_queue_name(partner: str) -> str:
    return f"wsli.agency.to.{partner}"


def outgoing_queue(partner: str) -> Queue:
    """The durable queue a partner's shovel drains; declared before anything is published to it."""
    return Queue(outgoing_queue_name(partner), exchange=exchange(OUT), routing_key=f"{partner}.#", durable=True)


@dataclass(frozen=True)
class AgencyMessage:
    service: str
    name: str
    schema: type[Schema]
    flow: str                  # DIRECTED | BROADCAST
    description: str
    version: int = 1

    @property
    def type(self) -> str:
        # its own type: the cross-agency contract is not a service's internal event
        return f"wsli.agency.{self.service}.{self.name}.v{self.version}"

    @property
    def exchange(self) -> str:
        return OUT if self.flow == DIRECTED else FACTS

    def routing_key(self, agency: str) -> str:
        """``agency`` is the destination of a directed message, the issuer of a fact."""
        return f"{agency}.{self.service}.{self.name}"


MESSAGES: dict[tuple[str, str], AgencyMessage] = {}


def agency_message(service: str, name: str, flow: str, description: str = ""):
    """Class decorator registering a marshmallow schema as a cross-agency message's data."""
    if flow not in (DIRECTED, BROADCAST):
        raise ValueError(f"flow must be {DIRECTED} or {BROADCAST}")

    def register(schema_cls):
        MESSAGES[(service, name)] = AgencyMessage(service, name, schema_cls, flow,
                                                  description or (schema_cls.__doc__ or "").strip())
        return schema_cls

    return register


def partners(config) -> set[str]:
    return {p.strip().lower() for p in as_list(config.get("AGENCY_PARTNERS")) if p.strip()}


def _outbox_row(db, message: AgencyMessage, routing_key: str, subject, data: dict) -> dict:
    now = utcnow()
    envelope = build_envelope(message, db.agency, str(subject), data, now, request_id=db.request_id)
    db.write_outbox([dict(
        event_id=envelope["id"], event_type=message.type, exchange=message.exchange, routing_key=routing_key,
        subject=str(subject), body=json.dumps(envelope, ensure_ascii=False, separators=(",", ":")),
        created_at=now, attempts=0)])
    return envelope


def send_to(db, config, partner: str, service: str, name: str, subject, data: dict) -> dict:
    """A directed message to one partner, in the caller's transaction (outbox)."""
    partner = str(partner).lower()
    if partner not in partners(config):
        raise RuleViolation(f"{partner} 不是已配置的合作机构", {"to": [f"{partner} is not a configured partner"]},
                            rule="agency_not_partner")
    message = MESSAGES[(service, name)]
    assert message.flow == DIRECTED, f"{message.type} is broadcast"
    return _outbox_row(db, message, message.routing_key(partner), subject, data)


def broadcast(db, service: str, name: str, subject, data: dict) -> dict:
    """A fact for every partner (federated exchange), in the caller's transaction (outbox)."""
    message = MESSAGES[(service, name)]
    assert message.flow == BROADCAST, f"{message.type} is directed"
    return _outbox_row(db, message, message.routing_key(db.agency), subject, data)


class NotFromPartner(InvalidEnvelope):
    """A message from an agency this one has no partnership with: parked, never applied."""


class _OwnFact(Exception):
    pass


class AgencySubscriber(Subscriber):
    """``Subscriber`` on a cross-agency exchange: same retries, parking, transaction and inbox."""

    def setup(self):
        config = self.container.config
        self.own = agency_of(config).lower()
        self.partners = partners(config)
        self.message = MESSAGES[(self.source_service, self.event_type)]
        m = self.message
        if m.flow == DIRECTED:
            source, key, kind = IN, m.routing_key(self.own), "in"
        else:
            source, key, kind = FACTS, f"*.{m.service}.{m.name}", "facts"
        self.queue = Queue(f"wsli.agency.{kind}.{m.service}.{m.name}--{self.container.service_name}.{self.method_name}",
                           exchange=exchange(source), routing_key=key, durable=True)
        Consumer.setup(self)  # registers with the queue consumer (EventHandler.setup would bind <service>.events)
        self.delays_ms = as_list(config.get("EVENT_RETRY_DELAYS_MS"), int) or list(DEFAULT_DELAYS_MS)
        self.republisher = Republisher(config["AMQP_URI"])

    def admit(self, event: Event):
        agency = (event.agency or "").lower()
        if event.type != self.message.type:
            raise InvalidEnvelope(f"expected {self.message.type}, got {event.type}")
        if agency == self.own and self.message.flow == BROADCAST:
            raise _OwnFact()
        if agency not in self.partners:
            raise NotFromPartner(f"agency {agency or '?'} is not a partner of {self.own} "
                                 f"(AGENCY_PARTNERS: {', '.join(sorted(self.partners)) or 'none'})")

    def handle_message(self, body, message):
        try:
            event = parse_envelope(body)
            self.admit(event)
            event = self.read(event)
        except _OwnFact:
            self.queue_consumer.ack_message(message)  # our own broadcast, already applied at home
            return
        except (InvalidEnvelope, ValidationFailed) as exc:
            self._park_and_ack(message, exc)
            return
        EventHandler.handle_message(self, event, message)


def from_partners(service: str, name: str, schema=None):
    """Declare a handler of a partner agency's message: one transaction, inbox, DLQ for strangers."""

    def decorate(method):
        return AgencySubscriber.decorator(service, name, schema=schema)(handler_transaction(method))

    return decorate
