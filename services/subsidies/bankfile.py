"""The bank file of a payment batch (CSV or XLSX) and the bank's result CSV: formats, not rules."""
from __future__ import annotations

import csv
import io

from shared.documents import CSV_TYPE, XLSX_TYPE, as_text, csv_bytes, xlsx_bytes
from shared.errors import ValidationFailed

HEADER = ["reference", "name", "bank", "branch", "account", "amount_yuan"]
MAX_RESULT_ROWS = 100_000


def reference(batch_id: int, item_id: int) -> str:
    return f"B{batch_id}-I{item_id}"


def item_of_reference(value, batch_id: int) -> int | None:
    text_ = str(value or "").strip()
    prefix = f"B{batch_id}-I"
    if not text_.startswith(prefix) or not text_[len(prefix):].isdigit():
        return None
    return int(text_[len(prefix):])


def render(rows: list[list], fmt: str) -> tuple[bytes, str]:
    """(bytes, content type) of the bank file; every XLSX cell is text (long account numbers)."""
    if fmt == "csv":
        return csv_bytes(HEADER, rows), CSV_TYPE
    return xlsx_bytes("payments", HEADER, rows, as_text), XLSX_TYPE


def read_results(raw: bytes) -> list[tuple[int, dict]]:
    """(line number, row with lower-case keys) of the bank's result CSV, UTF-8 or GB18030."""
    for encoding in ("utf-8-sig", "gb18030"):  # banks hand out either
        try:
            decoded = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationFailed("unreadable file", {"file": ["not UTF-8 or GB18030 text"]})
    reader = csv.DictReader(io.StringIO(decoded))
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if not {"reference", "status"} <= columns:
        raise ValidationFailed("not a result file", {"file": ["needs the columns reference, status (and reason)"]})
    rows = []
    for n, row in enumerate(reader, start=2):
        rows.append((n, {str(k).strip().lower(): (v or "") for k, v in row.items() if k is not None}))
        if n > MAX_RESULT_ROWS:
            raise ValidationFailed("too many rows", {"file": ["at most 100000 rows"]})
    return rows
