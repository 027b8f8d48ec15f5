"""(a) Simulated estates: weeks of benign background, then an attack day with labelled cases.

A case is caught when a sighting of its expected type matches the case's record: the same API
at the same second (CloudTrail), the same remote address within the flow's start..end (flow
logs), the same query name at the same second (DNS). A case of several flows is a pattern (Tor
relaying): its detector reports one occurrence for the whole group, at the latest peer flow,
which may be any flow to the same instance port in the same delivery window, so a pattern case
also matches on instance + port within PATTERN_SLACK_S of its flows.

A sighting is charged first to the firing cases that expect its type and match it, else to any
case it matches (a near miss: a must-not violation), else it is a false positive on the
background. The background lies on days before the attack day, so keys never collide with it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_common import Sighting, epoch, iso, scan

from trailhound.simulator.records import Case
from trailhound.simulator.labelled import simulate

Key = tuple[str, str, float, float]  # (field, value, first second, last second)
PATTERN_SLACK_S = 600.0  # one flow-log aggregation/delivery interval


@dataclass
class CaseResult:
    name: str
    expect: str | None
    source: str
    records: int
    sightings: list[Sighting]
    also: frozenset[str] = frozenset()  # other types its records justifiably raise (the signals of an attack sequence)

    @property
    def caught(self) -> bool:
        return any(s.type == self.expect for s in self.sightings)

    @property
    def other_types(self) -> set[str]:
        return {s.type for s in self.sightings if s.type != self.expect} - self.also


@dataclass
class SimResult:
    seed: int
    scale: float
    days: int
    events: int
    cases: list[CaseResult]
    unexplained: list[Sighting]
    seconds: float
    findings: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def firing(self) -> list[CaseResult]:
        return [c for c in self.cases if c.expect]

    @property
    def near_misses(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.expect]

    @property
    def violations(self) -> list[CaseResult]:
        return [c for c in self.near_misses if c.other_types]  # (a type the case declares justified is no violation)

    @property
    def benign_events(self) -> int:
        return self.events - sum(c.records for c in self.cases)

    @property
    def unexplained_findings(self) -> set[str]:
        return {s.finding_id for s in self.unexplained}


def case_keys(case: Case) -> list[Key]:
    records = case.record if isinstance(case.record, list) else [case.record]
    keys: list[Key] = []
    for r in records:
        if case.source == "cloudtrail":
            t = epoch(r["eventTime"])
            keys.append(("api", r["eventName"], t, t))
        elif case.source == "flow":
            remote = r["dstaddr"] if r["flow-direction"] == "egress" else r["srcaddr"]
            keys.append(("ip", remote, float(r["start"]), float(r["end"])))
        else:
            t = epoch(r["query_timestamp"])
            keys.append(("domain", r["query_name"].rstrip(".").lower(), t, t))
    if case.source == "flow" and len(records) > 1:
        ports = {(r["instance-id"], r["dstport"] if r["flow-direction"] == "ingress" else r["srcport"]) for r in records}
        first, last = min(r["start"] for r in records), max(r["end"] for r in records)
        keys += [("pattern", f"{iid}:{port}", float(first), last + PATTERN_SLACK_S) for iid, port in ports]
    return keys


def matches(s: Sighting, key: Key) -> bool:
    what, value, first, last = key
    if not first - 1 <= s.time <= last + 1:
        return False
    if what == "domain" and s.domain and value.endswith("." + s.domain):
        return True  # a behaviour finding names the zone the queried names are under (DNS tunnelling)
    return value == {"api": s.api, "ip": s.remote_ip, "domain": s.domain, "pattern": f"{s.resource_key}:{s.local_port}"}[what]


def run_estate(root: Path, seed: int, scale: float, days: int) -> SimResult:
    started = time.perf_counter()
    estate = simulate(root, None, seed=seed, scale=scale, days=days)
    opts = json.loads(estate.ground_truth.read_text())["scan"]
    result = scan([estate.logs], db=root / "trailhound.db", threat_lists=opts["threat_lists"], trusted_lists=opts["trusted_lists"],
                  inventory=[Path(p) for p in opts["inventory"]])
    keyed = [(c, case_keys(c)) for c in estate.cases]
    hits: dict[str, list[Sighting]] = defaultdict(list)
    unexplained = []
    for s in result.sightings:
        owners = [c for c, keys in keyed if any(matches(s, k) for k in keys)]
        owners = [c for c in owners if c.expect == s.type] or owners
        for name in (c.name for c in owners):
            hits[name].append(s)
        if not owners:
            unexplained.append(s)
    cases = [CaseResult(c.name, c.expect, c.source, len(c.record) if isinstance(c.record, list) else 1, hits[c.name], c.also) for c in estate.cases]
    return SimResult(seed, scale, days, result.report.events_total, cases, unexplained, time.perf_counter() - started,
                     findings=len(result.findings), problems=[str(p) for p in result.report.problems])


def recall_by_type(runs: list[SimResult]) -> dict[str, tuple[int, int]]:
    """Finding type -> (cases caught, cases) over every estate."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for run in runs:
        for c in run.firing:
            out[c.expect][0] += c.caught  # type: ignore[index]
            out[c.expect][1] += 1  # type: ignore[index]
    return {t: (v[0], v[1]) for t, v in sorted(out.items())}


def describe(s: Sighting) -> str:
    what = s.api or s.domain or s.remote_ip or "?"
    return f"{s.type} on {s.resource_key} ({what}, {iso(s.time)})"


def summary(runs: list[SimResult]) -> dict[str, Any]:
    return {
        "firing": sum(len(r.firing) for r in runs),
        "caught": sum(c.caught for r in runs for c in r.firing),
        "near_misses": sum(len(r.near_misses) for r in runs),
        "violations": sum(len(r.violations) for r in runs),
        # near misses that raised only a type their case declares justified (``Case.also``), by case name
        "justified": sorted({c.name for r in runs for c in r.near_misses if c.sightings and not c.other_types}),
        "unexplained_findings": sum(len(r.unexplained_findings) for r in runs),
        "unexplained_sightings": sum(len(r.unexplained) for r in runs),
        "benign_events": sum(r.benign_events for r in runs),
        "other_types": sum(len(c.other_types) for r in runs for c in r.firing),
    }
