"""Output guards of the command line, run as a user runs it: ``-o`` never destroys a file that is not a
previous findings export nor one of the scan's inputs, a failed write is one line, and the read commands
work on a store on a read-only file system."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trailhound.store.database import Store

BIN = Path(sys.executable).with_name("trailhound")
STRATUS = "stratus-red-team-detonation-logs"


def run(*args: str | Path, stdout: int | object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], check=False, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300)


def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> str:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in (p.stdout or "") + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def logs(tmp_path: Path, shared_data: Path) -> Path:
    """A folder of logs to scan: two CloudTrail files."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in sorted(os.listdir(shared_data / STRATUS)):
        if name.endswith(".json.gz") and len(list(folder.iterdir())) < 2:
            shutil.copy(shared_data / STRATUS / name, folder / name)
    return folder


def foreign_db(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine, not trailhound''s')")
    db.commit()
    db.close()
    return path


def store_with_findings(path: Path) -> Path:
    p = run("sample-findings", "Recon:EC2/Portscan", "Backdoor:EC2/C&CActivity.B", "--db", path)
    assert p.returncode == 0, p.stderr
    return path


def test_scan_o_refuses_a_file_that_is_not_a_findings_export(tmp_path: Path, logs: Path) -> None:
    db = tmp_path / "t.db"
    targets = {"app.db": foreign_db(tmp_path / "app.db"), "other store": store_with_findings(tmp_path / "other.db"),
               "notes": tmp_path / "notes.txt", "json": tmp_path / "data.json"}
    targets["notes"].write_text("my notes\n")
    targets["json"].write_text('{"schemaVersion": "1", "mine": true}\n')
    before = {name: path.read_bytes() for name, path in targets.items()}
    for name, path in targets.items():
        why = "a SQLite database that is not a findings export" if name in ("app.db", "other store") else "not a findings export"
        one_line_error(run("scan", logs, "--db", db, "-o", path), f"-o {path}", why)
    assert {name: path.read_bytes() for name, path in targets.items()} == before
    assert Store(db, readonly=True).usage() == []  # refused before the scan
    assert Store(tmp_path / "other.db", readonly=True).count_findings() == 2


def test_scan_o_refuses_the_scans_inputs(tmp_path: Path, logs: Path) -> None:
    db = tmp_path / "t.db"
    threats = tmp_path / "threats.txt"
    threats.write_text("198.51.100.7\n")
    log = logs / "dns.log"
    log.write_text("not a finding\n")
    cases = [(log, "inside an input folder"), (logs / "findings.jsonl", "inside an input folder"),
             (logs / ".." / "in" / "x.jsonl", "inside an input folder"), (threats, "is one of the inputs")]
    for path, why in cases:
        one_line_error(run("scan", logs, "--db", db, "--threat-list", f"TXT:{threats}", "-o", path), f"-o {path}", why)
    assert log.read_text() == "not a finding\n" and threats.read_text() == "198.51.100.7\n"
    assert sorted(p.name for p in logs.iterdir()) == sorted([*(p.name for p in logs.glob("*.json.gz")), "dns.log"])
    one_line_error(run("scan", log, "--db", db, "-o", log), "is one of the inputs")  # a file given itself
    link = tmp_path / "link.jsonl"
    link.symlink_to(log)
    one_line_error(run("scan", logs, "--db", db, "-o", link), "inside an input folder")  # through a symlink
    assert Store(db, readonly=True).usage() == []


def test_scan_o_overwrites_a_previous_findings_export(tmp_path: Path, logs: Path) -> None:
    db = store_with_findings(tmp_path / "t.db")
    export = tmp_path / "findings.jsonl"
    p = run("sample-findings", "Recon:EC2/Portscan", "--db", tmp_path / "samples.db", "-o", export)
    assert p.returncode == 0, p.stderr
    old = [json.loads(line)["id"] for line in export.read_text().splitlines()]
    assert len(old) == 1
    p = run("scan", logs, "--db", db, "-o", export)
    assert p.returncode == 0, p.stderr
    written = [json.loads(line)["id"] for line in export.read_text().splitlines()]
    # replaced, not appended: exactly the store's findings (sample ids are the same in every store, so compare whole lists)
    assert written == [f["id"] for f in Store(db, readonly=True).findings()] and len(written) >= 2
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert run("scan", logs, "--db", db, "-o", empty).returncode == 0  # an empty file holds nothing to lose
    assert empty.read_bytes() == export.read_bytes()


def test_sample_findings_o_is_guarded_too(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    app = foreign_db(tmp_path / "app.db")
    app_bytes = app.read_bytes()
    one_line_error(run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", notes), f"-o {notes}", "not a findings export")
    one_line_error(run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", app), "SQLite database")
    one_line_error(run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", db), "is the store itself")
    assert notes.read_text() == "my notes\n" and app.read_bytes() == app_bytes
    assert Store(db, readonly=True).count_findings() == 0  # refused before the samples were made
    export = tmp_path / "s.jsonl"
    assert run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", export).returncode == 0
    assert run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", export).returncode == 0  # its own export: overwritten
    assert len(export.read_text().splitlines()) == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_failed_write_is_one_line(tmp_path: Path, logs: Path) -> None:
    db = store_with_findings(tmp_path / "t.db")  # findings to write
    p = run("scan", logs, "--db", db, "-o", "/dev/full")
    assert p.returncode != 0
    one_line_error(p, "-o /dev/full", "No space left on device")
    assert Store(db, readonly=True).usage() != []  # the scan itself is stored
    one_line_error(run("sample-findings", "Recon:EC2/Portscan", "--db", db, "-o", "/dev/full"), "-o /dev/full", "No space left on device")
    for cmd in ("findings", "usage"):
        with open("/dev/full", "w") as full:
            one_line_error(run(cmd, "--db", db, stdout=full), "standard output", "No space left on device")


@pytest.fixture
def readonly_folder(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a writable folder, a folder made read-only by `make_ro`): a read-only tmpfs mount as root, else chmod."""
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = False
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(ro)], check=False, capture_output=True).returncode == 0
        if not mounted:
            pytest.skip("running as root, where chmod does not stop writes, and mounting a tmpfs is not permitted here")
    try:
        yield tmp_path, ro
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=True)
        else:
            ro.chmod(0o755)


def make_ro(folder: Path) -> None:
    if os.path.ismount(folder):
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    else:
        folder.chmod(0o555)
    assert not os.access(folder, os.W_OK)


def test_read_commands_on_a_read_only_file_system(readonly_folder: tuple[Path, Path], logs: Path) -> None:
    work, ro = readonly_folder
    store = store_with_findings(work / "t.db")
    expected = run("findings", "--db", store).stdout
    usage = run("usage", "--db", store).stdout
    assert len(expected.splitlines()) == 2
    shutil.copy(store, ro / "t.db")  # the WAL-mode store alone: its -shm cannot be created beside it
    make_ro(ro)
    db = ro / "t.db"
    p = run("findings", "--db", db)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert p.stdout == expected
    p = run("usage", "--db", db)
    assert p.returncode == 0 and p.stdout == usage, p.stderr
    p = run("quarantine", "--db", db)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert sorted(os.listdir(ro)) == ["t.db"]
    one_line_error(run("scan", logs, "--db", db), f"store {db}")  # a writer still refuses, in one line


def test_read_only_store_with_unread_wal_is_one_line(readonly_folder: tuple[Path, Path]) -> None:
    work, ro = readonly_folder
    store = store_with_findings(work / "t.db")
    live = sqlite3.connect(store)
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("INSERT INTO meta (key, value) VALUES ('test-pending', 'in the wal only')")
    live.commit()
    shutil.copy(store, ro / "t.db")  # the store with its -wal, without the -shm: immutable would not see the change
    shutil.copy(store.with_name("t.db-wal"), ro / "t.db-wal")
    live.close()
    make_ro(ro)
    for cmd in ("findings", "quarantine", "usage"):
        one_line_error(run(cmd, "--db", ro / "t.db"), f"store {ro / 't.db'}", "t.db-wal", "read-only")
