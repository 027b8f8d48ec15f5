"""``trailhound serve``'s HTTP side: GuardDuty's API, as an ASGI app (Starlette under uvicorn).

Each request is verified (SigV4) before anything else, then routed and checked against botocore's
model, then carried out by the registered handler on a connection of its own, in a worker thread
(the store is synchronous). Errors leave as GuardDuty's do, so botocore raises the same exceptions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trailhound.api import context, ops  # noqa: F401  (ops registers the handlers)
from trailhound.api.keys import SealError, unseal
from trailhound.api.protocol import ApiError, Protocol
from trailhound.api.sigv4 import AuthError, KeyRecord, verify
from trailhound.store import tables as t
from trailhound.store.database import Store

log = logging.getLogger("trailhound.api")
MAX_BODY = 1 << 20  # the largest GuardDuty request (50 criteria of 50 values, 50 ids) is far below this
KEY_CACHE_S = 60.0  # a deleted key stops working within this


class Keys:
    """Access keys from the store, unsealed once and kept a minute."""

    def __init__(self, store: Store, master_key: bytes) -> None:
        self.store, self.master_key = store, master_key
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, access_key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(access_key_id)
        if hit is not None and now - hit[0] < KEY_CACHE_S:
            return hit[1]
        c = t.credentials.c
        conn = self.store.connect()
        try:
            row = conn.execute(select(c.account_id, c.admin, c.secret).where(c.access_key_id == access_key_id)).first()
        finally:
            if conn is not self.store.conn:
                conn.close()
        record = None
        if row is not None:
            try:
                record = KeyRecord(row.account_id, bool(row.admin), unseal(bytes(row.secret), self.master_key, access_key_id))
            except SealError:
                log.error("access key %s: its secret does not open with this master key", access_key_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[access_key_id] = (now, record)
        return record


class Api:
    """One request in, one response out: verify, route, check, carry out. (The ASGI app only moves bytes.)"""

    def __init__(self, store: Store, master_key: bytes, scopes: context.Scopes | None = None) -> None:
        self.store = store
        self.protocol = Protocol()
        self.keys = Keys(store, master_key)
        self.scopes = scopes or context.Scopes()

    def __call__(self, method: str, raw_path: str, raw_query: str, headers: Any, body: bytes) -> Response:
        store = self.store
        try:
            caller = verify(method, raw_path, raw_query, headers, body, self.keys)
            op, path_params = self.protocol.route(method, raw_path)
            handler = context.HANDLERS.get(op.name)
            if handler is None:
                raise ApiError("BadRequestException", f"{op.name} is not supported by Trailhound", 400)
            params = self.protocol.parse(op, path_params, raw_query, body)
            conn = store.connect()
            try:
                result = handler(context.Ctx(caller, store, conn, self.scopes), params) or {}
            finally:
                if conn is not store.conn:
                    conn.close()
            status = op.http.get("responseCode", 200)
            if status == 204:
                return Response(status_code=204)
            return Response(orjson.dumps(self.protocol.output(op, result)), status_code=status, media_type="application/json")
        except AuthError as exc:
            return _error(exc.code, exc.message, exc.status)
        except ApiError as exc:
            return _error(exc.code, exc.message, exc.status)
        except SQLAlchemyError:
            log.exception("store error on %s %s", method, raw_path[:200])
            return _error("InternalServerErrorException", "the store could not carry out the request", 500)
        except Exception:
            log.exception("error on %s %s", method, raw_path[:200])
            return _error("InternalServerErrorException", "internal error", 500)


def create_app(store: Store, master_key: bytes, health: Callable[[], dict[str, Any]] | None = None, *,
               scopes: context.Scopes | None = None, routes: Sequence[Route] = ()) -> Callable[..., Any]:
    """The ASGI app: GuardDuty's API, /healthz, the console, and ``routes`` (unsigned, e.g. /metrics)."""
    api = Api(store, master_key, scopes)

    async def endpoint(request: Request) -> Response:
        return await _answer(api, request.scope, request.receive)

    async def healthz(request: Request) -> Response:
        """Unsigned, for load balancers and supervisors: the follower's and exporter's counters (no finding data)."""
        parts = {name: asdict(part) if is_dataclass(part) else part for name, part in (health() if health else {}).items()}
        return Response(orjson.dumps({"status": "ok", **parts}), media_type="application/json")

    from trailhound.console.web import Console

    # the console's routes first: they own /console and /console/... (no GuardDuty path begins so), the API the rest
    site = Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *routes, *Console(api, health).routes(),
                             Route("/{path:path}", endpoint, methods=METHODS)])
    own = frozenset(r.path for r in routes)

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        # API requests go straight to the Api, past Starlette's routing and middleware (a tenth of the server's CPU per request)
        if scope["type"] == "http" and scope["method"] in METHODS and not _site_path(scope["path"]) and scope["path"] not in own:
            response = await _answer(api, scope, receive)
            await response(scope, receive, send)
            return
        await site(scope, receive, send)

    return app


METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def _site_path(path: str) -> bool:
    return path == "/healthz" or path == "/console" or path.startswith("/console/")


async def _answer(api: Api, scope: dict[str, Any], receive: Callable[..., Any]) -> Response:
    headers = Headers(scope=scope)
    length = headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return _error("BadRequestException", f"request body over {MAX_BODY} bytes", 400)
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return Response(status_code=400)  # nobody is left to read it
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return _error("BadRequestException", f"request body over {MAX_BODY} bytes", 400)
        if not message.get("more_body", False):
            break
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    raw_query = scope.get("query_string", b"").decode("latin-1")
    return await run_in_threadpool(api, scope["method"], raw_path, raw_query, headers, body)


def _error(code: str, message: str, status: int) -> Response:
    return Response(orjson.dumps({"message": message, "__type": code}), status_code=status, media_type="application/json",
                    headers={"x-amzn-ErrorType": code})
