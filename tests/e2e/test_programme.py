"""`wsli demo --programme` against a running stack: 180 candidates through the three stages with the bulk
routes, the cut-offs 150 / 80 / 50, and the HTTP calls it takes (issue 11: 3,061 with single routes)."""
from __future__ import annotations

import argparse
import re

import pytest

from shared import demo, programme

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]   # ~2 min on SQLite, ~4.5 on PostgreSQL on a loaded machine

CALL_BOUND = 300


def test_the_180_candidate_programme_ends_with_150_80_50_in_a_few_hundred_calls(stack, admin, code, capsys):
    args = argparse.Namespace(url=stack.base, token=stack.bootstrap, no_accounts=True, programme=True, cycle=code)
    assert demo.run(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    with capsys.disabled():    # the figures, for the record
        print("\n" + "\n".join(line for line in out.splitlines() if "HTTP" in line or "晋级" in line))
    assert "晋级人数（基础 / 重点 / 金牌）：150 / 80 / 50" in out and "✓ 培养计划完成" in out
    calls, single = map(int, re.search(r"共发出 (\d+) 个 HTTP 请求.*需要 (\d+) 个", out).groups())
    assert 20 < calls < CALL_BOUND, out           # the forms, seals, scores and lectures in bulk
    assert single > 2000, out                      # the same steps with single routes only

    status, final = admin.get(f"/api/v1/scoring/cycles/{code}/stages/final/ranking")
    assert status == 200 and final["status"] == "closed"
    gold = [r for r in final["ranked"] if (r.get("decision") or {}).get("advanced")]
    assert len(gold) == programme.CUTOFFS["final"] == 50
    assert sum(r["lectures"] for r in final["ranked"]) == 160
