"""Odd input found by review: each costs its own record or file, never the scan or the count."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import scan, store_at, write_cloudtrail

from trailhound.simulator.records import iam_user, record
from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.store.database import Store

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def _stop(t: datetime = T0) -> dict:
    return record("StopLogging", "cloudtrail.amazonaws.com", time=t, params={"name": "t"})


def test_flow_time_in_milliseconds_is_set_aside(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_cloudtrail(logs / "ct.json.gz", [_stop()])
    s = int(T0.timestamp())
    (logs / "flows.log").write_text(f"{HEADER}\n2 1 eni-1 10.0.0.1 8.8.8.8 40000 443 6 1 60 {s * 1000} {s + 60} ACCEPT OK\n"
                                    f"2 1 eni-1 10.0.0.1 8.8.8.8 40001 443 6 1 60 {s} {s + 60} ACCEPT OK\n")
    for _ in range(2):  # a rerun neither crashes nor reprocesses
        report, store = scan([logs], db=tmp_path / "s.db")
    first, _ = scan([logs], db=tmp_path / "fresh.db")
    assert first.events["flow"] == 1 and first.events["cloudtrail"] == 1
    assert [(p.line, p.field) for p in first.problems] == [(2, "start")]
    assert [f["type"] for f in store.findings()] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]


def test_odd_run_instances_response_and_inventory_documents(tmp_path: Path) -> None:
    odd = record("RunInstances", "ec2.amazonaws.com", time=T0, response={"instancesSet": {"items": [
        {"instanceId": "i-0123456789abcdef0", "placement": "us-east-1a", "networkInterfaceSet": "x", "tagSet": {"items": [None]}}]}})
    f = write_cloudtrail(tmp_path / "logs" / "ct.json.gz", [odd, _stop()])
    inv = tmp_path / "describe.json"
    inv.write_text(json.dumps({"Reservations": [{"Instances": [
        {"InstanceId": "i-0fedcba9876543210", "Tags": [None, {"Key": "Name", "Value": "db"}], "NetworkInterfaces": [{"Association": "x"}]},
        {"InstanceId": 5}, "junk"]}, "junk"]}))
    report, store = scan([f], inventory=[inv])
    assert [f["type"] for f in store.findings()] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]
    assert report.inventory_instances == 1
    assert any("not understood" in p.message for p in report.problems)


def test_dangling_symlink_is_unreadable_not_fatal(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_cloudtrail(logs / "ct.json.gz", [_stop()])
    os.symlink(tmp_path / "nowhere.json", logs / "zz.json")
    report, store = scan([logs])
    assert [str(p) for p in report.problems] == [f"{logs / 'zz.json'}: skipped: cannot be read (No such file or directory)"]
    assert len(list(store.findings())) == 1


def test_overlapping_paths_and_moved_files_are_read_once(tmp_path: Path) -> None:
    f = write_cloudtrail(tmp_path / "a" / "sub" / "ct.json.gz", [_stop()])
    db = tmp_path / "s.db"
    report, store = scan([tmp_path / "a", f], db=db)
    assert report.events["cloudtrail"] == 1
    assert [u["events"] for u in store.usage()] == [1]
    shutil.move(tmp_path / "a", tmp_path / "b")  # the same delivery under another name
    report, store = scan([tmp_path / "b"], db=db)
    assert report.files_already_scanned == 1 and report.events_total == 0
    [finding] = list(store.findings())
    assert finding["service"]["count"] == 1


def test_a_file_named_every_way_is_one_canonical_path(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Relative, with '..', through a symlinked folder, or found in its folder: walk names one file once, by its real path."""
    from trailhound.sources.files import walk

    f = write_cloudtrail(tmp_path / "real" / "sub" / "ct.json.gz", [_stop()])
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path / "real")
    given = [Path("sub/ct.json.gz"), Path("sub/../sub/ct.json.gz"), tmp_path / "link" / "sub" / "ct.json.gz", tmp_path / "real", Path("sub")]
    found = [list(walk([p])) for p in given]
    assert all(paths == [f.resolve()] for paths in found), found
    assert [str(p) for p in dict.fromkeys(walk(given))] == [str(f.resolve())]
    os.chdir(tmp_path / "real" / "sub")
    assert list(walk(["ct.json.gz"])) == [f.resolve()]  # a bare name: in the working folder


