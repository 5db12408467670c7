"""A consumer service for the delivery tests: records registration events, can be told to fail.

It is built exactly like a real consumer (Database provider, ``@subscribe``,
``claim`` in the same transaction as the effect), so the tests exercise the
platform's real delivery path.
"""
from __future__ import annotations

from sqlalchemy import Column, String, Table

from shared.db import BigId, Database, PlatformTables, new_metadata
from shared.subscriber import subscribe

metadata = new_metadata()
platform = PlatformTables(metadata)
entries = Table(
    "ledger_entries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
)

# Flipped by the tests in this process: subject -> how the handler behaves.
BEHAVIOUR: dict[str, str] = {}
ATTEMPTS: dict[str, int] = {}


class LedgerService:
    name = "ledger"
    db = Database(metadata, platform)

    @subscribe("registration", "cycle_created")
    def on_cycle_created(self, event):
        ATTEMPTS[event.subject] = ATTEMPTS.get(event.subject, 0) + 1
        if not self.db.claim(event):
            return "duplicate"
        if BEHAVIOUR.get(event.subject) == "fail":
            raise RuntimeError(f"ledger refuses {event.subject} for now")
        self.db.session.execute(entries.insert().values(
            event_id=event.id, event_type=event.type, subject=event.subject))
        return "recorded"
