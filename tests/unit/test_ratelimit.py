"""The rate-limit budget is the deployment's: each gateway replica enforces its share of it."""
from __future__ import annotations

import pytest

from shared.ratelimit import Limited, RateLimiter

BUDGET = {"RATE_LIMIT_TOKEN_PER_SECOND": "20", "RATE_LIMIT_TOKEN_BURST": "40",
          "RATE_LIMIT_ADDRESS_PER_SECOND": "1000", "RATE_LIMIT_ADDRESS_BURST": "2000",
          "RATE_LIMIT_ANONYMOUS_PER_SECOND": "1", "RATE_LIMIT_ANONYMOUS_BURST": "10", "RATE_LIMIT_CONCURRENT": "8"}


def admitted(limiter, authorization, n) -> int:
    count = 0
    for _ in range(n):
        try:
            limiter.release(limiter.admit(authorization, "10.0.0.1"))
            count += 1
        except Limited:
            pass
    return count


def test_one_replica_enforces_the_whole_budget():
    limiter = RateLimiter.from_config(BUDGET)
    assert (limiter.credential.rate.per_second, limiter.credential.rate.burst, limiter.concurrent) == (20, 40, 8)
    assert 40 <= admitted(limiter, "Bearer a", 60) <= 41  # the burst (and what refilled meanwhile)


def test_n_replicas_together_allow_about_the_configured_budget():
    config = dict(BUDGET, RATE_LIMIT_REPLICAS="4")
    replicas = [RateLimiter.from_config(config) for _ in range(4)]
    assert replicas[0].credential.rate.per_second == 5 and replicas[0].credential.rate.burst == 10
    assert replicas[0].concurrent == 2
    # a balancer spreading one client's 60 requests over the 4 replicas: the burst is the budget's 40
    assert 40 <= sum(admitted(r, "Bearer b", 15) for r in replicas) <= 44
    anonymous = RateLimiter.from_config(dict(config, RATE_LIMIT_REPLICAS="20"))
    assert anonymous.anonymous.rate.burst == 1  # never below one request, or nothing would pass


@pytest.mark.parametrize("bad", ["0", "-2", "two"])
def test_a_replica_count_that_is_not_a_positive_whole_number_is_refused(bad):
    with pytest.raises(ValueError, match="RATE_LIMIT_REPLICAS"):
        RateLimiter.from_config(dict(BUDGET, RATE_LIMIT_REPLICAS=bad))
