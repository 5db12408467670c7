"""Journeys through the console in a real browser, on the real stack.

A unit registers a candidate with a photo and seals it, the operator approves it;
the public verifies a certificate by opening its QR URL on a phone; a wrong
password is refused, repeated failures lock the account, a POST without the CSRF
token is refused; no page shows an unmasked ID number to a role without the right.
"""
from __future__ import annotations

import datetime
import json
import uuid

import pytest
import requests
import segno

from tests.conftest import AGENCY, INDEX_KEY, PII_KEY, wait_for
from tests.support import resident_id

pytestmark = pytest.mark.e2e


def open_cycle(stack) -> dict:
    code = "W" + uuid.uuid4().hex[:7]
    deadline = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
    status, body = stack.admin.post("/api/v1/cycles", {"code": code, "title": f"{code}批次宣讲员推荐",
                                                       "deadline": deadline})
    assert status == 201, body
    return body


def new_unit(stack, district="东城") -> dict:
    status, body = stack.admin.post("/api/v1/units", {"name": f"{district}区应急管理局{uuid.uuid4().hex[:4]}",
                                                      "kind": "district_safety_office", "district": district,
                                                      "contact_phone": "13900001111"})
    assert status == 201, body
    return body


def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    segno.make("证件照").save(str(path), kind="png", scale=8)
    return path


def fill(browser, values: dict):
    for name, value in values.items():
        field = browser.find(f"#f-{name}")
        field.clear()
        field.send_keys(value)


def test_a_unit_registers_a_candidate_with_a_photo_and_seals_it_and_the_operator_approves_it(
        web_stack, browser, tmp_path):
    cycle, unit = open_cycle(web_stack), new_unit(web_stack)
    id_number = resident_id(birth="19850611")
    unit_account = web_stack.user("unit", unit_id=unit["id"], display_name="东城区应急局经办人")

    browser.login(unit_account)
    browser.shoot("console-unit")
    browser.open("/candidates/new")
    browser.wait_text("h1", "推荐表")
    browser.find("#f-cycle").send_keys(cycle["title"])
    fill(browser, {"name": "李宣讲", "id_number": id_number, "phone": "13812345678", "email": "li@example.com",
                   "education": "本科", "title": "工程师", "school_major": "北京理工大学 安全工程",
                   "employer_position": "东城区应急管理局 专职安全员", "deeds": "组织安全生产宣讲二十余场。",
                   "recommendation_reason": "表达能力突出，熟悉安责险制度。"})
    browser.find("#f-photo").send_keys(str(photo_file(tmp_path)))
    browser.shoot("candidate-form")
    browser.find("#submit").click()
    browser.wait_text("#status", "待单位盖章")
    assert "推荐表已提交" in browser.text
    assert "已上传" in browser.find("main").text            # the photo reached the service
    candidate_id = int(browser.driver.current_url.rsplit("/", 1)[1].split("?")[0])
    # the unit sees the masked ID number only: never the full one
    assert id_number not in browser.html
    assert browser.find("#id-number").text == id_number[:3] + "*" * 11 + id_number[-4:]
    browser.shoot("candidate-submitted")

    browser.find("#seal").click()
    browser.wait_text("#status", "单位已盖章")
    assert "东城区应急局经办人" in browser.find("main").text
    browser.logout()

    operator = web_stack.user("operator", display_name="中心审核员")
    browser.login(operator)
    browser.open(f"/candidates?cycle={cycle['code']}&status=unit_approved")
    browser.wait_text("main", "李宣讲")
    assert id_number not in browser.html                    # masked in the list as well
    browser.shoot("candidates-operator")
    browser.open(f"/candidates/{candidate_id}")
    browser.find("#approve").click()
    browser.wait_text("#status", "中心已审核通过")
    assert "中心审核员" in browser.find("main").text
    assert id_number not in browser.html
    browser.shoot("candidate-approved")

    # the center's staff may read the full number, on purpose, and the read is audited
    browser.find("#reveal").click()
    browser.wait_text("#id-full", id_number)
    trail = web_stack.admin.get(f"/api/v1/audit/candidate/{candidate_id}")[1]
    assert [a["actor"] for a in trail if a["action"] == "pii.reveal"] == [operator["username"]]

    # the service agrees: the page went through its RPCs with the operator's principal
    status, body = web_stack.admin.get(f"/api/v1/candidates/{candidate_id}")
    assert status == 200 and body["status"] == "approved"
    assert body["unit_seal"]["signed_by"] == "东城区应急局经办人"
    assert body["center_seal"]["signed_by"] == "中心审核员"


