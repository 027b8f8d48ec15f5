"""Stage 1 of the Spark job: files in, keyed rows and rule findings out, by ``scan``'s own pipeline.

A partition's files are scanned as ``scan`` would scan them (event-time order across them, every
stage and rule), except that the keyed detectors do not run here: ``Capture`` is an engine that
groups each detector's rows by key, exactly as ``Engine.feed`` does before calling ``update``, and
keeps the groups. Each group becomes one ``Shipped`` row (the groups of one key in one batch of calls, for
detectors with the same key function, one row for all: ``_rows``); the stateful stage (``buckets``) runs it.
"""

from __future__ import annotations

import dataclasses
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from trailhound.config import ScanSettings
from trailhound.engine.detector import rows_for
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.runner import Engine, Records, group
from trailhound.events import ApiCall, DnsQuery, Source
from trailhound.findings.model import Occurrence, Raised
from trailhound.formats.base import Problem
from trailhound.intel.stored import StoredLists
from trailhound.pipeline import Scanner
from trailhound.store.database import Store

# What a shipped row is (its ``kind``)
ROWS = "rows"  # one key's rows in one slice of a partition's files, for the detectors ``det`` names (comma-separated): ``buckets`` runs them
OCCURRENCE = "occ"  # a finding occurrence: a rule's, or out of ``buckets``, a keyed detector's or a correlator's
CHANGES = "changes"  # what a partition metered, quarantined and learned of the inventory
PROBLEM = "problem"  # a keyed detector that failed on a key (out of ``buckets``): (detector, message) as JSON
TICK = "tick"  # the latest event time a partition read: to every bucket, the stream's progress (its timers fire on it)

BUCKETS = 64  # hash buckets of entity keys: Spark's grouping key (more than any cluster's cores, few enough to batch state calls)


class Shipped(msgspec.Struct, array_like=True):
    """One row between the stages (the Spark schema ``job.SHIPPED`` has these columns)."""

    kind: str
    bucket: int
    det: str
    key: str
    at: float  # the row's latest event time (a tick's: the partition's)
    first: float
    last: float
    payload: bytes


def bucket_of(key: str) -> int:
    """The hash bucket of an entity key: the same in every process (Python's ``hash`` of a str is not)."""
    return zlib.crc32(key.encode()) % BUCKETS


# -- the rows of a group, encoded ------------------------------------------------------------------

_json = msgspec.json.Encoder()
_pack = msgspec.msgpack.Encoder()
_records = {Source.CLOUDTRAIL: msgspec.json.Decoder(tuple[list[float], list[ApiCall]]),
            Source.S3_DATA: msgspec.json.Decoder(tuple[list[float], list[ApiCall]]),
            Source.DNS: msgspec.json.Decoder(tuple[list[float], list[DnsQuery]])}
_shared = {Source.CLOUDTRAIL: msgspec.json.Decoder(tuple[list[float], list[ApiCall], dict[str, list[int]]]),
           Source.S3_DATA: msgspec.json.Decoder(tuple[list[float], list[ApiCall], dict[str, list[int]]]),
           Source.DNS: msgspec.json.Decoder(tuple[list[float], list[DnsQuery], dict[str, list[int]]])}
_flows = msgspec.msgpack.Decoder(list[tuple[Any, ...]])
_occurrence = msgspec.json.Decoder(Occurrence)


def encode_rows(det: KeyedDetector, rows: Any) -> bytes:
    """A group's rows: flow tuples as msgpack; records (their raw JSON parts kept byte for byte) as JSON with their times."""
    if det.consumes is Source.FLOW:
        return _pack.encode(list(rows))
    return _json.encode((rows.times, list(rows)))


def decode_rows(det: KeyedDetector, payload: bytes) -> Any:
    if det.consumes is Source.FLOW:
        return _flows.decode(payload)
    times, events = _records[det.consumes].decode(payload)
    facts = list(map(det.facts_by, events)) if det.facts_by is not None else None
    return Records(events, times, all(a <= b for a, b in zip(times, times[1:])), facts)


def detectors_of(s: Shipped) -> list[str]:
    """The detectors a ROWS row is for."""
    return s.det.split(",")


