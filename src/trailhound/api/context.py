"""What one API request works with: the signed caller, a store connection, and the caller's reach.

Account isolation lives here and nowhere else: every operation asks ``ctx.detector(id)`` (which
refuses a detector of another account or region) and ``ctx.visible_accounts()`` (the caller's own
account, and the accounts it administers) before it reads or changes anything.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, RowMapping, select

from trailhound.api.protocol import ApiError, bad_request
from trailhound.api.sigv4 import Caller
from trailhound.store import tables as t
from trailhound.store.database import Store, transaction

Handler = Callable[["Ctx", dict[str, Any]], dict[str, Any] | None]
HANDLERS: dict[str, Handler] = {}


def handles(operation: str) -> Callable[[Handler], Handler]:
    """Register the function that carries out one GuardDuty operation (by its model name)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[operation] = fn
        return fn

    return register


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_id() -> str:
    return secrets.token_hex(16)  # GuardDuty's ids are 32 hex characters


class Scopes:
    """Who may see what, read once and kept a moment: every request asks for its detector and its
    accounts, which change only through this API (detectors, members). Writes here clear it at once,
    in every worker process of one ``serve`` (``generation``: a counter in memory they share); another
    ``serve`` on the same store sees a change within ``TTL_S``."""

    TTL_S = 2.0

    def __init__(self, generation: Any = None) -> None:
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._generation = generation  # a multiprocessing.RawValue made before the workers fork, or None (one process)
        self._seen = generation.value if generation is not None else 0

    def get(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        if self._generation is not None and self._generation.value != self._seen:
            with self._lock:  # another worker changed a detector or a membership
                self._seen = self._generation.value
                self._cache.clear()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.TTL_S:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def invalidate(self) -> None:
        with self._lock:
            if self._generation is not None:
                self._generation.value += 1  # racing increments lose one: either still changes the value the others compare
                self._seen = self._generation.value
            self._cache.clear()


@dataclass
class Ctx:
    caller: Caller
    store: Store
    conn: Connection
    scopes: Scopes = field(default_factory=Scopes)

    @property
    def account(self) -> str:
        return self.caller.account_id

    @property
    def region(self) -> str:
        return self.caller.region

    def transaction(self) -> Any:
        return transaction(self.conn)

    def changed_scopes(self) -> None:
        """A detector or a membership changed: what requests may see is read again."""
        self.scopes.invalidate()

    def detector(self, detector_id: str) -> RowMapping:
        """The caller's detector with this id, in the region the request was signed for."""
        d = t.detectors.c
        row = self.scopes.get(("detector", detector_id),
                              lambda: self.conn.execute(select(t.detectors).where(d.id == detector_id)).mappings().first())
        if row is None or row["account_id"] != self.account or row["region"] != self.region:
            # the same answer for another account's detector as for none: ids are not an oracle
            raise bad_request("The request is rejected because the input detectorId is not owned by the current account.")
        return row

    def visible_accounts(self) -> frozenset[str]:
        """The caller's account and the member accounts it administers (enabled members only)."""
        m = t.members.c

        def load() -> frozenset[str]:
            rows = self.conn.execute(select(m.account_id).where(m.administrator_id == self.account, m.relationship_status == "Enabled"))
            return frozenset({self.account, *rows.scalars()})

        return self.scopes.get(("visible", self.account), load)

    def administrator(self) -> str | None:
        """The account that administers the caller's, if any."""
        m = t.members.c
        return self.scopes.get(("administrator", self.account), lambda: self.conn.execute(
            select(m.administrator_id).where(m.account_id == self.account, m.relationship_status == "Enabled")).scalar())

    def require_not_member(self, what: str) -> None:
        if self.administrator() is not None:
            raise ApiError("BadRequestException", f"Only the administrator account can {what}.", 400)


def page(token: str | None, salt: str) -> int:
    """The offset a NextToken names; a token from another query is refused."""
    if not token:
        return 0
    try:
        body = orjson.loads(bytes.fromhex(token))
        if body["q"] == salt and isinstance(body["o"], int) and body["o"] >= 0:
            return body["o"]
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        pass
    raise bad_request("The nextToken is not valid for this request.")


def next_token(offset: int, salt: str) -> str:
    return orjson.dumps({"o": offset, "q": salt}).hex()


def tags_of(value: bytes | None) -> dict[str, str]:
    return orjson.loads(value) if value else {}
