"""The registration bench's consumer: claims every ``candidate_registered`` event in its own database.

It is built like a real consumer (``Database`` provider, ``@subscribe``, ``claim``
inside the handler's transaction), so the latency the bench measures is the
platform's whole delivery path: outbox row -> relay -> broker -> handler -> commit.
The inbox row's ``processed_at`` is stamped in the transaction that commits it.

Run by the bench as
``nameko run --config <generated yml> tests.bench.latency_consumer:BenchConsumer``.
"""
from __future__ import annotations

from shared.db import Database, PlatformTables, new_metadata, transactional
from shared.subscriber import subscribe

# The consumer needs only the platform tables; the bench creates them with ``create_all``.
metadata = new_metadata()
platform = PlatformTables(metadata)

HANDLER = "bench_consumer.on_candidate_registered"


class BenchConsumer:
    name = "bench_consumer"
    db = Database(metadata, platform)

    @subscribe("registration", "candidate_registered")
    @transactional
    def on_candidate_registered(self, event):
        # The inbox row is the measurement: a redelivery is skipped, not counted twice.
        return "recorded" if self.db.claim(event, HANDLER) else "duplicate"
