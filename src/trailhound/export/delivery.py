"""The exporter: new and updated findings go out within the configured delay, at least once.

Each destination keeps a cursor in the store (``meta``: ``updated_ms`` and id of the last finding it
was given). A pass reads the findings past it in that order — no further than the writer has
committed (``horizon``: a finding updated while a scan is between two commit points may not be in
the store yet) — and once the oldest of them has waited ``delay_s`` (GuardDuty sends within 5
minutes, with the occurrences of those minutes), sends each in its current state and moves the
cursor past it. A finding updated several times within the delay goes out once, as it last stands.

Archived findings are not exported: a suppression rule archives a finding as it is written, and
GuardDuty sends suppressed findings nowhere. A new destination starts from when it is first
configured (the findings before it are not replayed to it).

A webhook that fails is tried again with exponential backoff; after ``attempts`` failures the event
goes to a dead-letter file (JSON lines) and the cursor moves on. A crash between a delivery and its
cursor's commit sends that event again: receivers de-duplicate by the event's ``id``.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson
from sqlalchemy import Connection, and_, or_, select

from trailhound.export.envelope import SIGNATURE_HEADER, body, envelope, event_id, signature
from trailhound.export.ocsf import detection_finding
from trailhound.sources.failpoints import failpoint
from trailhound.store import tables as t
from trailhound.store.database import Store, transaction
from trailhound.store.rows import upsert
from trailhound.text import printable

EXTERNAL_SETTLE_S = 60.0  # without a follower in the process: findings a minute old are committed (another process's scan)


class DeliveryError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Delivery:
    """One finding as it goes out."""

    key: str  # the idempotency key: a UUID of the finding's id and updatedAt (EventBridge's ``id``, OCSF's ``metadata.uid``)
    finding_id: str
    event: dict[str, Any]  # the body: EventBridge's event, or an OCSF Detection Finding
    data: bytes  # the body's JSON
    record: bytes  # a line of a GuardDuty-style export file: the finding itself (or the OCSF body)
    account: str = ""
    region: str = ""
    finding_updated: str = ""  # its updatedAt


class Destination(Protocol):
    name: str  # names its cursor in the store
    batch: int  # findings per send: 1 for a webhook or a file, a page for an S3 object

    def send(self, items: list[Delivery]) -> None: ...


class FileDestination:
    """JSON lines, one event each, appended to a file or written to stdout (``-``); flushed per event."""

    def __init__(self, target: str) -> None:
        self.stdout = target == "-"
        self.path = None if self.stdout else Path(target).resolve()
        self.name = "stdout" if self.stdout else f"file:{self.path}"
        self.batch = 1
        self._fh: BinaryIO | None = None

    def send(self, items: list[Delivery]) -> None:
        try:
            if self._fh is None:
                self._fh = sys.stdout.buffer if self.stdout else open(self.path, "ab")  # type: ignore[arg-type]
            self._fh.write(b"".join(d.data + b"\n" for d in items))
            self._fh.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"{self.name}: {getattr(exc, 'strerror', None) or exc}") from None


class WebhookDestination:
    """An HTTP POST of each event's JSON, signed with HMAC-SHA256 when a secret is given; any 2xx is delivered."""

    def __init__(self, url: str, secret: str | None = None, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--webhook {url!r}: give an http:// or https:// URL")
        self.url, self.secret, self.timeout_s = url, secret, timeout_s
        self.name = "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:16]
        self.batch = 1

    def send(self, items: list[Delivery]) -> None:
        for d in items:
            self._post(d.data, d.key)

    def _post(self, data: bytes, key: str) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "trailhound-export/1", "X-Trailhound-Event-Id": key}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, data)
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(65536)
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:  # refused, timed out, DNS...
            raise DeliveryError(f"webhook {self.url}: {getattr(exc, 'reason', None) or exc}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook {self.url}: HTTP {status}")


@dataclass
class ExportSettings:
    delay_s: float = 300.0  # a new or updated finding goes out within this (GuardDuty: 5 minutes)
    attempts: int = 5  # tries of a webhook delivery before the event is dead-lettered
    backoff_s: float = 2.0  # wait before the first retry; doubled after each, to at most backoff_max_s
    backoff_max_s: float = 300.0
    dead_letter: Path | None = None  # JSON lines of events that could not be delivered
    tick_s: float = 1.0  # how often the exporter looks for findings to send
    page: int = 500  # findings read at a time
    settle_s: float = 2.0  # findings at least this old are committed by the API's own short transactions (sample findings)
    format: str = "eventbridge"  # the body: EventBridge's event for a GuardDuty finding, or "ocsf" (a Detection Finding)


@dataclass
class ExportStatus:
    sent: int = 0
    dead_lettered: int = 0
    failures: int = 0
    last_error: str | None = None
    cursors: dict[str, tuple[int, str]] = field(default_factory=dict)


