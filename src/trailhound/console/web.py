"""The web console, served by ``trailhound serve`` at ``/console/`` beside the API.

A browser cannot sign SigV4, so the console signs in with the same access keys (key id and secret,
checked against the store, failures rate-limited), then holds a session kept in the store
(``sessions.py``): a random token in an HttpOnly, SameSite=Strict cookie, and a CSRF token every data
call must echo in ``X-CSRF-Token``.

Its data calls are the API's own operations: ``POST /console/api/<Operation>?region=<region>`` with the
operation's input as the API takes it (top-level model names, camelCase inside) runs the registered
handler (``context.HANDLERS``) with a ``Ctx`` for the session's caller — so the same input checks, the
same FindingCriteria and the same account isolation — and answers the API's wire form. The console adds
only the detector: the caller's own in that region, found by ``ListDetectors``. What the API has no
operation for (ingestion, usage by month, sources, list upload, a capped count) is ``data.py``'s, on
the same ``Ctx``.

The pages are one static HTML shell and small scripts (``static/``) that builds every element with DOM
calls and text nodes, never markup from data: finding fields are written by attackers (titles, user
agents, bucket names). A strict Content-Security-Policy (no inline script) backs that up.
"""

from __future__ import annotations

import hmac
import html
import logging
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from trailhound.api import context
from trailhound.api.protocol import ApiError
from trailhound.api.sigv4 import Caller
from trailhound.console import data
from trailhound.console.sessions import SESSION_S, RateLimit, Session, Sessions

log = logging.getLogger("trailhound.console")

COOKIE = "trailhound_console"
MAX_BODY = 1 << 16
MAX_UPLOAD = 2 << 20  # a list uploaded through the console (larger ones: put the file in the lists folder, or S3)
# what the console may call: reading findings, triage, suppression rules, lists, usage, its detector
OPERATIONS = frozenset({"ListDetectors", "CreateDetector", "GetDetector", "ListFindings", "GetFindings", "GetFindingsStatistics",
                        "ArchiveFindings", "UnarchiveFindings", "UpdateFindingsFeedback",
                        "CreateFilter", "GetFilter", "ListFilters", "UpdateFilter", "DeleteFilter",
                        *(f"{verb}{noun}" for noun in ("IPSet", "ThreatIntelSet") for verb in ("Get", "Update", "Delete")),
                        "ListIPSets", "ListThreatIntelSets", "GetUsageStatistics"})
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("trailhound.console").joinpath("static", name).read_bytes()


