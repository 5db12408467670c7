"""The document kit: PDFs with an embedded CJK font (reportlab) and styled XLSX sheets (openpyxl).

PDF text is set in a CJK TrueType font installed by the project's own setup
(Debian's ``fonts-wqy-microhei``: Apache-2.0 / GPLv3 with the font exception) and
embedded as a subset of the glyphs used, so a certificate reads the same on a
machine without any Chinese font. The font is looked up at run time and a missing
font fails loudly with what to install, never with empty boxes. Latin letters and
digits keep their proportional widths (no full-width spacing).

XLSX sheets get a title row, a bold frozen header, column widths, number formats
and a total row; text that a spreadsheet would run as a formula (``= + - @`` …) is
stored as plain text with Excel's quote prefix, so it shows exactly as entered and
never evaluates.

Files a service hands back through the gateway travel as a result dict
``{"filename", "content_type", "data_base64"}`` (an RPC cannot return bytes as
JSON); the gateway sends the bytes (``Route(file=True)``).
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

import segno

from shared.errors import ValidationFailed

CSV_TYPE = "text/csv; charset=utf-8"


def http_content_type(value: str) -> str:
    """The Content-Type header for a file result: said once. Werkzeug's ``mimetype=`` appends
    ``; charset=utf-8`` to any text type, even one that already names its charset."""
    value = str(value or "application/octet-stream")
    if value.startswith("text/") and "charset=" not in value.lower():
        value += "; charset=utf-8"
    return value
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"


def file_result(filename: str, content_type: str, data: bytes) -> dict:
    return {"filename": filename, "content_type": content_type, "data_base64": base64.b64encode(data).decode("ascii")}


def csv_bytes(header: list, rows: Iterable[list]) -> bytes:
    """UTF-8 with a BOM, so Excel shows Chinese text; CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def as_text(value):
    """A cell kept as text: Excel must not turn a 19-digit account into 6.2E+18."""
    return value, "@"


