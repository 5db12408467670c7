"""Side by side: this checkout's request path against an earlier revision's, on one machine at once.

    python -m tests.bench.compare --base REV [--blocks 8] [--database sqlite|postgresql]

On a shared machine the speed can change by more than a change saves, between two runs
minutes apart. This bench runs both versions at the same time instead: a git worktree of
``REV`` and this checkout each get their own stack (``wsli up``, SQLite or PostgreSQL, a private vhost;
each stack's processes import their own version's code). Every client then sends its
requests to the two stacks in turn (which one first alternates from block to block), so a
slow moment of the machine falls on both, and each stack's CPU is read over the same window.
Per block and stack: 300 authenticated GETs (c=1), 150 registration POSTs (c=8) and 100
dashboards (c=1); CPU per request from ``/proc/<pid>/stat`` as in ``tests.bench.gateway``;
the events of the block's POSTs, outbox ``created_at`` to the bench consumer's commit.
The table gives each figure's median over the blocks and the ratio of the medians; the
worktree is removed at the end. Results go to docs/benchmarks.md (this bench's section).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from tests.bench import sections
from tests.bench import gateway as gw
from tests.bench.registration import REPO_ROOT, BenchError, machine, quietly


def marks(database: str) -> tuple[str, str]:
    """Each database's comparison keeps a section of its own."""
    name = "compare" if database == "sqlite" else f"compare-{database}"
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


DATABASE_LABEL = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
FIGURES = {  # key: (label, unit)
    "get_p50": ("GET p50 (c=1)", "ms"),
    "get_gateway": ("gateway CPU per GET", "ms"),
    "get_registration": ("registration CPU per GET", "ms"),
    "post_gateway": ("gateway CPU per POST", "ms"),
    "post_registration": ("registration CPU per POST", "ms"),
    "dashboard_p50": ("dashboard p50 (c=1)", "ms"),
    "dashboard_cpu": ("dashboard CPU, all stack processes", "ms"),
    "event_p50": ("event created → consumed p50", "ms"),
    "event_p99": ("event created → consumed p99", "ms"),
}


def worktree(stack: ExitStack, rev: str) -> Path:
    parent = Path(tempfile.mkdtemp(prefix="wsli-bench-compare-"))
    stack.callback(quietly, f"remove {parent}", shutil.rmtree, parent, ignore_errors=True)  # after the worktree
    path = parent / "base"
    done = subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"cannot check out {rev}: {done.stderr.strip()}")
    stack.callback(quietly, f"remove the worktree {path}", subprocess.run,
                   ["git", "worktree", "remove", "--force", str(path)], cwd=REPO_ROOT, capture_output=True)
    return path


def start(stack: ExitStack, code: Path, database: str):
    """A stack whose processes import ``code``'s packages (PYTHONPATH reaches every child)."""
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(code)
    try:
        world = gw.start_world(database, stack)
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous
    return world, gw.set_up(world, 8), gw.Meter(world.pids())


