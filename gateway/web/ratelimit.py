"""A per-client sliding-window limit for the public pages and the login form.

The account lockout stops guessing one account's password; this stops one client
from trying many accounts, or from walking the certificate numbers, at machine
speed. Counts live in the process: with several replicas a client gets up to the
limit from each, which still bounds it. Nothing here is a rule of the programme.
"""
from __future__ import annotations

import time
from collections import deque


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float = 60.0, max_clients: int = 10_000):
        self.limit = limit
        self.window = window_seconds
        self.max_clients = max_clients
        self._hits: dict[str, deque] = {}

    def hit(self, client: str, now: float | None = None) -> float:
        """Record one request; 0 when allowed, else the seconds until the next one is."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        hits = self._hits.get(client)
        if hits is None:
            if len(self._hits) >= self.max_clients:
                self._forget_idle(now)
            hits = self._hits[client] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(0.001, hits[0] + self.window - now)
        hits.append(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[client]
        if len(self._hits) >= self.max_clients:  # all busy: drop the oldest half rather than grow
            for client in list(self._hits)[: self.max_clients // 2]:
                del self._hits[client]


def client_of(request, trust_forwarded: bool) -> str:
    """The client's address; behind a proxy we run (the Ingress), the first X-Forwarded-For hop."""
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded.strip():
            return forwarded.split(",")[0].strip()
    return request.remote_addr or "unknown"
