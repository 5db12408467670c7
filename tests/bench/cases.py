"""Cases: the format check of a realistic report, and the scoring of a national campaign.

    python -m tests.bench.cases [--checks 30] [--cases 2000] [--experts-per-case 3] [--no-write]

1. Format check: ``report.check`` (every rule of 附件二: parse the .docx, count 字数, find
   the sections and heading levels, read each photo's density and each inline picture's
   pixels ÷ displayed size, extract the PDF's text and compare it) on one realistic
   submission: a .docx of ≥ 10 A4 pages (about 9,300 字 plus four inline pictures), its PDF
   (built from the same text, 28 characters a line, 30 lines a page), four 2400×1600 photos
   at 300 dpi. Run N times; p50 and p99 of the wall time.
2. Campaign scoring: C cases × E experts from a pool of 60 (balanced, conflict-free
   assignment by ``domain.assign``), random marks; timed: every expert's weighted total
   (exact Decimal), the per-expert z-score normalisation, disagreement flags, ranking with
   the tie-break and the proposed levels (``review.results``). Best and median of 5.

Results are printed and written to docs/benchmarks.md (this bench's section only).
``make bench-cases`` runs it; ``make test`` does not.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from services.cases import domain, report, review
from services.cases.schemas import CampaignIn
from tests.cases_support import build_docx, build_pdf, chinese, report_paragraphs
from tests.bench import sections

START_MARK, END_MARK = "<!-- bench:cases:start -->", "<!-- bench:cases:end -->"


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def camera_photo(size, seed) -> bytes:
    """A photo-like JPEG (noise over a gradient compresses like a real picture, not like a flat colour)."""
    import io

    from PIL import Image
    noise = Image.effect_noise(size, 40 + seed).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    buf = io.BytesIO()
    Image.blend(noise, gradient, 0.5).save(buf, format="JPEG", quality=90, dpi=(300, 300))
    return buf.getvalue()


def realistic_submission() -> tuple[report.Submission, dict]:
    paragraphs = report_paragraphs(profile=380, background=1200, practices=6600, results=1400)
    # more sub-sections, as real reports have
    extra = [("（三）数字化平台赋能", None), (chinese(900, 5), None), ("（四）专项服务攻坚", None), (chinese(900, 9), None)]
    at = next(i for i, (t, _) in enumerate(paragraphs) if t.startswith("三、"))
    paragraphs = paragraphs[:at] + extra + paragraphs[at:]
    pictures = [(camera_photo((1800, 1200), i), 4.5) for i in range(4)]
    docx = build_docx(paragraphs, images=pictures)
    pdf = build_pdf(paragraphs, per_line=28)
    photos = [(f"现场照片{i}", camera_photo((2400, 1600), 10 + i)) for i in range(4)]
    sub = report.Submission(docx=docx, pdf=pdf, photos=photos, organisation_names=["北京安全科技有限公司"],
                            person_names=["张三"], summary=chinese(700))
    import io

    from pdfminer.high_level import extract_pages
    pages = sum(1 for _ in extract_pages(io.BytesIO(pdf)))
    chars = report.count_chars("\n".join(t for t, _ in paragraphs))
    return sub, {"docx_kb": len(docx) // 1024, "pdf_kb": len(pdf) // 1024, "pdf_pages": pages, "chars": chars,
                 "photos_kb": sum(len(d) for _, d in photos) // 1024,
                 # 小三号 (15 pt) at 26 pt lines on A4: about 28 × 25 = 700 字 a page; a picture ≈ 0.4 page
                 "docx_pages": round(chars / 700 + 4 * 0.4, 1)}


def bench_check(n: int) -> dict:
    sub, facts = realistic_submission()
    findings = report.check(sub)
    failing = [f.rule for f in findings if f.outcome != report.PASS]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        report.check(sub)
        times.append(time.perf_counter() - t0)
    return dict(facts, runs=n, p50=percentile(times, 50), p99=percentile(times, 99), failing=failing)


def bench_campaign(cases: int, per_case: int, seed: int = 2023) -> dict:
    campaign = domain.campaign_from_data(CampaignIn().load(domain.published_campaign(2023)))
    rng = random.Random(seed)
    experts = [domain.ExpertProfile(f"e{i:03d}", f"EMP{i % 40}", frozenset(), frozenset()) for i in range(60)]
    parties = [domain.CaseParty(i, frozenset({f"EMP{i % 50}"}), None, None) for i in range(1, cases + 1)]
    t0 = time.perf_counter()
    plan = domain.assign(parties, experts, per_case, {}, {})
    assign_s = time.perf_counter() - t0
    start = datetime(2023, 9, 1, tzinfo=timezone.utc)
    entries = [review.Entry(i, start + timedelta(minutes=i), per_case) for i in range(1, cases + 1)]
    bias = {e.code: rng.randint(-8, 8) for e in experts}
    sheets = []
    for case_id, codes in plan.items():
        quality = rng.randint(55, 90)
        for code in codes:
            marks = {p: Decimal(max(0, min(100, quality + bias[code] + rng.randint(-6, 6)))) for p in domain.PRINCIPLES}
            sheets.append((case_id, code, marks))
    runs = []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        scores = [review.Score(c, code, review.weighted_total(m, campaign.weights), m["effectiveness"])
                  for c, code, m in sheets]
        results = review.results(campaign, entries, scores)
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    ranked = sum(1 for r in results if r.rank)
    flagged = sum(1 for r in results if r.disagreement)
    best = min(runs)
    return {"cases": cases, "per_case": per_case, "sheets": len(sheets), "assign_s": assign_s,
            "best_s": best[0], "median_s": statistics.median(r[0] for r in runs), "cpu_s": best[1],
            "ranked": ranked, "flagged": flagged,
            "levels": {lv: sum(1 for r in results if r.proposed_level == lv) for lv in ("best", "excellent")}}


def machine() -> str:
    try:
        mem = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1]) / 2**20
        memory = f"{mem:.1f} GiB RAM"
    except (OSError, StopIteration):
        memory = "? RAM"
    import docx  # noqa: F401
    from importlib.metadata import version
    return (f"{os.cpu_count()} CPUs, {memory}; Python {platform.python_version()}, python-docx {version('python-docx')}, "
            f"pdfminer.six {version('pdfminer.six')}, Pillow {version('pillow')}")


def section(args, check, camp, started, load) -> str:
    return "\n".join([
        START_MARK,
        "## Cases: report format check and campaign scoring",
        "",
        f"- **Date:** {started:%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** {machine()}; 1-minute load average {load:.1f} at the start (the CPUs are shared with other "
        "work: wall times are upper bounds)",
        f"- **Command:** `.venv/bin/python -m tests.bench.cases --checks {args.checks} --cases {args.cases} "
        f"--experts-per-case {args.experts_per_case}` (`make bench-cases` runs it with the defaults)",
        f"- **Format check:** `report.check` on one submission: .docx {check['docx_kb']} KiB ({check['chars']:,} 字, "
        f"four inline pictures; ≈{check['docx_pages']} A4 pages at the seed's 小三号 / 26 pt), its PDF "
        f"{check['pdf_kb']} KiB ({check['pdf_pages']} pages), four 2400×1600 photos at 300 dpi "
        f"({check['photos_kb']:,} KiB); every rule of 附件二 "
        f"incl. the PDF text comparison; {check['runs']} runs. Rules not passing on this fixture: "
        f"{', '.join(check['failing']) or 'none'}.",
        "",
        "| runs | p50 s | p99 s |",
        "|---:|---:|---:|",
        f"| {check['runs']} | {check['p50']:.3f} | {check['p99']:.3f} |",
        "",
        f"- **Campaign scoring:** {camp['cases']} cases × {camp['per_case']} experts ({camp['sheets']} sheets, 60 "
        "experts, each with a random bias) in memory: weighted totals in exact Decimal, per-expert z-scores, "
        "disagreement flags, ranking with the tie-break, proposed levels (2023 campaign file); best and median of 5. "
        f"The balanced conflict-free assignment of the same cases took {camp['assign_s']:.3f} s (not in the figure).",
        "",
        "| cases | sheets | ranked | flagged | best | excellent | best s | median s | CPU s (best) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {camp['cases']} | {camp['sheets']} | {camp['ranked']} | {camp['flagged']} | {camp['levels']['best']} | "
        f"{camp['levels']['excellent']} | {camp['best_s']:.3f} | {camp['median_s']:.3f} | {camp['cpu_s']:.3f} |",
        END_MARK,
    ])


def write_doc(text: str) -> None:
    sections.write_section(START_MARK, END_MARK, text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=30)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--experts-per-case", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    started = datetime.now(timezone.utc)
    load = os.getloadavg()[0]
    check = bench_check(args.checks)
    print(f"format check: p50 {check['p50']:.3f} s, p99 {check['p99']:.3f} s ({check['pdf_pages']} PDF pages, "
          f"{check['chars']} 字); not passing: {check['failing']}")
    camp = bench_campaign(args.cases, args.experts_per_case)
    print(f"campaign: {camp['cases']}×{camp['per_case']}: best {camp['best_s']:.3f} s, median {camp['median_s']:.3f} s")
    text = section(args, check, camp, started, load)
    if not args.no_write:
        write_doc(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
