"""Storing a case's files: the report (.docx or .pdf), photos and charts.

The platform store (``shared.storage``) takes images and PDF only; a case report is
also a .docx (a zip), which the caller has opened and checked before it is stored here.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

from shared.storage import LocalStorage

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

FILE_KINDS = {
    # kind -> max bytes
    "report_docx": 40 * 1024 * 1024,
    "report_pdf": 40 * 1024 * 1024,
    "photo": 25 * 1024 * 1024,
    "chart": 25 * 1024 * 1024,
}
UPLOAD_MAX = max(FILE_KINDS.values())


def put_bytes(storage: LocalStorage, data: bytes, extension: str) -> tuple[str, str]:
    """Content-addressed like ``LocalStorage.put``, for a type the caller has checked itself."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}.{extension}"
    path = storage.root / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    return key, digest