def test_data_events_of_other_services_are_neither_judged_nor_billed(tmp_path: Path) -> None:
    lam = record("Invoke", "lambda.amazonaws.com", time=T0, data_event=True, identity=iam_user("111122223333", "x"),
                 ua="aws-cli/2 md/distrib#kali.2025")
    s3 = record("GetObject", "s3.amazonaws.com", time=T0, data_event=True, params={"bucketName": "b"})
    report, store = scan([write_cloudtrail(tmp_path / "ct.json.gz", [lam, s3])])
    assert report.events == {"s3data": 1} and report.skipped_data_events == 1
    assert list(store.findings()) == []  # the Kali agent was on the Lambda data event only
    assert [(u["source"], u["events"]) for u in store.usage()] == [("s3data", 1)]


def test_usage_account_falls_back_like_findings(tmp_path: Path) -> None:
    rec = _stop()
    del rec["recipientAccountId"]
    _, store = scan([write_cloudtrail(tmp_path / "ct.json.gz", [rec])])
    [u] = store.usage()
    [f] = list(store.findings())
    assert u["accountId"] == f["accountId"] == "111122223333"


def test_each_scan_gets_its_own_report(tmp_path: Path) -> None:
    scanner = Scanner(Store(tmp_path / "s.db"), ScanSettings())
    r1 = scanner.scan([write_cloudtrail(tmp_path / "1.json.gz", [_stop()])])
    r2 = scanner.scan([write_cloudtrail(tmp_path / "2.json.gz", [_stop(T0.replace(hour=11))])])
    assert r1 is not r2 and r1.events_total == r2.events_total == 1 and r2.files_total == 1


def test_fifos_devices_and_symlink_loops_are_skipped_with_a_line(tmp_path: Path) -> None:
    """A FIFO would hang the scan, /dev/zero never ends, a symlink loop never resolves: each is skipped, named."""
    logs = tmp_path / "logs"
    write_cloudtrail(logs / "ct.json.gz", [_stop()])
    os.mkfifo(logs / "x.log")
    os.symlink(logs / "loop-b", logs / "loop-a")
    os.symlink(logs / "loop-a", logs / "loop-b")
    os.symlink(logs, logs / "myself")  # a folder symlink: not followed
    report, store = scan([logs, "/dev/zero", logs / "loop-a"])
    lines = [str(p) for p in report.problems]
    assert f"{logs / 'x.log'}: skipped: a FIFO, not a log file" in lines
    assert "/dev/zero: skipped: a character device, not a log file" in lines
    assert sum("loop-a" in line and "skipped: cannot be read" in line for line in lines) == 2  # in the folder, and as an argument
    assert report.files_skipped == 5 and report.events["cloudtrail"] == 1 and len(list(store.findings())) == 1
    from rich.console import Console

    from trailhound.report import print_summary

    console = Console(record=True, width=400)
    print_summary(console, report, [], 1)
    assert "quarantined), skipped 5 that are not regular files: 1 CloudTrail events" in console.export_text()  # in the summary too


