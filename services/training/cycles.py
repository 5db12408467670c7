"""Is a cycle known? Registration owns cycles; training asks it before planning a cycle's stages.

Stages are planned once per cycle by staff, so one RPC to registration (``get_cycle``) with the
caller's principal is cheap, and it answers now: a cycle created a moment ago is found, an unknown
code is a 404 naming it. The wait for registration is the gateway's own, so registration not
answering makes the call the gateway's 503, never a plan for a cycle nobody opened.
"""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared.auth import CONTEXT_KEY
from shared.errors import NotFound


class CycleRegistry(DependencyProvider):
    """``self.cycles.require(code)``: registration's record of the cycle, else ``NotFound`` on ``cycle``."""

    def setup(self):
        config = self.container.config
        self.rpc_config = {"AMQP_URI": config.get("AMQP_URI"), "serializer": config.get("serializer", "json")}
        self.timeout = float(config.get("RPC_TIMEOUT_SECONDS") or 15.0)

    def get_dependency(self, worker_ctx):
        return _Cycles(self, worker_ctx.data.get(CONTEXT_KEY))


class _Cycles:
    def __init__(self, provider: CycleRegistry, principal_context):
        self.provider, self.principal_context = provider, principal_context

    def require(self, code: str) -> dict:
        from nameko.standalone.rpc import ClusterRpcProxy

        try:
            with ClusterRpcProxy(self.provider.rpc_config, timeout=self.provider.timeout,
                                 context_data={CONTEXT_KEY: self.principal_context}) as cluster:
                return cluster.registration.get_cycle(code)
        except NotFound:
            raise NotFound(f"cycle {code} not found", {"cycle": [f"no cycle {code}: create it first"]}) from None
