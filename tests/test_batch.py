"""Many small files decoded as one batch: the same events, problems, checkpoints, usage and
findings as reading each file alone, at a fraction of the per-file cost."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import store_at

from trailhound.config import ScanSettings
from trailhound.formats import Kind, parse
from trailhound.formats.batch import Member, parse_many
from trailhound.pipeline import Scanner
from trailhound.simulator.labelled import simulate
from trailhound.store.database import Store

HEADER = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def _flow(rows: list[tuple[int, str]], header: bytes | None = HEADER) -> bytes:
    lines = [f"2 111122223333 eni-0a1b2c3d {src} 10.0.0.5 443 {40000 + i} 6 3 180 {t} {t + 30} ACCEPT OK".encode()
             for i, (t, src) in enumerate(rows)]
    return b"\n".join(([header] if header else []) + lines) + b"\n"


T = 1_790_000_000


def _alone(kind: Kind, members: list[Member]):
    return [parse(m.path, m.data, kind) for m in members]


def _rows(df) -> list[tuple]:  # type: ignore[no-untyped-def]
    return df.select("srcaddr", "dstport", "start").rows()


def test_flow_batch_is_each_file_read_alone() -> None:
    """One read_csv over files sharing a header; each file's events in the order it has alone,
    NODATA rows dropped per file, and a file with a bad line decoded alone, its line named."""
    members = [
        Member("a.log", _flow([(T + 50, "1.1.1.1"), (T + 10, "1.1.1.2"), (T + 30, "1.1.1.3")])),
        Member("b.log", _flow([(T + 20, "2.2.2.1"), (T + 10, "2.2.2.2")]) + b"2 111122223333 eni-0a1b2c3d - - - - - - - 1790000000 1790000030 - NODATA\n"),
        Member("c.log", _flow([(T + 5, "3.3.3.1")]) + b"2 111122223333 eni-x 3.3.3.2 10.0.0.5 1 2 6 1 1 notatime 1 ACCEPT OK\n"),
        Member("d.log", HEADER + b"\n"),  # a header and nothing else
        Member("e.log", _flow([(T + 40, "5.5.5.1")])),
    ]
    batch = parse_many(Kind.FLOW, members, lambda p, d, x: parse(p, d, Kind.FLOW, x))
    alone = _alone(Kind.FLOW, members)
    assert list(batch.parsed.times) == sorted(batch.parsed.times)
    assert batch.records_read == [p.records_read for p in alone] == [3, 3, 2, 0, 1]
    for m, single in enumerate(alone):
        mine = batch.parsed.events.filter(batch.member_of == m)
        assert _rows(mine) == _rows(single.events)
        assert [str(p) for p in batch.problems[m]] == [str(p) for p in single.problems]
    assert [p.line for p in batch.problems[2]] == [3] and batch.problems[0] == []
    assert batch.counts().tolist() == [3, 2, 1, 0, 1]


def test_flow_files_of_another_layout_are_read_alone() -> None:
    """A file that does not begin with the batch's header (or has a byte-order mark) is read alone."""
    v2 = Member("a.log", _flow([(T + 1, "1.1.1.1")]))
    headerless = Member("b.log", _flow([(T + 2, "2.2.2.2")], header=None))
    bom = Member("c.log", b"\xef\xbb\xbf" + _flow([(T + 3, "3.3.3.3")]))
    batch = parse_many(Kind.FLOW, [v2, headerless, bom], lambda p, d, x: parse(p, d, Kind.FLOW, x))
    assert _rows(batch.parsed.events) == [("1.1.1.1", 40000, T + 1), ("2.2.2.2", 40000, T + 2), ("3.3.3.3", 40000, T + 3)]
    assert batch.member_of.tolist() == [0, 1, 2]


def test_json_batches_keep_each_files_order() -> None:
    def dns(name: str, t: str) -> bytes:
        return orjson.dumps({"version": "1.1", "account_id": "1", "region": "us-east-1", "vpc_id": "vpc-1", "query_timestamp": t,
                             "query_name": name, "query_type": "A", "query_class": "IN", "rcode": "NOERROR", "answers": [],
                             "srcaddr": "10.0.0.1", "srcport": "5", "transport": "UDP", "srcids": {}})

    a = Member("a", b"\n".join([dns("a1.", "2026-11-05T00:00:05Z"), dns("a2.", "2026-11-05T00:00:01Z"), dns("a3.", "2026-11-05T00:00:01Z")]))
    b = Member("b", b"\n".join([dns("b1.", "2026-11-05T00:00:01Z"), b"{not json", dns("b2.", "2026-11-05T00:00:03Z")]))
    batch = parse_many(Kind.DNS, [a, b], lambda p, d, x: parse(p, d, Kind.DNS, x))
    names = [e.query_name for e in batch.parsed.events]
    assert names == ["a2.", "a3.", "b1.", "b2.", "a1."]  # stable: equal times keep file order, then file position
    assert batch.member_of.tolist() == [0, 0, 1, 1, 0]
    assert [p.line for p in batch.problems[1]] == [2] and batch.records_read == [3, 3]