def test_a_file_swapped_for_a_fifo_after_the_walk_is_not_opened_for_ever(tmp_path: Path) -> None:
    """A log replaced by a FIFO between listing and reading (a race a hostile neighbour can win) would block the scan
    in ``open`` with the store locked: the file is opened without blocking and refused for its own type, in one line."""
    import threading

    from trailhound.sources import files

    logs = tmp_path / "logs"
    good = write_cloudtrail(logs / "ct.json.gz", [_stop()])
    swapped = write_cloudtrail(logs / "later.json.gz", [_stop(T0.replace(hour=11))])
    listed = list(files.walk([logs]))
    swapped.unlink()
    os.mkfifo(swapped)
    for peek_or_read in (files.peek, files.read):
        with pytest.raises(OSError, match="not a regular file"):
            peek_or_read(swapped)
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(scan(listed)), daemon=True)
    worker.start()
    worker.join(60)
    assert done, "the scan blocked on the FIFO"
    report, store = done[0]  # type: ignore[misc]
    assert report.events["cloudtrail"] == 1 and len(list(store.findings())) == 1 and str(good) != str(swapped)
    assert any(str(swapped) in str(p) and ("not a regular file" in str(p) or "a FIFO" in str(p)) for p in report.problems)


def test_a_decompression_bomb_costs_its_file_not_the_scan(tmp_path: Path) -> None:
    """A gzip that inflates past the limit, and a plain file larger than it, are quarantined by name; the rest is read."""
    import gzip

    logs = tmp_path / "logs"
    write_cloudtrail(logs / "ct.json.gz", [_stop()])
    with gzip.open(logs / "bomb.log.gz", "wb", compresslevel=9) as fh:  # 40 MB of zeros: 40 KB on disk
        for _ in range(40):
            fh.write(bytes(1_000_000))
    (logs / "big.log").write_bytes(b"x" * 3_000_000)
    report, store = scan([logs], max_file_mb=2.0)
    quarantined = {q["path"].rsplit("/", 1)[1]: q["message"] for q in store.quarantined()}
    assert quarantined == {"bomb.log.gz": "larger than 2 MB decompressed (the limit, --max-file-mb), not read",
                           "big.log": "larger than 2 MB decompressed (the limit, --max-file-mb), not read"}
    assert report.events["cloudtrail"] == 1 and len(list(store.findings())) == 1
    again, _ = scan([logs], db=":memory:")  # the default limit reads them (and finds nothing in them)
    assert "bomb.log.gz" not in " ".join(str(p) for p in again.problems if "limit" in str(p))


def test_the_store_inside_the_scanned_folder_is_not_a_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_cloudtrail(logs / "ct.json.gz", [_stop()])
    scan([logs], db=logs / "trailhound.db")
    report, _ = scan([logs], db=logs / "trailhound.db")  # now the store, its WAL files and its lock lie in the folder
    assert (logs / "trailhound.db.lock").exists()
    assert report.problems == [] and report.files_quarantined == 0 and report.files_already_scanned == 1


def test_a_record_that_breaks_a_detector_costs_only_that_record(tmp_path: Path) -> None:
    """The batch is halved until the record that breaks the detector is alone; it is quarantined with the
    detector's name, and every other record of the batch still raises its findings."""
    from trailhound.detectors import default_detectors
    from trailhound.detectors.cloudtrail_logging import CloudTrailLoggingDisabled

    class Fragile(CloudTrailLoggingDisabled):
        name = "fragile-logging-disabled"

        def match(self, e):  # type: ignore[no-untyped-def]
            if e.params().get("name") == "poison":
                raise ValueError("cannot read this trail name")
            return super().match(e)

    recs = [record("StopLogging", "cloudtrail.amazonaws.com", time=T0.replace(minute=i), identity=iam_user("111122223333", "ops"),
                   params={"name": "poison" if i == 5 else f"trail{i}"}) for i in range(8)]
    f = write_cloudtrail(tmp_path / "logs" / "ct.json.gz", recs)
    detectors = [d for d in default_detectors() if d.name != CloudTrailLoggingDisabled.name] + [Fragile()]
    store = Store(tmp_path / "s.db")
    report = Scanner(store, ScanSettings(), detectors=detectors).scan([f])
    [finding] = [x for x in store.findings() if x["type"] == "Stealth:IAMUser/CloudTrailLoggingDisabled"]
    assert finding["service"]["count"] == 7  # all but the poisoned one
    [q] = store.quarantined()
    assert q["path"] == str(f) and "fragile-logging-disabled failed on the StopLogging event" in q["message"]
    assert recs[5]["eventID"] in q["message"] and report.detector_errors == 1


