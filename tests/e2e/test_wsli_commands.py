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
    values.update({f"{c.name.upper()}_METRICS_ADDRESS": f"127.0.0.1:{free_port()}" for c in COMPONENTS})
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
    assert "consumers caught up: yes" in status.stdout, status.stdout
    assert "training.on_candidate_approved" in status.stdout and "dead letters: 0" in status.stdout

    scoring_metrics = requests.get(f"http://{env['SCORING_METRICS_ADDRESS']}/metrics", timeout=5).text
    assert 'wsli_entrypoint_calls_total{entrypoint="health",outcome="ok",service="scoring"}' in scoring_metrics
    assert 'wsli_outbox_pending{service="scoring"}' in scoring_metrics

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


def test_up_restarts_a_component_that_dies(env):
    import re
    import signal
    import time

    up = wsli(env, "up", "--wait", "90")
    assert up.returncode == 0, up.stdout + up.stderr
    before = wsli(env, "status").stdout
    assert "supervisor: running" in before and "scoring: running (pid " in before, before
    pid = int(re.search(r"scoring: running \(pid (\d+), restarts 0", before).group(1))

    os.killpg(pid, signal.SIGKILL)  # a crash nobody cleaned up after
    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline:
        status = wsli(env, "status").stdout
        found = re.search(r"scoring: running \(pid (\d+), restarts 1, last exit -9\)", status)
        if found and int(found.group(1)) != pid and '{"status": "ok"' in status:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"scoring was not restarted:\n{status}")

    down = wsli(env, "down")
    assert down.returncode == 0 and "stopped the supervisor" in down.stdout
    assert "running" not in wsli(env, "status").stdout


def test_token_list_and_revoke_beside_the_api(env):
    from shared.catalogue import GATEWAY
    from shared.migrate import upgrade

    upgrade(GATEWAY, env["GATEWAY_DB_URI"])
    minted = wsli(env, "token", "create", "--role", "operator", "--name", "夜班", "--expires-in-days", "7")
    assert minted.returncode == 0, minted.stderr
    other = wsli(env, "token", "create", "--role", "admin", "--name", "root")
    assert other.returncode == 0 and "expires=" in other.stderr

    listed = wsli(env, "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    tokens = {t["name"]: t for t in __import__("json").loads(listed.stdout)}
    assert set(tokens) == {"夜班", "root"} and tokens["夜班"]["last_used_at"] is None
    assert "token" not in tokens["夜班"] and minted.stdout.strip() not in listed.stdout
    from datetime import datetime
    days = (datetime.fromisoformat(tokens["夜班"]["expires_at"]) - datetime.fromisoformat(tokens["夜班"]["created_at"])).days
    assert days == 7
    days = (datetime.fromisoformat(tokens["root"]["expires_at"]) - datetime.fromisoformat(tokens["root"]["created_at"])).days
    assert days == 30, "an admin token lives 30 days unless told otherwise"

    revoked = wsli(env, "token", "revoke", str(tokens["夜班"]["id"]))
    assert revoked.returncode == 0 and "revoked token" in revoked.stdout
    assert "夜班" not in wsli(env, "token", "list").stdout
    assert "夜班" in wsli(env, "token", "list", "--all").stdout
    missing = wsli(env, "token", "revoke", "99999")
    assert missing.returncode == 2 and "no token 99999" in missing.stderr
