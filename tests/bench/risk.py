"""Risk service: the Nanhai-sized import, the year's plan, coverage at scale, the safety file.

    python -m tests.bench.risk [--enterprises 12023] [--coverage 100000] [--samples 300]
                               [--databases sqlite,postgresql]

For each backend: fresh databases (migrated) for risk and the gateway, a private
RabbitMQ vhost, and both services in this process (nameko ServiceRunner, shipped
worker counts), reached over real HTTP.

1. Import: one CSV of N enterprises (Nanhai: 12,023), each row with its policy
   year, uploaded through the gateway; then the same file again (idempotent).
2. Plan: the year's inspection plan (one per policy) generated over the gateway.
3. Coverage: the table is filled up to M enterprises (100,000; the rest inserted
   directly, a tenth of them insured) and the year's coverage report is fetched
   through the gateway 10 times.
4. Safety file: K random insured enterprises; the gateway aggregate
   ``/api/v1/safety-files/<code>`` and, in the same run, the single-service
   ``GET /api/v1/risk/enterprises/<id>``, alternately, one client.

Results are printed and written to docs/benchmarks.md (this bench's section only).
"""
from __future__ import annotations

import shared  # noqa: F401  (warning filters before eventlet)
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import requests  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from stdnum.cn import uscc  # noqa: E402

from tests.bench.training import AGENCY, AMQP_BASE, PG_ADMIN, machine, percentile, rabbitmqctl  # noqa: E402
from tests.bench import training as _training  # noqa: E402
from tests.bench import sections  # noqa: E402

START_MARK = "<!-- bench:risk:start -->"
END_MARK = "<!-- bench:risk:end -->"
YEAR = 2026
INSURERS = ["人保财险南海支公司", "平安财险南海支公司", "太平洋财险南海支公司", "国寿财险南海支公司", "大地财险南海支公司"]
TOWNS = ["桂城街道", "九江镇", "西樵镇", "丹灶镇", "狮山镇", "大沥镇", "里水镇"]
INDUSTRIES = ["建筑施工", "危险化学品", "交通运输", "金属冶炼", "人员密集场所", "餐饮", "商贸零售", "制造业", "仓储物流"]


SAFETY_FILE_PEERS = ("registration", "training", "subsidies")