def test_a_failing_timer_costs_its_key_not_the_scan_nor_the_restart(tmp_path: Path) -> None:
    from datetime import timedelta

    from trailhound.detectors import brute_force, default_detectors
    from trailhound.simulator.attack_day import write_case_logs

    class Broken(brute_force.BruteForceTarget):
        name = "broken-brute-force"

        def report(self, key, w):  # type: ignore[no-untyped-def]
            raise RuntimeError("cannot build the finding")

    cases = {c.name: c for c in brute_force.cases(T0)}
    files = write_case_logs(tmp_path / "logs", [cases["bastion-ssh-hammered"], cases["winrm-guessing"]])
    detectors = [d for d in default_detectors() if d.name != brute_force.BruteForceTarget.name] + [Broken()]
    db = store_at(tmp_path, "s.db")
    first = Store(db)
    report = Scanner(first, ScanSettings(), detectors=detectors).scan(files)
    first.close()
    assert report.detector_errors >= 2 and any("broken-brute-force: on_timer failed" in str(p) or "update failed" in str(p)
                                                 for p in report.problems)
    again = Scanner(Store(db), ScanSettings(), detectors=detectors).scan(files)
    assert again.detector_errors == 0  # nothing left behind to fail again on a restart


def test_a_folder_nested_thousands_deep_is_walked_not_a_recursion_error(tmp_path: Path) -> None:
    """1,200 folders one in another (a hostile tree, or a runaway sync tool): walked with a stack of its own, its deepest file
    and the one at the top both read."""
    header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
    deep = tmp_path / "deep"
    deep.mkdir()
    folder = str(deep)
    for _ in range(1200):  # (os.makedirs recurses too)
        folder = os.path.join(folder, "d")
        os.mkdir(folder)
    Path(folder, "x.log").write_text(header + "2 111122223333 eni-1 10.0.0.1 8.8.8.8 1234 443 6 1 60 1700000000 1700000060 ACCEPT OK\n")
    (deep / "top.log").write_text(header + "2 111122223333 eni-1 10.0.0.1 8.8.8.8 1235 443 6 1 60 1700000000 1700000060 ACCEPT OK\n")
    try:
        report, _ = scan([deep])
        assert report.files_done == 2 and report.events_total == 2 and report.problems == []
    finally:  # removed from the bottom up: shutil.rmtree (pytest's clean-up of old runs) recurses as deep as the tree
        os.remove(os.path.join(folder, "x.log"))
        while folder != str(deep):
            os.rmdir(folder)
            folder = os.path.dirname(folder)


def test_a_record_dated_ahead_of_the_clock_never_makes_the_next_scans_records_late(tmp_path: Path) -> None:
    """A day ahead is within the clock skew allowed, so the record is read; but the watermark stops at the wall clock, so the
    next scan's record of a minute ago is on time, not late."""
    from datetime import timedelta

    now = datetime.now(UTC)
    who = iam_user("111122223333", "ana")
    ahead = write_cloudtrail(tmp_path / "a" / "ahead.json.gz", [record("ListBuckets", "s3.amazonaws.com", time=now + timedelta(hours=30), identity=who)])
    recent = write_cloudtrail(tmp_path / "b" / "recent.json.gz",
                              [record("DescribeInstances", "ec2.amazonaws.com", time=now - timedelta(minutes=1), identity=who)])
    db = store_at(tmp_path, "t.db")
    first, store = scan([ahead], db=db)
    assert first.events_total == 1
    store.close()
    second, _ = scan([recent], db=db)
    assert second.events_total == 1 and second.late_rows == 0
