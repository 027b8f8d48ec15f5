"""``trailhound demo``: a small AWS estate with two days of ordinary activity and an attack in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from trailhound.attacks import add_attack_instance, all_cases, write_case_logs, write_custom_lists
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
    cases = all_cases(spec.start + timedelta(days=spec.days, hours=2), account)
    write_case_logs(root / "logs", cases, account, spec.region)
    add_attack_instance(files.inventory)
    threat, trusted = write_custom_lists(root / "lists")
    return DemoEstate(
        root=root,
        logs=root / "logs",
        inventory=files.inventory,
        threat_list=threat,
        trusted_list=trusted,
        background={"cloudtrail": files.cloudtrail_events, "flow": files.flow_lines, "dns": files.dns_lines},
        attack_records=len(cases),
    )
