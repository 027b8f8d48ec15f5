"""Which files a store may be opened on, and one writer per store.

A Trailhound store is recognised from the file's first 100 bytes (SQLite's header and its
``application_id``) before SQLite opens it: opening another application's database for writing
would switch it to WAL and add tables to it. A writer holds an advisory lock (``flock``) on
``<db>.lock`` for as long as its store is open; the kernel drops it when the process dies, so a
killed scan never leaves the store locked (a forked child closes its copy of the lock file at once).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import threading
import time
from enum import Enum
from pathlib import Path

APPLICATION_ID = int.from_bytes(b"THND", "big")  # PRAGMA application_id of every Trailhound store
_MAGIC = b"SQLite format 3\x00"
_LEGACY_TABLES = {"meta", "findings", "checkpoints"}  # in every store written before stores were marked


class StoreError(Exception):
    """A store that cannot be used as asked. The message names the path and the reason, in one line."""


class StoreBusy(StoreError):
    """Another process holds the store's writer lock."""


class Found(Enum):
    NOTHING = "nothing"  # no file, or an empty one: a writer creates the store there
    STORE = "store"
    LEGACY = "legacy"  # a store written before stores were marked: marked by its next writer


def inspect(path: Path) -> Found:
    """What lies at `path`; StoreError for anything that is not a Trailhound store (left untouched)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return Found.NOTHING
    except OSError as exc:
        raise StoreError(f"store {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"store {path}: is a folder, not a store file")
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"store {path}: not a regular file")
    if st.st_size == 0:
        return Found.NOTHING
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise StoreError(f"store {path}: cannot read it: {exc.strerror or exc}") from None
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StoreError(f"store {path}: not a SQLite database, so not a Trailhound store; left untouched")
    app = int.from_bytes(header[68:72], "big")
    if app == APPLICATION_ID:
        return Found.STORE
    if app == 0 and _is_legacy_store(path):
        return Found.LEGACY
    raise StoreError(f"store {path}: a SQLite database of another application (no Trailhound mark); left untouched")


def _is_legacy_store(path: Path) -> bool:
    # immutable: no lock, no -wal or -shm file is created beside what may be someone else's database
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return _LEGACY_TABLES <= tables and db.execute("SELECT 1 FROM meta WHERE key = 'detector_id'").fetchone() is not None
        finally:
            db.close()
    except sqlite3.Error:
        return False


def readonly_uri(path: Path) -> str:
    """The URI a reader opens the store at `path` with: read-only. SQLite reads a WAL-mode store through
    its -shm file, created beside it if missing; where it is missing and cannot be created (a read-only
    file system or folder) no writer has the store open, and the store is opened ``immutable`` instead
    (no -shm, no lock, nothing written) -- unless a -wal file holds changes, which immutable would skip."""
    resolved = path.resolve()
    uri = f"{resolved.as_uri()}?mode=ro"
    shm, wal = (resolved.with_name(resolved.name + suffix) for suffix in ("-shm", "-wal"))
    if os.path.lexists(shm) or os.access(resolved.parent, os.W_OK) or not _is_wal(resolved):
        return uri
    try:
        pending = wal.stat().st_size > 0
    except FileNotFoundError:
        pending = False
    except OSError as exc:
        raise StoreError(f"store {path}: cannot read {wal.name}: {exc.strerror or exc}") from None
    if pending:
        raise StoreError(f"store {path}: {wal.name} holds changes that SQLite reads only through {shm.name}, which cannot be "
                         f"created in read-only {resolved.parent}; copy the store with its -wal file to a writable folder")
    return uri + "&immutable=1"


def _is_wal(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return header.startswith(_MAGIC) and header[18:20] == b"\x02\x02"  # file format versions 2: WAL


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


# flock belongs to an open file, so a second Store of this process on the same db would wait for
# itself: the stores of one process share the lock, counted, and the last to close releases it.
_held: dict[str, list[int]] = {}  # lock file -> [fd, stores holding it]
_held_guard = threading.RLock()  # re-entrant: a Store collected during acquire() releases from inside it


def acquire(db: Path, wait_s: float) -> str:
    """Take the writer lock of the store at `db` (its resolved path), waiting up to `wait_s`; returns the key for ``release``."""
    path = lock_path(db)
    key = str(path)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            return key
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"store {db}: cannot write in {path.parent}: {exc.strerror or exc}") from None
        try:
            _lock(fd, db, wait_s)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())  # only to name the holder to a process kept waiting
        except BaseException:
            os.close(fd)
            raise
        _held[key] = [fd, 1]
        return key


def _lock(fd: int, db: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise StoreBusy(f"another trailhound process{pid} is writing to {db}; gave up after waiting {wait_s:g} s"
                                " (--lock-wait): run one scan at a time, or give this one another --db") from None
            time.sleep(0.05)
        except OSError as exc:
            raise StoreError(f"store {db}: cannot lock {lock_path(db)}: {exc.strerror or exc}") from None


def _forget_in_child() -> None:
    """A forked child (a reading worker) shares the writer's open lock file: were the writer killed, an orphaned
    child would hold the lock for good. Its copies are closed (the writer's lock stays: flock belongs to the
    open file, which the writer still has), and it holds nothing."""
    for fd, _ in _held.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def release(key: str) -> None:
    with _held_guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[key]
            os.close(entry[0])  # closing the file drops the flock