def xlsx_bytes(title: str, header: list, rows: Iterable[list],
               cell: Callable[[object], tuple[object, str | None]] = lambda v: (v, None)) -> bytes:
    """One sheet: a header row, then ``rows``; ``cell`` turns a value into (value, number format)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(header)
    for n, row in enumerate(rows, start=2):
        shaped = [cell(v) for v in row]
        ws.append([value for value, _ in shaped])
        for column, (_, number_format) in enumerate(shaped, start=1):
            if number_format:
                ws.cell(row=n, column=column).number_format = number_format
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def decode_upload(upload) -> bytes:
    """The bytes of a file the gateway forwarded (``Route(upload=True)``); a 400 on ``file`` otherwise."""
    if not isinstance(upload, dict) or not isinstance(upload.get("data_base64"), str):
        raise ValidationFailed("no file", {"file": ["send the file as the request body"]})
    try:
        return base64.b64decode(upload["data_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("file is not base64", {"file": ["not valid base64"]}) from None


def decode_base64(value, field: str) -> bytes:
    """Bytes sent inside a JSON body (a photo, an attachment); a 400 naming ``field`` otherwise."""
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ValidationFailed("not base64", {field: ["not valid base64"]}) from None


# ---- tables people keep: CSV (UTF-8, BOM, GB18030) or XLSX, rows keyed by the header --------------

def read_table(raw: bytes, filename: str = "") -> list[dict]:
    """Rows of a CSV (UTF-8, BOM allowed, or GB18030) or XLSX file as dicts keyed by the header."""
    if raw[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return _xlsx_rows(raw)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise ValidationFailed("unreadable file", {"file": ["not UTF-8 or GB18030 text, nor XLSX"]})
    try:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise ValidationFailed("empty file", {"file": ["no header row"]})
        return [{(k or "").strip(): (v.strip() if isinstance(v, str) else None) for k, v in row.items()}
                for row in reader]
    except csv.Error as exc:
        raise ValidationFailed("unreadable CSV", {"file": [f"not a readable CSV: {exc}"]}) from None


def _xlsx_rows(raw: bytes) -> list[dict]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or foreign zip: the caller's fault
        raise ValidationFailed("unreadable XLSX", {"file": [f"not a readable XLSX: {type(exc).__name__}"]}) from None
    try:
        rows = wb.active.iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise ValidationFailed("empty file", {"file": ["no header row"]})
        names = [str(h).strip() if h is not None else "" for h in header]
        out = []
        for values in rows:
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            out.append({n: _cell(v) for n, v in zip(names, values) if n})
        return out
    except ValidationFailed:
        raise
    except Exception as exc:  # a sheet openpyxl cannot read lazily: still the file's fault
        raise ValidationFailed("unreadable XLSX", {"file": [f"not a readable XLSX: {type(exc).__name__}"]}) from None


def _cell(value) -> str:
    """A spreadsheet cell as text: dates as ISO dates, whole floats without '.0'."""
    if value is None:
        return ""
    if hasattr(value, "date") and callable(value.date):
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ---- PDF with an embedded CJK font ----------------------------------------------------------

FONT_NAME = "WSLI-CJK"
# (path, sub-font index in a .ttc collection); the first that exists is used.
FONT_CANDIDATES = [
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
]
FONT_PACKAGE = "fonts-wqy-microhei"


class FontMissing(RuntimeError):
    """No CJK TrueType font on this machine: documents would show boxes instead of Chinese."""


_registered: str | None = None


def font_path() -> tuple[str, int]:
    """Where the CJK font is: ``WSLI_CJK_FONT`` (``path`` or ``path#index``) first, then Debian's places."""
    configured = (os.environ.get("WSLI_CJK_FONT") or "").strip()
    if configured:
        path, _, index = configured.partition("#")
        if not Path(path).is_file():
            raise FontMissing(f"WSLI_CJK_FONT={configured!r}: no such file")
        return path, int(index or 0)
    for path, index in FONT_CANDIDATES:
        if Path(path).is_file():
            return path, index
    raise FontMissing(
        f"no CJK font found (looked for {', '.join(p for p, _ in FONT_CANDIDATES)}): install the Debian package "
        f"{FONT_PACKAGE} (apt-get install {FONT_PACKAGE}; .ci/run and the Dockerfile do), "
        "or point WSLI_CJK_FONT at a TrueType .ttf/.ttc with Chinese glyphs")


def cjk_font() -> str:
    """Register the CJK font with reportlab once; returns its name for ``setFont``."""
    global _registered
    if _registered:
        return _registered
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path, index = font_path()
    # reportlab embeds a subset of a TrueType font: only the glyphs a document uses
    pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=index))
    _registered = FONT_NAME
    return FONT_NAME


# ---- PDF ------------------------------------------------------------------------------------------

def draw_qr(canvas, data: str, x: float, y: float, size: float, error: str = "m") -> None:
    """A QR code as filled squares (vector: sharp at any print size), bottom-left at (x, y)."""
    matrix = segno.make(data, error=error, micro=False).matrix
    n = len(matrix)
    cell = size / n
    canvas.saveState()
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < n:  # one rectangle per run of dark modules keeps the file small
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                canvas.rect(x + start * cell, y + size - (r + 1) * cell, (c - start) * cell, cell, stroke=0, fill=1)
            else:
                c += 1
    canvas.restoreState()


@dataclass
class Certificate:
    """What a training certificate shows. ``issue_date`` is the class's completion date."""

    number: str
    holder: str
    class_title: str
    hours: int | str
    issuer: str
    issue_date: date | str
    verify_url: str
    title: str = "安全生产培训合格证"
    id_masked: str | None = None
    institution: str | None = None
    days: str | None = None
    revoked: bool = False
    seal_image: bytes | None = None       # a PNG/JPEG of the issuer's seal, drawn in the seal slot
    note: str = "扫描二维码或访问下方网址查验证书真伪"
    extra: list[tuple[str, str]] = field(default_factory=list)


