"""The lookup detectors query: built-in and operator lists behind one ``ip()`` / ``domain()``.

Memoised, because indicators repeat heavily (the same few hundred addresses fill a flow file);
the memo is bounded by a full reset, which is cheaper than LRU bookkeeping per lookup.
"""

from __future__ import annotations

from typing import Any

from trailhound.intel.index import ThreatHit

_MEMO_LIMIT = 500_000


class CombinedIntel:
    def __init__(self, *indexes: Any) -> None:
        self.indexes = [i for i in indexes if i is not None]
        self._ip_memo: dict[str | None, tuple[ThreatHit, ...]] = {}
        self._domain_memo: dict[str | None, tuple[ThreatHit, ...]] = {}

    def ip(self, ip: str | None) -> tuple[ThreatHit, ...]:
        return self._lookup(self._ip_memo, ip, "ip")

    def domain(self, name: str | None) -> tuple[ThreatHit, ...]:
        return self._lookup(self._domain_memo, name, "domain")

    def _lookup(self, memo: dict[str | None, tuple[ThreatHit, ...]], key: str | None, kind: str) -> tuple[ThreatHit, ...]:
        hit = memo.get(key)
        if hit is None:
            hit = tuple(h for index in self.indexes for h in getattr(index, kind)(key))
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            memo[key] = hit
        return hit

    def domains_under(self, name: str) -> int:
        """Listed domains strictly under ``name``, over every index that counts them."""
        return sum(index.domains_under(name) for index in self.indexes if hasattr(index, "domains_under"))
