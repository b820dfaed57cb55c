"""The portal's Starlette app: pages, the JSON API of DESIGN §8, sessions, CSRF, headers.

Routes translate HTTP to `service` / `accounts` / `backup_admin` / `audit` calls and
back; nothing here computes data. Every route but /healthz, /static and the login
forms needs a session; every POST also needs the session's CSRF token (header
`X-CSRF-Token`, or the form field `csrf` in pages). Rights come from
`permissions.allowed` with the session's current role.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import accounts, permissions
from ..errors import CrmError, Refused
from ..home import CrmHome, open_home
from ..permissions import Actor
from . import service
from .sessions import PortalSession, SessionStore, expires_in
from .texts import Texts

log = logging.getLogger("crm_sheets.portal")
HERE = Path(__file__).resolve().parent
COOKIE = "crm_session"
PENDING = "crm_pending"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
QUERY_ROWS = 200


class ApiError(Exception):
    """An error answer: status, stable code, one line for people."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class Portal:
    """State shared by the routes: the home, sessions, templates, pending logins."""

    def __init__(self, home: CrmHome, secure_cookies: bool) -> None:
        self.home = home
        self.T = Texts(home.lang)
        self.sessions = SessionStore(home)
        self.secure = secure_cookies
        # two-step logins waiting for their code: token -> (user, password, until). In this
        # process's memory only, for 5 minutes, so the code step needs no second password
        self.pending: dict[str, tuple[str, str, float]] = {}
        self.pending_lock = threading.Lock()
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]))
        self.env.globals.update(T=self.T, lang=home.lang, sheet_label=self.sheet_label,
                                column_label=self.column_label)

    def sheet_label(self, sheet: str | None) -> str:
        """Customers -> 客户 (the sheet's tab name in the home's language)."""
        from ..schema import CUSTOMERS, FOLLOWUPS

        for schema in (CUSTOMERS, FOLLOWUPS):
            if sheet == schema.name:
                from ..views.common import sheet_label

                return sheet_label(schema, self.home.lang)
        return sheet or ""

    def column_label(self, sheet: str | None, key: str | None) -> str:
        """phone -> 联系方式 (the column header in the home's language)."""
        from ..schema import CUSTOMERS, FOLLOWUPS

        schema = FOLLOWUPS if sheet == FOLLOWUPS.name else CUSTOMERS
        try:
            return schema.field(key).header(self.home.lang) if key else ""
        except (KeyError, ValueError, AttributeError):
            return key or ""

    def client(self, request: Request) -> str:
        return request.client.host if request.client else ""

    def session(self, request: Request) -> PortalSession | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        sess = ctx.pop("sess", None) or getattr(request.state, "sess", None)
        html = self.env.get_template(name).render(sess=sess, path=request.url.path,
                                                  role=sess.role if sess else None,
                                                  can=_can(sess), **ctx)
        return HTMLResponse(html, status_code=status)

    def set_cookie(self, resp: Response, token: str, max_age: int) -> None:
        resp.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                        secure=self.secure, path="/")

    # pending two-step logins (password was right, the code is still to come)
    def park(self, user: str, password: str) -> str:
        token = secrets.token_urlsafe(24)
        now = time.time()
        with self.pending_lock:
            for k in [k for k, v in self.pending.items() if v[2] < now]:
                del self.pending[k]
            self.pending[token] = (user, password, now + 300)
        return token

    def unpark(self, token: str | None, drop: bool = False) -> tuple[str, str] | None:
        with self.pending_lock:
            hit = self.pending.get(token or "")
            if hit is None or hit[2] < time.time():
                return None
            if drop:
                del self.pending[token or ""]
            return hit[0], hit[1]


def _can(sess: PortalSession | None) -> dict[str, bool]:
    role = sess.role if sess else ""
    return {a: permissions.allowed(role, a) for a in ("export", "user_admin", "views_mine",
                                                      "dashboard", "audit", "backup")}