class Exporter:
    def __init__(self, store: Store, destinations: list[Destination], settings: ExportSettings | None = None,
                 horizon: Callable[[], float] | None = None, notify: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.destinations = destinations
        self.settings = settings or ExportSettings()
        self.horizon = horizon or (lambda: time.time() - EXTERNAL_SETTLE_S)
        self.notify = notify or (lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()))
        self.status = ExportStatus()
        self.conn: Connection = store.connect()
        self._stop = threading.Event()
        for dest in destinations:  # a new destination starts now: it is not sent the store's past
            self.status.cursors[dest.name] = self._cursor(dest, create=True)

    # -- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                self.export_once()
            except Exception as exc:  # the store away for a moment: try again next tick
                self.status.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self.notify(f"serve: export pass failed: {printable(self.status.last_error)}")
                stop.wait(max(self.settings.tick_s, 5.0))
            stop.wait(self.settings.tick_s)

    def export_once(self) -> int:
        """Send what is due to every destination; returns how many events went out (or to the dead-letter file)."""
        return sum(self._drain(dest) for dest in self.destinations)

    def _drain(self, dest: Destination) -> int:
        horizon_ms = int(min(self.horizon(), time.time() - self.settings.settle_s) * 1000)
        now_ms = int(time.time() * 1000)
        cursor = self.status.cursors[dest.name]
        first = self._page(cursor, horizon_ms, 1)
        if not first or first[0][0] > now_ms - int(self.settings.delay_s * 1000):
            return 0  # nothing, or not waited long enough: the next tick looks again
        sent = 0
        while not self._stop.is_set():
            rows = self._page(cursor, horizon_ms, self.settings.page)
            if not rows:
                break
            detectors = self._detectors()
            step = max(1, dest.batch)
            for i in range(0, len(rows), step):
                if self._stop.is_set():
                    return sent
                group = rows[i : i + step]
                if not self._deliver(dest, [self._render(doc, archived, feedback, detectors) for _, _, doc, archived, feedback in group]):
                    return sent  # stopping mid-retry: the cursor stays before it, it goes out after a restart
                failpoint("export:before-cursor")
                cursor = (group[-1][0], group[-1][1])
                self._save_cursor(dest, cursor)
                sent += len(group)
        return sent

    def _render(self, doc: bytes, archived: int, feedback: str | None, detectors: dict[tuple[str, str], str]) -> Delivery:
        from trailhound.api.ops.findings import wire

        finding = wire(doc, archived, feedback, detectors)
        updated = str(finding.get("updatedAt", ""))
        where = {"account": str(finding.get("accountId", "")), "region": str(finding.get("region", "")), "finding_updated": updated}
        key = event_id(str(finding["id"]), updated)
        if self.settings.format == "ocsf":
            event = detection_finding(finding)
            data = body(event)
            return Delivery(key, str(finding["id"]), event, data, data, **where)
        event = envelope(finding)
        return Delivery(key, str(finding["id"]), event, body(event), orjson.dumps(finding), **where)

    def _deliver(self, dest: Destination, items: list[Delivery]) -> bool:
        wait = self.settings.backoff_s
        error = ""
        for attempt in range(1, max(1, self.settings.attempts) + 1):
            try:
                dest.send(items)
                self.status.sent += len(items)
                return True
            except DeliveryError as exc:
                error = str(exc)
                self.status.failures += 1
                self.status.last_error = error
                if attempt < self.settings.attempts:
                    if self._stop.wait(wait):
                        return False
                    wait = min(wait * 2, self.settings.backoff_max_s)
        self._dead_letter(dest, items, error)
        return True

    def _dead_letter(self, dest: Destination, items: list[Delivery], error: str) -> None:
        self.status.dead_lettered += len(items)
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        lines = b"".join(orjson.dumps({"destination": dest.name, "error": error, "attempts": self.settings.attempts, "at": at,
                                       "event": d.event}) + b"\n" for d in items)
        where = self.settings.dead_letter
        if where is not None:
            with open(where, "ab") as fh:
                fh.write(lines)
        what = f"finding {items[0].finding_id}" if len(items) == 1 else f"{len(items)} findings"
        self.notify(f"serve: export of {what} gave up after {self.settings.attempts} attempts "
                    f"({printable(error)}); written to {where or 'nowhere (no --dead-letter)'}")

    # -- the store -----------------------------------------------------------------------
    def _page(self, cursor: tuple[int, str], horizon_ms: int, limit: int) -> list[tuple[int, str, bytes, int, str | None]]:
        f = t.findings.c
        after = or_(f.updated_ms > cursor[0], and_(f.updated_ms == cursor[0], f.id > cursor[1]))
        q = (select(f.updated_ms, f.id, f.doc, f.archived, f.feedback)
             .where(after, f.updated_ms < horizon_ms, f.archived == 0)
             .order_by(f.updated_ms, f.id).limit(limit))
        return [tuple(r) for r in self.conn.execute(q)]  # type: ignore[misc]

    def _detectors(self) -> dict[tuple[str, str], str]:
        d = t.detectors.c
        return {(a, r): i for a, r, i in self.conn.execute(select(d.account_id, d.region, d.id))}

    def _key(self, dest: Destination) -> str:
        return f"export_cursor:{dest.name}"

    def _cursor(self, dest: Destination, create: bool = False) -> tuple[int, str]:
        value = self.conn.execute(select(t.meta.c.value).where(t.meta.c.key == self._key(dest))).scalar()
        if value is None:
            cursor = (int(time.time() * 1000), "")
            if create:
                self._save_cursor(dest, cursor)
            return cursor
        ms, _, fid = value.partition(" ")
        return int(ms), fid

    def _save_cursor(self, dest: Destination, cursor: tuple[int, str]) -> None:
        with transaction(self.conn) as c:
            c.execute(upsert(c, t.meta, ["key"]), [{"key": self._key(dest), "value": f"{cursor[0]} {cursor[1]}"}])
        self.status.cursors[dest.name] = cursor

    def close(self) -> None:
        if self.conn is not self.store.conn:
            self.conn.close()


__all__ = ["Delivery", "DeliveryError", "Destination", "ExportSettings", "ExportStatus", "Exporter", "FileDestination", "WebhookDestination"]
