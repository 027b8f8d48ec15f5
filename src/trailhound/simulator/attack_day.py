"""The attack day: labelled cases written as AWS delivers logs, with the inventory and lists they assume.

The cases come from the detector modules (``trailhound.detectors.all_cases``): each type's attack
records and the near misses that must stay silent.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from trailhound.simulator.records import ATTACKER_IP, CUSTOM_DOMAIN, HOSTS, TRUSTED_IP, VPC, Case, case_time, public_ip


def write_case_logs(root: Path, cases: list[Case], account: str = "111122223333", region: str = "us-east-1") -> list[Path]:
    """Write cases as AWS delivers logs to S3: one CloudTrail object, one flow-log object, one DNS-log object."""
    ct = [r for c in cases if c.source == "cloudtrail" for r in c.records]
    # in time order, as AWS delivers them: a case's days of history come before the attack day's records of every case
    flows = sorted((r for c in cases if c.source == "flow" for r in c.records), key=lambda r: r["start"])
    dns = [r for c in cases if c.source == "dns" for r in c.records]
    stamp_t = min(case_time(r) for c in cases for r in c.records) if cases else datetime.now(UTC)
    stamp, day = stamp_t.strftime("%Y%m%dT%H%MZ"), stamp_t.strftime("%Y/%m/%d")
    base = root / "AWSLogs" / account
    written = []
    if ct:
        p = base / "CloudTrail" / region / day / f"{account}_CloudTrail_{region}_{stamp}_attack0000000001.json.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(json.dumps({"Records": ct}).encode(), mtime=0))
        written.append(p)
    if flows:
        header = list(flows[0])
        lines = [" ".join(header)] + [" ".join("-" if r.get(f) is None else str(r[f]) for f in header) for r in flows]
        p = base / "vpcflowlogs" / region / day / f"{account}_vpcflowlogs_{region}_fl-0attack00000000001_{stamp}_0000a77a.log.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        written.append(p)
    if dns:
        p = base / "vpcdnsquerylogs" / VPC / day / f"{account}_vpcdnsquerylogs_{VPC}_{stamp}_0000a77a.log.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in dns) + "\n").encode(), mtime=0))
        written.append(p)
    return written


def add_attack_instances(inventory: Path) -> None:
    """Put the instances the network attack cases run on into a describe-instances file."""
    doc = json.loads(inventory.read_text()) if inventory.exists() else {"Reservations": []}
    for n, host in enumerate(HOSTS):
        doc["Reservations"].append({"ReservationId": f"r-0a77ac4c0a77ac4c{n}", "OwnerId": "111122223333", "Instances": [{
            "InstanceId": host.instance, "InstanceType": "t3.medium", "ImageId": "ami-0c7217cdde317cfec", "LaunchTime": "2026-10-20T08:00:00+00:00",
            "Placement": {"AvailabilityZone": "us-east-1a"}, "PrivateIpAddress": host.ip, "State": {"Name": "running"},
            "SubnetId": "subnet-0a1b2c3d", "VpcId": VPC, **({"Platform": host.platform} if host.platform else {}),
            "IamInstanceProfile": {"Arn": "arn:aws:iam::111122223333:instance-profile/web-app", "Id": "AIPAEXAMPLEWEBAPP0001"},
            "Tags": [{"Key": "Name", "Value": host.name}, {"Key": "team", "Value": "payments"},
                     *([{"Key": "aws:autoscaling:groupName", "Value": host.group}] if host.group else [])],
            "NetworkInterfaces": [{"NetworkInterfaceId": host.eni, "PrivateIpAddress": host.ip, "SubnetId": "subnet-0a1b2c3d", "VpcId": VPC,
                                   "PrivateIpAddresses": [{"PrivateIpAddress": host.ip, "Primary": True}],
                                   "Association": {"PublicIp": public_ip(host), "PublicDnsName": f"ec2-{public_ip(host).replace('.', '-')}.compute-1.amazonaws.com"},
                                   "Groups": [{"GroupId": "sg-0a1b2c3d4e5f60718", "GroupName": host.name}]}],
        }]})
    inventory.write_text(json.dumps(doc, indent=1))


def write_custom_lists(root: Path) -> tuple[Path, Path]:
    """The operator's lists the cases assume: a threat list (an IP and a domain) and a trusted list."""
    root.mkdir(parents=True, exist_ok=True)
    threat = root / "attacker-infrastructure.txt"
    threat.write_text(f"# indicators from the incident\n{ATTACKER_IP}\n{CUSTOM_DOMAIN}\n")
    trusted = root / "office.txt"
    trusted.write_text(f"{TRUSTED_IP}\n")
    return threat, trusted
