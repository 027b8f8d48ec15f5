"""Console sessions kept in the store, and the sign-in rate limit.

A session survives a ``serve`` restart (and is shared by several ``serve`` processes on one store):
its row is in ``meta`` under ``console-session:<sha256 of the token>`` — the token itself is never
stored, so a copy of the store signs no one in. The value starts with the expiry as ten digits, so
expired sessions are deleted by one comparison. The CSRF token is derived from the session token
(an HMAC), so it needs no storage either.

Sign-in failures are counted per client address and per access key id in a sliding window; past
the limit every attempt (even with the right secret) is refused until the window has moved on, so
guessing a secret costs a wait, and one address cannot lock many keys out quickly.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, delete, func, select

from trailhound.store import tables as t
from trailhound.store.database import Store, transaction
from trailhound.store.rows import upsert

PREFIX = "console-session:"
SESSION_S = 8 * 3600  # a session ends this long after sign-in
MAX_SESSIONS = 10_000
M = t.meta.c


@dataclass(frozen=True)
class Session:
    access_key_id: str
    account_id: str
    admin: bool
    region: str  # the region chosen at sign-in; a page may ask for another
    csrf: str
    expires: float


def _key(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


def _csrf(token: str) -> str:
    return hmac.new(token.encode(), b"trailhound-console-csrf", hashlib.sha256).hexdigest()


class Sessions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _conn(self) -> Connection:
        return self.store.connect()

    def _close(self, conn: Connection) -> None:
        if conn is not self.store.conn:
            conn.close()

    def new(self, key_id: str, account: str, admin: bool, region: str) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires = int(now + SESSION_S)
        value = f"{expires:010d} " + orjson.dumps({"k": key_id, "a": account, "adm": admin, "r": region}).decode()
        conn = self._conn()
        try:
            with transaction(conn) as c:
                live = M.key.like(PREFIX + "%")
                c.execute(delete(t.meta).where(live, M.value < f"{int(now):010d}"))
                count = c.execute(select(func.count()).select_from(t.meta).where(live)).scalar() or 0
                if count >= MAX_SESSIONS:  # still full: the sessions that end soonest go first
                    oldest = select(M.key).where(live).order_by(M.value).limit(count - MAX_SESSIONS + 1).scalar_subquery()
                    c.execute(delete(t.meta).where(M.key.in_(oldest)))
                c.execute(upsert(c, t.meta, ["key"]), [{"key": _key(token), "value": value}])
        finally:
            self._close(conn)
        return token

    def get(self, token: str | None) -> Session | None:
        if not token or len(token) > 200:
            return None
        conn = self._conn()
        try:
            value = conn.execute(select(M.value).where(M.key == _key(token))).scalar()
        finally:
            self._close(conn)
        if value is None:
            return None
        stamp, _, body = value.partition(" ")
        if int(stamp) <= time.time():
            self.drop(token)
            return None
        doc = orjson.loads(body)
        return Session(doc["k"], doc["a"], bool(doc["adm"]), doc["r"], _csrf(token), float(stamp))

    def drop(self, token: str | None) -> None:
        if not token:
            return
        conn = self._conn()
        try:
            with transaction(conn) as c:
                c.execute(delete(t.meta).where(M.key == _key(token)))
        finally:
            self._close(conn)


class RateLimit:
    """At most ``per_address`` failed sign-ins per client address and ``per_key`` per key id in ``window_s``."""

    def __init__(self, per_address: int = 20, per_key: int = 5, window_s: float = 300.0, max_tracked: int = 50_000) -> None:
        self.limits = {"address": per_address, "key": per_key}
        self.window_s, self.max_tracked = window_s, max_tracked
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, what: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.get(what)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, address: str, key_id: str) -> float:
        """Seconds until this address and key may try again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for kind, value in (("address", address), ("key", key_id)):
                q = self._recent((kind, value), now)
                if len(q) >= self.limits[kind]:
                    wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, address: str, key_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.max_tracked:  # bounded: forget the quiet ones first, then everyone
                self._failures = {k: q for k, q in self._failures.items() if self._recent(k, now)}
                if len(self._failures) >= self.max_tracked:
                    self._failures.clear()
            for kind, value in (("address", address), ("key", key_id)):
                q = self._failures.setdefault((kind, value), deque(maxlen=self.limits[kind]))
                q.append(now)