def code_of(n: int) -> str:
    first17 = f"91440605{n:09d}"[:17]
    return first17 + uscc.calc_check_digit(first17)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    """A vhost and one database per component of one backend; all removed afterwards."""

    def __init__(self, kind: str, tmp: Path):
        self.kind, self.tmp = kind, tmp
        self.vhost = f"wsli-bench-risk-{uuid.uuid4().hex[:8]}"
        self.dbs = {}
        # the services the safety file asks beside risk (their parts are empty here, but answered)
        for name in ("risk", "gateway", *SAFETY_FILE_PEERS):
            db = f"wsli_bench_{name}_{uuid.uuid4().hex[:8]}"
            self.dbs[name] = (db, f"sqlite:///{tmp}/{db}.db" if kind == "sqlite" else
                              make_url(PG_ADMIN).set(database=db).render_as_string(hide_password=False))

    def __enter__(self):
        rabbitmqctl("add_vhost", self.vhost)
        rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        from shared.catalogue import component
        from shared.migrate import upgrade
        for name, (db, uri) in self.dbs.items():
            if self.kind == "postgresql":
                _training.World._pg(f'CREATE DATABASE "{db}"')
            upgrade(component(name), uri)
        return self

    def __exit__(self, *exc):
        import subprocess
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True, timeout=60)
        if self.kind == "postgresql":
            for db, _ in self.dbs.values():
                _training.World._pg(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def config(self, name: str, **extra) -> dict:
        from shared.catalogue import component
        from shared.config import load_config
        config = load_config(component(name).config_path)
        config.update({"AMQP_URI": f"{AMQP_BASE}/{quote(self.vhost, safe='')}", "DB_URI": self.dbs[name][1],
                       "AGENCY_ID": AGENCY, "FILE_STORE": str(self.tmp / "files"),
                       "LOGGING": {"version": 1, "root": {"level": "WARNING"}}, **extra})
        return config


def import_csv(n: int, rng: random.Random) -> bytes:
    header = "统一社会信用代码,企业名称,区,镇街,行业,从业人数,联系电话,经度,纬度,保险机构,保单年度,起保日期,终保日期,参保人数"
    lines = [header]
    for i in range(n):
        staff = rng.randint(3, 300)
        lines.append(f"{code_of(i)},南海企业{i:05d},南海区,{rng.choice(TOWNS)},{rng.choice(INDUSTRIES)},{staff},"
                     f"139{i:08d},{113 + rng.random():.5f},{23 + rng.random():.5f},{rng.choice(INSURERS)},{YEAR},"
                     f"{YEAR}-01-01,{YEAR}-12-31,{staff}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def fill_to(uri: str, total: int, start: int, insurer_ids: list[int], rng: random.Random) -> int:
    """Insert enterprises start..total-1 directly (a tenth insured): the coverage report's table size."""
    from services.risk.domain import tier_of
    from services.risk.models import Enterprise, Policy
    from shared.db import make_engine
    engine = make_engine(uri)
    now = datetime.now(timezone.utc)
    added = 0
    try:
        for lo in range(start, total, 5000):
            hi = min(total, lo + 5000)
            ents = []
            for i in range(lo, hi):
                industry = rng.choice(INDUSTRIES)
                ents.append(dict(agency_id=AGENCY, credit_code=code_of(i), name=f"企业{i:06d}",
                                 district=rng.choice(["禅城区", "顺德区", "三水区", "高明区"]), town=rng.choice(TOWNS),
                                 industry=industry, tier=tier_of(industry), staff_count=rng.randint(1, 500),
                                 created_at=now, updated_at=now))
            with engine.begin() as conn:
                conn.execute(insert(Enterprise), ents)
                ids = [r[0] for r in conn.exec_driver_sql(
                    f"SELECT id FROM enterprises WHERE name >= '企业{lo:06d}' AND name < '企业{hi:06d}'")]
                pols = [dict(agency_id=AGENCY, enterprise_id=eid, insurer_id=rng.choice(insurer_ids), year=YEAR,
                             period_start=datetime(YEAR, 1, 1).date(), period_end=datetime(YEAR, 12, 31).date(),
                             insured_workers=10, sum_insured_fen=50_000_000, rate_bp=10, floating=False,
                             rate_reason="首次投保，适用基准费率", premium_fen=500_000, created_at=now)
                        for eid in ids if rng.random() < 0.1]
                if pols:
                    conn.execute(insert(Policy), pols)
            added += hi - lo
    finally:
        engine.dispose()
    return added


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def run_backend(kind: str, args, tmp: Path) -> dict:
    from nameko.runners import ServiceRunner
    from gateway.service import GatewayService
    from services.risk.service import RiskService
    from shared.catalogue import component
    rng = random.Random(20171010)
    port = free_port()
    bootstrap = "boot-" + uuid.uuid4().hex
    with World(kind, tmp) as world:
        runners = [ServiceRunner(world.config("risk")), ServiceRunner(world.config(
            "gateway", BOOTSTRAP_TOKEN=bootstrap, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", RPC_TIMEOUT_SECONDS=600))]
        runners[0].add_service(RiskService)
        runners[1].add_service(GatewayService)
        for name in SAFETY_FILE_PEERS:
            runners.append(ServiceRunner(world.config(name)))
            runners[-1].add_service(component(name).service())
        for r in runners:
            r.start()
        base, http = f"http://127.0.0.1:{port}", requests.Session()
        http.headers["Authorization"] = f"Bearer {bootstrap}"
        try:
            for _ in range(200):
                try:
                    if http.get(f"{base}/health", timeout=5).status_code in (200, 503):
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            insurer_ids = [http.post(f"{base}/api/v1/risk/insurers", json={"name": n}).json()["id"] for n in INSURERS]
            data = import_csv(args.enterprises, rng)
            up = lambda: http.post(f"{base}/api/v1/risk/enterprise-imports", data=data,  # noqa: E731
                                   params={"filename": "nanhai.csv"}, headers={"Content-Type": "text/csv"},
                                   timeout=900).json()
            first, import_s = timed(up)
            again, reimport_s = timed(up)
            plan, plan_s = timed(lambda: http.post(f"{base}/api/v1/risk/inspection-plans", json={"year": YEAR},
                                                   timeout=900).json())
            filled = fill_to(world.dbs["risk"][1], args.coverage, args.enterprises, insurer_ids, rng)
            cov_times, cov = [], None
            for _ in range(10):
                cov, took = timed(lambda: http.get(f"{base}/api/v1/risk/coverage", params={"year": YEAR},
                                                   timeout=300).json())
                cov_times.append(took)
            sample = rng.sample(range(args.enterprises), args.samples)
            agg, single, errors = [], [], 0
            for i in sample:
                code = code_of(i)
                r, took = timed(lambda: http.get(f"{base}/api/v1/safety-files/{code}", timeout=60))
                errors += r.status_code != 200 or r.json()["missing"] != [] or r.json()["parts"]["risk"]["status"] != "ok"
                agg.append(took * 1000)
                # ids follow the file's row order in a fresh database
                r, took = timed(lambda: http.get(f"{base}/api/v1/risk/enterprises/{i + 1}", timeout=60))
                errors += r.status_code != 200
                single.append(took * 1000)
        finally:
            for r in runners:
                r.kill()
    return {"kind": kind, "import": first, "import_s": import_s, "again": again, "reimport_s": reimport_s,
            "plan": plan, "plan_s": plan_s, "filled": filled, "coverage": cov,
            "cov_p50": percentile(cov_times, 50), "cov_max": max(cov_times),
            "agg_p50": percentile(agg, 50), "agg_p99": percentile(agg, 99),
            "single_p50": percentile(single, 50), "single_p99": percentile(single, 99), "errors": errors}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=12023)
    parser.add_argument("--coverage", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    from shared.pii import PiiVault, configure_vault, generate_key
    configure_vault(PiiVault([generate_key()], "bench-index-key"))
    started = datetime.now(timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix="wsli-bench-risk-"))
    results = []
    try:
        for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
            print(f"[{kind}] running…", flush=True)
            results.append(run_backend(kind, args, tmp))
            print({k: v for k, v in results[-1].items() if k != "coverage"}, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = ["| backend | import s (created / policies / errors) | re-import s (unchanged) | plan s (created) "
            "| coverage over enterprises: p50 s / max s | safety file p50 / p99 ms | single GET p50 / p99 ms | errors |",
            "|---|---|---|---|---|---|---|---:|"]
    for r in results:
        i, a, p, c = r["import"], r["again"], r["plan"], r["coverage"]
        rows.append(f"| {r['kind']} | {r['import_s']:.1f} ({i['created']} / {i['policies']} / {len(i['errors'])}) "
                    f"| {r['reimport_s']:.1f} ({a['unchanged']}) | {r['plan_s']:.2f} ({p['created']}) "
                    f"| {c['enterprises']}: {r['cov_p50']:.3f} / {r['cov_max']:.3f} "
                    f"| {r['agg_p50']:.1f} / {r['agg_p99']:.1f} | {r['single_p50']:.1f} / {r['single_p99']:.1f} "
                    f"| {r['errors']} |")
    command = " ".join([".venv/bin/python", "-m", "tests.bench.risk", *map(shlex.quote, sys.argv[1:])])
    text = "\n".join([
        "## Risk: Nanhai-sized import, the year's plan, coverage, the safety file",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** {machine()}",
        f"- **Command:** `{command}` (`make bench-risk`)",
        f"- **Parameters:** one CSV of {args.enterprises} enterprises, each row with its {YEAR} policy (5 insurers, "
        "each policy crediting the prevention fund and announced by its own `policy_issued`), uploaded through the "
        "gateway, then the same file again; the "
        f"{YEAR} inspection plan; the table then filled to {args.coverage} enterprises (a tenth insured, inserted "
        "directly) and the coverage report fetched 10 times through the gateway; "
        f"{args.samples} random insured enterprises fetched alternately as the safety-file aggregate "
        "(`/api/v1/safety-files/<code>`: four parts fetched concurrently; registration, training and subsidies "
        "answer from empty databases) and as the single-service `GET /api/v1/risk/enterprises/<id>`, one client. "
        "Risk, those three and the gateway run in this process "
        "(nameko ServiceRunner, shipped worker counts) on a private RabbitMQ vhost.",
        "",
        *rows,
    ])
    print(text)
    if not args.no_write:
        sections.write_section(START_MARK, END_MARK, f"{START_MARK}\n{text}\n{END_MARK}")


if __name__ == "__main__":
    main()
