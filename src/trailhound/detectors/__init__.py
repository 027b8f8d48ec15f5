"""Detectors: one module per family, found by looking, not by a list.

Every module of this package is imported once; each concrete detector class in it registers itself
(``engine.detector.Detector``). A module's ``cases(start)`` are its labelled attack records and near
misses, run by one generic test, written into simulated estates, and used for ``sample-findings``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from datetime import datetime
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from trailhound.engine.detector import REGISTRY, Detector, FindingType, Intel, Places

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

_HELPERS = frozenset({"flows", "catalogue", "habits", "api_classes", "principals", "identity_profile", "beacon_score", "role_sessions"})  # modules of shared helpers, not detectors


@cache
def modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"{__name__}.{m.name}") for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
                 if m.name not in _HELPERS)


def detector_classes() -> list[type[Detector]]:
    """In module-name order, then in the order each module defines them (whatever imported what first)."""
    return [cls for m in modules() for cls in REGISTRY if cls.__module__ == m.__name__]


def default_detectors(intel: Intel | None = None, places: Places | None = None) -> list[Detector]:
    return [cls(intel, places) for cls in detector_classes()]


def finding_types() -> dict[str, tuple[FindingType, type[Detector]]]:
    """Every implemented type's metadata and the detector that raises it, by type name."""
    return {f.name: (f, cls) for cls in detector_classes() for f in cls.findings}


def implemented_finding_types() -> list[str]:
    return sorted(finding_types())


def case_sources() -> list[tuple[str, Callable[..., list[Case]]]]:
    """(module name, its ``cases`` function) for every detector module that has cases."""
    return [(m.__name__.rsplit(".", 1)[1], m.cases) for m in modules() if hasattr(m, "cases")]


def all_cases(start: datetime, account: str = "111122223333", gap_minutes: float = 15) -> list[Any]:
    """Every module's cases, one module after another in time (so no two modules' cases share a window)."""
    from datetime import timedelta

    from trailhound.simulator.records import case_time

    out: list[Any] = []
    at = start
    for _, make in case_sources():
        cases = make(at, account)
        out += cases
        last = max((case_time(r) for c in cases for r in c.records), default=at)
        at = max(at, last) + timedelta(minutes=gap_minutes)
    return out
