"""The gateway bench's event figures: an event's time from its outbox row to the consumer's commit,
split at the broker's confirm; events that never arrived are counted, not averaged in."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.bench.gateway import event_split, latencies

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=timezone.utc)


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_latencies_count_the_missing_and_split_at_the_confirm():
    times = [(at(0), at(10), at(14)), (at(0), at(20), at(18)), (at(0), at(5), None)]
    lat, missing = latencies(times)
    assert lat == [14.0, 18.0] and missing == 1
    split = event_split(times)
    assert split["created → confirmed"][0] == 10.0
    # the second event was committed by the consumer before its confirm reached the relay
    assert sorted(split["confirmed → consumed"]) == [-2.0, 4.0]
