"""Occurrences in, findings out: enrichment, suppression hooks, then aggregation by finding id.

Suppression happens before a finding exists (GuardDuty's trusted IP lists; later, suppression
rules that archive). Aggregation keeps the findings it touched recently in a bounded LRU in front of
the store, so a long-running service's memory does not grow with the number of findings.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from trailhound.findings.model import Finding, Occurrence, aggregate, finding_id, new_finding

# A hook says why an occurrence must not become a finding, or None.
Suppression = Callable[[Occurrence], str | None]


@dataclass(frozen=True)
class TrustedAddresses:
    """GuardDuty's trusted IP lists: no CloudTrail or flow finding for activity from or to these
    (public) addresses, and they win over threat lists; they never apply to DNS findings."""

    lookup: Callable[[str], Any]
    features: frozenset[str] = frozenset({"CloudTrail", "S3DataEvents", "FlowLogs"})

    def __call__(self, occ: Occurrence) -> str | None:
        if occ.remote_ip and occ.feature_name in self.features and self.lookup(occ.remote_ip):
            return "trusted"
        return None


class Aggregator:
    def __init__(self, load: Callable[[str], Finding | None], detector_id: str, enrich: Callable[[Occurrence], Occurrence],
                 suppressions: Iterable[Suppression] = (), capacity: int = 20_000) -> None:
        self.load = load
        self.detector_id = detector_id
        self.enrich = enrich
        self.suppressions = list(suppressions)
        self.capacity = capacity
        self._recent: OrderedDict[str, Finding] = OrderedDict()
        self.pending: dict[str, Finding] = {}  # changed since the last commit
        self.suppressed: dict[str, int] = {}

    def add(self, occurrences: Iterable[Occurrence], now: float) -> list[tuple[Occurrence, Finding, bool]]:
        """Fold occurrences into findings; returns each one that was not suppressed, its finding, and whether that is new."""
        out = []
        for occ in occurrences:
            occ, reason = self.screen(occ)
            if reason:
                self.suppressed[reason] = self.suppressed.get(reason, 0) + 1
                continue
            fid = finding_id(occ)
            finding = self.pending.get(fid) or self._recent.get(fid) or self.load(fid)
            is_new = finding is None
            finding = new_finding(occ, self.detector_id, now) if finding is None else aggregate(finding, occ, now)
            self.pending[fid] = finding
            self._remember(fid, finding)
            out.append((occ, finding, is_new))
        return out

    def screen(self, occ: Occurrence) -> tuple[Occurrence, str | None]:
        """The occurrence enriched, and why it must not become a finding (None: it may). Pure: what another
        process (a Spark executor correlating findings) asks before the aggregation happens elsewhere."""
        occ = self.enrich(occ)
        return occ, next((r for hook in self.suppressions if (r := hook(occ))), None)

    def take(self) -> dict[str, Finding]:
        """The findings changed since the last call (for the commit)."""
        out, self.pending = self.pending, {}
        return out

    def _remember(self, fid: str, finding: Finding) -> None:
        self._recent[fid] = finding
        self._recent.move_to_end(fid)
        while len(self._recent) > self.capacity:
            self._recent.popitem(last=False)  # pending holds it until the commit, the store after
