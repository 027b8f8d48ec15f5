"""Stages 2 and 3 of the Spark job: one hash bucket of entity keys, its shipped groups, its keyed state.

``run`` is what the stateful operator does for a bucket in a micro-batch, in plain Python: an
``Engine`` whose store is the bucket's state (``BucketState``: envelopes and their timers by
(detector, key)), fed the bucket's groups in event-time order with the watermark moved up to each
before it. Stage 2 (``detect``) runs the keyed detectors; stage 3 (``correlate``), grouped again by
the bucket of each finding's actor, runs the detectors that correlate findings (attack sequences) on
their identities' calls and on every finding raised on them. The job (``job.BucketProcessor``) reads
a bucket's envelopes from Spark's state store into these maps and writes them back when they changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.runner import Engine, Records, start_at
from trailhound.engine.state import Row
from trailhound.findings.model import Occurrence, Raised, finding_id
from trailhound.formats.base import Problem
from trailhound.spark.shipping import (OCCURRENCE, PROBLEM, ROWS, TICK, Shipped, decode_occurrence, decode_rows, decode_shared, detectors_of,
                                       routed)

_SWEEP_S = 3600.0  # expired envelopes are looked for once per hour of event time


class DictMap(dict):  # type: ignore[type-arg]
    """(detector, key) -> a value, with the two verbs ``BucketState`` uses."""

    def put(self, key: tuple[str, str], value: Any) -> None:
        self[key] = value

    def remove(self, key: tuple[str, str]) -> None:
        self.pop(key, None)


class BucketState:
    """A bucket's envelopes as ``engine.state.States`` reads a store: rows by (detector, key), timers beside them."""

    def __init__(self, rows: DictMap, timers: DictMap, detectors: Iterable[str]) -> None:
        self.rows = rows
        self.timers = timers
        self.detectors = list(detectors)
        self.changed = False  # whether ``write`` or ``sweep`` changed the maps (the job writes them back only then)

    def state_detectors(self) -> list[str]:
        return self.detectors  # any of them may have a row here: a bucket's state is not listed per detector

    def state_timers(self) -> list[tuple[str, str, float]]:
        return [(det, key, at) for (det, key), at in self.timers.items()]

    def state_rows(self, det: str, keys: list[str]) -> dict[str, Row]:
        rows = self.rows
        return {key: rows[(det, key)] for key in keys if (det, key) in rows}

    def write(self, changes: Mapping[tuple[str, str], Row]) -> None:
        self.changed = self.changed or bool(changes)
        for k, row in changes.items():
            if row is None:
                self.rows.remove(k)
            else:
                self.rows.put(k, row)
            if row is not None and row[3] is not None:
                self.timers.put(k, row[3])
            else:
                self.timers.remove(k)

    def sweep(self, ttl: Mapping[str, float], watermark: float) -> int:
        """Delete envelopes quiet for longer than their detector's ttl with no timer pending (the store's
        commit does this by a query; a bucket is read whole)."""
        dead = [k for k, row in self.rows.items() if row[3] is None and row[2] + ttl.get(k[0], float("inf")) <= watermark]
        for k in dead:
            self.rows.remove(k)
        self.changed = self.changed or bool(dead)
        return len(dead)


def run(detectors: Mapping[str, KeyedDetector], state: BucketState, lateness: float, watermark: float, shipped: Iterable[Shipped],
        swept: float = -float("inf"), raised: Iterable[Raised] = ()) -> tuple[list[Occurrence], list[Problem], float, float]:
    """One micro-batch of a bucket: its shipped groups (and ticks) in, occurrences and detector problems
    out, with the bucket's watermark and when it last swept (both kept by the caller). ``raised``: findings
    for the bucket's correlators, each fed when event time reaches it (after the groups that start with it)."""
    engine = Engine(detectors.values(), state, lateness, watermark, capacity=1 << 62)  # state is written back whole below
    order = {name: i for i, name in enumerate(detectors)}
    ticks: list[float] = []
    timeline: list[tuple[float, int, int, Any]] = []  # (time, 0 group / 1 finding, detector order, it)
    for s in shipped:
        if s.kind == ROWS:
            if "," not in s.det:
                if s.det in detectors:
                    timeline.append((s.first, 0, order[s.det], (s.det, (s, None))))
                continue
            # one row for several detectors (``shipping.encode_shared``): decoded once, each detector's part
            # in the timeline at its own first time, as if it had come alone
            ours = [n for n in detectors_of(s) if n in detectors]
            if ours:
                for name, part in decode_shared(detectors, detectors[ours[0]].consumes, s.payload).items():
                    timeline.append((part[1], 0, order[name], (name, (s, part))))
        elif s.kind == TICK:
            ticks.append(s.at)
    timeline += [(r.occurrence.time, 1, 0, r) for r in raised]
    # Groups by their first row's time, the watermark moved up to it before each: no group's row is ever
    # behind the watermark by more than the lateness, however the files were spread over partitions.
    timeline.sort(key=lambda x: x[:3])
    out: list[Occurrence] = []
    for (first, is_finding), chunk in itertools.groupby(timeline, key=lambda x: x[:2]):
        if is_finding:  # a finding's time may be long past (a window judged late): it does not move the watermark
            out.extend(engine.feed_findings([x[3] for x in chunk]))
            continue
        out.extend(engine.advance(first))
        by_det: dict[str, dict[str, tuple[Any, float, float]]] = {}
        for _, _, _, (name, (s, part)) in chunk:
            det = detectors[name]
            got = part if part is not None else (decode_rows(det, s.payload), s.first, s.last)
            keyed = by_det.setdefault(name, {})
            had = keyed.get(s.key)
            keyed[s.key] = got if had is None else _joined(det, had, got)
        for name, keyed in by_det.items():
            out.extend(engine.feed_groups(detectors[name], keyed))
    if ticks:
        out.extend(engine.advance(max(ticks)))
    state.write(engine.states.changes())
    wm = engine.watermark
    if wm - swept >= _SWEEP_S:
        state.sweep({n: d.ttl for n, d in detectors.items()}, wm)
        swept = wm
    return out, list(engine.problems), wm, swept


