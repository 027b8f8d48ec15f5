"""Runs keyed detectors: groups a batch's rows by key, hands each key its state, fires timers.

One ``Engine`` per scan (later: per source in the service). Its watermark is the latest event time
seen minus the allowed lateness; it only moves forward, is stored with the state at every commit
point, and a scan over 15 days of logs moves it exactly as 15 days of live delivery would.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections import Counter
from collections.abc import Iterable
from typing import Any

import polars as pl

from trailhound.engine.detector import rows_for
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.state import Envelope, States
from trailhound.events import ApiCall
from trailhound.findings.model import Occurrence, Raised
from trailhound.formats.base import Problem

_KEY = "__key"
_ROW = "__row"


def event_time(e: Any) -> float:
    return e.event_time.timestamp() if isinstance(e, ApiCall) else e.query_timestamp.timestamp()


class KeyedRows(list):  # type: ignore[type-arg]
    """Flow rows already picked for a detector: (key, *its columns) tuples, in time order."""


def keyed_rows(det: KeyedDetector, frame: pl.DataFrame) -> KeyedRows:
    """A flow frame's rows as the tuples a detector reads, each led by its key."""
    return tuples(keyed_frame(det, frame, None)[0])


def keyed_frame(det: KeyedDetector, frame: pl.DataFrame, numbers: Any) -> tuple[pl.DataFrame, Any]:
    """The columns of a flow frame's rows that a detector reads, its key first, and the rows' numbers in their
    file (``numbers``; None: 0, 1, ...): a detector's ``compact`` may merge rows, and a merged row goes with the
    number of its last. Still a frame: it becomes tuples (``tuples``) a slice at a time."""
    picked = frame.select(det.key.alias(_KEY), *det.columns)
    if det.compact is None:
        return picked, numbers
    merged = det.compact(picked.with_columns(pl.Series(_ROW, numbers if numbers is not None else range(picked.height))), _KEY, _ROW)
    return merged.drop(_ROW), merged.get_column(_ROW).to_numpy()


def tuples(frame: pl.DataFrame) -> KeyedRows:
    """The frame's rows as tuples: column by column into Python, then zipped (~1.5x ``iter_rows``)."""
    return KeyedRows(zip(*(c.to_list() for c in frame.iter_columns()))) if frame.width else KeyedRows(frame.iter_rows())


@functools.cache  # a detector's columns are fixed: worked out once, not at every feed
def start_at(det: KeyedDetector) -> int:
    return [c if isinstance(c, str) else c.meta.output_name() for c in det.columns].index("start")


class Records(list):  # type: ignore[type-arg]
    """A record detector's rows of one key (CloudTrail calls, DNS queries) with their event times:
    ``times[i]`` is row i's, as a float; ``ordered`` when the rows are in time order (a scan's batches
    are, so a detector need not sort them again); ``facts[i]``, what the detector's ``facts_by`` says of
    row i (None without one); ``memo``, a dict the detectors reading the batch share (what they work
    out of a call once for all of them, e.g. ``principals.place_of``)."""

    __slots__ = ("times", "ordered", "facts", "memo")

    def __init__(self, rows: Any = (), times: list[float] | None = None, ordered: bool = False, facts: list[Any] | None = None,
                 memo: dict[Any, Any] | None = None) -> None:
        super().__init__(rows)
        self.times = times if times is not None else [event_time(e) for e in self]
        self.ordered = ordered
        self.facts = facts
        self.memo = memo if memo is not None else {}


