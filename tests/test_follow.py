"""`serve --source`: following a local folder and S3 prefixes, through a real S3-compatible server
(SeaweedFS, started here, checking signatures) into real SQLite and PostgreSQL stores. Findings must
equal `scan`'s on the same files (ids, types, counts; usage too), and a `serve` killed with -9 in
the middle of reading must, once restarted, end where one uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.simulator.labelled import simulate
from trailhound.sources.follow import Follower, FollowSettings
from trailhound.sources.s3 import S3Reader
from trailhound.store.database import Store

sys.path.insert(0, str(Path(__file__).parent))
from serve_proc import count as _count, stop  # noqa: E402
from s3_server import S3Server, s3_server, upload_tree  # noqa: E402

TYPES = ["UnauthorizedAccess:EC2/SSHBruteForce", "Stealth:IAMUser/CloudTrailLoggingDisabled", "Recon:IAMUser/MaliciousIPCaller.Custom",
         "Trojan:EC2/DNSDataExfiltration", "Backdoor:EC2/C&CActivity.B!DNS"]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Three days of habits and an attack day, in few large objects (about 96,000 events)."""
    return simulate(tmp_path_factory.mktemp("estate"), TYPES, seed=5, scale=1.5, days=3, delivery="large")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def _settings(estate: Any, **kw: Any) -> ScanSettings:
    return ScanSettings(threat_lists=[estate.threat_list], trusted_lists=[estate.trusted_list], **kw)


def _summary(store: Store) -> tuple[dict[str, tuple[str, int]], list[dict[str, Any]]]:
    """Each finding's type and count by id, and the usage rows."""
    found = {f["id"]: (f["type"], f["service"]["count"]) for f in store.findings()}
    return found, store.usage()


def _reference(estate: Any, tmp_path: Path, parts: list[list[Path]]) -> tuple[dict[str, tuple[str, int]], list[dict[str, Any]]]:
    """What `scan` gives on these files, one scan per part (in order), into a SQLite store."""
    store = Store(tmp_path / "reference.db")
    try:
        scanner = Scanner(store, _settings(estate))
        for files in parts:
            scanner.scan(files)
        return _summary(store)
    finally:
        store.close()


def _bucket(s3: S3Server, name: str) -> Any:
    client = s3.client()
    client.create_bucket(Bucket=name)
    return client


def _env(s3: S3Server) -> None:
    os.environ.update(s3.env)


# -- in-process: the follower against scan ----------------------------------------------------

@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_follower_on_s3_equals_scan(estate: Any, s3: S3Server, tmp_path: Path, kind: str) -> None:
    from pg import fresh_url

    bucket = f"cold-{kind}"
    upload_tree(_bucket(s3, bucket), bucket, estate.logs, "logs/")
    _env(s3)
    url = str(tmp_path / "follow.db") if kind == "sqlite" else fresh_url()
    store = Store(url)
    lines: list[str] = []
    try:
        follower = Follower(store, _settings(estate), [f"s3://{bucket}/logs/"], FollowSettings(s3_endpoint=s3.endpoint), notify=lines.append)
        assert follower.cycle() is False
        got = _summary(store)
        assert follower.status.files_read == len(list(f for f in estate.logs.rglob("*") if f.is_file()))
        # the objects are known by their S3 names; a second cycle lists nothing new and fetches nothing
        assert all(cp.startswith(f"s3://{bucket}/logs/") for cp in _checkpoint_names(store))
        before = follower.status.files_read
        follower.cycle()
        assert follower.status.files_read == before
        follower.close()
    finally:
        store.close()
    want = _reference(estate, tmp_path, [[estate.logs]])
    assert got[0] == want[0], "findings (id -> type, count) differ from scan's"
    assert len(got[0]) >= 8
    assert got[1] == want[1], "usage differs from scan's"
    assert not [line for line in lines if "failed" in line], lines


def _checkpoint_names(store: Store) -> list[str]:
    from sqlalchemy import select

    from trailhound.store import tables as t

    return list(store.conn.execute(select(t.checkpoints.c.path)).scalars())


