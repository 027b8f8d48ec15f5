"""The resource inventory: which instance owns an interface or a private IP, from every source that tells."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from conftest import store_at, write_cloudtrail

from trailhound.simulator.records import iam_user, record
from trailhound.config import ScanSettings
from trailhound.enrich.inventory import Inventory
from trailhound.pipeline import Scanner
from trailhound.store.database import Store

T0 = datetime(2025, 4, 7, 9, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
WEB = "i-0a1b2c3d4e5f60718"
DB = "i-0fedcba9876543210"
OLD = "i-00000000deadbeef0"


def describe_instances() -> dict[str, Any]:
    """`aws ec2 describe-instances` output: two reservations, a two-interface instance, a terminated one."""
    def nic(eni: str, ip: str, extra_ips: list[str], public: str | None, sg: str, index: int) -> dict[str, Any]:
        n: dict[str, Any] = {
            "Attachment": {"AttachTime": "2025-03-01T10:00:00+00:00", "AttachmentId": f"eni-attach-{eni[4:]}", "DeleteOnTermination": True,
                           "DeviceIndex": index, "Status": "attached", "NetworkCardIndex": 0},
            "Description": "", "Groups": [{"GroupName": sg, "GroupId": f"sg-{sg}0001"}], "Ipv6Addresses": [],
            "MacAddress": "0a:1b:2c:3d:4e:5f", "NetworkInterfaceId": eni, "OwnerId": ACCOUNT,
            "PrivateDnsName": f"ip-{ip.replace('.', '-')}.ec2.internal", "PrivateIpAddress": ip,
            "PrivateIpAddresses": [{"Primary": True, "PrivateDnsName": f"ip-{ip.replace('.', '-')}.ec2.internal", "PrivateIpAddress": ip}]
            + [{"Primary": False, "PrivateDnsName": f"ip-{x.replace('.', '-')}.ec2.internal", "PrivateIpAddress": x} for x in extra_ips],
            "SourceDestCheck": True, "Status": "in-use", "SubnetId": "subnet-0aa11bb22", "VpcId": "vpc-0c0ffee1", "InterfaceType": "interface",
        }
        if public:
            n["Association"] = {"IpOwnerId": "amazon", "PublicDnsName": f"ec2-{public.replace('.', '-')}.compute-1.amazonaws.com", "PublicIp": public}
            n["PrivateIpAddresses"][0]["Association"] = n["Association"]
        return n

    web = {
        "AmiLaunchIndex": 0, "ImageId": "ami-0abcdef1234567890", "InstanceId": WEB, "InstanceType": "t3.large",
        "LaunchTime": "2025-03-01T10:00:00+00:00", "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": "us-east-1a", "GroupName": "", "Tenancy": "default"},
        "PrivateDnsName": "ip-10-0-1-10.ec2.internal", "PrivateIpAddress": "10.0.1.10", "ProductCodes": [],
        "PublicDnsName": "ec2-54-210-1-2.compute-1.amazonaws.com", "PublicIpAddress": "54.210.1.2",
        "State": {"Code": 16, "Name": "running"}, "SubnetId": "subnet-0aa11bb22", "VpcId": "vpc-0c0ffee1", "Architecture": "x86_64",
        "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web-profile", "Id": "AIPAEXAMPLEWEB0001"},
        "NetworkInterfaces": [nic("eni-0web000000000001", "10.0.1.10", ["10.0.1.11", "10.0.1.12"], "54.210.1.2", "web", 0),
                              nic("eni-0web000000000002", "10.0.2.20", [], None, "mgmt", 1)],
        "SecurityGroups": [{"GroupName": "web", "GroupId": "sg-web0001"}],
        "Tags": [{"Key": "Name", "Value": "web-1"}, {"Key": "env", "Value": "prod"}],
    }
    db = {
        "ImageId": "ami-0123456789abcdef0", "InstanceId": DB, "InstanceType": "r6g.xlarge", "LaunchTime": "2025-02-11T08:30:12.000Z",
        "Placement": {"AvailabilityZone": "us-east-1b"}, "PrivateIpAddress": "10.0.3.30", "State": {"Code": 16, "Name": "running"},
        "Platform": "windows", "ProductCodes": [{"ProductCodeId": "aw0evgkw8e5c1q413zgy5pjce", "ProductCodeType": "marketplace"}],
        "NetworkInterfaces": [nic("eni-0db0000000000003", "10.0.3.30", [], None, "db", 0)],
        "Tags": [{"Key": "Name", "Value": "db-1"}],
    }
    old = {"ImageId": "ami-0123456789abcdef0", "InstanceId": OLD, "InstanceType": "t2.micro", "LaunchTime": "2024-12-24T23:59:59+00:00",
           "State": {"Code": 48, "Name": "terminated"}, "NetworkInterfaces": [], "Placement": {"AvailabilityZone": "us-east-1c"}}
    return {"Reservations": [
        {"Groups": [], "Instances": [web], "OwnerId": ACCOUNT, "ReservationId": "r-0aaa1111bbbb2222c"},
        {"Groups": [], "Instances": [db, old], "OwnerId": ACCOUNT, "ReservationId": "r-0ddd3333eeee4444f"},
    ]}


def test_load_describe_instances_and_lookups() -> None:
    inv = Inventory()
    assert inv.load_describe_instances(describe_instances()) == 3
    assert inv.changed
    web = inv.instance(WEB)
    assert web is not None and web["instanceId"] == WEB
    assert (web["instanceType"], web["instanceState"], web["availabilityZone"], web["imageId"]) == (
        "t3.large", "running", "us-east-1a", "ami-0abcdef1234567890")
    assert web["launchTime"] == "2025-03-01T10:00:00.000Z"
    assert web["iamInstanceProfile"] == {"arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/web-profile", "id": "AIPAEXAMPLEWEB0001"}
    assert web["tags"] == [{"key": "Name", "value": "web-1"}, {"key": "env", "value": "prod"}]
    primary, mgmt = web["networkInterfaces"]
    assert primary["networkInterfaceId"] == "eni-0web000000000001" and primary["publicIp"] == "54.210.1.2"
    assert primary["privateIpAddress"] == "10.0.1.10" and primary["vpcId"] == "vpc-0c0ffee1" and primary["subnetId"] == "subnet-0aa11bb22"
    assert [a["privateIpAddress"] for a in primary["privateIpAddresses"]] == ["10.0.1.10", "10.0.1.11", "10.0.1.12"]
    assert primary["securityGroups"] == [{"groupId": "sg-web0001", "groupName": "web"}]
    assert mgmt["publicIp"] is None and mgmt["securityGroups"] == [{"groupId": "sg-mgmt0001", "groupName": "mgmt"}]

    # by interface, by any private IP of any interface
    for eni in ("eni-0web000000000001", "eni-0web000000000002"):
        assert inv.instance(eni=eni) is web
    for ip in ("10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.2.20"):
        assert inv.instance(private_ip=ip) is web
    db = inv.instance(eni="eni-0db0000000000003")
    assert db is not None and db["instanceId"] == DB and inv.instance(private_ip="10.0.3.30") is db
    assert db["platform"] == "windows" and db["iamInstanceProfile"] is None and db["launchTime"] == "2025-02-11T08:30:12.000Z"
    assert db["productCodes"] == [{"productCodeId": "aw0evgkw8e5c1q413zgy5pjce", "productCodeType": "marketplace"}]
    old = inv.instance(OLD)
    assert old is not None and old["instanceState"] == "terminated" and old["networkInterfaces"] == [] and old["tags"] == []
    # nothing known
    assert inv.instance("i-0999999999999999f") is None
    assert inv.instance(eni="eni-0nope") is None and inv.instance(private_ip="10.9.9.9") is None
    assert inv.instance() is None


def test_describe_instances_tolerates_odd_entries() -> None:
    inv = Inventory()
    doc = {"Reservations": [{"Instances": [{"InstanceType": "t3.micro"}, "garbage", {"InstanceId": "i-0123456789abcdef0"}]}, {}]}
    assert inv.load_describe_instances(doc) == 1
    assert inv.instance("i-0123456789abcdef0")["networkInterfaces"] == []
    assert Inventory().load_describe_instances({}) == 0


def _scanner(db: Path | str = ":memory:", **settings: Any) -> Scanner:
    return Scanner(Store(db), ScanSettings(**settings), detectors=[])


def test_describe_instances_through_a_scan(tmp_path: Path) -> None:
    inv_file = tmp_path / "inventory" / "describe-instances.json"
    inv_file.parent.mkdir()
    inv_file.write_text(json.dumps(describe_instances(), indent=2))
    # passed as --inventory
    s = _scanner(inventory=[inv_file])
    report = s.scan([])
    assert report.inventory_instances == 3 and report.problems == []
    assert s.inventory.instance(private_ip="10.0.1.11")["instanceId"] == WEB
    # or found among the logs (recognised by content, gzipped, whatever its name)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ec2-snapshot.json.gz").write_bytes(gzip.compress(inv_file.read_bytes()))
    write_cloudtrail(logs / "trail.json.gz", [record("DescribeInstances", "ec2.amazonaws.com", time=T0)])
    s = _scanner()
    report = s.scan([logs])
    assert report.inventory_instances == 3 and report.problems == [] and report.events["cloudtrail"] == 1
    assert s.inventory.instance(eni="eni-0db0000000000003")["instanceId"] == DB


def run_instances(instance_id: str, eni: str, ip: str, *, time: datetime, error: str | None = None) -> dict[str, Any]:
    """A RunInstances record as CloudTrail logs it (lists as {"items": [...]}, launchTime in epoch ms)."""
    launch_ms = int(time.timestamp() * 1000)
    response = None if error else {
        "requestId": "be5c6330-fa9a-4b1e-b4d2-695d5186a573", "reservationId": "r-0ba57b7ba9925d379", "ownerId": ACCOUNT, "groupSet": {},
        "instancesSet": {"items": [{
            "instanceId": instance_id, "imageId": "ami-029eb80bc237bec6f", "instanceState": {"code": 0, "name": "pending"},
            "privateDnsName": f"ip-{ip.replace('.', '-')}.ec2.internal", "amiLaunchIndex": 0, "productCodes": {}, "instanceType": "t3.micro",
            "launchTime": launch_ms, "placement": {"availabilityZone": "us-east-1a", "tenancy": "default"},
            "monitoring": {"state": "disabled"}, "subnetId": "subnet-08752c8d74ae2c324", "vpcId": "vpc-04ae35a334cd7ef4f",
            "privateIpAddress": ip, "architecture": "x86_64", "rootDeviceType": "ebs",
            "iamInstanceProfile": {"arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/build-profile", "id": "AIPAEXAMPLEBUILD01"},
            "tagSet": {"items": [{"key": "Name", "value": "build-runner"}]},
            "groupSet": {"items": [{"groupId": "sg-06ac05dd4c4a2ecbd", "groupName": "build"}]},
            "networkInterfaceSet": {"items": [{
                "networkInterfaceId": eni, "subnetId": "subnet-08752c8d74ae2c324", "vpcId": "vpc-04ae35a334cd7ef4f", "ownerId": ACCOUNT,
                "status": "in-use", "macAddress": "12:b3:9a:0b:90:8b", "privateIpAddress": ip, "sourceDestCheck": True,
                "interfaceType": "interface", "groupSet": {"items": [{"groupId": "sg-06ac05dd4c4a2ecbd", "groupName": "build"}]},
                "attachment": {"attachmentId": "eni-attach-0a1", "deviceIndex": 0, "networkCardIndex": 0, "status": "attaching",
                               "attachTime": launch_ms, "deleteOnTermination": True},
                "privateIpAddressesSet": {"item": [{"privateIpAddress": ip, "primary": True}]},
            }]},
        }]},
    }
    return record("RunInstances", "ec2.amazonaws.com", time=time, identity=iam_user(ACCOUNT, "deployer"),
                  params={"instancesSet": {"items": [{"imageId": "ami-029eb80bc237bec6f", "minCount": 1, "maxCount": 1}]},
                          "instanceType": "t3.micro"},
                  response=response, error_code=error)


def instance_role_call(instance_id: str, role: str, *, time: datetime, name: str = "GetCallerIdentity") -> dict[str, Any]:
    identity = {
        "type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID0001:{instance_id}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{instance_id}", "accountId": ACCOUNT, "accessKeyId": "ASIAEXAMPLESESSION01",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001", "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                             "accountId": ACCOUNT, "userName": role},
                           "attributes": {"creationDate": "2025-04-07T08:55:00Z", "mfaAuthenticated": "false"}, "ec2RoleDelivery": "2.0"},
    }
    return record(name, "sts.amazonaws.com", time=time, identity=identity)


def test_run_instances_learned_through_a_scan(tmp_path: Path) -> None:
    recs = [
        run_instances("i-0123456789abcdef0", "eni-06b7a305fe9519d03", "10.0.1.77", time=T0),
        run_instances("i-0badbadbadbadbad0", "eni-0badbadbadbadbad0", "10.0.1.78", time=T0 + timedelta(minutes=1), error="UnauthorizedOperation"),
        record("DescribeInstances", "ec2.amazonaws.com", time=T0 + timedelta(minutes=2)),
    ]
    s = _scanner()
    report = s.scan([write_cloudtrail(tmp_path / "trail.json.gz", recs)])
    assert report.events["cloudtrail"] == 3
    inst = s.inventory.instance(eni="eni-06b7a305fe9519d03")
    assert inst is not None and inst is s.inventory.instance(private_ip="10.0.1.77") is s.inventory.instance("i-0123456789abcdef0")
    assert (inst["instanceType"], inst["instanceState"], inst["availabilityZone"], inst["imageId"]) == (
        "t3.micro", "pending", "us-east-1a", "ami-029eb80bc237bec6f")
    assert inst["launchTime"] == T0.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert inst["iamInstanceProfile"] == {"arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/build-profile", "id": "AIPAEXAMPLEBUILD01"}
    assert inst["tags"] == [{"key": "Name", "value": "build-runner"}]
    [nic] = inst["networkInterfaces"]
    assert (nic["vpcId"], nic["subnetId"], nic["securityGroups"]) == (
        "vpc-04ae35a334cd7ef4f", "subnet-08752c8d74ae2c324", [{"groupId": "sg-06ac05dd4c4a2ecbd", "groupName": "build"}])
    # a failed launch teaches nothing
    assert s.inventory.instance("i-0badbadbadbadbad0") is None and s.inventory.instance(private_ip="10.0.1.78") is None
    assert set(s.inventory.instances) == {"i-0123456789abcdef0"}


def test_run_instances_does_not_overwrite_describe_instances(tmp_path: Path) -> None:
    inv_file = tmp_path / "describe.json"
    inv_file.write_text(json.dumps(describe_instances()))
    s = _scanner(inventory=[inv_file])
    s.scan([write_cloudtrail(tmp_path / "logs" / "t.json.gz", [run_instances(WEB, "eni-0web000000000001", "10.0.1.10", time=T0)])])
    assert s.inventory.instance(WEB)["instanceType"] == "t3.large"  # describe-instances is the richer, current view
    assert s.inventory.instance(WEB)["tags"][0] == {"key": "Name", "value": "web-1"}


def test_instance_role_sessions_recorded_under_their_role(tmp_path: Path) -> None:
    recs = [
        instance_role_call("i-0123456789abcdef0", "app-role", time=T0),
        instance_role_call("i-0123456789abcdef0", "app-role", time=T0 + timedelta(minutes=1), name="ListBuckets"),
        instance_role_call("i-0aaaabbbbccccdddd", "app-role", time=T0 + timedelta(minutes=2)),
        instance_role_call("i-0eeeeffff00001111", "batch-role", time=T0 + timedelta(minutes=3)),
        instance_role_call("i-notaninstance", "batch-role", time=T0 + timedelta(minutes=4)),  # not an instance id
        record("GetCallerIdentity", "sts.amazonaws.com", time=T0 + timedelta(minutes=5), identity={
            "type": "AssumedRole", "principalId": "AROAEXAMPLEROLEID0002:botocore-session-1712480000",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-role/botocore-session-1712480000", "accountId": ACCOUNT}),
    ]
    s = _scanner()
    s.scan([write_cloudtrail(tmp_path / "trail.json.gz", recs)])
    assert s.inventory.role_sessions == {
        f"arn:aws:iam::{ACCOUNT}:role/app-role": ["i-0123456789abcdef0", "i-0aaaabbbbccccdddd"],
        f"arn:aws:iam::{ACCOUNT}:role/batch-role": ["i-0eeeeffff00001111"],
    }


FLOW_V3 = "version account-id interface-id instance-id vpc-id subnet-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


def _flow_v3(rows: list[tuple[str, str]], start: datetime) -> str:
    t = int(start.timestamp())
    return FLOW_V3 + "\n" + "\n".join(
        f"3 {ACCOUNT} {eni} {iid} vpc-0c0ffee1 subnet-0aa11bb22 10.0.1.{i} 52.95.110.1 {40000 + i} 443 6 3 180 {t + i} {t + i + 60} ACCEPT OK"
        for i, (eni, iid) in enumerate(rows)) + "\n"


def test_flow_logs_map_interfaces_to_instances(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "flows-v3.log").write_text(_flow_v3([
        ("eni-0aaa000000000001", "i-0aaa000000000001"), ("eni-0aaa000000000001", "i-0aaa000000000001"),
        ("eni-0bbb000000000002", "i-0bbb000000000002"), ("eni-0ccc000000000003", "-"),  # no instance behind (e.g. a NAT gateway)
    ], T0))
    (logs / "flows-v2.log").write_text(
        f"2 {ACCOUNT} eni-0ddd000000000004 10.0.9.9 10.0.1.1 1234 22 6 1 60 {int(T0.timestamp())} {int(T0.timestamp()) + 60} ACCEPT OK\n")
    s = _scanner()
    report = s.scan([logs])
    assert report.events["flow"] == 5 and report.problems == []
    inv = s.inventory
    assert inv.by_eni == {"eni-0aaa000000000001": "i-0aaa000000000001", "eni-0bbb000000000002": "i-0bbb000000000002"}
    a = inv.instance(eni="eni-0aaa000000000001")
    assert a is not None and a["instanceId"] == "i-0aaa000000000001"
    assert a["networkInterfaces"] == [{"networkInterfaceId": "eni-0aaa000000000001", "vpcId": "vpc-0c0ffee1", "subnetId": "subnet-0aa11bb22"}]
    assert inv.instance(eni="eni-0ccc000000000003") is None and inv.instance(eni="eni-0ddd000000000004") is None


def test_flow_logs_add_interfaces_to_known_instances(tmp_path: Path) -> None:
    inv_file = tmp_path / "describe.json"
    inv_file.write_text(json.dumps(describe_instances()))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "flows.log").write_text(_flow_v3([("eni-0web0000000000ff", WEB)], T0))  # an interface attached later
    s = _scanner(inventory=[inv_file])
    s.scan([logs])
    web = s.inventory.instance(eni="eni-0web0000000000ff")
    assert web is not None and web["instanceId"] == WEB and web["instanceType"] == "t3.large"  # not replaced by a stub


def test_run_instances_fills_in_an_instance_first_seen_in_flow_logs(tmp_path: Path) -> None:
    """The flow file of the first minutes is opened before the launch event is processed: the launch
    event must still complete what the flow log alone could say."""
    logs = tmp_path / "logs"
    logs.mkdir()
    # a 10-minute flow file: another instance's traffic from minute 2, the new instance's from minute 6
    other = _flow_v3([("eni-0aaa000000000001", "i-0aaa000000000001")], T0 + timedelta(minutes=2))
    new = _flow_v3([("eni-06b7a305fe9519d03", "i-0123456789abcdef0")] * 3, T0 + timedelta(minutes=6))
    (logs / "flows.log").write_text(other + new.split("\n", 1)[1])
    write_cloudtrail(logs / "trail.json.gz", [record("DescribeVpcs", "ec2.amazonaws.com", time=T0),
                                              run_instances("i-0123456789abcdef0", "eni-06b7a305fe9519d03", "10.0.1.77", time=T0 + timedelta(minutes=4))])
    s = _scanner()
    report = s.scan([logs])
    assert report.events["flow"] == 4 and report.problems == []
    inst = s.inventory.instance(eni="eni-06b7a305fe9519d03")
    assert inst is not None and inst["instanceType"] == "t3.micro" and inst["imageId"] == "ami-029eb80bc237bec6f"
    assert s.inventory.instance(private_ip="10.0.1.77") is inst


def test_inventory_persisted_and_reloaded(tmp_path: Path) -> None:
    db = store_at(tmp_path, "x.db")
    inv_file = tmp_path / "describe.json"
    inv_file.write_text(json.dumps(describe_instances()))
    logs = tmp_path / "logs"
    write_cloudtrail(logs / "trail.json.gz", [
        run_instances("i-0123456789abcdef0", "eni-06b7a305fe9519d03", "10.0.1.77", time=T0),
        instance_role_call("i-0123456789abcdef0", "build-role", time=T0 + timedelta(minutes=1)),
    ])
    (logs / "flows.log").write_text(_flow_v3([("eni-0aaa000000000001", "i-0aaa000000000001")], T0))
    first = _scanner(db, inventory=[inv_file])
    first.scan([logs])
    first.store.close()

    stored = Store(db)
    assert stored.meta("inventory") is not None
    second = Scanner(stored, ScanSettings(), detectors=[])
    inv = second.inventory
    assert not inv.changed
    assert set(inv.instances) == {WEB, DB, OLD, "i-0123456789abcdef0", "i-0aaa000000000001"}
    assert inv.instance(private_ip="10.0.1.12")["instanceId"] == WEB
    assert inv.instance(eni="eni-0web000000000002")["instanceId"] == WEB
    assert inv.instance(private_ip="10.0.1.77")["launchTime"] == T0.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert inv.instance(eni="eni-0aaa000000000001")["instanceId"] == "i-0aaa000000000001"
    assert inv.role_sessions == {f"arn:aws:iam::{ACCOUNT}:role/build-role": ["i-0123456789abcdef0"]}
    assert inv.to_state() == first.inventory.to_state()
    # a scan with nothing new does not rewrite it; one that learns something adds to it
    second.scan([logs])
    assert json.loads(stored.meta("inventory")) == json.loads(msgspec.json.encode(first.inventory.to_state()))
    more = logs / "more" / "t2.json.gz"
    write_cloudtrail(more, [instance_role_call("i-0fff000000000000f", "build-role", time=T0 + timedelta(hours=1))])
    second.scan([more])
    stored.close()
    third = Scanner(Store(db), ScanSettings(), detectors=[])
    assert third.inventory.role_sessions[f"arn:aws:iam::{ACCOUNT}:role/build-role"] == ["i-0123456789abcdef0", "i-0fff000000000000f"]
    assert third.inventory.instance(private_ip="10.0.1.10")["instanceId"] == WEB


def test_invictus_launches_and_instance_credentials(shared_data: Path) -> None:
    """Real CloudTrail: Stratus launches instances and uses an instance role's credentials."""
    folder = shared_data / "invictus-aws-dataset" / "CloudTrail"
    launched: dict[str, dict[str, Any]] = {}
    sessions: dict[str, set[str]] = {}
    for f in folder.iterdir():
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
            if r["eventName"] == "RunInstances" and not r.get("errorCode") and r.get("responseElements"):
                for item in r["responseElements"]["instancesSet"]["items"]:
                    launched[item["instanceId"]] = item
            ui = r["userIdentity"]
            if ui.get("type") == "AssumedRole" and ":i-" in (ui.get("principalId") or ""):
                sessions.setdefault(ui["sessionContext"]["sessionIssuer"]["arn"], set()).add(ui["principalId"].split(":")[1])
    assert "i-05c30218156bcc246" in launched
    s = _scanner()
    s.scan([folder])
    inv = s.inventory
    assert set(inv.instances) == set(launched)
    inst = inv.instance(eni="eni-06b7a305fe9519d03")
    assert inst is not None and inst["instanceId"] == "i-05c30218156bcc246"
    assert inv.instance(private_ip="10.0.1.10") is inst and inst["instanceType"] == "t3.micro"
    assert inst["launchTime"] == "2023-07-10T12:03:24.000Z"
    assert {role: set(ids) for role, ids in inv.role_sessions.items()} == sessions
    assert "i-0dbc91f429e48eeed" in inv.role_sessions[
        "arn:aws:iam::123837392027:role/stratus-red-team-ec2-steal-credentials-role"]


