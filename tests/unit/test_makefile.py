"""`make up` on a fresh checkout shows its install progress instead of a minute of silence."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_first_install_shows_progress():
    plan = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), ".venv/.installed-stamp"], capture_output=True,
                          text=True, check=True).stdout.splitlines()
    (packages,) = [line for line in plan if "-r requirements.lock" in line]
    assert "--quiet" not in packages and " -q" not in packages, packages
    said = [line for line in plan if line.startswith("echo ")]
    assert said and plan.index(said[0]) < plan.index(packages), plan
