"""Small nameko dependency providers shared by services."""
from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared.storage import LocalStorage


class FileStore(DependencyProvider):
    """``self.files``: the file store configured by ``FILE_STORE`` (a directory)."""

    def setup(self):
        root = self.container.config.get("FILE_STORE") or f"var/files/{self.container.service_name}"
        self.storage = LocalStorage(root)

    def get_dependency(self, worker_ctx):
        return self.storage
