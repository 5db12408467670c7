"""The gateway: the only HTTP surface. Authenticates, forwards to services, maps errors.

One nameko ``@http`` entrypoint serves the whole ``/api/v1`` table of ``routes/``
(the services' routes and the gateway's own: tokens, dashboard), so the table is
the single source of dispatch, of the roles checked and of the OpenAPI document.
"""
from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ServiceProxy
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import MethodNotAllowed, NotFound as NoRoute
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from shared.amqp import CONNECTION_ERRORS, LeanPublisher, SafeReplyListener
from shared.auth import CONTEXT_KEY, Principal, anonymous
from shared.catalogue import SERVICE_NAMES
from shared.config import agency_of
from shared.db import Database, transactional
from shared.documents import http_content_type
from shared.errors import NotFound, ValidationFailed, WsliError
from shared.metrics import DEAD_LETTERS, exposition
from shared.pii import check_published_keys
from shared.schemas import load, schema_instance
from shared.telemetry import Telemetry
from shared.web import http
from shared.workdays import utcnow

from . import messages, safety_file, schemas, tokens
from .models import ApiToken, Base, platform
from .openapi import openapi_document
from .routes import ALL_ROUTES, LOCAL

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
SWAGGER_UI = Path(__file__).parent / "web" / "static" / "swagger-ui"
SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "init.js"}
DOCS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>接口文档 · 安责险服务平台 API</title><link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script><script src="/docs/static/init.js"></script></body></html>
"""
# Swagger UI sets style attributes as it draws: styles may be inline, scripts never.
DOCS_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                           "script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
BODY_METHODS = ("POST", "PUT", "PATCH")


# Exception types of a service that could not reach its database: the request may succeed later.
DATABASE_DOWN = {"OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"}


class ServiceUnavailable(WsliError):
    """503: a part is down or too slow; try again after ``retry_after`` seconds."""

    http_status = 503
    code = "service_unavailable"

    def __init__(self, message: str, fields: dict | None = None, retry_after: int = 5):
        super().__init__(message, fields)
        self.retry_after = retry_after


class TooLarge(WsliError):
    http_status = 413
    code = "too_large"


class _QuickPublisher(LeanPublisher):
    # nameko's defaults retry a dead broker for ~10 s per call; a client is better
    # served by a prompt 503 with Retry-After.
    transport_options = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.5}
    retry_policy = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2, "interval_max": 0.5}

    def publish(self, payload, **kwargs):
        kwargs.setdefault("transport_options", dict(self.transport_options))
        service = (self.amqp_uri, str(kwargs.get("routing_key", "")).split(".", 1)[0])
        if kwargs.get("mandatory") and ROUTABLE.fresh(service):
            # the broker routed a confirmed call to this service moments ago: skip the confirm
            # (17-23 % of the gateway's CPU), and the mandatory flag with it, whose basic.return
            # would be read by nobody on an unconfirmed channel
            kwargs.update(use_confirms=False, mandatory=False)
            return super().publish(payload, **kwargs)
        result = super().publish(payload, **kwargs)  # confirmed: UndeliverableMessage if no queue takes it
        ROUTABLE.seen(service)
        return result


class RoutableServices:
    """Services whose RPC queue the broker confirmed routing to, within the last ``ttl`` seconds.

    A call to a service whose queue does not exist fails fast (nameko's ``UnknownService``,
    a 503) because the request is published mandatory with a confirm. Once a confirmed
    call was routed, calls within ``ttl`` go out unconfirmed: the queue is durable and
    outlives its consumers, so it only disappears when deleted on the broker; a call in
    the ``ttl`` after that waits for the RPC timeout instead (also a 503). ``ttl`` 0
    confirms every call.
    """

    def __init__(self, ttl: float = 10.0, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._until: dict[str, float] = {}

    def fresh(self, key: tuple) -> bool:
        """``key``: (broker URI, service name)."""
        return self.ttl > 0 and self._until.get(key, 0.0) > self.clock()

    def seen(self, key: tuple) -> None:
        if self.ttl > 0:
            self._until[key] = self.clock() + self.ttl

    def forget(self, service: str) -> None:
        for key in [k for k in self._until if k[1] == service]:
            self._until.pop(key, None)


ROUTABLE = RoutableServices()


class _QuickMethodProxy(MethodProxy):
    publisher_cls = _QuickPublisher


class _QuickServiceProxy(ServiceProxy):
    def __getattr__(self, name):
        return _QuickMethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener, **self.options)


class BrokerBreaker:
    """After the broker refused a call, answer 503 at once for a few seconds.

    Without it every request during an outage would wait on its own connection
    attempt; with it the gateway stays fast and tells clients when to come back.
    """

    def __init__(self, cool_off: float):
        self.cool_off = cool_off
        self.open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self):
        self.open_until = time.monotonic() + self.cool_off

    def retry_after(self) -> int:
        return max(1, int(round(self.open_until - time.monotonic())) or 1)


class Cluster(DependencyProvider):
    """``self.services.<name>.<method>``: RPC to any service, carrying this worker's context."""

    rpc_reply_listener = SafeReplyListener()

    def setup(self):
        config = self.container.config
        # A request nobody picked up before the gateway gave up must not run later:
        # the client was already told it failed.
        self.expiration = float(config.get("RPC_TIMEOUT_SECONDS") or 15.0)
        self.breaker = BrokerBreaker(float(config.get("BROKER_RETRY_AFTER_SECONDS") or 3.0))
        ttl = config.get("RPC_ROUTE_CONFIRM_SECONDS")
        ROUTABLE.ttl = float(10.0 if ttl in (None, "") else ttl)

    def get_dependency(self, worker_ctx):
        return _Services(worker_ctx, self.rpc_reply_listener, self.expiration, self.breaker)


