"""Events of many files and sources reach the detectors in event-time order, each exactly once."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import write_cloudtrail

from trailhound.simulator.records import iam_user, record
from trailhound.config import ScanSettings
from trailhound.engine import Detector
from trailhound.events import Source
from trailhound.pipeline import Scanner
from trailhound.sources.files import read
from trailhound.store.database import Store

T0 = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
FLOW_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


class Recorder:
    """What the detectors saw, in the order they saw it: (time, source, event id)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str]] = []

    def detectors(self) -> list[Detector]:
        rec = self

        class CloudTrailRec(Detector):
            name = "record-cloudtrail"
            consumes: ClassVar[Source] = Source.CLOUDTRAIL
            findings = ()

            def run(self, events: Sequence[Any]) -> list:
                rec.seen.extend((e.event_time.timestamp(), "ct", e.event_id) for e in events)
                return []

        class DnsRec(Detector):
            name = "record-dns"
            consumes: ClassVar[Source] = Source.DNS
            findings = ()

            def run(self, events: Sequence[Any]) -> list:
                rec.seen.extend((e.query_timestamp.timestamp(), "dns", e.query_name) for e in events)
                return []

        class FlowRec(Detector):
            name = "record-flow"
            consumes: ClassVar[Source] = Source.FLOW
            findings = ()

            def run(self, events: Any) -> list:
                rec.seen.extend((float(s), "flow", str(p)) for s, p in zip(events["start"], events["srcport"]))
                return []

        return [CloudTrailRec(), DnsRec(), FlowRec()]

    def max_lag(self) -> float:
        """How far the stream ever went back in time."""
        worst, latest = 0.0, float("-inf")
        for t, _, _ in self.seen:
            worst = max(worst, latest - t)
            latest = max(latest, t)
        return worst


def _scan(paths: list[Path], db: Path | str = ":memory:", **settings: Any) -> tuple[Recorder, Scanner]:
    rec = Recorder()
    scanner = Scanner(Store(db), ScanSettings(**settings), detectors=rec.detectors())
    scanner.scan(paths)
    return rec, scanner


def _jumbled(items: list[tuple[float, Any]], rng: random.Random, spread: float) -> list[Any]:
    """Items in roughly time order, as log files hold them: each may be up to `spread` seconds out of place."""
    return [item for _, item in sorted((t + rng.uniform(0, spread), item) for t, item in items)]


