"""Stage 2 of the Spark job: one hash bucket of entity keys, its shipped groups, its keyed state.

``run`` is what the stateful operator does for a bucket in a micro-batch, in plain Python: an
``Engine`` whose store is the bucket's state (``BucketState``: envelopes and their timers by
(detector, key)), fed the bucket's groups in event-time order with the watermark moved up to each
before it. The job (``job.BucketProcessor``) reads a bucket's envelopes from Spark's state store
into these maps and writes them back when they changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.runner import Engine, Records, _start_at
from trailhound.engine.state import Row
from trailhound.findings.model import Occurrence
from trailhound.formats.base import Problem
from trailhound.spark.shipping import ROWS, TICK, Shipped, decode_rows

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
        swept: float = -float("inf")) -> tuple[list[Occurrence], list[Problem], float, float]:
    """One micro-batch of a bucket: its shipped groups (and ticks) in, occurrences and detector problems
    out, with the bucket's watermark and when it last swept (both kept by the caller)."""
    engine = Engine(detectors.values(), state, lateness, watermark, capacity=1 << 62)  # state is written back whole below
    order = {name: i for i, name in enumerate(detectors)}
    groups, ticks = [], []
    for s in shipped:
        if s.kind == ROWS and s.det in detectors:
            groups.append(s)
        elif s.kind == TICK:
            ticks.append(s.at)
    # Groups by their first row's time, the watermark moved up to it before each: no group's row is ever
    # behind the watermark by more than the lateness, however the files were spread over partitions.
    groups.sort(key=lambda s: (s.first, order[s.det]))
    out: list[Occurrence] = []
    for first, chunk in itertools.groupby(groups, key=lambda s: s.first):
        out.extend(engine.advance(first))
        by_det: dict[str, dict[str, tuple[Any, float, float]]] = {}
        for s in chunk:
            det = detectors[s.det]
            rows = decode_rows(det, s.payload)
            keyed = by_det.setdefault(s.det, {})
            had = keyed.get(s.key)
            keyed[s.key] = (rows, s.first, s.last) if had is None else _joined(det, had, (rows, s.first, s.last))
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


def _joined(det: KeyedDetector, a: tuple[Any, float, float], b: tuple[Any, float, float]) -> tuple[Any, float, float]:
    """One key's rows of one slice shipped by two partitions (files of the same minutes read apart): one group, in time order."""
    if isinstance(a[0], Records):
        triples = sorted(zip(a[0].times + b[0].times, list(a[0]) + list(b[0]),
                             (a[0].facts or [None] * len(a[0])) + (b[0].facts or [None] * len(b[0]))), key=lambda t: t[0])
        facts = [f for _, _, f in triples] if a[0].facts is not None else None
        rows: Any = Records([e for _, e, _ in triples], [t for t, _, _ in triples], True, facts)
    else:
        at = _start_at(det)
        rows = sorted(list(a[0]) + list(b[0]), key=lambda r: r[at])
    return rows, min(a[1], b[1]), max(a[2], b[2])
