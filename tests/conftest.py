"""Fixtures shared by the suite: a private RabbitMQ vhost, throwaway databases, service runners.

Database-backed tests run once per backend in ``WSLI_TEST_DATABASES``
(default: sqlite and postgresql); each test gets fresh databases and drops them.
"""
import shared  # noqa: F401  (installs the warning filters before eventlet is imported)
import eventlet

eventlet.monkey_patch()  # nameko 2.14 no longer patches under plain pytest

import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from shared.auth import CONTEXT_KEY, Principal  # noqa: E402
from shared.pii import PiiVault, configure_vault, generate_key  # noqa: E402

AMQP_BASE = os.environ.get("WSLI_TEST_AMQP", "pyamqp://guest:guest@127.0.0.1:5672")
PG_ADMIN = os.environ.get("WSLI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = [d.strip() for d in os.environ.get("WSLI_TEST_DATABASES", "sqlite,postgresql").split(",") if d.strip()]
AGENCY = "beijing"
PII_KEY = generate_key()
INDEX_KEY = "test-index-key"


@pytest.fixture(scope="session", autouse=True)
def _vault():
    configure_vault(PiiVault([PII_KEY], INDEX_KEY))


class VhostPool:
    """Private RabbitMQ vhosts, made and removed in batches (one rabbitmqctl call per batch).

    A vhost per test keeps durable queues left by one test (a service's event
    queues keep collecting after it stops) from feeding the next test.
    """

    BATCH = 40

    def __init__(self, ctl: str):
        self.ctl = ctl
        self.prefix = f"wsli-t-{uuid.uuid4().hex[:8]}"
        self.free: list[str] = []
        self.made: list[str] = []

    def take(self) -> str:
        if not self.free:
            self._make_batch()
        return self.free.pop(0)

    def _make_batch(self):
        import json
        import tempfile
        names = [f"{self.prefix}-{len(self.made) + i:04d}" for i in range(self.BATCH)]
        definitions = {"vhosts": [{"name": n} for n in names],
                       "permissions": [{"user": "guest", "vhost": n, "configure": ".*", "write": ".*", "read": ".*"}
                                       for n in names]}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(definitions, fh)
        os.chmod(fh.name, 0o644)  # the broker node (another user) reads the file itself
        try:
            # the CLI's own Erlang node sometimes fails to start when many CLIs run at once
            # ("Distribution failed ... nodistribution", exit 78): a fresh CLI usually succeeds
            for attempt in range(6):
                done = subprocess.run([self.ctl, "-q", "import_definitions", fh.name], capture_output=True)
                if done.returncode == 0 or b"Distribution failed" not in done.stdout + done.stderr:
                    break
                time.sleep(0.5 * (attempt + 1))
            done.check_returncode()
        finally:
            os.unlink(fh.name)
        self.made.extend(names)
        self.free.extend(names)

    def remove_all(self):
        if not self.made:
            return
        names = ", ".join(f'<<"{n}">>' for n in self.made)
        subprocess.run([self.ctl, "-q", "eval",
                        f'lists:foreach(fun(V) -> rabbit_vhost:delete(V, <<"wsli-tests">>) end, [{names}]).'],
                       check=False, capture_output=True)


@pytest.fixture(scope="session")
def vhost_pool():
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        yield None
        return
    pool = VhostPool(ctl)
    try:
        yield pool
    finally:
        pool.remove_all()


def _uri_from(pool) -> str:
    if pool is None:  # no local rabbitmqctl: share the default vhost
        return AMQP_BASE + "//"
    return f"{AMQP_BASE}/{quote(pool.take(), safe='')}"


@pytest.fixture
def amqp_uri(vhost_pool):
    """A fresh vhost for this test."""
    return _uri_from(vhost_pool)


@pytest.fixture(scope="module")
def module_amqp_uri(vhost_pool):
    """A fresh vhost shared by one module's tests (for a stack started once per module)."""
    return _uri_from(vhost_pool)


@pytest.fixture(params=DATABASES)
def db_kind(request):
    return request.param


class Databases:
    """Creates throwaway databases of one backend and drops them afterwards."""

    def __init__(self, kind, tmp_path):
        self.kind = kind
        self.tmp_path = tmp_path
        self.created = []

    def new(self, label: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.tmp_path}/{label}-{uuid.uuid4().hex[:6]}.db"
        import psycopg2
        name = f"wsli_t_{label}_{uuid.uuid4().hex[:10]}"
        conn = psycopg2.connect(PG_ADMIN)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        self.created.append(name)
        return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)

    def migrated(self, component_name: str) -> str:
        from shared.catalogue import component
        from shared.migrate import upgrade
        uri = self.new(component_name)
        upgrade(component(component_name), uri)
        return uri

    def drop_all(self):
        if not self.created:
            return
        import psycopg2
        conn = psycopg2.connect(PG_ADMIN)
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in self.created:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def databases(db_kind, tmp_path):
    dbs = Databases(db_kind, tmp_path)
    yield dbs
    dbs.drop_all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def base_config(amqp_uri, tmp_path):
    def make(db_uri, **extra):
        config = {
            "AMQP_URI": amqp_uri, "AGENCY_ID": AGENCY, "DB_URI": db_uri,
            "PII_KEYS": PII_KEY, "PII_INDEX_KEY": INDEX_KEY, "serializer": "json", "max_workers": 10,
            "OUTBOX_POLL_SECONDS": 0.2, "EVENT_RETRY_DELAYS_MS": "100,200",
            "DB_POOL_SIZE": 4,  # the suites run side by side on one PostgreSQL
            "FILE_STORE": str(tmp_path / "files"), "RPC_TIMEOUT_SECONDS": 10, "HEALTH_TIMEOUT_SECONDS": 1,
        }
        config.update(extra)
        return config
    return make


@pytest.fixture
def runners():
    """Start nameko services in this process; every one is killed at teardown."""
    from nameko.runners import ServiceRunner

    started = []

    def start(config, *service_classes):
        runner = ServiceRunner(config)
        for cls in service_classes:
            runner.add_service(cls)
        runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        try:
            runner.kill()
        except Exception:  # already dead: nothing to clean
            pass


def rpc(config, principal: Principal | None = None, timeout: float = 10):
    """A standalone RPC proxy carrying ``principal`` the way the gateway does."""
    from nameko.standalone.rpc import ClusterRpcProxy
    context = {CONTEXT_KEY: principal.to_context()} if principal else None
    return ClusterRpcProxy(config, context_data=context, timeout=timeout)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


ADMIN = Principal(role="admin", agency=AGENCY, name="test-admin")
OPERATOR = Principal(role="operator", agency=AGENCY, name="test-operator")