def encode_shared(times: list[float], events: list[Any], subsets: dict[str, list[int]]) -> bytes:
    """One key's rows of one slice for several detectors that key them alike (a shared ``key_by``: the
    identity detectors): each call once, with each detector's rows as positions among them."""
    return _json.encode((times, events, subsets))


def decode_shared(detectors: dict[str, KeyedDetector], consumes: Source, payload: bytes) -> dict[str, tuple[Any, float, float]]:
    """Each of ``detectors``' (those of the row this stage runs) rows of a shared row, with their first and last times."""
    times, events, subsets = _shared[consumes].decode(payload)
    memo: dict[Any, Any] = {}  # one batch memo, as the engine's for a batch's calls
    facts: dict[Any, list[Any]] = {}
    out = {}
    for name, idx in subsets.items():
        det = detectors.get(name)
        if det is None or not idx:
            continue
        ts = [times[i] for i in idx]
        fs = None
        if det.facts_by is not None:
            every = facts.get(det.facts_by)
            if every is None:
                every = facts[det.facts_by] = list(map(det.facts_by, events))
            fs = [every[i] for i in idx]
        out[name] = (Records([events[i] for i in idx], ts, all(a <= b for a, b in zip(ts, ts[1:])), fs, memo), min(ts), max(ts))
    return out


def routed(o: Occurrence) -> Shipped:
    """An occurrence on its way to the sink, through the bucket of the identity it is on: where the detectors
    that correlate findings (``engine.keyed``: they key a finding on its ``actor``) keep that identity's state."""
    key = o.actor or ""
    return Shipped(OCCURRENCE, bucket_of(key), "", key, o.time, o.time, o.time, encode_occurrence(o))


def encode_occurrence(o: Occurrence) -> bytes:
    return _json.encode(o)


def decode_occurrence(payload: bytes) -> Occurrence:
    return _occurrence.decode(payload)


class SideEffects(msgspec.Struct):
    """A partition's side effects that are not findings: they go into the store with the micro-batch."""

    usage: list[tuple[str, str, str, str, int, int]] = []  # (day, account, source, resource, events, bytes)
    quarantine: list[tuple[str, str, str, int | None, int | None, str | None]] = []  # (fingerprint, path, message, line, record, field)
    inventory: dict[str, Any] | None = None  # what the partition's inventory holds, when it learned something


_side_effects = msgspec.json.Decoder(SideEffects)


def decode_side_effects(payload: bytes) -> SideEffects:
    return _side_effects.decode(payload)


def problem_of(row: tuple[str, str, str, int | None, int | None, str | None]) -> tuple[str, Problem]:
    fingerprint, path, message, line, record, field = row
    return fingerprint, Problem(path, message, line, record, field)


# -- the engine that ships ------------------------------------------------------------------------

class Capture(Engine):
    """Groups each keyed detector's rows by key (as ``Engine.feed``) and keeps them; runs nothing (so it
    holds no state, and its timers never fire)."""

    def __init__(self, detectors: Iterable[KeyedDetector], lateness: float) -> None:
        super().__init__(detectors, None, lateness)
        self.groups: list[tuple[KeyedDetector, str, Any, float, float, Any]] = []  # (detector, key, rows, first, last, the batch's Facts)

    def feed(self, det: KeyedDetector, batch: Any) -> list[Occurrence]:
        facts = self.facts
        self.groups.extend((det, key, rows, first, last, facts) for key, (rows, first, last) in group(det, rows_for(det, batch), facts).items())
        return []

    def feed_findings(self, raised: list[Raised]) -> list[Occurrence]:
        return []


class ShippingScanner(Scanner):
    """``Scanner`` with a ``Capture`` engine; rule occurrences and commits are kept, not written."""

    def __init__(self, store: Store, settings: ScanSettings, stored: StoredLists | None = None) -> None:
        self.kept: list[Occurrence] = []
        self.kept_effects = SideEffects(usage=[], quarantine=[])
        super().__init__(store, settings, stored=stored)

    def _engine(self, keyed: list[KeyedDetector], watermark: float) -> Engine:
        return Capture(keyed, self.settings.allowed_lateness_s)

    def _add(self, occurrences: list[Occurrence]) -> list[Any]:
        self.kept.extend(occurrences)
        return []

    def commit(self) -> None:
        ch, kept = self.changes, self.kept_effects
        kept.usage.extend((*k, v[0], v[1]) for k, v in ch.usage.items())
        kept.quarantine.extend((fp, p.path, p.message, p.line, p.record, p.field) for fp, p in ch.quarantine)
        if self.inventory.changed:
            kept.inventory = self.inventory.to_state()
            self.inventory.changed = False
        self.changes = type(ch)()


