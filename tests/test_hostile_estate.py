"""Issue 11's promise, end to end: an estate's findings are the same with and without any one
hostile input added to it, and no input takes the scan past its memory bound."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.simulator.labelled import simulate
from trailhound.simulator.records import iam_user, record
from trailhound.store.database import Store

T = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # inside the simulated estate's ordinary day
ACCOUNT = "111122223333"
FLOW_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
MAX_FILE_MB = 20.0


def _benign_ct(n: int, who: str) -> list[dict]:
    return [record("DescribeInstances", "ec2.amazonaws.com", time=T + timedelta(seconds=41 * i), identity=iam_user(ACCOUNT, who))
            for i in range(n)]


def _records_file(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def _with_one_bad_record(path: Path, bad: bytes) -> None:
    good = [json.dumps(r).encode() for r in _benign_ct(6, "hostile")]
    _records_file(path, b'{"Records": [' + b",".join(good[:3] + [bad] + good[3:]) + b"]}")


def _deep(path: Path) -> None:
    rec = json.dumps(_benign_ct(1, "deep")[0]).encode()
    _with_one_bad_record(path, rec[:-1] + b', "requestParameters": ' + b"[" * 10_000 + b"]" * 10_000 + b"}")


def _bad_time(year: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        rec = _benign_ct(1, "clock")[0]
        rec["eventTime"] = f"{year}-01-01T00:00:00Z"
        _with_one_bad_record(path, json.dumps(rec).encode())
    return write


def _invalid_utf8(path: Path) -> None:
    rec = json.dumps(_benign_ct(1, "utf")[0]).encode()
    _with_one_bad_record(path, rec.replace(b'"DescribeInstances"', b'"Describe\xff\xfeInstances"'))


def _nul(path: Path) -> None:
    rec = json.dumps(_benign_ct(1, "nul")[0]).encode()
    _with_one_bad_record(path, rec.replace(b'"DescribeInstances"', b'"Describe\x00Instances"'))


def _escape(path: Path) -> None:
    rec = _benign_ct(1, "tty")[0]
    rec["userAgent"] = "\x1b]0;pwned\x07\x1b[2J"
    rec["eventTime"] = 7  # and the wrong type, so that the record is quoted in a bad-input line
    _with_one_bad_record(path, json.dumps(rec).encode())


def _truncated_gzip(path: Path) -> None:
    stored = gzip.compress(json.dumps({"Records": _benign_ct(200, "cut")}).encode())
    _records_file(path.with_suffix(".json.gz"), stored[: len(stored) // 2])


def _bomb(path: Path) -> None:
    # 60 MB of zeros in ~60 KB: over the scan's limit, so it must cost this file only
    _records_file(path.with_suffix(".log.gz"), gzip.compress(b"\0" * 60_000_000, compresslevel=9))


def _unknown_flow_field(path: Path) -> None:
    start = int(T.timestamp())
    lines = [f"{FLOW_HEADER} future-field"] + [
        f"2 {ACCOUNT} eni-0a1b2c3d 10.0.1.25 52.94.236.248 {40000 + i} 443 6 3 180 {start + 60 * i} {start + 60 * i + 30} ACCEPT OK x{i}"
        for i in range(10)]
    _records_file(path.with_suffix(".log"), ("\n".join(lines) + "\n").encode())


def _bom_dns(path: Path) -> None:
    line = {"version": "1.100000", "account_id": ACCOUNT, "region": "us-east-1", "vpc_id": "vpc-0abc1234",
            "query_timestamp": T.strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": "example.com.", "query_type": "A", "query_class": "IN",
            "rcode": "NOERROR", "answers": [], "srcaddr": "10.0.1.25", "srcport": "5353", "transport": "UDP", "srcids": {}}
    _records_file(path.with_suffix(".log"), b"\xef\xbb\xbf" + json.dumps(line).encode() + b"\n")


def _fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path.with_suffix(".log"))


def _symlink_loop(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.parent / "b.log", path.parent / "a.log")
    os.symlink(path.parent / "a.log", path.parent / "b.log")


def _garbage(path: Path) -> None:
    _records_file(path.with_suffix(".json"), bytes(range(256)) * 100)


# each input, and the good events in it that must still be analysed (None: some, how many depends on the cut)
CT6 = {"cloudtrail": 6}
HOSTILE: dict[str, tuple[Callable[[Path], None], dict[str, int] | None]] = {
    "record before 2006": (_bad_time("0001"), CT6), "record in 9999": (_bad_time("9999"), CT6),
    "invalid UTF-8 in a record": (_invalid_utf8, CT6), "NUL in a record": (_nul, CT6), "10,000 nested arrays": (_deep, CT6),
    "terminal escapes": (_escape, CT6), "truncated CloudTrail gzip": (_truncated_gzip, None), "gzip bomb": (_bomb, {}),
    "unknown flow field": (_unknown_flow_field, {"flow": 10}), "byte-order mark": (_bom_dns, {"dns": 1}), "FIFO": (_fifo, {}),
    "symlink loop": (_symlink_loop, {}), "binary garbage": (_garbage, {}),
}


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return simulate(tmp_path_factory.mktemp("hostile"), None, seed=5, scale=0.02, days=1, delivery="large")


def _scan(estate, logs: Path, db: Path) -> tuple[list[tuple], dict[str, int]]:  # type: ignore[no-untyped-def]
    settings = ScanSettings(threat_lists=[estate.threat_list], trusted_lists=[estate.trusted_list], inventory=[estate.inventory],
                            max_file_mb=MAX_FILE_MB)
    store = Store(db)
    report = Scanner(store, settings).scan([logs])
    return sorted((f["type"], f["id"], f["service"]["count"]) for f in store.findings()), dict(report.events)


@pytest.fixture(scope="module")
def clean(estate, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple], dict[str, int]]:  # type: ignore[no-untyped-def]
    found = _scan(estate, estate.logs, tmp_path_factory.mktemp("clean") / "s.db")
    assert len(found[0]) >= 40  # the attack day is there to be found
    return found


@pytest.mark.parametrize("name", list(HOSTILE))
def test_one_hostile_input_changes_no_finding(estate, clean, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """The same findings, and the good records of the hostile file analysed beside the estate's."""
    logs = tmp_path / "logs"
    shutil.copytree(estate.logs, logs, symlinks=True)
    write, good = HOSTILE[name]
    write(logs / "hostile" / "input.json")
    findings, events = _scan(estate, logs, tmp_path / "s.db")
    assert findings == clean[0]
    extra = {k: events.get(k, 0) - clean[1].get(k, 0) for k in set(events) | set(clean[1])}
    if good is None:
        assert extra.get("cloudtrail", 0) > 0 and sum(extra.values()) == extra["cloudtrail"]
    else:
        assert {k: v for k, v in extra.items() if v} == good


def test_hostile_inputs_stay_under_the_memory_bound(estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every hostile input at once, scanned by the real command: one line each, exit 0, peak RSS
    well under the documented ~1 GB."""
    logs = tmp_path / "logs"
    shutil.copytree(estate.logs, logs, symlinks=True)
    for i, (write, _) in enumerate(HOSTILE.values()):
        write(logs / f"hostile-{i}" / "input.json")
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('VmHWM', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr))\n"
            "from trailhound.cli import app\napp()")
    p = subprocess.run([sys.executable, "-c", code, "scan", str(logs), "--db", str(tmp_path / "s.db"), "--max-file-mb", str(MAX_FILE_MB)],
                       capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert b"\x1b]0;pwned" not in p.stdout + p.stderr
    peak_kb = int(p.stderr.decode().rsplit("VmHWM", 1)[1].split()[0])
    assert peak_kb < 700_000, peak_kb
