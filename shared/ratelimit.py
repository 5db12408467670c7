"""Per-credential and per-address limits, checked before a request takes a worker.

Three token buckets and one concurrency cap, all in this process. The configured
figures are the deployment's budget; each gateway replica enforces its share of it,
the budget divided by ``RATE_LIMIT_REPLICAS`` (the number of replicas behind the
load balancer, wired from the deployment's replica count), so N replicas together
allow a client about the configured rate. Counting in each process costs nothing
per request and keeps the gateway stateless; a shared counter (Redis, the
database) would add a round trip to every request for an exactness the balancer's
spread makes moot. With fewer replicas than configured (one down) a client gets
less; with more (scaled up) more, in proportion.

- per bearer credential (the SHA-256 of the header, so an unknown or revoked
  token is limited too, without a database lookup);
- per client address, looser, so one address cannot mint its way around it;
- per address for anonymous requests (public routes: certificate verification,
  holder download by ID number, objections), much stricter: these are the ones
  that can be enumerated;
- at most ``concurrent`` requests of one credential (or anonymous address) in
  flight: a flood queues at the door with 429 instead of holding every worker.

A refusal is ``429`` with ``Retry-After`` (whole seconds) and a JSON body.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from shared.config import as_bool


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float


class Buckets:
    """Token buckets keyed by string; the least recently used keys are forgotten past ``max_keys``."""

    def __init__(self, rate: Rate, max_keys: int = 100_000):
        self.rate = rate
        self.max_keys = max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed; otherwise the seconds until one request would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.pop(key, (self.rate.burst, now))
            tokens = min(self.rate.burst, tokens + (now - last) * self.rate.per_second)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._state[key] = (tokens, now)
                wait = (1 - tokens) / self.rate.per_second
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)
            return wait


def replicas_of(config: dict) -> int:
    """``RATE_LIMIT_REPLICAS``: how many gateway replicas share the budget (1 when unset)."""
    raw = config.get("RATE_LIMIT_REPLICAS")
    try:
        replicas = int(raw) if raw not in (None, "") else 1
    except (TypeError, ValueError):
        raise ValueError(f"RATE_LIMIT_REPLICAS must be a whole number ≥ 1, not {raw!r}") from None
    if replicas < 1:
        raise ValueError(f"RATE_LIMIT_REPLICAS must be a whole number ≥ 1, not {raw!r}")
    return replicas


class Limited(Exception):
    def __init__(self, scope: str, retry_after: float):
        super().__init__(scope)
        self.scope = scope
        self.retry_after = max(1, math.ceil(retry_after))


class RateLimiter:
    def __init__(self, credential: Rate, address: Rate, anonymous: Rate, concurrent: int, enabled: bool = True):
        self.enabled = enabled
        self.credential = Buckets(credential)
        self.address = Buckets(address)
        self.anonymous = Buckets(anonymous)
        self.concurrent = concurrent
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: dict) -> "RateLimiter":
        replicas = replicas_of(config)

        def rate(name, per_second, burst):
            # this replica's share of the budget; a burst below one request would refuse everything
            return Rate(float(config.get(f"RATE_LIMIT_{name}_PER_SECOND") or per_second) / replicas,
                        max(1.0, float(config.get(f"RATE_LIMIT_{name}_BURST") or burst) / replicas))
        return cls(rate("TOKEN", 20, 40), rate("ADDRESS", 50, 100), rate("ANONYMOUS", 1, 10),
                   max(1, math.ceil(int(config.get("RATE_LIMIT_CONCURRENT") or 8) / replicas)),
                   enabled=as_bool(config.get("RATE_LIMIT_ENABLED"), default=True))

    @staticmethod
    def key_of(authorization: str | None, address: str) -> str:
        if authorization:
            return "cred:" + hashlib.sha256(authorization.encode("utf-8", "replace")).hexdigest()[:32]
        return "anon:" + address

    def admit(self, authorization: str | None, address: str) -> str | None:
        """Raise ``Limited`` or return the key to ``release`` when the request is done."""
        if not self.enabled:
            return None
        key = self.key_of(authorization, address)
        if authorization:
            wait = self.credential.take(key)
            if wait:
                raise Limited("token", wait)
            wait = self.address.take(address)
            if wait:
                raise Limited("address", wait)
        else:
            wait = self.anonymous.take(address)
            if wait:
                raise Limited("anonymous", wait)
        with self._lock:
            if self._in_flight.get(key, 0) >= self.concurrent:
                raise Limited("concurrency", 1)
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return key

    def release(self, key: str | None):
        if key is None:
            return
        with self._lock:
            left = self._in_flight.get(key, 1) - 1
            if left <= 0:
                self._in_flight.pop(key, None)
            else:
                self._in_flight[key] = left