class Console:
    def __init__(self, api: Any, health: Callable[[], dict[str, Any]] | None = None) -> None:  # an api.app.Api
        self.api, self.health = api, health or dict
        self.sessions = Sessions(api.store)
        self.limit = RateLimit()
        self.files = {name: (_static(name), kind) for name, kind in
                      (("console.js", "text/javascript"), ("chart.js", "text/javascript"), ("pages.js", "text/javascript"), ("related.js", "text/javascript"),
                                   ("console.css", "text/css"), ("favicon.svg", "image/svg+xml"),
                                                   ("shell.html", "text/html"))}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/console", lambda r: _redirect("/console/")),
            Mount("/console", routes=[
                Route("/signin", self.signin_page, methods=["GET"]),
                Route("/signin", self.signin, methods=["POST"]),
                Route("/static/{name}", self.static, methods=["GET"]),
                Route("/api/session", self.session_info, methods=["GET"]),
                Route("/api/signout", self.signout, methods=["POST"]),
                Route("/api/{operation}", self.call, methods=["POST"]),
                Route("/{page:path}", self.page, methods=["GET"]),
            ]),
        ]

    # --- pages -----------------------------------------------------------------------------------------

    def _session_now(self, token: str | None) -> Session | None:
        session = self.sessions.get(token)
        if session is not None and self.api.keys(session.access_key_id) is None:
            return None  # its access key was deleted: so is the session (within the key cache's minute)
        return session

    async def _session(self, request: Request) -> Session | None:
        return await run_in_threadpool(self._session_now, request.cookies.get(COOKIE))

    async def page(self, request: Request) -> Response:
        page = request.path_params["page"]
        if not re.fullmatch(r"|findings|findings/[0-9a-zA-Z_-]{1,300}|suppress|rules|lists|usage|sources", page):
            return _html(_doc("Not found", "<p>No such page. <a href=\"/console/\">Summary</a></p>"), 404)
        if await self._session(request) is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return _redirect("/console/signin?next=" + quote(target, safe=""))
        body, kind = self.files["shell.html"]
        return Response(body, media_type=kind, headers=HEADERS)

    async def static(self, request: Request) -> Response:
        hit = self.files.get(request.path_params["name"])
        if hit is None or hit[1] == "text/html":
            return Response(b"not found", 404, headers=HEADERS)
        return Response(hit[0], media_type=hit[1], headers={**HEADERS, "Cache-Control": "no-cache"})

    async def signin_page(self, request: Request) -> Response:
        return _html(_signin_form(request.query_params.get("next", ""), ""))

    async def signin(self, request: Request) -> Response:
        if not _same_origin(request):
            return _html(_doc("Refused", "<p>Sign-in from another site is refused.</p>"), 403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return _html(_signin_form("", "The request is too large."), 400)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        key_id, secret = form.get("access_key_id", "").strip(), form.get("secret_access_key", "")
        region, target = form.get("region", "").strip() or "us-east-1", form.get("next", "")
        if not _REGION.fullmatch(region):
            return _html(_signin_form(target, "That is not an AWS region name (like us-east-1)."), 400)
        address = request.client.host if request.client else "?"
        wait = self.limit.retry_after(address, key_id[:128])
        if wait > 0:  # refused before the secret is looked at: guessing costs a wait, whatever the guess
            response = _html(_signin_form(target, f"Too many failed sign-ins: try again in {int(wait) + 1} seconds."), 429)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        record = await run_in_threadpool(self.api.keys, key_id) if _KEY_ID.fullmatch(key_id) else None
        # one answer for an unknown key and a wrong secret; the comparison takes the same time either way
        expected = record.secret if record is not None else secrets.token_urlsafe(30)
        if not hmac.compare_digest(expected.encode(), secret.encode()) or record is None:
            log.warning("console sign-in refused for key %s from %s", key_id[:24], address)
            self.limit.failed(address, key_id[:128])
            return _html(_signin_form(target, "The access key id or the secret access key is wrong."), 401)
        token = await run_in_threadpool(self.sessions.new, key_id, record.account_id, record.admin, region)
        response = _redirect(_safe_next(target) or "/console/?region=" + region)
        response.set_cookie(COOKIE, token, max_age=SESSION_S, path="/console", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    # --- the JSON side ---------------------------------------------------------------------------------

    async def _authorized(self, request: Request, *, changes: bool = True) -> Session | Response:
        """The request's session, or the refusal: no session, another site, or (for calls) no CSRF token."""
        session = await self._session(request)
        if session is None:
            return _json({"message": "Sign in first.", "__type": "SignInRequired"}, 401)
        if not _same_origin(request):
            return _json({"message": "A request from another site is refused.", "__type": "AccessDeniedException"}, 403)
        if changes and not _csrf_ok(request, session):
            return _json({"message": "The CSRF token is missing or wrong.", "__type": "AccessDeniedException"}, 403)
        return session

    async def session_info(self, request: Request) -> Response:
        session = await self._authorized(request, changes=False)
        if isinstance(session, Response):
            return session
        region = request.query_params.get("region") or session.region
        if not _REGION.fullmatch(region):
            return _json({"message": "not a region name", "__type": "BadRequestException"}, 400)
        detectors = await run_in_threadpool(self._run, session, region, "ListDetectors", {})
        return _json({"accountId": session.account_id, "admin": session.admin, "region": region, "signedInRegion": session.region,
                      "detectorId": (detectors.get("detectorIds") or [None])[0], "csrfToken": session.csrf})

    async def signout(self, request: Request) -> Response:
        session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        await run_in_threadpool(self.sessions.drop, request.cookies.get(COOKIE))
        response = _json({})
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def call(self, request: Request) -> Response:
        session = await self._authorized(request)
        if isinstance(session, Response):
            return session
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _json({"message": "Send application/json.", "__type": "BadRequestException"}, 415)
        operation = request.path_params["operation"]
        region = request.query_params.get("region") or session.region
        if operation not in OPERATIONS and operation not in data.OWN:
            return _json({"message": f"The console does not call {operation[:64]}.", "__type": "BadRequestException"}, 400)
        if not _REGION.fullmatch(region):
            return _json({"message": "not a region name", "__type": "BadRequestException"}, 400)
        body = await request.body()
        if len(body) > (4 * MAX_UPLOAD if operation == "ConsoleUploadList" else MAX_BODY):  # JSON escapes may grow a file
            return _json({"message": "request too large", "__type": "BadRequestException"}, 400)
        try:
            params = orjson.loads(body or b"{}")
            if not isinstance(params, dict):
                raise ValueError
        except ValueError:
            return _json({"message": "The body must be a JSON object.", "__type": "BadRequestException"}, 400)
        try:
            return _json(await run_in_threadpool(self._run, session, region, operation, params))
        except ApiError as exc:
            return _json({"message": exc.message, "__type": exc.code}, exc.status)
        except SQLAlchemyError:
            log.exception("store error on console %s", operation)
            return _json({"message": "the store could not carry out the request", "__type": "InternalServerErrorException"}, 500)

    def _run(self, session: Session, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One operation for the session's caller, through the API's own checks and handler."""
        store = self.api.store
        caller = Caller(session.access_key_id, session.account_id, session.admin, region)
        conn = store.connect()
        try:
            ctx = context.Ctx(caller, store, conn, self.api.scopes)
            if operation in data.OWN:
                call = data.Call(ctx, session.admin, self.health, lambda name, given: self._operation(ctx, name, given), MAX_UPLOAD)
                return data.OWN[operation](call, params)
            return self._operation(ctx, operation, params)
        finally:
            if conn is not store.conn:
                conn.close()

    def _operation(self, ctx: context.Ctx, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        api = self.api
        op = api.protocol.model.operation_model(operation)
        if op.input_shape is not None and "DetectorId" in op.input_shape.members:
            mine = context.HANDLERS["ListDetectors"](ctx, {}) or {}
            if not mine.get("DetectorIds"):
                raise ApiError("BadRequestException", f"Account {ctx.account} has no detector in {ctx.region}.", 400)
            params = {**params, "DetectorId": mine["DetectorIds"][0]}  # the caller's own, never one the page names
        api.protocol.check(op, params)
        return api.protocol.output(op, context.HANDLERS[operation](ctx, params) or {})


def _same_origin(request: Request) -> bool:
    """A browser names where a request comes from; one from another site is refused (with SameSite, CSRF tokens)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null" and request.method == "GET":
        return True
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    return parts.netloc == host and parts.scheme in ("http", "https")


def _csrf_ok(request: Request, session: Session) -> bool:
    return hmac.compare_digest(request.headers.get("x-csrf-token", "").encode(), session.csrf.encode())


def _safe_next(target: str) -> str:
    """Where to go after sign-in: a console page of this host only (no open redirect)."""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target and all(c.isprintable() for c in target):
        return target
    return ""


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json", headers=HEADERS)


def _html(text: str, status: int = 200) -> Response:
    return Response(text.encode(), status_code=status, media_type="text/html; charset=utf-8", headers=HEADERS)


def _doc(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
            f"<title>{html.escape(title)} · Trailhound</title><link rel=\"stylesheet\" href=\"/console/static/console.css\">"
            f"<link rel=\"icon\" href=\"/console/static/favicon.svg\"></head>"
            f"<body><main class=\"narrow\">{body}</main></body></html>")


def _signin_form(target: str, problem: str) -> str:
    e = html.escape
    alert = f"<p class=\"error\" role=\"alert\" id=\"signin-error\">{e(problem)}</p>" if problem else ""
    return _doc("Sign in", f"""<h1>Trailhound</h1>
<p>Sign in with an access key from <code>trailhound credentials create</code>.</p>{alert}
<form method="post" action="/console/signin" class="signin">
<label>Access key id <input name="access_key_id" autocomplete="username" required autofocus></label>
<label>Secret access key <input name="secret_access_key" type="password" autocomplete="current-password" required></label>
<label>Region <input name="region" value="us-east-1" required></label>
<input type="hidden" name="next" value="{e(_safe_next(target))}">
<button type="submit">Sign in</button>
</form>""")
