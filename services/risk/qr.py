"""The 全安码 as PNG, SVG and a printable one-page PDF label (segno; the label with the
platform's document kit: the QR modules as vector squares, the text in the embedded CJK font).
"""
from __future__ import annotations

import io
import re

import segno

from shared.documents import cjk_font, draw_qr

# what secrets.token_urlsafe(24) makes: checked before any database lookup
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
LABEL_W, LABEL_H = 298, 420  # A6 in points: a label to stick at the gate


def png(url: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def svg(url: str, scale: int = 8) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buf, kind="svg", scale=scale, border=4, xmldecl=True)
    return buf.getvalue()


def label_pdf(title: str, name: str, hint: str, url: str) -> bytes:
    """An A6 label: the title, the enterprise's name, the code and a hint, in the embedded CJK font."""
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(LABEL_W, LABEL_H))
    canvas.setTitle(f"{title} {name}")
    font = cjk_font()
    canvas.setFont(font, 20)
    canvas.drawString(40, LABEL_H - 50, title)
    canvas.setFont(font, 12)
    # a long name wraps (up to three lines above the code) instead of running off the label
    for n, line in enumerate(_wrap(canvas, font, 12, name, LABEL_W - 80)[:3]):
        canvas.drawString(40, LABEL_H - 78 - 16 * n, line)
    draw_qr(canvas, url, 49, 70, 200)
    canvas.setFont(font, 10)
    canvas.drawString(40, 40, hint)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _wrap(canvas, font: str, size: float, text: str, width: float) -> list[str]:
    """Chinese has no spaces to break at: break between characters, each line within ``width``."""
    lines, line = [], ""
    for char in text:
        if line and canvas.stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line else lines
