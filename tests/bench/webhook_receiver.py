"""The bench's loopback webhook receiver, a process of its own so it does not share the
dispatcher's interpreter: verifies every delivery with ``standardwebhooks`` and notes when
it arrived.

    python -m tests.bench.webhook_receiver PORT

``PUT /secrets`` {path: secret} tells it the secrets; ``POST /hooks/<n>`` is a delivery
(answered 204); ``GET /received`` returns [[path, webhook-id, unix time, verified], …].
"""
from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRETS: dict[str, Webhook] = {}
RECEIVED: list[list] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

    def _send(self, status: int, body: bytes = b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        at = time.time()
        hook = SECRETS.get(self.path)
        try:
            ok = hook is not None and hook.verify(body, {k.lower(): v for k, v in self.headers.items()},
                                                  json_parse=False) is None
        except WebhookVerificationError:
            ok = False
        with LOCK:
            RECEIVED.append([self.path, self.headers.get("webhook-id", ""), at, ok])
        self._send(204)

    def do_PUT(self):  # noqa: N802
        secrets = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        SECRETS.update({path: Webhook(secret) for path, secret in secrets.items()})
        self._send(204)

    def do_GET(self):  # noqa: N802
        with LOCK:
            body = json.dumps(RECEIVED if self.path == "/received" else {"count": len(RECEIVED)}).encode()
        self._send(200, body)

    def log_message(self, *args):
        pass


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
