"""Cases' rules through its entrypoints, without the broker: organisations, files, submission, screening."""
from __future__ import annotations

import base64

import pytest

from shared.errors import Forbidden, NotFound, RuleViolation, ValidationFailed
from tests.cases_support import build_docx, build_pdf, legacy_doc, photo, report_paragraphs
from tests.support import credit_code

SERVICE = "cases"
YEAR = 2031
DOCX, PDF = build_docx(report_paragraphs()), build_pdf(report_paragraphs())


def campaign_body(year=YEAR, deadline="2099-12-31"):
    return {"year": year, "title": f"{year}年案例征集（测试）", "deadline": deadline,
            "categories": [{"code": "tools_technology", "label": "工具技术产品类"}, {"code": "other", "label": "其他"}],
            "levels": [{"level": "best", "count": 1}, {"level": "excellent", "count": 1}],
            "scoring_form": [{"principle": p, "weight": w} for p, w in (
                ("authenticity", "0.2"), ("compliance", "0.15"), ("advancement", "0.2"), ("replicability", "0.2"),
                ("effectiveness", "0.25"))],
            "experts_per_case": 3, "disagreement_threshold": "15", "notice_working_days": 5,
            "ranking_basis": "normalised"}


def organisation(staff, n=1):
    return staff.register_organisation({
        "name": f"安全科技有限公司{n}", "short_name": f"安科{n}", "credit_code": credit_code(n), "kind": "service_org",
        "declared_no_bad_record": True, "declared_not_dishonest": True, "contact_name": "联系人",
        "contact_phone": "13800138000"})


def upload(org, kind, filename, data):
    return org.upload_file({"query": {"kind": kind}, "filename": filename,
                            "data_base64": base64.b64encode(data).decode("ascii")})


def files(org, docx=DOCX, pdf=PDF):
    return {"report_docx": upload(org, "report_docx", "报告.docx", docx)["id"],
            "report_pdf": upload(org, "report_pdf", "报告.pdf", pdf)["id"],
            "photos": [upload(org, "photo", f"{caption}.jpg", photo())["id"] for caption in ("现场排查", "专家培训")]}


def form(file_ids, **extra):
    return dict({"campaign": YEAR, "channel": "self", "name": "风险减量服务新模式", "category": "tools_technology",
                 "period_start": "2024-03", "period_end": "2025-12", "summary": "以安责险为纽带开展事故预防服务。",
                 "creators": ["张三"], "participants": ["李四"], "files": file_ids}, **extra)


@pytest.fixture
def staff(service):
    staff = service.as_("operator")
    staff.load_campaign(YEAR, campaign_body())
    return staff


def test_an_organisation_sees_itself_and_others_see_its_phone_masked(service, staff):
    org = organisation(staff)
    assert (org["kind_label"], org["contact_phone"]) == ("安全生产技术服务机构", "13800138000")
    own = service.as_("organisation", unit_id=org["id"]).get_organisation(org["id"])
    assert own["contact_phone"] == "13800138000" and own["credit_code"] == org["credit_code"]
    regulator = service.as_("regulator").get_organisation(org["id"])
    assert regulator["contact_phone"] != "13800138000" and regulator["name"] == org["name"]
    other = organisation(staff, 2)
    with pytest.raises(NotFound):  # another organisation's record is answered as a missing one
        service.as_("organisation", unit_id=other["id"]).get_organisation(org["id"])
    with pytest.raises(ValidationFailed) as bad:
        staff.get_organisation("x")
    assert "id" in bad.value.fields


def test_files_are_refused_at_upload_when_they_can_never_pass(service, staff):
    org = service.as_("organisation", unit_id=organisation(staff)["id"])
    with pytest.raises(RuleViolation):
        upload(org, "report_docx", "报告.doc", legacy_doc())
    with pytest.raises(ValidationFailed) as empty:
        upload(org, "photo", "空.jpg", b"")
    assert "file" in empty.value.fields
    stored = upload(org, "photo", "现场排查.jpg", photo())
    assert (stored["filename"], stored["content_type"], stored["dpi"], stored["case_id"]) == (
        "现场排查", "image/jpeg", 300, None)


