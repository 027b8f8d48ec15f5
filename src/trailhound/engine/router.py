"""Routing: each batch to the detectors that read its source, and for CloudTrail only the events a
detector names (``event_names``), so a rule costs nothing on the other 99% of the traffic.

A detector that fails on a batch costs that batch for that detector, never the others or the scan:
the failure is reported and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from trailhound.engine.detector import Detector
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.runner import Engine, KeyedRows, keyed_frame, tuples
from trailhound.events import Source
from trailhound.findings.model import Occurrence
from trailhound.formats.base import Problem


@dataclass
class Routed:
    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    set_aside: list[Problem] = field(default_factory=list)  # records a detector failed on (quarantined, named)
    set_aside_records: list[Any] = field(default_factory=list)  # each one's record (a flow row as a dict), to find its file


class Router:
    """Also an enrichment stage for flows: once per file, every detector's ``where`` is evaluated in one
    pass and the few rows each one reads are picked out (as tuples, for keyed detectors); a slice of
    the file then hands each detector its rows in that slice with two binary searches, and a slice
    with nothing for a detector costs it nothing."""

    sources = frozenset({Source.FLOW})

    def __init__(self, detectors: Iterable[Detector], engine: Engine) -> None:
        self.engine = engine
        self._by_name: dict[str, list[Detector]] = {}
        self._every: dict[Source, list[Detector]] = {s: [] for s in Source}
        self._picked: list[Detector] = []  # flow detectors with a `where`
        for det in detectors:
            if det.consumes is Source.FLOW and det.where is not None:
                self._picked.append(det)
            elif det.consumes is Source.CLOUDTRAIL and det.event_names is not None:
                for name in det.event_names:
                    self._by_name.setdefault(name, []).append(det)
            else:
                self._every[det.consumes].append(det)
        # each distinct `where` is evaluated once, however many detectors share it
        self._distinct: list[pl.Expr] = []
        self._which: list[int] = []  # detector i reads the rows of distinct where _which[i]
        for d in self._picked:
            at = next((j for j, w in enumerate(self._distinct) if w.meta.eq(d.where)), None)  # type: ignore[arg-type]
            if at is None:
                at = len(self._distinct)
                self._distinct.append(d.where)  # type: ignore[arg-type]
            self._which.append(at)
        # rows with a trusted address never reach a flow detector (GuardDuty's trusted IP lists): not even a window
        self._wheres = [(w & ~pl.col("trusted")).fill_null(False).alias(str(j)) for j, w in enumerate(self._distinct)]
        # The masks and every column a keyed detector reads come out of the wide file frame in one pass
        # (Polars' cost per call grows with the frame's 40-odd columns); the rest works on that narrow frame.
        needed: set[str] = set()
        for det in self._picked:
            if isinstance(det, KeyedDetector):
                for e in (det.key, *((pl.col(c) if isinstance(c, str) else c) for c in det.columns)):
                    needed |= set(e.meta.root_names())
        self._narrow = self._wheres + [pl.col(c) for c in sorted(needed)]
        self._files: dict[int, list[tuple[Detector, np.ndarray, Any]]] = {}  # id(file frame) -> (detector, row numbers, rows)

    # -- the stage: once per file ------------------------------------------------------------
    def __call__(self, source: Source, batch: Any, problems: list[Problem]) -> Any:
        if self._wheres and isinstance(batch, pl.DataFrame) and batch.height:
            narrow = batch.select(self._narrow)
            hits: dict[int, tuple[pl.Series, np.ndarray] | None] = {}
            shared: dict[tuple[int, int, int, int], tuple[_Keyed, np.ndarray]] = {}  # detectors that differ only in how they judge read the same rows
            picked = []
            for det, j in zip(self._picked, self._which):
                if j not in hits:
                    mask = narrow.get_column(str(j))
                    hits[j] = (mask, np.flatnonzero(mask.to_numpy())) if mask.any() else None
                found = hits[j]
                if found is None:
                    continue
                mask, numbers = found
                if isinstance(det, KeyedDetector):
                    same = (j, id(det.key), id(det.columns), id(det.compact))
                    got = shared.get(same)
                    if got is None:
                        frame, kept = keyed_frame(det, narrow.filter(mask), numbers)
                        got = shared[same] = (_Keyed(frame), kept)
                    picked.append((det, got[1], got[0]))
                else:
                    picked.append((det, numbers, batch.filter(mask)))
            self._files[id(batch)] = picked
        return batch

    def forget(self, batch: Any) -> None:
        self._files.pop(id(batch), None)

    # -- routing: once per slice ---------------------------------------------------------------
    def run(self, source: Source, events: Any, whole: Any = None, start: int = 0, times: Any = None) -> Routed:
        """Run the detectors of ``source`` on ``events``: rows ``start``.. of the file ``whole`` (flows),
        or a batch of their own; records' event times (``times``, of ``whole`` when given, as parsing
        computed them) are shared by their keyed detectors."""
        out = Routed()
        if source is not Source.FLOW:
            if times is not None and whole is not None and whole is not events:
                times = times[start : start + len(events)]
            if times is not None and len(times) != len(events):
                times = None
            self.engine.begin(events, times.tolist() if hasattr(times, "tolist") else times)
            try:
                self._records(source, events, out)
            finally:
                self.engine.end()
            return out
        for det in self._every[source]:
            self._call(det, events, out)
        self._flows(events, whole, start, out)
        return out

    def _records(self, source: Source, events: Any, out: Routed) -> None:
        for det in self._every[source]:
            self._call(det, events, out)
        if source is Source.CLOUDTRAIL and self._by_name:
            routed: dict[int, tuple[Detector, list[Any]]] = {}
            by_name = self._by_name
            for e in events:
                targets = by_name.get(e.event_name)
                if targets is not None:
                    for det in targets:
                        slot = routed.get(id(det))
                        if slot is None:
                            slot = routed[id(det)] = (det, [])
                        slot[1].append(e)
            for det, evs in routed.values():
                self._call(det, evs, out)

    def _flows(self, events: Any, whole: Any, start: int, out: Routed) -> None:
        picked = self._files.get(id(whole)) if whole is not None else None
        if picked is None:  # a frame that did not go through the stage: pick its rows now
            self(Source.FLOW, events, out.problems)
            picked, start = self._files.pop(id(events), []), 0
        stop = start + len(events)
        made: dict[tuple[int, int, int], KeyedRows] = {}  # a shared frame's tuples of this slice, made once for its detectors
        for det, numbers, rows in picked:
            lo, hi = int(np.searchsorted(numbers, start)), int(np.searchsorted(numbers, stop))
            if hi <= lo:
                continue
            if isinstance(rows, _Keyed):
                if rows.frame.height <= _WHOLE:  # (one conversion a file is cheaper than one a slice)
                    if rows.rows is None:
                        rows.rows = tuples(rows.frame)
                    self._call(det, KeyedRows(rows.rows[lo:hi]), out)
                    continue
                at = (id(rows.frame), lo, hi)
                part = made.get(at)
                if part is None:
                    part = made[at] = tuples(rows.frame.slice(lo, hi - lo))
                self._call(det, part, out)
            else:
                self._call(det, rows.slice(lo, hi - lo), out)

    def _call(self, det: Detector, events: Any, out: Routed) -> None:
        try:
            found = self.engine.feed(det, events) if isinstance(det, KeyedDetector) else det.run(events)
        except Exception as exc:  # a detector bug must not stop the others or lose the events
            n = len(events)
            if n > 1 and not isinstance(det, KeyedDetector):  # halve until the record that breaks it is alone
                half = n // 2
                for part in ((events[:half], events[half:]) if isinstance(events, list) else (events.slice(0, half), events.slice(half))):
                    self._call(det, part, out)
                return
            first = events[0] if isinstance(events, list) else events.row(0, named=True)
            what = _describe(first) if n == 1 else f"a batch of {n} rows"
            out.set_aside_records.append(first)
            out.set_aside.append(Problem(det.name, f"failed on {what} ({type(exc).__name__}: {exc}); set aside for this detector only"))
            return
        out.occurrences.extend(found)


_WHOLE = 100_000  # a file's rows for a detector up to this many become tuples at once; more, a slice at a time


@dataclass
class _Keyed:
    """A keyed detector's rows of a file, as a narrow frame: made into tuples at its first slice (the detectors
    sharing it share them), or a slice at a time when there are many, so a file of millions of flows never holds
    them all as Python objects at once (that cost 1.9 GB on a 185 MB log)."""

    frame: pl.DataFrame
    rows: KeyedRows | None = None


def _describe(record: Any) -> str:
    """A record the way a person finds it again in the log."""
    if isinstance(record, dict):  # a flow row
        return (f"the flow {record.get('srcaddr')}:{record.get('srcport')} -> {record.get('dstaddr')}:{record.get('dstport')} "
                f"at {record.get('start')}")
    if hasattr(record, "event_id"):
        return f"the {record.event_name} event {record.event_id}"
    return f"the query for {getattr(record, 'query_name', '?')} at {getattr(record, 'query_timestamp', '?')}"
