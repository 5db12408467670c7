"""The document kit: certificate PDFs rendered and read back with poppler, styled XLSX sheets."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from services.training import pdf
from shared import documents

URL = "http://127.0.0.1:8001/api/v1/certificates/BEIJING-2018-0000042/verify"
# exactly the lines services/training/service.py hands over
SERVICE_LINES = [
    (24, "安全生产培训合格证"),
    (14, "证书编号：BEIJING-2018-0000042"),
    (14, "姓名：陈合格    身份证号：110***********1234"),
    (12, "培训班：2018年东城区主要负责人第1期（北京安全培训中心）"),
    (12, "培训日期：2018-05-10 至 2018-05-11，共 16 学时"),
    (12, "发证日期：2026-12-02    状态：有效"),
    (10, "扫描二维码或访问下方网址查验（全市通查通用）"),
]


def poppler(tool: str, *args) -> subprocess.CompletedProcess:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install poppler-utils (.ci/run does)"
    return subprocess.run([path, *args], capture_output=True, check=True, timeout=60)


def test_the_certificate_renders_with_its_chinese_text_embedded_and_readable(tmp_path):
    data = pdf.certificate_pdf(SERVICE_LINES, URL)
    target = tmp_path / "cert.pdf"
    target.write_bytes(data)

    text = poppler("pdftotext", "-layout", str(target), "-").stdout.decode("utf-8")
    for expected in ("安全生产培训合格证", "BEIJING-2018-0000042", "陈合格", "110***********1234",
                     "2018年东城区主要负责人第1期", "北京安全培训中心", "16 学时",
                     "2018年5月11日",                       # issue date = the class's last day
                     "127.0.0.1:8001/api/v1/certificates/BEIJING-2018-0000042/verify",
                     "扫描二维码或访问下方网址查验"):
        assert expected in text, f"{expected!r} not in the PDF's text:\n{text}"
    assert "2026-12-02" not in text and "已撤销" not in text
    # Latin letters keep their own widths: the number is one word, not spaced out letter by letter
    assert "B E I J I N G" not in text

    fonts = poppler("pdffonts", str(target)).stdout.decode()
    line = next(l for l in fonts.splitlines() if "WSLI-CJK" in l or "WenQuanYi" in l or "+" in l.split()[0:1][0])
    assert " yes yes " in " ".join(line.split()[-5:]) + " ", fonts   # embedded and subset
    assert len(data) < 200_000, "a subset, not the whole font"

    poppler("pdftoppm", "-png", "-r", "60", "-singlefile", str(target), str(tmp_path / "page"))
    png = (tmp_path / "page.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    from PIL import Image
    image = Image.open(io.BytesIO(png))
    assert image.width > image.height                       # A4 landscape
    # something is drawn: not a blank page (the QR code alone is a lot of black)
    dark = sum(1 for px in image.convert("L").getdata() if px < 100)
    assert dark > 2000


def test_a_revoked_certificate_says_so():
    revoked = [line if not line[1].startswith("发证日期") else (12, "发证日期：2026-12-02    状态：已撤销")
               for line in SERVICE_LINES]
    target_text = _text(pdf.certificate_pdf(revoked, URL))
    assert "本证书已被撤销，不再有效" in target_text


def _text(data: bytes) -> str:
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
        fh.write(data)
        fh.flush()
        return poppler("pdftotext", fh.name, "-").stdout.decode("utf-8")


def test_the_kit_draws_a_certificate_with_a_seal_image():
    import segno
    seal = io.BytesIO()
    segno.make("seal").save(seal, kind="png", scale=4)
    cert = documents.Certificate(number="BEIJING-2019-0000007", holder="李*", class_title="2019年第2期", hours=16,
                                 issuer="北京安全培训中心", issue_date=date(2019, 6, 2), verify_url=URL,
                                 seal_image=seal.getvalue())
    text = _text(documents.render_certificate(cert))
    assert "2019年6月2日" in text and "北京安全培训中心" in text and "（盖章）" not in text


def test_a_missing_font_fails_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr(documents, "FONT_CANDIDATES", [(str(tmp_path / "none.ttc"), 0)])
    monkeypatch.delenv("WSLI_CJK_FONT", raising=False)
    with pytest.raises(documents.FontMissing) as missing:
        documents.font_path()
    assert "fonts-wqy-microhei" in str(missing.value) and "WSLI_CJK_FONT" in str(missing.value)
    monkeypatch.setenv("WSLI_CJK_FONT", str(tmp_path / "nope.ttf"))
    with pytest.raises(documents.FontMissing):
        documents.font_path()


def test_the_short_url_drops_the_scheme():
    assert documents.short_url("https://console.example.org/v/1") == "console.example.org/v/1"
    assert documents.short_url("ftp-less") == "ftp-less"


# ---- XLSX ----------------------------------------------------------------------------------------

def bank_sheet(rows):
    columns = [documents.Column("姓名", 12), documents.Column("开户行", 20), documents.Column("账号", 26),
               documents.Column("金额（元）", 14, documents.MONEY, total=True)]
    data = documents.styled_workbook("2022年宣讲补贴拨付（第1批）", columns, rows, sheet_name="银行文件")
    return load_workbook(io.BytesIO(data)).active


def test_the_sheet_has_a_title_a_bold_frozen_header_widths_formats_and_a_total():
    ws = bank_sheet([("李宣讲", "中国工商银行", "6222021234561234567", Decimal("200.00")),
                     ("王宣讲", "中国银行", "6217001234567890", 350)])
    assert ws.title == "银行文件"
    assert ws["A1"].value == "2022年宣讲补贴拨付（第1批）" and ws["A1"].font.b
    assert "A1:D1" in [str(r) for r in ws.merged_cells.ranges]
    assert [c.value for c in ws[2]] == ["姓名", "开户行", "账号", "金额（元）"]
    assert all(c.font.b for c in ws[2])
    assert ws.freeze_panes == "A3"
    assert ws.column_dimensions["C"].width == 26
    assert ws["D3"].number_format == documents.MONEY and ws["D3"].value == 200.0
    assert ws["A5"].value == "合计" and ws["D5"].value == "=SUM(D3:D4)" and ws["D5"].font.b
    assert ws["C3"].value == "6222021234561234567" and ws["C3"].data_type == "s"   # account numbers stay text


@pytest.mark.parametrize("evil", ["=HYPERLINK(\"http://x\",\"点我\")", "+1+2", "-2+3", "@SUM(A1)", "\t=1"])
def test_text_that_looks_like_a_formula_stays_text(evil):
    ws = bank_sheet([(evil, "银行", "1", 1)])
    cell = ws["A3"]
    assert cell.value == evil                 # shown exactly as entered
    assert cell.data_type == "s"              # not a formula
    assert cell.quotePrefix is True           # and stays text when edited in Excel
    assert documents.neutralise_csv(evil) == "'" + evil


def test_ordinary_values_are_left_alone():
    ws = bank_sheet([("张三", "银行", "622", -5)])
    assert ws["D3"].value == -5 and ws["D3"].data_type == "n"   # a negative number is a number
    assert ws["A3"].quotePrefix is False
    assert documents.neutralise_csv("张三") == "张三" and documents.neutralise_csv(12) == 12


def test_an_empty_sheet_still_has_its_header_and_a_zero_total():
    ws = bank_sheet([])
    assert [c.value for c in ws[2]] == ["姓名", "开户行", "账号", "金额（元）"]
    assert ws["A3"].value == "合计" and ws["D3"].value == 0


def test_a_long_enterprise_name_wraps_on_the_qr_label_instead_of_being_cut(tmp_path):
    from services.risk import qr

    name = "佛山市南海区某某建筑工程有限公司（第三项目部）"
    target = tmp_path / "label.pdf"
    target.write_bytes(qr.label_pdf("全安码", name, "扫码查看企业安责险服务信息", "http://127.0.0.1:8001/api/v1/qr/x"))
    text = poppler("pdftotext", str(target), "-").stdout.decode("utf-8")
    assert name in text.replace("\n", ""), text
    # every word lies inside the A6 page (298 pt wide)
    boxes = poppler("pdftotext", "-bbox", str(target), "-").stdout.decode("utf-8")
    import re
    assert max(float(x) for x in re.findall(r'xMax="([\d.]+)"', boxes)) <= qr.LABEL_W - 30
