"""A real HTTP receiver on loopback that verifies every delivery with the ``standardwebhooks`` library.

Its answers are scripted: ``script`` holds (status, headers[, delay]) answers used in order,
then ``default``. ``stop()`` closes the port (connection refused, as for a receiver
that is down); ``start()`` opens the same port again.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import eventlet
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Received:
    def __init__(self, headers: dict, body: bytes, verified: bool, error: str, at: float):
        self.headers, self.body, self.verified, self.error, self.at = headers, body, verified, error, at

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def envelope(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self, port: int):
        self.port = port
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.script: list[tuple] = []
        self.default: tuple[int, dict] = (200, {})
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def answer(self) -> tuple:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def verify(self, body: bytes, headers: dict) -> tuple[bool, str]:
        if not self.secrets:
            return False, "no secret"
        errors = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                return True, ""
            except WebhookVerificationError as exc:
                errors.append(str(exc))
        return False, "; ".join(errors)

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok, error = receiver.verify(body, headers)
                status, extra, *delay = receiver.answer()
                if delay:
                    time.sleep(delay[0])  # a slow receiver
                with receiver.lock:
                    receiver.received.append(Received(headers, body, ok, error, time.time()))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # quiet
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = eventlet.spawn(self.server.serve_forever, 0.05)
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        with self.lock:
            return [r.webhook_id for r in self.received]

    def verified(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.verified]
