"""`serve --sqs-queue`: S3 event notifications (in S3's own JSON, through moto's SQS server run here as
a subprocess) name the objects to read from a real S3-compatible server (SeaweedFS); listing stays
the fallback. A message is deleted only once what it names is committed, and a `serve` killed with -9
before a commit, between a commit and the SQS delete, or between an export and its cursor ends, once
restarted, with the findings, usage and exported events of one uninterrupted run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.simulator.labelled import simulate
from trailhound.sources.follow import Follower, FollowSettings
from trailhound.sources.sqs import parse
from trailhound.store.database import Store

sys.path.insert(0, str(Path(__file__).parent))
from serve_proc import stop  # noqa: E402
from s3_server import S3Server, s3_server  # noqa: E402
from sqs_server import notification, record as _record, sqs_client as _sqs, sqs_server  # noqa: E402

TYPES = ["UnauthorizedAccess:EC2/SSHBruteForce", "Stealth:IAMUser/CloudTrailLoggingDisabled", "Recon:IAMUser/MaliciousIPCaller.Custom",
         "Trojan:EC2/DNSDataExfiltration", "Backdoor:EC2/C&CActivity.B!DNS"]
VENV_BIN = Path(sys.executable).parent


TEST_EVENT = orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-03T10:00:00.000Z", "Bucket": "live",
                           "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}).decode()


def test_notifications_parse_as_s3_writes_them() -> None:
    [n] = parse(notification("logs", "AWSLogs/uploads/my file+1 (copy).json.gz", 120, "abc123"))
    assert (n.bucket, n.key, n.size, n.etag) == ("logs", "AWSLogs/uploads/my file+1 (copy).json.gz", 120, "abc123")
    assert parse(TEST_EVENT) == []
    assert parse(notification("logs", "AWSLogs/x.json.gz", 1, "e", event="ObjectRemoved:Delete")) == []  # nothing to read
    sns = orjson.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                        "Message": notification("logs", "k%", 3, "e")}).decode()
    assert [x.key for x in parse(sns)] == ["k%"]
    for bad in ("", "{", "[]", '{"Records": 3}', '{"Records": [{"eventSource": "aws:sqs"}]}',
                '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}'):
        with pytest.raises(ValueError):
            parse(bad)


# -- the servers ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sqs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """moto's server mode, as SQS (no real SQS-compatible server is at hand here)."""
    with sqs_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two days of habits and an attack day, in few objects (about 30,000 events)."""
    return simulate(tmp_path_factory.mktemp("estate"), TYPES, seed=5, scale=0.5, days=2, delivery="large")


def _settings(estate: Any) -> ScanSettings:
    return ScanSettings(threat_lists=[estate.threat_list], trusted_lists=[estate.trusted_list])


def _logs(estate: Any) -> list[Path]:
    return sorted(f for f in (estate.logs / "AWSLogs").rglob("*") if f.is_file())


def _put(s3: S3Server, queue: str | None, sqs_endpoint: str, bucket: str, key: str, data: bytes) -> None:
    """Upload, and (with a queue) send the notification S3 would send for it."""
    etag = s3.client().put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
    if queue:
        _sqs(sqs_endpoint).send_message(QueueUrl=queue, MessageBody=notification(bucket, key, len(data), etag))


def _queued(sqs_endpoint: str, queue: str) -> int:
    """Messages on the queue, visible or in flight (received, not deleted)."""
    a = _sqs(sqs_endpoint).get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages",
                                                                                 "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def _summary(store: Store) -> tuple[dict[str, tuple[str, int]], list[dict[str, Any]]]:
    return {f["id"]: (f["type"], f["service"]["count"]) for f in store.findings()}, store.usage()


def _reference(estate: Any, tmp_path: Path) -> tuple[dict[str, tuple[str, int]], list[dict[str, Any]]]:
    store = Store(tmp_path / "reference.db")
    try:
        Scanner(store, _settings(estate)).scan(_logs(estate))
        return _summary(store)
    finally:
        store.close()


# -- in-process ----------------------------------------------------------------------------------

def _bucket_and_queue(s3: S3Server, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch, name: str) -> str:
    """A new bucket and queue of that name, and the S3 server's credentials in the environment; the queue's URL."""
    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    s3.client().create_bucket(Bucket=name)
    return str(_sqs(sqs_endpoint).create_queue(QueueName=name)["QueueUrl"])


def test_notifications_name_new_objects_and_listing_is_the_fallback(estate: Any, s3: S3Server, sqs_endpoint: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = "notified"
    queue = _bucket_and_queue(s3, sqs_endpoint, monkeypatch, bucket)
    logs = sorted(estate.logs.rglob("*.json.gz"))
    store = Store(tmp_path / "follow.db")
    lines: list[str] = []
    try:
        follower = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"],
                            FollowSettings(s3_endpoint=s3.endpoint, sqs_queue=queue, list_interval_s=3600, sqs_visibility_s=30),
                            notify=lines.append)
        follower.cycle()  # the first cycle lists (nothing there yet)
        _sqs(sqs_endpoint).send_message(QueueUrl=queue, MessageBody=TEST_EVENT)
        # a notified object (its key URL-encoded in the message), one uploaded without a notification, and
        # notifications of an object outside the prefix and of a removal: only the first is read
        odd = "AWSLogs/uploads/trail 2026+11 (1).json.gz"
        _put(s3, queue, sqs_endpoint, bucket, odd, logs[0].read_bytes())
        _put(s3, None, sqs_endpoint, bucket, "AWSLogs/quiet.json.gz", logs[1].read_bytes())
        _put(s3, queue, sqs_endpoint, bucket, "elsewhere/other.json.gz", logs[1].read_bytes())
        _sqs(sqs_endpoint).send_message(QueueUrl=queue, MessageBody=notification(bucket, "AWSLogs/quiet.json.gz", 1, "x", "ObjectRemoved:Delete"))
        _sqs(sqs_endpoint).send_message(QueueUrl=queue, MessageBody="this is not JSON")
        follower.cycle()
        assert follower.status.files_read == 1
        assert _checkpoints(store) == [f"s3://{bucket}/{odd}"]
        assert _queued(sqs_endpoint, queue) == 0, "every message is deleted: read, or about nothing to read"
        assert follower.status.sqs_ignored == 1 and any("not an S3 event notification" in line for line in lines)
        # a redelivered notification of an object already read: deleted without reading it again
        _sqs(sqs_endpoint).send_message(QueueUrl=queue, MessageBody=notification(bucket, odd, logs[0].stat().st_size,
                                                                                 s3.client().head_object(Bucket=bucket, Key=odd)["ETag"].strip('"')))
        # ...and one of an object deleted before it was fetched
        _put(s3, queue, sqs_endpoint, bucket, "AWSLogs/gone.json.gz", logs[2].read_bytes())
        s3.client().delete_object(Bucket=bucket, Key="AWSLogs/gone.json.gz")
        follower.cycle()
        assert follower.status.files_read == 1
        assert _queued(sqs_endpoint, queue) == 0
        # the listing, when due, finds what no notification named
        follower._listed_at = float("-inf")
        follower.cycle()
        assert follower.status.files_read == 2
        assert sorted(_checkpoints(store)) == sorted([f"s3://{bucket}/{odd}", f"s3://{bucket}/AWSLogs/quiet.json.gz"])
        follower.close()
    finally:
        store.close()


def _checkpoints(store: Store) -> list[str]:
    from sqlalchemy import select

    from trailhound.store import tables as t

    return list(store.conn.execute(select(t.checkpoints.c.path)).scalars())


def test_a_message_stays_on_the_queue_until_its_object_is_read(estate: Any, s3: S3Server, sqs_endpoint: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The object cannot be fetched (the S3 endpoint is down): the message is not deleted, and comes back."""
    bucket = "flaky"
    queue = _bucket_and_queue(s3, sqs_endpoint, monkeypatch, bucket)
    data = sorted(estate.logs.rglob("*.json.gz"))[0].read_bytes()
    store = Store(tmp_path / "follow.db")
    try:
        down = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"],
                        FollowSettings(s3_endpoint=f"http://127.0.0.1:{_free_port()}", sqs_queue=queue, list_interval_s=3600, sqs_visibility_s=1),
                        notify=lambda _: None)
        _put(s3, queue, sqs_endpoint, bucket, "AWSLogs/a.json.gz", data)
        down.cycle()
        assert down.status.files_read == 0 and down.status.sqs_received == 1 and down.status.sqs_deleted == 0
        assert _queued(sqs_endpoint, queue) == 1
        time.sleep(1.5)  # its visibility timeout passes: another follower (the endpoint back) gets it
        up = Follower(store, _settings(estate), [f"s3://{bucket}/AWSLogs/"],
                      FollowSettings(s3_endpoint=s3.endpoint, sqs_queue=queue, list_interval_s=3600), notify=lambda _: None)
        up._listed_at = time.time()  # no listing: the message alone names it
        up.cycle()
        assert up.status.files_read == 1 and up.status.sqs_deleted == 1
        assert _queued(sqs_endpoint, queue) == 0
    finally:
        store.close()


