"""InstanceCredentialExfiltration on OTRF's real EC2-proxy breach (Security-Datasets, SDAWS-200914011940):
credentials of instance i-0317f6c6b66ae9c40 read through a misconfigured reverse proxy from the metadata
service, then used with the AWS CLI from the attacker's laptop to list and sync an S3 bucket.

The log's shape is what the first slice missed: EC2 issues the role session (``AssumeRole`` by
``ec2.amazonaws.com``, an AWS-service identity that is no one's behaviour), the instance itself never calls
AWS in the log, and the session's first call — twelve minutes later — is the thief's. Learning "the
addresses of the session's first hour" took the thief's address for the instance's egress. An
instance's public egress is always AWS's, so an address outside AWS is never learned that way.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import scan, write_cloudtrail

OUTSIDE = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
INSIDE = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"
INSTANCE = "i-0317f6c6b66ae9c40"
INSTANCE_IP = "35.174.154.220"  # the proxy's public address in the dataset's adversary view (Amazon's)
OTHER_EC2 = "18.236.253.47"  # an EC2 address of another account (Amazon's, us-west-2)


@pytest.fixture(scope="module")
def otrf(shared_data: Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(shared_data / "otrf-security-datasets-aws" / "ec2_proxy_s3_exfiltration.zip") as z:
        (name,) = [n for n in z.namelist() if n.endswith(".json")]
        lines = z.read(name).decode().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    for r in records:  # Logstash moved eventTime into @timestamp; put it back as CloudTrail delivers it
        r.setdefault("eventTime", r["@timestamp"].replace(".000Z", "Z"))
    return records


def stolen(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["userIdentity"].get("type") == "AssumedRole"]


def info(finding: dict[str, Any]) -> dict[str, Any]:
    return json.loads(finding["service"]["additionalInfo"]["value"])


def run(tmp_path: Path, records: list[dict[str, Any]], inventory: Path | None = None) -> list[dict[str, Any]]:
    path = write_cloudtrail(tmp_path / "ct" / "trail.json.gz", records)
    report, store = scan([path], inventory=[inventory] if inventory else [])
    assert report.problems == []
    return [f for f in store.findings() if "InstanceCredentialExfiltration" in f["type"]]


def describe_instances(tmp_path: Path, public_ip: str) -> Path:
    doc = {"Reservations": [{"Instances": [{"InstanceId": INSTANCE, "InstanceType": "t2.micro", "State": {"Name": "running"},
                                            "NetworkInterfaces": [{"NetworkInterfaceId": "eni-0a1b2c3d4e5f60001", "PrivateIpAddress": "10.0.0.10",
                                                                   "Association": {"PublicIp": public_ip}}]}]}]}
    path = tmp_path / "inventory" / "describe-instances.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_otrf_stolen_instance_credentials_fire_outside_aws(otrf: list[dict[str, Any]], tmp_path: Path) -> None:
    assert len(stolen(otrf)) == 11
    (finding,) = run(tmp_path, otrf)
    assert finding["type"] == OUTSIDE and finding["severity"] == 8.0
    action = finding["service"]["action"]["awsApiCallAction"]
    assert action["remoteIpDetails"]["ipAddressV4"] == "1.2.3.4"
    assert info(finding)["instanceId"] == INSTANCE
    assert finding["resource"]["accessKeyDetails"]["accessKeyId"] == "ASIA5FLZVX4OPVKKVBMX"
    assert "has called from no public address" in finding["description"]


def test_otrf_near_miss_the_instance_on_its_own_address(otrf: list[dict[str, Any]], tmp_path: Path) -> None:
    """The same session, every call from the instance's own (AWS) address: its egress, learned in its first hour."""
    own = [{**r, "sourceIPAddress": INSTANCE_IP} if r in stolen(otrf) else r for r in otrf]
    assert run(tmp_path, own) == []


def test_inventory_address_makes_another_aws_address_fire_within_the_first_hour(otrf: list[dict[str, Any]], tmp_path: Path) -> None:
    """Used from another AWS address from its first call: without an inventory that address could be the
    instance's NAT gateway (learned, silent); the inventory names the instance's own address, so it fires."""
    moved = [{**r, "sourceIPAddress": OTHER_EC2} if r in stolen(otrf) else r for r in otrf]
    assert run(tmp_path / "a", moved) == []
    (finding,) = run(tmp_path / "b", moved, describe_instances(tmp_path, INSTANCE_IP))
    assert finding["type"] == INSIDE
    assert info(finding)["instanceSources"] == [INSTANCE_IP]
    # and the instance on the address the inventory names stays silent
    own = [{**r, "sourceIPAddress": INSTANCE_IP} if r in stolen(otrf) else r for r in otrf]
    assert run(tmp_path / "c", own, describe_instances(tmp_path, INSTANCE_IP)) == []


def test_a_stranger_is_reported_once_an_hour_and_the_memory_stays_bounded() -> None:
    from trailhound.detectors.instance_credentials import REPORT_EVERY, report_due

    reported: dict[str, float] = {}
    assert report_due(reported, "203.0.113.9", 1000.0)
    assert not report_due(reported, "203.0.113.9", 1000.0 + REPORT_EVERY - 1)  # the same hour: said already
    assert report_due(reported, "198.51.100.4", 1500.0)  # another address is its own news
    assert report_due(reported, "203.0.113.9", 1000.0 + REPORT_EVERY)  # an hour on: again
    assert set(reported) == {"203.0.113.9", "198.51.100.4"}
    assert report_due(reported, "192.0.2.1", 1500.0 + 2 * REPORT_EVERY)
    assert set(reported) == {"192.0.2.1"}  # what is older than an hour is forgotten