def _estate(root: Path, rng: random.Random) -> Counter:
    """3 CloudTrail files interleaved over 3 hours, 2 flow files and 2 DNS files overlapping them.

    Every file is bigger than the 16 KB that planning peeks at, and its records are only roughly
    in time order (minutes out of place), as in real deliveries. Returns every expected event.
    """
    expected: Counter = Counter()
    for f in range(3):
        recs = []
        for i in range(60):
            t = T0 + timedelta(minutes=3 * i + f, seconds=rng.randrange(60))
            r = record("DescribeInstances", "ec2.amazonaws.com", time=t, identity=iam_user(ACCOUNT, f"user{f}"))
            recs.append((t.timestamp(), r))
            expected[(t.timestamp(), "ct", r["eventID"])] += 1
        # file names sort against time order on purpose
        write_cloudtrail(root / "cloudtrail" / f"{9 - f}-trail.json.gz", _jumbled(recs, rng, 300), gz=f != 1)
    for f in range(2):
        lines = []
        for i in range(200):  # from 30 min before the trail to 30 min after it
            start = int((T0 + timedelta(minutes=-30 + 1.2 * i)).timestamp()) + rng.randrange(60)
            port = 20000 + 1000 * f + i
            lines.append((start, f"2 {ACCOUNT} eni-0a1b2c3{f} 10.0.1.5 198.51.100.{i % 250} {port} 443 6 10 840 {start} {start + 60} ACCEPT OK"))
            expected[(float(start), "flow", str(port))] += 1
        flow = root / "vpcflow" / f"eni-0a1b2c3{f}.log.gz"
        flow.parent.mkdir(parents=True, exist_ok=True)
        flow.write_bytes(gzip.compress((FLOW_HEADER + "\n" + "\n".join(_jumbled(lines, rng, 600)) + "\n").encode()))
    dns = []
    for i in range(240):  # the middle hour, in two files
        t = T0 + timedelta(minutes=60 + i // 4, seconds=rng.randrange(60))
        name = f"q{i:04d}.example.com."
        dns.append((t.timestamp(), json.dumps({"version": "1.100000", "account_id": ACCOUNT, "region": "us-east-1", "vpc_id": "vpc-0abc",
                               "query_timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": name, "query_type": "A",
                               "query_class": "IN", "rcode": "NOERROR", "answers": [], "srcaddr": "10.0.1.5", "srcport": "5353",
                               "transport": "UDP", "srcids": {"instance": "i-0123456789abcdef0"}})))
        expected[(t.timestamp(), "dns", name)] += 1
    (root / "dns").mkdir()
    (root / "dns" / "a.log").write_text("\n".join(_jumbled(dns[::2], rng, 120)) + "\n")
    (root / "dns" / "b.log.gz").write_bytes(gzip.compress(("\n".join(_jumbled(dns[1::2], rng, 120)) + "\n").encode()))
    return expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sources_merge_in_time_order_within_the_quantum(tmp_path: Path, seed: int) -> None:
    expected = _estate(tmp_path / "logs", random.Random(seed))
    rec, scanner = _scan([tmp_path / "logs"])
    # every event exactly once
    assert Counter(rec.seen) == expected
    assert scanner.report.events == Counter({"cloudtrail": 180, "flow": 400, "dns": 240})
    # every file is bigger than what planning peeks at
    assert min(len(read(f).data) for f in (tmp_path / "logs").rglob("*.*")) > 16384
    # non-decreasing to within the 60 s quantum
    assert rec.max_lag() <= 60.0
    # and really interleaved: the sources alternate many times (not one file after the other)
    switches = sum(1 for a, b in zip(rec.seen, rec.seen[1:]) if a[1] != b[1])
    assert switches >= 20


def test_zero_quantum_gives_strict_order(tmp_path: Path) -> None:
    expected = _estate(tmp_path / "logs", random.Random(7))
    rec, _ = _scan([tmp_path / "logs"], order_quantum_s=0.0)
    assert Counter(rec.seen) == expected
    times = [t for t, _, _ in rec.seen]
    assert times == sorted(times)


def test_quantum_bounds_the_disorder(tmp_path: Path) -> None:
    expected = _estate(tmp_path / "logs", random.Random(11))
    rec, _ = _scan([tmp_path / "logs"], order_quantum_s=600.0)
    assert Counter(rec.seen) == expected
    assert rec.max_lag() <= 600.0


def test_history_first_whatever_the_file_names(tmp_path: Path) -> None:
    """Older files are processed first although their names (and folders) sort after the newer ones."""
    logs = tmp_path / "logs"
    old = T0 - timedelta(days=30)
    periods = {  # name -> first event time; names sort the other way round
        "a/2025-09-01.json.gz": T0,
        "b/zz-2025-08-15.json": T0 - timedelta(days=17),
        "c/2025-08-02.json.gz": old,
    }
    ids: dict[str, list[str]] = {}
    for name, start in periods.items():
        recs = [record("GetCallerIdentity", "sts.amazonaws.com", time=start + timedelta(minutes=i)) for i in range(5)]
        write_cloudtrail(logs / name, recs, gz=name.endswith(".gz"))
        ids[name] = [r["eventID"] for r in recs]
    flow = logs / "0-flows.log"  # the newest of all, first by name
    t = int((T0 + timedelta(days=1)).timestamp())
    flow.write_text("\n".join(f"2 {ACCOUNT} eni-1 10.0.0.1 10.0.0.2 {1000 + i} 22 6 1 60 {t + i} {t + i + 60} ACCEPT OK" for i in range(3)))
    rec, _ = _scan([logs])
    order = [eid for _, src, eid in rec.seen if src == "ct"]
    assert order == ids["c/2025-08-02.json.gz"] + ids["b/zz-2025-08-15.json"] + ids["a/2025-09-01.json.gz"]
    assert [src for _, src, _ in rec.seen][-3:] == ["flow"] * 3
    times = [ts for ts, _, _ in rec.seen]
    assert times == sorted(times)


def test_earliest_record_late_in_a_flow_file(tmp_path: Path) -> None:
    """A flow file's first lines are not its earliest: its early records still come before later CloudTrail events."""
    logs = tmp_path / "logs"
    recs = [record("DescribeInstances", "ec2.amazonaws.com", time=T0 + timedelta(minutes=i)) for i in range(30)]
    write_cloudtrail(logs / "trail.json.gz", recs)
    t0 = int(T0.timestamp())
    starts = [t0 + 1500, t0 + 1440, t0 + 1380, t0 + 1320] + [t0 + 60 * k for k in range(20)]
    (logs / "flows.log").write_text(FLOW_HEADER + "\n" + "\n".join(
        f"2 {ACCOUNT} eni-1 10.0.0.1 10.0.0.2 {30000 + i} 22 6 1 60 {s} {s + 60} ACCEPT OK" for i, s in enumerate(starts)) + "\n")
    rec, _ = _scan([logs])
    assert len(rec.seen) == 30 + len(starts)
    assert rec.max_lag() <= 60.0


def test_earliest_query_late_in_a_dns_file(tmp_path: Path) -> None:
    """Same for Route 53: the first line of a resolver log is not necessarily its earliest query."""
    logs = tmp_path / "logs"
    recs = [record("DescribeInstances", "ec2.amazonaws.com", time=T0 + timedelta(minutes=i)) for i in range(30)]
    write_cloudtrail(logs / "trail.json.gz", recs)
    minutes = [25, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    (logs / "resolver.log").write_text("\n".join(json.dumps({
        "version": "1.100000", "account_id": ACCOUNT, "region": "us-east-1", "vpc_id": "vpc-0abc",
        "query_timestamp": (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": f"n{k}.example.com.",
        "query_type": "A", "query_class": "IN", "rcode": "NOERROR", "answers": [], "srcaddr": "10.0.1.5", "srcport": "5353",
        "transport": "UDP", "srcids": {}}) for k, m in enumerate(minutes)) + "\n")
    rec, _ = _scan([logs], order_quantum_s=0.0)
    assert len(rec.seen) == 30 + len(minutes)
    times = [t for t, _, _ in rec.seen]
    assert times == sorted(times)


def test_deliveries_whose_first_bytes_miss_their_earliest_events(tmp_path: Path) -> None:
    """Real deliveries are not sorted: when a file's first 16 KB hold only its later events, the
    timeline learns how far off its start estimates are and opens the next files that much sooner."""
    logs = tmp_path / "logs"
    for f in range(6):
        base = T0 + timedelta(minutes=8 * f)  # each file spans 10 minutes: neighbours overlap by 2
        recs = [record("DescribeInstances", "ec2.amazonaws.com", time=base + timedelta(seconds=5 * i),
                       params={"pad": "x" * 300, "i": i}) for i in range(120)]
        recs.reverse()  # the earliest events last, far beyond the peeked bytes
        write_cloudtrail(logs / f"f{f}.json", recs, gz=False)
    assert min(p.stat().st_size for p in logs.iterdir()) > 3 * 16384
    rec, _ = _scan([logs])
    assert len(rec.seen) == 6 * 120
    assert rec.max_lag() <= 60.0


def test_one_absurd_timestamp_does_not_open_every_file(tmp_path: Path) -> None:
    """A record dated 0001 (or 9999) in one file must not make the merge hold the whole estate in memory."""
    from trailhound.pipeline import Scanner as Base

    class Counting(Base):
        open_now = most = 0

        def _open(self, pending):  # type: ignore[override]
            run = super()._open(pending)
            if run is not None:
                Counting.open_now += 1
                Counting.most = max(Counting.most, Counting.open_now)
            return run

        def _finished(self, run) -> None:  # type: ignore[override]
            Counting.open_now -= 1
            super()._finished(run)

    for i in range(60):
        recs = [record("DescribeInstances", "ec2.amazonaws.com", time=T0 + timedelta(minutes=5 * i, seconds=s), identity=iam_user(ACCOUNT))
                for s in range(0, 240, 60)]
        if i in (30, 31):  # far down the file, past the head the planner reads: only parsing meets it
            recs += [{**recs[0], "eventID": f"filler{n}", "requestParameters": {"filler": "x" * 400}} for n in range(60)]
            recs.append({**recs[0], "eventTime": "0001-01-01T00:00:00Z" if i == 30 else "9999-12-31T00:00:00Z"})
        write_cloudtrail(tmp_path / "logs" / f"ct{i:03d}.json.gz", recs)
    report = Counting(Store(":memory:"), ScanSettings()).scan([tmp_path / "logs"])
    assert report.events["cloudtrail"] == 240 + 120 and report.bad_records == 2
    assert Counting.most <= 4


def test_aws_object_names_tell_kind_and_time_and_nothing_else_does() -> None:
    from trailhound.formats.base import Kind
    from trailhound.timeline import NAME_LEAD_S, from_name

    written = datetime(2026, 1, 2, 3, 5, tzinfo=UTC).timestamp() - NAME_LEAD_S
    assert from_name(Path("111122223333_CloudTrail_us-east-2_20260102T0305Z_Mu0KsOhtH1ar15ZZ.json.gz")) == (Kind.CLOUDTRAIL, written, "")
    assert from_name(Path("111122223333_vpcflowlogs_eu-west-1_fl-0a1b2c3d4e5f6a7b8_20260102T0305Z_fe123456.log.gz")) == (
        Kind.FLOW, written, "fl-0a1b2c3d4e5f6a7b8")
    assert from_name(Path("111122223333_vpcdnsquerylogs_vpc-0a1b2c3d_20260102T0305Z_8386e821.log.gz")) == (Kind.DNS, written, "")
    for other in ("111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20260102T030500Z.json.gz",  # integrity proofs
                  "111122223333_CloudTrail-Insight_us-east-1_20260102T0305Z_Mu0KsOhtH1ar15ZZ.json.gz",  # another record shape
                  "111122223333_CloudTrail_us-east-1_20261302T0305Z_Mu0KsOhtH1ar15ZZ.json.gz",  # a 13th month
                  "111122223333_CloudTrail_us-east-1_20260102T0305Z_Mu0KsOhtH1ar15ZZ.json",  # not as AWS delivers it
                  "CloudTrail_us-east-1_20260102T0305Z_x.json.gz", "trail.json.gz"):
        assert from_name(Path(other)) is None, other
