"""The Spark job's two stages in plain Python (no JVM): files shipped by ``spark.shipping`` in any
number of partitions, then run bucket by bucket by ``spark.buckets``, give the findings ``scan`` gives
on the same estate — ids, types, counts, first and last seen, severity. Attack sequences are left out:
they correlate the findings of every bucket (the job does not run them; see the README)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.sources.files import walk
from trailhound.spark import buckets, shipping
from trailhound.store import tables as T
from trailhound.store.database import Store
from trailhound.simulator.labelled import simulate

SETTINGS = ScanSettings(flush_at_end=False)  # a stream never ends: open windows stay open, in scan and in the job


def findings(store: Store) -> dict[str, tuple[Any, ...]]:
    """What must match: each finding's type, count, first and last event, severity (not wall-clock times)."""
    out = {}
    for r in store.conn.execute(select(T.findings.c.id, T.findings.c.doc)):
        d = orjson.loads(r.doc) if isinstance(r.doc, (str, bytes)) else r.doc
        if not d["type"].startswith("AttackSequence:"):
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
                   sizes: dict[tuple[str, str], int] | None = None) -> dict[str, tuple[Any, ...]]:
    """The job's path without Spark: the files dealt round-robin to partitions (the worst spread: every
    stream's files in every partition), in ``micro_batches`` batches in delivery order. ``sizes``: filled with the
    bytes of each envelope left in the buckets' state."""
    sink_store = Store(":memory:")
    sink = Scanner(sink_store, ScanSettings(flush_at_end=False, inventory=[inventory] if inventory else []))
    sink.scan([])  # the inventory into the store, as the job's driver does first
    detectors = {n: d for n, d in sink.engine.detectors.items() if not d.correlates}
    inv = sink_store.meta("inventory")
    # in delivery order, as Spark's file source takes new files (oldest first): AWS's names carry the time
    files = sorted((str(p) for p in walk([logs])), key=lambda f: (m.group(1) if (m := re.search(r"_(\d{8}T\d{4})Z_", f)) else "", f))
    maps: dict[int, tuple[buckets.DictMap, buckets.DictMap, list[float]]] = {}
    per_batch = -(-len(files) // micro_batches)
    for start in range(0, len(files), per_batch):
        batch = files[start : start + per_batch]
        shipped: list[shipping.Shipped] = []
        for p in range(partitions):
            shipped += shipping.ship(((f, Path(f).read_bytes()) for f in batch[p::partitions]), SETTINGS, inv)
        occurrences = [shipping.decode_occurrence(s.payload) for s in shipped if s.kind == shipping.OCCURRENCE]
        by_bucket: dict[int, list[shipping.Shipped]] = {}
        for s in shipped:
            if s.kind in (shipping.ROWS, shipping.TICK):
                by_bucket.setdefault(s.bucket, []).append(s)
        for b, rows in by_bucket.items():
            rows_map, timers_map, clock = maps.setdefault(b, (buckets.DictMap(), buckets.DictMap(), [-float("inf"), -float("inf")]))
            state = buckets.BucketState(rows_map, timers_map, detectors)
            found, problems, clock[0], clock[1] = buckets.run(detectors, state, SETTINGS.allowed_lateness_s, clock[0], rows, clock[1])
            assert not problems
            occurrences += found
        sink.add_occurrences(occurrences)
        sink.commit()
    if sizes is not None:  # each envelope's size as the job stores it: key, version, three times, the state's bytes
        for rows_map, _, _ in maps.values():
            sizes.update({k: len(k[0]) + len(k[1]) + 28 + len(row[4]) for k, row in rows_map.items()})
    return findings(sink_store)


def test_scan_finds_enough_to_compare(estate: tuple[Path, Path, dict[str, tuple[Any, ...]]]) -> None:
    types = Counter(v[0] for v in estate[2].values())
    # flows, identities, instance credentials, DNS and rules: the comparison covers every kind of detector
    for prefix in ("Recon:EC2/", "UnauthorizedAccess:EC2/", "Behavior:EC2/", "IAMUser/AnomalousBehavior", "InstanceCredentialExfiltration",
                   "Trojan:EC2/DGADomainRequest", "Policy:IAMUser/RootCredentialUsage"):
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
