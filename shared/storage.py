"""File storage behind one small interface; the local filesystem under ``var/`` by default.

Files are content-addressed (SHA-256), so a re-upload stores nothing new and the
checksum is the integrity check on every read. The type is taken from the file's
own first bytes, not from what the client claims.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ValidationFailed

MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"%PDF-", "application/pdf", "pdf"),
)
EXTENSIONS = {ctype: ext for _, ctype, ext in MAGIC}
EXTENSIONS["video/mp4"] = "mp4"


def sniff(data: bytes) -> str | None:
    for magic, ctype, _ in MAGIC:
        if data.startswith(magic):
            return ctype
    if len(data) >= 12 and data[4:8] == b"ftyp":  # ISO base media: mp4/mov
        return "video/mp4"
    return None


@dataclass(frozen=True)
class StoredFile:
    key: str
    sha256: str
    size: int
    content_type: str


class LocalStorage:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def put(self, data: bytes, field: str, allowed: tuple[str, ...], max_bytes: int) -> StoredFile:
        if not data:
            raise ValidationFailed("empty file", {field: ["file is empty"]})
        if len(data) > max_bytes:
            raise ValidationFailed("file too large", {field: [f"{len(data)} bytes exceeds {max_bytes}"]})
        ctype = sniff(data)
        if ctype not in allowed:
            raise ValidationFailed("file type not accepted",
                                   {field: [f"content is {ctype or 'unrecognised'}; accepted: {', '.join(allowed)}"]})
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}.{EXTENSIONS[ctype]}"
        path = self.root / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # write-then-rename: a reader never sees half a file
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        return StoredFile(key, digest, len(data), ctype)

    def get(self, key: str) -> bytes:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValidationFailed("bad file key", {"key": ["outside the store"]})
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != Path(key).stem:
            raise IOError(f"stored file {key} is corrupt (checksum mismatch)")
        return data
