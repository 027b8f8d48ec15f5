"""The scale-out contract: every keyed detector gives the same findings when its rows are split by a
hash of their key into 4 partitions, each run by its own engine (its own watermark, its own batch
sizes, partitions in any order) as when one engine sees everything. This is what the Spark runner
relies on: ``groupBy(hash(key) % B)`` and state per key, nothing shared.
"""

from __future__ import annotations

import gzip
import random
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from trailhound.detectors import all_cases, default_detectors
from trailhound.engine import Engine, KeyedDetector
from trailhound.engine.detector import rows_for
from trailhound.engine.runner import event_time, group
from trailhound.enrich.flows import mark_addresses
from trailhound.enrich.geo import default_provider
from trailhound.enrich.places import GeoPlaces
from trailhound.events import Source
from trailhound.findings.model import Finding, Occurrence, aggregate, encode, finding_id, new_finding
from trailhound.formats import Kind, parse
from trailhound.intel.builtin import builtin_index
from trailhound.intel.combined import CombinedIntel
from trailhound.simulator import EstateSpec, write_estate
from trailhound.simulator.attack_day import write_case_logs

START = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)
PARTITIONS = 4
INTEL = CombinedIntel(builtin_index())
KEYED = [d for d in default_detectors(INTEL, GeoPlaces(default_provider())) if isinstance(d, KeyedDetector)]


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[Source, Any]:
    """Every case's records and a small benign estate (CloudTrail, flows, DNS), decoded as the pipeline decodes them, in time order."""
    root = tmp_path_factory.mktemp("partitions")
    files = write_case_logs(root / "cases", all_cases(START))
    estate = write_estate(root / "estate", EstateSpec(start=datetime(2026, 11, 4, tzinfo=UTC), days=1, seed=5, cloudtrail_events=3000,
                                                      flow_lines=20000, dns_lines=1000, instances=8, users=4))
    frames, calls, queries = [], [], []
    for f in files + estate.flow + estate.cloudtrail + estate.dns:
        data = f.read_bytes()
        parsed = parse(f, gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        if parsed.kind is Kind.FLOW:
            frames.append(mark_addresses(parsed.events, INTEL.ip))
        elif parsed.kind is Kind.CLOUDTRAIL:
            calls.extend(parsed.events)
        elif parsed.kind is Kind.DNS:
            queries.extend(parsed.events)
    flows = pl.concat(frames, how="vertical_relaxed").sort("start", maintain_order=True)
    calls.sort(key=event_time)
    queries.sort(key=event_time)
    return {Source.FLOW: flows, Source.CLOUDTRAIL: calls, Source.DNS: queries}


def _batches(rows: Any, rnd: random.Random) -> list[Any]:
    """Consecutive batches of random sizes (1 to 400 rows), as files and slices would cut them."""
    out, i, n = [], 0, rows.height if isinstance(rows, pl.DataFrame) else len(rows)
    while i < n:
        size = rnd.randint(1, 400)
        out.append(rows.slice(i, size) if isinstance(rows, pl.DataFrame) else rows[i : i + size])
        i += size
    return out


def _run(det: KeyedDetector, rows: Any, rnd: random.Random) -> list[Occurrence]:
    engine = Engine([det], None, lateness=300.0)
    out: list[Occurrence] = []
    for batch in _batches(rows, rnd):
        out += engine.feed(det, batch)
        last = float(batch["start"].max()) if isinstance(batch, pl.DataFrame) else max(map(event_time, batch))
        out += engine.advance(last)
    return out + engine.flush()


def _partitions(det: KeyedDetector, rows: Any) -> list[Any]:
    """The detector's rows split by a stable hash of their key; each part keeps its time order."""
    selected = rows_for(det, rows)
    if isinstance(rows, pl.DataFrame):
        bucket = selected.select(det.key.alias("k"))["k"].map_elements(lambda k: zlib.crc32(k.encode()) % PARTITIONS if k else -1,
                                                                        return_dtype=pl.Int64)
        return [selected.filter(bucket == i) for i in range(PARTITIONS)]
    parts: list[list[Any]] = [[] for _ in range(PARTITIONS)]
    for key, (key_rows, _, _) in group(det, selected).items():
        parts[zlib.crc32(key.encode()) % PARTITIONS].extend(key_rows)
    return [sorted(p, key=event_time) for p in parts]


def _findings(occurrences: list[Occurrence]) -> dict[str, bytes]:
    found: dict[str, Finding] = {}
    for occ in occurrences:
        fid = finding_id(occ)
        found[fid] = aggregate(found[fid], occ, 0.0) if fid in found else new_finding(occ, "detector", 0.0)
    return {fid: encode(f) for fid, f in found.items()}


@pytest.mark.parametrize("det", KEYED, ids=[d.name for d in KEYED])
def test_same_findings_in_four_partitions_as_in_one(det: KeyedDetector, streams: dict[Source, Any]) -> None:
    rows = streams[det.consumes]
    one = _findings(_run(det, rows, random.Random(1)))
    assert one, f"{det.name}: the cases must make it fire, or the comparison proves nothing"
    parts = list(enumerate(_partitions(det, rows)))
    random.Random(2).shuffle(parts)  # any order across partitions
    split: list[Occurrence] = []
    for i, part in parts:
        split += _run(det, part, random.Random(10 + i))
    assert _findings(split) == one


def test_partitions_really_split_the_keys(streams: dict[Source, Any]) -> None:
    det = next(d for d in KEYED if d.name == "brute-force-target")
    sizes = [p.height for p in _partitions(det, streams[Source.FLOW])]
    assert sum(1 for s in sizes if s) >= 2


def test_state_per_entity_stays_small(streams: dict[Source, Any]) -> None:
    """≤ 2 KB per tracked entity in the typical case; bounded (a few KB) while an attack fills an entity's
    windows and they wait out the allowed lateness."""
    import statistics

    import msgspec

    everything: list[int] = []
    for det in KEYED:
        engine = Engine([det], None, lateness=300.0)
        sizes: list[int] = []
        for batch in _batches(streams[det.consumes], random.Random(3)):
            engine.feed(det, batch)
            sizes += [len(msgspec.msgpack.encode(e.value)) for e in engine.states._cache.values() if e is not None]
            engine.advance(float(batch["start"].max()) if isinstance(batch, pl.DataFrame) else max(map(event_time, batch)))
        assert max(sizes, default=0) <= 6144, (det.name, max(sizes))
        everything += sizes
    assert len(everything) > 100 and statistics.median(everything) <= 2048
