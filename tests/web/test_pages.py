"""The center's, lecturers' and finance's pages in the browser, on data made through the API."""
from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta

import pytest
import requests
from openpyxl import load_workbook

from shared.pii import get_vault
from tests.conftest import wait_for
from tests.e2e.test_scoring_api import GOOD, approve_candidates, publish_scores
from tests.integration.test_subsidies_flow import (
    JPEG, L7, MP4, PNG, lecturer_ready, make_lecturer, recent_working_day, report,
)

pytestmark = pytest.mark.e2e

ID_NUMBER = re.compile(r"\b\d{17}[\dX]\b")


def assert_no_full_id_number(browser, *id_numbers):
    for id_number in id_numbers:
        assert id_number not in browser.html
    assert not ID_NUMBER.search(browser.text), "an unmasked ID number is on the page"


@pytest.mark.timeout(300)  # the module's first test: it waits for the stack to start
def test_operator_sees_progress_quota_rankings_with_the_cut_off_and_one_explanation(web_stack, browser):
    code = "R" + uuid.uuid4().hex[:7]
    (first, first_id), (second, second_id) = approve_candidates(web_stack.admin, code, ["王一", "李二"])
    assert web_stack.admin.put(f"/api/v1/scoring/schemes/{code}", GOOD)[0] == 200
    publish_scores(web_stack.configs["scoring"]["AMQP_URI"], code, [
        (first, "basic_test", "91.00"), (second, "basic_test", "78.50")])
    wait_for(lambda: len(web_stack.admin.get(f"/api/v1/scoring/cycles/{code}/stages/basic/ranking")[1]
                         .get("ranked", [])) == 2, timeout=15, message="both scores in")

    browser.login(web_stack.user("operator", display_name="中心操作员"))
    browser.open("/console")
    browser.wait_text("main", f"cycle {code}")
    row = browser.find(f"a[href='/candidates?cycle={code}&status=approved']")
    assert row.text == "2"
    browser.shoot("console-operator")

    browser.open(f"/quota?cycle={code}")
    browser.wait_text("main", "已推荐 2 人")
    browser.shoot("quota")

    browser.open(f"/rankings?cycle={code}&stage=basic")
    browser.wait_text("table.ranking", "王一")
    rows = browser.driver.find_elements("css selector", "table.ranking tbody tr")
    assert [r.find_element("css selector", "td:nth-child(2)").text for r in rows] == ["王一", "李二"]
    assert "cutoff" in rows[0].get_attribute("class")          # the cut-off line under rank 1
    assert "线内" in rows[0].text and "线外" in rows[1].text
    browser.shoot("rankings")
    rows[0].find_element("link text", "得分说明").click()
    browser.wait_text("h1", "得分说明：王一")
    assert "91.00" in browser.text
    browser.shoot("explanation")

    browser.open(f"/candidates?cycle={code}")
    browser.wait_text("main", "共 2 人")
    assert_no_full_id_number(browser, first_id, second_id)

    # the vendored htmx runs under the pages' strict CSP (no CDN, no inline script)
    # closing the stage asks first, says what follows, then closes it
    browser.open(f"/rankings?cycle={code}&stage=basic")
    browser.find("#close-stage").click()
    browser.wait_text("h1", "确认关闭")
    assert "晋级 1 人" in browser.find("#close-counts").text
    assert web_stack.admin.get(f"/api/v1/scoring/cycles/{code}/stages/basic/ranking")[1]["status"] == "open"
    browser.shoot("close-stage-confirm")
    browser.find("#confirm-close").click()
    browser.wait_text("#closed", "阶段已关闭")
    assert web_stack.admin.get(f"/api/v1/scoring/cycles/{code}/stages/basic/ranking")[1]["status"] == "closed"
    assert not browser.driver.find_elements("css selector", "#close-stage")
    assert browser.driver.execute_script("return window.htmx ? htmx.version : null").startswith("2.")
    browser.open("/dlq")
    browser.wait_text("h1", "死信队列")
    assert "条" in browser.text
    browser.shoot("dlq")


