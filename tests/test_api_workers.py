"""``serve --workers N``: several processes answer on one socket, on SQLite and PostgreSQL. A change of
who sees what made through one worker holds at once in every other (their caches share a counter),
the workers end with the first process even when it is killed with -9, and a bad count is refused."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from trailhound.api.commands import issue_key
from trailhound.findings.model import decode, encode
from trailhound.findings.samples import sample_findings
from trailhound.store.database import Store, transaction, write_findings

ADMIN, MEMBER = "111122223333", "444455556666"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def served(store_url: str, tmp_path: Path):
    """A store with findings of the admin and of a future member, and `serve --workers 2` on it."""
    master = secrets.token_bytes(32)
    store = Store(store_url, service=True)
    findings = []
    for i, f in enumerate(sample_findings()[:6]):
        f = decode(encode(f))
        f.account_id, f.region, f.id = (ADMIN, MEMBER)[i % 2], "us-east-1", f"{i:032x}"
        findings.append(f)
    with transaction(store.connect()) as c:
        write_findings(c, findings)
    keys = {a: issue_key(store.connect(), master, a, a == ADMIN) for a in (ADMIN, MEMBER)}
    store.close()
    port = _port()
    env = {**os.environ, "TRAILHOUND_MASTER_KEY": base64.b64encode(master).decode()}
    proc = subprocess.Popen([sys.executable, "-c", "from trailhound.cli import app; app()", "serve", "--db", store_url,
                             "--listen", f"127.0.0.1:{port}", "--workers", "2"], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:  # answering (the socket listens before the workers have started), with its worker forked
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200 and len(_children(proc.pid)) == 1:
                    break
        except OSError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.1)
    try:
        yield proc, f"http://127.0.0.1:{port}", keys, findings
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def _client(endpoint: str, key: tuple[str, str]):
    """A new client: its own connection, which either worker may take."""
    return boto3.client("guardduty", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key[0],
                        aws_secret_access_key=key[1], config=Config(retries={"max_attempts": 1}))


def test_a_new_member_is_seen_at_once_by_every_worker(served) -> None:
    proc, endpoint, keys, findings = served
    assert len(_children(proc.pid)) == 1  # the first process and one forked worker
    admin = _client(endpoint, keys[ADMIN])
    detector = admin.create_detector(Enable=True)["DetectorId"]
    member_ids = sorted(f.id for f in findings if f.account_id == MEMBER)
    own_ids = sorted(f.id for f in findings if f.account_id == ADMIN)
    # every worker learns (and keeps for 2 s) that the admin sees only its own account
    for _ in range(16):
        got = _client(endpoint, keys[ADMIN]).get_findings(DetectorId=detector, FindingIds=member_ids + own_ids)["Findings"]
        assert sorted(f["Id"] for f in got) == own_ids
    admin.create_members(DetectorId=detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    for _ in range(16):  # at once, whichever worker answers
        got = _client(endpoint, keys[ADMIN]).get_findings(DetectorId=detector, FindingIds=member_ids)["Findings"]
        assert sorted(f["Id"] for f in got) == member_ids
    admin.delete_members(DetectorId=detector, AccountIds=[MEMBER])
    for _ in range(16):  # and gone again at once
        assert _client(endpoint, keys[ADMIN]).get_findings(DetectorId=detector, FindingIds=member_ids)["Findings"] == []
    # the member's own key still sees only its own findings, through any worker
    member = _client(endpoint, keys[MEMBER])
    mdet = member.create_detector(Enable=True)["DetectorId"]
    for _ in range(8):
        got = _client(endpoint, keys[MEMBER]).get_findings(DetectorId=mdet, FindingIds=member_ids + own_ids)["Findings"]
        assert sorted(f["Id"] for f in got) == member_ids


def test_workers_end_with_the_first_process_even_when_it_is_killed(served) -> None:
    proc, endpoint, keys, _ = served
    [worker] = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 20
    while _alive(worker):
        assert time.monotonic() < deadline, "the worker outlived the first process"
        time.sleep(0.1)


def test_a_worker_count_below_one_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from trailhound.cli import app; app()", "serve", "--db", str(tmp_path / "s.db"),
                           "--workers", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--workers must be at least 1" in done.stderr
    assert not (tmp_path / "s.db").exists()  # refused before anything was made
