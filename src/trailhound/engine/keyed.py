"""The keyed-detector contract: per-entity state passed in and returned, time owned by the engine.

A keyed detector says which rows it reads at all (``where``, flows: a cheap Polars predicate the
router evaluates once per file; records: an optional cheap ``candidates`` pass), which entity each
row belongs to (``key``: a Polars expression for flows, ``key_of`` for CloudTrail and DNS records),
what of a flow row it needs (``columns``: its rows arrive as tuples of those), and how one entity's
rows change that entity's state::

    update(key, rows, state, watermark) -> (occurrences, new state or None)
    on_timer(key, state, watermark)     -> (occurrences, new state or None)   # when timer(state) is due
    on_findings(key, raised, state, watermark) -> (occurrences, new state or None)   # correlators only

A correlator (``correlates = True``) also reads the findings the other detectors raise, as they are
raised (``findings.model.Raised``, keyed by its ``finding_key``), into the same state: an attack
sequence is one identity's calls *and* its findings. What it raises from them is not read again. Its
``finding_key`` is the finding's ``actor`` or None: Spark routes a finding to the bucket of its actor.

``rows`` are that key's rows of one batch in event-time order; ``state`` is an instance of the
detector's ``State`` (a msgspec Struct, versioned by ``state_version``) or None for a key not seen
before; returning None deletes it. ``watermark`` is the key's: the scan's, or its own latest row
minus the allowed lateness if that is later (every earlier row of the key has arrived by then). Nothing else is visible to a detector: no store, no clock, no
other key. That is what lets the same detector run in this process, or grouped by a hash of the key
inside Spark, with the same findings.

The engine owns the rest: it loads and saves state, deletes a key's state ``ttl`` seconds of event
time after its last row, fires timers as the watermark passes them, and drops the occurrences of a
key still in its ``warmup`` (a baseline learns for that long before it may judge).
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from trailhound.engine.detector import Detector
from trailhound.findings.model import Occurrence, Raised

S = TypeVar("S", bound=msgspec.Struct)


class KeyedDetector(Detector, Generic[S]):
    State: ClassVar[type[msgspec.Struct]]
    state_version: ClassVar[int] = 1  # bump when State changes shape: older stored state is dropped, not misread
    ttl: ClassVar[float] = 86_400.0  # seconds of event time without a row after which the key's state is deleted
    warmup: ClassVar[float] = 0.0  # seconds from a key's first row during which its occurrences are dropped
    drops_late: ClassVar[bool] = False  # rows older than the watermark are counted and not given to it (windows)
    key: ClassVar[Any] = None  # flow detectors: a Polars expression giving the key (a string) of each row
    columns: ClassVar[tuple[Any, ...]] = ()  # flow detectors: the values of a row it reads (names or expressions), "start" among them
    # Flow detectors, optionally: ``compact(frame, key, row) -> frame`` merges a file's picked rows (the key column, its
    # ``columns`` and the row-number column) before they become tuples — e.g. one row per series with list columns —
    # keeping the key first, the columns' order (a merged row's "start" is its last row's), and the row number of its
    # last row, in row order. For a detector that reads most rows, Polars does per file what Python would per row.
    compact: ClassVar[Any] = None

    # Record detectors: a key function of one record that other detectors use too (a module-level function,
    # e.g. ``principals.identity_key``): the engine computes it once per record of a batch for all of them,
    # and it is the detector's ``key_of`` for the records its ``candidates`` keep.
    key_by: ClassVar[Any] = None
    # ... and, with it, a function of one record whose value the engine computes once per record for the
    # detectors that share both, handed along as ``rows.facts`` (``runner.Records``): e.g. a memo key.
    facts_by: ClassVar[Any] = None
    # ... and, when detectors share a key function to go over a batch once but judge different keys of it
    # (an instance's session, a Lambda function's), which keys are this detector's (None: all of them).
    owns: ClassVar[Any] = None

    correlates: ClassVar[bool] = False  # reads the findings other detectors raise (``finding_key``, ``on_findings``)

    def candidates(self, events: Any) -> Any:
        """Record detectors, optionally: the events of a batch it reads at all, as one cheap pass (a list
        comprehension over a memo beats a ``key_of`` call per event when most events are of no use)."""
        return events

    def key_of(self, event: Any) -> str | None:
        """Record detectors: the key of one event, or None when the detector has no use for it."""
        if self.key_by is not None:
            key = self.key_by(event)
            return key if key is None or self.owns is None or self.owns(key) else None
        raise NotImplementedError

    def update(self, key: str, rows: Any, state: S | None, watermark: float) -> tuple[list[Occurrence], S | None]:
        raise NotImplementedError

    def finding_key(self, raised: Raised) -> str | None:
        """Correlators: the key a finding just raised belongs to (its ``occurrence.actor``), or None when it is of no use."""
        return None

    def on_findings(self, key: str, raised: list[Raised], state: S | None, watermark: float) -> tuple[list[Occurrence], S | None]:
        """Correlators: a key's findings just raised, in time order; like ``update``."""
        return [], state

    def timer(self, state: S) -> float | None:
        """When ``on_timer`` should next run for a key in this state (event time), or None."""
        return None

    def on_timer(self, key: str, state: S, watermark: float) -> tuple[list[Occurrence], S | None]:
        return [], state

    def on_flush(self, key: str, state: S) -> tuple[list[Occurrence], S | None]:
        """End of a bounded input (a scan reached its last event): report what is open now.
        The default treats it as a timer at the end of time."""
        return self.on_timer(key, state, float("inf"))
