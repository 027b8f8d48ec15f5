"""Runs keyed detectors: groups a batch's rows by key, hands each key its state, fires timers.

One ``Engine`` per scan (later: per source in the service). Its watermark is the latest event time
seen minus the allowed lateness; it only moves forward, is stored with the state at every commit
point, and a scan over 15 days of logs moves it exactly as 15 days of live delivery would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import polars as pl

from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.state import Envelope, States
from trailhound.events import ApiCall
from trailhound.findings.model import Occurrence

_KEY = "__key"


def event_time(e: Any) -> float:
    return e.event_time.timestamp() if isinstance(e, ApiCall) else e.query_timestamp.timestamp()


def group(det: KeyedDetector, rows: Any) -> dict[str, tuple[Any, float, float]]:
    """key -> (that key's rows in their batch order, first time, last time)."""
    if isinstance(rows, pl.DataFrame):
        if rows.height == 0:
            return {}
        keyed = rows.with_columns(det.key.alias(_KEY)).filter(pl.col(_KEY).is_not_null())
        if keyed.height == 0:
            return {}
        spans = keyed.group_by(_KEY, maintain_order=True).agg(pl.col("start").min().alias("t0"), pl.col("start").max().alias("t1"))
        parts = keyed.partition_by(_KEY, as_dict=True, maintain_order=True, include_key=False)
        return {k: (parts[(k,)], float(t0), float(t1)) for k, t0, t1 in spans.iter_rows()}
    out: dict[str, tuple[list[Any], float, float]] = {}
    key_of = det.key_of
    for e in rows:
        k = key_of(e)
        if k is None:
            continue
        t = event_time(e)
        slot = out.get(k)
        if slot is None:
            out[k] = ([e], t, t)
        else:
            slot[0].append(e)
            out[k] = (slot[0], min(slot[1], t), max(slot[2], t))
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

    def feed(self, det: KeyedDetector, batch: Any) -> list[Occurrence]:
        groups = group(det, det.select(batch))
        if not groups:
            return []
        envs = self.states.get_many(det.name, list(groups))
        out: list[Occurrence] = []
        for key, (rows, first, last) in groups.items():
            if first < self.watermark:
                self.late_rows[det.name] += self._late(rows)
            env = envs.get(key)
            occurrences, new = det.update(key, rows, env.value if env else None, self.watermark)
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
            occurrences, new = det.on_flush(key, env.value)
            self.states.put(name, key, None if new is None else Envelope(new, env.born, env.last, det.timer(new)))
            if env.last - env.born >= det.warmup:
                out.extend(occurrences)
        return out

    def _fire(self, wm: float) -> list[Occurrence]:
        out: list[Occurrence] = []
        for name, key, env in self.states.due(wm):
            det = self.detectors[name]
            occurrences, new = det.on_timer(key, env.value, wm)
            timer = det.timer(new) if new is not None else None
            if timer is not None and env.timer is not None and timer <= env.timer:
                raise RuntimeError(f"{name}: on_timer left its timer at {timer} (was {env.timer}); a timer must move forward")
            self.states.put(name, key, None if new is None else Envelope(new, env.born, env.last, timer))
            if env.last - env.born >= det.warmup:
                out.extend(occurrences)
        return out

    def _late(self, rows: Any) -> int:
        if isinstance(rows, pl.DataFrame):
            return int((rows["start"] < self.watermark).sum())
        return sum(1 for e in rows if event_time(e) < self.watermark)