DUAL = "i-0d0a15ac0000e1001"
NAT = "54.90.185.12"  # the private subnet's NAT gateway (Amazon's)
OWN_V6 = "2600:1f18:4a3:6a00:1234:5678:9abc:def0"  # the instance's own address in its subnet's /64 (Amazon's, us-east-1)
FOREIGN_V6 = "2600:1f14:abc:1200::5"  # another account's EC2 (Amazon's, us-west-2)


def _dual_stack_calls(thief: str | None) -> list[dict[str, Any]]:
    """Three days of an EMR-like node's calls through its NAT gateway, then, from the fourth day, calls to dual-stack
    endpoints from its own IPv6 address alongside (and, with ``thief``, a few from there)."""
    from datetime import UTC, datetime, timedelta

    from trailhound.detectors.instance_credentials import instance_role
    from trailhound.simulator.records import record

    t0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    who = instance_role("111122223333", DUAL, "emr-node")
    calls = [record("GetObject" if i % 2 else "DescribeInstances", "ec2.amazonaws.com", time=t0 + timedelta(minutes=20 * i), identity=who, ip=NAT)
             for i in range(3 * 72)]
    later = t0 + timedelta(days=3, hours=2)
    for i in range(24):
        calls.append(record("DescribeInstances", "ec2.amazonaws.com", time=later + timedelta(minutes=10 * i), identity=who, ip=NAT))
        calls.append(record("PutMetricData", "monitoring.amazonaws.com", time=later + timedelta(minutes=10 * i, seconds=30), identity=who, ip=OWN_V6))
    if thief:
        calls += [record("ListBuckets", "s3.amazonaws.com", time=later + timedelta(hours=1, minutes=i), identity=who, ip=thief) for i in range(3)]
    return calls


def _own_v6_flows(tmp_path: Path) -> Path:
    """The node's interface logging its own IPv6 address on egress (a v5 custom format that names the direction)."""
    header = "version account-id interface-id instance-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction"
    start = 1762063200 + 3 * 86400  # the fourth day
    rows = [f"5 111122223333 eni-0d0a15ac0000e1001 {DUAL} {OWN_V6} 2600:1f18:0:2::10 {40000 + i} 443 6 12 3000 {start + 60 * i} {start + 60 * i + 50} ACCEPT OK egress"
            for i in range(30)]
    path = tmp_path / "flows" / "eni.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_dual_stack_instance_on_its_own_ipv6_is_no_second_party(tmp_path: Path) -> None:
    """A node behind a NAT gateway calls a dual-stack endpoint from its own IPv6 address while it goes on through the NAT:
    that is the instance's side (its interface's flow logs name the address), not someone else with its credentials. Another
    account's EC2 over IPv6 still raises InsideAWS beside it."""
    ct = write_cloudtrail(tmp_path / "ct" / "trail.json.gz", _dual_stack_calls(thief=None))
    flows = _own_v6_flows(tmp_path)
    _, store = scan([ct, flows])
    assert [f["type"] for f in store.findings() if "InstanceCredentialExfiltration" in f["type"]] == []
    ct2 = write_cloudtrail(tmp_path / "ct2" / "trail.json.gz", _dual_stack_calls(thief=FOREIGN_V6))
    _, store = scan([ct2, flows])
    found = [f for f in store.findings() if "InstanceCredentialExfiltration" in f["type"]]
    assert [f["type"] for f in found] == [INSIDE] and FOREIGN_V6 in json.dumps(found[0]["service"]["action"])


def test_without_logs_naming_it_the_instance_s_ipv6_beside_its_nat_is_reported(tmp_path: Path) -> None:
    """The near miss the other way: with no flow log or inventory naming the address as the estate's, an IPv6 address
    calling while the NAT gateway goes on is a second party, as GuardDuty would judge it."""
    ct = write_cloudtrail(tmp_path / "ct" / "trail.json.gz", _dual_stack_calls(thief=None))
    _, store = scan([ct])
    found = [f for f in store.findings() if "InstanceCredentialExfiltration" in f["type"]]
    assert [f["type"] for f in found] == [INSIDE]


def test_another_address_in_the_ipv6_64_the_instance_calls_from_is_the_instance(tmp_path: Path) -> None:
    """An instance that called from its IPv6 address in its first hour, later calling from another address of the same
    /64 (a second interface, a delegated prefix): its own subnet's side, not a second party; one in another /64 is one."""
    from datetime import UTC, datetime, timedelta

    from trailhound.detectors.instance_credentials import instance_role
    from trailhound.simulator.records import record

    t0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    who = instance_role("111122223333", DUAL, "emr-node")

    def calls(ip: str, at: datetime, n: int) -> list[dict[str, Any]]:
        return [record("DescribeInstances", "ec2.amazonaws.com", time=at + timedelta(minutes=10 * i), identity=who, ip=ip) for i in range(n)]

    sibling = OWN_V6.rsplit(":", 1)[0] + ":1"
    base = calls(NAT, t0, 6) + calls(OWN_V6, t0 + timedelta(minutes=5), 6) + calls(NAT, t0 + timedelta(hours=5), 12)
    found = run(tmp_path / "a", base + calls(sibling, t0 + timedelta(hours=6), 3))
    assert found == []
    found = run(tmp_path / "b", base + calls(FOREIGN_V6, t0 + timedelta(hours=6), 3))
    assert [f["type"] for f in found] == [INSIDE]
