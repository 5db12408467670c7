"""docs/benchmarks.md: each bench rewrites only its own section, between its start and end markers."""
from __future__ import annotations

import os
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Measurements of the running system on one machine: for spotting regressions and for
sizing, not for comparison with other systems. `make bench` runs them (they start their
own stack and take minutes); `make test` does not. Each benchmark rewrites only its own
section below, between its markers, with the date, the machine and the exact command.
"""


def write_section(start_mark: str, end_mark: str, text: str, doc: Path = DOC) -> None:
    """Replace the section ``start_mark``…``end_mark`` with ``text`` (which carries both marks), or append it."""
    # read right before writing: other benches rewrite their own sections of the same file
    current = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
    if start_mark in current and end_mark in current:
        head, rest = current.split(start_mark, 1)
        _, tail = rest.split(end_mark, 1)
        updated = head + text + tail
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    tmp = doc.with_name(f"{doc.name}.{os.getpid()}.tmp")
    tmp.write_text(updated, encoding="utf-8")
    os.replace(tmp, doc)
