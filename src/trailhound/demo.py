"""``trailhound demo``: a small AWS estate with a day of ordinary activity and an attack in it."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from trailhound.attacks import ATTACKER_IP, TRUSTED_IP, rule_cases, threat_list_cases
from trailhound.synth import EstateSpec, write_estate


@dataclass
class DemoEstate:
    root: Path
    logs: Path
    inventory: Path
    threat_list: Path
    trusted_list: Path
    background: dict[str, int]
    attack_records: int

    def describe(self) -> str:
        b = self.background
        return (f"{b['cloudtrail']:,} CloudTrail events, {b['flow']:,} flow records, {b['dns']:,} DNS queries of ordinary activity, "
                f"plus {self.attack_records} attack and near-miss events")


def write_demo_estate(root: Path) -> DemoEstate:
    spec = EstateSpec(cloudtrail_events=6000, flow_lines=20_000, dns_lines=6000, days=2, instances=8, users=5, seed=2026)
    files = write_estate(root / "logs", spec)
    account = spec.account_ids[0]
    attack_day = spec.start + timedelta(days=spec.days, hours=2)
    cases = rule_cases(attack_day, account) + threat_list_cases(attack_day + timedelta(hours=3), account)
    stamp = attack_day.strftime("%Y%m%dT%H%MZ")
    day = attack_day.strftime("%Y/%m/%d")
    out = root / "logs" / "AWSLogs" / account / "CloudTrail" / spec.region / day / f"{account}_CloudTrail_{spec.region}_{stamp}_attack0000000001.json.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(json.dumps({"Records": [c.record for c in cases]}).encode()))
    threat = root / "lists" / "attacker-infrastructure.txt"
    threat.parent.mkdir(parents=True, exist_ok=True)
    threat.write_text(f"# IPs seen in the incident\n{ATTACKER_IP}\n")
    trusted = root / "lists" / "office.txt"
    trusted.write_text(f"{TRUSTED_IP}\n")
    return DemoEstate(
        root=root,
        logs=root / "logs",
        inventory=files.inventory,
        threat_list=threat,
        trusted_list=trusted,
        background={"cloudtrail": files.cloudtrail_events, "flow": files.flow_lines, "dns": files.dns_lines},
        attack_records=len(cases),
    )
