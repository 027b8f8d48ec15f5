"""The embedded store: findings, detector state, ingestion checkpoints, quarantine, usage.

Everything a scan changes between two commit points is written in ONE transaction
(``commit``), so a crash leaves the store at the last commit point: the checkpoints then say
exactly which events the stored findings and state already include, and a restart resumes
there — no event is lost or counted twice.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from trailhound.config import STORE_LOCK_WAIT_S
from trailhound.findings.model import Finding, decode, encode
from trailhound.formats.base import Problem
from trailhound.store.guard import APPLICATION_ID, Found, StoreBusy, StoreError, acquire, inspect, lock_path, release

__all__ = ["Changes", "Checkpoint", "Store", "StoreBusy", "StoreError"]

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
CREATE TABLE IF NOT EXISTS keyed_state (
    detector TEXT NOT NULL, key TEXT NOT NULL,
    version INTEGER NOT NULL,   -- the detector's state_version when written
    born REAL NOT NULL,         -- event time of the key's first and latest rows
    last REAL NOT NULL,
    timer_at REAL,              -- event time its timer is due, if any
    expires_at REAL NOT NULL,   -- last + the detector's ttl: deleted once the watermark passes it (and no timer is due)
    value BLOB NOT NULL,        -- msgpack of the detector's State
    PRIMARY KEY (detector, key)
);
CREATE INDEX IF NOT EXISTS keyed_state_timer ON keyed_state (timer_at) WHERE timer_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS keyed_state_expiry ON keyed_state (expires_at);
CREATE TABLE IF NOT EXISTS checkpoints (
    path TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL,
    events INTEGER NOT NULL,
    consumed INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0
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


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=uri)


StateRow = tuple[int, float, float, float | None, bytes]  # version, born, last, timer_at, value


@dataclass(slots=True)
class Checkpoint:
    path: str
    fingerprint: str
    kind: str
    events: int
    consumed: int
    complete: bool
    offset: int = 0  # content bytes before the part `events` and `consumed` count (a file appended to since)


@dataclass
class Changes:
    """What one commit point writes."""

    findings: dict[str, Finding] = field(default_factory=dict)
    state: dict[tuple[str, str], StateRow | None] = field(default_factory=dict)  # None deletes
    ttl: dict[str, float] = field(default_factory=dict)  # detector -> its state's time-to-live (for expires_at)
    watermark: float | None = None  # keyed state that expired before this event time is deleted
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    quarantine: list[tuple[str, Problem]] = field(default_factory=list)  # (fingerprint, problem)
    usage: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)  # (month, acct, source) -> [events, bytes]
    meta: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.findings or self.state or self.checkpoints or self.quarantine or self.usage or self.meta or self.watermark is not None)


class Store:
    """A writer (the default) refuses anything but a Trailhound store or nothing, and holds the store's
    writer lock until ``close``; ``readonly`` opens an existing store without the lock (WAL lets it
    read while a scan writes) and never creates or changes a file."""

    def __init__(self, path: str | Path, *, readonly: bool = False, lock_wait_s: float = STORE_LOCK_WAIT_S) -> None:
        self.path = Path(path)
        self._unlock: Callable[[], object] = lambda: None
        if str(path) == ":memory:":
            self.db = _connect(":memory:")
            self._create(Found.NOTHING)
        elif readonly:
            self.db = self._open_readonly()
        else:
            self.db = self._open_writer(lock_wait_s)
        self.detector_id = self.meta("detector_id") or ("" if readonly else self._init_detector_id())

    def _open_readonly(self) -> sqlite3.Connection:
        if inspect(self.path) is Found.NOTHING:
            raise StoreError(f"store {self.path}: no Trailhound store there (a scan creates one)")
        try:
            return _connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot open it: {exc}") from None

    def _open_writer(self, lock_wait_s: float) -> sqlite3.Connection:
        inspect(self.path)  # refuse a foreign file before anything is created beside it
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {self.path}: cannot create its folder: {exc.strerror or exc}") from None
        self._unlock = weakref.finalize(self, release, acquire(self.path.resolve(), lock_wait_s))
        try:
            found = inspect(self.path)  # again, under the lock: a writer before us may have created it
            if found is not Found.NOTHING and not os.access(self.path, os.W_OK):
                raise StoreError(f"store {self.path}: read-only file, cannot write to it")
            self.db = _connect(str(self.path))
            self._create(found)
            return self.db
        except BaseException as exc:
            if hasattr(self, "db"):
                self.db.close()
            self._unlock()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"store {self.path}: cannot open it for writing: {exc}") from None
            raise

    def _create(self, found: Found) -> None:
        if found is not Found.STORE:  # marked first: before WAL is on, so the mark is in the main file at once
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._migrate()

    def own_files(self) -> set[str]:
        """The store's files (resolved), never to be read as logs: the database, SQLite's sidecars and the writer lock."""
        if str(self.path) == ":memory:":
            return set()
        base = self.path.resolve()
        return {f"{base}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")} | {str(lock_path(base))}

    def _migrate(self) -> None:
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(checkpoints)")}
        if "offset" not in columns:  # stores from before appended files were read from where they had ended
            self.db.execute("ALTER TABLE checkpoints ADD COLUMN offset INTEGER NOT NULL DEFAULT 0")
        self._migrate_state()

    def _migrate_state(self) -> None:
        """Stores written before keyed state was typed kept an untyped, never-expiring `detector_state`:
        the password policies in force are carried over (a year-old policy is still the policy); the
        rest (an hour of Tor relays) is dropped."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'detector_state'").fetchone():
            return
        rows = self.db.execute("SELECT key, value FROM detector_state WHERE detector = 'password-policy-change'").fetchall()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR IGNORE INTO keyed_state VALUES ('password-policy-change', ?, 1, 0, 0, NULL, ?, ?)",
                            [(key, float("inf"), msgspec.msgpack.encode([msgspec.msgpack.decode(value)])) for key, value in rows])
        self.db.execute("DROP TABLE detector_state")
        self.db.execute("COMMIT")

    def _init_detector_id(self) -> str:
        value = secrets.token_hex(16)
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('detector_id', ?)", (value,))
        return self.meta("detector_id") or value

    def close(self) -> None:
        self.db.close()
        self._unlock()

    # -- reads ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def finding(self, fid: str) -> Finding | None:
        row = self.db.execute("SELECT doc FROM findings WHERE id = ?", (fid,)).fetchone()
        return decode(row[0]) if row else None

    def findings(self, *, include_archived: bool = True) -> Iterator[dict[str, Any]]:
        sql = "SELECT doc FROM findings" + ("" if include_archived else " WHERE archived = 0") + " ORDER BY severity DESC, updated_at DESC"
        for (doc,) in self.db.execute(sql):
            yield orjson.loads(doc)

    def count_findings(self) -> int:
        return self.db.execute("SELECT count(*) FROM findings").fetchone()[0]

    def state_rows(self, detector: str, keys: list[str]) -> dict[str, StateRow]:
        out: dict[str, StateRow] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            sql = f"SELECT key, version, born, last, timer_at, value FROM keyed_state WHERE detector = ? AND key IN ({','.join('?' * len(chunk))})"
            for key, *row in self.db.execute(sql, (detector, *chunk)):
                out[key] = tuple(row)  # type: ignore[assignment]
        return out

    def prune_state(self, versions: dict[str, int]) -> int:
        """Delete the keyed state of detectors that no longer exist, or of another version of theirs."""
        names = list(versions)
        with self.db:
            cur = self.db.execute(f"DELETE FROM keyed_state WHERE detector NOT IN ({','.join('?' * len(names))})", names)
            gone = cur.rowcount
            for name, version in versions.items():
                gone += self.db.execute("DELETE FROM keyed_state WHERE detector = ? AND version != ?", (name, version)).rowcount
        return gone

    def state_timers(self) -> list[tuple[str, str, float]]:
        return list(self.db.execute("SELECT detector, key, timer_at FROM keyed_state WHERE timer_at IS NOT NULL"))

    def state_sizes(self) -> dict[str, tuple[int, float, int]]:
        """detector -> (keys, mean bytes of state per key, largest)."""
        rows = self.db.execute("SELECT detector, count(*), avg(length(value) + length(key) + 40), max(length(value) + length(key) + 40)"
                               " FROM keyed_state GROUP BY detector")
        return {d: (n, mean, mx) for d, n, mean, mx in rows}

    def checkpoints(self, paths: list[str]) -> dict[str, Checkpoint]:
        """The checkpoints of these paths, in a few queries (a batch of small files is looked up at once)."""
        out: dict[str, Checkpoint] = {}
        for i in range(0, len(paths), 500):  # under SQLite's limit on bound parameters
            chunk = paths[i : i + 500]
            rows = self.db.execute("SELECT path, fingerprint, kind, events, consumed, complete, offset FROM checkpoints WHERE path IN "
                                   f"({','.join('?' * len(chunk))})", chunk)
            out.update((r[0], Checkpoint(*r[:5], bool(r[5]), r[6])) for r in rows)
        return out

    def complete_fingerprints(self, fingerprints: list[str]) -> set[str]:
        """Which of these contents some path has been read to its end under (moved or copied deliveries)."""
        out: set[str] = set()
        for i in range(0, len(fingerprints), 500):
            chunk = fingerprints[i : i + 500]
            rows = self.db.execute(f"SELECT DISTINCT fingerprint FROM checkpoints WHERE complete AND fingerprint IN ({','.join('?' * len(chunk))})", chunk)
            out.update(r[0] for r in rows)
        return out

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
                    (f.id, f.type, f.account_id, f.region, f.severity, int(f.service.archived), f.created_at, f.updated_at,
                     type(f.resource).__struct_config__.tag, encode(f))
                    for f in ch.findings.values()
                ],
            )
            db.executemany(
                "INSERT OR REPLACE INTO keyed_state VALUES (?,?,?,?,?,?,?,?)",
                [(det, key, *row[:4], row[2] + ch.ttl.get(det, float("inf")), row[4]) for (det, key), row in ch.state.items() if row is not None],
            )
            db.executemany("DELETE FROM keyed_state WHERE detector = ? AND key = ?", [k for k, row in ch.state.items() if row is None])
            if ch.watermark is not None:
                db.execute("DELETE FROM keyed_state WHERE expires_at <= ? AND timer_at IS NULL", (ch.watermark,))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('watermark', ?)", (repr(ch.watermark),))
            db.executemany(
                "INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?,?,?,?,?)",
                [(c.path, c.fingerprint, c.kind, c.events, c.consumed, int(c.complete), time.time(), c.offset) for c in ch.checkpoints.values()],
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
