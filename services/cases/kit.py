"""Generic helpers this service needs that the platform kit does not have yet.

Kept in one module so they can move into ``shared/`` together later.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tempfile

from sqlalchemy import func, select

from shared.errors import ValidationFailed
from shared.schemas import page_of
from shared.storage import LocalStorage

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def as_id(value, field: str = "id") -> int:
    """A path id: a positive integer that fits a bigint, else 400 naming the field."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed("ids are positive integers", {field: [f"{str(value)[:40]!r} is not an id"]}) from None
    if number < 1 or number > 2**62:
        raise ValidationFailed("ids are positive integers", {field: [f"{str(value)[:40]!r} is out of range"]})
    return number


def as_year(value, field: str = "year") -> int:
    try:
        year = int(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed("a year is a number", {field: ["Not a valid integer."]}) from None
    if not 2000 <= year <= 2100:
        raise ValidationFailed("year out of range", {field: ["Must be between 2000 and 2100."]})
    return year


def page(session, stmt, order_by, params, render) -> dict:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    p, per = params["page"], params["per_page"]
    rows = session.scalars(stmt.order_by(*order_by).offset((p - 1) * per).limit(per)).unique()
    return page_of([render(r) for r in rows], p, per, total)


def decode_base64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("not base64", {field: ["not valid base64"]}) from None


def put_bytes(storage: LocalStorage, data: bytes, extension: str) -> tuple[str, str]:
    """Content-addressed like ``LocalStorage.put`` but for any type the caller has checked itself
    (the platform store only knows images and PDF; a .docx is a zip)."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}.{extension}"
    path = storage.root / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    return key, digest


def file_out(filename: str, content_type: str, data: bytes) -> dict:
    """What a gateway ``file=True`` route expects."""
    return {"filename": filename, "content_type": content_type, "data_base64": base64.b64encode(data).decode("ascii")}


def xlsx(title: str, header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
    for row in rows:
        ws.append(row)
    for i, name in enumerate(header, start=1):
        width = max([len(str(name)) * 2] + [min(60, len(str(r[i - 1] or "")) * 2) for r in rows[:200]])
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(8, min(60, width))
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
