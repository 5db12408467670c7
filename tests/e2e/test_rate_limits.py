"""Rate limits: one token's flood does not starve another token, anonymous lookups are held tighter.

A second gateway with limits on runs beside the stack's own (limits off), on the
same broker and database, so the same bounded loopback flood can be measured
against both. The assertions are about answers (429s for the flooder, 200s for
the other token), not timings; the timings are printed as figures.
"""
from __future__ import annotations

import statistics
import time

import eventlet
import pytest
import requests

from gateway.service import GatewayService
from tests.conftest import free_port, wait_for
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

FLOOD_REQUESTS = 400
FLOOD_CONCURRENCY = 40
PROBES = 25


@pytest.fixture
def limited(stack):
    from nameko.runners import ServiceRunner
    port = free_port()
    config = dict(stack.gateway_config, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", RATE_LIMIT_ENABLED=True,
                  RATE_LIMIT_TOKEN_PER_SECOND=20, RATE_LIMIT_TOKEN_BURST=40, RATE_LIMIT_ADDRESS_PER_SECOND=1000,
                  RATE_LIMIT_ADDRESS_BURST=2000, RATE_LIMIT_ANONYMOUS_PER_SECOND=1, RATE_LIMIT_ANONYMOUS_BURST=5,
                  RATE_LIMIT_CONCURRENT=4)
    runner = ServiceRunner(config)
    runner.add_service(GatewayService)
    runner.start()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(base + "/health", timeout=5).status_code == 200, message="the limited gateway")
    yield base
    runner.kill()


def flood_and_probe(base: str, flooder: str, other: str) -> dict:
    """``FLOOD_REQUESTS`` list calls from one token, ``PROBES`` cheap calls from another meanwhile."""
    statuses: dict[int, int] = {}
    retry_after = set()

    def flood_one(session):
        response = session.get(base + "/api/v1/cycles", headers={"Authorization": f"Bearer {flooder}"}, timeout=60)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 429:
            retry_after.add(response.headers.get("Retry-After"))
            assert response.json()["error"] == "rate_limited"

    pool = eventlet.GreenPool(FLOOD_CONCURRENCY)
    sessions = [requests.Session() for _ in range(FLOOD_CONCURRENCY)]
    started = time.monotonic()
    for i in range(FLOOD_REQUESTS):
        pool.spawn_n(flood_one, sessions[i % FLOOD_CONCURRENCY])
    eventlet.sleep(0.2)  # the flood is under way
    probe = Api(base, other)
    latencies, probe_statuses = [], []
    for _ in range(PROBES):
        t0 = time.monotonic()
        status, _ = probe.get("/api/v1/cycles")
        latencies.append(time.monotonic() - t0)
        probe_statuses.append(status)
    pool.waitall()
    return {"flood_statuses": statuses, "flood_seconds": round(time.monotonic() - started, 2),
            "other_statuses": sorted(set(probe_statuses)), "other_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "other_max_ms": round(max(latencies) * 1000, 1), "retry_after": sorted(retry_after - {None})}


def test_one_tokens_flood_gets_429_and_the_other_token_is_served(stack, admin, limited):
    flooder = admin.token_for("operator", name="flooder")
    other = admin.token_for("operator", name="other")
    unlimited = flood_and_probe(stack.base, flooder, other)
    with_limits = flood_and_probe(limited, flooder, other)
    print(f"\nrate limits ({stack.kind}): without limits {unlimited}\n  with limits {with_limits}")

    assert with_limits["flood_statuses"].get(429, 0) > 0, with_limits
    # 503: a service's database refused a connection under the flood (a shared server): still no 500
    assert set(with_limits["flood_statuses"]) <= {200, 429, 503}, with_limits
    assert with_limits["retry_after"] and all(int(v) >= 1 for v in with_limits["retry_after"])
    assert with_limits["other_statuses"] == [200], with_limits
    assert 429 not in unlimited["flood_statuses"] and set(unlimited["flood_statuses"]) <= {200, 503}, \
        "no limits on the stack's own gateway"


def test_anonymous_lookups_are_limited_per_address_and_probes_never(limited):
    anonymous = Api(limited)
    statuses = [anonymous.get("/api/v1/certificates/NOPE-0001/verify")[0] for _ in range(12)]
    assert statuses[:5] == [statuses[0]] * 5 and statuses[0] in (200, 404), statuses
    assert 429 in statuses[5:], statuses
    response = requests.get(limited + "/api/v1/certificates/NOPE-0001/verify", timeout=10)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"] == "rate_limited"
    assert all(requests.get(limited + "/health", timeout=10).status_code == 200 for _ in range(20))