def alternating(stacks: dict, concurrency: int, count: int, make_one, warm: int) -> dict[str, dict]:
    """``count`` requests to each stack, every client sending them in turn (base, this, base, ...), so
    both stacks see the same moments of the machine; CPU of each stack's processes over the same window."""
    ones = {name: make_one(world, ctx) for name, (world, ctx, _) in stacks.items()}
    names = list(stacks)
    gw.run_clients(concurrency, warm * len(names), lambda state, i: ones[names[i % len(names)]](state.setdefault(
        names[i % len(names)], {}), i // len(names)))
    latencies: dict[str, list[float]] = {name: [] for name in names}
    errors: list[str] = []

    def one(state, i):
        name = names[i % len(names)]
        t0 = time.perf_counter()
        problem = ones[name](state.setdefault(name, {}), i // len(names))
        if problem:
            errors.append(f"{name}: {problem}")
        else:
            latencies[name].append(time.perf_counter() - t0)
        return problem

    before = {name: meter.snapshot() for name, (_, _, meter) in stacks.items()}
    gw.run_clients(concurrency, count * len(names), one)
    after = {name: meter.snapshot() for name, (_, _, meter) in stacks.items()}
    if errors:
        raise BenchError(f"{len(errors)} errors, first: {errors[0]}")
    return {name: {"p50": gw.percentile(latencies[name], 50) * 1000,
                   "cpu": {k: (after[name][k] - before[name][k]) / count * 1000 for k in after[name]}}
            for name in names}


def block(stacks: dict, n: int) -> dict[str, dict[str, float]]:
    def get(world, ctx):
        return gw.http_get(f"{world.base_url}/api/v1/cycles/{ctx['open_cycle']}",
                           {"Authorization": f"Bearer {ctx['operator']}"})

    def post(world, ctx):
        return gw.post_json(f"{world.base_url}/api/v1/candidates", ctx["unit_tokens"],
                            gw.forms_for(ctx["open_cycle"], 150, 1000 * n))

    def dashboard(world, ctx):
        return gw.http_get(f"{world.base_url}/api/v1/dashboard?cycle=2022&stage=basic&year={ctx['year']}",
                           {"Authorization": f"Bearer {ctx['operator']}"})

    gets = alternating(stacks, 1, 300, get, warm=10)
    since = {name: gw.outbox_high_water(world) for name, (world, _, _) in stacks.items()}
    posts = alternating(stacks, 8, 150, post, warm=0)
    events = {name: gw.event_latencies(world, since[name]) for name, (world, _, _) in stacks.items()}
    for name, (_, missing) in events.items():
        if missing:
            raise BenchError(f"{name}: {missing} events of the block's POSTs never reached the consumer")
    dashboards = alternating(stacks, 1, 100, dashboard, warm=5)
    print(f"  block {n + 1}: GET p50 " + ", ".join(f"{k} {v['p50']:.2f} ms" for k, v in gets.items()), flush=True)
    return {name: {"get_p50": gets[name]["p50"], "get_gateway": gets[name]["cpu"]["gateway"],
                   "get_registration": gets[name]["cpu"]["registration"],
                   "post_gateway": posts[name]["cpu"]["gateway"], "post_registration": posts[name]["cpu"]["registration"],
                   "dashboard_p50": dashboards[name]["p50"], "dashboard_cpu": sum(dashboards[name]["cpu"].values()),
                   "events": events[name][0]}
            for name in stacks}


def run(args) -> tuple[dict, dict]:
    results: dict[str, dict[str, list[float]]] = {"base": {k: [] for k in FIGURES}, "this": {k: [] for k in FIGURES}}
    pooled: dict[str, list[float]] = {"base": [], "this": []}
    with ExitStack() as stack:
        stacks = {"base": start(stack, worktree(stack, args.base), args.database),
                  "this": start(stack, REPO_ROOT, args.database)}
        for n in range(args.blocks):
            # which stack a client calls first alternates too
            order = stacks if n % 2 == 0 else dict(reversed(list(stacks.items())))
            for name, figures in block(order, n).items():
                events = figures.pop("events")
                pooled[name] += events
                figures["event_p50"], figures["event_p99"] = gw.percentile(events, 50), gw.percentile(events, 99)
                for key, value in figures.items():
                    results[name][key].append(value)
    medians = {name: {k: statistics.median(v) for k, v in figures.items()} for name, figures in results.items()}
    for name, events in pooled.items():  # a block's p99 is nearly its slowest event: the blocks' events pooled
        medians[name]["event_p50"], medians[name]["event_p99"] = gw.percentile(events, 50), gw.percentile(events, 99)
    return medians, results


def report(args, medians: dict, results: dict, started: datetime, head: str) -> str:
    info = machine()
    start_mark, end_mark = marks(args.database)
    lines = [
        start_mark,
        f"## Side by side ({DATABASE_LABEL[args.database]}): this checkout against an earlier revision",
        "",
        f"- **Date:** {started.astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- **Machine:** {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM; Python {info['python']}",
        f"- **Command:** `.venv/bin/python -m tests.bench.compare --base {args.base} --blocks {args.blocks} "
        f"--database {args.database}`",
        f"- **Compared:** `{args.base}` (base) and `{head}` (this), each on its own stack ({DATABASE_LABEL[args.database]}, shipped "
        "configs), both running at once; in each block 300 GETs (c=1), 150 POSTs (c=8) and 100 dashboards (c=1) per "
        "stack, every client calling the two stacks in turn, so both share the machine's every moment. Figures "
        "are medians over the blocks; CPU is utime + stime per request of the named processes over the same "
        "window for both. Event latency: the outbox row's `created_at` (inside the registering transaction) to "
        "the bench consumer's inbox commit, over the events of all blocks' POSTs.",
        "",
        "| per request | base | this | this ÷ base |",
        "|---|---:|---:|---:|",
    ]
    for key, (label, unit) in FIGURES.items():
        base, this = medians["base"][key], medians["this"][key]
        lines.append(f"| {label} | {base:.2f} {unit} | {this:.2f} {unit} | {this / base:.2f} |")
    lines += ["", "Per block (this ÷ base, in block order): " + "; ".join(
        f"{FIGURES[k][0]} " + " ".join(f"{t / b:.2f}" for b, t in zip(results["base"][k], results["this"][k]))
        for k in ("get_gateway", "get_registration", "post_registration", "event_p99")) + ".", end_mark]
    return "\n".join(lines)


def write_doc(text: str, database: str) -> None:
    sections.write_section(*marks(database), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="the revision to compare this checkout with (e.g. a commit)")
    p.add_argument("--blocks", type=int, default=8, help="blocks of requests per version (default 8, 2 to 20)")
    p.add_argument("--database", choices=sorted(DATABASE_LABEL), default="sqlite",
                   help="what both stacks store their data in (default sqlite)")
    args = p.parse_args(argv)
    if not 2 <= args.blocks <= 20:
        p.error("--blocks must be between 2 and 20")
    import shared  # noqa: F401  (warning filters)
    started = datetime.now().astimezone()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                          text=True).stdout.strip() or "this checkout"
    try:
        medians, results = run(args)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    text = report(args, medians, results, started, head)
    print("\n" + text)
    write_doc(text, args.database)
    print("written to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