def _actor(sess: PortalSession) -> Actor:
    return Actor(name=sess.name, role=sess.role, display_name=sess.display_name)


def _download(dl: service.Download) -> Response:
    disp = f"attachment; filename=\"download{Path(dl.name).suffix}\"; filename*=UTF-8''{quote(dl.name)}"
    return Response(dl.data, media_type=dl.media_type, headers={"Content-Disposition": disp})


def _one_line(exc: Exception, lang: str) -> str:
    return service._one_line(str(exc), lang)


# ------------------------------------------------------------------------- the app

def create_app(home_path: str | Path, *, state_dir: str | Path | None = None, watch: bool = False,
               secure_cookies: bool = False, watch_options: Any = None) -> Starlette:
    """The ASGI app for one CRM home.

    `state_dir` overrides the private state folder (as CRM_STATE_DIR does); `watch`
    runs the home's watcher in a thread while the app runs; `secure_cookies` marks the
    session cookie Secure (set under TLS).
    """
    if state_dir is not None:
        os.environ["CRM_STATE_DIR"] = str(state_dir)
    home = open_home(Path(home_path))
    P = Portal(home, secure_cookies)
    T = P.T
    api_prefix = "/api/"

    # --- guards -----------------------------------------------------------------------
    def need(request: Request, action: str | None = None) -> PortalSession:
        sess = P.session(request)
        if sess is None:
            raise ApiError(401, "login_required", T.login_required)
        request.state.sess = sess
        if request.method in ("POST", "PUT", "DELETE", "PATCH"):
            given = request.headers.get("x-csrf-token") or getattr(request.state, "form_csrf", "")
            if not given or not secrets.compare_digest(given, sess.csrf):
                raise ApiError(403, "csrf", T.csrf)
        if action is not None and not permissions.allowed(sess.role, action):
            raise ApiError(403, "forbidden", permissions.refusal_message(action, home.lang))
        return sess

    async def form_of(request: Request) -> Any:
        form = await request.form(max_files=1, max_fields=50,
                                  max_part_size=service.MAX_UPLOAD_BYTES + 1024)
        request.state.form_csrf = str(form.get("csrf") or "")
        return form

    def must_enrol(sess: PortalSession) -> bool:
        if not service.master_settings(home).get("require_totp"):
            return False
        return not accounts.get_user(home, sess.name).totp

    # --- health, root -----------------------------------------------------------------
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def root(request: Request) -> Response:
        if P.session(request) is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/workbook", status_code=303)

    # --- login (shared by API and page) --------------------------------------------------
    def do_login(user: str, password: str, code: str | None, client: str
                 ) -> tuple[accounts.Session, str]:
        try:
            s = accounts.login(home, user, password, code or None, session_file=False,
                               client=client)
        except accounts.AccountLocked as exc:
            service.record(home, user, "portal.login_failed", client, reason="locked")
            raise ApiError(423, "locked", str(exc), until=exc.until.isoformat()) from None
        except accounts.CodeRequired as exc:
            raise ApiError(401, "totp_required", str(exc)) from None
        except accounts.SetupRequired as exc:
            raise ApiError(401, "setup_required", str(exc)) from None
        except accounts.LoginFailed as exc:
            service.record(home, "?", "portal.login_failed", client, reason="credentials")
            raise ApiError(401, "bad_credentials", str(exc)) from None
        except Refused as exc:  # disabled (the password was right)
            service.record(home, user, "portal.login_failed", client, reason="refused")
            raise ApiError(403, "disabled", str(exc)) from None
        csrf = P.sessions.open(s.name, s.token, client)
        return s, csrf

    async def api_login(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("user"), str) \
                or not isinstance(body.get("password"), str):
            raise ApiError(400, "bad_request", T.bad_credentials)
        totp = body.get("totp")
        s, csrf = await run_in_threadpool(do_login, body["user"], body["password"],
                                          str(totp) if totp else None, P.client(request))
        resp = JSONResponse({"user": s.name, "role": s.role, "display_name": s.display_name,
                             "csrf": csrf})
        P.set_cookie(resp, s.token, expires_in(s.expires_at))
        return resp

    async def api_logout(request: Request) -> Response:
        sess = need(request)
        P.sessions.close(sess.token)
        service.record(home, sess.name, "logout", P.client(request))
        resp = Response(status_code=204)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    async def api_me(request: Request) -> Response:
        sess = need(request)
        return JSONResponse({"user": sess.name, "role": sess.role,
                             "display_name": sess.display_name})

    # --- login pages -----------------------------------------------------------------
    async def login_page(request: Request) -> Response:
        if request.method == "GET":
            return P.render(request, "login.html", sess=None)
        form = await request.form()
        user, password = str(form.get("user") or ""), str(form.get("password") or "")
        return await _finish_login(request, user, password, None)

    async def _finish_login(request: Request, user: str, password: str, code: str | None
                            ) -> Response:
        try:
            s, _csrf = await run_in_threadpool(do_login, user, password, code,
                                               P.client(request))
        except ApiError as err:
            if err.code == "totp_required":
                resp = P.render(request, "totp.html", sess=None)
                resp.set_cookie(PENDING, P.park(user, password), max_age=300, httponly=True,
                                samesite="strict", secure=P.secure, path="/login")
                return resp
            if err.code == "setup_required":
                resp = P.render(request, "setup.html", sess=None, user=user)
                return resp
            page = "totp.html" if code else "login.html"
            if code:  # a wrong code: stay on the code step
                resp = P.render(request, page, status=err.status, sess=None, error=err.message)
                resp.set_cookie(PENDING, P.park(user, password), max_age=300, httponly=True,
                                samesite="strict", secure=P.secure, path="/login")
                return resp
            return P.render(request, page, status=err.status, sess=None, error=err.message,
                            user=user)
        resp = RedirectResponse("/workbook", status_code=303)
        P.set_cookie(resp, s.token, expires_in(s.expires_at))
        resp.delete_cookie(PENDING, path="/login")
        return resp

    async def login_totp(request: Request) -> Response:
        form = await request.form()
        parked = P.unpark(request.cookies.get(PENDING), drop=True)
        if parked is None:
            return RedirectResponse("/login", status_code=303)
        return await _finish_login(request, parked[0], parked[1], str(form.get("code") or ""))

    async def login_setup(request: Request) -> Response:
        form = await request.form()
        user = str(form.get("user") or "")
        code = str(form.get("setup_code") or "").strip()
        pw, pw2 = str(form.get("password") or ""), str(form.get("password2") or "")
        if pw != pw2:
            return P.render(request, "setup.html", status=400, sess=None, user=user,
                            error=T.mismatch)
        try:
            await run_in_threadpool(accounts.complete_setup, home, user, code, pw)
        except (CrmError, Refused) as exc:
            return P.render(request, "setup.html", status=400, sess=None, user=user,
                            error=_one_line(exc, home.lang))
        service.record(home, user, "portal.setup", P.client(request))
        return await _finish_login(request, user, pw, None)

    async def enrol(request: Request) -> Response:
        sess = P.session(request)
        if sess is None:
            return RedirectResponse("/login", status_code=303)
        request.state.sess = sess
        if accounts.get_user(home, sess.name).totp:  # replacing one needs the admin's reset
            return RedirectResponse("/workbook", status_code=303)
        if request.method == "GET":
            e = await run_in_threadpool(accounts.enrol_totp, home, sess.name)
            import segno

            svg = segno.make(e.uri, error="m").svg_inline(scale=5, dark="#1f2937")
            return P.render(request, "enrol.html", qr=svg, secret=e.secret)
        form = await form_of(request)
        need(request)
        try:
            codes = await run_in_threadpool(accounts.confirm_totp, home, sess.name,
                                            str(form.get("code") or ""))
        except (CrmError, Refused) as exc:
            return P.render(request, "enrol_retry.html", status=400,
                            error=_one_line(exc, home.lang))
        service.record(home, sess.name, "portal.totp_enrol", P.client(request))
        return P.render(request, "recovery.html", codes=codes)

    async def logout_page(request: Request) -> Response:
        await form_of(request)
        sess = need(request)
        P.sessions.close(sess.token)
        service.record(home, sess.name, "logout", P.client(request))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    def page_guard(request: Request, action: str | None = None) -> PortalSession | Response:
        """Session + right for a page; a redirect to login/enrol when due."""
        sess = P.session(request)
        if sess is None:
            return RedirectResponse("/login", status_code=303)
        request.state.sess = sess
        if must_enrol(sess):
            return RedirectResponse("/enrol", status_code=303)
        if action is not None and not permissions.allowed(sess.role, action):
            raise HTTPException(403)
        return sess

    # --- my workbook -------------------------------------------------------------------
    async def api_workbook(request: Request) -> Response:
        if request.method == "GET":
            sess = need(request, "views_mine")
            dl = await run_in_threadpool(service.my_workbook, home, _actor(sess))
            service.record(home, sess.name, "portal.download", P.client(request), file=dl.name)
            return _download(dl)
        sess = need(request, "views_mine")
        result = await _upload(request, sess)
        if result.not_yours:
            raise ApiError(403, "forbidden", result.rejected[0].message)
        return JSONResponse(result.to_dict())

    async def _upload(request: Request, sess: PortalSession) -> service.UploadResult:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > service.MAX_UPLOAD_BYTES + 64 * 1024:
            raise ApiError(400, "bad_file", service.too_large(home.lang))  # before reading it
        try:
            form = await request.form(max_files=1, max_fields=10,
                                      max_part_size=service.MAX_UPLOAD_BYTES + 1024)
        except Exception as exc:  # noqa: BLE001 - a malformed multipart body is bad input
            raise ApiError(400, "bad_file", T.bad_file) from exc
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "bad_file", T.bad_file)
        data = await upload.read(service.MAX_UPLOAD_BYTES + 1)
        name = str(upload.filename or "upload.xlsx")
        try:
            result = await run_in_threadpool(service.upload_workbook, home, _actor(sess), data,
                                             name)
        except CrmError as exc:
            service.record(home, sess.name, "portal.upload", P.client(request), file=name,
                           outcome="bad_file")
            raise ApiError(400, "bad_file", _one_line(exc, home.lang)) from None
        service.record(home, sess.name, "portal.upload", P.client(request), file=name,
                       landed=len(result.landed), rejected=len(result.rejected),
                       conflicts=len(result.conflicts), written=result.written)
        return result

    async def workbook_page(request: Request) -> Response:
        g = page_guard(request, "views_mine")
        if isinstance(g, Response):
            return g
        return P.render(request, "workbook.html")

    async def workbook_download(request: Request) -> Response:
        g = page_guard(request, "views_mine")
        if isinstance(g, Response):
            return g
        dl = await run_in_threadpool(service.my_workbook, home, _actor(g))
        service.record(home, g.name, "portal.download", P.client(request), file=dl.name)
        return _download(dl)

    async def workbook_upload(request: Request) -> Response:
        g = page_guard(request, "views_mine")
        if isinstance(g, Response):
            return g
        form = await form_of(request)
        request.state.form_csrf = str(form.get("csrf") or "")
        need(request, "views_mine")
        try:
            result = await _upload(request, g)
        except ApiError as err:
            if err.code != "bad_file":
                raise
            return P.render(request, "workbook.html", status=400, error=err.message)
        return P.render(request, "result.html", status=403 if result.not_yours else 200,
                        result=result)

    # --- findings ----------------------------------------------------------------------
    async def api_findings(request: Request) -> Response:
        sess = need(request)
        found = await run_in_threadpool(service.visible_findings, home, _actor(sess))
        return JSONResponse({"findings": [f.to_dict() for f in found],
                             "summary": {"count": len(found)}})

    async def findings_page(request: Request) -> Response:
        g = page_guard(request)
        if isinstance(g, Response):
            return g
        found = await run_in_threadpool(service.visible_findings, home, _actor(g))
        return P.render(request, "findings.html", findings=found)

    # --- query / export ----------------------------------------------------------------
    def _filters(request: Request) -> Any:
        try:
            return service.filters_from(request.query_params)
        except CrmError as exc:
            raise ApiError(400, "bad_request", _one_line(exc, home.lang)) from None

    async def api_customers(request: Request) -> Response:
        sess = need(request, "customers_see")
        result = await run_in_threadpool(service.customers, home, _actor(sess), _filters(request))
        return JSONResponse(service.customers_json(result))

    async def api_export(request: Request) -> Response:
        sess = need(request, "export")
        fmt = request.query_params.get("format", "xlsx")
        dl = await run_in_threadpool(service.export_file, home, _actor(sess), _filters(request),
                                     fmt)
        service.record(home, sess.name, "export", P.client(request), format=fmt,
                       query=str(request.url.query))
        return _download(dl)

    async def query_page(request: Request) -> Response:
        g = page_guard(request, "customers_see")
        if isinstance(g, Response):
            return g
        filters = _filters(request)
        result = await run_in_threadpool(service.customers, home, _actor(g), filters)
        from ..cli.report_cmds import TABLE_COLUMNS

        fields = [f for f in result.fields if f.key in TABLE_COLUMNS]
        rows = [[_cell(result.value(r, f.key)) for f in fields]
                for r in result.records[:QUERY_ROWS]]
        return P.render(request, "query.html", result=result, fields=fields, rows=rows,
                        params=request.query_params, qs=str(request.url.query),
                        describe=result.filters.describe(home.lang))

    async def query_export(request: Request) -> Response:
        return await api_export(request)

    # --- dashboard ---------------------------------------------------------------------
    async def api_dashboard(request: Request) -> Response:
        sess = need(request, "dashboard")
        fmt = request.query_params.get("format", "xlsx")
        dl = await run_in_threadpool(service.dashboard_file, home, _actor(sess), fmt)
        service.record(home, sess.name, "portal.dashboard", P.client(request), format=fmt)
        return _download(dl)

    async def dashboard_page(request: Request) -> Response:
        g = page_guard(request, "dashboard")
        if isinstance(g, Response):
            return g
        from .charts import render_dashboard

        dash = await run_in_threadpool(service.dashboard, home, _actor(g))
        return P.render(request, "dashboard.html", dash=dash, body=render_dashboard(dash))

    # --- admin -------------------------------------------------------------------------
    from .admin import admin_routes

    admin = admin_routes(P, need, page_guard, form_of)

    routes = [
        Route("/healthz", healthz),
        Route("/", root),
        Route("/login", login_page, methods=["GET", "POST"]),
        Route("/login/totp", login_totp, methods=["POST"]),
        Route("/login/setup", login_setup, methods=["POST"]),
        Route("/enrol", enrol, methods=["GET", "POST"]),
        Route("/logout", logout_page, methods=["POST"]),
        Route("/workbook", workbook_page),
        Route("/workbook/download", workbook_download),
        Route("/workbook/upload", workbook_upload, methods=["POST"]),
        Route("/dashboard", dashboard_page),
        Route("/query", query_page),
        Route("/query/export", query_export),
        Route("/findings", findings_page),
        Route("/api/login", api_login, methods=["POST"]),
        Route("/api/logout", api_logout, methods=["POST"]),
        Route("/api/me", api_me),
        Route("/api/workbook", api_workbook, methods=["GET", "POST"]),
        Route("/api/findings", api_findings),
        Route("/api/customers", api_customers),
        Route("/api/export", api_export),
        Route("/api/dashboard", api_dashboard),
        *admin,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    # --- errors ------------------------------------------------------------------------
    def error_response(request: Request, status: int, code: str, message: str,
                       **extra: Any) -> Response:
        if request.url.path.startswith(api_prefix):
            return JSONResponse({"error": code, "message": message, **extra}, status_code=status)
        if status == 401:
            return RedirectResponse("/login", status_code=303)
        return P.render(request, "error.html", status=status, message=message,
                        sess=getattr(request.state, "sess", None))

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.code, exc.message, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {403: "forbidden", 404: "not_found", 405: "not_found"}.get(exc.status_code,
                                                                         "bad_request")
        msg = {403: T.forbidden, 404: T.not_found, 405: T.not_found}.get(exc.status_code,
                                                                          T.error_title)
        status = 404 if exc.status_code == 405 else exc.status_code
        return error_response(request, status, code, msg)

    async def on_refused(request: Request, exc: Exception) -> Response:
        return error_response(request, 403, "forbidden", _one_line(exc, home.lang))

    async def on_crm(request: Request, exc: Exception) -> Response:
        return error_response(request, 400, "bad_request", _one_line(exc, home.lang))

    async def on_other(request: Request, exc: Exception) -> Response:
        log.exception("portal error on %s", request.url.path)
        return error_response(request, 500, "internal", T.error_title)

    # --- headers -----------------------------------------------------------------------
    class Headers:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: dict, receive: Callable[[], Awaitable[Any]],
                           send: Callable[[dict], Awaitable[None]]) -> None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            static = scope["path"].startswith("/static/")

            async def send_with(message: dict) -> None:
                if message["type"] == "http.response.start":
                    h = list(message.get("headers", []))
                    h += [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
                          (b"referrer-policy", b"no-referrer"),
                          (b"content-security-policy", CSP.encode())]
                    if not static:
                        h.append((b"cache-control", b"no-store"))
                    if secure_cookies:  # served over TLS: browsers keep to HTTPS
                        h.append((b"strict-transport-security", b"max-age=31536000"))
                    message["headers"] = h
                await send(message)

            await self.app(scope, receive, send_with)

    watcher_box: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=_warm, args=(home,), name="crm-warm", daemon=True).start()
        if watch:
            from ..watch import Watcher, WatchOptions

            w = Watcher(home, watch_options or WatchOptions(), on_event=_log_event)
            th = threading.Thread(target=_run_watcher, args=(w,), name="crm-watch", daemon=True)
            watcher_box["w"], watcher_box["t"] = w, th
            th.start()
        try:
            yield
        finally:
            if "w" in watcher_box:
                watcher_box["w"].stop()
                watcher_box["t"].join(timeout=10)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: on_api_error, HTTPException: on_http, Refused: on_refused, CrmError: on_crm,
        Exception: on_other})
    app.state.portal = P
    app.add_middleware(Headers)  # type: ignore[arg-type]
    return app


def _cell(value: Any) -> str:
    from .. import safe_text

    if isinstance(value, dt.datetime) and value.hour == value.minute == 0:
        value = value.date()
    return safe_text.display(safe_text.redact(value)) if value is not None else ""


def _warm(home: CrmHome) -> None:
    """Read the master for reports and import the view builder before the first person
    asks (the first dashboard and download are then as quick as the later ones)."""
    try:
        import crm_sheets.views  # noqa: F401
        from crm_sheets.export import pdf  # noqa: F401

        service.master_settings(home)
    except Exception:  # noqa: BLE001 - only a head start; the request path reports errors
        log.debug("warm-up failed", exc_info=True)


def _log_event(ev: Any) -> None:
    log.info("%s", getattr(ev, "text", ev))


def _run_watcher(w: Any) -> None:
    try:
        w.run()
    except Exception:  # noqa: BLE001 - the portal keeps serving; the log says why
        log.exception("watcher stopped")
