"""Nothing lost, nothing counted twice: a scan that dies half-way resumes from its checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import store_at, write_cloudtrail

from trailhound.simulator.records import iam_user, record
from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.store.database import Store

T0 = datetime(2026, 11, 5, 0, 0, tzinfo=UTC)


def _estate(root: Path) -> Path:
    """Four overlapping files, each with StopLogging calls spread over the same hour."""
    for f in range(4):
        recs = []
        for i in range(30):
            t = T0 + timedelta(minutes=2 * i + f // 2)
            name = "StopLogging" if i % 3 == 0 else "DescribeInstances"
            recs.append(record(name, "cloudtrail.amazonaws.com" if name == "StopLogging" else "ec2.amazonaws.com", time=t,
                               identity=iam_user("111122223333", f"user{f % 2}"), params={"name": f"trail{f}"}))
        write_cloudtrail(root / f"file{f}.json.gz", recs)
    return root


class Crash(RuntimeError):
    pass


class CrashingScanner(Scanner):
    """Dies in the middle of processing, after some commit points have been written."""

    def __init__(self, *args, crash_after: int, **kw) -> None:
        super().__init__(*args, **kw)
        self.left = crash_after

    def _process(self, piece) -> None:
        if self.left == 0:
            raise Crash("simulated power cut")
        self.left -= 1
        super()._process(piece)


def _crash(db: Path | str, settings: ScanSettings, crash_after: int, logs: Path) -> None:
    crashed = Store(db)
    with pytest.raises(Crash):
        CrashingScanner(crashed, settings, crash_after=crash_after).scan([logs])
    crashed.close()  # as when the process dies: its connection goes, and with it PostgreSQL's session lock


def _summary(store: Store) -> tuple:
    findings = sorted((f["id"], f["service"]["count"], f["service"]["eventFirstSeen"], f["service"]["eventLastSeen"]) for f in store.findings())
    usage = [(u["source"], u["events"], u["bytes"]) for u in store.usage()]  # bytes too: exact across a crash
    return findings, usage


@pytest.mark.parametrize("crash_after,batch", [(1, 1), (5, 1), (17, 1), (1, 2), (5, 2), (17, 2)])
def test_crash_and_restart_equals_one_clean_scan(tmp_path: Path, crash_after: int, batch: int) -> None:
    """Files read one by one, or two at a time as one run (a crash inside a batch leaves each of its
    files part-read: they resume alone, each from its own checkpoint)."""
    logs = _estate(tmp_path / "logs")
    settings = ScanSettings(order_quantum_s=0.0, commit_interval_s=0.0, batch_files=batch)  # many small slices, commit after each

    clean = Store(store_at(tmp_path, "clean.db"))
    clean_report = Scanner(clean, settings).scan([logs])
    assert clean_report.events["cloudtrail"] == 120

    db = store_at(tmp_path, "crashy.db")
    _crash(db, settings, crash_after, logs)
    partial = Store(db)
    assert sum(f["service"]["count"] for f in partial.findings()) < 40  # it really stopped half-way
    resumed_report = Scanner(partial, settings).scan([logs])
    assert 0 < resumed_report.events["cloudtrail"] < 120
    assert _summary(partial) == _summary(clean)
    assert sum(f["service"]["count"] for f in partial.findings()) == 40


def test_rescan_of_finished_files_reads_nothing_new(tmp_path: Path) -> None:
    logs = _estate(tmp_path / "logs")
    store = Store(store_at(tmp_path, "s.db"))
    Scanner(store).scan([logs])
    before = _summary(store)
    again = Scanner(store).scan([logs])
    assert again.files_already_scanned == 4 and again.events_total == 0
    assert _summary(store) == before


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    f = write_cloudtrail(logs / "a.json.gz", [record("StopLogging", "cloudtrail.amazonaws.com", time=T0, params={"name": "t"})])
    store = Store(store_at(tmp_path, "s.db"))
    Scanner(store).scan([logs])
    write_cloudtrail(f, [record("StopLogging", "cloudtrail.amazonaws.com", time=T0 + timedelta(hours=1), params={"name": "t"})])
    report = Scanner(store).scan([logs])
    assert report.events["cloudtrail"] == 1
    [finding] = list(store.findings())
    assert finding["service"]["count"] == 2


def _network_estate(root: Path) -> Path:
    """Overlapping flow and DNS files with threat-intel hits spread through them."""
    from trailhound.simulator.attack_day import write_case_logs
    from trailhound.simulator.records import Case, dns_record, example_indicator, flow_row
    from trailhound.intel.index import Category

    c2 = example_indicator(Category.C2)
    for f in range(3):
        flows, queries = [], []
        for i in range(40):
            t = T0 + timedelta(minutes=i, seconds=7 * f)
            hit = i % 4 == 0
            flows.append(flow_row(t, src="10.0.1.25", dst=c2 if hit else "52.94.236.248", sport=40000 + i, dport=443))
            queries.append(dns_record(t, "c2.guarddutyc2activityb.com" if hit else "example.com"))
        cases = [Case("flows", None, flows, source="flow")] + [Case(f"q{i}", None, q, source="dns") for i, q in enumerate(queries)]
        write_case_logs(root / f"part{f}", cases)
    return root


@pytest.mark.parametrize("crash_after,batch", [(2, 1), (9, 1), (2, 2), (9, 2)])
def test_crash_and_restart_with_flows_and_dns(tmp_path: Path, crash_after: int, batch: int) -> None:
    logs = _network_estate(tmp_path / "logs")
    settings = ScanSettings(order_quantum_s=0.0, commit_interval_s=0.0, batch_files=batch)
    clean = Store(store_at(tmp_path, "clean.db"))
    clean_report = Scanner(clean, settings).scan([logs])
    assert clean_report.events["flow"] == 120 and clean_report.events["dns"] == 120
    assert sum(f["service"]["count"] for f in clean.findings()) == 60  # 30 C2 flows + 30 C2 queries

    assert _summary(_crash_then_resume(tmp_path, logs, settings, crash_after)) == _summary(clean)


def _crash_then_resume(tmp_path: Path, logs: Path, settings: ScanSettings, crash_after: int) -> Store:
    db = store_at(tmp_path, "crashy.db")
    _crash(db, settings, crash_after, logs)
    resumed = Store(db)
    Scanner(resumed, settings).scan([logs])
    return resumed


def _behaviour_estate(root: Path) -> Path:
    """Brute force, a port scan and a sweep, cut into many small flow files that overlap in time."""
    from trailhound.detectors import brute_force, port_scan
    from trailhound.simulator.attack_day import write_case_logs
    from trailhound.simulator.records import Case

    cases = brute_force.cases(T0) + port_scan.cases(T0 + timedelta(hours=4))
    rows = sorted((r for c in cases for r in c.records), key=lambda r: r["start"])
    for stream in range(3):  # three delivery streams whose files overlap in time
        mine = rows[stream::3]
        for i in range(0, len(mine), 60):
            write_case_logs(root / f"s{stream}-{i // 60:03d}", [Case("part", None, mine[i : i + 60], source="flow")])
    return root


@pytest.mark.parametrize("crash_after,batch", [(5, 1), (60, 1), (140, 1), (5, 4), (40, 4)])
def test_crash_and_restart_with_behaviour_windows(tmp_path: Path, crash_after: int, batch: int) -> None:
    """Window state, timers and the watermark are committed with the checkpoints: a restart resumes them."""
    logs = _behaviour_estate(tmp_path / "logs")
    settings = ScanSettings(commit_interval_s=0.0, batch_files=batch)  # ~170 slices with single files, a commit point after each
    clean = Store(store_at(tmp_path, "clean.db"))
    Scanner(clean, settings).scan([logs])
    types = {f["type"] for f in clean.findings()}
    assert {"UnauthorizedAccess:EC2/SSHBruteForce", "Recon:EC2/Portscan", "Impact:EC2/PortSweep"} <= types

    assert _summary(_crash_then_resume(tmp_path, logs, settings, crash_after)) == _summary(clean)


def _c2_flows(n: int, first: int = 0) -> bytes:
    from trailhound.intel.index import Category
    from trailhound.simulator.records import example_indicator

    c2 = example_indicator(Category.C2)
    lines = [f"2 111122223333 eni-0a1b2c3d 10.0.1.25 {c2} {40000 + i} 443 6 3 180 {int(T0.timestamp()) + 60 * i} "
             f"{int(T0.timestamp()) + 60 * i + 30} ACCEPT OK" for i in range(first, first + n)]
    return ("\n".join(lines) + "\n").encode()


FLOW_HEADER = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"


def _flows_seen(store: Store) -> tuple[int, int, int]:
    [u] = [u for u in store.usage() if u["source"] == "flow"]
    return u["events"], u["bytes"], sum(f["service"]["count"] for f in store.findings())


@pytest.mark.parametrize("compressed", [False, True])
def test_appended_file_is_read_from_where_it_ended(tmp_path: Path, compressed: bool) -> None:
    """A log appended to after a scan (a new gzip member, or more lines) is read for its new part
    only: events, bytes and finding counts as if the whole had been read once."""
    import gzip

    f = tmp_path / "logs" / ("flows.log.gz" if compressed else "flows.log")
    f.parent.mkdir()
    first, more = FLOW_HEADER + _c2_flows(10), _c2_flows(5, first=10)
    f.write_bytes(gzip.compress(first) if compressed else first)
    store = Store(store_at(tmp_path, "s.db"))
    Scanner(store).scan([f])
    assert _flows_seen(store) == (10, len(first), 10)
    with open(f, "ab") as fh:
        fh.write(gzip.compress(more) if compressed else more)
    again = Scanner(store).scan([f])
    assert again.events["flow"] == 5
    assert _flows_seen(store) == (15, len(first) + len(more), 15)
    assert Scanner(store).scan([f]).events_total == 0  # and then it is finished


@pytest.mark.parametrize("kind", ["flow", "dns"])
def test_a_last_line_still_being_written_is_read_whole_by_the_next_scan(tmp_path: Path, kind: str) -> None:
    """A scan that meets a plain log while its writer is mid-line leaves that line (no newline, not a whole record)
    to the next scan: it was quarantined twice in two halves and lost. Problems in an appended part name their
    line in the file, not in the part."""
    import json

    from trailhound.detectors.dns_intel import cases as dns_cases

    f = tmp_path / "logs" / ("flows.log" if kind == "flow" else "queries.log")
    f.parent.mkdir()
    if kind == "flow":
        lines = (FLOW_HEADER + _c2_flows(6)).decode().splitlines(keepends=True)
    else:
        c2 = next(c for c in dns_cases(T0) if c.name == "dns-c2").record
        lines = [json.dumps({**c2, "srcport": str(40000 + i)}) + "\n" for i in range(6)]
    head, last, more = "".join(lines[:-3]), lines[-3], "".join(lines[-2:])
    f.write_text(head + last[:25])
    store = Store(store_at(tmp_path, "s.db"))
    first = Scanner(store).scan([f])
    held = len(lines) - 3 + 1  # the unfinished line's number
    assert [(p.path, "not finished" in p.message) for p in first.problems] == [(f"{f}:{held}", True)]
    assert first.bad_records == 0 and store.quarantined() == []
    with open(f, "a") as fh:
        fh.write(last[25:] + "garbage\n" + more)
    second = Scanner(store).scan([f])
    assert second.events[kind] == 3 and second.bad_records == 1
    [bad] = second.problems
    assert bad.line == held + 1  # where "garbage" is in the file
    assert first.events[kind] + second.events[kind] == 6  # every record, once
    assert Scanner(store).scan([f]).events_total == 0


def test_recompressed_or_gunzipped_log_is_the_same_log(tmp_path: Path) -> None:
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    content = FLOW_HEADER + _c2_flows(8)
    (logs / "a.log.gz").write_bytes(gzip.compress(content, compresslevel=1))
    store = Store(store_at(tmp_path, "s.db"))
    Scanner(store).scan([logs])
    (logs / "a.log.gz").write_bytes(gzip.compress(content, compresslevel=9))  # other bytes on disk, same log
    assert Scanner(store).scan([logs]).files_already_scanned == 1
    (logs / "a.log.gz").unlink()
    (logs / "a.log").write_bytes(content)  # gunzipped under another name
    report = Scanner(store).scan([logs])
    assert report.files_already_scanned == 1 and report.events_total == 0
    assert _flows_seen(store) == (8, len(content), 8)


def test_checkpoints_of_older_stores_still_match(tmp_path: Path) -> None:
    """Stores written before content fingerprints named a file by its stored bytes: still finished."""
    import gzip
    import zlib

    from trailhound.store.database import Changes, Checkpoint

    f = tmp_path / "a.log.gz"
    stored = gzip.compress(FLOW_HEADER + _c2_flows(3))
    f.write_bytes(stored)
    store = Store(store_at(tmp_path, "s.db"))
    legacy = f"{len(stored)}-{zlib.crc32(stored):08x}"
    store.commit(Changes(checkpoints={str(f): Checkpoint(str(f), legacy, "flow", 3, 3, True)}))
    report = Scanner(store).scan([f])
    assert report.files_already_scanned == 1 and report.events_total == 0


def test_store_without_offsets_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    logs = _estate(tmp_path / "logs")
    db = tmp_path / "old.db"
    Scanner(Store(db)).scan([logs])
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE checkpoints DROP COLUMN offset")  # as stores before it were, which kept no schema version
    con.execute("DELETE FROM meta WHERE key = 'schema_version'")
    con.commit()
    con.close()
    report = Scanner(Store(db)).scan([logs])
    assert report.files_already_scanned == 4 and report.events_total == 0
