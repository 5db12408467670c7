"""A subscriber to every event of one service: one durable queue bound with ``#``.

It is the kit's ``Subscriber`` (envelope parsing, TTL retries, dead-letter queue)
with one queue per producing service instead of one per event, so a new event
type reaches integrators without a new binding. The queue name starts with
``evt-`` like the others, so the broker's dead-letter policy covers it.
"""
from __future__ import annotations

from kombu import Queue

from shared.subscriber import Subscriber


class AllEventsOf(Subscriber):
    def __init__(self, source_service: str, **kwargs):
        super().__init__(source_service, "#", **kwargs)

    def setup(self):
        super().setup()
        self.queue = Queue(
            f"evt-{self.source_service}-all--{self.container.service_name}.{self.method_name}",
            exchange=self.queue.exchange, routing_key="#", durable=True, auto_delete=False, exclusive=False,
        )


all_events_of = AllEventsOf.decorator
