"""Is a cycle known? Registration owns cycles; training asks it before planning a cycle's stages.

Stages are planned once per cycle by staff, so one RPC to registration (``get_cycle``) with the
caller's principal is cheap, and it answers now: a cycle created a moment ago is found, an unknown
code is a 404 naming it. The wait for registration is the gateway's own, so registration not
answering makes the call the gateway's 503, never a plan for a cycle nobody opened.
"""
from __future__ import annotations

from shared.auth import CONTEXT_KEY
from shared.errors import NotFound
from shared.peers import PeerRpc


class CycleRegistry(PeerRpc):
    """``self.cycles.require(code)``: registration's record of the cycle, else ``NotFound`` on ``cycle``."""

    def get_dependency(self, worker_ctx):
        return _Cycles(self, worker_ctx.data.get(CONTEXT_KEY))


class _Cycles:
    def __init__(self, provider: CycleRegistry, principal_context):
        self.provider, self.principal_context = provider, principal_context

    def require(self, code: str) -> dict:
        try:
            with self.provider.cluster(self.principal_context) as cluster:
                return cluster.registration.get_cycle(code)
        except NotFound:
            raise NotFound(f"cycle {code} not found", {"cycle": [f"no cycle {code}: create it first"]}) from None