def test_follower_on_a_folder_reads_what_arrives(estate: Any, tmp_path: Path) -> None:
    """A local folder: the history there first, then files as they are added, as two scans would."""
    files = sorted(f for f in estate.logs.rglob("*") if f.is_file())
    first, later = files[: len(files) // 2], files[len(files) // 2:]
    folder = tmp_path / "incoming"
    for f in first:
        (folder / f.relative_to(estate.logs)).parent.mkdir(parents=True, exist_ok=True)
        (folder / f.relative_to(estate.logs)).write_bytes(f.read_bytes())
    store = Store(tmp_path / "follow.db")
    try:
        follower = Follower(store, _settings(estate), [str(folder)], FollowSettings(), notify=lambda _: None)
        follower.cycle()
        assert follower.status.files_read == len(first)
        follower.cycle()  # nothing new: nothing read again
        assert follower.status.files_read == len(first)
        for f in later:
            (folder / f.relative_to(estate.logs)).parent.mkdir(parents=True, exist_ok=True)
            (folder / f.relative_to(estate.logs)).write_bytes(f.read_bytes())
        follower.cycle()
        assert follower.status.files_read == len(files)
        got = _summary(store)
    finally:
        store.close()
    assert got == _reference(estate, tmp_path, [first, later])


def test_bad_sources_get_one_line_and_the_others_go_on(estate: Any, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = "good"
    client = _bucket(s3, bucket)
    one = next(f for f in sorted(estate.logs.rglob("*.json.gz")))
    client.put_object(Bucket=bucket, Key="AWSLogs/ct.json.gz", Body=one.read_bytes())
    _env(s3)
    lines: list[str] = []
    store = Store(tmp_path / "follow.db")
    try:
        sources = [f"s3://{bucket}/AWSLogs/", "s3://no-such-bucket/AWSLogs/", str(tmp_path / "no-such-folder")]
        follower = Follower(store, _settings(estate), sources, FollowSettings(s3_endpoint=s3.endpoint, poll_s=1), notify=lines.append)
        follower.cycle()
        follower.cycle()  # a source that still fails is not repeated
        assert follower.status.files_read == 1
        errors = [line for line in lines if "source" in line]
        assert len(errors) == 2, lines
        assert any("s3://no-such-bucket/AWSLogs/: NoSuchBucket" in line for line in errors), errors
        assert any("no-such-folder" in line for line in errors), errors
        assert all("\n" not in line for line in errors)
        # wrong credentials: the server checks signatures, and says so in one line
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        bad = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"], FollowSettings(s3_endpoint=s3.endpoint), notify=lines.append)
        bad.cycle()
        assert "SignatureDoesNotMatch" in lines[-1], lines[-1]
        # no credentials at all
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        none = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"], FollowSettings(s3_endpoint=s3.endpoint), notify=lines.append)
        none.cycle()
        assert "no AWS credentials found" in lines[-1], lines[-1]
    finally:
        store.close()


def test_s3_listing_keeps_a_marker_and_etags(estate: Any, s3: S3Server, tmp_path: Path) -> None:
    """Listing resumes after the stored marker; an object rewritten with other content (a new ETag) is read again."""
    bucket = "marker"
    client = _bucket(s3, bucket)
    logs = sorted(estate.logs.rglob("*.json.gz"))[:2]
    client.put_object(Bucket=bucket, Key="AWSLogs/a.json.gz", Body=logs[0].read_bytes())
    _env(s3)
    store = Store(tmp_path / "follow.db")
    try:
        follower = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"], FollowSettings(s3_endpoint=s3.endpoint), notify=lambda _: None)
        follower.cycle()
        assert follower._marker(follower.prefixes[0]) == "AWSLogs/a.json.gz"
        listed, _ = S3Reader(s3.endpoint).list_after(follower.prefixes[0], "AWSLogs/a.json.gz", 10)
        assert listed == []
        client.put_object(Bucket=bucket, Key="AWSLogs/b.json.gz", Body=logs[1].read_bytes())
        follower.cycle()
        assert follower.status.files_read == 2
        assert follower._marker(follower.prefixes[0]) == "AWSLogs/b.json.gz"
    finally:
        store.close()


# -- the real command: kill -9 in the middle, restart, follow -----------------------------------

def _serve(db: Path, s3: S3Server, estate: Any, port: int, out: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [str(VENV_BIN / "trailhound"), "serve", "--db", str(db), "--listen", f"127.0.0.1:{port}", "--source", "s3://live/AWSLogs/",
            "--s3-endpoint", s3.endpoint, "--poll-s", "0.5", "--commit-interval-s", "0.2", "--threat-list", str(estate.threat_list),
            "--trusted-list", str(estate.trusted_list), "--export-file", str(out), "--export-delay-s", "0"]
    return subprocess.Popen(args, env={**os.environ, **s3.env, "TRAILHOUND_DEBUG": "1"}, stdout=subprocess.DEVNULL,
                            stderr=open(log, "ab"), start_new_session=True)


def _wait(what: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return orjson.loads(r.read())


def test_serve_killed_mid_ingest_resumes_with_nothing_lost_or_doubled(estate: Any, s3: S3Server, tmp_path: Path) -> None:
    from api_server import _free_port

    client = _bucket(s3, "live")
    history = sorted(f for f in (estate.logs / "AWSLogs").rglob("*") if f.is_file())
    # history first; the attack day's objects arrive while serve runs
    later = [f for f in history if "_20261103T" in f.name]
    first = [f for f in history if f not in later]
    assert first and later, "the estate should have objects for both phases"
    for f in first:
        client.put_object(Bucket="live", Key="AWSLogs/" + f.relative_to(estate.logs / "AWSLogs").as_posix(), Body=f.read_bytes())
    db, out, log = tmp_path / "serve.db", tmp_path / "events.jsonl", tmp_path / "serve.log"
    port = _free_port()
    proc = _serve(db, s3, estate, port, out, log)
    try:
        # kill -9 once some but not all of the history is committed (a checkpoint inside an object, or some objects done)
        _wait(lambda: _count(db, "SELECT count(*) FROM checkpoints WHERE consumed > 0") > 0 or proc.poll() is not None, 120,
              "serve committed nothing")
        done_at_kill = _count(db, "SELECT count(*) FROM s3_objects")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert done_at_kill < len(first), f"serve finished before it was killed: {log.read_text()[-2000:]}"
        partial = _count(db, "SELECT count(*) FROM checkpoints WHERE complete = 0")
        proc = _serve(db, s3, estate, port, out, log)
        # the API answers while the follower reads
        _wait(lambda: _try_health(port) is not None, 60, f"serve did not answer: {log.read_text()[-2000:]}")
        _wait(lambda: _count(db, "SELECT count(*) FROM s3_objects") == len(first), 180, f"history not read: {log.read_text()[-3000:]}")
        for f in later:
            client.put_object(Bucket="live", Key="AWSLogs/" + f.relative_to(estate.logs / "AWSLogs").as_posix(), Body=f.read_bytes())
        _wait(lambda: _count(db, "SELECT count(*) FROM s3_objects") == len(history), 120, f"new objects not read: {log.read_text()[-3000:]}")
        health = _health(port)
        assert health["status"] == "ok" and health["follow"]["errors"] == {}
        _wait(lambda: _health(port)["export"]["sent"] >= 1 and _pending_exports(db) == 0, 60, "findings not exported")
    finally:
        stop(proc)
    store = Store(db, readonly=True)
    try:
        got = _summary(store)
        stored = {f["id"]: f["updatedAt"] for f in store.findings() if not f["service"]["archived"]}
    finally:
        store.close()
    want = _reference(estate, tmp_path, [first, later])
    assert got[0] == want[0], f"findings differ from one uninterrupted run (partial checkpoints at kill: {partial})"
    assert got[1] == want[1], "usage differs: events or bytes lost or counted twice"
    # every finding went out at least once, as it last stands; each event id is (finding id, updatedAt)
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    latest = {(e["detail"]["id"], e["detail"]["updatedAt"]) for e in events}
    assert {(fid, up) for fid, up in stored.items()} <= latest
    assert all(e["detail-type"] == "GuardDuty Finding" and e["source"] == "aws.guardduty" for e in events)


def _try_health(port: int) -> dict[str, Any] | None:
    try:
        return _health(port)
    except OSError:
        return None


def _pending_exports(db: Path) -> int:
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as c:
            row = c.execute("SELECT value FROM meta WHERE key LIKE 'export_cursor:file:%'").fetchone()
            ms, _, fid = row[0].partition(" ")
            return int(c.execute("SELECT count(*) FROM findings WHERE archived = 0 AND (updated_ms > ? OR (updated_ms = ? AND id > ?))",
                                 (int(ms), int(ms), fid)).fetchone()[0])
    except (sqlite3.OperationalError, TypeError):
        return 1


def test_threads_stop(s3: S3Server) -> None:
    """(guard) the module's server is still up at the end: the tests above did not take it down."""
    assert s3.client().list_buckets()["Buckets"]
    assert threading.active_count() >= 1


def test_a_later_file_that_sorts_before_the_marker_is_still_read(estate: Any, s3: S3Server, tmp_path: Path) -> None:
    """Keys are in time order per writer, not per day folder: flow log A's next file sorts before flow log B's last one."""
    bucket = "streams"
    client = _bucket(s3, bucket)
    flows = sorted(estate.logs.rglob("*vpcflowlogs*.log.gz"))[:3]
    day = "AWSLogs/111122223333/vpcflowlogs/us-east-1/2026/11/01/"
    client.put_object(Bucket=bucket, Key=day + "111122223333_vpcflowlogs_us-east-1_fl-aaa_20261101T0010Z_1.log.gz", Body=flows[0].read_bytes())
    client.put_object(Bucket=bucket, Key=day + "111122223333_vpcflowlogs_us-east-1_fl-bbb_20261101T0010Z_2.log.gz", Body=flows[1].read_bytes())
    _env(s3)
    store = Store(tmp_path / "follow.db")
    try:
        follower = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"], FollowSettings(s3_endpoint=s3.endpoint), notify=lambda _: None)
        follower.cycle()
        assert follower.status.files_read == 2
        client.put_object(Bucket=bucket, Key=day + "111122223333_vpcflowlogs_us-east-1_fl-aaa_20261101T0015Z_3.log.gz", Body=flows[2].read_bytes())
        follower.cycle()
        assert follower.status.files_read == 3
        follower.cycle()
        assert follower.status.files_read == 3
    finally:
        store.close()
