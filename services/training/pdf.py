"""The certificate as a one-page PDF, laid out by the shared document kit (reportlab, embedded CJK font).

The service hands over its certificate as lines of ``标签：值`` text (several pairs on
a line are separated by spaces) and the verify URL; this module reads those pairs
back into the kit's ``Certificate`` so the service's call stays as it is. The issue
date printed is the class's completion date (its last day).
"""
from __future__ import annotations

import re

import segno

from shared.documents import Certificate, render_certificate

_PAIR = re.compile(r"([^：\s]+)：(.*?)(?=\s{2,}[^：\s]+：|$)")
_CLASS = re.compile(r"^(?P<title>.*?)（(?P<institution>[^（）]*)）$")
_DAYS = re.compile(r"^(?P<first>\d{4}-\d{2}-\d{2}) 至 (?P<last>\d{4}-\d{2}-\d{2})(?:，共 (?P<hours>\d+) 学时)?$")


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules for ``url`` (error correction M, with the quiet zone left out)."""
    code = segno.make(url, error="m", micro=False)
    return [[bool(cell) for cell in row] for row in code.matrix]


def _pairs(lines: list[tuple[int, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for _, line in lines[1:]:
        for key, value in _PAIR.findall(line.strip()):
            found.setdefault(key, value.strip())
    return found


def certificate_pdf(lines: list[tuple[int, str]], url: str) -> bytes:
    """``lines`` are (font size, text) from the top, the title first; the QR code points at ``url``."""
    title = lines[0][1] if lines else "安全生产培训合格证"
    facts = _pairs(lines)
    klass = _CLASS.match(facts.get("培训班", ""))
    days = _DAYS.match(facts.get("培训日期", ""))
    institution = klass.group("institution") if klass else None
    issue_date = days.group("last") if days else facts.get("发证日期", "")
    note = next((text for _, text in lines[1:] if "：" not in text), None)
    cert = Certificate(
        number=facts.get("证书编号", ""), holder=facts.get("姓名", ""), id_masked=facts.get("身份证号"),
        class_title=klass.group("title") if klass else facts.get("培训班", ""),
        institution=institution, days=f"{days.group('first')} 至 {days.group('last')}" if days else None,
        hours=(days.group("hours") if days and days.group("hours") else "—"),
        issuer=institution or "安全生产培训机构", issue_date=issue_date, verify_url=url, title=title,
        revoked=facts.get("状态") == "已撤销")
    if note:
        cert.note = note
    return render_certificate(cert)
