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


def test_capacity_check_draws_a_line_through_two_rates_and_predicts_a_third():
    from tests.bench.gateway import Phase, capacity_check

    # CPU seconds per process over 10 s phases: 100 POSTs at 10/s, 500 at 50/s, 250 at 25/s, 600 back to back
    light = Phase("POST paced 10/s", 100, 9.0, 20.0, 10.0, {"gateway": 0.5, "registration": 1.0, "broker": 5.0})
    brisk = Phase("POST paced 50/s", 500, 9.0, 20.0, 10.0, {"gateway": 2.0, "registration": 3.5, "broker": 5.0})
    check = Phase("POST paced 25/s", 250, 9.0, 20.0, 10.0, {"gateway": 1.0, "registration": 2.0, "broker": 5.0})
    saturated = Phase("POST c=8", 600, 30.0, 60.0, 3.0, {"gateway": 0.6, "registration": 1.8, "broker": 5.0})
    figures = capacity_check(light, brisk, check, saturated, (10.0, 50.0), 25.0, ["gateway", "registration"])
    # the broker is not in the stack: 0.15 cores at 10/s, 0.55 at 50/s
    assert round(figures["marginal_ms"], 6) == 10.0  # (0.55 - 0.15) / 40 per second
    assert round(figures["fixed_cores"], 6) == 0.05  # 0.15 - 10 × 0.01
    assert round(figures["predicted_cores"], 6) == 0.3  # 0.05 + 25 × 0.01
    assert round(figures["measured_cores"], 6) == 0.3  # (1.0 + 2.0) s / 10 s
    assert round(figures["light_ms"], 6) == 15.0  # 1.5 s / 100 POSTs
    assert round(figures["lower_cores"], 6) == 0.1  # 25/s × 4 ms, the saturated cost


def test_capacity_check_counts_only_the_requests_that_succeeded():
    from tests.bench.gateway import Phase, capacity_check

    light = Phase("POST paced 10/s", 100, 9.0, 20.0, 10.0, {"gateway": 1.0}, errors=["503: x"] * 50)
    brisk = Phase("POST paced 50/s", 500, 9.0, 20.0, 10.0, {"gateway": 3.0})
    figures = capacity_check(light, brisk, brisk, brisk, (10.0, 50.0), 25.0, ["gateway"])
    assert round(figures["light_ms"], 6) == 20.0  # 1 s over the 50 that succeeded, not over 100


def test_floors_of_the_request_path():
    from tests.bench.gateway import Phase, cpu_floor, cpu_hop_floor, hop_floor

    hello = Phase("hello c=1", 100, 0.5, 1.0, 1.0, {"hello": 0.01})
    rpc = Phase("direct RPC c=1", 100, 2.0, 3.0, 1.0, {"registration": 0.1, "client": 0.05})
    assert hop_floor(hello, rpc) == 1.25  # (0.5 + 2.0) / 2.0: an HTTP hop and the call, nothing else
    # saturated: 0.15 s of CPU for 100 calls, 0.05 s more for 100 HTTP hops (server and client)
    hello8 = Phase("hello c=8", 100, 4.0, 9.0, 1.0, {"hello": 0.03, "client": 0.02})
    assert round(cpu_hop_floor(hello8, rpc), 6) == round(2.0 / 1.5, 6)
    # 100 aggregates used 0.6 s of CPU in all processes: 6 ms each, 3 ms on 2 CPUs at best
    agg = Phase("dashboard c=1", 100, 5.0, 7.0, 1.0, {"gateway": 0.2, "registration": 0.3, "broker": 0.1})
    single = Phase("single GET c=1", 100, 2.0, 3.0, 1.0, {"gateway": 0.1})
    text = cpu_floor(agg, single, cpus=2)
    assert "6.00 ms" in text and "3.00 ms = 1.50×" in text
