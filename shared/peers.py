"""Asking another service over RPC on behalf of the caller, from inside a worker.

The caller's principal travels in the context, so the other service applies its own access
rules to the same person; the wait is bounded (``RPC_TIMEOUT_SECONDS`` unless a subclass says less).
"""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared.auth import CONTEXT_KEY


class PeerRpc(DependencyProvider):
    """Base of a service's dependency on another service's RPC; ``cluster(principal_context)`` opens the proxy."""

    def setup(self):
        config = self.container.config
        self.amqp_uri = config.get("AMQP_URI")
        self.rpc_config = {"AMQP_URI": self.amqp_uri, "serializer": config.get("serializer", "json")}
        self.timeout = self.rpc_timeout(config)

    def rpc_timeout(self, config) -> float:
        return float(config.get("RPC_TIMEOUT_SECONDS") or 15.0)

    def cluster(self, principal_context):
        from nameko.standalone.rpc import ClusterRpcProxy

        return ClusterRpcProxy(self.rpc_config, timeout=self.timeout,
                               context_data={CONTEXT_KEY: principal_context})
