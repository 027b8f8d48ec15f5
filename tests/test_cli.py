"""The command line, run as a user runs it: a real process, a real store file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).with_name("trailhound")


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_scan_writes_jsonl_and_summary(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "findings.jsonl"
    db = tmp_path / "t.db"
    p = run("scan", shared_data / "stratus-red-team-detonation-logs", "--db", db, "-o", out)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    assert "310 CloudTrail" in p.stdout
    assert "Stealth:IAMUser/CloudTrailLoggingDisabled" in p.stdout
    lines = out.read_text().splitlines()
    findings = [json.loads(line) for line in lines]
    # StopLogging, DeleteTrail, and event selectors that take no management events: the three trails switched off
    assert len(findings) == 3 and {f["type"] for f in findings} == {"Stealth:IAMUser/CloudTrailLoggingDisabled"}
    # a second scan continues: nothing new is read, the findings are still reported from the store
    p2 = run("scan", shared_data / "stratus-red-team-detonation-logs", "--db", db)
    assert p2.returncode == 0 and "35 already scanned" in p2.stdout
    listed = run("findings", "--db", db)
    assert len(listed.stdout.splitlines()) == 3


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    p = run("scan", tmp_path / "nope", "--db", tmp_path / "t.db")
    assert p.returncode == 2
    assert "no such file or folder" in p.stderr and "Traceback" not in p.stderr


def test_demo_finds_the_attack(tmp_path: Path) -> None:
    p = run("demo", "--keep", tmp_path / "estate")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    for ftype in (
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "Stealth:IAMUser/PasswordPolicyChange",
        "Policy:IAMUser/RootCredentialUsage",
        "PenTest:IAMUser/KaliLinux",
        "Policy:S3/BucketAnonymousAccessGranted",
        "Policy:S3/BucketPublicAccessGranted",
        "Recon:IAMUser/MaliciousIPCaller.Custom",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    ):
        assert ftype in text, f"demo did not raise {ftype}"
    assert "suppressed by trusted IP lists" in text  # the office IP's StopLogging
    assert "0 bad records" in text and "bad input" not in p.stderr


def test_demo_serve_prints_a_console_address_and_a_key_that_sees_every_account(tmp_path: Path) -> None:
    """`demo --serve`: the printed key signs requests to the printed address; it is the administrator of the
    estate's accounts, so it sees the demo's findings in all of them; the console page answers there."""
    import re
    import signal
    import socket
    import time
    import urllib.request

    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN), "demo", "--keep", str(tmp_path / "estate"), "--serve", "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        lines = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, f"demo ended: {proc.stderr.read()[-2000:]}"  # type: ignore[union-attr]
            lines.append(line)
            if "access key" in line:
                break
        text = "".join(lines[-3:])
        found = re.search(r"console: (http://\S+/console/) .*access key (\S+) and secret (\S+)", text)
        assert found, text
        url, key_id, secret = found.groups()
        while True:  # serve starts after the message
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert b"Trailhound" in urllib.request.urlopen(url, timeout=5).read()
        gd = boto3.client("guardduty", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id=key_id,
                          aws_secret_access_key=secret)
        det = (gd.list_detectors()["DetectorIds"] or [gd.create_detector(Enable=True)["DetectorId"]])[0]
        ids = gd.list_findings(DetectorId=det, MaxResults=50)["FindingIds"]
        accounts = {f["AccountId"] for f in gd.get_findings(DetectorId=det, FindingIds=ids)["Findings"]}
        import sqlite3

        with sqlite3.connect(tmp_path / "estate" / "demo.db") as db:
            in_store = {a for (a,) in db.execute("SELECT DISTINCT account_id FROM findings")}
        assert len(ids) >= 8 and accounts == in_store, (accounts, in_store)  # its own account's and its members'
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_scan_of_everything_in_shared_data_never_crashes(tmp_path: Path, shared_data: Path) -> None:
    """376 files of every kind — logs, lists, pcaps, zips, CSVs: logs are read, the rest set aside, no traceback."""
    p = run("scan", shared_data, "--db", tmp_path / "t.db")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Traceback" not in p.stdout + p.stderr
    assert "3,210 CloudTrail" in p.stdout  # Stratus 310 + Invictus 2,900
    assert "bad input" in p.stderr and "unknown format" in p.stderr


def test_scan_with_a_stix_threat_list(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from trailhound.simulator.attack_day import write_case_logs
    from trailhound.simulator.records import Case, record

    stix = tmp_path / "feed.json"
    stix.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--1", "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z", "name": "Attacker VPS", "pattern": "[ipv4-addr:value = '89.160.20.112']",
        "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}]}))
    rec = record("CreateUser", "iam.amazonaws.com", time=datetime(2026, 11, 8, tzinfo=UTC), ip="89.160.20.112")
    files = write_case_logs(tmp_path / "logs", [Case("x", None, rec)])
    out = tmp_path / "f.jsonl"
    p = run("scan", *files, "--threat-list", f"STIX:{stix}", "--db", tmp_path / "t.db", "-o", out)
    assert p.returncode == 0, p.stderr
    [f] = [json.loads(line) for line in out.read_text().splitlines()]
    assert f["type"] == "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"
    assert f["service"]["evidence"]["threatIntelligenceDetails"] == [{"threatListName": "feed", "threatNames": ["Attacker VPS"]}]


def test_readme_type_table_is_the_metadata() -> None:
    """The README's type table is generated from the detectors' metadata, and kept equal to it."""
    from trailhound.detectors import catalogue

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start, end = readme.index(catalogue.README_BEGIN), readme.index(catalogue.README_END) + len(catalogue.README_END)
    assert readme[start:end] == catalogue.markdown(), "run `trailhound types --markdown` and paste it into README.md"
    p = subprocess.run([str(BIN), "types"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"})
    assert p.returncode == 0 and "Impact:EC2/PortSweep" in p.stdout


def test_ctrl_c_stops_a_scan_in_one_line_and_the_next_scan_counts_every_record_once(tmp_path: Path) -> None:
    """SIGINT mid-scan (a terminal's Ctrl-C): one 'interrupted' line and exit status 130, no traceback; the store holds
    what was committed, and scanning again analyses each record exactly once in all."""
    import gzip
    import signal
    import time

    logs = tmp_path / "flows"
    logs.mkdir()
    header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    per_file, files = 60_000, 24
    for f in range(files):
        rows = (f"2 111122223333 eni-0a1b2c3d 10.0.{f}.{i % 250} 8.8.{i % 200}.8 {1024 + i % 60000} 443 6 10 840 {1764000000 + f * 600 + i % 600} "
                f"{1764000060 + f * 600 + i % 600} ACCEPT OK" for i in range(per_file))
        (logs / f"flows-{f:02}.log.gz").write_bytes(gzip.compress(("\n".join([header, *rows]) + "\n").encode(), 1))
    db = tmp_path / "t.db"
    proc = subprocess.Popen([str(BIN), "scan", str(logs), "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waited = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < waited and not db.exists():
        time.sleep(0.05)
    time.sleep(1.0)  # into the scan's work
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "interrupted:" in err and "Traceback" not in out + err
    again = run("scan", logs, "--db", db)
    assert again.returncode == 0, again.stderr
    listed = run("usage", "--db", db)
    assert listed.returncode == 0, listed.stderr
    assert f"{per_file * files:,}" in listed.stdout, listed.stdout