def test_a_case_is_submitted_screened_and_withdrawn_through_its_lifecycle(service, staff):
    org_row = organisation(staff)
    org = service.as_("organisation", unit_id=org_row["id"])
    case = org.submit_case(form(files(org)))
    assert (case["status"], case["version"], case["campaign"], case["organisation_name"]) == (
        "submitted", 1, YEAR, org_row["name"])
    assert case["category_label"] == "工具技术产品类" and len(case["files"]) == 4
    assert {f["case_id"] for f in case["files"]} == {case["id"]}
    assert service.emitted("case_submitted")[-1]["case_id"] == case["id"]
    page = org.list_cases({})
    assert page["total"] == 1 and page["items"][0] == case
    with pytest.raises(NotFound):  # an unassigned expert cannot learn the case exists
        service.as_("expert", person="nobody").get_case(case["id"])
    screened = staff.screen_case(case["id"], {"result": "pass"})
    assert (screened["status"], screened["version"]) == ("screened", 2)
    with pytest.raises(RuleViolation) as again:
        staff.screen_case(case["id"], {"result": "pass"})
    assert again.value.rule == "status_transition"
    withdrawn = org.withdraw_case(case["id"], {"reason": "撤回"})
    assert (withdrawn["status"], withdrawn["withdrawal_reason"]) == ("withdrawn", "撤回")
    with pytest.raises(RuleViolation) as late:
        org.withdraw_case(case["id"], {"reason": "再撤"})
    assert late.value.rule == "status_transition"
    assert service.emitted("case_withdrawn")[-1]["previous_status"] == "screened"


def test_a_short_report_is_refused_with_every_failing_rule_and_nothing_stored(service, staff):
    org = service.as_("organisation", unit_id=organisation(staff)["id"])
    short = report_paragraphs(practices=1500, profile=250)
    bad = files(org, build_docx(short), build_pdf(short))
    check = org.precheck({"files": bad, "creators": ["张三"]})
    assert check["acceptable"] is False and check["refusals"] >= 3
    failing = {f["rule"] for f in check["findings"] if f["outcome"] != "pass"}
    assert {"profile_length", "practices_length", "body_length"} <= failing
    with pytest.raises(RuleViolation) as refused:
        org.submit_case(form(bad))
    assert refused.value.rule == "report_format"
    assert {"profile_length", "practices_length", "body_length"} <= set(refused.value.fields)
    assert org.list_cases({})["total"] == 0 and service.emitted("case_submitted") == []


def test_roles_are_refused_before_any_input_is_read(service):
    with pytest.raises(Forbidden):
        service.as_("organisation", unit_id=1).screen_case("not-an-id", None)
    with pytest.raises(Forbidden):
        service.as_("expert", person="x").list_organisations()


def test_the_released_list_is_a_styled_sheet_that_never_runs_a_formula():
    import io
    from datetime import datetime, timezone
    from types import SimpleNamespace

    import openpyxl

    from services.cases import exports

    case = SimpleNamespace(
        certificate_number="AQ2031-0001", level="best", name="=HYPERLINK(\"x\")", category="other",
        category_other="巡查", organisation=SimpleNamespace(name="安全科技有限公司"), channel="self",
        period_start="2024-03", period_end="2025-12", creators=["张三", "王五"], participants=["李四"],
        summary="简介", released_at=datetime(2031, 3, 1, 2, 0, tzinfo=timezone.utc))
    data = exports.released_xlsx(YEAR, [case], {"other": "其他"})
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == f"{YEAR}年入选案例" and rows[1] == tuple(exports.XLSX_HEADER)
    assert rows[2][:5] == ("AQ2031-0001", "最佳案例", "=HYPERLINK(\"x\")", "安全科技有限公司", "其他（巡查）")
    assert rows[2][7:] == ("张三、王五", "李四", "简介", "2031-03-01")
    assert sheet.cell(row=3, column=3).data_type == "s"  # kept as text, never evaluated
