"""What one API request works with: the signed caller, a store connection, and the caller's reach.

Account isolation lives here and nowhere else: every operation asks ``ctx.detector(id)`` (which
refuses a detector of another account or region) and ``ctx.visible_accounts()`` (the caller's own
account, and the accounts it administers) before it reads or changes anything.
"""

from __future__ import annotations

import secrets
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


@dataclass
class Ctx:
    caller: Caller
    store: Store
    conn: Connection
    _visible: frozenset[str] | None = field(default=None, repr=False)

    @property
    def account(self) -> str:
        return self.caller.account_id

    @property
    def region(self) -> str:
        return self.caller.region

    def transaction(self) -> Any:
        return transaction(self.conn)

    def detector(self, detector_id: str) -> RowMapping:
        """The caller's detector with this id, in the region the request was signed for."""
        d = t.detectors.c
        row = self.conn.execute(select(t.detectors).where(d.id == detector_id)).mappings().first()
        if row is None or row["account_id"] != self.account or row["region"] != self.region:
            # the same answer for another account's detector as for none: ids are not an oracle
            raise bad_request("The request is rejected because the input detectorId is not owned by the current account.")
        return row

    def visible_accounts(self) -> frozenset[str]:
        """The caller's account and the member accounts it administers (enabled members only)."""
        if self._visible is None:
            m = t.members.c
            rows = self.conn.execute(select(m.account_id).where(m.administrator_id == self.account, m.relationship_status == "Enabled"))
            self._visible = frozenset({self.account, *rows.scalars()})
        return self._visible

    def administrator(self) -> str | None:
        """The account that administers the caller's, if any."""
        m = t.members.c
        return self.conn.execute(select(m.administrator_id).where(m.account_id == self.account, m.relationship_status == "Enabled")).scalar()

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
