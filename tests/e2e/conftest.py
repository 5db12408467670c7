"""The whole stack in this process: registration + gateway on a real broker, real DBs, real HTTP."""
from __future__ import annotations

import uuid

import pytest
import requests

from gateway.service import GatewayService
from shared.catalogue import SERVICES
from tests.conftest import AGENCY, DATABASES, INDEX_KEY, PII_KEY, Databases, free_port, wait_for


class Api:
    """A tiny HTTP client: every call returns (status, parsed JSON)."""

    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.token = token
        self.session = requests.Session()

    def as_(self, token):
        return Api(self.base, token)

    def call(self, method, path, body=None, raw: bytes | None = None, params=None, headers=None):
        hdrs = {"Content-Type": "application/json"}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        data = raw if raw is not None else (None if body is None else requests.compat.json.dumps(body))
        response = self.session.request(method, self.base + path, data=data, params=params, headers=hdrs, timeout=30)
        try:
            payload = response.json()
        except ValueError:
            payload = response.text
        return response.status_code, payload

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def token_for(self, role, **binding) -> str:
        status, body = self.post("/api/v1/tokens", {"role": role, **binding})
        assert status == 201, body
        return body["token"]


class Stack:
    """Every service of the catalogue plus the gateway, each with its own fresh database."""

    def __init__(self, amqp_uri, kind, tmp_path_factory):
        from nameko.runners import ServiceRunner
        self.kind = kind
        self.dbs = Databases(kind, tmp_path_factory.mktemp(f"stack-{kind}"))
        self.bootstrap = "boot-" + uuid.uuid4().hex
        self.port = free_port()
        common = {"AMQP_URI": amqp_uri, "AGENCY_ID": AGENCY, "PII_KEYS": PII_KEY, "PII_INDEX_KEY": INDEX_KEY,
                  "serializer": "json", "max_workers": 10, "OUTBOX_POLL_SECONDS": 0.2,
                  # stacks of the e2e and browser suites run side by side on one PostgreSQL
                  "DB_POOL_SIZE": 4,
                  "EVENT_RETRY_DELAYS_MS": "100,200",
                  "FILE_STORE": str(self.dbs.tmp_path / "files"), "RPC_TIMEOUT_SECONDS": 3,
                  "CALENDAR_DIR": str(self.dbs.tmp_path / "calendar"),
                  "HEALTH_TIMEOUT_SECONDS": 1, "PUBLIC_BASE_URL": "http://127.0.0.1:%d" % self.port,
                  # the tests share one token and one address; test_rate_limits.py runs its own limited gateway
                  "RATE_LIMIT_ENABLED": False,
                  # a token changed behind the gateway's back is seen within this (tests poll for it)
                  "TOKEN_CACHE_SECONDS": 1,
                  # webhooks: receivers in these tests listen on loopback; short retries
                  "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "WEBHOOK_RETRY_SCHEDULE_SECONDS": "0,0.2,0.4",
                  "WEBHOOK_POLL_SECONDS": 0.05, "WEBHOOK_TIMEOUT_SECONDS": 2}

        self.configs = {c.name: dict(common, DB_URI=self.dbs.migrated(c.name)) for c in SERVICES}
        self.gateway_config = dict(common, DB_URI=self.dbs.migrated("gateway"), BOOTSTRAP_TOKEN=self.bootstrap,
                                   WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}")
        self.runners = {}
        for c in SERVICES:
            self.runners[c.name] = ServiceRunner(self.configs[c.name])
            self.runners[c.name].add_service(c.service())
        self.runners["gateway"] = ServiceRunner(self.gateway_config)
        self.runners["gateway"].add_service(GatewayService)
        for runner in self.runners.values():
            runner.start()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = Api(self.base, self.bootstrap)
        self.anonymous = Api(self.base)
        wait_for(lambda: self.anonymous.get("/health")[1].get("status") == "ok", message="a healthy stack")

    @property
    def registration_config(self):
        return self.configs["registration"]

    @property
    def registration(self):
        return self.runners["registration"]

    def stop(self):
        for runner in reversed(list(self.runners.values())):
            try:
                runner.kill()
            except Exception:  # already stopped by a test
                pass
        self.dbs.drop_all()


@pytest.fixture(scope="module", params=DATABASES)
def stack(request, module_amqp_uri, tmp_path_factory):
    s = Stack(module_amqp_uri, request.param, tmp_path_factory)
    yield s
    s.stop()


@pytest.fixture
def admin(stack) -> Api:
    return stack.admin


@pytest.fixture
def code():
    """A fresh cycle code per test: tests share a stack, not their data."""
    return "T" + uuid.uuid4().hex[:8]
