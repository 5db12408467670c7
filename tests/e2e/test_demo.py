"""`wsli demo` against a running stack: found at the configured gateway address, every service touched,
console accounts per role, and a second run finds what the first one made."""
from __future__ import annotations

import argparse

import pytest
from sqlalchemy import text

from shared import demo
from shared.db import make_engine

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]   # the demo runs twice; slow on a loaded machine


def test_the_demo_loads_every_service_at_the_configured_address_and_runs_again(stack, admin, monkeypatch,
                                                                                capsys):
    web_db = stack.dbs.migrated("web")
    monkeypatch.setenv("WEB_DB_URI", web_db)
    monkeypatch.setenv("GATEWAY_ADDRESS", stack.base.removeprefix("http://"))   # no --url: the configured one
    args = argparse.Namespace(url=None, token=stack.bootstrap, no_accounts=False)

    assert demo.run(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"wsli 演示数据 → {stack.base}" in out and "✓ 演示完成" in out
    for section in ("培训", "评分方案", "宣讲补贴", "典型案例", "风险服务"):
        assert section in out, section
    assert "演示账户" in out and "zhuanjia" in out and "caiwu" in out and "共发出" in out
    engine = make_engine(web_db)
    try:
        with engine.connect() as conn:
            roles = set(conn.execute(text("SELECT role FROM web_users")).scalars())
    finally:
        engine.dispose()
    assert {"operator", "admin", "unit", "regulator", "expert", "lecturer", "finance", "integrator"} <= roles

    status, stages = admin.get(f"/api/v1/cycles/{demo.TODAY.year}/stages")
    assert status == 200 and [s["stage"] for s in stages] == ["basic", "key", "intensive"]
    assert admin.get(f"/api/v1/scoring/schemes/{demo.TODAY.year}")[0] == 200
    assert admin.get(f"/api/v1/subsidy-cycles/{demo.TODAY.year}")[1]["lecture_subsidy_fen"] == 30000

    assert demo.run(args) == 0, capsys.readouterr().out       # a second run: found, not doubled
    again = capsys.readouterr().out
    assert "已存在（之前运行过）" in again and "✓ 演示完成" in again
