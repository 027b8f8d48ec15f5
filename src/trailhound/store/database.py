"""The store: findings, detector state, ingestion checkpoints, quarantine, usage — in SQLite (the
embedded default, one file) or PostgreSQL (``postgresql://…``), through one SQLAlchemy Core layer.

Everything a scan changes between two commit points is written in ONE transaction (``commit``),
so a crash leaves the store at the last commit point: the checkpoints then say exactly which
events the stored findings and state already include, and a restart resumes there — no event is
lost or counted twice.

One writer (a scan) per store: SQLite's is an ``flock`` on ``<db>.lock`` (store.guard); PostgreSQL's
an advisory lock of the session, keyed on the schema. Both die with the process. ``service`` opens
take no writer lock: the API writes only what a scan never overwrites (archived, feedback, its own
resources) in short transactions of its own.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, inspect as sa_inspect, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool, StaticPool

from trailhound.config import STORE_LOCK_WAIT_S
from trailhound.findings.model import Finding, decode, encode
from trailhound.formats.base import Problem
from trailhound.store import tables as t
from trailhound.store.guard import APPLICATION_ID, Found, StoreBusy, StoreError, acquire, inspect, lock_path, readonly_uri, release
from trailhound.store.rows import finding_row, upsert, write_many

__all__ = ["Changes", "Checkpoint", "Store", "StoreBusy", "StoreError", "transaction", "write_findings"]

StateRow = tuple[int, float, float, float | None, bytes]  # version, born, last, timer_at, value
_CHUNK = 500  # keys per IN (...): under SQLite's limit on bound parameters


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
    usage: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)  # (day, acct, source, resource) -> [events, bytes]
    meta: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.findings or self.state or self.checkpoints or self.quarantine or self.usage or self.meta or self.watermark is not None)


def _sqlite(target: str, uri: bool = False) -> sqlite3.Connection:
    from trailhound.findings.criteria import install_sqlite_functions

    db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=uri)
    db.execute("PRAGMA busy_timeout = 10000")  # the API's short writes wait for a scan's commit, not fail
    install_sqlite_functions(db)  # FindingCriteria on document keys
    return db


def _raw_json(dbapi_connection: Any, _record: Any) -> None:
    """psycopg would parse every JSONB document into Python objects; the store hands out the text."""
    from psycopg.types.json import set_json_loads

    set_json_loads(lambda data: data, dbapi_connection)


class Store:
    """A writer (the default) refuses anything but a Trailhound store or nothing, and holds the store's
    writer lock until ``close``; ``readonly`` opens an existing store without the lock (WAL lets it
    read while a scan writes) and never creates or changes anything; ``service`` (the API) writes
    without the scan's lock."""

    def __init__(self, target: str | Path, *, readonly: bool = False, lock_wait_s: float = STORE_LOCK_WAIT_S, service: bool = False) -> None:
        self._unlock: Callable[[], object] = lambda: None
        self.readonly = readonly
        self._pool_autocommit = False
        target = str(target)
        if target.startswith("sqlite:///"):
            target = target[len("sqlite:///"):]
        if target.startswith(("postgresql", "postgres:")):
            self.path: Path | str = _redact(target)
            self.engine = self._open_postgres(target, readonly, lock_wait_s, service)
        else:
            self.path = Path(target)
            self.engine = self._open_sqlite(target, readonly, lock_wait_s, service)
        self.dialect = self.engine.dialect.name
        self.detector_id = self.meta("detector_id") or ("" if readonly else self._init_detector_id())

    # -- opening -------------------------------------------------------------------------
    def _open_sqlite(self, target: str, readonly: bool, lock_wait_s: float, service: bool) -> Engine:
        path = Path(target)
        if target == ":memory:":
            engine = create_engine("sqlite://", creator=lambda: _sqlite(":memory:"), poolclass=StaticPool)
            self.conn = self._autocommit(engine)
            self._create(Found.NOTHING)
            return engine
        if readonly:
            if inspect(path) is Found.NOTHING:
                raise StoreError(f"store {path}: no Trailhound store there (a scan creates one)")
            uri = readonly_uri(path)  # immutable where a WAL store's -shm cannot be created
            engine = create_engine("sqlite://", creator=lambda: _sqlite(uri, uri=True), poolclass=NullPool)
            self.conn = self._autocommit(engine, f"store {path}: cannot open it")
            return engine
        inspect(path)  # refuse a foreign file before anything is created beside it
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store {path}: cannot create its folder: {exc.strerror or exc}") from None
        if not service:
            self._unlock = weakref.finalize(self, release, acquire(path.resolve(), lock_wait_s))
        try:
            found = inspect(path)  # again, under the lock: a writer before us may have created it
            if found is not Found.NOTHING and not os.access(path, os.W_OK):
                raise StoreError(f"store {path}: read-only file, cannot write to it")
            file = str(path)
            # a service's pool is a queue: "sqlite://" alone would pick SingletonThreadPool, which closes connections
            # still in use once more than five threads ask (the console's summary makes ten calls at once)
            engine = create_engine("sqlite://", creator=lambda: _sqlite(file), **({"poolclass": QueuePool, "pool_size": 8, "max_overflow": 32}
                                                                                     if service else {"poolclass": StaticPool}))
            self.conn = self._autocommit(engine, f"store {path}: cannot open it for writing")
            self._create(found)
            return engine
        except BaseException:
            if hasattr(self, "conn"):
                self.conn.close()
            self._unlock()
            raise

    def _open_postgres(self, url: str, readonly: bool, lock_wait_s: float, service: bool) -> Engine:
        url = url.replace("postgres://", "postgresql://", 1)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        try:
            # a scan uses its one connection; only the API's threads need a pool
            # no pre-ping (a round trip per request): a dropped connection fails one request and is replaced
            pool: dict[str, Any] = {"pool_size": 8, "max_overflow": 16, "isolation_level": "AUTOCOMMIT"} if service else {"poolclass": NullPool}
            engine = create_engine(url, **pool)
            self._pool_autocommit = service
        except (SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"store {self.path}: not a usable PostgreSQL URL: {exc}") from None
        event.listen(engine, "connect", _raw_json)
        self.conn = self._autocommit(engine, f"store {self.path}: cannot connect")
        if readonly:
            if not sa_inspect(self.conn).has_table("meta"):
                raise StoreError(f"store {self.path}: no Trailhound store there (a scan creates one)")
            self.conn.exec_driver_sql("SET default_transaction_read_only = on")
            return engine
        if not service:
            self._lock_postgres(lock_wait_s)
        self._create(Found.STORE if sa_inspect(self.conn).has_table("meta") else Found.NOTHING)
        return engine

    def _lock_postgres(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        sql = text("SELECT pg_try_advisory_lock(hashtext('trailhound:' || current_schema()))")
        while not self.conn.execute(sql).scalar():
            if time.monotonic() >= deadline:
                raise StoreBusy(f"another trailhound process is writing to {self.path}; gave up after waiting {wait_s:g} s"
                                " (--lock-wait): run one scan at a time, or give this one another --db")
            time.sleep(0.05)

    def _autocommit(self, engine: Engine, failure: str = "") -> Connection:
        # transactions are explicit (``_transaction``): SQLite's must be BEGIN IMMEDIATE, which SQLAlchemy would not emit
        try:
            return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise StoreError(f"{failure}: {_reason(exc)}") from None

    def _create(self, found: Found) -> None:
        c = self.conn
        if self.engine_dialect() == "sqlite":
            if found is not Found.STORE:  # marked first: before WAL is on, so the mark is in the main file at once
                c.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
            c.exec_driver_sql("PRAGMA journal_mode=WAL")
            c.exec_driver_sql("PRAGMA synchronous=NORMAL")
        from trailhound.store.migrations import migrate

        migrate(c, found is Found.NOTHING)

    def engine_dialect(self) -> str:
        return self.conn.dialect.name

    def own_files(self) -> set[str]:
        """The store's files (resolved), never to be read as logs: the database, SQLite's sidecars and the writer lock."""
        if not isinstance(self.path, Path) or str(self.path) == ":memory:":
            return set()
        base = self.path.resolve()
        return {f"{base}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")} | {str(lock_path(base))}

    def _init_detector_id(self) -> str:
        value = secrets.token_hex(16)
        with self._transaction() as c:
            c.execute(upsert(c, t.meta, ["key"], do_nothing=True), [{"key": "detector_id", "value": value}])
        return self.meta("detector_id") or value

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()
        self._unlock()

    # -- reads ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        return self.conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def finding(self, fid: str) -> Finding | None:
        doc = self.conn.execute(select(t.findings.c.doc).where(t.findings.c.id == fid)).scalar()
        return decode(doc) if doc is not None else None

    def findings(self, *, include_archived: bool = True) -> Iterator[dict[str, Any]]:
        f = t.findings.c
        q = select(f.doc, f.archived).order_by(f.severity.desc(), f.updated_at.desc(), f.id)
        if not include_archived:
            q = q.where(f.archived == 0)
        for doc, archived in self.conn.execute(q):
            out = orjson.loads(doc)
            out["service"]["archived"] = bool(archived)  # the API may have archived it since the scan wrote it
            yield out

    def count_findings(self) -> int:
        return self.conn.execute(select(func.count()).select_from(t.findings)).scalar() or 0

    def state_rows(self, detector: str, keys: list[str]) -> dict[str, StateRow]:
        s = t.keyed_state.c
        out: dict[str, StateRow] = {}
        for i in range(0, len(keys), _CHUNK):
            q = select(s.key, s.version, s.born, s.last, s.timer_at, s.value).where(s.detector == detector, s.key.in_(keys[i : i + _CHUNK]))
            for key, *row in self.conn.execute(q):
                out[key] = tuple(row)  # type: ignore[assignment]
        return out

    def prune_state(self, versions: dict[str, int]) -> int:
        """Delete the keyed state of detectors that no longer exist, or of another version of theirs."""
        s = t.keyed_state.c
        with self._transaction() as c:
            gone = c.execute(delete(t.keyed_state).where(s.detector.not_in(list(versions)))).rowcount
            for name, version in versions.items():
                gone += c.execute(delete(t.keyed_state).where(s.detector == name, s.version != version)).rowcount
        return gone

    def state_detectors(self) -> set[str]:
        """The detectors with any keyed state stored."""
        s = t.keyed_state.c
        return {d for (d,) in self.conn.execute(select(s.detector).distinct())}

    def state_timers(self) -> list[tuple[str, str, float]]:
        s = t.keyed_state.c
        return [tuple(r) for r in self.conn.execute(select(s.detector, s.key, s.timer_at).where(s.timer_at.isnot(None)))]  # type: ignore[misc]

    def state_sizes(self) -> dict[str, tuple[int, float, int]]:
        """detector -> (keys, mean bytes of state per key, largest)."""
        s = t.keyed_state.c
        size = func.length(s.value) + func.length(s.key) + 40
        rows = self.conn.execute(select(s.detector, func.count(), func.avg(size), func.max(size)).group_by(s.detector))
        return {d: (n, float(mean), mx) for d, n, mean, mx in rows}

    def checkpoints(self, paths: list[str]) -> dict[str, Checkpoint]:
        """The checkpoints of these paths, in a few queries (a batch of small files is looked up at once)."""
        out: dict[str, Checkpoint] = {}
        for chunk, marks in self._chunks(paths):
            rows = self.conn.exec_driver_sql('SELECT path, fingerprint, kind, events, consumed, complete, "offset" FROM checkpoints '
                                             f"WHERE path IN ({marks})", chunk)
            out.update((r[0], Checkpoint(*r[:5], bool(r[5]), r[6])) for r in rows)
        return out

    def has_checkpoints(self) -> bool:
        """Whether any file was ever read into this store (a first scan has nothing to look up)."""
        return self.conn.exec_driver_sql("SELECT 1 FROM checkpoints LIMIT 1").first() is not None

    def complete_fingerprints(self, fingerprints: list[str]) -> set[str]:
        """Which of these contents some path has been read to its end under (moved or copied deliveries)."""
        out: set[str] = set()
        for chunk, marks in self._chunks(fingerprints):
            rows = self.conn.exec_driver_sql(f"SELECT DISTINCT fingerprint FROM checkpoints WHERE complete != 0 AND fingerprint IN ({marks})", chunk)
            out.update(r[0] for r in rows)
        return out

    def _chunks(self, values: list[str]) -> Iterator[tuple[tuple[str, ...], str]]:
        # the driver's own placeholders: these two lookups run per batch of small files, where
        # building a SQL expression per IN list costs more than the query
        mark = "?" if self.dialect == "sqlite" else "%s"
        for i in range(0, len(values), _CHUNK):
            chunk = tuple(values[i : i + _CHUNK])
            yield chunk, ",".join([mark] * len(chunk))

    def quarantined(self) -> list[dict[str, Any]]:
        q = t.quarantine.c
        rows = self.conn.execute(select(q.path, q.line, q.record, q.field, q.message).order_by(q.seen_at, q.path, q.line))
        return [{"path": p, "line": _none(line), "record": _none(rec), "field": fld, "message": m} for p, line, rec, fld, m in rows]

    def usage(self) -> list[dict[str, Any]]:
        """Usage per month, account and source (the days and resources it is metered by, summed)."""
        u = t.usage.c
        month = func.substr(u.day, 1, 7)
        rows = self.conn.execute(select(month, u.account_id, u.source, func.sum(u.events), func.sum(u.bytes))
                                 .group_by(month, u.account_id, u.source).order_by(month, u.account_id, u.source))
        return [dict(zip(("month", "accountId", "source", "events", "bytes"), (m, a, s, int(e), int(b)))) for m, a, s, e, b in rows]

    def connect(self) -> Connection:
        """Another connection (autocommit; ``transaction`` for writes), for a thread of the API."""
        if isinstance(self.engine.pool, StaticPool):  # one connection: an in-memory store, or a scan's writer
            return self.conn
        if self._pool_autocommit:
            # the API's PostgreSQL pool is autocommit already: setting it again per checkout cost a reset at each checkin
            try:
                return self.engine.connect()
            except SQLAlchemyError as exc:
                raise StoreError(f"store {self.path}: cannot connect: {_reason(exc)}") from None
        return self._autocommit(self.engine, f"store {self.path}: cannot connect")

    # -- writes --------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self.conn)

    def commit(self, ch: Changes) -> None:
        if not ch:
            return
        now = time.time()
        with self._transaction() as c:
            write_findings(c, ch.findings.values())
            live = [{"detector": det, "key": key, "version": row[0], "born": row[1], "last": row[2], "timer_at": row[3],
                     "expires_at": row[2] + ch.ttl.get(det, float("inf")), "value": row[4]}
                    for (det, key), row in ch.state.items() if row is not None]
            if live:
                write_many(c, upsert(c, t.keyed_state, ["detector", "key"]), live)
            gone = [k for k, row in ch.state.items() if row is None]
            s = t.keyed_state.c
            for i in range(0, len(gone), _CHUNK):
                for det in {d for d, _ in gone[i : i + _CHUNK]}:
                    keys = [key for d, key in gone[i : i + _CHUNK] if d == det]
                    c.execute(delete(t.keyed_state).where(s.detector == det, s.key.in_(keys)))
            if ch.watermark is not None:
                c.execute(delete(t.keyed_state).where(s.expires_at <= ch.watermark, s.timer_at.is_(None)))
                ch.meta = {**ch.meta, "watermark": repr(ch.watermark)}
            if ch.checkpoints:
                write_many(c, upsert(c, t.checkpoints, ["path"]),
                           [{"path": p.path, "fingerprint": p.fingerprint, "kind": p.kind, "events": p.events, "consumed": p.consumed,
                             "complete": int(p.complete), "updated_at": now, "offset": p.offset} for p in ch.checkpoints.values()])
            if ch.quarantine:
                write_many(c, upsert(c, t.quarantine, None, do_nothing=True),
                           [{"path": p.path, "fingerprint": fp, "line": _minus(p.line), "record": _minus(p.record), "field": p.field,
                             "message": p.message, "seen_at": now} for fp, p in ch.quarantine])
            if ch.usage:
                ins = upsert(c, t.usage, ["day", "account_id", "source", "resource"], add=("events", "bytes"))
                write_many(c, ins, [{"day": d, "account_id": a, "source": s_, "resource": r, "events": v[0], "bytes": v[1]}
                                for (d, a, s_, r), v in ch.usage.items()])
            if ch.meta:
                c.execute(upsert(c, t.meta, ["key"]), [{"key": k, "value": v} for k, v in ch.meta.items()])

    def set_meta(self, key: str, value: str) -> None:
        self.commit(Changes(meta={key: value}))


def write_findings(c: Connection, findings: Iterable[Finding]) -> None:
    rows = [finding_row(f, encode(f)) for f in findings]
    if rows:
        # archived only ever rises here: a scan's copy of a finding may predate the API archiving it
        write_many(c, upsert(c, t.findings, ["id"], keep=("created_at", "created_ms", "feedback"), rise=("archived",)), rows)


def transaction(conn: Connection) -> _Transaction:
    return _Transaction(conn)


class _Transaction:
    """BEGIN (IMMEDIATE in SQLite: take the write lock now, not at the first write) ... COMMIT, or ROLLBACK."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.conn.exec_driver_sql("BEGIN IMMEDIATE" if self.conn.dialect.name == "sqlite" else "BEGIN")
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.conn.exec_driver_sql("COMMIT")
            return
        try:
            self.conn.exec_driver_sql("ROLLBACK")
        except DBAPIError:
            pass  # SQLite rolled back already (a full disk, an I/O error): the error that did it is the one to show


def _minus(v: int | None) -> int:
    return -1 if v is None else v


def _none(v: int | None) -> int | None:
    return None if v is None or v < 0 else v


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, cred = head.partition("//")
    return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
