"""The embedded store: findings, detector state, ingestion checkpoints, quarantine, usage.

Everything a scan changes between two commit points is written in ONE transaction
(``commit``), so a crash leaves the store at the last commit point: the checkpoints then say
exactly which events the stored findings and state already include, and a restart resumes
there — no event is lost or counted twice.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from trailhound.formats.base import Problem

_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    severity REAL NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resource_type TEXT,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_type_updated ON findings (type, updated_at);
CREATE INDEX IF NOT EXISTS findings_updated ON findings (updated_at);
CREATE TABLE IF NOT EXISTS detector_state (
    detector TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (detector, key)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    path TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL,
    events INTEGER NOT NULL,
    consumed INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_fingerprint ON checkpoints (fingerprint);
CREATE TABLE IF NOT EXISTS quarantine (
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    line INTEGER, record INTEGER, field TEXT,
    message TEXT NOT NULL,
    seen_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_once
    ON quarantine (path, fingerprint, ifnull(line, -1), ifnull(record, -1), message);
CREATE TABLE IF NOT EXISTS usage (
    month TEXT NOT NULL, account_id TEXT NOT NULL, source TEXT NOT NULL,
    events INTEGER NOT NULL, bytes INTEGER NOT NULL,
    PRIMARY KEY (month, account_id, source)
);
"""

_pack = msgspec.msgpack.encode
_unpack = msgspec.msgpack.decode


@dataclass(slots=True)
class Checkpoint:
    path: str
    fingerprint: str
    kind: str
    events: int
    consumed: int
    complete: bool


@dataclass
class Changes:
    """What one commit point writes."""

    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[tuple[str, str], Any] = field(default_factory=dict)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    quarantine: list[tuple[str, Problem]] = field(default_factory=list)  # (fingerprint, problem)
    usage: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)  # (month, acct, source) -> [events, bytes]
    meta: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.findings or self.state or self.checkpoints or self.quarantine or self.usage or self.meta)


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.detector_id = self.meta("detector_id") or self._init_detector_id()

    def _init_detector_id(self) -> str:
        value = secrets.token_hex(16)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('detector_id', ?)", (value,))
        return self.meta("detector_id") or value

    def close(self) -> None:
        self.db.close()

    # -- reads ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def finding(self, fid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM findings WHERE id = ?", (fid,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def findings(self, *, include_archived: bool = True) -> Iterator[dict[str, Any]]:
        sql = "SELECT doc FROM findings" + ("" if include_archived else " WHERE archived = 0") + " ORDER BY severity DESC, updated_at DESC"
        for (doc,) in self.db.execute(sql):
            yield orjson.loads(doc)

    def count_findings(self) -> int:
        return self.db.execute("SELECT count(*) FROM findings").fetchone()[0]

    def state(self, detector: str, keys: Iterable[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in keys:
            row = self.db.execute("SELECT value FROM detector_state WHERE detector = ? AND key = ?", (detector, key)).fetchone()
            if row:
                out[key] = _unpack(row[0])
        return out

    def checkpoint(self, path: str) -> Checkpoint | None:
        row = self.db.execute("SELECT path, fingerprint, kind, events, consumed, complete FROM checkpoints WHERE path = ?", (path,)).fetchone()
        return Checkpoint(*row[:5], bool(row[5])) if row else None

    def checkpoint_by_fingerprint(self, fingerprint: str) -> Checkpoint | None:
        row = self.db.execute("SELECT path, fingerprint, kind, events, consumed, complete FROM checkpoints WHERE fingerprint = ?"
                              " ORDER BY complete DESC LIMIT 1", (fingerprint,)).fetchone()
        return Checkpoint(*row[:5], bool(row[5])) if row else None

    def quarantined(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT path, line, record, field, message FROM quarantine ORDER BY seen_at, path, line")
        return [dict(zip(("path", "line", "record", "field", "message"), r)) for r in rows]

    def usage(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT month, account_id, source, events, bytes FROM usage ORDER BY month, account_id, source")
        return [dict(zip(("month", "accountId", "source", "events", "bytes"), r)) for r in rows]

    # -- writes --------------------------------------------------------------------------
    def commit(self, ch: Changes) -> None:
        if not ch:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO findings (id, type, account_id, region, severity, archived, created_at, updated_at, resource_type, doc)"
                " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET severity=excluded.severity,"
                " archived=excluded.archived, updated_at=excluded.updated_at, doc=excluded.doc",
                [
                    (f["id"], f["type"], f["accountId"], f["region"], f["severity"], int(f["service"].get("archived", False)),
                     f["createdAt"], f["updatedAt"], f["resource"].get("resourceType"), orjson.dumps(f))
                    for f in ch.findings.values()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO detector_state VALUES (?,?,?)",
                [(det, key, _pack(value)) for (det, key), value in ch.state.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?,?,?,?)",
                [(c.path, c.fingerprint, c.kind, c.events, c.consumed, int(c.complete), time.time()) for c in ch.checkpoints.values()],
            )
            db.executemany(
                "INSERT OR IGNORE INTO quarantine VALUES (?,?,?,?,?,?,?)",
                [(p.path, fp, p.line, p.record, p.field, p.message, time.time()) for fp, p in ch.quarantine],
            )
            db.executemany(
                "INSERT INTO usage VALUES (?,?,?,?,?) ON CONFLICT(month, account_id, source) DO UPDATE SET"
                " events = events + excluded.events, bytes = bytes + excluded.bytes",
                [(m, a, s, v[0], v[1]) for (m, a, s), v in ch.usage.items()],
            )
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", list(ch.meta.items()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def set_meta(self, key: str, value: str) -> None:
        self.commit(Changes(meta={key: value}))
