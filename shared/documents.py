"""Files a service hands back through the gateway: CSV, XLSX, and the result dict around them.

An RPC cannot return bytes as JSON, so a file travels as
``{"filename", "content_type", "data_base64"}`` and the gateway sends the bytes
(``Route(file=True)``).
"""
from __future__ import annotations

import base64
import binascii
import csv
import io
from typing import Callable, Iterable

from shared.errors import ValidationFailed

CSV_TYPE = "text/csv; charset=utf-8"
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