def test_a_unit_sees_only_its_own_candidates_and_cannot_approve_for_the_center(web_stack, browser):
    cycle, mine, other = open_cycle(web_stack), new_unit(web_stack), new_unit(web_stack, "西城")
    status, theirs = web_stack.admin.post("/api/v1/candidates", {
        "cycle": cycle["code"], "unit_id": other["id"], "name": "王他人", "email": "w@example.com",
        "phone": "13812345679", "education": "本科", "id_number": resident_id(), "school_major": "安全工程",
        "employer_position": "西城区", "deeds": "事迹", "recommendation_reason": "理由"})
    assert status == 201, theirs
    browser.login(web_stack.user("unit", unit_id=mine["id"]))
    browser.open(f"/candidates?cycle={cycle['code']}")
    browser.wait_text("main", "共 0 人")
    browser.open(f"/candidates/{theirs['id']}")
    browser.wait_text("h1", "未找到")                       # the service hides it; the page says so in Chinese
    assert "王他人" not in browser.text


def issue_certificate(stack) -> tuple[str, str]:
    """A class with one trainee who attends both days and passes: (certificate number, holder name)."""
    from kombu import Connection, Exchange, Producer

    from shared.catalogue import component
    from shared.events import build_envelope, specs_for
    from shared.pii import PiiVault
    from shared.workdays import utcnow

    admin = stack.admin
    component("registration").schemas()
    status, inst = admin.post("/api/v1/institutions", {
        "name": "北京安全培训中心" + uuid.uuid4().hex[:4], "full_time_managers": 3, "management_system": True,
        "teacher_min_years": 6, "evaluation_mechanism": True, "seats": 60})
    assert status == 201, inst
    status, teacher = admin.post("/api/v1/teachers", {"name": "孙老师", "qualification": "registered_safety_engineer",
                                                      "title": "高级工程师", "years_experience": 12})
    status, manager = admin.post("/api/v1/class-managers", {"institution_id": inst["id"], "name": "赵班主任",
                                                            "id_number": resident_id(birth="19800101")})
    assert status == 201, manager
    status, klass = admin.post("/api/v1/classes", {
        "title": "2018年东城区主要负责人第1期", "institution_id": inst["id"], "district": "东城",
        "days": ["2018-05-10", "2018-05-11"], "manager_id": manager["id"], "capacity": 3,
        "teacher_ids": [teacher["id"]]})
    assert status == 201, klass
    id_number = resident_id()
    person = {"enrolment_id": int(uuid.uuid4().int % 10**12), "year": 2018, "district": "东城", "role": "principal",
              "unit_name": "某某公司", "unit_credit_code": "91110000000000001X", "person_name": "陈合格",
              "id_number_masked": id_number[:3] + "*" * 11 + id_number[-4:],
              "person_key": PiiVault([PII_KEY], INDEX_KEY).blind_index(id_number)}
    spec = specs_for("registration", "trainee_enrolled")[0]
    with Connection(stack.configs["training"]["AMQP_URI"], transport_options={"confirm_publish": True}) as conn:
        envelope = build_envelope(spec, AGENCY, "s", person, utcnow())
        Producer(conn.default_channel).publish(
            json.dumps(envelope).encode(), routing_key="trainee_enrolled", content_type="application/json",
            exchange=Exchange("registration.events", type="topic", durable=True), content_encoding="utf-8",
            message_id=envelope["id"], delivery_mode=2)

    def seat():
        status, body = admin.post(f"/api/v1/classes/{klass['id']}/seats", {"enrolment_id": person["enrolment_id"]})
        return body if status == 201 else None
    seated = wait_for(seat, message="the enrolment reaches training")
    for day, date in ((1, "2018-05-10"), (2, "2018-05-11")):
        for action, at in (("check_in", "08:50"), ("check_out", "17:05")):
            status, body = admin.post(f"/api/v1/classes/{klass['id']}/attendance", {
                "seat_id": seated["id"], "id_number": id_number, "day": day, "action": action,
                "at": f"{date}T{at}:00+08:00"})
            assert status == 200, body
    topic = "结业" + uuid.uuid4().hex[:6]
    questions = [{"topic": topic, "kind": "single", "text": f"单选{i}", "options": {"A": "甲", "B": "乙"},
                  "answer": ["A"]} for i in range(2)]
    assert admin.post("/api/v1/questions/batch", {"questions": questions})[0] == 201
    status, exam = admin.post("/api/v1/exams", {"kind": "class_exam", "title": "结业考试", "class_id": klass["id"],
                                                "draw": [{"topic": topic, "count": 2}], "seed": 7})
    assert status == 201, exam
    status, body = admin.post(f"/api/v1/exams/{exam['id']}/paper-scores",
                              {"rows": [{"id_number": id_number, "score": "90"}]})
    assert status == 201, body
    status, done = admin.post(f"/api/v1/classes/{klass['id']}/completion")
    assert status == 200 and done["certificates"], done
    return done["certificates"][0], person["person_name"]


