"""Generic helpers of the risk service (ids, uploads, tables, pages), kept in one place so
they can move to ``shared/`` together."""
from __future__ import annotations

import base64
import binascii
import csv
import io
import re

from sqlalchemy import func, select

from shared.errors import ValidationFailed
from shared.schemas import page_of

# what secrets.token_urlsafe(24) makes: checked before any database lookup
QR_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def as_id(value, field: str = "id") -> int:
    """A path id: digits only, within a bigint; anything else is a 400 naming the field."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field} must be a number", {field: ["Not a valid integer."]}) from None
    if not 1 <= number <= 2**53:
        raise ValidationFailed(f"{field} out of range", {field: ["must be between 1 and 2^53"]})
    return number


def decode_upload(upload, field: str = "file") -> bytes:
    if not isinstance(upload, dict) or not isinstance(upload.get("data_base64"), str):
        raise ValidationFailed("no file", {field: ["send the file as the request body"]})
    try:
        return base64.b64decode(upload["data_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("file is not base64", {field: ["not valid base64"]}) from None


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


def write_xlsx(header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def page(session, stmt, order_col, params: dict, dump) -> dict:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.order_by(order_col).offset((params["page"] - 1) * params["per_page"])
                           .limit(params["per_page"])).all()
    return page_of(dump(rows), params["page"], params["per_page"], total)


def file_result(filename: str, content_type: str, data: bytes) -> dict:
    return {"filename": filename, "content_type": content_type, "data_base64": base64.b64encode(data).decode("ascii")}
