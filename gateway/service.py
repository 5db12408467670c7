"""The gateway: the only HTTP surface. Authenticates, forwards to services, maps errors.

One nameko ``@http`` entrypoint serves the whole ``/api/v1`` table of ``routes.py``
so the table is the single source of both dispatch and the OpenAPI document.
"""
from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from urllib.parse import quote

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener, ServiceProxy
from nameko.web.handlers import http
from sqlalchemy import select, text
from werkzeug.exceptions import MethodNotAllowed, NotFound as NoRoute
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from shared.auth import CONTEXT_KEY, Principal, anonymous
from shared.catalogue import SERVICE_NAMES
from shared.config import agency_of
from shared.db import Database, transactional
from shared.errors import NotFound, ValidationFailed, WsliError
from shared.schemas import load
from shared.workdays import utcnow

from . import safety_file, schemas, tokens
from .models import ApiToken, Base, platform
from .openapi import openapi_document
from .routes import ROUTES

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
BODY_METHODS = ("POST", "PUT", "PATCH")


class ServiceUnavailable(WsliError):
    http_status = 503
    code = "service_unavailable"


class TooLarge(WsliError):
    http_status = 413
    code = "too_large"


class Cluster(DependencyProvider):
    """``self.services.<name>.<method>``: RPC to any service, carrying this worker's context."""

    rpc_reply_listener = ReplyListener()

    def setup(self):
        # A request nobody picked up before the gateway gave up must not run later:
        # the client was already told it failed.
        self.expiration = float(self.container.config.get("RPC_TIMEOUT_SECONDS") or 15.0)

    def get_dependency(self, worker_ctx):
        listener, expiration = self.rpc_reply_listener, self.expiration

        class Services:
            def __getattr__(self, service_name):
                return ServiceProxy(worker_ctx, service_name, listener, expiration=expiration)

        return Services()


class Authenticator(DependencyProvider):
    """Resolves the bearer token and puts the principal into the worker's context data."""

    def setup(self):
        config = self.container.config
        self.agency = agency_of(config)
        self.bootstrap = (config.get("BOOTSTRAP_TOKEN") or "").strip() or None

    def get_dependency(self, worker_ctx):
        provider = self

        def authenticate(request, session) -> Principal:
            principal = tokens.authenticate(session, request.headers.get("Authorization"),
                                            provider.agency, provider.bootstrap) or anonymous(provider.agency)
            worker_ctx.data[CONTEXT_KEY] = principal.to_context()
            return principal

        return authenticate


