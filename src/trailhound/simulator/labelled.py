"""``trailhound simulate``: a labelled AWS log estate — weeks of ordinary habits, then an attack day.

The background comes from ``simulator`` (users, roles, instances, peers, DNS; no threat-list address
by construction); the attack day holds, for every chosen finding type, records written the way
the attack tools produce them (the cases beside each detector), and the near misses that must stay silent. The
ground truth names both, with the scan options the estate assumes (its custom threat and
trusted lists and its inventory).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trailhound.detectors import all_cases
from trailhound.simulator.attack_day import add_attack_instances, write_case_logs, write_custom_lists
from trailhound.simulator.records import Case, case_time
from trailhound.simulator import EstateSpec, write_estate

GROUND_TRUTH = "ground-truth.json"


@dataclass
class SimulatedEstate:
    root: Path
    logs: Path
    inventory: Path
    threat_list: Path
    trusted_list: Path
    ground_truth: Path
    cases: list[Case]
    background_events: int

    @property
    def expected_types(self) -> set[str]:
        return {c.expect for c in self.cases if c.expect}

    def describe(self) -> str:
        fire = sum(1 for c in self.cases if c.expect)
        return (f"{self.background_events:,} background records and {len(self.cases)} attack cases "
                f"({fire} must fire, {len(self.cases) - fire} near misses)")


def select_cases(cases: Iterable[Case], finding_types: Iterable[str] | None) -> list[Case]:
    """The firing cases of the chosen types plus every near miss (they cost nothing and guard precision)."""
    cases = list(cases)
    if finding_types is None:
        return cases
    wanted = set(finding_types)
    known = {c.expect for c in cases if c.expect}
    unknown = wanted - known
    if unknown:
        raise ValueError(f"no simulation for {', '.join(sorted(unknown))}; simulated types: {', '.join(sorted(known))}")
    return [c for c in cases if c.expect in wanted or c.expect is None]


def simulate(root: Path, finding_types: Iterable[str] | None = None, *, seed: int = 7, scale: float = 1.0, days: int = 14,
             start: datetime | None = None, delivery: str = "aws") -> SimulatedEstate:
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    spec = EstateSpec(
        start=start, days=days, seed=seed, cloudtrail_events=max(1000, int(4000 * days * scale)),
        flow_lines=max(2000, int(12_000 * days * scale)), dns_lines=max(1000, int(4000 * days * scale)),
        instances=12, users=6, delivery=delivery,
    )
    files = write_estate(root / "logs", spec)
    account = spec.account_ids[0]
    attack_day = start + timedelta(days=days, hours=9)
    cases = select_cases(all_cases(attack_day, account), finding_types)
    write_case_logs(root / "logs", cases, account, spec.region)
    add_attack_instances(files.inventory)
    threat, trusted = write_custom_lists(root / "lists")
    truth = root / GROUND_TRUTH
    truth.write_text(json.dumps({
        "seed": seed, "scale": scale, "days": days, "attack_day": attack_day.isoformat(),
        "scan": {"threat_lists": [str(threat)], "trusted_lists": [str(trusted)], "inventory": [str(files.inventory)]},
        "background": {"cloudtrail": files.cloudtrail_events, "flow": files.flow_lines, "dns": files.dns_lines},
        "cases": [_case_json(c) for c in cases],
    }, indent=1))
    return SimulatedEstate(root, root / "logs", files.inventory, threat, trusted, truth, cases,
                           files.cloudtrail_events + files.flow_lines + files.dns_lines)


def _case_json(c: Case) -> dict[str, Any]:
    first = c.record[0] if isinstance(c.record, list) else c.record
    return {
        "name": c.name, "expect": c.expect, "source": c.source, "needs_custom_list": c.needs_custom_list,
        "must_not_fire": c.expect is None and not c.also,
        **({"may_raise": sorted(c.also)} if c.also else {}),
        "time": case_time(c.record).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "indicator": first.get("sourceIPAddress") or first.get("query_name") or (first.get("dstaddr") if c.source == "flow" else None),
    }
