"""Enterprise lists as agencies keep them: CSV (UTF-8 with or without BOM, or GB18030) or XLSX,
read into rows keyed by the header (the import of ``EnterprisesMixin``)."""
from __future__ import annotations

import csv
import io

from shared.errors import ValidationFailed


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
