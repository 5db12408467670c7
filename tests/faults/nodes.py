"""Throwaway infrastructure for fault tests: our own RabbitMQ node, our own PostgreSQL
cluster, and the components run as real ``nameko run`` processes.

Each node gets its own name, ports and directories under the test's tmp dir, so
stopping it never touches the shared broker (127.0.0.1:5672) or PostgreSQL (5432).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from shared.config import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def poll(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def _rabbit_bin(name: str) -> str:
    # Run the node as the current user with its own HOME (own Erlang cookie); the
    # Debian wrapper in /usr/sbin would switch to the shared node's user and HOME.
    direct = Path("/usr/lib/rabbitmq/bin") / name
    return str(direct) if direct.exists() else (shutil.which(name) or name)


class RabbitNode:
    """A RabbitMQ node of our own, stopped and started like a real broker restart."""

    def __init__(self, base: Path, plugins: tuple[str, ...] = ()):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.name = f"wsli-fault-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        conf = f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        # the management API (when asked for) on a port of its own, never the shared broker's 15672
        self.management_port = free_port() if "rabbitmq_management" in plugins else None
        if self.management_port:
            conf += f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
        (self.base / "rabbitmq.conf").write_text(conf)
        (self.base / "enabled_plugins").write_text("[" + ",".join(plugins) + "].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        self.env = dict(
            os.environ, HOME=str(self.base), RABBITMQ_NODENAME=self.name, RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port), RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"), RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_PID_FILE=str(self.base / "node.pid"), ERL_EPMD_ADDRESS="127.0.0.1",
        )

    @property
    def amqp_uri(self) -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.port}//"

    def vhost_uri(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def _ctl(self, *args, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([_rabbit_bin("rabbitmqctl"), "-n", self.name, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, timeout: float = 60):
        subprocess.run([_rabbit_bin("rabbitmq-server"), "-detached"], env=self.env, check=True,
                       capture_output=True, timeout=30)
        poll(lambda: port_open(self.port), timeout, 0.2, f"RabbitMQ node {self.name} on port {self.port}")

    def stop(self):
        result = self._ctl("stop", str(self.base / "node.pid"))
        if result.returncode != 0:
            raise RuntimeError(f"could not stop {self.name}: {result.stderr.strip()}")
        poll(lambda: not port_open(self.port), 30, 0.1, f"RabbitMQ node {self.name} to close its port")

    def discard(self):
        """Throw the node away without the CLI's orderly stop (seconds of Erlang start-up on a busy machine)."""
        pidfile = self.base / "node.pid"
        if pidfile.exists() and pidfile.read_text().strip().isdigit():
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except ProcessLookupError:
                pass
            poll(lambda: not port_open(self.port), 30, 0.1, f"RabbitMQ node {self.name} to go away")
        shutil.rmtree(self.base, ignore_errors=True)

    def destroy(self):
        if port_open(self.port):
            self._ctl("stop", timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


class PostgresCluster:
    """A PostgreSQL cluster of our own (initdb + pg_ctl as the ``postgres`` user)."""

    def __init__(self):
        import tempfile
        # Not under pytest's tmp dir: pytest (of any session on this machine) may reset that
        # tree to 0700, and the postgres user must keep reaching its data directory.
        self.base = Path(tempfile.mkdtemp(prefix="wsli-fault-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = bins[-1]
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
            os.chmod(self.base, 0o700)

    def _run(self, *args, timeout: float = 120):
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stdout}{done.stderr}"
                               f"\n{self.log_tail()}")
        return done

    def log_tail(self, lines: int = 20) -> str:
        path = self.base / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def init(self):
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as fh:
            fh.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                     f"unix_socket_directories = '{self.base}'\nfsync = off\nmax_connections = 100\n")

    def start(self):
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate"):
        # immediate: every session is cut at once and the next start recovers, as after a crash
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def admin_uri(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2
        conn = psycopg2.connect(self.admin_uri())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.admin_uri(name)

    def destroy(self):
        try:
            self.stop("fast")
        except Exception:  # already stopped
            pass
        shutil.rmtree(self.base, ignore_errors=True)


class ProcessStack:
    """Components as separate ``nameko run`` processes, like ``wsli up`` runs them."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.configs: dict[str, dict] = {}

    def start(self, component, config: dict):
        config = dict(config)
        config.setdefault("LOGGING", {
            "version": 1, "disable_existing_loggers": False,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "root": {"level": "INFO", "handlers": ["console"]},
        })
        path = self.base / f"{component.name}.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        nameko = str(Path(sys.executable).with_name("nameko"))
        log = open(self.base / f"{component.name}.log", "ab")
        self.procs[component.name] = subprocess.Popen(
            [nameko, "run", "--config", str(path), component.service_path],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.configs[component.name] = config

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.base / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
