"""Enterprise lists as agencies keep them: CSV (UTF-8 with or without BOM, or GB18030) or XLSX,
read into rows keyed by the header (the import of ``EnterprisesMixin``); the reader is the kit's."""
from __future__ import annotations

from shared.documents import read_table  # noqa: F401