def ship(files: Iterable[tuple[str, bytes]], settings: ScanSettings, inventory: str | None, lists: StoredLists | None = None) -> Iterator[Shipped]:
    """Scan ``files`` ((name, content), a partition's) as ``scan`` would, with ``inventory`` (the store's,
    as JSON) known at the start and the store's ACTIVE ``lists``, and yield what the stateful stages and the sink need."""
    settings = dataclasses.replace(settings, flush_at_end=False, workers=0)  # a stream has no end; the partition is its own pool
    with tempfile.TemporaryDirectory(prefix="trailhound-ship-") as tmp:
        names: dict[str, str] = {}
        for i, (name, content) in enumerate(files):
            local = Path(tmp) / f"{i:07d}-{Path(name).name}"  # its own name kept: the sniffer reads .gz and .json
            local.write_bytes(content)
            names[str(local)] = name
        if not names:
            return
        store = Store(":memory:")
        if inventory:
            store.set_meta("inventory", inventory)
        scanner = ShippingScanner(store, settings, lists)
        scanner.scan(sorted(names), names)
    engine: Capture = scanner.engine  # type: ignore[assignment]
    latest = -float("inf")
    for rows_row in _rows(engine.groups):
        latest = max(latest, rows_row.last)
        yield rows_row
    for o in scanner.kept:
        latest = max(latest, o.time)
        yield routed(o)
    ch = scanner.kept_effects
    if ch.usage or ch.quarantine or ch.inventory is not None:
        at = latest if latest > -float("inf") else 0.0
        yield Shipped(CHANGES, 0, "", "", at, at, at, _json.encode(ch))
    if latest > -float("inf"):  # every bucket learns how far event time got, so its timers fire even when it had no rows
        for b in range(BUCKETS):
            yield Shipped(TICK, b, "", "", latest, latest, latest, b"")


def _rows(groups: list[tuple[KeyedDetector, str, Any, float, float, Any]]) -> Iterator[Shipped]:
    """A ROWS row per group, except that the groups of one key in one batch of calls for detectors with the same
    ``key_by`` go as one row (each call once: the identity detectors read mostly the same calls)."""
    alike: dict[tuple[int, Any, str], list[int]] = {}
    for i, (det, key, rows, _, _, facts) in enumerate(groups):
        if det.key_by is not None and isinstance(rows, Records) and facts is not None and facts.events is not None:
            alike.setdefault((id(facts), det.key_by, key), []).append(i)
    merged = {i: ids for ids in alike.values() if len(ids) > 1 for i in ids}
    done: set[int] = set()
    for i, (det, key, rows, first, last, facts) in enumerate(groups):
        ids = merged.get(i)
        if ids is None:
            yield Shipped(ROWS, bucket_of(key), det.name, key, last, first, last, encode_rows(det, rows))
        elif i not in done:
            done.update(ids)
            at = facts.at()
            time_at: dict[int, float] = {}
            subsets: dict[str, list[int]] = {}
            for j in ids:
                positions = [at[id(e)] for e in groups[j][2]]
                time_at.update(zip(positions, groups[j][2].times))
                subsets[groups[j][0].name] = positions
            union = sorted(time_at)  # the batch's order
            index = {p: n for n, p in enumerate(union)}
            payload = encode_shared([time_at[p] for p in union], [facts.events[p] for p in union],
                                    {name: [index[p] for p in ps] for name, ps in subsets.items()})
            lo, hi = min(groups[j][3] for j in ids), max(groups[j][4] for j in ids)
            yield Shipped(ROWS, bucket_of(key), ",".join(subsets), key, hi, lo, hi, payload)