def short_url(url: str) -> str:
    """The URL as printed under the QR code: without the scheme, which nobody types."""
    for scheme in ("https://", "http://"):
        if url.startswith(scheme):
            return url[len(scheme):]
    return url


def render_certificate(cert: Certificate) -> bytes:
    """One A4 landscape page: border, title, the holder's facts, seal slot, number, QR code and URL."""
    from reportlab.lib.colors import Color, HexColor
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    font = cjk_font()
    width, height = landscape(A4)
    out = io.BytesIO()
    c = Canvas(out, pagesize=(width, height), pageCompression=1)
    c.setTitle(f"{cert.title} {cert.number}")
    c.setAuthor(cert.issuer)
    c.setSubject(cert.title)
    c.setCreator("wsli")

    # double border
    dark, red = HexColor("#0b4f8a"), HexColor("#b0191e")
    c.setStrokeColor(dark)
    c.setLineWidth(3)
    c.rect(24, 24, width - 48, height - 48)
    c.setLineWidth(0.8)
    c.rect(32, 32, width - 64, height - 64)

    c.setFillColor(dark)
    c.setFont(font, 32)
    c.drawCentredString(width / 2, height - 100, cert.title)
    c.setFont(font, 11)
    c.setFillColorRGB(0.25, 0.25, 0.25)
    c.drawCentredString(width / 2, height - 124, f"证书编号：{cert.number}")

    # the facts, label column and value column
    rows = [("姓　　名", cert.holder)]
    if cert.id_masked:
        rows.append(("身份证号", cert.id_masked))
    rows.append(("培训班次", cert.class_title))
    if cert.institution:
        rows.append(("培训机构", cert.institution))
    if cert.days:
        rows.append(("培训日期", cert.days))
    rows.append(("培训学时", f"{cert.hours} 学时"))
    rows.extend(cert.extra)
    rows.append(("发证日期", _cn_date(cert.issue_date)))
    left, label_w, top, step = 90, 90, height - 180, 30
    c.setFillColorRGB(0.1, 0.1, 0.1)
    for i, (key, value) in enumerate(rows):
        y = top - i * step
        c.setFont(font, 13)
        c.setFillColorRGB(0.35, 0.35, 0.35)
        c.drawString(left, y, key)
        c.setFont(font, 15)
        c.setFillColorRGB(0.05, 0.05, 0.05)
        c.drawString(left + label_w, y, _fit(c, font, 15, str(value), width - left - label_w - 300))
    c.setFont(font, 12)
    c.setFillColorRGB(0.1, 0.1, 0.1)
    c.drawString(left, top - len(rows) * step - 8, "经考核合格，特发此证。")

    # seal slot: the issuer's name, the seal image over it when there is one
    seal_x, seal_y, seal_size = width - 330, 70, 120
    c.setFont(font, 13)
    c.drawCentredString(seal_x + seal_size / 2, seal_y + 10, cert.issuer)
    c.setFont(font, 11)
    c.drawCentredString(seal_x + seal_size / 2, seal_y - 8, _cn_date(cert.issue_date))
    if cert.seal_image:
        c.drawImage(ImageReader(io.BytesIO(cert.seal_image)), seal_x, seal_y + 20, seal_size, seal_size,
                    mask="auto", preserveAspectRatio=True)
    else:
        c.setStrokeColor(Color(0.69, 0.1, 0.12, alpha=0.5))
        c.setDash(3, 3)
        c.circle(seal_x + seal_size / 2, seal_y + 20 + seal_size / 2, seal_size / 2 - 4)
        c.setDash()
        c.setFillColor(Color(0.69, 0.1, 0.12, alpha=0.6))
        c.setFont(font, 10)
        c.drawCentredString(seal_x + seal_size / 2, seal_y + 20 + seal_size / 2 - 4, "（盖章）")

    # QR code and the short verify URL
    qr_size, qr_x, qr_y = 130, width - 240, height - 250
    draw_qr(c, cert.verify_url, qr_x, qr_y, qr_size)
    c.setFillColorRGB(0.2, 0.2, 0.2)
    c.setFont(font, 9)
    c.drawCentredString(qr_x + qr_size / 2, qr_y - 14, cert.note)
    url = short_url(cert.verify_url)
    size = 8
    while size > 5 and c.stringWidth(url, font, size) > 250:
        size -= 0.5
    c.setFont(font, size)
    c.drawCentredString(qr_x + qr_size / 2, qr_y - 28, url)

    if cert.revoked:
        c.saveState()
        c.setFillColor(Color(0.69, 0.1, 0.12, alpha=0.35))
        c.setFont(font, 90)
        c.translate(width / 2, height / 2)
        c.rotate(20)
        c.drawCentredString(0, -30, "已撤销")
        c.restoreState()
        c.setFillColor(red)
        c.setFont(font, 14)
        c.drawCentredString(width / 2, 44, "本证书已被撤销，不再有效")

    c.showPage()
    c.save()
    return out.getvalue()


