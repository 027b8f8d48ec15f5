"""Stratus Red Team after a learned baseline: each technique's detonation, scanned after 14 days of
ordinary work by the same principals; and the same 14 days followed by an ordinary day, which must
raise nothing.

The ordinary work is ``trailhound simulate``'s habits, re-keyed: one simulated estate (17 days) is
written once; its CLI user (``carol``: the AWS CLI from home addresses, every working day) lends her
days to every human or automation principal of a detonation (IAM users, assumed roles, federated
users), and an instance-role session (``prod-web-instance-role`` on its instance) lends its days to
an instance-role principal. Re-keyed means: the donor's records with the detonation principal's
``userIdentity`` and account, at the donor's own times, addresses, clients and regions. The
detonation follows on the estate's last day, at its own time of day, unchanged otherwise: its
addresses are anonymised (often invalid) and its client is the Stratus tool, so "unusual network"
and "unusual client" hold as they would for an attacker's machine — the detectors know neither
string. The ordinary day is the donor's own last day, re-keyed the same way.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_common import epoch, iso, scan, write_cloudtrail

from trailhound.simulator import write_estate
from trailhound.simulator.spec import EstateSpec

DAYS = 17  # the estate's days; the last (a Tuesday) is the detonation day and the ordinary day
HUMAN_DONOR = "arn:aws:iam::111122223333:user/carol"
INSTANCE_DONOR = "assumed-role/prod-web-instance-role/i-"
_DAY = 86_400


@dataclass
class Habits:
    """The donors' records, by donor: (epoch time, record)."""

    human: list[tuple[float, dict[str, Any]]]
    instance: list[tuple[float, dict[str, Any]]]
    last_day: float  # epoch of the estate's last day, 00:00 UTC


def learn_habits(work: Path) -> Habits:
    spec = EstateSpec(days=DAYS, cloudtrail_events=30_000, flow_lines=10, dns_lines=10, instances=6, users=6, seed=7)
    files = write_estate(work / "stratus-habits", spec)
    human, instance = [], []
    for p in files.cloudtrail:
        for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]:
            arn = r["userIdentity"].get("arn") or ""
            if arn == HUMAN_DONOR:
                human.append((epoch(r["eventTime"]), r))
            elif INSTANCE_DONOR in arn:
                instance.append((epoch(r["eventTime"]), r))
    start = spec.start.timestamp()
    return Habits(sorted(human, key=lambda x: x[0]), sorted(instance, key=lambda x: x[0]), start + (DAYS - 1) * _DAY)


def principals(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The detonation's calling principals (an address, not an AWS service): principal ARN -> its userIdentity."""
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        ident = e.get("userIdentity") or {}
        if ident.get("type") in (None, "AWSService", "AWSAccount") or not ident.get("arn"):
            continue
        issuer = ((ident.get("sessionContext") or {}).get("sessionIssuer") or {}).get("arn")
        out.setdefault(issuer or ident["arn"], ident)
    return out


def _instance_session(ident: dict[str, Any]) -> bool:
    return ident.get("type") == "AssumedRole" and (ident.get("arn") or "").rsplit("/", 1)[-1].lower().startswith("i-")


def rekey(donor: list[tuple[float, dict[str, Any]]], ident: dict[str, Any], since: float, until: float) -> list[dict[str, Any]]:
    """The donor's records in [since, until) as the principal ``ident``'s."""
    account = ident.get("accountId") or ident["arn"].split(":")[4]
    out = []
    for t, r in donor:
        if since <= t < until:
            out.append({**r, "userIdentity": ident, "recipientAccountId": account})
    return out


@dataclass
class BaselineResult:
    technique: str
    events: int
    expected: frozenset[str]
    raised: dict[str, list[str]]  # type -> APIs of the detonation events that raised it
    baseline_findings: list[str]  # findings on the 14 days of habits (must be none)
    ordinary_findings: list[str]  # findings on the ordinary day after them (must be none)
    note: str
    baseline_events: int = 0

    @property
    def covered(self) -> bool:
        return bool(self.expected & set(self.raised))


@dataclass
class StratusBaseline:
    techniques: list[BaselineResult] = field(default_factory=list)

    @property
    def covered(self) -> list[BaselineResult]:
        return [t for t in self.techniques if t.covered]

    @property
    def false_positives(self) -> list[tuple[str, str]]:
        return [(t.technique, f) for t in self.techniques for f in t.baseline_findings + t.ordinary_findings]


def run_stratus_baseline(shared: Path, work: Path, mapping: dict[str, tuple[frozenset[str], frozenset[str], str]]) -> StratusBaseline:
    habits = learn_habits(work)
    out = StratusBaseline()
    folder = shared / "stratus-red-team-detonation-logs"
    since, day = habits.last_day - 14 * _DAY, habits.last_day
    for f in sorted(folder.glob("*.json.gz")):
        technique = f.name.removesuffix(".json.gz")
        if technique not in mapping:
            continue
        events = json.loads(gzip.decompress(f.read_bytes()))
        first = min(epoch(e["eventTime"]) for e in events)
        shift = day + first % _DAY - first  # the detonation on the last day, at its own time of day
        detonation = [{**e, "eventTime": iso(epoch(e["eventTime"]) + shift)} for e in events]
        baseline, ordinary = [], []
        for ident in principals(events).values():
            donor = habits.instance if _instance_session(ident) else habits.human
            baseline += rekey(donor, ident, since, day)
            ordinary += rekey(donor, ident, day, day + _DAY)
        base = work / "stratus-baseline" / technique
        attack = scan([write_cloudtrail(base / "attack" / "trail.json.gz", baseline + detonation)])
        quiet = scan([write_cloudtrail(base / "ordinary" / "trail.json.gz", baseline + ordinary)])
        raised: dict[str, list[str]] = defaultdict(list)
        on_baseline = []
        for s in attack.sightings:
            if s.time >= day:
                raised[s.type].append(s.api or "?")
            else:
                on_baseline.append(f"{s.type} ({s.api})")
        expected, _, note = mapping[technique]
        out.techniques.append(BaselineResult(technique, len(events), expected, dict(raised), on_baseline,
                                             [f"{s.type} ({s.api})" for s in quiet.sightings if s.time >= day], note, len(baseline)))
    return out


def _short(t: str) -> str:
    return t.replace("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration", "InstanceCredentialExfiltration")


def markdown(res: StratusBaseline) -> str:
    """The per-technique table of the README (between its markers)."""
    rows = [f"{len(res.covered)}/{len(res.techniques)} techniques raise their mapped type after a 14-day baseline; "
            f"{len(res.false_positives)} findings on the baselines and the ordinary days after them.", "",
            "| Technique | Mapped type | Raised on the detonation | Covered |", "|---|---|---|---|"]
    for t in res.techniques:
        raised = "; ".join(f"{_short(k)} ({', '.join(sorted(set(v)))})" for k, v in sorted(t.raised.items())) or "-"
        rows.append(f"| {t.technique.removeprefix('aws.')} | {' or '.join(sorted(_short(x) for x in t.expected)) or '-'} | {raised} | "
                    f"{'yes' if t.covered else 'no'} |")
    return "\n".join(rows) + "\n"


README_BEGIN = "<!-- stratus after a baseline: generated by bench/quality.py (tests/test_quality.py checks it) -->"
README_END = "<!-- end of stratus after a baseline -->"


def readme_block(res: StratusBaseline) -> str:
    return f"{README_BEGIN}\n\n{markdown(res)}\n{README_END}"

