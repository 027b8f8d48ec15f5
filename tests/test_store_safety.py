"""No file, path or second process can corrupt a store, or be corrupted by taking it for one.

Real SQLite files and real processes: a second writer is another Python process holding the lock,
or the real CLI in a subprocess.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from trailhound.store.guard import APPLICATION_ID
from trailhound.store.database import Store, StoreBusy, StoreError

BIN = Path(sys.executable).with_name("trailhound")
HOLDER = """
import sys, time
from trailhound.store.database import Store
store = Store(sys.argv[1])
store.set_meta("holder", "was here")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=300)


@contextmanager
def holder(db: Path | str, seconds: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """Another process with the store open for writing, until it ends or is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> None:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def foreign_db(path: Path, wal: bool = False) -> Path:
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("INSERT INTO notes (body) VALUES ('mine, not trailhound''s')")
    db.commit()
    db.close()
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# -- what may be opened as a store -------------------------------------------------------------

@pytest.mark.parametrize("wal", [False, True])
def test_another_applications_database_is_refused_untouched(tmp_path: Path, wal: bool) -> None:
    other = foreign_db(tmp_path / "app.db", wal=wal)
    before = snapshot(tmp_path)
    for readonly in (False, True):
        with pytest.raises(StoreError, match=r"app\.db: a SQLite database of another application"):
            Store(other, readonly=readonly)
    assert snapshot(tmp_path) == before  # same bytes, same mtime, no -wal, -shm or .lock beside it
    db = sqlite3.connect(other)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == ("wal" if wal else "delete")
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["notes"]


def test_a_database_marked_by_another_application_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    db = sqlite3.connect(other)
    db.execute("PRAGMA application_id = 1234")
    db.execute("CREATE TABLE meta (key TEXT, value TEXT)")  # even with tables named like ours
    db.commit()
    db.close()
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match="another application"):
        Store(other)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("content", [b"not a database at all\n", b"SQLite format 3\x00 but cut short", bytes(4096)])
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(content)
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match=r"t\.db: not a SQLite database"):
        Store(path)
    assert snapshot(tmp_path) == before


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_becomes_a_store_marked_in_its_main_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.touch()
    store = Store(path)
    store.set_meta("k", "v")
    # still open, WAL not checkpointed: the mark is already in the main file, so a crash now leaves a recognisable store
    assert int.from_bytes(path.read_bytes()[68:72], "big") == APPLICATION_ID
    assert Store(path, readonly=True).meta("k") == "v"
    store.close()
    assert Store(path).meta("k") == "v"


def test_a_store_written_before_stores_were_marked_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = Store(path)
    store.set_meta("k", "v")
    store.close()
    data = bytearray(path.read_bytes())
    data[68:72] = bytes(4)  # the header of a store from before the mark
    path.write_bytes(bytes(data))
    reader = Store(path, readonly=True)
    assert reader.meta("k") == "v"
    reader.close()
    assert path.read_bytes()[68:72] == bytes(4)  # a reader writes nothing
    Store(path).close()  # the last connection: the mark goes from the WAL into the main file
    assert int.from_bytes(path.read_bytes()[68:72], "big") == APPLICATION_ID


def test_a_reader_never_creates_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no Trailhound store there"):
        Store(tmp_path / "typo" / "x.db", readonly=True)
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreError, match="no Trailhound store there"):
        Store(tmp_path / "empty.db", readonly=True)
    assert [p.name for p in tmp_path.iterdir()] == ["empty.db"] and (tmp_path / "empty.db").stat().st_size == 0


def test_a_location_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"/proc/trailhound-test\.db: cannot write in /proc"):
        Store("/proc/trailhound-test.db")
    with pytest.raises(StoreError, match="cannot create its folder"):
        Store("/proc/trailhound-test/t.db")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="Not a directory"):
        Store(tmp_path / "file" / "t.db")


def test_a_read_only_folder_or_store_file_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    if os.access(locked, os.W_OK):
        pytest.skip("this user writes through permission bits (root)")
    with pytest.raises(StoreError, match="cannot write in"):
        Store(locked / "t.db")
    Store(tmp_path / "t.db").close()
    (tmp_path / "t.db").chmod(0o444)
    with pytest.raises(StoreError, match="read-only file"):
        Store(tmp_path / "t.db")
    one_line_error(run("scan", locked, "--db", tmp_path / "x.db", "-o", locked / "f.jsonl"), "-o", "Permission denied")
    one_line_error(run("simulate", locked / "estate", "--all"), "outdir", "Permission denied")


# -- one writer ----------------------------------------------------------------------------------

def _busy(db: Path | str, pid: int) -> str:
    """What a second writer is told: SQLite's lock names its holder; PostgreSQL's (a session lock) cannot."""
    if isinstance(db, Path):
        return re.escape(f"another trailhound process (pid {pid}) is writing to {db.resolve()}")
    return re.escape(f"another trailhound process is writing to {db}")


def _writer_store(store_url: str) -> Path | str:
    return Path(store_url) if not store_url.startswith("postgresql") else store_url


def test_a_second_writer_gives_up_clearly_while_readers_still_read(store_url: str) -> None:
    db = _writer_store(store_url)
    with holder(db) as proc:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match=_busy(db, proc.pid)):
            Store(db, lock_wait_s=0.5)
        assert time.monotonic() - started >= 0.5
        assert Store(db, readonly=True).meta("holder") == "was here"  # WAL (or PostgreSQL): reading goes on beside the writer


def test_a_second_writer_waits_for_the_first_to_finish(store_url: str) -> None:
    db = _writer_store(store_url)
    with holder(db, seconds=2.0):
        started = time.monotonic()
        store = Store(db, lock_wait_s=30)
        assert 0.5 < time.monotonic() - started < 30
        assert store.meta("holder") == "was here"
        store.close()


def test_a_killed_writer_leaves_no_lock_behind(store_url: str) -> None:
    db = _writer_store(store_url)
    with holder(db) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if isinstance(db, Path):
        assert db.with_name("store.db.lock").exists()  # the stale lock file stays, and blocks nothing
    deadline = time.monotonic() + 10  # PostgreSQL ends a killed client's session (and its lock) when it sees the socket close
    while True:
        try:
            store = Store(db, lock_wait_s=0)
            break
        except StoreBusy:
            assert isinstance(db, str) and time.monotonic() < deadline
            time.sleep(0.1)
    assert store.meta("holder") == "was here"
    store.close()


HOLDER_WITH_WORKERS = """
import os, sys, time
from pathlib import Path
from trailhound.sources.pool import ReadPool
from trailhound.store.database import Store
store = Store(Path(sys.argv[1]))
pool = ReadPool(2, 1 << 20, 1 << 20)
pool.executor.submit(os.getpid).result()
print(" ".join(map(str, pool.executor._processes)), flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"


def test_a_killed_writer_s_reading_workers_neither_outlive_it_nor_keep_its_lock(tmp_path: Path) -> None:
    """kill -9 of a scan with --workers: its forked readers had its lock file open, and an orphan kept the store
    locked for good. They close their copy at the fork, and end with their parent."""
    db = tmp_path / "store.db"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER_WITH_WORKERS, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
    finally:
        proc.kill()
        proc.wait()
    Store(db, lock_wait_s=0).close()  # at once: no worker holds the lock, even while they are still ending
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers):
        assert time.monotonic() < deadline, "reading workers outlived the killed scan"
        time.sleep(0.1)


def test_stores_of_one_process_share_its_lock_until_the_last_closes(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first, second = Store(db), Store(tmp_path / "." / "t.db")  # one process: no waiting for itself
    probe = [sys.executable, "-c", "import sys; from trailhound.store.database import Store; Store(sys.argv[1], lock_wait_s=0)", str(db)]
    first.close()
    assert "another trailhound process" in subprocess.run(probe, capture_output=True, text=True).stderr
    second.close()
    assert subprocess.run(probe, capture_output=True, text=True).returncode == 0


# -- the command line --------------------------------------------------------------------------

def test_cli_refuses_a_foreign_garbage_or_folder_store_before_any_work(tmp_path: Path) -> None:
    other = foreign_db(tmp_path / "app.db")
    (tmp_path / "garbage.db").write_bytes(b"\x00\x01 garbage")
    os.mkfifo(tmp_path / "fifo.db")
    (tmp_path / "folder.db").mkdir()
    before = snapshot(tmp_path)
    for name, why in [("app.db", "another application"), ("garbage.db", "not a SQLite database"), ("fifo.db", "not a regular file"),
                      ("folder.db", "is a folder")]:
        others = [["usage"], ["quarantine"], ["sample-findings"]] if name == "app.db" else []
        for cmd in [["scan", tmp_path / "folder.db"], ["findings"], *others]:
            one_line_error(run(*cmd, "--db", tmp_path / name), str(tmp_path / name), why)
    assert snapshot(tmp_path) == before
    assert sqlite3.connect(other).execute("SELECT body FROM notes").fetchall() == [("mine, not trailhound's",)]


def test_cli_read_commands_never_create_a_store(tmp_path: Path) -> None:
    for cmd in ("findings", "quarantine", "usage"):
        one_line_error(run(cmd, "--db", tmp_path / "typo" / "x.db"), str(tmp_path / "typo" / "x.db"), "no Trailhound store there")
    assert list(tmp_path.iterdir()) == []


def test_cli_unwritable_outputs_fail_before_the_scan(tmp_path: Path, shared_data: Path) -> None:
    logs = shared_data / "stratus-red-team-detonation-logs"
    db = tmp_path / "t.db"
    (tmp_path / "afile").write_text("x")
    cases = [("-o", tmp_path / "nodir" / "f.jsonl", "does not exist"), ("-o", tmp_path, "is a folder"),
             ("-o", "/proc/trailhound-test.jsonl", "cannot write it"), ("-o", db, "is the store itself")]
    for option, path, why in cases:
        one_line_error(run("scan", logs, "--db", db, option, path), f"{option} {path}", why)
    assert Store(db, readonly=True).usage() == []  # nothing was scanned
    one_line_error(run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", tmp_path / "nodir" / "s.jsonl"), "does not exist")
    assert Store(db, readonly=True).count_findings() == 0
    one_line_error(run("simulate", tmp_path / "afile" / "out", "--all"), "outdir", "Not a directory")
    one_line_error(run("demo", "--keep", tmp_path / "afile"), "--keep", "is a file, not a folder")
    one_line_error(run("intel", "update", "--dir", tmp_path / "afile" / "x", "--source", f"a=tor-exit={tmp_path / 'afile'}"),
                   "--dir", "Not a directory")
    assert not (tmp_path / "nodir").exists() and not (tmp_path / "afile").is_dir()


def test_cli_second_scan_on_a_store_fails_clearly_and_counts_stay_single(tmp_path: Path, shared_data: Path) -> None:
    logs = shared_data / "stratus-red-team-detonation-logs"
    once = tmp_path / "once.db"
    assert run("scan", logs, "--db", once).returncode == 0
    single = (Store(once, readonly=True).usage(), [f["service"]["count"] for f in Store(once, readonly=True).findings()])

    db = tmp_path / "t.db"
    with holder(db):
        one_line_error(run("scan", logs, "--db", db, "--lock-wait", "0.5"), "another trailhound process", f"is writing to {db.resolve()}")
        assert Store(db, readonly=True).usage() == []
        listed = run("findings", "--db", db)  # readers are not blocked by the writer
        assert listed.returncode == 0 and listed.stdout == ""

    both = [subprocess.Popen([str(BIN), "scan", str(logs), "--db", str(db), "--lock-wait", "0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in both]
    codes = sorted(code for code, _, _ in results)
    if codes == [0, 2]:  # the usual race: one held the lock, the other said so
        assert any("another trailhound process" in e for c, _, e in results if c == 2)
    else:  # one finished before the other started: the second found every file already scanned
        assert codes == [0, 0] and any("35 already scanned" in o for _, o, _ in results)
    store = Store(db, readonly=True)
    assert (store.usage(), [f["service"]["count"] for f in store.findings()]) == single


def test_a_full_disk_names_the_write_that_failed_not_the_rollback(tmp_path: Path) -> None:
    """SQLite rolls a transaction back itself when a write fails for want of space: the error shown is that one (disk full,
    I/O error), not 'cannot rollback - no transaction is active' from a second ROLLBACK. (A file-size limit stands in for a
    full disk: SQLite meets the same failing write.)"""
    code = f"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from trailhound.store.database import Store, transaction
s = Store({str(tmp_path / "x.db")!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    with transaction(s.conn) as c:
        c.exec_driver_sql("CREATE TABLE IF NOT EXISTS big (v BLOB)")
        for i in range(100):
            c.exec_driver_sql("INSERT INTO big VALUES (randomblob(100000))")
except Exception as e:
    print(str(e).splitlines()[0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "no transaction is active" not in out and re.search(r"disk I/O error|disk is full", out), out
