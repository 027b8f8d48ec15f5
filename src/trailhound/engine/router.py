"""Routing: each batch to the detectors that read its source, and for CloudTrail only the events a
detector names (``event_names``), so a rule costs nothing on the other 99% of the traffic.

A detector that fails on a batch costs that batch for that detector, never the others or the scan:
the failure is reported and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trailhound.engine.detector import Detector
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.runner import Engine
from trailhound.events import Source
from trailhound.findings.model import Occurrence
from trailhound.formats.base import Problem


@dataclass
class Routed:
    occurrences: list[Occurrence] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Router:
    def __init__(self, detectors: Iterable[Detector], engine: Engine) -> None:
        self.engine = engine
        self._by_name: dict[str, list[Detector]] = {}
        self._every: dict[Source, list[Detector]] = {s: [] for s in Source}
        for det in detectors:
            if det.consumes is Source.CLOUDTRAIL and det.event_names is not None:
                for name in det.event_names:
                    self._by_name.setdefault(name, []).append(det)
            else:
                self._every[det.consumes].append(det)

    def run(self, source: Source, events: Any) -> Routed:
        out = Routed()
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
        return out

    def _call(self, det: Detector, events: Any, out: Routed) -> None:
        try:
            found = self.engine.feed(det, events) if isinstance(det, KeyedDetector) else det.run(events)
        except Exception as exc:  # a detector bug must not stop the others or lose the events
            out.problems.append(Problem(det.name, f"detector failed on a batch of {len(events)} events ({type(exc).__name__}: {exc})"))
            return
        out.occurrences.extend(found)