def memo_of(rows: Any) -> dict[Any, Any]:
    """The batch's shared memo of a detector's rows (a fresh one for rows not from the engine)."""
    return rows.memo if isinstance(rows, Records) else {}


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
    event time (given by the caller, as parsing computed it, or on first use) and, per shared key
    function (``KeyedDetector.key_by``, with its ``facts_by``), the batch's records grouped by key
    (``Shared``). A record is known by ``id`` while its batch lives."""

    def __init__(self, events: Any = None, times: Any = None) -> None:
        self.events = events if isinstance(events, list) else None
        self.times = times if self.events is not None and times is not None and len(times) == len(self.events) else None
        self.time_of: dict[int, float] = dict(zip(map(id, events), times)) if events is not None and times is not None else {}
        self.keys: dict[Any, dict[int, Any]] = {}
        self.shared: dict[Any, Shared] = {}
        self.memo: dict[Any, Any] = {}
        self._at: dict[int, int] | None = None

    def at(self) -> dict[int, int]:
        """id of a record -> its position in the batch."""
        if self._at is None:
            self._at = dict(zip(map(id, self.events or ()), itertools.count()))
        return self._at


class Shared:
    """A batch's records grouped once by a shared key function: each key's positions in batch order,
    and every record's time and facts (None where it has no key)."""

    __slots__ = ("by_key", "times", "facts", "ordered", "memo")

    def __init__(self, facts: Facts, key_by: Any, facts_by: Any) -> None:
        self.memo = facts.memo
        events = facts.events or []
        times = facts.times if facts.times is not None else [event_time(e) for e in events]
        keys = list(map(key_by, events))
        by_key: dict[Any, list[int]] = {}
        for i, k in enumerate(keys):
            if k is not None:
                slot = by_key.get(k)
                if slot is None:
                    by_key[k] = [i]
                else:
                    slot.append(i)
        by_key.pop(None, None)
        self.by_key = by_key
        self.times = times
        self.facts = [facts_by(e) if k is not None else None for e, k in zip(events, keys)] if facts_by is not None else None
        self.ordered: dict[Any, bool] = {}  # key -> its rows are in time order (worked out on first use)

    def records(self, key: Any, positions: list[int], events: list[Any], with_facts: bool) -> tuple[Records, float, float]:
        times = list(map(self.times.__getitem__, positions))
        ordered = self.ordered.get(key)
        if ordered is None:
            full = self.by_key[key]
            ft = times if full is positions else list(map(self.times.__getitem__, full))
            ordered = self.ordered[key] = all(a <= b for a, b in zip(ft, ft[1:]))
        if not ordered:  # (a subsequence of rows in time order is in time order; of others, maybe)
            ordered = all(a <= b for a, b in zip(times, times[1:]))
        fs = list(map(self.facts.__getitem__, positions)) if with_facts and self.facts is not None else None
        return Records(map(events.__getitem__, positions), times, ordered, fs, self.memo), min(times), max(times)


def _shared_groups(det: KeyedDetector, rows: Any, facts: Facts) -> dict[str, tuple[list[Any], float, float]] | None:
    """``group`` for a detector with a shared ``key_by``, from the batch's grouping (None when the rows
    are not of the batch the engine was told of)."""
    events = facts.events
    if events is None:
        return None
    sig = (det.key_by, det.facts_by)
    shared = facts.shared.get(sig)
    if shared is None:
        shared = facts.shared[sig] = Shared(facts, det.key_by, det.facts_by)
    with_facts = det.facts_by is not None
    owns = det.owns  # the detector's keys of the shared function: the others' rows are not even gathered
    out: dict[str, tuple[list[Any], float, float]] = {}
    if rows is events or len(rows) == len(events) and all(map(operator.is_, rows, events)):
        for k, positions in shared.by_key.items():
            if owns is None or owns(k):
                out[k] = shared.records(k, positions, events, with_facts)
        return out
    at = facts.at()
    picked = set(map(at.get, map(id, rows)))
    if None in picked:
        return None
    mine = {k: m for k, positions in shared.by_key.items() if (owns is None or owns(k)) and (m := [p for p in positions if p in picked])}
    for k in sorted(mine, key=lambda k: mine[k][0]):  # keys in the order their first row comes, as a group of the rows would be
        m = mine[k]
        out[k] = shared.records(k, m if len(m) < len(shared.by_key[k]) else shared.by_key[k], events, with_facts)
    return out


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
        at = start_at(det) + 1
        spans: dict[Any, list[Any]] = {}  # key -> [rows, first, last]: one tuple slice a row, no list unpacking
        get = spans.get
        for r in rows:
            k = r[0]
            if k is None:
                continue
            t = r[at]
            slot = get(k)
            if slot is None:
                spans[k] = [[r[1:]], t, t]
            else:
                slot[0].append(r[1:])
                if t < slot[1]:
                    slot[1] = t
                elif t > slot[2]:
                    slot[2] = t
        return {k: (krows, float(first), float(last)) for k, (krows, first, last) in spans.items()}
    if facts is None:
        facts = Facts()
    elif det.key_by is not None:
        found = _shared_groups(det, rows, facts)
        if found is not None:
            return found
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
    owns = det.owns  # a key function shared by detectors that judge different keys of it: only this one's
    for k, (krows, times, fs, first, last, ordered) in slots.items():
        if owns is None or owns(k):
            out[k] = (Records(krows, times, ordered, fs if facts_by is not None else None, facts.memo), first, last)
    return out


