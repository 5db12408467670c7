"""Format checks of a case report (seed 001 附件二): every rule fails on one fixture and passes on another."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.cases import report
from services.cases.report import HARD, PASS, WARNING, Submission, check, count_chars
from tests.cases_support import build_docx, build_pdf, chinese, legacy_doc, photo, report_paragraphs


# ---- the counting rule, on hand-counted texts -------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("安全生产", 4),                                   # four ideographs
    ("安全生产。", 5),                                 # + one full-width full stop
    ("“安责险”", 5),                                   # curly quotes are full-width marks: 2 + 3
    ("AQ9010", 1),                                     # one run of Latin letters and digits
    ("AQ9010-2019", 2),                                # the half-width hyphen breaks the run, counts 0
    ("2023年10月31日", 6),                              # 2023 | 年 | 10 | 月 | 31 | 日
    ("2,000 字", 3),                                   # 2 | 000 | 字 (comma and space count 0)
    ("使用 APP 扫码", 5),                               # 使 用 APP 扫 码
    ("一、（一）1．", 7),                               # 一 、 （ 一 ） 1 ．
    ("Hello world", 2),
    ("风险减量——服务", 8),                              # the dash pair counts 2
    ("\n\t  ", 0),
])
def test_character_count_follows_the_documented_rule(text, expected):
    assert count_chars(text) == expected


def test_heading_levels_in_the_seed_style():
    assert report.heading_level("一、实施背景") == 1
    assert report.heading_level("（二）强化过程管理") == 2
    assert report.heading_level("3．组建专家团队") == 3
    assert report.heading_level("1、明确分工") == 3
    assert report.heading_level("（1）明确分工") == 4
    assert report.heading_level("①细化") == 5
    assert report.heading_level("普通段落") is None
    assert report.heading_level("2023年的工作", None) is None
    assert report.heading_level("x", "Heading 2") == 2


# ---- fixtures ---------------------------------------------------------------------------------------

def submission(paragraphs=None, photos=None, charts=(), pdf_paragraphs=None, docx=None, pdf=None, **kw):
    paragraphs = paragraphs or report_paragraphs()
    return Submission(
        docx=build_docx(paragraphs) if docx is None else docx,
        pdf=build_pdf(pdf_paragraphs or paragraphs) if pdf is None else pdf,
        photos=[("现场隐患排查", photo()), ("专家培训会", photo())] if photos is None else photos,
        charts=list(charts), organisation_names=kw.pop("orgs", ["北京安全科技有限公司", "安科"]),
        person_names=kw.pop("people", ["张三", "李四"]), summary=kw.pop("summary", chinese(500)))


def finding(findings, rule):
    found = [f for f in findings if f.rule == rule]
    assert len(found) == 1, (rule, findings)
    return found[0]


@pytest.fixture(scope="module")
def good():
    return check(submission())


def test_a_compliant_report_passes_every_rule(good):
    assert [f for f in good if f.outcome != PASS] == []
    rules = {f.rule for f in good}
    assert {"summary_length", "report_files", "title_length", "title_no_names", "profile_length", "body_length",
            "sections_present", "practices_length", "practices_share", "heading_levels", "third_person",
            "pdf_matches_docx", "photos", "photo_captions", "report_image_dpi", "charts_jpg", "page_a4_portrait",
            "organisation_line"} == rules


def test_each_rule_names_its_kind_and_figure(good):
    assert finding(good, "practices_share").kind == WARNING
    assert finding(good, "heading_levels").kind == WARNING
    assert finding(good, "pdf_matches_docx").kind == WARNING
    assert finding(good, "body_length").kind == HARD
    # profile 350 字 exactly, by construction
    assert finding(good, "profile_length").measured == "350"
    assert "350 字" in finding(good, "profile_length").message


def test_practices_figures_in_the_message():
    # body = headings + prose: 一、实施背景(6)+500 + 二、主要做法(6)+（一）建立服务机制(9)+1．组建专家团队(8)
    #        +1000+（二）强化过程管理(9)+1000 + 三、实施效果(6)+500 = 3044; practices = 2032 → 66.8 %
    findings = check(submission(report_paragraphs(practices=2000)))
    share = finding(findings, "practices_share")
    assert share.outcome == "fail" and share.measured == "66.8%"
    assert share.message == "主要做法 2,032 字，占正文 66.8%；不宜低于 70%"
    assert finding(findings, "practices_length").outcome == PASS
    assert finding(findings, "body_length").measured == "3044"
    assert not share.refuses  # a warning never refuses
    assert report.refusals(findings) == []


@pytest.mark.parametrize("kwargs, rule", [
    ({"title": "二〇二三年度保险机构安全生产风险减量服务创新"}, "title_length"),     # 22 字
    ({"title": "安科风险减量服务"}, "title_no_names"),                              # short name of the org
    ({"title": "张三工作法"}, "title_no_names"),                                    # a creator's name
    ({"profile": 299}, "profile_length"),
    ({"profile": 401}, "profile_length"),
    ({"background": 100, "results": 100, "practices": 2000}, "body_length"),
    ({"practices": 1900, "background": 400, "results": 400}, "practices_length"),
    ({"sections": ("背景", "做法")}, "sections_present"),
    ({"first_person": True}, "third_person"),
])
def test_each_hard_rule_refuses(kwargs, rule):
    f = finding(check(submission(report_paragraphs(**kwargs))), rule)
    assert f.outcome == "fail" and f.kind == HARD and f.refuses, f


@pytest.mark.parametrize("kwargs, rule, measured", [
    ({"title": "二〇二三年度保险机构安全生产风险减量服务"}, "title_length", "20"),  # 20 字: inclusive
    ({"profile": 300}, "profile_length", "300"),
    ({"profile": 400}, "profile_length", "400"),
])
def test_limits_are_inclusive(kwargs, rule, measured):
    f = finding(check(submission(report_paragraphs(**kwargs))), rule)
    assert f.outcome == PASS and f.measured == measured


def test_exactly_2000_practice_characters_pass():
    # practices prose 1968 + headings 二、主要做法(6)+（一）…(9)+1．…(8)+（二）…(9) = 2000
    f = finding(check(submission(report_paragraphs(practices=1968))), "practices_length")
    assert f.outcome == PASS and f.measured == "2000"
    f = finding(check(submission(report_paragraphs(practices=1967))), "practices_length")
    assert f.outcome == "fail" and f.measured == "1999"


def test_four_heading_levels_is_a_warning_only():
    findings = check(submission(report_paragraphs(extra_levels=1)))
    f = finding(findings, "heading_levels")
    assert f.outcome == "fail" and f.kind == WARNING and f.measured == "4" and not f.refuses


def test_summary_over_800_characters_is_refused():
    assert finding(check(submission(summary=chinese(801))), "summary_length").refuses
    assert finding(check(submission(summary=chinese(800))), "summary_length").outcome == PASS


def test_both_formats_are_required():
    sub = submission()
    sub.pdf = None
    f = finding(check(sub), "report_files")
    assert f.refuses and "缺少 PDF" in f.message


def test_legacy_doc_and_junk_are_refused_clearly():
    f = finding(check(submission(docx=legacy_doc())), "legacy_doc")
    assert f.refuses and ".doc" in f.message and ".docx" in f.message
    f = finding(check(submission(docx=b"PK\x03\x04 not really a zip")), "unreadable_file")
    assert f.refuses
    f = finding(check(submission(pdf=b"%PDF-1.4 garbage")), "pdf_readable")
    assert f.refuses


def test_photos_need_two_at_300_dpi_and_unknown_density_never_passes():
    f = finding(check(submission(photos=[("现场", photo()), ("培训", photo(dpi=(299, 299)))])), "photos")
    assert f.outcome == "fail" and "299 dpi" in f.message
    f = finding(check(submission(photos=[("现场", photo()), ("培训", photo(dpi=None))])), "photos")
    assert f.outcome == "unknown" and f.refuses and "未标注分辨率" in f.message
    f = finding(check(submission(photos=[("现场", photo()), ("培训", photo(fmt="PNG", dpi=(300, 300)))])), "photos")
    assert f.outcome == PASS and f.measured == "2"


def test_a4_portrait_is_required():
    paras = report_paragraphs()
    f = finding(check(submission(docx=build_docx(paras, page_mm=(216, 279)))), "page_a4_portrait")   # US Letter
    assert f.refuses and "216×279 mm" in f.message
    f = finding(check(submission(docx=build_docx(paras, page_mm=(297, 210)))), "page_a4_portrait")   # landscape
    assert f.refuses


def test_the_organisation_line_names_the_full_name():
    f = finding(check(submission(orgs=["北京安全科技股份有限公司"])), "organisation_line")
    assert f.outcome == "fail" and f.kind == WARNING and "北京安全科技有限公司" in f.message


def test_a_photo_named_by_the_camera_is_a_warning():
    f = finding(check(submission(photos=[("IMG_0412", photo()), ("专家培训会", photo())])), "photo_captions")
    assert f.outcome == "fail" and f.kind == WARNING and "IMG_0412" in f.message and not f.refuses


def test_images_inside_the_docx_use_pixels_over_displayed_size():
    # 1200 px shown 3 inches wide = 400 dpi; 1200 px shown 5 inches wide = 240 dpi
    paras = report_paragraphs()
    sharp = build_docx(paras, images=[(photo(size=(1200, 800)), 3)])
    blurry = build_docx(paras, images=[(photo(size=(1200, 800)), 5)])
    assert finding(check(submission(docx=sharp)), "report_image_dpi").outcome == PASS
    f = finding(check(submission(docx=blurry)), "report_image_dpi")
    assert f.outcome == "fail" and "240 dpi" in f.message
    image = report.read_docx(sharp).images[0]
    assert image.dpi == Decimal(400)


def test_charts_must_be_jpg():
    assert finding(check(submission(charts=[("图1 事故率变化", photo())])), "charts_jpg").outcome == PASS
    assert finding(check(submission(charts=[("图1", photo(fmt="PNG"))])), "charts_jpg").refuses


def test_a_pdf_of_another_text_is_flagged_not_refused():
    other = report_paragraphs(practices=2400)
    other = [(t[::-1] if len(t) > 100 else t, s) for t, s in other]
    f = finding(check(submission(pdf_paragraphs=other)), "pdf_matches_docx")
    assert f.outcome == "fail" and f.kind == WARNING and not f.refuses


def test_similarity_ignores_layout():
    assert report.similarity("安全生产 责任保险\n事故预防", "安全生产责任保险事故预防") == Decimal(1)
    assert report.similarity("甲乙丙丁戊己", "子丑寅卯辰巳") == Decimal(0)