# -- the real command, killed -9 at the crash points -----------------------------------------------

def _serve(db: Path, s3: S3Server, estate: Any, port: int, queue: str, out: Path, log: Path, failpoint: str | None) -> subprocess.Popen[bytes]:
    args = [str(VENV_BIN / "trailhound"), "serve", "--db", str(db), "--listen", f"127.0.0.1:{port}", "--source", "s3://live/AWSLogs/",
            "--s3-endpoint", s3.endpoint, "--sqs-queue", queue, "--sqs-visibility-s", "2", "--list-interval-s", "3600", "--poll-s", "0.3",
            "--commit-interval-s", "0.2", "--threat-list", str(estate.threat_list), "--trusted-list", str(estate.trusted_list),
            "--export-file", str(out), "--export-delay-s", "0"]
    env = {**os.environ, **s3.env, "TRAILHOUND_DEBUG": "1"}
    env.pop("TRAILHOUND_FAILPOINT", None)
    if failpoint:
        env["TRAILHOUND_FAILPOINT"] = failpoint
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"), start_new_session=True)


def _wait(what: Any, timeout: float, message: Any) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.1)


def _health(port: int) -> dict[str, Any] | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return dict(orjson.loads(r.read()))
    except OSError:
        return None


@pytest.mark.parametrize("point", ["follow:before-commit", "follow:before-sqs-delete", "export:before-cursor"])
def test_serve_killed_at_a_crash_point_loses_and_doubles_nothing(point: str, estate: Any, s3: S3Server, sqs_endpoint: str,
                                                                 tmp_path: Path) -> None:
    bucket_client = s3.client()
    if not any(b["Name"] == "live" for b in bucket_client.list_buckets().get("Buckets", [])):
        bucket_client.create_bucket(Bucket="live")
    for obj in bucket_client.list_objects_v2(Bucket="live").get("Contents", []):
        bucket_client.delete_object(Bucket="live", Key=obj["Key"])
    queue = _sqs(sqs_endpoint).create_queue(QueueName="live-" + point.replace(":", "-"))["QueueUrl"]
    db, out, log = tmp_path / "serve.db", tmp_path / "events.jsonl", tmp_path / "serve.log"
    port = _free_port()
    proc = _serve(db, s3, estate, port, queue, out, log, point)
    logs = _logs(estate)
    try:
        # it starts on an empty bucket (its one listing finds nothing); then the logs arrive, and one notification
        # names them all (a message's Records is a list): they are read in one cycle, as one scan reads them
        _wait(lambda: (_health(port) or {}).get("follow", {}).get("cycles", 0) >= 1 or proc.poll() is not None, 60,
              lambda: f"serve did not start: {log.read_text()[-2000:]}")
        records = []
        for f in logs:
            key = "AWSLogs/" + f.relative_to(estate.logs / "AWSLogs").as_posix()
            etag = bucket_client.put_object(Bucket="live", Key=key, Body=f.read_bytes())["ETag"].strip('"')
            records.append(_record("live", key, f.stat().st_size, etag))
        _sqs(sqs_endpoint).send_message(QueueUrl=queue, MessageBody=orjson.dumps({"Records": records}).decode())
        _wait(lambda: proc.poll() is not None, 120, lambda: f"serve did not reach {point}: {log.read_text()[-2000:]}")
        assert proc.returncode == -signal.SIGKILL, log.read_text()[-2000:]
        if point.startswith("follow:"):
            assert _queued(sqs_endpoint, queue) == 1, "the message was deleted before what it names was committed"
        proc = _serve(db, s3, estate, port, queue, out, log, None)
        # the restart lists once (finding what the checkpoints do not hold); the message comes back after its
        # visibility timeout and is deleted once everything it names is committed
        _wait(lambda: _queued(sqs_endpoint, queue) == 0, 180, lambda: f"queue not drained: {log.read_text()[-3000:]}")
        _wait(lambda: (h := _health(port)) is not None and h["export"]["sent"] >= 1 and _exported_all(db, out), 60,
              lambda: f"findings not exported: {log.read_text()[-3000:]}")
        metrics = _metrics(port)
    finally:
        stop(proc)
    store = Store(db, readonly=True)
    try:
        got = _summary(store)
        stored = {(f["id"], f["updatedAt"]) for f in store.findings() if not f["service"]["archived"]}
    finally:
        store.close()
    want = _reference(estate, tmp_path)
    assert len(want[0]) >= 5
    assert got[0] == want[0], "findings differ from one uninterrupted scan"
    assert got[1] == want[1], "usage differs: events or bytes lost or counted twice"
    if point.startswith("follow:"):  # the message outlived the first process: the second deleted it
        assert metrics["trailhound_sqs_messages_deleted_total"] == 1
    assert 'trailhound_source_lag_seconds{source="s3://live/AWSLogs/"}' in metrics
    if point == "follow:before-commit":  # the restarted process read everything: its counter is the whole estate's
        assert metrics['trailhound_source_events_total{source="s3://live/AWSLogs/"}'] == sum(u["events"] for u in got[1])
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    by_id: dict[str, tuple[str, str]] = {}
    for e in events:
        assert by_id.setdefault(e["id"], (e["detail"]["id"], e["detail"]["updatedAt"])) == (e["detail"]["id"], e["detail"]["updatedAt"])
    assert stored <= set(by_id.values()), "a finding as it stands was never exported"
    if point == "export:before-cursor":
        assert len(events) > len(by_id), "the event delivered before the kill went out again (at least once)"


def _metrics(port: int) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")}


def _exported_all(db: Path, out: Path) -> bool:
    if not out.exists():
        return False
    store = Store(db, readonly=True)
    try:
        stored = {(f["id"], f["updatedAt"]) for f in store.findings() if not f["service"]["archived"]}
    finally:
        store.close()
    sent = {(e["detail"]["id"], e["detail"]["updatedAt"]) for e in map(orjson.loads, out.read_bytes().splitlines())}
    return bool(stored) and stored <= sent
