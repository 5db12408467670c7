"""The operator's commands as a newcomer runs them: `wsli up`, `status`, `token create`, `dlq`, `down`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shared.catalogue import COMPONENTS
from tests.conftest import free_port

pytestmark = pytest.mark.e2e

WSLI = str(Path(sys.executable).with_name("wsli"))


@pytest.fixture
def env(tmp_path, amqp_uri):
    port = free_port()
    values = dict(os.environ,
                  WSLI_VAR_DIR=str(tmp_path / "var"), GATEWAY_ADDRESS=f"127.0.0.1:{port}", AMQP_URI=amqp_uri,
                  FILE_STORE=str(tmp_path / "files"), WEB_ADDRESS=f"127.0.0.1:{free_port()}")
    # every component's database in this test's directory, never the checkout's var/
    values.update({f"{c.name.upper()}_DB_URI": f"sqlite:///{tmp_path}/{c.name}.db" for c in COMPONENTS})
    values.pop("WSLI_BOOTSTRAP_TOKEN", None)
    yield values
    subprocess.run([WSLI, "down"], env=values, capture_output=True, timeout=60)


def wsli(env, *args, timeout=120):
    return subprocess.run([WSLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_up_serves_health_and_down_stops_it(env):
    up = wsli(env, "up", "--wait", "90")
    assert up.returncode == 0, up.stdout + up.stderr
    url = f"http://{env['GATEWAY_ADDRESS']}"
    assert url in up.stdout
    health = requests.get(url + "/health", timeout=5).json()
    # the gateway's health covers the services and itself; the web console answers on its own port
    assert {name: s["status"] for name, s in health["services"].items()} == {
        c.name: "ok" for c in COMPONENTS if c.name != "web"}
    web = f"http://{env['WEB_ADDRESS']}"
    assert web + "/" in up.stdout
    login = requests.get(web + "/", timeout=10)
    assert login.status_code == 200 and "登录" in login.text

    status = wsli(env, "status")
    assert status.returncode == 0
    assert all(f"{c.name}: running" in status.stdout for c in COMPONENTS)

    minted = wsli(env, "token", "create", "--role", "operator", "--name", "中心")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    answer = requests.get(url + "/api/v1/cycles", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == []

    refused = wsli(env, "token", "create", "--role", "unit")
    assert refused.returncode == 2 and "unit_id" in refused.stderr

    parked = wsli(env, "dlq", "list")
    assert parked.returncode == 0 and "parked message(s)" in parked.stdout

    down = wsli(env, "down")
    assert down.returncode == 0 and all(f"stopped {c.name}" in down.stdout for c in COMPONENTS)
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/health", timeout=3)


def test_up_explains_an_unreachable_broker(env, tmp_path):
    # an empty PATH: no rabbitmq-server to start, so `up` must say how to get one
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = dict(env, AMQP_URI="pyamqp://guest:guest@127.0.0.1:1//", PATH=str(empty))
    up = wsli(env, "up", "--wait", "5")
    assert up.returncode != 0
    assert "not reachable" in up.stderr and "apt-get install rabbitmq-server" in up.stderr
