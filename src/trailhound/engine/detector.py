"""What a detector is: its metadata, and the two simplest shapes (stateless rules and batch detectors).

A detector declares once what it reads (``consumes``, and for CloudTrail the ``event_names`` it
needs, so it costs nothing on the rest) and what it raises: ``findings``, one ``FindingType`` per
GuardDuty type with its severity rule, MITRE ATT&CK tactic and technique, and one-line trigger.
The README type table, ``sample-findings`` and ``trailhound types`` read this metadata; nothing
else keeps a list of types.

Every concrete subclass registers itself when its module is imported; ``trailhound.detectors``
imports every module of its package, so adding a detector is adding a module.

Shapes:
* ``Rule`` — stateless, one event at a time: write ``match(event)``.
* ``Detector`` — stateless, a whole batch at once (columnar flow detectors): write ``run(batch)``.
* ``engine.keyed.KeyedDetector`` — per-entity state, windows and timers (behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import polars as pl

from trailhound.events import Source
from trailhound.findings.model import CRITICAL, HIGH, LOW, MEDIUM, Occurrence

SEVERITY_NAMES = {LOW: "Low", MEDIUM: "Medium", HIGH: "High", CRITICAL: "Critical"}


@dataclass(frozen=True)
class Severity:
    """A type's severity: a base level, and the levels named conditions raise it to."""

    base: float
    when: tuple[tuple[str, float], ...] = ()  # (condition, level), e.g. ("ACTOR", HIGH)

    def __call__(self, condition: str | None = None) -> float:
        for name, level in self.when:
            if name == condition:
                return level
        return self.base

    def describe(self) -> str:
        text = SEVERITY_NAMES.get(self.base, str(self.base))
        return text + "".join(f"; {SEVERITY_NAMES.get(level, level)} if {name}" for name, level in self.when)


def severity(base: float, **when: float) -> Severity:
    """``severity(LOW, ACTOR=HIGH)``: Low, High when the condition named ACTOR holds."""
    return Severity(base, tuple(when.items()))


@dataclass(frozen=True)
class FindingType:
    name: str  # GuardDuty's type name
    severity: Severity
    tactic: str  # MITRE ATT&CK tactic, "TA0006 Credential Access"
    technique: str  # MITRE ATT&CK technique, "T1110.001 Password Guessing"
    trigger: str  # one line: what raises it
    sources: tuple[str, ...] = field(default=())  # GuardDuty feature names, when not the detector's source's (S3DataEvents)
    extension: bool = False  # a Trailhound extension type: GuardDuty has none for this (named `<Purpose>:<Resource>/Trailhound.<Name>`)


class Intel(Protocol):
    def ip(self, ip: str | None) -> tuple[Any, ...]: ...
    def domain(self, name: str | None) -> tuple[Any, ...]: ...


class Places(Protocol):
    """Where an address is: country, ASN and coordinates (``enrich.geo.IpInfo``), and whether it is AWS's;
    the public addresses the inventory gives an instance; whether it is a commercial VPN's egress."""

    def lookup(self, ip: str | None) -> Any: ...
    def inside_aws(self, ip: str | None) -> bool: ...
    def vpn_egress(self, ip: str | None) -> bool: ...
    def instance_addresses(self, instance_id: str) -> list[str]: ...


class _NoPlaces:
    def lookup(self, ip: str | None) -> Any:
        return None

    def inside_aws(self, ip: str | None) -> bool:
        return False

    def vpn_egress(self, ip: str | None) -> bool:
        return False

    def instance_addresses(self, instance_id: str) -> list[str]:
        return []


class _NoIntel:
    def ip(self, ip: str | None) -> tuple[Any, ...]:
        return ()

    def domain(self, name: str | None) -> tuple[Any, ...]:
        return ()


FEATURES = {Source.CLOUDTRAIL: ("CloudTrail",), Source.FLOW: ("FlowLogs",), Source.DNS: ("DnsLogs",)}
REGISTRY: list[type[Detector]] = []


class Detector:
    """A stateless detector over whole batches (a time-ordered list of events, or a flow DataFrame)."""

    name: ClassVar[str]
    consumes: ClassVar[Source]  # CLOUDTRAIL covers S3 data events too
    findings: ClassVar[tuple[FindingType, ...]]
    event_names: ClassVar[frozenset[str] | None] = None  # CloudTrail routing; None = every event
    method: ClassVar[str] = "rule"  # how it judges: "rule", "threat intel" or "behaviour" (the README's Kind column)
    # Flow detectors: the rows it reads at all, as a cheap Polars predicate. The router evaluates every
    # detector's once per file, in one pass, so a batch with nothing for a detector costs it one any().
    where: ClassVar[pl.Expr | None] = None
    abstract: ClassVar[bool] = True  # set False by every class that defines its own `name`

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.abstract = "name" not in cls.__dict__
        if not cls.abstract:
            REGISTRY.append(cls)

    def __init__(self, intel: Intel | None = None, places: Places | None = None) -> None:
        self.intel: Intel = intel or _NoIntel()
        self.places: Places = places or _NoPlaces()

    @classmethod
    def finding_types(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.findings)

    @classmethod
    def finding(cls, name: str) -> FindingType:
        for f in cls.findings:
            if f.name == name:
                return f
        raise KeyError(f"{cls.name} does not declare {name}")

    def severity(self, type_name: str, condition: str | None = None) -> float:
        return self.finding(type_name).severity(condition)

    def run(self, batch: Any) -> list[Occurrence]:
        raise NotImplementedError


def rows_for(det: Detector, batch: Any) -> Any:
    """The rows of a frame a detector reads (its ``where`` applied); of a list of records, its ``candidates``."""
    if not isinstance(batch, pl.DataFrame):
        pick = getattr(det, "candidates", None)
        return pick(batch) if pick is not None else batch
    if det.where is None:
        return batch
    mask = batch.select(det.where.fill_null(False)).to_series()
    return batch.filter(mask) if mask.any() else batch.clear()


class Rule(Detector):
    """A stateless per-event rule."""

    def match(self, event: Any) -> Iterable[Occurrence] | Occurrence | None:
        raise NotImplementedError

    def candidates(self, events: Sequence[Any]) -> Sequence[Any]:
        """Optional cheap pre-filter (a list comprehension beats a method call per event)."""
        return events

    def run(self, batch: Sequence[Any]) -> list[Occurrence]:
        out: list[Occurrence] = []
        match = self.match
        for e in self.candidates(batch):
            hit = match(e)
            if hit is None:
                continue
            if isinstance(hit, Occurrence):
                out.append(hit)
            else:
                out.extend(hit)
        return out