class Engine:
    def __init__(self, detectors: Iterable[KeyedDetector], store: Any, lateness: float, watermark: float = float("-inf"),
                 capacity: int = 200_000) -> None:
        self.detectors = {d.name: d for d in detectors}
        self.correlators = [d for d in self.detectors.values() if d.correlates]
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
        return self.feed_groups(det, group(det, rows_for(det, batch), self.facts))

    def feed_groups(self, det: KeyedDetector, groups: dict[str, tuple[Any, float, float]]) -> list[Occurrence]:
        """A batch's rows of ``det`` already grouped by key (``group``): here, or shipped from another process."""
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
                                    rows.ordered, None if rows.facts is None else [f for i, f in enumerate(rows.facts) if i not in late],
                                    rows.memo))
                    if not rows:
                        continue
            out.extend(self._update(det, det.update, key, rows, envs.get(key), first, last))
        return out

    def feed_findings(self, raised: list[Raised]) -> list[Occurrence]:
        """Findings just raised, to the detectors that correlate them: each key's in time order."""
        out: list[Occurrence] = []
        for det in self.correlators:
            groups: dict[str, list[Raised]] = {}
            for r in raised:
                k = det.finding_key(r)
                if k is not None:
                    groups.setdefault(k, []).append(r)
            if not groups:
                continue
            envs = self.states.get_many(det.name, list(groups))
            for key, rows in groups.items():
                rows.sort(key=lambda r: r.occurrence.time)
                out.extend(self._update(det, det.on_findings, key, rows, envs.get(key), rows[0].occurrence.time, rows[-1].occurrence.time))
        return out

    def _update(self, det: KeyedDetector, step: Any, key: str, rows: Any, env: Envelope | None, first: float, last: float) -> list[Occurrence]:
        # The key's own watermark: its rows come in time order, so once they reach `last`, every row of
        # this key up to `last - lateness` has arrived, whatever the other keys' progress.
        watermark = max(self.watermark, last - self.lateness)
        try:
            occurrences, new = step(key, rows, env.value if env else None, watermark)
        except Exception as exc:  # this key's state may be half-changed: forget it rather than trust it
            self._failed(det, key, step.__name__, exc)
            return []
        born = env.born if env else first
        self.states.put(det.name, key, None if new is None else Envelope(new, born, max(env.last, last) if env else last, det.timer(new)))
        return occurrences if occurrences and last - born >= det.warmup else []

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
            at = start_at(det)
            return {i for i, r in enumerate(rows) if r[at] < self.watermark}
        times = rows.times if isinstance(rows, Records) else map(event_time, rows)
        return {i for i, t in enumerate(times) if t < self.watermark}
