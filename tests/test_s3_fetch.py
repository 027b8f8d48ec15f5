"""The follower's S3 fetching, against SeaweedFS (which checks signatures): GETs signed by botocore's
signer on pooled urllib3 (the bytes as stored, S3's errors worded as boto3's, ``gone`` only for an
object deleted or rewritten), and the fetch process that lists, GETs, gunzips and plans beside the
ingesting process — its hand-over equal to reading the spool in place, started again after it died,
and gone when its parent is killed."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from trailhound.sources.fetcher import Fetcher, Prefetched
from trailhound.sources.files import read
from trailhound.sources.s3 import S3Location, S3Object, SourceError
from trailhound.sources.s3_get import ObjectGetter
from trailhound.timeline import plan

sys.path.insert(0, str(Path(__file__).parent))
from s3_server import SECRET_KEY, S3Server, s3_server  # noqa: E402

KEYS = ["AWSLogs/plain.json", "AWSLogs/a b+c=d&e%f~g,h;i@j$k!(l)'m.json.gz", "AWSLogs/naïve/日本/€.log.gz"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        client = server.client()
        client.create_bucket(Bucket="fetch")
        yield server


@pytest.fixture()
def env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    return s3


def _ct(n: int) -> bytes:
    records = [{"eventVersion": "1.08", "eventTime": f"2026-11-01T10:{i:02d}:00Z", "eventSource": "s3.amazonaws.com",
                "eventName": "ListBuckets", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "recipientAccountId": "111122223333", "eventID": f"e{n}-{i}",
                "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:user/alice"}}
               for i in range(n)]
    import json

    return json.dumps({"Records": records}).encode()


def _put(s3: S3Server, key: str, body: bytes, **kw: Any) -> S3Object:
    etag = s3.client().put_object(Bucket="fetch", Key=key, Body=body, **kw)["ETag"].strip('"')
    return S3Object(S3Location("fetch", "AWSLogs/"), key, etag, len(body), 0.0)


def test_a_signed_get_returns_the_stored_bytes(env: S3Server) -> None:
    getter = ObjectGetter(env.endpoint)
    bodies = [_ct(3), gzip.compress(_ct(5)), gzip.compress(b"2 111122223333 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK\n")]
    for key, body in zip(KEYS, bodies):
        assert getter.get(_put(env, key, body), 10_000) == body, key  # keys that need escaping are signed as S3 reads them
    # stored with Content-Encoding: gzip (as some writers do): the bytes as stored, not decoded on the way (as boto3 gives them)
    zipped = _put(env, "AWSLogs/encoded.json.gz", bodies[1], ContentEncoding="gzip")
    assert getter.get(zipped, 10_000) == bodies[1]
    # larger than the limit: not held (None), and the next GET on the pool still works
    assert getter.get(zipped, len(bodies[1]) - 1) is None
    assert getter.get(zipped, len(bodies[1])) == bodies[1]


def test_s3s_answers_are_one_line_and_gone_only_for_a_changed_object(env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    getter = ObjectGetter(env.endpoint)
    obj = _put(env, "AWSLogs/rewritten.json", _ct(1))
    _put(env, obj.key, _ct(2))  # rewritten since it was listed: its old ETag no longer matches
    with pytest.raises(SourceError) as exc:
        getter.get(obj, 10_000)
    assert exc.value.gone and str(exc.value).startswith(f"{obj.name}: PreconditionFailed"), exc.value
    deleted = _put(env, "AWSLogs/deleted.json", _ct(1))
    env.client().delete_object(Bucket="fetch", Key=deleted.key)
    with pytest.raises(SourceError) as exc:
        getter.get(deleted, 10_000)
    assert exc.value.gone and str(exc.value).startswith(f"{deleted.name}: NoSuchKey")
    # near misses: a wrong secret, no credentials, no server — the source cannot be read now; the object is not gone
    fine = _put(env, "AWSLogs/fine.json", _ct(1))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY[::-1])
    with pytest.raises(SourceError) as exc:
        ObjectGetter(env.endpoint).get(fine, 10_000)
    assert not exc.value.gone and "SignatureDoesNotMatch" in str(exc.value) and "\n" not in str(exc.value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceError) as exc:
        ObjectGetter(env.endpoint).get(fine, 10_000)
    assert not exc.value.gone and "no AWS credentials found" in str(exc.value)
    for k, v in env.env.items():
        monkeypatch.setenv(k, v)
    assert ObjectGetter(env.endpoint).get(fine, 10_000) == _ct(1)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(SourceError) as exc:
        ObjectGetter(f"http://127.0.0.1:{closed}").get(fine, 10_000)
    assert not exc.value.gone and str(exc.value) == f"{fine.name}: Could not connect to the endpoint URL: http://127.0.0.1:{closed}"


def test_the_fetch_process_hands_over_what_reading_the_spool_gives(env: S3Server, tmp_path: Path) -> None:
    objs = [_put(env, f"AWSLogs/ct/111122223333_CloudTrail_us-east-1_20261101T10{i:02d}Z_x.json.gz", gzip.compress(_ct(i + 1)))
            for i in range(6)]
    objs.append(_put(env, "AWSLogs/ct/notes.json", b"not a log at all"))
    missing = S3Object(objs[0].location, "AWSLogs/ct/never-there.json.gz", "", 10, 0.0)
    damaged = _put(env, "AWSLogs/ct/damaged.json.gz", gzip.compress(_ct(4))[:-30])
    fetcher = Fetcher(env.endpoint, limit=10_000_000, threads=4, handoff_bytes=1500)
    try:
        listed, more = fetcher.list_after(S3Location("fetch", "AWSLogs/ct/"), "", 100)
        assert not more and {o.key for o in listed} == {o.key for o in objs + [damaged]}
        assert {o.key: o.etag for o in listed} == {o.key: o.etag for o in objs + [damaged]}
        jobs = [(o, tmp_path / f"{i:06d}") for i, o in enumerate(objs + [missing, damaged])]
        got = fetcher.fetch(jobs)
    finally:
        fetcher.close()
    assert set(got.errors) == {missing.name} and got.errors[missing.name].gone
    assert not got.too_large
    spooled = [p for o, p in jobs if o is not missing]
    assert all(p.exists() for p in spooled) and not jobs[-2][1].exists()
    # within the budget (1,500 decompressed bytes), the first files' content, exactly as reading the spool file gives it
    assert 1 <= len(got.content) < len(spooled)
    assert list(got.content) == [str(p) for p in spooled[: len(got.content)]]
    for path, raw in got.content.items():
        assert raw == read(Path(path), 10_000_000)
    # the plan of a chunk with a local file too: the same as planning every file in place
    local = tmp_path / "local" / "111122223333_CloudTrail_us-east-1_20261101T1003Z_y.json"
    local.parent.mkdir()
    local.write_bytes(_ct(2))
    paths = [*spooled, local]
    reading = Prefetched(got)
    assert reading.plan(paths) == plan(paths)
    first = spooled[0]
    assert reading.take(first) == read(first, 10_000_000) and reading.take(first) is None  # handed over once
    assert reading.take(local) is None  # read in place


def test_the_fetch_process_is_started_again_after_it_died(env: S3Server) -> None:
    fetcher = Fetcher(env.endpoint, limit=1000, threads=2, handoff_bytes=1000)
    where = S3Location("fetch", "AWSLogs/")
    try:
        assert fetcher.streams(where)
        pid = fetcher.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        with pytest.raises(SourceError, match="fetch process ended unexpectedly"):
            fetcher.streams(where)
        assert fetcher.streams(where)
        assert fetcher.pid() not in (None, pid)
    finally:
        fetcher.close()


def test_the_fetch_process_ends_when_its_parent_is_killed(env: S3Server, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, signal
        from trailhound.sources.fetcher import Fetcher
        from trailhound.sources.s3 import S3Location
        if __name__ == "__main__":
            f = Fetcher({env.endpoint!r}, 1000, 2, 1000)
            f.streams(S3Location("fetch", "AWSLogs/"))
            print(f.pid(), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    (tmp_path / "parent.py").write_text(script)
    run = subprocess.run([sys.executable, str(tmp_path / "parent.py")], capture_output=True, text=True, env={**os.environ, **env.env},
                         timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    child = int(run.stdout.strip())
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the fetch process outlived its parent"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (its reaper is init)
