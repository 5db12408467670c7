"""Documents of a released campaign: the XLSX list, the compiled .docx for the book, certificates."""
from __future__ import annotations

import io

from shared.documents import Column, styled_workbook

from . import domain, report

XLSX_COLUMNS = [Column("证书编号", 18), Column("级别", 10), Column("案例名称", 36), Column("申报单位", 30),
                Column("案例类别", 24), Column("申报渠道", 14), Column("实施周期", 18), Column("主要创造人", 20),
                Column("参与创造人", 30), Column("案例简介", 60), Column("发布时间", 12)]
XLSX_HEADER = [c.header for c in XLSX_COLUMNS]


def released_xlsx(year: int, cases, categories: dict[str, str]) -> bytes:
    rows = [[c.certificate_number, domain.LEVELS[c.level], c.name, c.organisation.name,
             categories.get(c.category, c.category) + (f"（{c.category_other}）" if c.category_other else ""),
             domain.CHANNELS[c.channel], f"{c.period_start}—{c.period_end}", "、".join(c.creators),
             "、".join(c.participants), c.summary,
             c.released_at.astimezone(domain_tz()).strftime("%Y-%m-%d") if c.released_at else ""] for c in cases]
    return styled_workbook(f"{year}年入选案例", XLSX_COLUMNS, rows, sheet_name=f"{year}年入选案例")


def domain_tz():
    from shared.workdays import SHANGHAI
    return SHANGHAI


def compiled_docx(title: str, cases, reports: dict[int, bytes | None]) -> bytes:
    """One document: a contents list, then each released case's report text under its level."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    book = docx.Document()
    heading = book.add_heading(f"{title}入选案例汇编", level=0)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    book.add_heading("目录", level=1)
    for c in cases:
        book.add_paragraph(f"【{domain.LEVELS[c.level]}】{c.name}——{c.organisation.name}")
    for c in cases:
        book.add_page_break()
        book.add_heading(c.name, level=1)
        p = book.add_paragraph(f"——{c.organisation.name}（{domain.LEVELS[c.level]}，证书编号 {c.certificate_number}）")
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        data = reports.get(c.id)
        if not data:
            book.add_paragraph("（案例报告缺失）")
            continue
        paragraphs = report.read_docx(data).paragraphs
        for para in paragraphs[1:]:  # the report's own title is the heading above
            if para.text.startswith(("——", "—")):
                continue
            if para.level in (1, 2):
                book.add_heading(para.text, level=para.level + 1)
            else:
                book.add_paragraph(para.text)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def certificate_pdf(number: str, campaign_title: str, case_name: str, organisation: str, level_label: str,
                    released_at) -> bytes:
    """An A4 landscape certificate in STSong-Light: one of the standard CJK fonts PDF readers supply
    (Adobe's CID fonts, known to reportlab), so the file stays small and needs no font on the server."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    width, height = landscape(A4)
    c = canvas.Canvas(buf, pagesize=(width, height))
    c.setTitle(f"证书 {number}")
    c.setFont("STSong-Light", 30)
    c.drawCentredString(width / 2, height - 120, "证　书")
    c.setFont("STSong-Light", 16)
    c.drawCentredString(width / 2, height - 190, organisation)
    c.drawCentredString(width / 2, height - 225, f"案例《{case_name}》")
    c.drawCentredString(width / 2, height - 260, f"入选{campaign_title.replace('征集', '')}“{level_label}”")
    c.setFont("STSong-Light", 12)
    day = released_at.astimezone(domain_tz()).strftime("%Y年%m月%d日") if released_at else ""
    c.drawCentredString(width / 2, 110, f"证书编号：{number}　　发布日期：{day}")
    c.showPage()
    c.save()
    return buf.getvalue()