def _cn_date(value) -> str:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value.year}年{value.month}月{value.day}日"


def _fit(canvas, font: str, size: float, text: str, max_width: float) -> str:
    """Cut a value that would run into the QR code, with an ellipsis."""
    if canvas.stringWidth(text, font, size) <= max_width:
        return text
    while text and canvas.stringWidth(text + "…", font, size) > max_width:
        text = text[:-1]
    return text + "…"


# ---- XLSX -----------------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MONEY = "#,##0.00"
INTEGER = "0"


def is_formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def neutralise_csv(value):
    """For CSV (no cell types): a leading apostrophe, as OWASP advises, so a spreadsheet shows text."""
    return "'" + value if is_formula_like(value) else value


def put(cell, value) -> None:
    """Set a cell; text that looks like a formula is kept as text and never evaluated."""
    if isinstance(value, Decimal):
        value = float(value) if value == value.quantize(Decimal("0.01")) else str(value)
    cell.value = value
    if is_formula_like(value):
        cell.data_type = "s"      # openpyxl would otherwise write a formula
        cell.quotePrefix = True   # and Excel keeps it text when the cell is edited


@dataclass
class Column:
    header: str
    width: float = 14
    number_format: str | None = None   # e.g. MONEY, INTEGER, "yyyy-mm-dd"
    total: bool = False                # summed in the total row


def styled_workbook(title: str, columns: list[Column], rows, sheet_name: str = "Sheet1",
                    total_label: str = "合计") -> bytes:
    """Title row, bold frozen header, widths, formats, optional total row; returns the .xlsx bytes."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_name[:31]
    n = len(columns)
    put(ws.cell(row=1, column=1), title)
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    if n > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    ws.row_dimensions[1].height = 26
    thin = Side(style="thin", color="999999")
    fill = PatternFill("solid", fgColor="E9EEF4")
    for i, col in enumerate(columns, start=1):
        cell = ws.cell(row=2, column=i)
        put(cell, col.header)
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.border = Border(bottom=thin)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(i)].width = col.width
    count = 0
    for r, values in enumerate(rows, start=3):
        count += 1
        for i, (col, value) in enumerate(zip(columns, values), start=1):
            cell = ws.cell(row=r, column=i)
            put(cell, value)
            if col.number_format and not is_formula_like(value):
                cell.number_format = col.number_format
    if any(col.total for col in columns):
        r = 3 + count
        put(ws.cell(row=r, column=1), total_label)
        ws.cell(row=r, column=1).font = Font(bold=True)
        for i, col in enumerate(columns, start=1):
            if col.total:
                letter = get_column_letter(i)
                cell = ws.cell(row=r, column=i)
                # a formula we write ourselves over our own cells: the total stays right when a row is fixed
                cell.value = f"=SUM({letter}3:{letter}{r - 1})" if count else 0
                cell.font = Font(bold=True)
                if col.number_format:
                    cell.number_format = col.number_format
                cell.border = Border(top=thin)
    ws.freeze_panes = "A3"  # title and header stay in view
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