class _Services:
    """One worker's view of the cluster: ``services.<name>`` is a proxy carrying the worker's context."""

    def __init__(self, worker_ctx, listener, expiration: float, breaker: "BrokerBreaker"):
        self._worker_ctx, self._listener, self._expiration, self.breaker = worker_ctx, listener, expiration, breaker

    def __getattr__(self, service_name):
        if service_name.startswith("_"):
            raise AttributeError(service_name)
        return _QuickServiceProxy(self._worker_ctx, service_name, self._listener, expiration=self._expiration,
                                  retry_policy=_QuickPublisher.retry_policy)


DEFAULT_TOKEN_CACHE_SECONDS = 5.0


class Authenticator(DependencyProvider):
    """Resolves the bearer token and puts the principal into the worker's context data."""

    def setup(self):
        config = self.container.config
        self.agency = agency_of(config)
        self.bootstrap = (config.get("BOOTSTRAP_TOKEN") or "").strip() or None
        # a revoked token is refused by this process at once, by any other within this many seconds
        ttl = config.get("TOKEN_CACHE_SECONDS")
        self.cache = tokens.TokenCache(float(DEFAULT_TOKEN_CACHE_SECONDS if ttl in (None, "") else ttl))
        check_published_keys(config)  # published PII keys beyond loopback: refuse to start

    def get_dependency(self, worker_ctx):
        provider = self

        def authenticate(request, db) -> Principal:
            """``db`` is the worker's unit of work; its session is opened only on a cache miss."""
            principal = tokens.authenticate(lambda: db.session, request.headers.get("Authorization"),
                                            provider.agency, provider.bootstrap,
                                            cache=provider.cache) or anonymous(provider.agency)
            worker_ctx.data[CONTEXT_KEY] = principal.to_context()
            return principal

        authenticate.forget = provider.cache.forget
        return authenticate


def _in_language(request, response: Response) -> Response:
    """An error's message in the language the client prefers (gateway/messages.py); codes unchanged."""
    if response.status_code < 400 or response.mimetype != "application/json":
        return response
    lang = messages.language(request.headers.get("Accept-Language"))
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    if isinstance(body, dict) and "message" in body:
        response.set_data(json.dumps(messages.localise(body, lang), ensure_ascii=False, default=str))
    response.headers["Content-Language"] = lang
    response.headers.add("Vary", "Accept-Language")
    return response


def _refused_items_in_language(request, result) -> str | None:
    """A bulk route's refused items (``ok: false``, shared/bulk.py) are errors too: each one's message
    becomes the one its single route would have answered, in the client's language, which is returned
    (None: nothing was refused). ``result`` is changed in place."""
    items = result.get("items") if isinstance(result, dict) else None
    if not isinstance(items, list):
        return None
    refused = [n for n, item in enumerate(items) if isinstance(item, dict) and item.get("ok") is False
               and "message" in item]
    if not refused:
        return None
    lang = messages.language(request.headers.get("Accept-Language"))
    for n in refused:
        items[n] = messages.localise(items[n], lang)
    return lang


