"""Per-entity detector state, cached in memory in front of the store.

Detectors get and return state explicitly (``Detector.run``); this cache is what the local
pipeline puts behind that interface. It keeps at most ``capacity`` entries in memory (least
recently used are evicted after being written to the pending changes), so state stays bounded
however many principals, instances or IPs a scan meets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from trailhound.store.sqlite import Changes, Store


class StateCache:
    def __init__(self, store: Store, capacity: int = 200_000) -> None:
        self.store = store
        self.capacity = capacity
        self.entries: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def get(self, detector: str, keys: Iterable[str], pending: Changes) -> dict[str, Any]:
        out: dict[str, Any] = {}
        missing: list[str] = []
        for key in keys:
            k = (detector, key)
            if k in self.entries:
                self.entries.move_to_end(k)
                out[key] = self.entries[k]
            elif k in pending.state:
                out[key] = pending.state[k]
            else:
                missing.append(key)
        if missing:
            loaded = self.store.state(detector, missing)
            for key, value in loaded.items():
                self.entries[(detector, key)] = value
                out[key] = value
        return out

    def put(self, detector: str, updates: dict[str, Any], pending: Changes) -> None:
        for key, value in updates.items():
            k = (detector, key)
            self.entries[k] = value
            self.entries.move_to_end(k)
            pending.state[k] = value
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)  # already in `pending` or the store
