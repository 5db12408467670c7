"""The gateway confirms an RPC request only when it must: the first call to a service, then once per
``RPC_ROUTE_CONFIRM_SECONDS``; the calls in between skip the confirm (and the mandatory flag)."""
from __future__ import annotations

import pytest
from gateway import service as gw
from shared.amqp import LeanPublisher


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sent(monkeypatch, clock):
    calls = []
    monkeypatch.setattr(LeanPublisher, "publish", lambda self, payload, **kw: calls.append(kw))
    monkeypatch.setattr(gw, "ROUTABLE", gw.RoutableServices(ttl=0.3, clock=clock))
    return calls


def call(service="registration", uri="amqp://a/"):
    gw._QuickPublisher(uri).publish({}, routing_key=f"{service}.get_cycle", mandatory=True)


def confirmed(kw) -> bool:
    return kw.get("use_confirms", True) is not False and kw.get("mandatory") is True


def test_first_call_is_confirmed_then_skipped_within_the_ttl_then_confirmed_again(sent, clock):
    call()
    call()
    call(service="scoring")
    call(uri="amqp://other-vhost/")
    assert [confirmed(kw) for kw in sent] == [True, False, True, True]
    clock.now += 0.29
    call()
    assert not confirmed(sent[-1]), "still within the ttl"
    clock.now += 0.02
    call()
    assert confirmed(sent[-1]), "after the ttl a call is confirmed again"


def test_an_unroutable_call_is_not_remembered(monkeypatch):
    from nameko.amqp.publish import UndeliverableMessage

    monkeypatch.setattr(gw, "ROUTABLE", gw.RoutableServices(ttl=60))
    calls = []

    def refuse(self, payload, **kw):
        calls.append(kw)
        raise UndeliverableMessage()

    monkeypatch.setattr(LeanPublisher, "publish", refuse)
    for _ in range(2):
        with pytest.raises(UndeliverableMessage):
            call(service="nosuch")
    assert all(confirmed(kw) for kw in calls), "a service never routed to is confirmed every time (fails fast)"


def test_ttl_zero_confirms_every_call(sent, monkeypatch):
    monkeypatch.setattr(gw, "ROUTABLE", gw.RoutableServices(ttl=0))
    call()
    call()
    assert all(confirmed(kw) for kw in sent)
