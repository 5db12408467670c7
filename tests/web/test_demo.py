"""`wsli demo` against the whole stack with the console: every service touched, then each printed demo
account logs in and its main page lists something the demo made; a second run finds, not doubles."""
from __future__ import annotations

import argparse
import re

import pytest
import requests

from shared import demo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]   # the demo runs twice; slow on a loaded machine

HTML = {"Accept": "text/html"}          # as a browser opens a QR code's link (a program gets JSON)
ACCOUNT = re.compile(rf"^\s+(\S+)\s+/ {demo.DEMO_PASSWORD}\s+(\S+)\s+.*?\s(http://\S+)$", re.M)

# What each role's main page must list: an item the demo made for it, not just the page's frame.
SHOWS = {
    "operator": ["东华门街道社区活动中心"],                       # a lecture whose automatic check failed
    "admin": ["王建国", "李秀英"],
    "unit": ["王建国", "陈立新"],
    "regulator": ["脚手架未设防护栏", "配电箱无漏电保护"],             # its district's hazards, one major
    "expert": ["王建国", "刘晓燕"],   # training's expert: its intensive group; the case expert: below
    "lecturer": ["北京朝阳建工集团有限公司 项目部会议室", "东华门街道社区活动中心"],
    "finance": ["300.00 元", "format=xlsx"],                           # a batch and its bank file
    "integrator": ["朝阳区", "通州区"],
    "organisation": ["风险减量服务进工地", "小微企业安责险事故预防服务包"],   # its two cases
    "enterprise": ["脚手架未设防护栏"],
    "insurer": ["脚手架未设防护栏"],
    "service_org": ["脚手架未设防护栏"],
}


def login(web: str, username: str) -> requests.Session:
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{web}/login", timeout=10).text).group(1)
    response = http.post(f"{web}/login", data={"csrf_token": token, "username": username,
                                               "password": demo.DEMO_PASSWORD}, timeout=10)
    assert response.status_code == 200 and "/console" in response.url, (username, response.status_code)
    return http


def test_the_demo_leaves_something_on_every_roles_page_and_runs_again(web_stack, monkeypatch, capsys):
    monkeypatch.setenv("WEB_DB_URI", web_stack.configs["web"]["DB_URI"])
    monkeypatch.setenv("WEB_ADDRESS", web_stack.web.removeprefix("http://"))
    monkeypatch.setenv("GATEWAY_ADDRESS", web_stack.base.removeprefix("http://"))   # no --url: the configured one
    args = argparse.Namespace(url=None, token=web_stack.bootstrap, no_accounts=False)

    assert demo.run(args) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"wsli 演示数据 → {web_stack.base}" in out and "✓ 演示完成" in out
    for section in ("培训与评分", "评分方案", "巡讲", "安全培训班", "典型案例", "风险服务"):
        assert section in out, section

    accounts = ACCOUNT.findall(out)
    assert {role for _, role, _ in accounts} == set(SHOWS), accounts
    for username, role, url in accounts:
        assert url.startswith(web_stack.web + "/"), url
        page = login(web_stack.web, username).get(url, timeout=30)
        assert page.status_code == 200, (role, url, page.status_code)
        # the case expert's page is its case in review (next year's), not the training group
        for item in ["小微企业安责险事故预防服务包"] if url.endswith("/cases") and role == "expert" else SHOWS[role]:
            assert item in page.text, (role, url, item)

    # the finance user downloads the batch's bank file: the lecturer's approved lecture, unmasked account
    finance = next(u for u, role, _ in accounts if role == "finance")
    page = next(url for u, _, url in accounts if u == finance)
    http = login(web_stack.web, finance)
    link = re.search(r'href="([^"]+format=csv)"', http.get(page, timeout=30).text).group(1)
    bank_file = http.get(web_stack.web + link, timeout=30)
    assert bank_file.status_code == 200 and "王建国" in bank_file.text and "6222021234561234567" in bank_file.text

    # the public pages it prints: the enterprise's 全安码, no login, the minimum only
    qr = re.search(r"全安码（企业扫码页）：(\S+)", out).group(1)
    scanned = requests.get(qr, headers=HTML, timeout=10)
    assert scanned.status_code == 200 and "北京朝阳建工集团有限公司" in scanned.text
    assert demo.ENTERPRISES[0][0] not in scanned.text                # never the credit code

    # this year's cases on public notice (公示), with the objection form
    notice = requests.get(re.search(r"典型案例公示（可提异议）：(\S+)", out).group(1), timeout=10).text
    assert "风险减量服务进工地" in notice and "小微企业" not in notice and 'id="objection' in notice

    # the certificate the class gave, verified by anyone: valid, the holder masked, the class named
    verify = re.search(r"证书核验（扫合格证二维码）：(\S+)", out).group(1)
    assert verify.startswith(web_stack.web + "/api/v1/certificates/")
    verdict = requests.get(verify, headers=HTML, timeout=10).text
    assert "有效" in verdict and "朝阳区2018年第1期安全生产培训班" in verdict and "16 学时" in verdict
    assert "郑国华" not in verdict                                   # the holder's name is masked

    # the enterprise, logged in, opens its 全安码: its own safety file (credit code, its hazard)
    enterprise = next(u for u, role, _ in accounts if role == "enterprise")
    own = login(web_stack.web, enterprise).get(qr, headers=HTML, timeout=30).text
    assert demo.ENTERPRISES[0][0] in own and "脚手架未设防护栏" in own

    # the regulator's risk map: 朝阳 drawn from its three enterprises, with its open hazards
    regulator = next(u for u, role, _ in accounts if role == "regulator")
    http = login(web_stack.web, regulator)
    assert "确认收到" in http.get(f"{web_stack.web}/major-hazards", timeout=30).text   # the major one to acknowledge
    risk_map = http.get(f"{web_stack.web}/risk-map", timeout=30).text
    assert re.search(r"<td>朝阳区</td><td class=\"num\">3</td><td class=\"num\">1</td><td class=\"num\">1</td>",
                     risk_map), risk_map

    assert demo.run(args) == 0, capsys.readouterr().out       # a second run: found, not doubled
    again = capsys.readouterr().out
    assert "已存在（之前运行过）" in again and "✓ 演示完成" in again
    assert len(ACCOUNT.findall(again)) == len(accounts)
    assert web_stack.admin.get("/api/v1/risk/hazards", params={"per_page": 1})[1]["total"] == 2
