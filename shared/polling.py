"""Long polling inside a worker: wait for another worker's commit without holding a connection."""
from __future__ import annotations

import time

import eventlet


def long_poll(read, done, seconds: float, between=lambda: None, interval: float = 0.1):
    """``read()`` until ``done(value)`` or ``seconds`` pass; the last value read is returned.

    ``between`` runs before each pause: a service closes its session there, so the next
    read sees another replica's commit and no connection is held while waiting.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        between()
        eventlet.sleep(interval)
