"""Per-client limits on the certificate check and on login attempts (gateway/web/ratelimit.py)."""
from __future__ import annotations

import re

import pytest
import requests

from gateway.web.ratelimit import RateLimiter, client_of
from gateway.web.service import WebService
from shared.catalogue import component
from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.integration


def test_the_window_slides_and_clients_are_counted_apart():
    limiter = RateLimiter(limit=2, window_seconds=60)
    assert limiter.hit("a", now=0) == 0 and limiter.hit("a", now=1) == 0
    assert limiter.hit("a", now=2) == pytest.approx(58)         # third in the minute: wait for the first to age
    assert limiter.hit("b", now=2) == 0                          # another client is not affected
    assert limiter.hit("a", now=60.5) == 0                       # the first hit left the window
    assert RateLimiter(limit=0).hit("a") == 0                    # 0 switches the limit off


def test_idle_clients_are_forgotten_so_memory_stays_bounded():
    limiter = RateLimiter(limit=1, window_seconds=10, max_clients=4)
    for n in range(4):
        limiter.hit(f"c{n}", now=0)
    limiter.hit("late", now=100)
    assert set(limiter._hits) == {"late"}


def test_the_forwarded_client_counts_only_when_trusted():
    class Request:
        headers = {"X-Forwarded-For": "203.0.113.7, 10.0.0.2"}
        remote_addr = "10.0.0.2"
    assert client_of(Request, trust_forwarded=True) == "203.0.113.7"
    assert client_of(Request, trust_forwarded=False) == "10.0.0.2"


def test_the_public_check_and_the_login_answer_429_in_chinese_past_the_limit(databases, base_config, runners):
    port = free_port()
    training = component("training")
    runners(base_config(databases.migrated("training")), training.service())
    runners(base_config(databases.migrated("web"), WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", OUTBOX_RELAY=False,
                        PUBLIC_RATE_PER_MINUTE=3, LOGIN_RATE_PER_MINUTE=2), WebService)
    web = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(web + "/health"), message="the web component")

    for _ in range(3):
        page = requests.get(f"{web}/verify?number=BEIJING-2018-9999999", timeout=10)
        assert page.status_code == 200 and "查无此证" in page.text
    refused = requests.get(f"{web}/api/v1/certificates/BEIJING-2018-9999999/verify",
                           headers={"Accept": "text/html"}, timeout=10)
    assert refused.status_code == 429 and "请求过于频繁" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    as_json = requests.get(f"{web}/api/v1/certificates/BEIJING-2018-9999999/verify", timeout=10)
    assert as_json.status_code == 429 and as_json.json()["error"] == "too_many_requests"
    assert requests.get(f"{web}/verify", timeout=10).status_code == 200    # the empty form costs nothing

    http = requests.Session()
    statuses = []
    for _ in range(3):
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{web}/login", timeout=10).text).group(1)
        response = http.post(f"{web}/login", data={"csrf_token": token, "username": "x", "password": "y"},
                             timeout=10)
        statuses.append(response.status_code)
    assert statuses == [401, 401, 429]
    assert "请求过于频繁" in response.text


def _answers(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
