"""``WebService``: the console's pages, the login, and the public certificate check.

Every page is ``self._page(request, handler)``: find the session, check the CSRF
token of a POST, put the user's principal in the worker context (the services read
it exactly as they read a token's), run the handler, and turn a refusal of a
service into a page in Chinese with the right HTTP status. Access is the
services' business: a page only decides what to *offer* (which links, which
buttons) by role, and a service refuses what the role may not do.
"""
from __future__ import annotations

import base64
import json
import logging
import mimetypes
import secrets
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import eventlet
from nameko.dependency_providers import Config
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from gateway.service import Cluster, ServiceUnavailable
from shared.auth import CONTEXT_KEY, STAFF, Principal, anonymous
from shared.config import as_bool
from shared.db import Database
from shared.documents import http_content_type
from shared.errors import WsliError
from shared.workdays import utcnow

from . import accounts, cases_pages, labels, pages, risk_pages, tour_pages
from .models import Base, platform
from .ratelimit import RateLimiter, client_of
from .render import render_template

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "wsli_session"
LOGIN_CSRF_COOKIE = "wsli_login_csrf"
MAX_BODY_BYTES = 8 * 1024 * 1024  # a 附件1 form with its photo (≤2 MiB) fits with room
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # everything is served from here: vendored script and styles, no inline code
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


class PrincipalSetter(DependencyProvider):
    """``self.act_as(principal)``: what the services will see as the caller of this worker's RPCs."""

    def get_dependency(self, worker_ctx):
        def act_as(principal: Principal) -> Principal:
            worker_ctx.data[CONTEXT_KEY] = principal.to_context()
            return principal

        return act_as


class Page:
    """One request as a page handler sees it."""

    def __init__(self, service: "WebService", request, user=None, session_row=None):
        self.service = service
        self.request = request
        self.user = user
        self.session_row = session_row
        self.principal = accounts.principal_of(user) if user else anonymous(service.db.agency)
        self.csrf = session_row.csrf_token if session_row else None
        self.cookies: list[tuple[tuple, dict]] = []

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def is_staff(self) -> bool:
        return self.principal.role in STAFF

    def call(self, service: str, method: str, *args):
        return self.service.call(service, method, *args)

    def render(self, template: str, status: int = 200, **context) -> Response:
        html = render_template(template, page=self, user=self.user, csrf_token=self.csrf, role=self.role,
                               agency=self.service.db.agency, **context)
        return self.service.respond(Response(html, status=status, mimetype="text/html"), self)

    def redirect(self, location: str, status: int = 303) -> Response:
        response = Response("", status=status, headers={"Location": location})
        return self.service.respond(response, self)


class Limits(DependencyProvider):
    """``self.limits.check(request, kind)``: per-client limits of this container (ratelimit.py)."""

    def setup(self):
        config = self.container.config
        from shared.pii import check_published_keys
        check_published_keys(config)  # the console shows personal data too: same refusal as the gateway
        self.trust_forwarded = as_bool(config.get("WEB_TRUST_FORWARDED"), default=False)
        self.limiters = {"public": RateLimiter(int(config.get("PUBLIC_RATE_PER_MINUTE") or 0)),
                         "login": RateLimiter(int(config.get("LOGIN_RATE_PER_MINUTE") or 0))}

    def get_dependency(self, worker_ctx):
        provider = self

        class Checker:
            def check(self, request, kind: str) -> float:
                return provider.limiters[kind].hit(client_of(request, provider.trust_forwarded))

        return Checker()


