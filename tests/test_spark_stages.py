"""The Spark job's two stages in plain Python (no JVM): files shipped by ``spark.shipping`` in any
number of partitions, then run bucket by bucket by ``spark.buckets``, give the findings ``scan`` gives
on the same estate — ids, types, counts, first and last seen, severity — attack sequences included: they
correlate the findings of every bucket, in a third stage grouped by the bucket of each finding's actor."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from trailhound.config import ScanSettings
from trailhound.intel.stored import StoredLists
from trailhound.pipeline import Scanner
from trailhound.sources.files import walk
from trailhound.spark import buckets, job, shipping
from trailhound.store import tables as T
from trailhound.store.database import Store
from trailhound.simulator.labelled import simulate
from trailhound.simulator.records import ATTACKER_IP, TRUSTED_IP, iam_user, record
from api_server import live_server
from conftest import write_cloudtrail

ACCOUNT = "111122223333"

SETTINGS = ScanSettings(flush_at_end=False)  # a stream never ends: open windows stay open, in scan and in the job


def findings(store: Store) -> dict[str, tuple[Any, ...]]:
    """What must match: each finding's type, count, first and last event, severity (not wall-clock times)."""
    out = {}
    for r in store.conn.execute(select(T.findings.c.id, T.findings.c.doc)):
        d = orjson.loads(r.doc) if isinstance(r.doc, (str, bytes)) else r.doc
        out[r.id] = (d["type"], d["service"]["count"], d["service"]["eventFirstSeen"], d["service"]["eventLastSeen"], d["severity"])
    return out


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, tuple[Any, ...]]]:
    """A two-day simulated estate with every case on its attack day (AWS's delivery shape), its
    describe-instances inventory apart, and what ``scan`` finds in it."""
    est = simulate(tmp_path_factory.mktemp("spark-estate"), None, seed=11, scale=0.15, days=2)
    logs = est.logs / "AWSLogs"
    store = Store(":memory:")
    Scanner(store, ScanSettings(flush_at_end=False, inventory=[est.inventory])).scan([logs])
    return logs, est.inventory, findings(store)


