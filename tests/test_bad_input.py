"""Bad input never stops a scan: it is set aside with a one-line reason, and everything good is processed."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import scan, write_cloudtrail

from trailhound.detectors.cloudtrail_logging import cases as logging_cases
from trailhound.simulator.records import iam_user, record

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
FLOW_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
TRAILHOUND = Path(sys.executable).with_name("trailhound")


def _benign(n: int, start: datetime, who: str = "bob") -> list[dict[str, Any]]:
    return [record("DescribeInstances", "ec2.amazonaws.com", time=start + timedelta(seconds=37 * i),
                   identity=iam_user(ACCOUNT, who)) for i in range(n)]


def _dns_lines(n: int, start: datetime) -> list[bytes]:
    out = []
    for i in range(n):
        rec = {"version": "1.100000", "account_id": ACCOUNT, "region": "us-east-1", "vpc_id": "vpc-0abc1234",
               "query_timestamp": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "query_name": f"host-{i:05d}-{(i * 7919) % 100003:05d}.example.com.", "query_type": "A", "query_class": "IN",
               "rcode": "NOERROR", "answers": [{"Rdata": f"198.51.100.{i % 250}", "Type": "A", "Class": "IN"}],
               "srcaddr": f"10.0.{i % 200}.{i % 250}", "srcport": str(1024 + i), "transport": "UDP",
               "srcids": {"instance": "i-0123456789abcdef0"}}
        out.append(json.dumps(rec).encode())
    return out


def _flow_line(i: int, dstport: str = "443") -> str:
    return (f"2 {ACCOUNT} eni-0a1b2c3d 10.0.1.{i % 250} 198.51.100.{i % 200} {40000 + i} {dstport} 6 {i + 1} "
            f"{100 * (i + 1)} {int((T0 + timedelta(seconds=20 * i)).timestamp())} {int((T0 + timedelta(seconds=20 * i + 60)).timestamp())} ACCEPT OK")


class Estate:
    """A folder of good files and one of each kind of bad input, with what a scan must report."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        stop = next(c for c in logging_cases(T0) if c.name == "stop-logging")
        # good files
        self.good_ct = write_cloudtrail(root / "good" / "trail-1.json.gz", _benign(6, T0) + [stop.record])
        self.good_ct_events = 7
        flows_ok = [_flow_line(i) for i in range(12)]
        self.good_flow = root / "good" / "flows.log"
        self.good_flow.write_text(FLOW_HEADER + "\n" + "\n".join(flows_ok) + "\n")

        # Route 53 NDJSON, gzipped, cut in the middle: complete lines before the cut survive
        lines = _dns_lines(600, T0)
        body = b"\n".join(lines) + b"\n"
        stored = gzip.compress(body, mtime=0)
        self.r53_truncated = root / "dns" / "resolver.log.gz"
        self.r53_truncated.parent.mkdir()
        self.r53_truncated.write_bytes(stored[: len(stored) // 2])
        prefix = zlib.decompressobj(wbits=31).decompress(stored[: len(stored) // 2])
        assert 0 < len(prefix) < len(body) and body.startswith(prefix)
        self.r53_complete_lines = prefix.count(b"\n")
        assert 0 < self.r53_complete_lines < 600

        # CloudTrail {"Records"} gzip cut in the middle: the complete records before the cut survive
        carol = _benign(40, T0, "carol")
        body = json.dumps({"Records": carol}).encode()
        stored = gzip.compress(body, mtime=0)
        self.ct_truncated = root / "ct" / "trail-truncated.json.gz"
        self.ct_truncated.parent.mkdir()
        self.ct_truncated.write_bytes(stored[: len(stored) * 2 // 3])
        prefix = zlib.decompressobj(wbits=31).decompress(stored[: len(stored) * 2 // 3])
        ends = [body.index(json.dumps(r).encode()) + len(json.dumps(r)) for r in carol]
        self.ct_complete = sum(end <= len(prefix) for end in ends)
        assert 0 < self.ct_complete < 40

        # invalid JSON on line 3, after a good record on line 2
        self.invalid_json = root / "ct" / "broken.json"
        good = _benign(2, T0, "dave")
        self.invalid_json.write_text('{"Records": [\n' + json.dumps(good[0]) + ",\n" + '{"eventName": "X", eventTime: oops}\n]}\n')

        # one record of wrong type among good ones
        recs = _benign(5, T0 + timedelta(minutes=1), "erin")
        recs[2]["eventTime"] = 12
        self.bad_record = write_cloudtrail(root / "ct" / "wrong-type.json.gz", recs)
        recs = _benign(4, T0 + timedelta(minutes=2), "frank")
        recs[3]["userIdentity"] = "x"
        self.bad_identity = write_cloudtrail(root / "ct" / "wrong-identity.json", recs, gz=False)
        self.bad_record_good = 4 + 3

        # a flow file with one short line and one non-integer port
        flows = [_flow_line(100 + i) for i in range(20)]
        flows[6] = " ".join(flows[6].split()[:-1])  # 13 fields: line 8 of the file (header is line 1)
        flows[14] = _flow_line(114, dstport="https")  # line 16
        self.bad_flow = root / "flows" / "eni-0a1b2c3d.log.gz"
        self.bad_flow.parent.mkdir()
        self.bad_flow.write_bytes(gzip.compress((FLOW_HEADER + "\n" + "\n".join(flows) + "\n").encode()))
        self.bad_flow_good = 18

        # an unknown binary file and an empty file
        self.binary = root / "misc" / "blob.dat"
        self.binary.parent.mkdir()
        self.binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
        self.empty = root / "misc" / "empty.json"
        self.empty.write_bytes(b"")

    @property
    def bad_files(self) -> list[Path]:
        return [self.r53_truncated, self.ct_truncated, self.invalid_json, self.bad_record, self.bad_identity, self.bad_flow,
                self.binary, self.empty]


@pytest.fixture
def estate(tmp_path: Path) -> Estate:
    return Estate(tmp_path / "logs")


def _for(problems: list[Any], path: Path) -> list[Any]:
    return [p for p in problems if p.path == str(path)]


def test_scan_sets_bad_input_aside_and_processes_the_rest(estate: Estate, tmp_path: Path) -> None:
    report, store = scan([estate.root], db=tmp_path / "x.db")

    # exact counts of the good events
    assert report.events["cloudtrail"] == estate.good_ct_events + estate.bad_record_good + estate.ct_complete + 1
    assert report.events["dns"] == estate.r53_complete_lines
    assert report.events["flow"] == 12 + estate.bad_flow_good
    assert report.events["s3data"] == 0
    assert report.files_total == 10 and report.files_done == 10

    # every problem is one line naming its file
    for p in report.problems:
        text = str(p)
        assert "\n" not in text and "\r" not in text
        assert text.startswith(p.path) and Path(p.path).exists()
    assert {Path(p.path) for p in report.problems} == set(estate.bad_files)

    # truncated Route 53 gzip: the complete lines were processed (counted above), the damage reported
    r53 = _for(report.problems, estate.r53_truncated)
    assert any("truncated" in p.message for p in r53)
    partial = [p for p in r53 if p.line is not None]  # the cut line, if the cut fell inside one
    assert all(p.line == estate.r53_complete_lines + 1 for p in partial)

    # the cut CloudTrail gzip: one line names the damage and what was kept
    [ct_trunc] = _for(report.problems, estate.ct_truncated)
    assert "truncated" in ct_trunc.message and f"kept the {estate.ct_complete} complete records" in ct_trunc.message

    [bad_json] = _for(report.problems, estate.invalid_json)
    assert (bad_json.line, bad_json.record) == (3, 1) and "malformed" in bad_json.message
    assert str(bad_json).startswith(f"{estate.invalid_json}:3 record 1: ")

    [bad_time] = _for(report.problems, estate.bad_record)
    assert (bad_time.record, bad_time.field, bad_time.line) == (2, "eventTime", None)
    assert str(bad_time).startswith(f"{estate.bad_record} record 2: field 'eventTime': ")
    [bad_ident] = _for(report.problems, estate.bad_identity)
    assert (bad_ident.record, bad_ident.field) == (3, "userIdentity")

    short, port = sorted(_for(report.problems, estate.bad_flow), key=lambda p: p.line)
    assert short.line == 8 and "found 13" in short.message and short.field is None
    assert (port.line, port.field) == (16, "dstport") and "'https'" in port.message
    assert str(port) == f"{estate.bad_flow}:16: field 'dstport': 'https' is not an integer"

    [binary] = _for(report.problems, estate.binary)
    assert "unknown format" in binary.message
    [empty] = _for(report.problems, estate.empty)
    assert empty.line is None

    # files from which nothing at all could be read are counted as quarantined; the others as bad records
    unreadable = {estate.binary, estate.empty}
    assert report.files_quarantined == len(unreadable)
    assert report.bad_records == len([p for p in report.problems if Path(p.path) not in unreadable])

    # the store's quarantine table holds the same problems
    rows = store.quarantined()
    def key(t: tuple) -> tuple:
        return tuple((x is not None, x if x is not None else 0) for x in t)

    assert sorted(((r["path"], r["line"], r["record"], r["field"], r["message"]) for r in rows), key=key) == sorted(
        ((p.path, p.line, p.record, p.field, p.message) for p in report.problems), key=key)
    assert {"path": str(estate.bad_flow), "line": 16, "record": None, "field": "dstport",
            "message": "'https' is not an integer"} in rows

    # findings from the good file in the same folder are still raised
    findings = list(store.findings())
    assert [f["type"] for f in findings] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]
    assert findings[0]["resource"]["accessKeyDetails"]["userName"] == "mallory"


def test_rescan_skips_files_already_read(estate: Estate, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _, store = scan([estate.root], db=db)
    first = store.quarantined()
    store.close()
    report, store = scan([estate.root], db=db)
    # every log file, bad ones included, was read to its end: nothing is processed or reported twice
    assert report.events_total == 0 and report.bad_records == 0
    assert report.files_already_scanned == 10
    # unknown and empty files are checkpointed too: a rescan neither reports nor records anything again
    assert report.problems == []
    assert store.quarantined() == first


def test_truncated_small_gzip_is_not_mistaken_for_an_unknown_format(tmp_path: Path) -> None:
    """A damaged gzip smaller than the sniffing window is still recognised by its readable prefix."""
    body = b"\n".join(_dns_lines(12, T0)) + b"\n"
    stored = gzip.compress(body, mtime=0)
    f = tmp_path / "logs" / "small.log.gz"
    f.parent.mkdir()
    f.write_bytes(stored[: len(stored) - 40])
    prefix = zlib.decompressobj(wbits=31).decompress(stored[: len(stored) - 40])
    report, store = scan([f.parent])
    assert report.events["dns"] == prefix.count(b"\n") > 0
    assert any("truncated gzip" in p.message for p in report.problems)
    assert not any("unknown format" in p.message for p in report.problems)


def test_corrupt_gzip_keeps_what_precedes_the_damage(tmp_path: Path) -> None:
    body = b"\n".join(_dns_lines(3000, T0)) + b"\n"
    stored = bytearray(gzip.compress(body, mtime=0))
    mid = len(stored) * 3 // 4
    stored[mid : mid + 64] = bytes(b ^ 0x5A for b in stored[mid : mid + 64])
    f = tmp_path / "logs" / "corrupt.log.gz"
    f.parent.mkdir()
    f.write_bytes(bytes(stored))
    report, _ = scan([f.parent])
    # at least the first half of the lines survive (the damage is three quarters in)
    assert report.events["dns"] >= 1500
    assert report.events["dns"] < 3000
    assert any(p.path == str(f) and p.line is None and "kept the first" in p.message for p in report.problems)
    for p in report.problems:
        assert "\n" not in str(p)


def test_cli_reports_bad_input_without_traceback(estate: Estate, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run([str(TRAILHOUND), "scan", str(estate.root), "--db", str(tmp_path / "t.db")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout and "Traceback" not in proc.stderr
    bad_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("bad input ")]
    for f in estate.bad_files:
        assert any(str(f) in ln for ln in bad_lines), f"no 'bad input' line names {f}"
    assert any(f"{estate.bad_flow}:16: field 'dstport'" in ln for ln in bad_lines)
    assert "Stealth:IAMUser/CloudTrailLoggingDisabled" in proc.stdout
    # the quarantine command lists the same files
    proc = subprocess.run([str(TRAILHOUND), "quarantine", "--db", str(tmp_path / "t.db")],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    for f in estate.bad_files:
        assert str(f) in proc.stdout


def test_nastier_input_is_reported_not_raised(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    good = _benign(3, T0, "gina")
    # a JSON array whose first record has a bad type AND whose text breaks further down
    array = logs / "array.json"
    array.write_text("[\n" + json.dumps({**good[0], "eventTime": 1}) + ",\n" + json.dumps(good[1]) + ",\n{\"eventName\": \n]\n")
    # newline-delimited records after blank lines: line numbers count the blank lines
    ndjson = logs / "records.jsonl"
    ndjson.write_text("\n\n" + json.dumps(good[0]) + "\n" + '{"eventName": "X", "eventTime": "yesterday"}' + "\n" + json.dumps(good[2]) + "\n")
    # integers a flow column cannot hold, and a digit that is not ASCII
    flows = [_flow_line(i) for i in range(10)]
    flows[2] = _flow_line(2, dstport="99999999999")
    flows[5] = _flow_line(5, dstport="4\u00b2")
    flow = logs / "flow.log"
    flow.write_text(FLOW_HEADER + "\n" + "\n".join(flows) + "\n")

    report, store = scan([logs])
    # the array: its good middle record is kept, each bad one named by record (and line, for a syntax error)
    bad_type, broken = [p for p in report.problems if p.path == str(array)]
    assert (bad_type.record, bad_type.field, bad_type.line) == (0, "eventTime", None)
    assert (broken.record, broken.line) == (2, 5) and "malformed" in broken.message
    [ndjson_problem] = [p for p in report.problems if p.path == str(ndjson)]
    assert (ndjson_problem.line, ndjson_problem.field) == (4, "eventTime")
    flow_problems = sorted((p.line, p.field, p.message) for p in report.problems if p.path == str(flow))
    assert flow_problems == [(4, "dstport", "99999999999 is out of range"), (7, "dstport", "'4\u00b2' is not an integer")]
    assert report.events["cloudtrail"] == 1 + 2 and report.events["flow"] == 8
    assert len(store.quarantined()) == 5


def test_implausible_times_are_bad_records_not_a_jump_of_the_watermark(tmp_path: Path) -> None:
    """A record dated 0001 or 2099 is set aside by name; the watermark and every window stay where the real events put them."""
    from datetime import UTC, datetime, timedelta

    from conftest import scan, write_cloudtrail

    from trailhound.simulator.records import record

    t0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    good = [record("StopLogging", "cloudtrail.amazonaws.com", time=t0 + timedelta(minutes=i), params={"name": f"t{i}"}) for i in range(3)]
    past = {**good[0], "eventTime": "0001-01-01T00:00:00Z", "eventID": "past"}
    future = {**good[0], "eventTime": "2099-06-01T00:00:00Z", "eventID": "future"}
    f = write_cloudtrail(tmp_path / "logs" / "ct.json.gz", [good[0], past, good[1], future, good[2]])
    db = tmp_path / "s.db"
    report, store = scan([f], db=db)
    assert report.events["cloudtrail"] == 3
    assert sorted(q["message"].split(" is ")[1] for q in store.quarantined()) == ["before 2006: not a real event time",
                                                                                   "in the future: not a real event time"]
    watermark = float(store.meta("watermark"))
    assert watermark < (t0 + timedelta(hours=1)).timestamp()  # where the real events put it


def test_an_implausible_dns_time_is_named_by_its_line(tmp_path: Path) -> None:
    """As every other problem of a line log: its line in the file, not its index among the events."""
    from trailhound.simulator.records import dns_record

    t0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    lines = [json.dumps(dns_record(t0 + timedelta(minutes=i), f"host{i}.example.com")) for i in range(4)]
    lines[2] = lines[2].replace("2026-11-03T09:02:00Z", "0001-01-01T00:00:00Z")
    f = tmp_path / "logs" / "queries.log"
    f.parent.mkdir()
    f.write_text("\n".join([lines[0], "", lines[1], lines[2], lines[3]]) + "\n")  # (a blank line before it)
    report, _ = scan([f])
    [p] = report.problems
    assert (p.line, p.record, p.field) == (4, None, "query_timestamp") and "before 2006" in p.message
    g = tmp_path / "logs2" / "queries.log"
    g.parent.mkdir()
    g.write_text("\n".join([lines[0], "not json", lines[2], lines[3]]) + "\n")  # the slow path: a bad line before it
    report, _ = scan([g])
    assert sorted((p.line, p.record) for p in report.problems) == [(2, None), (3, None)]