def test_merging_what_another_process_learned() -> None:
    """A Spark partition's inventory into the driver's: richer details win whichever side has them,
    interfaces and role sessions are added once, and merging what is known already changes nothing."""
    rich = {"instanceId": WEB, "instanceType": "m5.large", "networkInterfaces": [{"networkInterfaceId": "eni-0web", "privateIpAddress": "10.0.1.5"}],
            "tags": [{"key": "Name", "value": "web"}]}
    stub = {"instanceId": WEB, "networkInterfaces": [{"networkInterfaceId": "eni-0web"}], "tags": []}
    other = {"instanceId": DB, "networkInterfaces": [{"networkInterfaceId": "eni-0db"}], "tags": []}
    driver = Inventory.from_state({"instances": {WEB: stub}, "by_eni": {"eni-0web": WEB}, "role_sessions": {"arn:role/web": [WEB]}})
    driver.merge({"instances": {WEB: rich, DB: other}, "by_eni": {"eni-0web": WEB, "eni-0db": DB, "eni-0extra": DB},
                  "role_sessions": {"arn:role/web": [WEB, OLD], "arn:role/db": [DB]}})
    assert driver.changed
    assert driver.instance(WEB)["instanceType"] == "m5.large" and driver.instance(private_ip="10.0.1.5")["instanceId"] == WEB
    assert driver.instance(eni="eni-0extra")["instanceId"] == DB
    assert driver.role_sessions == {"arn:role/web": [WEB, OLD], "arn:role/db": [DB]}
    driver.changed = False
    driver.merge({"instances": {WEB: stub}, "by_eni": {"eni-0web": WEB}, "role_sessions": {"arn:role/web": [OLD]}})  # a partition that saw only flows
    assert driver.instance(WEB)["instanceType"] == "m5.large"  # a stub never replaces what describe-instances said
    assert not driver.changed