# -- the two stateful stages, Shipped rows in and out (``job`` adapts them to Spark's frames) ------------

def has_timers(detectors: Mapping[str, KeyedDetector]) -> bool:
    return any(type(d).timer is not KeyedDetector.timer for d in detectors.values())


def detect(detectors: Mapping[str, KeyedDetector], state: BucketState, lateness: float, watermark: float, shipped: Iterable[Shipped],
           swept: float = -float("inf"), ticks_on: bool = True) -> tuple[list[Shipped], float, float]:
    """Stage 2: the keyed detectors of a bucket. What is not theirs goes on as it came (rule occurrences, side
    effects, the correlators' rows); occurrences go on to the bucket of their actor (``shipping.routed``).
    ``ticks_on``: the stream's progress goes on too, for correlators with timers (without, a bucket of stage 3
    with nothing else to do is not woken: its watermark moves with its rows)."""
    mine, out, ticks = [], [], []
    for s in shipped:
        if s.kind == TICK:
            ticks.append(s)
        elif s.kind == ROWS:
            names = detectors_of(s)
            if any(n in detectors for n in names):
                mine.append(s)
            if any(n not in detectors for n in names):  # (a correlator's rows, maybe in one row with this stage's)
                out.append(s)
        else:
            out.append(s)
    occurrences, problems, watermark, swept = run(detectors, state, lateness, watermark, mine + ticks, swept)
    out.extend(map(routed, occurrences))
    out.extend(_problem(p, watermark) for p in problems)
    if ticks and ticks_on:  # the stream's progress, on to the same bucket of the next stage
        at = max(t.at for t in ticks)
        out.append(Shipped(TICK, ticks[0].bucket, "", "", at, at, at, b""))
    return out, watermark, swept


def correlate(correlators: Mapping[str, KeyedDetector], screen: Callable[[Occurrence], tuple[Occurrence, str | None]], state: BucketState,
              lateness: float, watermark: float, shipped: Iterable[Shipped], swept: float = -float("inf")) -> tuple[list[Shipped], float, float]:
    """Stage 3: the correlators of a bucket of identities — their own rows (the identities' calls) and the
    findings on those identities, whichever bucket or rule raised them, in event-time order. ``screen`` is the
    sink's enrichment and suppression (``Aggregator.screen``): a finding the sink will drop is no signal, as in
    ``scan``. Out: every occurrence for the sink, the correlators' with them."""
    groups, raised, out = [], [], []
    for s in shipped:
        if s.kind in (ROWS, TICK):
            groups.append(s)
            continue
        out.append(s)
        if s.kind == OCCURRENCE and s.key:
            occ, reason = screen(decode_occurrence(s.payload))
            if reason is None:
                raised.append(Raised(occ, finding_id(occ)))
    occurrences, problems, watermark, swept = run(correlators, state, lateness, watermark, groups, swept, raised)
    out.extend(map(routed, occurrences))
    out.extend(_problem(p, watermark) for p in problems)
    return out, watermark, swept


def _problem(p: Problem, at: float) -> Shipped:
    return Shipped(PROBLEM, 0, "", "", at, at, at, msgspec.json.encode((p.path, p.message)))


def _joined(det: KeyedDetector, a: tuple[Any, float, float], b: tuple[Any, float, float]) -> tuple[Any, float, float]:
    """One key's rows of one slice shipped by two partitions (files of the same minutes read apart): one group, in time order."""
    if isinstance(a[0], Records):
        triples = sorted(zip(a[0].times + b[0].times, list(a[0]) + list(b[0]),
                             (a[0].facts or [None] * len(a[0])) + (b[0].facts or [None] * len(b[0]))), key=lambda t: t[0])
        facts = [f for _, _, f in triples] if a[0].facts is not None else None
        rows: Any = Records([e for _, e, _ in triples], [t for t, _, _ in triples], True, facts)
    else:
        at = start_at(det)
        rows = sorted(list(a[0]) + list(b[0]), key=lambda r: r[at])
    return rows, min(a[1], b[1]), max(a[2], b[2])
