"""`wsli up` starts a local RabbitMQ only when nothing listens; a broker that answers but refuses
(wrong password, unknown vhost) is named as such and never restarted (real broker)."""
from __future__ import annotations

import uuid

import pytest

from shared import cli
from tests.conftest import AMQP_BASE as BROKER, free_port



@pytest.fixture
def no_start(monkeypatch):
    started = []
    monkeypatch.setattr(cli.subprocess, "run", lambda *a, **kw: started.append(a) or None)
    monkeypatch.setattr(cli.shutil, "which", lambda name: f"/usr/sbin/{name}")
    return started


def test_a_wrong_password_is_said_and_no_broker_is_started(no_start):
    uri = "pyamqp://guest:wrong-password@127.0.0.1:5672/"
    assert cli._broker_problem(uri)[0] == "credentials"
    with pytest.raises(SystemExit) as stop:
        cli._ensure_broker(uri)
    assert "wrong user name or password" in str(stop.value) and "wrong-password" not in str(stop.value)
    assert no_start == []


def test_an_unknown_vhost_is_said_and_no_broker_is_started(no_start):
    vhost = f"wsli-missing-{uuid.uuid4().hex[:8]}"
    uri = f"{BROKER}/{vhost}"
    assert cli._broker_problem(uri)[0] == "vhost"
    with pytest.raises(SystemExit) as stop:
        cli._ensure_broker(uri)
    assert f"no vhost {vhost!r}" in str(stop.value) and "add_vhost" in str(stop.value)
    assert no_start == []


def test_a_working_broker_is_used_as_it_is(no_start):
    assert cli._broker_problem(f"{BROKER}/") is None
    cli._ensure_broker(f"{BROKER}/")
    assert no_start == []


def test_only_nothing_listening_starts_the_local_broker(no_start, monkeypatch):
    uri = f"pyamqp://guest:guest@127.0.0.1:{free_port()}/"
    assert cli._broker_problem(uri)[0] == "down"
    monkeypatch.setattr(cli.time, "sleep", lambda s: None)
    with pytest.raises(SystemExit) as stop:  # the fake server never comes up
        cli._ensure_broker(uri)
    assert "did not come up" in str(stop.value)
    assert no_start == [(["/usr/sbin/rabbitmq-server", "-detached"],)]
    # another machine's address: nothing to start here
    no_start.clear()
    with pytest.raises(SystemExit) as remote:
        cli._ensure_broker(f"pyamqp://guest:guest@192.0.2.1:{free_port()}/")
    assert no_start == [] and "192.0.2.1" in str(remote.value)
