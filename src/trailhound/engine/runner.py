"""Runs keyed detectors: groups a batch's rows by key, hands each key its state, fires timers.

One ``Engine`` per scan (later: per source in the service). Its watermark is the latest event time
seen minus the allowed lateness; it only moves forward, is stored with the state at every commit
point, and a scan over 15 days of logs moves it exactly as 15 days of live delivery would.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from typing import Any

import polars as pl

from trailhound.engine.detector import rows_for
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.state import Envelope, States
from trailhound.events import ApiCall
from trailhound.findings.model import Occurrence
from trailhound.formats.base import Problem

_KEY = "__key"
_ROW = "__row"


def event_time(e: Any) -> float:
    return e.event_time.timestamp() if isinstance(e, ApiCall) else e.query_timestamp.timestamp()


class KeyedRows(list):  # type: ignore[type-arg]
    """Flow rows already picked for a detector: (key, *its columns) tuples, in time order."""


def keyed_rows(det: KeyedDetector, frame: pl.DataFrame, numbers: Any = None) -> KeyedRows:
    """A flow frame's rows as the tuples a detector reads, each led by its key. With the rows' numbers in
    their file (``numbers``), returns (rows, their numbers): a detector's ``compact`` may merge rows, and
    a merged row goes with the number of its last."""
    picked = frame.select(det.key.alias(_KEY), *det.columns)
    if det.compact is None:
        rows = KeyedRows(picked.iter_rows())
        return rows if numbers is None else (rows, numbers)  # type: ignore[return-value]
    merged = det.compact(picked.with_columns(pl.Series(_ROW, numbers if numbers is not None else range(picked.height))), _KEY, _ROW)
    rows = KeyedRows(merged.drop(_ROW).iter_rows())
    return rows if numbers is None else (rows, merged.get_column(_ROW).to_numpy())  # type: ignore[return-value]


def _start_at(det: KeyedDetector) -> int:
    return [c if isinstance(c, str) else c.meta.output_name() for c in det.columns].index("start")


class Records(list):  # type: ignore[type-arg]
    """A record detector's rows of one key (CloudTrail calls, DNS queries) with their event times:
    ``times[i]`` is row i's, as a float; ``ordered`` when the rows are in time order (a scan's batches
    are, so a detector need not sort them again); ``facts[i]``, what the detector's ``facts_by`` says of
    row i (None without one)."""

    __slots__ = ("times", "ordered", "facts")

    def __init__(self, rows: Any = (), times: list[float] | None = None, ordered: bool = False, facts: list[Any] | None = None) -> None:
        super().__init__(rows)
        self.times = times if times is not None else [event_time(e) for e in self]
        self.ordered = ordered
        self.facts = facts


def timed(rows: Any) -> Any:
    """(event time, row, its facts or None) of a record detector's rows, in time order (a stable sort
    where they were not)."""
    if isinstance(rows, Records):
        triples = zip(rows.times, rows, rows.facts if rows.facts is not None else itertools.repeat(None))
        return triples if rows.ordered else sorted(triples, key=_first)
    return sorted(((event_time(e), e, None) for e in rows), key=_first)


def _first(pair: tuple[Any, ...]) -> float:
    return pair[0]


class Facts:
    """What a batch's records are, worked out once however many detectors read them: each record's
    event time (given by the caller, as parsing computed it, or on first use) and its key under each
    shared key function (``KeyedDetector.key_by``, with its ``facts_by``). A record is known by ``id`` while
    its batch lives."""

    def __init__(self, events: Any = None, times: Any = None) -> None:
        self.time_of: dict[int, float] = dict(zip(map(id, events), times)) if events is not None and times is not None else {}
        self.keys: dict[Any, dict[int, Any]] = {}


_MISSING = object()


def group(det: KeyedDetector, rows: Any, facts: Facts | None = None) -> dict[str, tuple[list[Any], float, float]]:
    """key -> (that key's rows in their batch order, first time, last time). Flow rows are tuples of
    the detector's ``columns``: the few rows that reach a detector cost Python, not a Polars call each.
    Records come as ``Records`` (their times beside them); a key function several detectors share
    (``key_by``) is computed once per record of the batch (``facts``)."""
    out: dict[str, tuple[list[Any], float, float]] = {}
    if isinstance(rows, pl.DataFrame):
        rows = keyed_rows(det, rows)
    if isinstance(rows, KeyedRows):
        at = _start_at(det)
        for k, *row in rows:
            if k is None:
                continue
            t = float(row[at])
            slot = out.get(k)
            if slot is None:
                out[k] = ([row], t, t)
            else:
                slot[0].append(row)
                out[k] = (slot[0], min(slot[1], t), max(slot[2], t))
        return out
    if facts is None:
        facts = Facts()
    key_by, facts_by = det.key_by, det.facts_by
    shared = facts.keys.setdefault((key_by, facts_by), {}) if key_by is not None else None
    key_of = key_by if key_by is not None else det.key_of
    time_of = facts.time_of
    slots: dict[str, list[Any]] = {}  # key -> [rows, times, facts, first, last, ordered]
    for e in rows:
        i = id(e)
        if shared is not None:
            kft = shared.get(i)
            if kft is None:
                k = key_of(e)
                t = time_of.get(i) if k is not None else None
                if k is not None and t is None:
                    t = time_of[i] = event_time(e)
                kft = shared[i] = (k, facts_by(e) if facts_by is not None and k is not None else None, t)
            k, f, t = kft
            if k is None:
                continue
        else:
            k, f = key_of(e), None
            if k is None:
                continue
            t = time_of.get(i)
            if t is None:
                t = time_of[i] = event_time(e)
        slot = slots.get(k)
        if slot is None:
            slots[k] = [[e], [t], [f], t, t, True]
        else:
            slot[0].append(e)
            slot[1].append(t)
            slot[2].append(f)
            if t < slot[4]:
                slot[5] = False
                slot[3] = min(slot[3], t)
            else:
                slot[4] = t
    for k, (krows, times, fs, first, last, ordered) in slots.items():
        out[k] = (Records(krows, times, ordered, fs if facts_by is not None else None), first, last)
    return out


class Engine:
    def __init__(self, detectors: Iterable[KeyedDetector], store: Any, lateness: float, watermark: float = float("-inf"),
                 capacity: int = 200_000) -> None:
        self.detectors = {d.name: d for d in detectors}
        self.states = States(store, self.detectors, capacity)
        self.lateness = lateness
        self.watermark = watermark
        self.states.watermark = watermark
        self.late_rows: Counter[str] = Counter()  # rows older than the watermark when they arrived, per detector
        self.problems: list[Problem] = []  # a detector that failed on a key: that key's state is dropped, the rest goes on
        self.facts: Facts | None = None  # the batch of records being routed (``begin``), shared by its detectors

    def begin(self, events: Any, times: Any = None) -> None:
        """A batch of records is about to be fed to several detectors: what they share is computed once
        (``times``: the records' event times, when the caller has them). ``end`` forgets it."""
        self.facts = Facts(events, times)

    def end(self) -> None:
        self.facts = None

    def feed(self, det: KeyedDetector, batch: Any) -> list[Occurrence]:
        groups = group(det, rows_for(det, batch), self.facts)
        if not groups:
            return []
        envs = self.states.get_many(det.name, list(groups))
        out: list[Occurrence] = []
        for key, (rows, first, last) in groups.items():
            if first < self.watermark:
                late = self._late(det, rows)
                self.late_rows[det.name] += len(late)
                if det.drops_late:  # windows before the watermark are judged: these rows would open a second verdict
                    rows = ([r for i, r in enumerate(rows) if i not in late] if not isinstance(rows, Records) else
                            Records([r for i, r in enumerate(rows) if i not in late], [t for i, t in enumerate(rows.times) if i not in late],
                                    rows.ordered, None if rows.facts is None else [f for i, f in enumerate(rows.facts) if i not in late]))
                    if not rows:
                        continue
            env = envs.get(key)
            # The key's own watermark: its rows come in time order, so once they reach `last`, every row of
            # this key up to `last - lateness` has arrived, whatever the other keys' progress.
            watermark = max(self.watermark, last - self.lateness)
            try:
                occurrences, new = det.update(key, rows, env.value if env else None, watermark)
            except Exception as exc:  # this key's state may be half-changed: forget it rather than trust it
                self._failed(det, key, "update", exc)
                continue
            born = env.born if env else first
            self.states.put(det.name, key, None if new is None else Envelope(new, born, max(env.last, last) if env else last, det.timer(new)))
            if occurrences and last - born >= det.warmup:
                out.extend(occurrences)
        return out

    def advance(self, event_time: float) -> list[Occurrence]:
        """The stream has reached ``event_time``: move the watermark and fire the timers it passes."""
        wm = event_time - self.lateness
        if wm <= self.watermark:
            return []
        self.watermark = self.states.watermark = wm
        return self._fire(wm)

    def flush(self) -> list[Occurrence]:
        """End of a bounded input: fire what is due, then let every open key report what it holds."""
        out = self._fire(self.watermark)
        for name, key in self.states.with_timers():
            env = self.states.get(name, key)
            if env is None:
                continue
            det = self.detectors[name]
            try:
                occurrences, new = det.on_flush(key, env.value)
            except Exception as exc:
                self._failed(det, key, "on_flush", exc)
                continue
            self.states.put(name, key, None if new is None else Envelope(new, env.born, env.last, det.timer(new)))
            if env.last - env.born >= det.warmup:
                out.extend(occurrences)
        return out

    def _fire(self, wm: float) -> list[Occurrence]:
        out: list[Occurrence] = []
        for name, key, env in self.states.due(wm):
            det = self.detectors[name]
            try:
                occurrences, new = det.on_timer(key, env.value, wm)
                timer = det.timer(new) if new is not None else None
                if timer is not None and env.timer is not None and timer <= env.timer:
                    raise RuntimeError(f"on_timer left its timer at {timer} (was {env.timer}); a timer must move forward")
            except Exception as exc:  # a bad timer must not stop the scan, nor come back on every restart
                self._failed(det, key, "on_timer", exc)
                continue
            self.states.put(name, key, None if new is None else Envelope(new, env.born, env.last, timer))
            if env.last - env.born >= det.warmup:
                out.extend(occurrences)
        return out

    def _failed(self, det: KeyedDetector, key: str, step: str, exc: Exception) -> None:
        self.problems.append(Problem(det.name, f"{step} failed for key {key} ({type(exc).__name__}: {exc}); its state was dropped"))
        self.states.put(det.name, key, None)

    def _late(self, det: KeyedDetector, rows: list[Any]) -> set[int]:
        """Positions of the rows older than the watermark."""
        if det.columns:
            at = _start_at(det)
            return {i for i, r in enumerate(rows) if r[at] < self.watermark}
        times = rows.times if isinstance(rows, Records) else map(event_time, rows)
        return {i for i, t in enumerate(times) if t < self.watermark}
