"""Admin routes (pages under /admin, JSON under /api/admin): accounts, backups, audit log,
the home's findings. Each calls the accounts service, `backup_admin` or `audit.query`;
every action is audited with the client address. Documented in docs/portal.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import accounts, audit, backup_admin
from ..errors import CrmError, Refused
from . import service

OPS = ("role", "disable", "enable", "unlock", "reset-password", "reset-totp")


def account_op(home: Any, op: str, name: str, by: str, role: str | None = None) -> str | None:
    """Run one account action; a password reset returns the new setup code."""
    if op == "role":
        accounts.set_role(home, name, role or "", by=by)
    elif op == "disable":
        accounts.disable_user(home, name, by=by)
    elif op == "enable":
        accounts.enable_user(home, name, by=by)
    elif op == "unlock":
        accounts.unlock_user(home, name, by=by)
    elif op == "reset-password":
        return accounts.reset_password(home, name, by=by)
    elif op == "reset-totp":
        accounts.reset_totp(home, name, by=by)
    else:
        raise CrmError("未知的操作" if home.lang == "zh" else "unknown action")
    return None


def audit_rows(home: Any, params: Any) -> list[dict[str, str]]:
    """The audit log filtered by person, customer and date, newest first, as shown."""
    events = audit.query(home.state, user=params.get("person") or None,
                         customer=params.get("customer") or None,
                         since=params.get("since") or None, until=params.get("until") or None,
                         limit=500)
    out = []
    for e in reversed(events):
        d = audit.describe(e, home.lang)
        out.append({"at": d.get("time", ""), "who": d.get("who", ""),
                    "client": str(e.get("client", "")), "action": d.get("action", ""),
                    "where": " ".join(x for x in (d.get("where", ""), d.get("customer_id", ""))
                                      if x),
                    "detail": d.get("change", "")})
    return out


def admin_routes(P: Any, need: Callable[..., Any], page_guard: Callable[..., Any],
                 form_of: Callable[..., Any]) -> list[Route]:
    """The admin routes, bound to the portal `P` and its guards."""
    home, T = P.home, P.T

    def one(exc: Exception) -> str:
        return service._one_line(str(exc), home.lang)

    # --- pages -------------------------------------------------------------------------
    async def admin_page(request: Request, **ctx: Any) -> Response:
        g = page_guard(request, "user_admin")
        if isinstance(g, Response):
            return g
        users = await run_in_threadpool(accounts.list_users, home)
        return P.render(request, "admin.html", users=users, roles=_roles(), **ctx)

    async def admin_accounts_post(request: Request) -> Response:
        g = page_guard(request, "user_admin")
        if isinstance(g, Response):
            return g
        form = await form_of(request)
        need(request, "user_admin")
        name = str(form.get("name") or "").strip()
        try:
            code = await run_in_threadpool(
                lambda: accounts.add_user(home, name, str(form.get("role") or ""), by=g.name,
                                          display_name=str(form.get("display_name") or "")
                                          or None))
        except (CrmError, Refused) as exc:
            return await admin_page(request, error=one(exc))
        service.record(home, g.name, "portal.admin.user_add", P.client(request), user=name)
        return await admin_page(request, setup_user=name, setup_code=code)

    async def admin_account_op(request: Request) -> Response:
        g = page_guard(request, "user_admin")
        if isinstance(g, Response):
            return g
        form = await form_of(request)
        need(request, "user_admin")
        name, op = request.path_params["name"], request.path_params["op"]
        if op not in OPS:
            return Response(status_code=404)
        try:
            code = await run_in_threadpool(account_op, home, op, name, g.name,
                                           str(form.get("role") or ""))
        except (CrmError, Refused) as exc:
            return await admin_page(request, error=one(exc))
        service.record(home, g.name, f"portal.admin.{op}", P.client(request), user=name)
        if g.name.casefold() == name.casefold() and op in ("role", "disable", "reset-password"):
            return RedirectResponse("/login", status_code=303)  # own session ended
        return await admin_page(request, done=True, setup_user=name if code else None,
                                setup_code=code)

    async def backups_page(request: Request, **ctx: Any) -> Response:
        g = page_guard(request, "backup")
        if isinstance(g, Response):
            return g
        items = await run_in_threadpool(backup_admin.list_backups, home)
        return P.render(request, "backups.html", backups=list(reversed(items)), **ctx)

    async def backups_post(request: Request) -> Response:
        g = page_guard(request, "backup")
        if isinstance(g, Response):
            return g
        form = await form_of(request)
        need(request, "backup")
        op = request.path_params["op"]
        try:
            if op == "run":
                paths = await run_in_threadpool(backup_admin.create, home, "portal")
                service.record(home, g.name, "portal.admin.backup", P.client(request),
                               files=[p.name for p in paths])
                return await backups_page(request, message=T.done_ok)
            if op == "verify":
                res = await run_in_threadpool(backup_admin.verify_all, home)
                bad = [(i.id, p) for i, p in res if p]
                service.record(home, g.name, "portal.admin.backup_verify", P.client(request),
                               damaged=len(bad))
                return await backups_page(request, message=T.verify_ok if not bad else "",
                                          problems=bad)
            if op == "restore":
                bid = str(form.get("backup_id") or "")
                await run_in_threadpool(lambda: backup_admin.restore(home, bid, who=g.name))
                service.record(home, g.name, "portal.admin.restore", P.client(request),
                               backup=bid)
                return await backups_page(request, message=T.done_ok)
        except (CrmError, Refused) as exc:
            return await backups_page(request, error=one(exc))
        return Response(status_code=404)

    async def audit_page(request: Request) -> Response:
        g = page_guard(request, "audit")
        if isinstance(g, Response):
            return g
        try:
            rows = await run_in_threadpool(audit_rows, home, request.query_params)
        except (CrmError, ValueError) as exc:
            return P.render(request, "audit.html", rows=[], params=request.query_params,
                            error=one(exc))
        return P.render(request, "audit.html", rows=rows, params=request.query_params)

    # --- JSON --------------------------------------------------------------------------
    async def api_accounts(request: Request) -> Response:
        sess = need(request, "user_admin")
        if request.method == "GET":
            users = await run_in_threadpool(accounts.list_users, home)
            return JSONResponse({"accounts": [
                {"user": u.name, "display_name": u.display_name, "role": u.role, "totp": u.totp,
                 "disabled": u.disabled, "locked": u.locked, "pending_setup": u.pending_setup}
                for u in users]})
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise CrmError("请求内容须为 JSON 对象" if home.lang == "zh" else
                           "the request body must be a JSON object")
        name = str(body.get("user") or "")
        code = await run_in_threadpool(
            lambda: accounts.add_user(home, name, str(body.get("role") or ""), by=sess.name,
                                      display_name=body.get("display_name") or None))
        service.record(home, sess.name, "portal.admin.user_add", P.client(request), user=name)
        return JSONResponse({"user": name, "setup_code": code}, status_code=201)

    async def api_account_op(request: Request) -> Response:
        sess = need(request, "user_admin")
        name, op = request.path_params["name"], request.path_params["op"]
        if op not in OPS:
            return JSONResponse({"error": "not_found", "message": T.not_found}, status_code=404)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        role = body.get("role") if isinstance(body, dict) else None
        code = await run_in_threadpool(account_op, home, op, name, sess.name, str(role or ""))
        service.record(home, sess.name, f"portal.admin.{op}", P.client(request), user=name)
        return JSONResponse({"user": name, "done": op} | ({"setup_code": code} if code else {}))

    async def api_backups(request: Request) -> Response:
        sess = need(request, "backup")
        if request.method == "GET":
            items = await run_in_threadpool(backup_admin.list_backups, home)
            return JSONResponse({"backups": [i.to_dict() for i in items]})
        paths = await run_in_threadpool(backup_admin.create, home, "portal")
        service.record(home, sess.name, "portal.admin.backup", P.client(request),
                       files=[p.name for p in paths])
        return JSONResponse({"created": [p.name for p in paths]}, status_code=201)

    async def api_backup_verify(request: Request) -> Response:
        need(request, "backup")
        res = await run_in_threadpool(backup_admin.verify_all, home)
        return JSONResponse({"backups": [{"id": i.id, "problems": p} for i, p in res]})

    async def api_backup_restore(request: Request) -> Response:
        sess = need(request, "backup")
        bid = request.path_params["backup_id"]
        r = await run_in_threadpool(lambda: backup_admin.restore(home, bid, who=sess.name))
        service.record(home, sess.name, "portal.admin.restore", P.client(request), backup=bid)
        return JSONResponse({"restored": [str(p.name) for p in getattr(r, "restored", [])]})

    async def api_audit(request: Request) -> Response:
        need(request, "audit")
        try:
            events = await run_in_threadpool(
                lambda: audit.query(home.state, user=request.query_params.get("person") or None,
                                    customer=request.query_params.get("customer") or None,
                                    since=request.query_params.get("since") or None,
                                    until=request.query_params.get("until") or None,
                                    limit=1000))
        except ValueError as exc:
            raise CrmError(str(exc)) from None
        return JSONResponse({"events": events})

    return [
        Route("/admin", admin_page),
        Route("/admin/accounts", admin_accounts_post, methods=["POST"]),
        Route("/admin/accounts/{name}/{op}", admin_account_op, methods=["POST"]),
        Route("/admin/backups", backups_page),
        Route("/admin/backups/{op}", backups_post, methods=["POST"]),
        Route("/admin/audit", audit_page),
        Route("/api/admin/accounts", api_accounts, methods=["GET", "POST"]),
        Route("/api/admin/accounts/{name}/{op}", api_account_op, methods=["POST"]),
        Route("/api/admin/backups", api_backups, methods=["GET", "POST"]),
        Route("/api/admin/backups/verify", api_backup_verify, methods=["POST"]),
        Route("/api/admin/backups/{backup_id}/restore", api_backup_restore, methods=["POST"]),
        Route("/api/admin/audit", api_audit),
    ]


def _roles() -> list[str]:
    from ..permissions import ROLES

    return list(ROLES)
