"""``wsli up``'s supervisor: keeps every component it started running.

A detached process (``python -m shared.supervisor``) starts each component with
``nameko run``, and when one exits starts it again after a back-off that doubles
from 1 s to 60 s (reset once a run lasted a minute), so a crash loop does not
spin. It writes each child's pid to ``var/run/<name>.pid`` and its own state to
``var/run/supervisor.json`` (pid, restarts, last exit), which ``wsli status``
shows. SIGTERM stops the children, then the supervisor. Compose and Kubernetes
have their own restart policies; this is for the laptop stack only.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0
STABLE_AFTER = 60.0   # a run this long resets the back-off
TICK = 0.5


class Child:
    def __init__(self, name: str, argv: list[str], cwd: Path, log_path: Path, pidfile: Path):
        self.name, self.argv, self.cwd, self.log_path, self.pidfile = name, argv, cwd, log_path, pidfile
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.backoff = MIN_BACKOFF
        self.next_start = 0.0
        self.last_exit: int | None = None
        self.last_exit_at: float | None = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.started_at = time.time()
        self.pidfile.write_text(str(self.proc.pid))

    def check(self, now: float) -> None:
        if self.proc is not None:
            code = self.proc.poll()
            if code is None:
                if now - self.started_at > STABLE_AFTER:
                    self.backoff = MIN_BACKOFF
                return
            self.last_exit, self.last_exit_at = code, now
            self.proc = None
            self.next_start = now + self.backoff
            _log(f"{self.name} exited with {code}; restarting in {self.backoff:g}s")
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
            return
        if now >= self.next_start:
            self.restarts += 1
            self.start()
            _log(f"{self.name} restarted (pid {self.proc.pid}, restart {self.restarts})")

    def stop(self, deadline: float):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except OSError:  # already gone
            pass

    def state(self) -> dict:
        running = self.proc is not None and self.proc.poll() is None
        return {"pid": self.proc.pid if running else None, "state": "running" if running else "restarting",
                "restarts": self.restarts, "last_exit": self.last_exit, "last_exit_at": self.last_exit_at,
                "next_start_in": None if running else max(0.0, round(self.next_start - time.time(), 1)),
                "up_since": self.started_at if running else None}


def _log(message: str):
    print(time.strftime("%Y-%m-%dT%H:%M:%S"), message, flush=True)


def run(plan: dict) -> int:
    """``plan``: {"run": dir, "logs": dir, "cwd": dir, "children": {name: argv}}."""
    run_dir, logs = Path(plan["run"]), Path(plan["logs"])
    state_file = run_dir / "supervisor.json"
    children = [Child(name, argv, Path(plan["cwd"]), logs / f"{name}.log", run_dir / f"{name}.pid")
                for name, argv in plan["children"].items()]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    for child in children:
        child.start()
        _log(f"started {child.name} (pid {child.proc.pid})")
    while not stopping:
        now = time.time()
        for child in children:
            child.check(now)
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "children": {c.name: c.state() for c in children}}))
        tmp.replace(state_file)
        time.sleep(TICK)
    deadline = time.time() + 15
    for child in children:
        if child.proc is not None and child.proc.poll() is None:
            try:
                os.killpg(child.proc.pid, signal.SIGTERM)
            except OSError:
                pass
    for child in children:
        child.stop(deadline)
        child.pidfile.unlink(missing_ok=True)
    state_file.unlink(missing_ok=True)
    _log("supervisor stopped")
    return 0


def read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / "supervisor.json").read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(run(json.loads(sys.argv[1])))