def json_response(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json")


def file_response(result: dict) -> Response:
    data = base64.b64decode(result["data_base64"])
    response = Response(data, status=200, content_type=http_content_type(result["content_type"]))
    # RFC 6266: a plain fallback name plus the UTF-8 one (Chinese file names)
    name = result["filename"]
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return response


def error_response(exc: WsliError) -> Response:
    response = json_response(exc.to_dict(), exc.http_status)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


URL_MAP = Map([Rule(r.path, methods=[r.method], endpoint=i) for i, r in enumerate(ALL_ROUTES)],
              strict_slashes=False)
ROUTER = URL_MAP.bind("gateway")  # matching keeps no state in the adapter: one serves every request


class GatewayService:
    name = "gateway"

    db = Database(Base.metadata, platform)
    services = Cluster()
    authenticate = Authenticator()
    config = Config()
    telemetry = Telemetry()

    # ---- public ------------------------------------------------------------------------------

    @http("GET", "/health")
    def health(self, request):
        deadline = time.monotonic() + float(self.config.get("HEALTH_TIMEOUT_SECONDS") or 2.0)
        calls = {name: self._start(name, "health") for name in SERVICE_NAMES}  # never raises
        services = {}
        for name, call in calls.items():
            try:
                self._finish(name, call, _remaining(deadline))
                services[name] = {"status": "ok"}
            except Exception as exc:  # down, slow or broken: report, never fail the probe
                services[name] = {"status": "down", "error": _brief(exc)}
        try:
            self.db.session.execute(text("SELECT 1"))
            services["gateway"] = {"status": "ok"}
        except Exception as exc:
            services["gateway"] = {"status": "down", "error": _brief(exc)}
        overall = "ok" if all(s["status"] == "ok" for s in services.values()) else "degraded"
        from shared.calendar import calendar_status

        # the calendar running out degrades nothing today, but is said well before it does
        calendar = calendar_status(utcnow().date())
        body = {"status": overall, "agency": self.db.agency, "services": services,
                "calendar": {k: calendar[k] for k in ("last_day", "days_left", "warning")}}
        warnings = check_published_keys(self.config)  # loopback only here: startup refused the rest
        if warnings:
            body["warnings"] = warnings
        return json_response(body)

    @http("GET", "/metrics")
    def metrics(self, request):
        """Prometheus exposition of this process (the gateway's own counters and the broker's queues)."""
        if not self.services.breaker.is_open:
            try:
                from shared.lag import queue_depths
                from shared.subscriber import DLQ
                DEAD_LETTERS.set(queue_depths(self.config["AMQP_URI"], [DLQ], timeout=1.0)[DLQ] or 0)
            except Exception as exc:  # broker away: the other metrics still count
                log.warning("metrics: cannot read the dead-letter queue: %s", _brief(exc))
        body, content_type = exposition()
        return Response(body, status=200, content_type=content_type)

    # People who open the API's address in a browser land on the console (its own port or
    # host): the login page, or their overview when their session is still open.
    @http("GET", "/")
    def home(self, request):
        console = (self.config.get("CONSOLE_URL") or "http://127.0.0.1:8001").rstrip("/")
        return Response("", status=302, headers={"Location": console + "/"})

    # Interactive documentation of the API: Swagger UI, vendored with the console's static
    # files (gateway/web/static/swagger-ui), loading this gateway's /openapi.json.
    @http("GET", "/docs")
    def docs(self, request):
        return Response(DOCS_PAGE, status=200, mimetype="text/html", headers=DOCS_HEADERS)

    @http("GET", "/docs/static/<name>")
    def docs_static(self, request, name):
        path = SWAGGER_UI / name
        if name not in SWAGGER_FILES or not path.is_file():
            return json_response({"error": "not_found", "message": f"no file {name}"}, 404)
        mime = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(path.read_bytes(), mimetype=mime, headers={"Cache-Control": "public, max-age=3600",
                                                                    "X-Content-Type-Options": "nosniff"})

    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document())

    # ---- tokens (admin): routes of routes/local.py -------------------------------------------

    @transactional
    def _create_token(self, principal, request):
        principal.require("admin")
        data = load(schemas.TokenIn, _json_body(request, required=True))
        token, row = tokens.create_token(self.db.session, agency=self.db.agency, **data)
        self.db.audit(principal, "token.create", "api_token", row.id, {"role": row.role, "name": row.name})
        return json_response(dict(tokens.token_out(row), token=token), 201)

    def _list_tokens(self, principal, request):
        principal.require("admin")
        rows = self.db.session.scalars(select(ApiToken).where(ApiToken.agency_id == self.db.agency)
                                       .order_by(ApiToken.id)).all()
        return json_response([tokens.token_out(r) for r in rows])

    @transactional
    def _revoke_token(self, principal, request, token_id):
        principal.require("admin")
        row = self.db.session.get(ApiToken, token_id)
        if row is None or row.agency_id != self.db.agency:
            raise NotFound(f"token {token_id} not found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self.db.audit(principal, "token.revoke", "api_token", row.id, {})
        self.db.commit()
        getattr(self.authenticate, "forget", lambda _id: None)(row.id)  # refused from the next request on, not after the cache's TTL
        return json_response(tokens.token_out(row))

    # ---- operations --------------------------------------------------------------------------

    def _lag(self, principal, request):
        """Per consumer: published vs processed and the oldest unprocessed age (shared.lag)."""
        from shared.lag import add_queues, combine

        started = {name: self._start(name, "lag_report") for name in SERVICE_NAMES}
        deadline = time.monotonic() + self._rpc_timeout()
        stats, unavailable = {}, []
        for name, call in started.items():
            try:
                stats[name] = self._finish(name, call, _remaining(deadline))
            except ServiceUnavailable:
                unavailable.append(name)

        def published_at_of(source, event_type, offset):
            try:
                return self._finish(source, self._start(source, "published_at", event_type, offset),
                                    _remaining(deadline))
            except ServiceUnavailable:
                return None

        report = combine(stats, published_at_of, unavailable)
        if not self.services.breaker.is_open:
            report = add_queues(report, self.config["AMQP_URI"])
        return json_response(report)

    # ---- aggregation: a route of routes/local.py ----------------------------------------------

    def _dashboard(self, principal, request):
        params = load(schemas.DashboardQuery, dict(request.args.items()))
        wanted = {}
        if "cycle" in params:
            wanted["quota_report"] = ("registration", "quota_report", params["cycle"])
            wanted["cycle"] = ("registration", "get_cycle", params["cycle"])
            wanted["lecture_compliance"] = ("subsidies", "compliance_report", params["cycle"])
            if "stage" in params:
                wanted["ranking"] = ("scoring", "get_ranking", params["cycle"], params["stage"])
        if "year" in params:
            wanted["enrolment_progress"] = ("registration", "enrolment_progress", params["year"])
        if not wanted:
            raise ValidationFailed("say what to show", {"cycle": ["give cycle and/or year"]})
        return json_response(self._gather(wanted))

    def _gather(self, wanted: dict[str, tuple]) -> dict:
        """``{part: (service, method, *args)}`` fetched concurrently, one round trip per service: the
        parts one service answers together go as one ``read_many`` (shared.entrypoints). Each part
        answers ``ok`` with its data, ``error`` (refused, as if asked alone) or ``unavailable``."""
        by_service: dict[str, list[str]] = {}
        for part, spec in wanted.items():
            by_service.setdefault(spec[0], []).append(part)
        started = {}
        for service, names in by_service.items():
            if len(names) == 1:
                started[service] = self._start(service, wanted[names[0]][1], *wanted[names[0]][2:])
            else:
                started[service] = self._start(service, "read_many",
                                               [[wanted[n][1], list(wanted[n][2:])] for n in names])
        deadline = time.monotonic() + self._rpc_timeout()  # one budget for all parts, not one each
        parts, missing = {}, []
        for service, names in by_service.items():
            try:
                answer = self._finish(service, started[service], _remaining(deadline))
            except ServiceUnavailable as exc:
                for name in names:
                    parts[name] = {"status": "unavailable", "error": exc.to_dict()}
                    missing.append(name)
                continue
            except WsliError as exc:
                for name in names:
                    parts[name] = {"status": "error", "error": exc.to_dict()}
                continue
            if len(names) == 1:
                parts[names[0]] = {"status": "ok", "data": answer}
                continue
            for name, one in zip(names, answer):
                parts[name] = {"status": "ok", "data": one["data"]} if one["ok"] else \
                    {"status": "error", "error": one["error"]}
        return {"parts": {part: parts[part] for part in wanted}, "missing": [p for p in wanted if p in missing]}

    # ---- the working-day calendar: routes of routes/local.py --------------------------------

    def _calendar(self, principal, request):
        from shared.calendar import calendar_status, configured_store

        status = calendar_status(utcnow().date())
        store = configured_store()
        years = [a.to_dict() for _, a in sorted(store.load().items())] if store else []
        return json_response(dict(status, years=years))

    @transactional
    def _put_calendar_year(self, principal, request, year):
        from shared.calendar import configured_store

        store = configured_store()
        if store is None:
            raise ServiceUnavailable("no calendar directory is configured (CALENDAR_DIR)", {"year": [str(year)]})
        body = _json_body(request, required=True)
        if not isinstance(body, dict):
            raise ValidationFailed("the body must be an object", {"_schema": ["must be an object"]})
        replace = body.pop("replace", False)
        if not isinstance(replace, bool):
            raise ValidationFailed("replace must be true or false", {"replace": ["must be a boolean"]})
        added = store.add(body, actor=principal.actor, replace=replace, year=year)
        self.db.audit(principal, "calendar.replace" if replace else "calendar.add", "calendar_year", year,
                      {"source": added.source, "holidays": len(added.holidays), "workdays": len(added.workdays)})
        return json_response(added.to_dict())

    def _gateway_audit_trail(self, principal, request, entity_type, entity_id):
        from shared.schemas import AuditOut

        audit = self.db.tables.audit
        rows = self.db.session.execute(
            select(audit).where(audit.c.agency_id == self.db.agency, audit.c.entity_type == str(entity_type),
                                audit.c.entity_id == str(entity_id)).order_by(audit.c.id)).mappings().all()
        return json_response(schema_instance(AuditOut, many=True).dump(
            [dict(r, detail=json.loads(r["detail"] or "{}")) for r in rows]))

    def _safety_file(self, principal, request, credit_code):
        return json_response(safety_file.gather(self, credit_code))

    # ---- the routed API ----------------------------------------------------------------------

    @http("GET,POST,PUT,PATCH,DELETE", "/api/v1/<path:path>")
    def api(self, request, path):
        return _in_language(request, self._api(request))

    def _api(self, request):
        try:
            endpoint, args = ROUTER.match(request.path, method=request.method)
        except NoRoute:
            return json_response({"error": "not_found", "message": f"no route {request.path}"}, 404)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            response = json_response({"error": "method_not_allowed", "message": f"use {allowed}"}, 405)
            response.headers["Allow"] = allowed
            return response
        route = ALL_ROUTES[endpoint]
        if not (route.upload or route.multipart) and request.content_length and \
                request.content_length > MAX_BODY_BYTES:
            return json_response({"error": "too_large", "message": f"body exceeds {MAX_BODY_BYTES} bytes"}, 413)
        return self._guard(request, lambda principal, req: self._dispatch(route, args, principal, req),
                           public=route.public)

    def _dispatch(self, route, args, principal, request):
        if not route.public:
            principal.require(*route.roles)  # the service checks the same tuple again
        if route.service == LOCAL:
            return getattr(self, f"_{route.rpc}")(principal, request, *[args[n] for n in route.path_args])
        return self._forward(route, args, request)

    def _forward(self, route, args, request):
        call_args = [args[name] for name in route.path_args]
        if route.upload:
            call_args.append(_upload_body(request, route.max_upload_bytes))
        elif route.multipart:
            call_args.append(_multipart_body(request, dict(route.multipart), route.max_upload_bytes))
        elif route.method in BODY_METHODS:
            call_args.append(_json_body(request, required=route.body_required))
        elif route.query is not None:
            call_args.append(dict(request.args.items()))
        call = self._start(route.service, route.rpc, *call_args)
        result = self._finish(route.service, call, self._rpc_timeout() * route.timeout_scale)
        if route.file:
            return file_response(result)
        lang = _refused_items_in_language(request, result)
        response = json_response(result, route.status)
        if lang is not None:
            response.headers["Content-Language"] = lang
            response.headers.add("Vary", "Accept-Language")
        return response

    def _rpc_timeout(self) -> float:
        return float(self.config.get("RPC_TIMEOUT_SECONDS") or 15.0)

    # ---- plumbing ----------------------------------------------------------------------------

    def _guard(self, request, handler, public=False):
        """Authenticate, run, and turn every outcome into a JSON response."""
        try:
            principal = self.authenticate(request, self.db)
            self.db.rollback()  # release the connection (if the token was read) before slow calls
            if principal.role == "public" and not public:
                return json_response({"error": "unauthenticated", "message": "a bearer token is required"}, 401)
            return handler(principal, request)
        except WsliError as exc:
            return error_response(exc)
        except DBAPIError as exc:
            if exc.connection_invalidated or type(exc).__name__ in DATABASE_DOWN:
                log.warning("gateway database unavailable: %s", _brief(exc))
                return error_response(ServiceUnavailable("the gateway's database is unavailable",
                                                         {"service": ["gateway"]}))
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled database error, incident %s", incident)
            return json_response({"error": "internal", "message": f"internal error, incident {incident}"}, 500)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled error, incident %s", incident)
            return json_response({"error": "internal", "message": f"internal error, incident {incident}"}, 500)

    def _start(self, service, method, *args):
        """Publish the call; a failure comes back as the exception to raise, never raised here."""
        breaker = self.services.breaker
        if breaker.is_open:
            return ServiceUnavailable("the message broker is unavailable", {"service": [service]},
                                      retry_after=breaker.retry_after())
        try:
            with eventlet.Timeout(float(self.config.get("RPC_PUBLISH_TIMEOUT_SECONDS") or 3.0)):
                return getattr(getattr(self.services, service), method).call_async(*args)
        except UnknownService:
            ROUTABLE.forget(service)
            return ServiceUnavailable(f"{service} is not running", {"service": [service]})
        except (eventlet.Timeout, *CONNECTION_ERRORS) as exc:
            breaker.trip()
            log.warning("broker unavailable calling %s.%s: %s", service, method, _brief(exc))
            return ServiceUnavailable("the message broker is unavailable", {"service": [service]},
                                      retry_after=breaker.retry_after())

    def _finish(self, service, call, timeout: float = 15.0):
        if isinstance(call, Exception):
            raise call
        try:
            with eventlet.Timeout(timeout):
                return call.result()
        except eventlet.Timeout:
            raise ServiceUnavailable(f"{service} did not answer in time", {"service": [service]}) from None
        except RemoteError as exc:
            if exc.exc_type in DATABASE_DOWN:
                log.warning("%s cannot reach its database: %s", service, _brief(exc))
                raise ServiceUnavailable(f"{service} cannot reach its database", {"service": [service]}) from None
            log.error("%s failed: %s", service, exc)
            raise


def _upload_body(request, max_bytes: int) -> dict:
    if request.content_length and request.content_length > max_bytes:
        raise TooLarge(f"file exceeds {max_bytes} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise TooLarge(f"file exceeds {max_bytes} bytes")
    return {"filename": request.args.get("filename") or "", "content_type": request.mimetype or "",
            "data_base64": base64.b64encode(raw).decode("ascii"),
            "query": {k: v for k, v in request.args.items() if k != "filename"}}


def _multipart_body(request, limits: dict[str, int], max_total: int) -> dict:
    """A report and its files from multipart/form-data; each file part held to its own size limit."""
    if request.content_length and request.content_length > max_total:
        raise TooLarge(f"request exceeds {max_total} bytes", {"_body": [f"at most {max_total} bytes in all"]})
    if request.mimetype != "multipart/form-data":
        raise ValidationFailed("send multipart/form-data", {"_body": [
            "multipart/form-data with a part 'report' (JSON) and file parts " + ", ".join(limits)]})
    try:
        report = json.loads(request.form.get("report") or "")
    except ValueError as exc:
        raise ValidationFailed("report is not JSON", {"report": [f"not valid JSON: {exc}"]}) from None
    return {"report": report, "files": multipart_files(request, limits)}


def multipart_files(request, limits: dict[str, int]) -> dict[str, list]:
    """The file parts of a multipart request as a service takes them, each held to its part's limit
    (413 naming ``part.n``); a part not in ``limits`` is a 400. An empty file input (no file chosen) is skipped.
    The console's report form hands its files to the service the same way."""
    files: dict[str, list] = {}
    for part in request.files.keys():
        if part not in limits:
            raise ValidationFailed(f"unknown file part {part}", {part: [f"not one of {', '.join(limits)}"]})
        n = 0
        for storage in request.files.getlist(part):
            data = storage.read(limits[part] + 1)
            if not data and not storage.filename:
                continue  # a file input left empty
            if len(data) > limits[part]:
                raise TooLarge(f"{part}.{n} exceeds {limits[part]} bytes",
                               {f"{part}.{n}": [f"at most {limits[part]} bytes per file"]})
            files.setdefault(part, []).append({"filename": storage.filename or "", "content_type": storage.mimetype,
                                               "data_base64": base64.b64encode(data).decode("ascii")})
            n += 1
    return files


def _json_body(request, required: bool = False):
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        if required:
            raise ValidationFailed("a JSON body is required", {"_body": ["missing: send a JSON object"]})
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("the body is not valid JSON", {"_body": [f"not valid JSON: {exc}"]}) from None


def _remaining(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


def _brief(exc) -> str:
    return (str(exc) or type(exc).__name__)[:200]