class WebService:
    name = "web"

    db = Database(Base.metadata, platform)
    services = Cluster()
    act_as = PrincipalSetter()
    limits = Limits()
    config = Config()

    # ---- public ------------------------------------------------------------------------------

    @http("GET", "/health")
    def health(self, request):
        try:
            self.db.session.execute(text("SELECT 1"))
            body, status = {"status": "ok", "agency": self.db.agency, "component": "web"}, 200
        except Exception as exc:
            body, status = {"status": "down", "error": str(exc)[:200]}, 503
        return Response(json.dumps(body), status=status, mimetype="application/json")

    @http("GET", "/metrics")
    def metrics(self, request):
        """Prometheus exposition of this process (requests, latencies, refusals)."""
        from shared.metrics import exposition

        body, content_type = exposition()
        return Response(body, status=200, content_type=content_type)

    @http("GET", "/static/<path:name>")
    def static(self, request, name):
        path = (STATIC / name).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            return Response("未找到", status=404, mimetype="text/plain")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            mime = "text/javascript"
        response = Response(path.read_bytes(), mimetype=mime)
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @http("GET", "/api/v1/labels")
    def labels(self, request):
        return Response(json.dumps(labels.LABELS, ensure_ascii=False), mimetype="application/json",
                        headers={"Content-Language": "zh-CN"})

    @http("GET", "/")
    def home(self, request):
        return self._page(request, lambda p: p.redirect("/console") if p.user else self._login_form(p), public=True)

    @http("GET", "/login")
    def login_page(self, request):
        return self._page(request, lambda p: p.redirect("/console") if p.user else self._login_form(p), public=True)

    @http("POST", "/login")
    def login(self, request):
        return self._page(request, self._login, public=True, login=True)

    @http("POST", "/logout")
    def logout(self, request):
        return self._page(request, self._logout, public=True, logout=True)

    # The QR code on a certificate opens this path (PUBLIC_BASE_URL + the training service's
    # verify path): a browser gets the page, a program the same JSON as the gateway's route.
    @http("GET", "/api/v1/certificates/<number>/verify")
    def verify_qr(self, request, number):
        if _wants_html(request):
            return self._page(request, lambda p: pages.verify(p, number), public=True, limit="public")
        return self._json_guard(request, lambda: self.call("training", "verify_certificate", number))

    # An enterprise's 全安码 opens this path (PUBLIC_BASE_URL + risk's scan path): a browser gets
    # the page (the minimum, or the logged-in role's view), a program the gateway's JSON.
    @http("GET", "/api/v1/qr/<token>")
    def qr_page(self, request, token):
        if _wants_html(request):
            return self._page(request, lambda p: risk_pages.qr(p, token), public=True, limit="public")
        return self._json_guard(request, lambda: self.call("risk", "scan", token))

    @http("GET", "/verify")
    def verify_form(self, request):
        number = (request.args.get("number") or "").strip()
        return self._page(request, lambda p: pages.verify(p, number or None), public=True,
                          limit="public" if number else None)

    @http("GET", "/verify/<number>")
    def verify_page(self, request, number):
        return self._page(request, lambda p: pages.verify(p, number), public=True, limit="public")

    # 公示 of a case campaign and its objection form: anyone, no login
    @http("GET", "/public/cases/<year>")
    def case_notice(self, request, year):
        return self._page(request, lambda p: cases_pages.public_list(p, year), public=True, limit="public")

    @http("POST", "/public/cases/<year>/objections")
    def case_objection(self, request, year):
        return self._page(request, lambda p: cases_pages.objection(p, year), public=True, limit="public",
                          public_form=True)

    # ---- pages for people who logged in ------------------------------------------------------

    @http("GET", "/hazards")
    def hazards(self, request):
        return self._page(request, risk_pages.hazards)

    @http("GET", "/hazards/<int:hazard_id>")
    def hazard(self, request, hazard_id):
        return self._page(request, lambda p: risk_pages.hazard(p, hazard_id))

    @http("POST", "/hazards/<int:hazard_id>/evidence")
    def hazard_evidence(self, request, hazard_id):
        return self._page(request, lambda p: risk_pages.evidence(p, hazard_id))

    @http("GET", "/major-hazards")
    def major_hazards(self, request):
        return self._page(request, risk_pages.major_reports)

    @http("POST", "/major-hazards/<int:report_id>/acknowledgement")
    def major_hazard_ack(self, request, report_id):
        return self._page(request, lambda p: risk_pages.acknowledge(p, report_id))

    @http("GET", "/coverage")
    def coverage(self, request):
        return self._page(request, risk_pages.coverage)

    @http("GET", "/risk-map")
    def risk_map(self, request):
        return self._page(request, risk_pages.risk_map)

    @http("GET", "/risk-map.geojson")
    def risk_map_json(self, request):
        return self._page(request, risk_pages.risk_map_json)

    @http("GET", "/cases")
    def cases(self, request):
        return self._page(request, cases_pages.cases)

    @http("GET", "/cases/new")
    def case_new(self, request):
        return self._page(request, cases_pages.case_form)

    @http("POST", "/cases/new")
    def case_submit(self, request):
        return self._page(request, cases_pages.case_submit)

    @http("GET", "/cases/<int:case_id>")
    def case(self, request, case_id):
        return self._page(request, lambda p: cases_pages.case(p, case_id))

    @http("POST", "/cases/<int:case_id>/score")
    def case_score(self, request, case_id):
        return self._page(request, lambda p: cases_pages.case_score(p, case_id))

    @http("GET", "/console")
    def console(self, request):
        return self._page(request, pages.console)

    @http("GET", "/candidates")
    def candidates(self, request):
        return self._page(request, pages.candidates)

    @http("POST", "/candidates/approval")
    def candidates_bulk_approve(self, request):
        return self._page(request, pages.bulk_center_approve)

    @http("GET", "/candidates/new")
    def candidate_new(self, request):
        return self._page(request, pages.candidate_form)

    @http("POST", "/candidates/new")
    def candidate_create(self, request):
        return self._page(request, pages.candidate_create)

    @http("GET", "/candidates/<int:candidate_id>")
    def candidate(self, request, candidate_id):
        return self._page(request, lambda p: pages.candidate(p, candidate_id))

    @http("POST", "/candidates/<int:candidate_id>/<any(seal,approve,reject,identity):action>")
    def candidate_action(self, request, candidate_id, action):
        return self._page(request, lambda p: pages.candidate_action(p, candidate_id, action))

    @http("GET", "/quota")
    def quota(self, request):
        return self._page(request, pages.quota)

    @http("GET", "/rankings")
    def rankings(self, request):
        return self._page(request, pages.rankings)

    @http("POST", "/rankings/<cycle>/<stage>/close")
    def close_stage(self, request, cycle, stage):
        return self._page(request, lambda p: pages.close_stage(p, cycle, stage))

    @http("GET", "/rankings/<cycle>/<candidate_id>")
    def explanation(self, request, cycle, candidate_id):
        return self._page(request, lambda p: pages.explanation(p, cycle, candidate_id))

    @http("GET", "/lectures")
    def lectures(self, request):
        return self._page(request, pages.lectures)

    @http("GET", "/lectures/new")
    def lecture_new(self, request):
        return self._page(request, tour_pages.lecture_form)

    @http("POST", "/lectures/new")
    def lecture_submit(self, request):
        # a report with its video: the multipart API route's limit, each file held to its own (tour_pages)
        return self._page(request, tour_pages.lecture_submit, max_body=tour_pages.REPORT_MAX_BYTES)

    @http("GET", "/lectures/<lecture_id>/evidence/<file_id>")
    def lecture_evidence(self, request, lecture_id, file_id):
        return self._page(request, lambda p: tour_pages.evidence(p, lecture_id, file_id))

    @http("GET", "/score-sheets")
    def score_sheet(self, request):
        return self._page(request, tour_pages.score_sheet)

    @http("POST", "/score-sheets")
    def score_sheet_submit(self, request):
        return self._page(request, tour_pages.score_sheet_submit)

    @http("GET", "/lectures/<lecture_id>")
    def lecture(self, request, lecture_id):
        return self._page(request, lambda p: pages.lecture(p, lecture_id))

    @http("POST", "/lectures/<lecture_id>/<any(approve,reject):action>")
    def lecture_action(self, request, lecture_id, action):
        return self._page(request, lambda p: pages.lecture_action(p, lecture_id, action))

    @http("GET", "/groups")
    def groups(self, request):
        return self._page(request, pages.groups)

    @http("POST", "/groups/scores")
    def score(self, request):
        return self._page(request, pages.score)

    @http("GET", "/me")
    def me(self, request):
        return self._page(request, pages.me)

    @http("GET", "/payments")
    def payments(self, request):
        return self._page(request, pages.payments)

    @http("POST", "/payments/<batch_id>/results")
    def bank_results(self, request, batch_id):
        return self._page(request, lambda p: pages.bank_results(p, batch_id))

    @http("GET", "/payments/<batch_id>/bank-file")
    def bank_file(self, request, batch_id):
        return self._page(request, lambda p: pages.bank_file(p, batch_id))

    @http("GET", "/dlq")
    def dlq(self, request):
        return self._page(request, pages.dlq)

    # ---- login -------------------------------------------------------------------------------

    def _login_form(self, page: Page, message: str | None = None, status: int = 200, username: str = ""):
        self.double_submit(page)
        return page.render("login.html", status=status, message=message, username=username,
                           next=_safe_next(page.request.args.get("next") or page.request.form.get("next")))

    def _login(self, page: Page):
        form = page.request.form
        username, password = (form.get("username") or "").strip(), form.get("password") or ""
        if not username or not password:
            return self._login_form(page, "请输入用户名和密码", 400, username)
        now = utcnow()
        try:
            user = accounts.check_login(self.db.session, self.db.agency, username, password, self.policy, now)
        except accounts.LoginRefused as refused:
            self.db.audit(accounts.principal_of_name(username), "login.refused", "web_user", username,
                          {"locked_until": refused.locked_until})
            self.db.commit()  # the failure count and the lock must stick
            status = 429 if refused.locked_until else 401
            return self._login_form(page, refused.message, status, username)
        token, row = accounts.start_session(self.db.session, user, self.policy, now)
        self.db.audit(accounts.principal_of(user), "login", "web_user", user.id, {})
        self.db.commit()
        page.cookies.append(((SESSION_COOKIE, token), {"max_age": int(self.policy.session_hours * 3600)}))
        page.cookies.append(((LOGIN_CSRF_COOKIE, ""), {"max_age": 0}))
        return page.redirect(_safe_next(form.get("next")) or "/console")

    def _logout(self, page: Page):
        if page.session_row is not None:
            accounts.end_session(page.session_row, utcnow())
            self.db.audit(page.principal, "logout", "web_user", page.user.id, {})
            self.db.commit()
        page.cookies.append(((SESSION_COOKIE, ""), {"max_age": 0}))
        return page.redirect("/login")

    # ---- plumbing ----------------------------------------------------------------------------

    @staticmethod
    def double_submit(page: Page):
        """A form for someone without a session (login, a public objection) is protected by a
        double-submit token: a random value in a SameSite cookie and the same value in the form."""
        if page.csrf is None:
            token = secrets.token_urlsafe(32)
            page.csrf = token
            page.cookies.append(((LOGIN_CSRF_COOKIE, token), {"max_age": 3600}))

    @property
    def policy(self) -> accounts.LoginPolicy:
        return accounts.LoginPolicy.from_config(self.config)

    def _page(self, request, handler, public: bool = False, login: bool = False, logout: bool = False,
              limit: str | None = None, public_form: bool = False, max_body: int = MAX_BODY_BYTES) -> Response:
        page = None
        try:
            found = accounts.find_session(self.db.session, request.cookies.get(SESSION_COOKIE), utcnow())
            session_row, user = found if found else (None, None)
            page = Page(self, request, user, session_row)
            self.act_as(page.principal)
            if logout and session_row is None:
                return page.redirect("/login")  # nothing to end (expired already): no token to check either
            kind = "login" if login and request.method == "POST" else limit
            wait = self.limits.check(request, kind) if kind else 0
            if wait:
                response = page.render("error.html", status=429, title="请求过于频繁",
                                       message=f"请求过于频繁，请 {int(wait) + 1} 秒后再试")
                response.headers["Retry-After"] = str(int(wait) + 1)
                return response
            if request.method == "POST":
                if request.content_length and request.content_length > max_body:
                    _drain(request)
                    return page.render("error.html", status=413, title="文件过大",
                                       message=f"提交的内容超过 {max_body // (1024 * 1024)} MiB")
                # werkzeug refuses a longer body without a length (chunked) while parsing the form
                request.max_content_length = max_body
                no_session = login or (public_form and page.session_row is None)
                expected = request.cookies.get(LOGIN_CSRF_COOKIE) if no_session else page.csrf
                given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
                if not accounts.same_token(expected, given):
                    return page.render("error.html", status=403, title="请求被拒绝",
                                       message="表单已过期或来源不明（CSRF 校验未通过）。请返回，刷新页面后重新提交。")
            if not public and user is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else "/console"
                return page.redirect("/login?" + urlencode({"next": target}))
            if not login:
                self.db.rollback()  # release the connection before the slow calls to services
            return handler(page)
        except RequestEntityTooLarge:
            self.db.rollback()
            return (page or Page(self, request)).render(
                "error.html", status=413, title="文件过大", message=f"提交的内容超过 {max_body // (1024 * 1024)} MiB")
        except WsliError as exc:
            self.db.rollback()
            page = page or Page(self, request)
            return page.render("error.html", status=exc.http_status, title=labels.ERROR_TITLES.get(exc.code, "出错了"),
                               message=_chinese_message(exc), fields=labels.describe_fields(exc.fields))
        except Exception:
            self.db.rollback()
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled error on a page, incident %s", incident)
            page = page or Page(self, request)
            return page.render("error.html", status=500, title="系统内部错误",
                               message=f"系统内部错误，请联系运营中心（事件编号 {incident}）")

    def _json_guard(self, request, produce) -> Response:
        self.act_as(anonymous(self.db.agency))
        wait = self.limits.check(request, "public")
        if wait:
            return Response(json.dumps({"error": "too_many_requests", "message": "请求过于频繁，请稍后再试"},
                                       ensure_ascii=False), status=429, mimetype="application/json",
                            headers={"Retry-After": str(int(wait) + 1)})
        try:
            body, status = produce(), 200
        except WsliError as exc:
            body, status = exc.to_dict(), exc.http_status
        return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                        mimetype="application/json")

    def respond(self, response: Response, page: Page) -> Response:
        secure = self._secure(page.request)
        for (name, value), options in page.cookies:
            response.set_cookie(name, value, httponly=True, samesite="Lax", secure=secure, path="/", **options)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Language"] = "zh-CN"
        return response

    def _secure(self, request) -> bool:
        setting = str(self.config.get("WEB_COOKIE_SECURE") or "auto").strip().lower()
        if setting == "auto":
            # behind a TLS-terminating proxy the request arrives as http with this header
            return request.scheme == "https" or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        return as_bool(setting)

    def call(self, service: str, method: str, *args):
        timeout = float(self.config.get("RPC_TIMEOUT_SECONDS") or 15.0)
        try:
            pending = getattr(getattr(self.services, service), method).call_async(*args)
        except UnknownService:
            raise ServiceUnavailable(f"{service} is not running", {"service": [service]}) from None
        try:
            with eventlet.Timeout(timeout):
                return pending.result()
        except eventlet.Timeout:
            raise ServiceUnavailable(f"{service} did not answer in time", {"service": [service]}) from None
        except RemoteError as exc:
            log.error("%s.%s failed: %s", service, method, exc)
            raise


DRAIN_LIMIT = 64 * 1024 * 1024


def _drain(request) -> None:
    """Read (and drop) a too-large body, so the browser gets the 413 page instead of a reset
    connection; past DRAIN_LIMIT the connection is closed instead."""
    if request.content_length > DRAIN_LIMIT:
        return
    stream = request.stream
    while stream.read(64 * 1024):
        pass


def _wants_html(request) -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "text/html" and accept["text/html"] > 0


def _safe_next(target: str | None) -> str | None:
    # only a path of this site: never an absolute URL an attacker put in a link
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _chinese_message(exc: WsliError) -> str:
    title = labels.ERROR_TITLES.get(exc.code, "出错了")
    if exc.code == "rule_violation" and getattr(exc, "rule", None):
        return f"{title}（规则 {exc.rule}）：{exc.message}"
    if exc.code == "validation_failed" and exc.fields:
        names = "、".join(name for _, name, _ in labels.describe_fields(exc.fields))
        return f"{title}：请检查 {names}"
    return f"{title}：{exc.message}"


def file_response(result: dict) -> Response:
    data = base64.b64decode(result["data_base64"])
    response = Response(data, status=200, content_type=http_content_type(result["content_type"]))
    name = result["filename"]
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "no-store"
    return response