def json_response(body, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json")


def file_response(result: dict) -> Response:
    data = base64.b64decode(result["data_base64"])
    response = Response(data, status=200, mimetype=result["content_type"])
    # RFC 6266: a plain fallback name plus the UTF-8 one (Chinese file names)
    name = result["filename"]
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return response


def error_response(exc: WsliError) -> Response:
    return json_response(exc.to_dict(), exc.http_status)


URL_MAP = Map([Rule(r.path, methods=[r.method], endpoint=i) for i, r in enumerate(ROUTES)], strict_slashes=False)


class GatewayService:
    name = "gateway"

    db = Database(Base.metadata, platform)
    services = Cluster()
    authenticate = Authenticator()
    config = Config()

    # ---- public ------------------------------------------------------------------------------

    @http("GET", "/health")
    def health(self, request):
        deadline = time.monotonic() + float(self.config.get("HEALTH_TIMEOUT_SECONDS") or 2.0)
        calls = {name: self._start(name, "health") for name in SERVICE_NAMES}
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
        return json_response({"status": overall, "agency": self.db.agency, "services": services})

    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document())

    # ---- tokens (admin) ----------------------------------------------------------------------

    @http("POST", "/api/v1/tokens")
    def create_token(self, request):
        return self._guard(request, self._create_token)

    @http("GET", "/api/v1/tokens")
    def list_tokens(self, request):
        return self._guard(request, self._list_tokens)

    @http("DELETE", "/api/v1/tokens/<int:token_id>")
    def revoke_token(self, request, token_id):
        return self._guard(request, lambda principal, req: self._revoke_token(principal, token_id))

    @transactional
    def _create_token(self, principal, request):
        principal.require("admin")
        data = load(schemas.TokenIn, _json_body(request))
        token, row = tokens.create_token(self.db.session, agency=self.db.agency, **data)
        self.db.audit(principal, "token.create", "api_token", row.id, {"role": row.role, "name": row.name})
        return json_response(dict(tokens.token_out(row), token=token), 201)

    def _list_tokens(self, principal, request):
        principal.require("admin")
        rows = self.db.session.scalars(select(ApiToken).where(ApiToken.agency_id == self.db.agency)
                                       .order_by(ApiToken.id)).all()
        return json_response([tokens.token_out(r) for r in rows])

    @transactional
    def _revoke_token(self, principal, token_id):
        principal.require("admin")
        row = self.db.session.get(ApiToken, token_id)
        if row is None or row.agency_id != self.db.agency:
            raise NotFound(f"token {token_id} not found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self.db.audit(principal, "token.revoke", "api_token", row.id, {})
        return json_response(tokens.token_out(row))

    # ---- aggregation -------------------------------------------------------------------------

    @http("GET", "/api/v1/dashboard")
    def dashboard(self, request):
        return self._guard(request, self._dashboard)

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
        # start every call first, then collect: the parts are fetched concurrently
        started = {part: (spec[0], self._start(spec[0], spec[1], *spec[2:])) for part, spec in wanted.items()}
        deadline = time.monotonic() + self._rpc_timeout()  # one budget for all parts, not one each
        parts, missing = {}, []
        for part, (service, call) in started.items():
            try:
                parts[part] = {"status": "ok", "data": self._finish(service, call, _remaining(deadline))}
            except ServiceUnavailable as exc:
                parts[part] = {"status": "unavailable", "error": exc.to_dict()}
                missing.append(part)
            except WsliError as exc:
                parts[part] = {"status": "error", "error": exc.to_dict()}
        return json_response({"parts": parts, "missing": missing})

    @http("GET", "/api/v1/safety-files/<credit_code>")
    def safety_file(self, request, credit_code):
        return self._guard(request, lambda principal, req: json_response(safety_file.gather(self, credit_code)))

    # ---- the routed API ----------------------------------------------------------------------

    @http("GET,POST,PUT,PATCH,DELETE", "/api/v1/<path:path>")
    def api(self, request, path):
        try:
            endpoint, args = URL_MAP.bind("gateway").match(request.path, method=request.method)
        except NoRoute:
            return json_response({"error": "not_found", "message": f"no route {request.path}"}, 404)
        except MethodNotAllowed as exc:
            return json_response({"error": "method_not_allowed",
                                  "message": f"use {', '.join(exc.valid_methods or [])}"}, 405)
        route = ROUTES[endpoint]
        if not route.upload and request.content_length and request.content_length > MAX_BODY_BYTES:
            return json_response({"error": "too_large", "message": f"body exceeds {MAX_BODY_BYTES} bytes"}, 413)
        return self._guard(request, lambda principal, req: self._forward(route, args, req), public=route.public)

    def _forward(self, route, args, request):
        call_args = [args[name] for name in route.path_args]
        if route.upload:
            call_args.append(_upload_body(request, route.max_upload_bytes))
        elif route.method in BODY_METHODS:
            call_args.append(_json_body(request))
        elif route.query is not None:
            call_args.append(dict(request.args.items()))
        call = self._start(route.service, route.rpc, *call_args)
        result = self._finish(route.service, call, self._rpc_timeout())
        if route.file:
            return file_response(result)
        return json_response(result, route.status)

    def _rpc_timeout(self) -> float:
        return float(self.config.get("RPC_TIMEOUT_SECONDS") or 15.0)

    # ---- plumbing ----------------------------------------------------------------------------

    def _guard(self, request, handler, public=False):
        """Authenticate, run, and turn every outcome into a JSON response."""
        try:
            principal = self.authenticate(request, self.db.session)
            self.db.session.rollback()  # release the connection before slow calls
            if principal.role == "public" and not public:
                return json_response({"error": "unauthenticated", "message": "a bearer token is required"}, 401)
            return handler(principal, request)
        except WsliError as exc:
            return error_response(exc)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled error, incident %s", incident)
            return json_response({"error": "internal", "message": f"internal error, incident {incident}"}, 500)

    def _start(self, service, method, *args):
        try:
            return getattr(getattr(self.services, service), method).call_async(*args)
        except UnknownService:
            return ServiceUnavailable(f"{service} is not running", {"service": [service]})

    def _finish(self, service, call, timeout: float = 15.0):
        if isinstance(call, Exception):
            raise call
        try:
            with eventlet.Timeout(timeout):
                return call.result()
        except eventlet.Timeout:
            raise ServiceUnavailable(f"{service} did not answer in time", {"service": [service]}) from None
        except RemoteError as exc:
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


def _json_body(request):
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("the body is not valid JSON", {"_body": [f"not valid JSON: {exc}"]}) from None


def _remaining(deadline: float) -> float:
    return max(0.05, deadline - time.monotonic())


def _brief(exc) -> str:
    return (str(exc) or type(exc).__name__)[:200]
