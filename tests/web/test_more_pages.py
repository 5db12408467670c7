"""More journeys in the browser: the gateway's front door, the case collection (submission with the
pre-check rule by rule, expert review, 公示 with an objection, the released list) and the
enterprise's QR page with a rectification upload."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
import requests

from shared.workdays import is_working_day, local_date, utcnow
from tests.cases_support import build_docx, build_pdf, photo, report_paragraphs
from tests.e2e.test_cases_api import World
from tests.web.test_pages import assert_no_full_id_number

pytestmark = pytest.mark.e2e

GOOD = report_paragraphs()
SHORT = report_paragraphs(practices=1500, profile=250)
MARKS = ("authenticity", "compliance", "advancement", "replicability", "effectiveness")


@pytest.mark.timeout(300)  # the first test of the module waits for the whole stack to start
def test_the_gateway_front_door_sends_a_browser_to_the_console_login(web_stack, browser):
    response = requests.get(web_stack.base + "/", allow_redirects=False, timeout=10)
    assert response.status_code == 302 and response.headers["Location"] == web_stack.web + "/"
    browser.driver.get(web_stack.base + "/")
    browser.wait_text("h1", "登录")
    assert browser.driver.current_url.startswith(web_stack.web)
    browser.shoot("gateway-root")


def _files(tmp_path, name, paragraphs):
    docx, pdf = tmp_path / f"{name}.docx", tmp_path / f"{name}.pdf"
    docx.write_bytes(build_docx(paragraphs))
    pdf.write_bytes(build_pdf(paragraphs))
    return str(docx), str(pdf)


def _last_working_day():
    day = local_date(utcnow())
    while not is_working_day(day):
        day -= timedelta(days=1)
    return day


def _through_review(world, case_id, marks=90):
    """Screen, assign and score one case through the API, confirm the levels: (assigned experts)."""
    op = world.operator
    assert op.post(f"/api/v1/cases/{case_id}/screening", {"result": "pass"})[0] == 200
    status, plan = op.post(f"/api/v1/case-campaigns/{world.year}/assignments")
    assert status == 200, plan
    return plan["assigned"][str(case_id)]


def _score(world, case_id, experts, mark=90):
    for code in experts:
        # experts are the agency's, not a campaign's: one made by an earlier test may be assigned
        api = world.experts.get(code) or world.admin.as_(world.admin.token_for("expert", person=code))
        status, body = api.put(f"/api/v1/cases/{case_id}/scores/mine",
                                               {"marks": {p: str(mark) for p in MARKS}})
        assert status == 200, body


@pytest.mark.timeout(300)  # a whole campaign's steps on a shared, busy machine
def test_an_organisation_prechecks_and_submits_a_case_an_expert_scores_it_and_the_public_objects(
        web_stack, browser, tmp_path):
    admin = web_stack.admin
    world = World(admin, random.randrange(10**6))
    year, org = world.year, world.orgs["a"]
    short_docx, short_pdf = _files(tmp_path, "短报告", SHORT)
    good_docx, good_pdf = _files(tmp_path, "报告", GOOD)
    photos = []
    for caption in ("现场隐患排查", "专家培训会"):
        path = tmp_path / f"{caption}.jpg"
        path.write_bytes(photo())
        photos.append(str(path))

    browser.login(web_stack.user("organisation", unit_id=org["id"], display_name="甲科技经办人"))
    browser.open(f"/cases/new?campaign={year}")
    browser.wait_text("h1", "申报典型案例")
    for name, value in {"campaign": str(year), "name": "风险减量服务新模式", "period_start": "2024-03",
                        "period_end": "2025-12", "summary": "以安责险为纽带开展事故预防服务。",
                        "creators": "张三", "participants": "李四，王五"}.items():
        browser.find(f"#f-{name}").send_keys(value)
    browser.find("#f-report_docx").send_keys(short_docx)
    browser.find("#f-report_pdf").send_keys(short_pdf)
    browser.find("#f-photos").send_keys("\n".join(photos))          # several files at once
    browser.find("#precheck-button").click()
    # the pre-check, rule by rule: a short report fails the length rules with the figures measured
    browser.wait_text("#precheck-verdict", "硬性要求未满足")
    row = browser.find("tr.finding[data-rule='practices_length']")
    measured = int(row.find_element("css selector", "td:nth-child(4)").text)
    assert "不通过" in row.text and "要求不少于 2,000 字" in row.text and 1500 <= measured < 2000
    assert "fail" in browser.find("tr.finding[data-rule='profile_length']").get_attribute("class")
    assert "pass" in browser.find("tr.finding[data-rule='photos']").get_attribute("class")
    assert admin.get("/api/v1/cases", params={"campaign": year})[1]["total"] == 0   # nothing submitted
    browser.shoot("case-precheck")

    # the good report replaces the short one; the photos uploaded before are kept
    browser.find("#f-report_docx").send_keys(good_docx)
    browser.find("#f-report_pdf").send_keys(good_pdf)
    browser.find("#submit").click()
    browser.wait_for(lambda d: "/cases/new" not in d.current_url or "提交未成功" in browser.text, "submitted")
    assert "提交未成功" not in browser.text, browser.find("#form-errors").text
    browser.wait_text("#status", "已申报")
    assert "案例已提交" in browser.text
    case_id = int(browser.driver.current_url.rsplit("/", 1)[1].split("?")[0])
    status, case = admin.get(f"/api/v1/cases/{case_id}")
    assert status == 200 and len(case["files"]) == 4 and case["organisation_id"] == org["id"]
    assert case["participants"] == ["李四", "王五"]
    browser.shoot("case-submitted")
    browser.logout()

    # the expert employed by the organisation is never assigned; an assigned one scores in the browser
    experts = _through_review(world, case_id)
    conflicted, scorer = f"x{world.seed}-0", experts[0]
    assert conflicted not in experts
    browser.login(web_stack.user("expert", person=conflicted))
    browser.open("/cases")
    browser.wait_text("main", "共 0 个案例")
    browser.open(f"/cases/{case_id}")
    browser.wait_text("h1", "未找到")
    browser.logout()

    browser.login(web_stack.user("expert", person=scorer, display_name="评审专家"))
    browser.open("/cases")
    browser.wait_text("main", "风险减量服务新模式")
    browser.open(f"/cases/{case_id}")
    for n, principle in enumerate(MARKS):
        browser.find(f"#m-{principle}").send_keys(str(85 + n))
    browser.find("#m-comment").send_keys("做法扎实，可推广。")
    browser.find("#score-submit").click()
    browser.wait_text("#score-saved", "评分已保存")
    browser.shoot("case-expert-score")
    scores = world.operator.get(f"/api/v1/cases/{case_id}/scores")[1]["scores"]
    total = next(s["total"] for s in scores if s["expert"] == scorer)
    assert total and total in browser.find("#review table").text   # the sheets show once its own is in
    assert next(s["comment"] for s in scores if s["expert"] == scorer) == "做法扎实，可推广。"
    browser.logout()

    _score(world, case_id, experts[1:])
    op = world.operator
    assert op.post(f"/api/v1/case-campaigns/{year}/levels", {})[0] == 200
    status, body = op.post(f"/api/v1/case-campaigns/{year}/notice", {"starts_on": _last_working_day().isoformat()})
    assert status == 200, body

    # 公示, for anyone: the list and an objection form (no login)
    browser.phone()
    browser.open(f"/public/cases/{year}")
    browser.wait_text("#notice-state", "公示期")
    assert "风险减量服务新模式" in browser.text
    browser.find("#o-name").send_keys("赵六")
    browser.find("#o-contact").send_keys("13700137000")
    browser.find("#o-reasons").send_keys("案例数据与实际情况不符，请核实。")
    browser.find("#objection-submit").click()
    browser.wait_text("#objection-filed", "异议已收到")
    assert "13700137000" not in browser.html
    browser.shoot("case-objection")
    objections = op.get(f"/api/v1/case-campaigns/{year}/objections")[1]["items"]
    assert [(o["case_id"], o["name"], o["status"]) for o in objections] == [(case_id, "赵六", "open")]
    # too short a reason: a 4xx naming the field, in Chinese
    browser.find("#o-name").send_keys("钱七")
    browser.find("#o-contact").send_keys("qian@example.org")
    browser.find("#o-reasons").send_keys("不对")
    browser.find("#objection-submit").click()
    browser.wait_text("#form-errors", "异议理由")


@pytest.mark.timeout(300)
def test_the_released_list_is_public_with_the_certificate_numbers(web_stack, browser):
    world = World(web_stack.admin, random.randrange(10**6))
    op, year = world.operator, world.year
    status, case = world.org_api["a"].post("/api/v1/cases", world.form("a", world.files("a")))
    assert status == 201, case
    _score(world, case["id"], _through_review(world, case["id"]))
    assert op.post(f"/api/v1/case-campaigns/{year}/levels", {})[0] == 200
    starts = (local_date(utcnow()) - timedelta(days=30)).isoformat()
    assert op.post(f"/api/v1/case-campaigns/{year}/notice", {"starts_on": starts})[0] == 200
    status, released = op.post(f"/api/v1/case-campaigns/{year}/release")
    assert status == 200, released
    browser.open(f"/public/cases/{year}")
    browser.wait_text("#notice-state", "名单已正式发布")
    assert released["certificates"][0] in browser.text
    assert not browser.driver.find_elements("css selector", "#objection")    # no objections after release
    assert_no_full_id_number(browser)
    browser.shoot("case-released")
    assert requests.get(f"{web_stack.web}/public/cases/2000", timeout=10).status_code == 404
    assert requests.get(f"{web_stack.web}/public/cases/abc", timeout=10).status_code == 400


def _enterprise_with_a_hazard(admin):
    """One insured enterprise of this year, visited yesterday, with one general hazard: (enterprise, hazard)."""
    import uuid
    from datetime import datetime, timezone

    from tests.e2e.risk_support import B, PNG, upload
    from tests.support import credit_code

    tag, year = uuid.uuid4().hex[:6], datetime.now(timezone.utc).year
    district = f"南海区{tag}"
    status, insurer = admin.post(f"{B}/insurers", {"name": f"甲财产保险{tag}"})
    assert status == 201, insurer
    status, org = admin.post(f"{B}/organisations", {"name": f"安全技术服务{tag}"})
    assert status == 201, org
    status, tech = admin.post(f"{B}/technicians", {"organisation_id": org["id"], "name": "李工", "phone": "13912345678"})
    assert status == 201, tech
    code = credit_code()
    header = "统一社会信用代码,企业名称,区,镇街,行业,从业人数,联系人,联系电话,经度,纬度,保险机构,保单年度,起保日期,终保日期,参保人数"
    row = (f"{code},佛山建工{tag},{district},桂城街道,建筑施工,120,王五,13800001111,113.15,23.03,{insurer['name']},"
           f"{year},{year}-01-01,{year}-12-31,100")
    status, result = upload(admin, f"{B}/enterprise-imports", ("\ufeff" + header + "\n" + row + "\n").encode(),
                            "企业名单.csv", "text/csv")
    assert status == 200 and result["created"] == 1, result
    enterprise = admin.get(f"{B}/enterprises", params={"q": tag})[1]["items"][0]
    status, plan = admin.post(f"{B}/inspection-plans", {"year": year})
    assert status == 200, plan
    insp = next(i for i in admin.get(f"{B}/inspections", params={"year": year, "per_page": 100})[1]["items"]
                if i["enterprise_id"] == enterprise["id"])
    status, insp = admin.post(f"{B}/inspections/{insp['id']}/assignment",
                              {"organisation_id": org["id"], "technician_id": tech["id"]})
    assert status == 200, insp
    status, photo = upload(admin, f"{B}/photos", PNG + tag.encode(), "现场.png", "image/png")
    assert status == 200, photo
    visited = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat()
    status, insp = admin.post(f"{B}/inspections/{insp['id']}/visit", {
        "visited_at": visited, "technician_id": tech["id"], "findings": "脚手架未设防护栏", "photos": [photo["key"]],
        "hazards": [{"level": "general", "description": "脚手架未设防护栏", "location": "3号楼",
                     "rectify_working_days": 5},
                    {"level": "major", "description": "配电箱无漏电保护", "location": "工地配电房"}]})
    assert status == 200, insp
    return enterprise, min(insp["hazards"], key=lambda h: h["id"])


@pytest.mark.timeout(300)
def test_an_enterprise_opens_its_qr_page_logs_in_and_uploads_a_rectification(web_stack, browser, tmp_path):
    from tests.e2e.risk_support import B

    admin = web_stack.admin
    enterprise, hazard = _enterprise_with_a_hazard(admin)
    status, qr = admin.post(f"{B}/enterprises/{enterprise['id']}/qr-code")
    assert status == 201, qr
    assert qr["url"].startswith(web_stack.web + "/api/v1/qr/")       # the console's page, not raw JSON

    # scanned by anyone: the minimum, never the credit code or the contact's phone
    browser.phone()
    browser.driver.get(qr["url"])
    browser.wait_text("#ent-name", enterprise["name"])
    assert "已投保" in browser.find("#insured").text
    assert enterprise["credit_code"] not in browser.html and "13800001111" not in browser.html
    assert "脚手架" not in browser.text
    browser.shoot("qr-public")
    as_json = requests.get(qr["url"], headers={"Accept": "application/json"}, timeout=10).json()
    assert as_json["view"] == "public" and as_json["name"] == enterprise["name"]

    # the enterprise logs in from the page and comes back to its own view
    account = web_stack.user("enterprise", person=enterprise["credit_code"], display_name="佛山建工安全员")
    browser.find("#qr-login").click()
    browser.wait_text("h1", "登录")
    browser.find("#username").send_keys(account["username"])
    browser.find("#password").send_keys(account["password"])
    browser.find("button[type=submit].primary").click()
    browser.wait_text("#qr-hazards", "脚手架未设防护栏")
    assert enterprise["credit_code"] in browser.text and "13800001111" not in browser.html   # phone stays masked
    browser.shoot("qr-enterprise")

    # a rectification with two photos at once; the page shows the upload's progress
    paths = []
    for n in range(2):
        path = tmp_path / f"整改{n}.png"
        path.write_bytes(photo(fmt="PNG", color=(20 * n, 150, 90)))
        paths.append(str(path))
    browser.find("#qr-hazards a").click()
    browser.wait_text("#status", "待整改")
    browser.find("#e-note").send_keys("已加设防护栏并验收")
    browser.find("#e-photos").send_keys("\n".join(paths))
    browser.shoot("hazard-rectify-form")
    browser.find("#evidence-submit").click()
    browser.wait_text("#evidence-saved", "整改材料已提交")
    browser.wait_text("#status", "整改中")
    assert "照片 2 张" in browser.find("#evidence").text
    browser.shoot("hazard-rectified")
    status, found = admin.get(f"{B}/hazards/{hazard['id']}")
    assert status == 200 and found["status"] == "rectifying"
    assert [(e["note"], len(e["photos"])) for e in found["evidence"]] == [("已加设防护栏并验收", 2)]
    browser.logout()

    # the district's regulator: its hazards, the major one's report to acknowledge, coverage, the map
    browser.desktop()
    regulator = web_stack.user("regulator", district=enterprise["district"], display_name="南海区监管员")
    browser.login(regulator)
    browser.open("/hazards")
    browser.wait_text("main", "脚手架未设防护栏")
    assert "配电箱无漏电保护" in browser.text
    browser.shoot("hazards-regulator")
    browser.open("/major-hazards")
    report = admin.get(f"{B}/major-hazard-reports")[1]
    report = next(r for r in report if r["district"] == enterprise["district"])
    browser.find(f"#ack-{report['id']}").send_keys("已收到，督促整改")
    browser.find(f"#ack-button-{report['id']}").click()
    browser.wait_text("#acknowledged", "已确认收到")
    assert regulator["username"] in browser.find(f"#report-{report['id']}").text   # the audited actor
    assert admin.get(f"{B}/major-hazard-reports")[1][0]["acknowledged_at"]
    browser.shoot("major-hazards-regulator")
    browser.open("/coverage")
    browser.wait_text("#coverage-totals", "企业数")
    assert enterprise["district"] in browser.text and "100.00%" in browser.text   # its one enterprise, insured
    browser.shoot("coverage-regulator")
    browser.open("/risk-map")
    # the vendored Leaflet draws the town's point (no tiles fetched); the table says the same in words
    browser.wait_for(lambda d: d.find_element("css selector", "#risk-map").get_attribute("data-drawn") == "1",
                     "the map drew one town")
    assert "桂城街道" in browser.find("#risk-table").text
    assert browser.driver.find_elements("css selector", "#risk-map path.leaflet-interactive")
    # the district drawn as the area its enterprises cover, coloured by its open hazards (1 general + 1 major)
    browser.wait_for(lambda d: d.find_element("css selector", "#risk-map").get_attribute("data-areas") == "1",
                     "the map drew the district's area")
    area = browser.find("#risk-map path.risk-area")
    assert area.get_attribute("fill") == "#fde7a9" and len(area.get_attribute("d")) > 20   # the 1–2 class
    legend = browser.find("#risk-legend").text
    assert "不是行政区划边界" in legend
    assert browser.find("#risk-legend .risk-c1").value_of_css_property("background-color") == "rgba(253, 231, 169, 1)"
    row = browser.find("#district-1").text.split()
    assert row == [enterprise["district"], "1", "1", "1", "按", "1", "家企业位置"], row
    browser.shoot("risk-map")
    browser.logout()
    browser.login(web_stack.user("regulator", district="别的区"))
    browser.open("/hazards")
    browser.wait_text("main", "共 0 条")


def test_the_api_documentation_and_error_messages_in_the_clients_language(web_stack, browser):
    # Swagger UI, vendored, on the gateway's own origin, loading /openapi.json
    browser.driver.get(web_stack.base + "/docs")
    browser.wait_for(lambda d: d.find_elements("css selector", ".opblock-tag"), "the operations drawn")
    assert "/api/v1/cycles" in browser.driver.page_source or browser.find(".opblock-tag").text
    assert "cdn" not in browser.driver.page_source.lower()
    browser.shoot("api-docs")
    response = requests.get(web_stack.base + "/docs/static/../config.yml", timeout=10)
    assert response.status_code == 404

    # the same refusal, in Chinese by default and in English when asked; the codes do not change
    chinese = requests.get(web_stack.base + "/api/v1/cycles", timeout=10)
    english = requests.get(web_stack.base + "/api/v1/cycles", headers={"Accept-Language": "en-GB,en;q=0.8"},
                           timeout=10)
    assert chinese.status_code == english.status_code == 401
    assert chinese.json()["error"] == english.json()["error"] == "unauthenticated"
    assert "登录令牌" in chinese.json()["message"] and chinese.headers["Content-Language"] == "zh-CN"
    assert english.json()["message"] == "a bearer token is required" and english.headers["Content-Language"] == "en"
    status, body = web_stack.admin.post("/api/v1/public/case-objections", {"case_id": 999999999, "name": "x",
                                                                          "contact": "13700137000",
                                                                          "reasons": "理由足够长的一段话。"})
    # a case that is not on notice is a missing record, named by its field
    assert status == 404 and body["fields"].get("case_id") and not body["message"].startswith("no such")
