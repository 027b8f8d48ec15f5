"""Windowed detectors: observe into keyed reducers; the engine owns windows, time and memory.

After Zeek's SumStats. A detector says what it observes of each row, which reducers keep it, over
what sliding window, the threshold that makes a window suspicious and the occurrence it raises::

    class SSHBruteForceTarget(WindowedDetector):
        window = Sliding(length=600, step=60)
        reducers = {"sessions": Distinct(), "context": Last()}
        def observe(self, rows): ...        # (time, (session id, context)) per row
        def threshold(self, key, r): return r["sessions"].count >= 20
        def report(self, key, r): return [Occurrence(...)]

How time works (the detector writes none of it):

* Rows fall in event-time buckets of ``step`` seconds, aligned to the epoch, so the same rows fill
  the same buckets however they were batched or partitioned.
* A window is the ``length`` seconds ending at a bucket boundary. It is judged once the watermark
  has passed its end (every row it can hold has arrived: later ones are beyond the allowed
  lateness and are dropped), at the boundaries where its content changes: where a bucket joins,
  and where one leaves (a threshold may turn on when old rows age out).
* An episode is ``length`` seconds from the first bucket of the window that first meets the
  threshold; it is reported once, when it ends, with everything it held (like a SumStats epoch):
  a sustained attack is one occurrence per ``length``, and its finding's count grows with its
  duration. What comes after an episode is judged again from its end.
* Buckets no future window can hold are evicted; a key with nothing left is deleted.
* At the end of a bounded input (``on_flush``) open windows are judged as they stand, and what
  fired is remembered, so a later scan that completes those windows does not report them twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from trailhound.engine.baseline import Profile, ProfileState
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.reducers import Reducer, ReducerState
from trailhound.findings.model import Occurrence


@dataclass(frozen=True)
class Sliding:
    length: float  # seconds a window spans
    step: float  # bucket width, and how often windows end; Sliding(L, L) is a tumbling window


class Bucket(msgspec.Struct, array_like=True):
    start: float
    first: float  # earliest and latest row time in the bucket
    last: float
    values: list[ReducerState]


class WindowState(msgspec.Struct, array_like=True):
    buckets: list[Bucket] = msgspec.field(default_factory=list)  # by start time
    evaluated: float = 0.0  # every window ending at or before this boundary has been judged
    fired_until: float = 0.0  # end of the last episode reported
    usual: ProfileState | None = None  # the key's baseline (detectors with a `baseline`), kept past its windows
    armed: float | None = None  # start of an episode whose threshold was met, reported when it ends


class Window(Mapping[str, Any]):
    """A judged window: each reducer's result by name (computed when first asked for: a threshold
    that fails on its first test costs one merge), and the times of its first and last rows."""

    def __init__(self, reducers: dict[str, Reducer], buckets: list[Bucket], start: float, end: float,
                 baseline: Profile | None = None, usual: ProfileState | None = None) -> None:
        self.start, self.end = start, end
        self.first, self.last = min(b.first for b in buckets), max(b.last for b in buckets)
        self._reducers, self._buckets, self._index = reducers, buckets, {name: i for i, name in enumerate(reducers)}
        self._results: dict[str, Any] = {}
        self._baseline, self._usual = baseline, usual

    def per_bucket(self, name: str) -> list[tuple[float, Any]]:
        """One reducer's result bucket by bucket, as (bucket start, result), oldest first; buckets without
        rows are absent (how the activity was spread in time)."""
        i, reducer = self._index[name], self._reducers[name]
        return [(b.start, reducer.result([b.values[i]])) for b in self._buckets]

    def seen_before(self, value: str) -> bool:
        """Whether the key's baseline had the value before this window began (what the window's own rows
        taught it does not vouch for them, even across midnight)."""
        return bool(self._baseline and self._usual and self._baseline.seen_before(self._usual, value, self.start))

    def __getitem__(self, name: str) -> Any:
        if name not in self._results:
            i = self._index[name]
            self._results[name] = self._reducers[name].result([b.values[i] for b in self._buckets])
        return self._results[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._reducers)

    def __len__(self) -> int:
        return len(self._reducers)


class WindowedDetector(KeyedDetector[WindowState]):
    State = WindowState
    method = "behaviour"
    drops_late = True
    window: ClassVar[Sliding]
    reducers: ClassVar[dict[str, Reducer]]
    # What the key usually does, learned from each judged window (``learn``) and kept past its windows
    # until its ttl: a threshold can ask ``window.seen_before(value)`` — score first, then learn.
    baseline: ClassVar[Profile | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.abstract and "ttl" not in cls.__dict__:
            cls.ttl = 2 * cls.window.length  # a key quiet for two windows has nothing left to judge

    # -- what a detector writes ------------------------------------------------------------
    def observe(self, rows: Any) -> Iterable[tuple[float, tuple[Any, ...]]]:
        """(event time, one value per reducer in declaration order; None = not observed) per row."""
        raise NotImplementedError

    def threshold(self, key: str, window: Window) -> bool:
        """Whether a window is suspicious. Must be monotone: more rows never make it False."""
        raise NotImplementedError

    def report(self, key: str, window: Window) -> list[Occurrence]:
        raise NotImplementedError

    def learn(self, key: str, window: Window, usual: ProfileState) -> None:
        """Detectors with a ``baseline``: fold a judged window into it (after the verdict)."""

    # -- the keyed contract, implemented once ----------------------------------------------
    def update(self, key: str, rows: Any, state: WindowState | None, watermark: float) -> tuple[list[Occurrence], WindowState | None]:
        st = state or WindowState()
        step = self.window.step
        names = list(self.reducers)
        pending: dict[float, list[list[tuple[float, Any]]]] = {}
        times: dict[float, list[float]] = {}
        for t, values in self.observe(rows):
            if t < st.evaluated:
                continue  # its windows are judged: beyond the allowed lateness
            start = math.floor(t / step) * step
            slot = pending.get(start)
            if slot is None:
                slot = pending[start] = [[] for _ in names]
                times[start] = [t, t]
            span = times[start]
            span[0], span[1] = min(span[0], t), max(span[1], t)
            for i, v in enumerate(values):
                if v is not None:
                    slot[i].append((t, v))
        if pending:
            buckets = {b.start: b for b in st.buckets}
            for start, slots in pending.items():
                b = buckets.get(start)
                if b is None:
                    b = buckets[start] = Bucket(start, times[start][0], times[start][1], [r.new() for r in self.reducers.values()])
                b.first, b.last = min(b.first, times[start][0]), max(b.last, times[start][1])
                for reducer, state_, observed in zip(self.reducers.values(), b.values, slots):
                    if observed:
                        reducer.add(state_, observed)
            st.buckets = sorted(buckets.values(), key=lambda b: b.start)
        if not st.buckets and not st.fired_until and not st.usual:
            return [], None  # nothing observed and nothing to remember: no state for this key
        return self.on_timer(key, st, watermark)  # judge what the key's own rows have completed (a batch may span hours)

    def timer(self, state: WindowState) -> float | None:
        nxt = self._next_boundary(state)
        if nxt is not None:
            return nxt
        if state.usual and state.usual.values:
            return None  # only the baseline is left: it stays until the key's ttl
        return state.fired_until + self.window.length if state.fired_until else None

    def on_timer(self, key: str, state: WindowState, watermark: float) -> tuple[list[Occurrence], WindowState | None]:
        out = self._judge(key, state, watermark)
        step, length = self.window.step, self.window.length
        # A bucket is kept until the window it leaves has been judged; new rows (never older than the
        # watermark) open windows that start no earlier than the horizon.
        state.buckets = [b for b in state.buckets if b.start >= state.evaluated - length]
        horizon = math.floor(watermark / step) * step + step - length
        if not state.buckets and horizon >= state.fired_until and not (state.usual and state.usual.values):
            return out, None  # nothing left, no future window can overlap the last one that fired, no baseline to keep
        return out, state

    def on_flush(self, key: str, state: WindowState) -> tuple[list[Occurrence], WindowState | None]:
        trial = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=WindowState)
        out = self._judge(key, trial, float("inf"))
        state.fired_until = trial.fired_until  # remembered: the completed windows will not fire again
        return out, state

    # -- internals ---------------------------------------------------------------------------
    def _next_boundary(self, st: WindowState) -> float | None:
        """The next window end where the window's content changes: a bucket joins (its end), a bucket
        leaves (a length after its end), or the first window clear of the last one that fired."""
        step, length, done = self.window.step, self.window.length, st.evaluated
        best = None
        for shift in (step, length + step):  # buckets are sorted: the first end past `done` is the earliest
            for b in st.buckets:
                end = b.start + shift
                if end > done:
                    best = end if best is None else min(best, end)
                    break
        for end in (st.armed + length if st.armed is not None else None,
                    st.fired_until + length if st.fired_until and any(b.start >= st.fired_until for b in st.buckets) else None):
            if end is not None and end > done:
                best = end if best is None else min(best, end)
        return best

    def _judge(self, key: str, st: WindowState, watermark: float) -> list[Occurrence]:
        out: list[Occurrence] = []
        length = self.window.length
        while (end := self._next_boundary(st)) is not None and end <= watermark:
            inside = [b for b in st.buckets if end - length <= b.start < end]
            if inside and (end - length >= st.fired_until or st.armed is not None or self.baseline is not None):
                if self.baseline is not None and st.usual is None:
                    st.usual = ProfileState()
                window = Window(self.reducers, inside, end - length, end, self.baseline, st.usual)
                if st.armed is None and end - length >= st.fired_until and self.threshold(key, window):
                    st.armed = inside[0].start  # an episode begins with the window's first activity
                if st.armed is not None and end >= st.armed + length:  # the episode is over: report all of it
                    episode = [b for b in st.buckets if st.armed <= b.start < st.armed + length]
                    out.extend(self.report(key, Window(self.reducers, episode, st.armed, st.armed + length, self.baseline, st.usual)))
                    st.fired_until, st.armed = st.armed + length, None
                if st.usual is not None:
                    self.learn(key, window, st.usual)
            st.evaluated = end
        return out
