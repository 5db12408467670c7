"""Files the demo submits as a case organisation would: the 附件二 report as .docx and PDF, and site photos.

Built with the libraries the platform already uses to read them (python-docx, reportlab, Pillow), shaped
as 附件二 asks: the title, the organisation, 单位简介, then 一、实施背景 / 二、主要做法 / 三、实施效果 with
two heading levels under the practices, the practices the larger part of the body.
"""
from __future__ import annotations

import io

PROSE = ("保险机构组织专业团队深入投保企业开展风险辨识与隐患排查，建立问题清单并跟踪整改闭环，"
         "通过线上平台与现场服务相结合提升事故预防服务质量和企业获得感。")


def prose(n: int, offset: int = 0) -> str:
    """``n`` characters (字数 n: CJK characters and full-width marks only) of the report's prose."""
    text = (PROSE * (n // len(PROSE) + 2))[offset % len(PROSE):]
    return text[:n]


def report_paragraphs(title: str, org: str) -> list[str]:
    return [title, f"——{org}", "单位简介", prose(350),
            "一、实施背景", prose(500, 3),
            "二、主要做法", "（一）建立服务机制", "1．组建专家团队", prose(1200, 7), "（二）强化过程管理", prose(1200, 13),
            "三、实施效果", prose(500, 3)]


def report_docx(paragraphs: list[str], images=(), page_mm=(210, 297)) -> bytes:
    """``images``: (JPEG bytes, displayed width in inches) placed after the title; A4 portrait by default
    (python-docx's own template is US Letter)."""
    import docx
    from docx.shared import Inches, Mm

    document = docx.Document()
    document.sections[0].page_width, document.sections[0].page_height = Mm(page_mm[0]), Mm(page_mm[1])
    for i, text in enumerate(paragraphs):
        document.add_paragraph(text)
        if i == 0:
            for data, width in images:
                document.add_picture(io.BytesIO(data), width=Inches(width))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def report_pdf(paragraphs: list[str], per_line: int = 36) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    page = canvas.Canvas(buf, pagesize=A4)
    y = A4[1] - 60
    page.setFont("STSong-Light", 12)
    for text in paragraphs:
        for line in [text[i:i + per_line] for i in range(0, len(text), per_line)] or [""]:
            if y < 60:
                page.showPage()
                page.setFont("STSong-Light", 12)
                y = A4[1] - 60
            page.drawString(50, y, line)
            y -= 20
        y -= 6
    page.save()
    return buf.getvalue()


def site_photo(color=(30, 120, 200)) -> bytes:
    """A 1200×800 JPEG at 300 dpi (附件二 asks for the density to be stated)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1200, 800), color).save(buf, format="JPEG", dpi=(300, 300))
    return buf.getvalue()
