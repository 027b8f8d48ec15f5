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
