"""nameko's ``@http`` with JSON errors and a request id.

- Whatever werkzeug refuses before a handler runs (no route, a path with control
  characters, a method the route does not take) is answered in JSON, with
  ``Allow`` on a 405, never werkzeug's HTML page.
- Every request gets a request id: the caller's ``X-Request-ID`` when it is sane,
  otherwise a new one. It goes into the worker's context data, so nameko carries
  it in the headers of every RPC the worker makes, and services put it into the
  events they emit on its behalf. The response echoes it in ``X-Request-ID``.
- Rate limits (``shared.ratelimit``) are checked before a request takes a worker.
"""
from __future__ import annotations

import json
import logging
import os
import re

from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Request, Response

from shared.config import as_bool
from shared.metrics import RATE_LIMITED
from shared.ratelimit import Limited, RateLimiter
from shared.signatures import SignatureOnce

REQUEST_ID_KEY = "request_id"
ACCESS = logging.getLogger("wsli.access")
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def request_id_from(headers) -> str:
    given = (headers.get(REQUEST_ID_HEADER) or "").strip()
    return given if _SANE_ID.match(given) else os.urandom(16).hex()  # 32 hex digits, as uuid4().hex, cheaper


def json_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    response = Response(json.dumps({"error": code, "message": message}, ensure_ascii=False),
                        status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# Probes and scrapers are never limited: a limited probe would restart a healthy pod.
UNLIMITED_PATHS = ("/health", "/metrics")


def client_address(environ, trust_forwarded: bool) -> str:
    if trust_forwarded:
        forwarded = [h.strip() for h in (environ.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
        if forwarded:
            return forwarded[-1]  # the hop our own proxy appended; earlier ones are the client's say
    return environ.get("REMOTE_ADDR") or "-"


class JsonWsgiApp(WsgiApp):
    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        rid = request_id_from(request.headers)
        environ["wsli.request_id"] = rid
        adapter = self.url_map.bind_to_environ(environ)
        limiter, admitted, early = self.server.limiter, None, True
        try:
            if request.path not in UNLIMITED_PATHS:
                admitted = limiter.admit(request.headers.get("Authorization"),
                                         client_address(environ, self.server.trust_forwarded))
            provider, values = adapter.match()
            request.path_values = values
            early = False  # the handler's worker writes the access line (shared.telemetry)
            response = provider.handle_request(request)
        except Limited as exc:
            RATE_LIMITED.labels(exc.scope).inc()
            response = json_error(429, "rate_limited", f"too many requests ({exc.scope}); retry after "
                                  f"{exc.retry_after}s", {"Retry-After": str(exc.retry_after)})
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            response = json_error(405, "method_not_allowed", f"use {allowed}", {"Allow": allowed})
        except HTTPException as exc:
            code = exc.code or 500
            response = json_error(code, "not_found" if code == 404 else "bad_request" if code == 400 else "error",
                                  "no such resource" if code == 404 else (exc.description or exc.name))
        finally:
            limiter.release(admitted)
        if isinstance(response, Response):
            response.headers.setdefault(REQUEST_ID_HEADER, rid)
            if early:
                ACCESS.info("%s %s answered %d before a handler", request.method, request.path,
                            response.status_code, extra={"request_id": rid, "method": request.method,
                                                         "path": request.path, "status": response.status_code,
                                                         "client": environ.get("REMOTE_ADDR")})
        return response(environ, start_response)


class JsonWebServer(WebServer):
    def setup(self):
        super().setup()
        config = self.container.config
        self.limiter = RateLimiter.from_config(config)
        self.trust_forwarded = as_bool(config.get("RATE_LIMIT_TRUST_FORWARDED"), default=False)

    def get_wsgi_app(self):
        return JsonWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, **kwargs):
        server = super().get_wsgi_server(sock, wsgi_app, **kwargs)
        # One access line per request, not two: the worker's summary carries method, path, status and
        # client (shared.telemetry), and JsonWsgiApp logs what it answers itself. eventlet's errors
        # still reach the log: only its access line is guarded by this flag.
        server.log_output = False
        return server

    def context_data_from_headers(self, request):
        rid = request.environ.get("wsli.request_id") or request_id_from(request.headers)
        return {REQUEST_ID_KEY: rid}


class JsonHttpRequestHandler(SignatureOnce, HttpRequestHandler):
    server = JsonWebServer()

    def response_from_exception(self, exc):
        # a handler that raised past its own guard: still JSON, no exception text
        return json_error(500, "internal", "internal error")


http = JsonHttpRequestHandler.decorator