def through_stages(logs: Path, inventory: Path | None, partitions: int, micro_batches: int = 1,
                   sizes: dict[tuple[str, str], int] | None = None, db: str = ":memory:",
                   settings: ScanSettings = SETTINGS) -> dict[str, tuple[Any, ...]]:
    """The job's path without Spark: the files dealt round-robin to partitions (the worst spread: every
    stream's files in every partition), in ``micro_batches`` batches in delivery order; each stage's rows
    grouped by their bucket, as Spark's shuffle does. ``sizes``: filled with the bytes of each envelope left in
    the buckets' state. ``db``: the sink's store; the executors read it as the job's do (``job._context``)."""
    sink_store = Store(db)
    sink = Scanner(sink_store, dataclasses.replace(settings, inventory=[inventory] if inventory else []))
    sink.scan([])  # the inventory into the store, as the job's driver does first
    job._built.clear()  # (a worker serves one job: its inventory only grows)
    detectors = {n: d for n, d in sink.engine.detectors.items() if not d.correlates}
    correlators = {n: d for n, d in sink.engine.detectors.items() if d.correlates}
    assert correlators  # the attack sequences: stage 3
    # in delivery order, as Spark's file source takes new files (oldest first): AWS's names carry the time
    files = sorted((str(p) for p in walk([logs])), key=lambda f: (m.group(1) if (m := re.search(r"_(\d{8}T\d{4})Z_", f)) else "", f))
    stage2: dict[int, tuple[buckets.DictMap, buckets.DictMap, list[float]]] = {}
    stage3: dict[int, tuple[buckets.DictMap, buckets.DictMap, list[float]]] = {}

    def stage(maps: dict[int, Any], shipped: list[shipping.Shipped], step: Any, dets: dict[str, Any]) -> list[shipping.Shipped]:
        by_bucket: dict[int, list[shipping.Shipped]] = {}
        for s in shipped:
            by_bucket.setdefault(s.bucket, []).append(s)
        out = []
        for b, rows in by_bucket.items():
            rows_map, timers_map, clock = maps.setdefault(b, (buckets.DictMap(), buckets.DictMap(), [-float("inf"), -float("inf")]))
            found, clock[0], clock[1] = step(buckets.BucketState(rows_map, timers_map, dets), settings.allowed_lateness_s, clock[0], rows, clock[1])
            out += found
        return out

    per_batch = -(-len(files) // micro_batches)
    for start in range(0, len(files), per_batch):
        batch = files[start : start + per_batch]
        shipped: list[shipping.Shipped] = []
        context = job._context(db) if db != ":memory:" else job.Context(sink_store.meta("inventory"), StoredLists(), "")
        for p in range(partitions):
            shipped += shipping.ship(((f, Path(f).read_bytes()) for f in batch[p::partitions]), settings, context.inventory, context.lists)
        ticks_on = buckets.has_timers(correlators)
        found = stage(stage2, shipped, lambda *a: buckets.detect(detectors, *a, ticks_on=ticks_on), detectors)
        screen = job._detectors(settings, context).screen  # the executors' own, with the store's lists and inventory
        out = stage(stage3, found, functools.partial(buckets.correlate, correlators, screen), correlators)
        assert not [s for s in out if s.kind == shipping.PROBLEM]
        sink.add_occurrences([shipping.decode_occurrence(s.payload) for s in out if s.kind == shipping.OCCURRENCE])
        sink.commit()
    sink_store.close() if db != ":memory:" else None
    if sizes is not None:  # each envelope's size as the job stores it: key, version, three times, the state's bytes
        for rows_map, _, _ in (*stage2.values(), *stage3.values()):
            sizes.update({k: len(k[0]) + len(k[1]) + 28 + len(row[4]) for k, row in rows_map.items()})
    return findings(Store(db, readonly=True) if db != ":memory:" else sink_store)


def test_scan_finds_enough_to_compare(estate: tuple[Path, Path, dict[str, tuple[Any, ...]]]) -> None:
    types = Counter(v[0] for v in estate[2].values())
    # flows, identities, instance credentials, DNS and rules: the comparison covers every kind of detector
    for prefix in ("Recon:EC2/", "UnauthorizedAccess:EC2/", "Behavior:EC2/", "IAMUser/AnomalousBehavior", "InstanceCredentialExfiltration",
                   "Trojan:EC2/DGADomainRequest", "Policy:IAMUser/RootCredentialUsage", "AttackSequence:IAM/", "AttackSequence:S3/"):
        assert any(prefix in t for t in types), (prefix, types)
    assert len(estate[2]) >= 60


@pytest.mark.parametrize("partitions", [1, 5])
def test_shipped_and_bucketed_findings_are_scans(estate: tuple[Path, Path, dict[str, tuple[Any, ...]]], partitions: int) -> None:
    logs, inventory, expected = estate
    got = through_stages(logs, inventory, partitions)
    assert set(got) == set(expected), (Counter(expected[k][0] for k in set(expected) - set(got)), Counter(got[k][0] for k in set(got) - set(expected)))
    assert got == expected


def test_state_carried_across_micro_batches(estate: tuple[Path, Path, dict[str, tuple[Any, ...]]]) -> None:
    """Six micro-batches in three partitions: each bucket's state, timers and watermark go from one to the next."""
    logs, inventory, expected = estate
    assert through_stages(logs, inventory, 3, micro_batches=6) == expected


def test_buckets_are_spread_and_stable() -> None:
    keys = [f"i-{n:017x}" for n in range(2000)]
    counts = Counter(map(shipping.bucket_of, keys))
    assert len(counts) == shipping.BUCKETS and max(counts.values()) < 3 * 2000 / shipping.BUCKETS
    # a key's bucket is part of every checkpoint: the same in every process and every release
    assert shipping.bucket_of("i-0123456789abcdef0") == 47


def test_the_apis_lists_reach_the_executors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ThreatIntelSet and an IPSet made through the API (boto3) are used by the executors as by ``scan``: the
    listed caller is found by stage 1's rule, the trusted one is no finding and, in stage 3, no signal."""
    lists = tmp_path / "lists"
    lists.mkdir()
    monkeypatch.setenv("TRAILHOUND_LISTS_DIR", str(lists))
    (lists / "threats.txt").write_text(f"{ATTACKER_IP}\n{TRUSTED_IP}\n")
    (lists / "office.txt").write_text(f"{TRUSTED_IP}\n")
    logs = tmp_path / "logs"
    t0 = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    write_cloudtrail(logs / "a.json.gz", [record("ListAccessKeys", "iam.amazonaws.com", time=t0, account=ACCOUNT, identity=iam_user(ACCOUNT, "bad"), ip=ATTACKER_IP),
                                          record("ListAccessKeys", "iam.amazonaws.com", time=t0, account=ACCOUNT, identity=iam_user(ACCOUNT, "ok"), ip=TRUSTED_IP)])
    settings = ScanSettings(flush_at_end=False, builtin_intel=False)
    expected = {}
    for name in ("scan", "stages"):
        db = str(tmp_path / f"{name}.db")
        with live_server(db) as live:
            gd = live.client(ACCOUNT, admin=True)
            det = gd.create_detector(Enable=True)["DetectorId"]
            gd.create_threat_intel_set(DetectorId=det, Name="corp-threats", Format="TXT", Location=str(lists / "threats.txt"), Activate=True)
            gd.create_ip_set(DetectorId=det, Name="office", Format="TXT", Location=str(lists / "office.txt"), Activate=True)
        if name == "scan":
            store = Store(db)
            Scanner(store, settings).scan([logs])
            expected = findings(store)
            store.close()
        else:
            got = through_stages(logs, None, 2, db=db, settings=settings)
    assert sorted(v[0] for v in expected.values()) == ["Recon:IAMUser/MaliciousIPCaller.Custom"]
    assert got == expected


def test_stage_3_is_woken_by_ticks_only_for_correlators_with_timers() -> None:
    dets = Scanner(Store(":memory:"), SETTINGS).engine.detectors
    assert not buckets.has_timers({n: d for n, d in dets.items() if d.correlates})  # the attack sequence has none
    assert buckets.has_timers({n: d for n, d in dets.items() if not d.correlates})  # windows close on timers
    tick = shipping.Shipped(shipping.TICK, 7, "", "", 100.0, 100.0, 100.0, b"")
    state = buckets.BucketState(buckets.DictMap(), buckets.DictMap(), [])
    assert [s.kind for s in buckets.detect({}, state, 300.0, -float("inf"), [tick], ticks_on=True)[0]] == [shipping.TICK]
    assert buckets.detect({}, state, 300.0, -float("inf"), [tick], ticks_on=False)[0] == []


def test_the_identity_detectors_calls_are_shipped_once(estate: tuple[Path, Path, dict[str, tuple[Any, ...]]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Detectors keying calls alike (the identity detectors' shared ``key_by``) get one row per key and batch,
    each call once; decoded, each detector's part is the group it would have had alone, and smaller in all."""
    logs, inventory, _ = estate
    files = [(str(p), p.read_bytes()) for p in walk([logs]) if "CloudTrail" in p.name]
    sink = Scanner(Store(":memory:"), dataclasses.replace(SETTINGS, inventory=[inventory]))
    sink.scan([])
    context = job.Context(sink.store.meta("inventory"), StoredLists(), "")
    shipped = [s for s in shipping.ship(files, SETTINGS, context.inventory, context.lists) if s.kind == shipping.ROWS]
    shared = [s for s in shipped if "," in s.det]
    assert shared, "no row was shared"
    names = set(shipping.detectors_of(shared[0]))
    assert {"iam-anomalous-behavior", "attack-sequence"} <= names
    # the same files with every group shipped alone: what each detector gets must not change
    groups: dict[tuple[str, str], list[tuple[float, str]]] = {}
    alone = 0
    detectors = sink.engine.detectors
    with monkeypatch.context() as m:
        m.setattr(shipping, "_rows", lambda gs: (shipping.Shipped(shipping.ROWS, shipping.bucket_of(k), d.name, k, last, first, last,
                                                                  shipping.encode_rows(d, r)) for d, k, r, first, last, _ in gs))
        for s in shipping.ship(files, SETTINGS, context.inventory, context.lists):
            if s.kind == shipping.ROWS:
                alone += len(s.payload)
                rows = shipping.decode_rows(detectors[s.det], s.payload)
                groups.setdefault((s.det, s.key), []).extend(zip(rows.times, (e.event_id for e in rows)))
    together: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for s in shipped:
        if "," in s.det:
            parts = shipping.decode_shared(detectors, detectors[shipping.detectors_of(s)[0]].consumes, s.payload)
            for name, (rows, first, last) in parts.items():
                assert (first, last) == (min(rows.times), max(rows.times))
                assert rows.facts == [detectors[name].facts_by(e) for e in rows]
                together.setdefault((name, s.key), []).extend(zip(rows.times, (e.event_id for e in rows)))
        else:
            rows = shipping.decode_rows(detectors[s.det], s.payload)
            together.setdefault((s.det, s.key), []).extend(zip(rows.times, (e.event_id for e in rows)))
    assert together == groups
    assert sum(len(s.payload) for s in shipped) < 0.75 * alone  # (measured: 15.1 MB against 23.3 MB)