def _summary(store: Store) -> tuple:
    findings = sorted((f["type"], f["id"], f["service"]["count"], f["service"]["eventFirstSeen"], f["service"]["eventLastSeen"])
                      for f in store.findings())
    usage = sorted((u["month"], u["accountId"], u["source"], u["events"], u["bytes"]) for u in store.usage())
    return findings, usage


@pytest.fixture(scope="module")
def aws_estate(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A labelled estate in AWS's delivery shape: a small file per stream per 5-10 minutes."""
    return simulate(tmp_path_factory.mktemp("aws"), None, seed=11, scale=0.05, days=2, delivery="aws")


def _scan(estate, db: Path | str, **kw):  # type: ignore[no-untyped-def]
    settings = ScanSettings(threat_lists=[estate.threat_list], trusted_lists=[estate.trusted_list], inventory=[estate.inventory], **kw)
    store = Store(db)
    return Scanner(store, settings).scan([estate.logs]), store


def test_aws_shaped_estate_batched_equals_file_by_file(aws_estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one, one_store = _scan(aws_estate, store_at(tmp_path, "one.db"), batch_files=1)
    many, many_store = _scan(aws_estate, store_at(tmp_path, "many.db"))
    tiny, tiny_store = _scan(aws_estate, store_at(tmp_path, "tiny.db"), batch_mb=0.002)  # the budget hands most files back to the queue
    assert one.files_total > 1000 and many.files_done == one.files_done == one.files_total
    assert many.runs * 20 < one.runs and one.runs >= one.files_total - 1  # a run per file (the inventory is no run) vs per batch
    assert one.runs > tiny.runs > many.runs
    assert one.events == many.events == tiny.events
    assert _summary(one_store) == _summary(many_store) == _summary(tiny_store)
    assert len(_summary(many_store)[0]) >= 40  # the attack day's findings are there
    assert len(one_store.quarantined()) == len(many_store.quarantined())


def test_aws_names_plan_without_opening_the_files(aws_estate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """AWS's object names say what a delivery is and when it was written: planning opens one file per flow
    log (for its format), no other, and finds what reading every file's first bytes finds."""
    import trailhound.timeline as timeline

    peeked: list[Path] = []
    real_peek = timeline.peek
    monkeypatch.setattr(timeline, "peek", lambda path, size=16384: peeked.append(path) or real_peek(path, size))
    files = sorted(p for p in aws_estate.logs.rglob("*.gz"))
    pending, _ = timeline.plan(files)
    flow_logs = {p.name.split("_")[3] for p in files if "_vpcflowlogs_" in p.name}
    assert len(files) > 1000 and len(pending) == len(files)
    assert len(peeked) == len(flow_logs) and all("_vpcflowlogs_" in p.name for p in peeked)
    monkeypatch.setattr(timeline, "from_name", lambda path: None)  # the same files planned by their content
    by_content = {f.path: f for f in timeline.plan(files)[0]}
    for f in pending:
        other = by_content[f.path]
        assert f.kind is other.kind and f.group == other.group
        assert f.start <= other.start  # early (memory) rather than late (order): the name is when it was written
        if not f.path.name.endswith(("attack0000000001.json.gz", "_0000a77a.log.gz")):  # (the simulator names its attack files for their first case)
            assert other.start - f.start <= timeline.NAME_LEAD_S + 600  # a delivery window earlier at most


def test_aws_named_estate_equals_the_same_files_under_other_names(aws_estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    renamed = tmp_path / "renamed"
    for i, p in enumerate(sorted(aws_estate.logs.rglob("*"))):
        if p.is_file():
            to = renamed / p.relative_to(aws_estate.logs).parent / f"delivery-{i:05d}{''.join(p.suffixes)}"
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, to)
    settings = ScanSettings(threat_lists=[aws_estate.threat_list], trusted_lists=[aws_estate.trusted_list], inventory=[aws_estate.inventory])
    named_store, other_store = Store(store_at(tmp_path, "named.db")), Store(store_at(tmp_path, "other.db"))
    named = Scanner(named_store, settings).scan([aws_estate.logs])
    other = Scanner(other_store, settings).scan([renamed])
    assert named.events == other.events and named.events_total > 10_000
    assert _summary(named_store)[0] == _summary(other_store)[0] and len(_summary(named_store)[0]) >= 40


def test_an_aws_name_on_other_content_is_what_its_content_says(tmp_path: Path) -> None:
    day = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2026" / "01" / "02"
    day.mkdir(parents=True)
    (day / "111122223333_CloudTrail_us-east-1_20260102T0005Z_AAAAAAAAAAAAAAAA.json.gz").write_bytes(
        gzip.compress(_flow([(T + i, f"203.0.113.{i}") for i in range(5)])))
    (day / "111122223333_CloudTrail_us-east-1_20260102T0010Z_BBBBBBBBBBBBBBBB.json.gz").write_bytes(gzip.compress(b"# notes\nnothing here\n"))
    report = Scanner(Store(store_at(tmp_path, "s.db")), ScanSettings(builtin_intel=False)).scan([tmp_path / "AWSLogs"])
    assert report.events.get("flow") == 5 and not report.events.get("cloudtrail")
    assert report.files_done == 2
    assert any("unknown format" in p.message for p in report.problems)


def test_a_copy_in_the_same_scan_is_read_once(aws_estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    logs = tmp_path / "logs"
    shutil.copytree(aws_estate.logs, logs / "original")
    shutil.copytree(aws_estate.logs, logs / "copy")
    report = Scanner(Store(store_at(tmp_path, "s.db")), ScanSettings(builtin_intel=False)).scan([logs])
    single = Scanner(Store(store_at(tmp_path, "one.db")), ScanSettings(builtin_intel=False)).scan([logs / "original"])
    assert report.events == single.events
    assert report.files_already_scanned == sum(1 for _ in (logs / "original").rglob("*.gz")) > 1000  # every log file once


def test_usage_bytes_are_the_files_bytes(tmp_path: Path) -> None:
    """Every analysed byte metered once, exactly, however the files were batched."""
    rows = [(T + i, f"9.9.9.{i % 200}") for i in range(100)]
    sizes = 0
    for f in range(7):
        data = _flow(rows[f::7])
        sizes += len(data)
        (tmp_path / f"f{f}.log.gz").write_bytes(gzip.compress(data))
    for batch in (1, 3, 1000):
        store = Store(store_at(tmp_path, f"b{batch}.db"))
        Scanner(store, ScanSettings(builtin_intel=False, batch_files=batch)).scan([tmp_path])
        [u] = store.usage()
        assert (u["events"], u["bytes"]) == (100, sizes)


def test_byte_shares_are_prefix_stable() -> None:
    from trailhound.pipeline import _byte_shares

    member_of = np.array([1, 0, 1, 1, 0, 2], dtype=np.int32)
    counts = np.bincount(member_of)
    w = _byte_shares(member_of, counts, np.array([10, 7, 5], dtype=np.int64))
    assert [int(w[member_of == m].sum()) for m in range(3)] == [10, 7, 5]
    alone = _byte_shares(np.zeros(3, dtype=np.int32), np.array([3]), np.array([7], dtype=np.int64))
    assert w[member_of == 1].tolist() == alone.tolist()  # a file's k-th event weighs the same in a batch and alone


def test_worker_processes_change_nothing_but_who_reads(aws_estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Planning and reading in a worker process: the same findings, usage and quarantine."""
    alone, alone_store = _scan(aws_estate, store_at(tmp_path, "alone.db"), workers=0)
    pooled, pooled_store = _scan(aws_estate, store_at(tmp_path, "pooled.db"), workers=1, pool_min_files=1)
    assert (alone.workers, pooled.workers) == (0, 1)
    assert pooled.events == alone.events and pooled.files_done == alone.files_done
    assert _summary(pooled_store) == _summary(alone_store)
    assert len(pooled_store.quarantined()) == len(alone_store.quarantined())


def test_worker_hands_back_what_it_could_not_read(tmp_path: Path) -> None:
    """The pool's contract: content read ahead, the error of a file that could not be read (the
    scan names it as it would have had it read the file itself), and None past its budget."""
    from trailhound.sources.pool import ReadPool
    from trailhound.timeline import PendingFile

    files = []
    for i in range(4):
        f = tmp_path / f"f{i}.log"
        f.write_bytes(_flow([(T + i, f"9.9.9.{i}")]) * 50)
        files.append(f)
    gone = tmp_path / "gone.log"
    pool = ReadPool(1, limit=10**8, budget=2 * files[0].stat().st_size)
    try:
        pool.prefetch([PendingFile(0, p, Kind.FLOW) for p in (files[0], gone, files[1], files[2], files[3])])
        first = pool.take(files[0])
        assert first is not None and not isinstance(first, OSError) and first.data == files[0].read_bytes()
        assert isinstance(pool.take(gone), FileNotFoundError)
        assert pool.take(files[1]) is not None
        assert pool.take(files[2]) is None  # past the budget: the caller reads it in place
        assert pool.take(files[0]) is None  # taken once
    finally:
        pool.close()


def test_a_batch_spans_a_day_not_a_month(tmp_path: Path) -> None:
    """A batch's events wait in memory until their time comes: tiny files days apart are not
    brought in together (memory would grow with the days a scan covers)."""
    for d in range(5):
        (tmp_path / f"day{d}.log").write_bytes(_flow([(T + 2 * 86400 * d + i, "9.9.9.9") for i in range(3)]))
    daily = Scanner(Store(store_at(tmp_path, "a.db")), ScanSettings(builtin_intel=False)).scan([tmp_path])
    unbounded = Scanner(Store(store_at(tmp_path, "b.db")), ScanSettings(builtin_intel=False, batch_span_s=float("inf"))).scan([tmp_path])
    assert (daily.runs, unbounded.runs) == (5, 1)
    assert daily.events == unbounded.events == {"flow": 15}