def test_the_public_verifies_a_certificate_by_opening_its_qr_url_on_a_phone(web_stack, browser):
    number, holder = issue_certificate(web_stack)
    status, cert = web_stack.admin.get(f"/api/v1/certificates/{number}")
    assert status == 200
    qr_url = cert["verify_url"]
    # the QR code's URL is the web component's: scanning it opens the page below
    assert qr_url.startswith(web_stack.web + "/")

    browser.phone()
    browser.driver.get(qr_url)
    browser.wait_text(".verdict-word", "有效")
    assert number in browser.text
    shown = browser.find("#holder").text
    assert shown != holder and shown.startswith("陈")           # masked holder
    assert browser.find("#class-title").text == "2018年东城区主要负责人第1期"
    assert "北京市" in browser.text and "16 学时" in browser.text
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, "the page must fit a phone's width without sideways scrolling"
    browser.shoot("verify-valid")

    # a program asking the same URL gets the JSON the gateway gives
    as_json = requests.get(qr_url, headers={"Accept": "application/json"}, timeout=10)
    assert as_json.headers["Content-Type"].startswith("application/json")
    assert as_json.json()["status"] == "valid"

    # the certificate's PDF, from the training service through the gateway, reads as an operator expects
    response = requests.get(f"{web_stack.base}/api/v1/certificates/{number}/pdf", timeout=30,
                            headers={"Authorization": f"Bearer {web_stack.bootstrap}"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for expected in ("安全生产培训合格证", number, holder, "2018年东城区主要负责人第1期", "16 学时",
                     "2018年5月11日", qr_url.split("://", 1)[1]):
        assert expected in text, f"{expected!r} not in the certificate:\n{text}"

    status, _ = web_stack.admin.post(f"/api/v1/certificates/{number}/revocation", {"reason": "考试作弊"})
    assert status == 200
    browser.phone()
    browser.driver.get(qr_url)
    browser.wait_text(".verdict-word", "已撤销")
    assert "考试作弊" in browser.text
    browser.shoot("verify-revoked")

    browser.phone()
    browser.open("/verify?number=BEIJING-2018-9999999")
    browser.wait_text(".verdict-word", "查无此证")
    browser.shoot("verify-unknown")


def pdf_text(data: bytes) -> str:
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
        fh.write(data)
        fh.flush()
        return subprocess.run(["pdftotext", "-layout", fh.name, "-"], capture_output=True, check=True,
                              timeout=60).stdout.decode("utf-8")


def test_every_form_control_has_a_label_and_the_login_works_by_keyboard_alone(web_stack, browser):
    from selenium.webdriver.common.keys import Keys

    unit = new_unit(web_stack)
    account = web_stack.user("unit", unit_id=unit["id"])
    browser.open("/login")
    browser.find("#username").send_keys(account["username"], Keys.TAB, account["password"], Keys.ENTER)
    browser.wait_text("h1", "总览")
    for path in ("/candidates/new", "/candidates", "/verify"):
        browser.open(path)
        unlabelled = browser.driver.execute_script("""
            return Array.from(document.querySelectorAll('input, select, textarea'))
              .filter(el => el.type !== 'hidden')
              .filter(el => !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.getAttribute('aria-label'))
              .map(el => el.name || el.outerHTML);""")
        assert unlabelled == [], f"{path}: controls without a label: {unlabelled}"
        assert browser.driver.execute_script("return document.documentElement.lang") == "zh-CN"


def test_a_wrong_password_is_refused(web_stack, browser):
    account = web_stack.user("operator")
    browser.login({"username": account["username"], "password": "not-the-password"}, expect_ok=False)
    browser.wait_text("#login-error", "用户名或密码错误")
    assert "/console" not in browser.driver.current_url
    assert browser.driver.get_cookie("wsli_session") is None
    browser.shoot("login-refused")
    browser.login(account)                                   # the right one works
    session = browser.driver.get_cookie("wsli_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"


def test_repeated_failures_lock_the_account_even_against_the_right_password(web_stack, browser):
    account = web_stack.user("finance")
    wrong = {"username": account["username"], "password": "guess-guess"}
    for _ in range(2):
        browser.login(wrong, expect_ok=False)
        browser.wait_text("#login-error", "用户名或密码错误")
    browser.login(wrong, expect_ok=False)                    # the third failure locks (LOGIN_MAX_FAILURES=3)
    browser.wait_text("#login-error", "锁定")
    browser.login(account, expect_ok=False)
    browser.wait_text("#login-error", "锁定")
    assert browser.driver.get_cookie("wsli_session") is None
    browser.shoot("login-locked")


def test_a_post_without_the_csrf_token_is_rejected(web_stack, browser):
    cycle, unit = open_cycle(web_stack), new_unit(web_stack)
    status, created = web_stack.admin.post("/api/v1/candidates", {
        "cycle": cycle["code"], "unit_id": unit["id"], "name": "赵防护", "email": "z@example.com",
        "phone": "13812345670", "education": "本科", "id_number": resident_id(), "school_major": "安全工程",
        "employer_position": "东城区", "deeds": "事迹", "recommendation_reason": "理由"})
    assert status == 201
    browser.login(web_stack.user("unit", unit_id=unit["id"]))
    cookies = {c["name"]: c["value"] for c in browser.driver.get_cookies()}
    assert "wsli_session" in cookies

    # the logged-in browser's cookie, but a form from elsewhere: no token, or a wrong one
    for data in ({"signed_by": "伪造"}, {"signed_by": "伪造", "csrf_token": "forged"}):
        response = requests.post(f"{web_stack.web}/candidates/{created['id']}/seal", data=data, cookies=cookies,
                                 allow_redirects=False, timeout=10)
        assert response.status_code == 403
        assert "CSRF" in response.text and "请求被拒绝" in response.text
    assert web_stack.admin.get(f"/api/v1/candidates/{created['id']}")[1]["status"] == "submitted"

    # a login form posted without the token from the login page is refused too
    response = requests.post(f"{web_stack.web}/login", data={"username": "x", "password": "y"},
                             allow_redirects=False, timeout=10)
    assert response.status_code == 403

    # the same action from the page itself (with its token) goes through
    browser.open(f"/candidates/{created['id']}")
    assert not browser.driver.find_elements("css selector", "#reveal")   # not offered to a unit
    browser.find("#seal").click()
    browser.wait_text("#status", "单位已盖章")

    # and asking for the unmasked ID number anyway, with a valid token, is refused by the service
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.html).group(1)
    response = requests.post(f"{web_stack.web}/candidates/{created['id']}/identity", data={"csrf_token": token},
                             cookies=cookies, allow_redirects=False, timeout=10)
    assert response.status_code == 403 and "无权" in response.text
    assert not re.search(r"\b\d{17}[\dX]\b", response.text)


def test_pages_need_a_login_and_logout_ends_the_session(web_stack, browser):
    browser.open("/candidates")
    browser.wait_text("h1", "登录")
    assert "next=%2Fcandidates" in browser.driver.current_url
    browser.shoot("login")
    account = web_stack.user("operator")
    browser.login(account)
    old = browser.driver.get_cookie("wsli_session")["value"]
    browser.logout()
    # the old cookie no longer opens anything
    response = requests.get(f"{web_stack.web}/console", cookies={"wsli_session": old}, allow_redirects=False,
                            timeout=10)
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
