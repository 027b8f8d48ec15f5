"""Keyed state: typed values in memory, msgpack rows in the store, timers and expiry.

Each (detector, key) has an envelope: the detector's typed ``State``, when the key was first and
last seen (event time), and when its timer is due. In memory a bounded LRU holds decoded values
(least recently used are written to the pending changes before they are dropped), so memory stays
bounded however many entities a scan meets. A stored row carries the ``state_version`` it was
written with: a row of another version is dropped, never misread. A key whose last row is more
than the detector's ``ttl`` behind the watermark, and has no timer pending, is expired: treated as
absent, and deleted from the store at the next commit.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from trailhound.engine.keyed import KeyedDetector

_INF = float("inf")


class Envelope(msgspec.Struct):
    value: Any
    born: float  # event time of the key's first row
    last: float  # event time of its latest row
    timer: float | None = None


# A stored row: (version, born, last, timer_at, value bytes); None = delete.
Row = tuple[int, float, float, float | None, bytes] | None


class States:
    def __init__(self, store: Any, detectors: Mapping[str, KeyedDetector], capacity: int = 200_000) -> None:
        self.store = store
        self.detectors = dict(detectors)
        self.capacity = capacity
        self.watermark = -_INF
        self._cache: OrderedDict[tuple[str, str], Envelope | None] = OrderedDict()
        self._dirty: set[tuple[str, str]] = set()
        self._pending: dict[tuple[str, str], Row] = {}  # encoded, waiting for the next commit
        self._timers: list[tuple[float, str, str]] = []
        # Detectors that may have keys in the store and not in memory: those with stored rows, and any that
        # had a key leave memory since. A new key of any other one is known absent without a query.
        self._outside: set[str] = set(store.state_detectors()) if store is not None else set()
        self._encoders = {name: msgspec.msgpack.Encoder() for name in self.detectors}
        self._decoders = {name: msgspec.msgpack.Decoder(d.State) for name, d in self.detectors.items()}
        if store is not None:
            for det, key, at in store.state_timers():
                if det in self.detectors:
                    heapq.heappush(self._timers, (at, det, key))

    # -- access --------------------------------------------------------------------------
    def get_many(self, det: str, keys: list[str]) -> dict[str, Envelope]:
        out: dict[str, Envelope] = {}
        missing: list[str] = []
        cache = self._cache
        for key in keys:
            k = (det, key)
            if k in cache:
                cache.move_to_end(k)
                env = cache[k]
                if env is not None:
                    out[key] = env
            elif k in self._pending:
                env = self._decode(det, self._pending[k])
                self._remember(k, env)
                if env is not None:
                    out[key] = env
            else:
                missing.append(key)
        if missing:
            rows = self.store.state_rows(det, missing) if self.store is not None and det in self._outside else {}
            for key in missing:
                row = rows.get(key)
                env = self._decode(det, row)
                self._remember((det, key), env)
                if env is not None:
                    out[key] = env
                elif row is not None:
                    self._dirty.add((det, key))  # another version's row: deleted at the next commit, not kept forever
        ttl = self.detectors[det].ttl
        # expired: quiet for longer than its ttl, with no timer still to fire (a timer always fires first)
        return {k: e for k, e in out.items() if e.last + ttl > self.watermark or e.timer is not None}

    def get(self, det: str, key: str) -> Envelope | None:
        return self.get_many(det, [key]).get(key)

    def put(self, det: str, key: str, env: Envelope | None) -> None:
        k = (det, key)
        was = self._cache.get(k)
        self._remember(k, env)
        self._dirty.add(k)
        # A timer the key already had is in the heap (an entry leaves it only when due, and a fired timer
        # must move): pushed again at every update it would be popped and looked up once per update.
        if env is not None and env.timer is not None and (was is None or was.timer != env.timer):
            heapq.heappush(self._timers, (env.timer, det, key))

    def due(self, watermark: float) -> Iterator[tuple[str, str, Envelope]]:
        """Keys whose timer is at or before ``watermark``, earliest first (stale heap entries skipped)."""
        timers = self._timers
        while timers and timers[0][0] <= watermark:
            at, det, key = heapq.heappop(timers)
            env = self.get(det, key)
            if env is not None and env.timer == at:
                yield det, key, env

    def with_timers(self) -> list[tuple[str, str]]:
        """Every key with a pending timer (for the end-of-input flush), in timer order."""
        seen: set[tuple[str, str]] = set()
        out = []
        for at, det, key in sorted(self._timers):
            env = self.get(det, key)
            if env is not None and env.timer == at and (det, key) not in seen:
                seen.add((det, key))
                out.append((det, key))
        return out

    # -- commit ----------------------------------------------------------------------------
    def changes(self) -> dict[tuple[str, str], Row]:
        """Every change since the last call, encoded for the store (and forgotten here). Expired keys
        leave memory too; a key known to have no state stays known (the LRU bounds those as the rest)."""
        for k in self._dirty:
            if k in self._cache:
                self._pending[k] = self._encode(k[0], self._cache[k])
        self._dirty.clear()
        wm = self.watermark
        # (so a fresh key is looked up in the store once, not again after every commit)
        dead = [k for k, e in self._cache.items() if e is not None and e.timer is None and e.last + self.detectors[k[0]].ttl <= wm]
        for k in dead:
            del self._cache[k]
            self._outside.add(k[0])
        out, self._pending = self._pending, {}
        return out

    def size(self) -> int:
        """States held decoded in memory (keys known to have none are not counted)."""
        return sum(1 for e in self._cache.values() if e is not None)

    # -- internals ---------------------------------------------------------------------------
    def _remember(self, k: tuple[str, str], env: Envelope | None) -> None:
        cache = self._cache
        cache[k] = env
        cache.move_to_end(k)
        while len(cache) > self.capacity:
            old, value = cache.popitem(last=False)
            self._outside.add(old[0])
            if old in self._dirty:  # written out before it is forgotten
                self._pending[old] = self._encode(old[0], value)
                self._dirty.discard(old)

    def _encode(self, det: str, env: Envelope | None) -> Row:
        if env is None:
            return None
        d = self.detectors[det]
        return (d.state_version, env.born, env.last, env.timer, self._encoders[det].encode(env.value))

    def _decode(self, det: str, row: Row) -> Envelope | None:
        if row is None:
            return None
        version, born, last, timer, blob = row
        if version != self.detectors[det].state_version:
            return None  # written by another version of the detector: start afresh rather than misread it
        return Envelope(self._decoders[det].decode(blob), born, last, timer)