def _put_file(api, data: bytes, name: str, ctype: str) -> str:
    status, body = api.call("POST", "/api/v1/lecture-files", raw=data, params={"filename": name},
                            headers={"Content-Type": ctype})
    assert status == 201, body
    return body["sha256"]


@pytest.mark.timeout(300)
def test_operator_reviews_lecture_reports_lecturer_sees_them_and_finance_downloads_the_bank_file(
        web_stack, browser, tmp_path):
    admin = web_stack.admin
    cycle, day = "E" + uuid.uuid4().hex[:7], recent_working_day()
    assert admin.put(f"/api/v1/subsidy-cycles/{cycle}", {
        "tour_start": (day - timedelta(days=30)).isoformat(), "tour_end": (day + timedelta(days=60)).isoformat(),
        "lecture_subsidy_fen": 20000})[0] == 200
    amqp, uri = web_stack.configs["subsidies"]["AMQP_URI"], web_stack.configs["subsidies"]["DB_URI"]
    id_number = make_lecturer(amqp, cycle, L7)
    wait_for(lambda: lecturer_ready(uri, cycle, L7), message="the lecturer reaches subsidies")
    files = {"signin": _put_file(admin, JPEG + cycle.encode(), "签到表.jpg", "image/jpeg"),
             "video": _put_file(admin, MP4 + cycle.encode(), "全程.mp4", "video/mp4"),
             "photos": [_put_file(admin, PNG + f"{cycle}{n}".encode(), f"现场{n}.png", "image/png")
                        for n in range(4)]}
    status, good = admin.post("/api/v1/lectures", report(cycle, L7, id_number, files, day, venue="合格公司"))
    assert status == 201, good
    status, short = admin.post("/api/v1/lectures", report(cycle, L7, id_number, files, day, venue="人数不符公司",
                                                           audience_count=29))
    assert status == 201, short
    for lecture in (good, short):
        wait_for(lambda lecture=lecture: admin.get(f"/api/v1/lectures/{lecture['id']}")[1]["status"] != "received",
                 timeout=20, message="the automatic checks")

    browser.login(web_stack.user("operator", display_name="审核员甲"))
    browser.open("/lectures?status=checks_failed")
    browser.wait_text("main", "人数不符公司")
    browser.open(f"/lectures/{short['id']}")
    browser.wait_text("table.checks tr.fail", "听众人数与签到表人数不一致")     # the failed rule, in Chinese
    assert "audience_mismatch" in browser.text
    assert_no_full_id_number(browser, id_number)
    assert "6222 0212 3456 1234 567" not in browser.text and "62220212345612345 67" not in browser.text
    browser.shoot("lecture-failed")
    browser.open(f"/lectures/{good['id']}")
    browser.wait_text("main", "全部通过")
    browser.shoot("lecture-awaiting-review")
    browser.find("form[action$='/approve'] button").click()
    browser.wait_text("h1", "已通过")
    assert admin.get(f"/api/v1/lectures/{good['id']}")[1]["reviewed_by"] == "审核员甲"
    browser.logout()

    lecturer = web_stack.user("lecturer", person=get_vault().blind_index(id_number))
    browser.login(lecturer)
    browser.open("/me")
    browser.wait_text("main", "合格公司")
    assert "人数不符公司" in browser.text
    assert_no_full_id_number(browser, id_number)
    browser.shoot("lecturer-me")
    browser.logout()

    status, batch = admin.post("/api/v1/payment-batches", {"cycle": cycle})
    assert status == 201 and batch["item_count"] == 1, batch
    browser.login(web_stack.user("finance", display_name="财务甲"))
    browser.open(f"/payments?batch={batch['id']}")
    browser.wait_text("main", "200.00 元")
    browser.shoot("payments")
    link = browser.find("a[href$='format=xlsx']").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in browser.driver.get_cookies()}
    response = requests.get(link, cookies=cookies, timeout=10)
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any("李宣讲" in c for c in cells)
    # finance is the role that sees the account number in full (in the file, not on a page)
    assert any("6222021234561234567" in c.replace(" ", "") for c in cells)
    # the styled sheet: a title, the bold Chinese header kept in view, the total row
    assert sheet["A1"].value.startswith(f"宣讲补贴拨付批次 {batch['id']}") and sheet.freeze_panes == "A3"
    assert [c.value for c in sheet[2]] == ["业务编号", "姓名", "开户行", "支行", "账号", "金额（元）"]
    assert sheet["A2"].font.bold and sheet["E3"].number_format == "@" and sheet["A4"].value == "合计"

    # the bank's result file, uploaded from the page: the batch settles
    reference = sheet["A3"].value
    path = tmp_path / "回盘.csv"
    path.write_text(f"reference,status,reason\r\n{reference},paid,\r\n", encoding="utf-8")
    browser.open(f"/payments?batch={batch['id']}")
    browser.find("#r-file").send_keys(str(path))
    browser.find("#results-submit").click()
    browser.wait_text("#import-result", "到账 1 笔")
    assert "已结算" in browser.text
    browser.shoot("payments-results")
    assert admin.get(f"/api/v1/payment-batches/{batch['id']}")[1]["status"] == "settled"


def test_bad_input_on_a_form_is_a_4xx_naming_the_field_in_chinese(web_stack, browser):
    status, unit = web_stack.admin.post("/api/v1/units", {"name": "表单单位" + uuid.uuid4().hex[:4],
                                                          "kind": "insured_enterprise"})
    assert status == 201, unit
    code = "F" + uuid.uuid4().hex[:7]
    assert web_stack.admin.post("/api/v1/cycles", {"code": code, "title": f"{code}批次",
                                                   "deadline": "2099-12-31"})[0] == 201
    browser.login(web_stack.user("unit", unit_id=unit["id"]))
    browser.open("/candidates/new")
    browser.find("#f-name").send_keys("缺项人")
    browser.find("#f-id_number").send_keys("110101199003071234")   # a wrong check digit
    browser.find("#submit").click()
    browser.wait_text("#form-errors", "身份证号")
    errors = browser.find("#form-errors").text
    assert "电子邮箱" in errors and "必填" in errors and "校验码不正确" in errors
    assert browser.find("#f-id_number").get_attribute("aria-invalid") == "true"
    assert browser.find("#f-name").get_attribute("value") == "缺项人"   # what was typed stays
    browser.shoot("candidate-form-errors")
    cookies = {c["name"]: c["value"] for c in browser.driver.get_cookies()}
    # the same through plain HTTP, to read the status: 400, not 5xx
    page = requests.get(f"{web_stack.web}/candidates/new", cookies=cookies, timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = requests.post(f"{web_stack.web}/candidates/new", cookies=cookies, timeout=10,
                             data={"csrf_token": token, "cycle": code, "name": "x"})
    assert response.status_code == 400 and "必填" in response.text
    for path in ("/candidates/abc", "/rankings?cycle=nope&stage=basic", "/payments?batch=x",
                 "/lectures/999999999999", "/candidates?status=bogus"):
        response = requests.get(web_stack.web + path, cookies=cookies, timeout=10)
        assert 400 <= response.status_code < 500, (path, response.status_code)


def test_an_expert_sees_only_its_groups_and_enters_scores(web_stack, browser):
    from tests.e2e.test_training_api import advance, approved, publish_all

    admin = web_stack.admin
    cycle = "X" + uuid.uuid4().hex[:7]
    assert admin.post("/api/v1/cycles", {"code": cycle, "title": "专家评分", "deadline": "2099-12-31"})[0] == 201
    assert admin.post(f"/api/v1/cycles/{cycle}/stages", {"plan": "2022"})[0] == 201
    base = int(uuid.uuid4().int % 10**9) * 1000
    ids = [base + i for i in range(12)]
    publish_all(web_stack, "registration", "candidate_approved",
                [approved(cycle, cid, "东城", "insurer_branch") for cid in ids])
    trainees = lambda **kw: admin.get(f"/api/v1/cycles/{cycle}/trainees", params=dict(kw, per_page=1))[1]["total"]  # noqa: E731
    wait_for(lambda: trainees() == 12, timeout=20, message="12 trainees")
    publish_all(web_stack, "scoring", "candidate_advanced", advance(cycle, ids, "key"))
    wait_for(lambda: trainees(stage="key") == 12, timeout=20, message="12 at key")
    status, assigned = admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment")
    assert status == 200, assigned
    mine, other = [g for g in assigned["groups"] if g["members"]][:2]
    expert_name = "专家" + uuid.uuid4().hex[:4]
    assert admin.post(f"/api/v1/groups/{mine['id']}/experts", {"expert": expert_name, "name": "张专家"})[0] == 200

    browser.login(web_stack.user("expert", person=expert_name, display_name="张专家"))
    browser.open(f"/groups?cycle={cycle}&stage=key")
    browser.wait_text("main", f"第 {mine['batch']} 批 第 {mine['number']} 组")
    assert len(browser.driver.find_elements("css selector", "section.card")) == 1   # its own group only
    member = mine["members"][0]
    assert member["name"] in browser.text
    assert not any(m["name"] in browser.text for m in other["members"] if m["name"] != member["name"])
    browser.shoot("expert-groups")
    field = browser.find(f"#s-{member['candidate_id']}")
    field.send_keys("86.5")
    field.find_element("xpath", "./following-sibling::button").click()
    browser.wait_text("main", f"已保存人选 {member['candidate_id']} 的评分")
    trail = admin.get(f"/api/v1/training-audit/trainee/{member['candidate_id']}")[1]
    assert [(a["action"], a["detail"]["score"]) for a in trail if a["action"].startswith("expert_score.")] == [
        ("expert_score.create", "86.50")]
    # a score out of range comes back as a 4xx page naming the field, in Chinese
    field = browser.find(f"#s-{member['candidate_id']}")
    field.send_keys("100.5")
    field.find_element("xpath", "./following-sibling::button").click()
    browser.wait_text("h1", "输入有误")
    assert "分数" in browser.text


def test_labels_are_served_and_name_every_candidate_status(web_stack):
    response = requests.get(f"{web_stack.web}/api/v1/labels", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["registration"]["candidate_status"]["unit_approved"] == "单位已盖章，待中心审核"
    assert body["subsidies"]["check_rule"]["audience_mismatch"].startswith("听众人数")


def test_login_returns_to_the_page_asked_for_and_the_cookie_is_secure_behind_tls(web_stack):
    account = web_stack.user("operator")
    http = requests.Session()
    page = http.get(f"{web_stack.web}/login?next=/quota", timeout=10)
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers[
        "Content-Security-Policy"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post(f"{web_stack.web}/login", data={"csrf_token": token, "next": "/quota", **account},
                         headers={"X-Forwarded-Proto": "https"}, allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/quota"
    cookie = response.headers["Set-Cookie"]
    session_part = next(p for p in response.raw.headers.getlist("Set-Cookie") if p.startswith("wsli_session="))
    assert "HttpOnly" in session_part and "SameSite=Lax" in session_part and "Secure" in session_part, cookie
    # an absolute URL in "next" is ignored: no open redirect
    page = http.get(f"{web_stack.web}/login?next=//evil.example/", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = http.post(f"{web_stack.web}/login", data={"csrf_token": token, "next": "//evil.example/", **account},
                         allow_redirects=False, timeout=10)
    assert response.headers["Location"] == "/console"
    assert "Secure" not in next(p for p in response.raw.headers.getlist("Set-Cookie")
                                if p.startswith("wsli_session="))   # plain http here: not Secure


def test_wsli_user_create_makes_an_account_that_can_log_in(web_stack, tmp_path):
    import os
    import subprocess
    import sys

    from shared.config import REPO_ROOT

    env = dict(os.environ, WEB_DB_URI=web_stack.configs["web"]["DB_URI"], AGENCY_ID="beijing")
    run = lambda *args, stdin="": subprocess.run(  # noqa: E731
        [sys.executable, "-m", "shared.cli", "user", *args], input=stdin, capture_output=True, text=True,
        cwd=REPO_ROOT, env=env, timeout=60)
    username = "cli-" + uuid.uuid4().hex[:6]
    made = run("create", "--username", username, "--role", "unit", "--unit-id", "1", "--password-stdin",
               stdin="a-long-password\n")
    assert made.returncode == 0, made.stderr
    assert f"{username}: role=unit" in made.stdout
    refused = run("create", "--username", "x" + username, "--role", "unit", "--password-stdin",
                  stdin="a-long-password\n")
    assert refused.returncode == 2 and "unit_id" in refused.stderr   # a unit account needs its unit
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{web_stack.web}/login", timeout=10).text).group(1)
    response = http.post(f"{web_stack.web}/login", allow_redirects=False, timeout=10,
                         data={"csrf_token": token, "username": username, "password": "a-long-password"})
    assert response.status_code == 303 and response.headers["Location"] == "/console"


def test_an_oversized_upload_is_a_413_page_and_logout_without_a_session_just_goes_to_login(web_stack):
    account = web_stack.user("operator")
    http = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{web_stack.web}/login", timeout=10).text).group(1)
    assert http.post(f"{web_stack.web}/login", data={"csrf_token": token, **account}, timeout=10).status_code == 200
    page = http.get(f"{web_stack.web}/candidates/new", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = http.post(f"{web_stack.web}/candidates/new", data={"csrf_token": token},
                         files={"photo": ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (9 * 1024 * 1024), "image/png")},
                         timeout=30)
    assert response.status_code == 413 and "文件过大" in response.text
    response = requests.post(f"{web_stack.web}/logout", allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/login"


def test_the_operator_approves_sealed_candidates_in_bulk_and_each_refusal_is_reported(web_stack, browser):
    code = "B" + uuid.uuid4().hex[:7]
    admin = web_stack.admin
    assert admin.post("/api/v1/cycles", {"code": code, "title": f"{code}批次", "deadline": "2099-12-31"})[0] == 201
    status, unit = admin.post("/api/v1/units", {"name": "批量单位" + uuid.uuid4().hex[:4], "kind": "insurer_branch"})
    assert status == 201, unit
    from tests.support import candidate_form, resident_id
    ids = []
    for name in ("甲一", "乙二", "丙三"):
        status, made = admin.post("/api/v1/candidates", candidate_form(code, id_number=resident_id(), name=name,
                                                                       unit_id=unit["id"]))
        assert status == 201, made
        assert admin.post(f"/api/v1/candidates/{made['id']}/unit-approval", {"signed_by": "经理"})[0] == 200
        ids.append(made["id"])

    browser.login(web_stack.user("operator", display_name="批量审核员"))
    browser.open(f"/candidates?cycle={code}&status=unit_approved")
    browser.wait_text("main", "共 3 人")
    browser.find(f"#pick-{ids[0]}").click()
    browser.find(f"#pick-{ids[1]}").click()
    # meanwhile the second is withdrawn elsewhere: the service refuses it, the others go through
    assert admin.post(f"/api/v1/candidates/{ids[1]}/withdrawal", {"reason": "本人放弃"})[0] == 200
    browser.find("fieldset.bulk button").click()
    browser.wait_text("h1", "批量审核结果")
    assert "已审核通过 1 人" in browser.text and f"编号 {ids[1]}" in browser.text
    browser.shoot("bulk-result")
    statuses = [admin.get(f"/api/v1/candidates/{i}")[1]["status"] for i in ids]
    assert statuses == ["approved", "withdrawn", "unit_approved"]
    assert admin.get(f"/api/v1/candidates/{ids[0]}")[1]["center_seal"]["signed_by"] == "批量审核员"


def _image(path, color, size=(320, 200), fmt="PNG") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    path.write_bytes(buf.getvalue())
    return str(path)


def _unlabelled(browser) -> list:
    return browser.driver.execute_script("""
        return Array.from(document.querySelectorAll('input, select, textarea'))
          .filter(el => el.type !== 'hidden')
          .filter(el => !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.getAttribute('aria-label'))
          .map(el => el.name || el.outerHTML);""")


def _set(browser, css: str, value):
    """A value into an input as a person would leave it (date inputs included, whatever the locale)."""
    browser.driver.execute_script("arguments[0].value = arguments[1];", browser.find(css), str(value))


@pytest.mark.timeout(300)
def test_a_lecturer_reports_with_several_files_in_one_form_and_the_operator_sees_the_evidence(
        web_stack, browser, tmp_path):
    from tests.integration.test_subsidies_flow import L8

    admin = web_stack.admin
    cycle, day = "V" + uuid.uuid4().hex[:7], recent_working_day()
    assert admin.put(f"/api/v1/subsidy-cycles/{cycle}", {
        "tour_start": (day - timedelta(days=30)).isoformat(), "tour_end": (day + timedelta(days=60)).isoformat(),
        "lecture_subsidy_fen": 20000})[0] == 200
    amqp, uri = web_stack.configs["subsidies"]["AMQP_URI"], web_stack.configs["subsidies"]["DB_URI"]
    id_number = make_lecturer(amqp, cycle, L8)
    wait_for(lambda: lecturer_ready(uri, cycle, L8), message="the lecturer reaches subsidies")
    signin = _image(tmp_path / "签到表.jpg", (250, 250, 240), (600, 800), "JPEG")
    photos = [_image(tmp_path / f"现场{n}.png", (40 * n, 120, 200)) for n in range(3)]
    banner = _image(tmp_path / "横幅.png", (200, 20, 30))
    video = tmp_path / "全程.mp4"
    video.write_bytes(MP4 + cycle.encode() * 64)

    person = get_vault().blind_index(id_number)
    browser.login(web_stack.user("lecturer", person=person, display_name="李宣讲"))
    browser.open("/me")
    browser.find("#report-lecture").click()
    browser.wait_text("h1", "填报宣讲报告")
    assert browser.find("#lecture-form progress").get_attribute("hidden") is not None   # shown while sending
    assert _unlabelled(browser) == []
    for name, value in (("cycle", cycle), ("candidate_id", L8), ("lecturer_name", "李宣讲"),
                        ("id_number", id_number), ("lecture_date", day.isoformat()), ("venue", "多文件化工公司"),
                        ("audience_count", 30), ("head_count", 30), ("bank", "中国工商银行"),
                        ("branch", "北京东城支行"), ("account_number", "6222021234561234567"),
                        ("contact", "13812345678")):
        _set(browser, f"#f-{name}", value)
    # a file of a type the service does not take: the form comes back naming it, what was typed kept
    gif = tmp_path / "动图.gif"
    gif.write_bytes(b"GIF89a" + cycle.encode())
    browser.find("#f-photos").send_keys(str(gif))
    browser.find("#lecture-submit").click()
    browser.wait_text("#form-errors", "文件类型不被接受")
    assert "现场照片" in browser.find("#e-photos").text
    assert browser.find("#f-venue").get_attribute("value") == "多文件化工公司"
    browser.find("#f-signin_sheet").send_keys(signin)
    browser.find("#f-video").send_keys(str(video))
    browser.find("#f-photos").send_keys("\n".join(photos))          # several files in one input
    browser.find("#f-banner_photos").send_keys(banner)
    browser.find("#lecture-submit").click()
    browser.wait_text("h1", "宣讲报告")
    browser.wait_url("/lectures/")
    browser.wait_text("#submitted", "已提交")
    # sent by XMLHttpRequest (the upload bar's path): the page was written in place, no navigation
    assert browser.driver.execute_script(
        "return performance.getEntriesByType('navigation')[0].name").endswith("/lectures/new")
    lecture_id = int(re.search(r"/lectures/(\d+)", browser.driver.current_url).group(1))
    browser.wait_text("#checks", "全部通过")           # htmx refreshes the checks until they are done
    rows = browser.driver.find_elements("css selector", "table.checks tbody tr")
    assert len(rows) >= 7 and "听众人数与签到表人数不一致" in browser.find("table.checks").text
    assert "不适用" in browser.find("table.checks").text            # the kinds' rules of another kind
    browser.shoot("lecture-submitted-by-lecturer")
    stored = admin.get(f"/api/v1/lectures/{lecture_id}")[1]
    assert stored["status"] == "awaiting_review" and len(stored["photos"]) == 4
    assert [p["shows_banner"] for p in stored["photos"]].count(True) == 1
    browser.logout()

    # the center opens the report: the pictures load, the video is there, the sheet too
    browser.login(web_stack.user("operator", display_name="审核员乙"))
    browser.open(f"/lectures/{lecture_id}")
    browser.wait_text("#checks", "全部通过")
    images = browser.driver.find_elements("css selector", "#evidence img")
    assert len(images) == 5     # the sheet, one banner photo, three site photos
    browser.wait_for(lambda d: all(d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images),
        "every evidence picture loaded")
    assert browser.driver.execute_script("return arguments[0].naturalWidth",
                                         browser.find("#signin-sheet")) == 600
    player = browser.find("video#lecture-video")
    assert player.get_attribute("controls") is not None
    assert player.get_attribute("src").endswith(f"/lectures/{lecture_id}/evidence/{stored['video']['file']}")
    cookies = {c["name"]: c["value"] for c in browser.driver.get_cookies()}
    shown = requests.get(player.get_attribute("src"), cookies=cookies, timeout=10)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "video/mp4"
    assert shown.headers["Content-Disposition"].startswith("inline") and shown.content == video.read_bytes()
    browser.shoot("lecture-evidence")
    browser.find("form[action$='/approve'] button").click()
    browser.wait_text("h1", "已通过")
    assert admin.get(f"/api/v1/lectures/{lecture_id}")[1]["reviewed_by"] == "审核员乙"

    # the same file through the API: the center and the lecturer who filed it; another lecturer: 404
    path = f"/api/v1/lectures/{lecture_id}/evidence/{stored['photos'][0]['file']}"
    got = requests.get(web_stack.base + path, headers={"Authorization": f"Bearer {admin.token}"}, timeout=10)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
    assert got.content in {open(p, "rb").read() for p in photos + [banner]}
    for binding, expected in (({"person": person}, 200), ({"person": "someone-else"}, 404)):
        token = admin.token_for("lecturer", **binding)
        answer = requests.get(web_stack.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == expected, (binding, answer.text[:200])
    answer = requests.get(web_stack.base + path, headers={
        "Authorization": f"Bearer {admin.token_for('integrator')}"}, timeout=10)
    assert answer.status_code == 403
    # the console's own route is fenced by the same service: another lecturer's page gets 404 too
    browser.logout()
    browser.login(web_stack.user("lecturer", person="someone-else"))
    cookies = {c["name"]: c["value"] for c in browser.driver.get_cookies()}
    assert requests.get(web_stack.web + f"/lectures/{lecture_id}/evidence/{stored['photos'][0]['file']}",
                        cookies=cookies, timeout=10).status_code == 404


def test_staff_enter_a_panels_paper_score_sheet_and_see_each_rows_result(web_stack, browser, tmp_path):
    from shared.documents import csv_bytes
    from tests.e2e.test_training_api import advance, approved, publish_all

    admin = web_stack.admin
    cycle = "P" + uuid.uuid4().hex[:7]
    # training plans stages only for a cycle registration knows
    assert admin.post("/api/v1/cycles", {"code": cycle, "title": f"培训批次 {cycle}", "deadline": "2099-12-31"})[0] == 201
    assert admin.post(f"/api/v1/cycles/{cycle}/stages", {"plan": "2022"})[0] == 201
    base = int(uuid.uuid4().int % 10**9) * 1000
    ids = [base + i for i in range(6)]
    publish_all(web_stack, "registration", "candidate_approved",
                [approved(cycle, cid, "东城", "insurer_branch") for cid in ids])
    trainees = lambda **kw: admin.get(f"/api/v1/cycles/{cycle}/trainees", params=dict(kw, per_page=1))[1]["total"]  # noqa: E731
    wait_for(lambda: trainees() == 6, timeout=20, message="6 trainees")
    publish_all(web_stack, "scoring", "candidate_advanced", advance(cycle, ids, "key"))
    wait_for(lambda: trainees(stage="key") == 6, timeout=20, message="6 at key")
    status, assigned = admin.post(f"/api/v1/cycles/{cycle}/stages/key/group-assignment")
    assert status == 200, assigned
    group, other = [g for g in assigned["groups"] if g["members"]][:2]
    experts = [f"纸{n}-{uuid.uuid4().hex[:4]}" for n in range(2)]
    for code in experts:
        assert admin.post(f"/api/v1/groups/{group['id']}/experts", {"expert": code, "name": code})[0] == 200
    member, outsider = group["members"][0]["candidate_id"], other["members"][0]["candidate_id"]

    browser.login(web_stack.user("operator", display_name="录入员"))
    browser.open("/console")
    browser.find("nav a[href='/score-sheets']").click()
    browser.wait_text("h1", "录入纸质评分表")
    _set(browser, "#ss-cycle", cycle)
    browser.find("#sheet-group-picker button").click()
    browser.wait_for(lambda d: d.find_elements("css selector", "#ss-group"), "the groups to choose from")
    assert _unlabelled(browser) == []
    browser.driver.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
        browser.find("#ss-group"), str(group["id"]))
    rows = [(experts[0], member, "88"), ("不在本组", member, "70"), (experts[1], outsider, "75"),
            (experts[1], member, "101")]
    for n, (expert, candidate, score) in enumerate(rows):
        _set(browser, f"#ss-expert-{n}", expert)
        _set(browser, f"#ss-candidate-{n}", candidate)
        _set(browser, f"#ss-score-{n}", score)
    browser.find("#sheet-submit").click()
    browser.wait_text("#sheet-result", "评分表未保存")
    result = browser.find("#sheet-result").text
    # a score out of range first: the sheet's shape is checked before the panel
    assert "第 4 行" in result and "须在 0 到 100 之间" in result
    assert browser.find("#ss-expert-1").get_attribute("value") == "不在本组"     # what was typed stays
    _set(browser, "#ss-score-3", "90.5")
    browser.find("#sheet-submit").click()
    browser.wait_text("#sheet-result", "整张表未保存")
    result = browser.find("#sheet-result").text
    assert "第 2 行" in result and "不是本组的评审专家" in result
    assert "第 3 行" in result and "不是本组学员" in result
    assert "第 1 行" not in result and "第 4 行" not in result
    browser.shoot("score-sheet-refused")
    for n in (1, 2):
        for field in ("expert", "candidate", "score"):
            _set(browser, f"#ss-{field}-{n}", "")
    browser.find("#sheet-submit").click()
    browser.wait_text("#sheet-result", "评分表已保存")
    saved = [r.text for r in browser.driver.find_elements("css selector", "#sheet-result tbody tr")]
    assert len(saved) == 2 and saved[0].startswith("第 1 行") and saved[1].startswith("第 4 行")
    assert all("已保存" in r and "89.25" in r for r in saved)          # the panel mean of 88 and 90.5
    browser.shoot("score-sheet-saved")

    # the same panel again from a file: each spreadsheet row's result, the replaced score named
    sheet = tmp_path / "评分表.csv"
    sheet.write_bytes(csv_bytes(["专家", "学员编号", "分数"], [[experts[0], member, "80"]]))
    browser.find("#ss-file").send_keys(str(sheet))
    browser.find("#sheet-submit").click()
    browser.wait_text("#sheet-result", "文件第 2 行")
    assert "替换原分数 88.00" in browser.find("#sheet-result").text
    trail = admin.get(f"/api/v1/training-audit/trainee/{member}")[1]
    assert sum(a["action"].startswith("expert_score.") for a in trail) == 3
