"""The synthetic estate: S3 layout, formats, cross-source consistency, determinism, benign content."""

from __future__ import annotations

import gzip
import ipaddress
import json
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from trailhound.simulator import (
    FLOW_HEADER_V2,
    FLOW_HEADER_V5,
    FORBIDDEN_EVENT_NAMES,
    EstateFiles,
    EstateSpec,
    instances_inventory,
    write_estate,
)

SPEC = EstateSpec(cloudtrail_events=3000, flow_lines=5000, dns_lines=2000, days=1, events_per_file=500)
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CT_NAME = re.compile(r"^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/\1_CloudTrail_\2_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$")
FLOW_NAME = re.compile(r"^AWSLogs/(\d{12})/vpcflowlogs/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/\1_vpcflowlogs_\2_fl-[0-9a-f]{17}_(\d{8}T\d{4}Z)_[0-9a-f]{8}\.log\.gz$")
DNS_NAME = re.compile(r"^AWSLogs/(\d{12})/vpcdnsquerylogs/(vpc-[0-9a-f]{17})/(\d{4})/(\d{2})/(\d{2})/\1_vpcdnsquerylogs_\2_(\d{8}T\d{4}Z)_[0-9a-f]{8}\.log\.gz$")
DNS_KEYS = ["version", "account_id", "region", "vpc_id", "query_timestamp", "query_name", "query_type", "query_class", "rcode",
            "answers", "srcaddr", "srcport", "transport", "srcids"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> EstateFiles:
    return write_estate(tmp_path_factory.mktemp("estate"), SPEC)


def _rel(files: EstateFiles, p: Path) -> str:
    return p.relative_to(files.root).as_posix()


def _records(files: EstateFiles) -> list[tuple[Path, list[dict]]]:
    return [(p, json.loads(gzip.decompress(p.read_bytes()))["Records"]) for p in files.cloudtrail]


def _flow(files: EstateFiles) -> list[tuple[Path, list[str], list[list[str]]]]:
    out = []
    for p in files.flow:
        header, *lines = gzip.decompress(p.read_bytes()).decode().splitlines()
        out.append((p, header.split(" "), [line.split(" ") for line in lines]))
    return out


def _dns(files: EstateFiles) -> list[dict]:
    return [json.loads(line) for p in files.dns for line in gzip.decompress(p.read_bytes()).splitlines()]


def _inventory(files: EstateFiles) -> list[dict]:
    doc = json.loads(files.inventory.read_text())
    return [i for r in doc["Reservations"] for i in r["Instances"]]


def _file_time(m: re.Match) -> datetime:
    return datetime.strptime(m.group(6), "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)


def test_layout_matches_aws_delivery(estate: EstateFiles) -> None:
    assert estate.cloudtrail and estate.flow and estate.dns
    span = (SPEC.start, SPEC.start + timedelta(days=SPEC.days))
    for paths, pattern in ((estate.cloudtrail, CT_NAME), (estate.flow, FLOW_NAME), (estate.dns, DNS_NAME)):
        for p in paths:
            m = pattern.match(_rel(estate, p))
            assert m, _rel(estate, p)
            assert m.group(1) in SPEC.account_ids
            t = _file_time(m)
            assert span[0] <= t < span[1]
            assert (m.group(3), m.group(4), m.group(5)) == (f"{t:%Y}", f"{t:%m}", f"{t:%d}")
            gzip.decompress(p.read_bytes())  # every file is a complete gzip stream
    assert estate.inventory == estate.root / "inventory" / "describe-instances.json"


def test_cloudtrail_records(estate: EstateFiles) -> None:
    files = _records(estate)
    records = [r for _, rs in files for r in rs]
    assert len(records) == estate.cloudtrail_events == SPEC.cloudtrail_events
    raw = sum(len(gzip.decompress(p.read_bytes())) for p in estate.cloudtrail)
    assert raw == estate.raw_bytes["cloudtrail"]
    assert 900 <= raw / len(records) <= 1700

    for path, recs in files:
        account = CT_NAME.match(_rel(estate, path)).group(1)
        times = [datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) for r in recs]
        assert max(times) - min(times) < timedelta(minutes=5)  # one delivery window per file
        assert times != sorted(times)  # deliveries are not sorted
        assert _file_time(CT_NAME.match(_rel(estate, path))) - max(times) < timedelta(minutes=6)
        for r in recs:
            assert r["eventVersion"] == "1.08"
            assert r["recipientAccountId"] == r["userIdentity"].get("accountId", account) == account
            assert r["eventType"] == "AwsApiCall"
            assert UUID4.match(r["eventID"])
            assert r["requestID"]
            assert isinstance(r["readOnly"], bool)
            assert "requestParameters" in r and "responseElements" in r

    ids = Counter(r["eventID"] for r in records)
    assert ids.most_common(1)[0][1] == 1

    data = [r for r in records if r["eventCategory"] == "Data"]
    assert 0.05 < len(data) / len(records) < 0.15
    for r in data:
        assert r["managementEvent"] is False and r["eventSource"] == "s3.amazonaws.com"
        assert r["eventName"] in ("GetObject", "PutObject", "ListObjects")
        assert {"bucketName", "Host"} <= r["requestParameters"].keys()
        assert {x["type"] for x in r["resources"]} <= {"AWS::S3::Object", "AWS::S3::Bucket"}
        if r["eventName"] != "ListObjects":
            assert r["resources"][0]["ARN"] == f"arn:aws:s3:::{r['requestParameters']['bucketName']}/{r['requestParameters']['key']}"
    assert all(r["managementEvent"] is True for r in records if r["eventCategory"] == "Management")

    errors = [r for r in records if "errorCode" in r]
    assert 0.01 < len(errors) / len(records) < 0.06
    assert all(r["errorMessage"] for r in errors)
    assert Counter(r["errorCode"] for r in errors).most_common(1)[0][0] == "AccessDenied"

    names = Counter(r["eventName"] for r in records)
    assert sum(v for k, v in names.items() if k.startswith(("Describe", "List", "Get"))) > len(records) / 2


def test_identities(estate: EstateFiles) -> None:
    records = [r for _, rs in _records(estate) for r in rs]
    inventory = {i["InstanceId"]: i for i in _inventory(estate)}
    types = Counter(r["userIdentity"]["type"] for r in records)
    assert {"IAMUser", "AssumedRole"} <= types.keys()

    instance_sessions = 0
    for r in records:
        ident = r["userIdentity"]
        if ident["type"] == "IAMUser":
            assert ident["principalId"].startswith("AIDA") and ident["accessKeyId"][:4] in ("AKIA", "ASIA")
            assert ident["arn"] == f"arn:aws:iam::{ident['accountId']}:user/{ident['userName']}"
        elif ident["type"] == "AssumedRole":
            issuer = ident["sessionContext"]["sessionIssuer"]
            assert issuer["type"] == "Role" and issuer["principalId"].startswith("AROA")
            assert ident["principalId"].startswith(issuer["principalId"] + ":")
            assert ident["sessionContext"]["attributes"]["creationDate"] <= r["eventTime"]
            session = ident["principalId"].split(":", 1)[1]
            if session.startswith("i-"):
                instance_sessions += 1
                assert re.fullmatch(r"i-[0-9a-f]{17}", session) and session in inventory
                assert ident["arn"] == f"arn:aws:sts::{ident['accountId']}:assumed-role/{issuer['userName']}/{session}"
                assert ident["sessionContext"]["ec2RoleDelivery"] == "2.0"
                # instance credentials are used from the instance itself
                assert r["sourceIPAddress"] == inventory[session]["PublicIpAddress"]
                assert issuer["userName"] in inventory[session]["IamInstanceProfile"]["Arn"].replace("-instance-profile", "-instance-role")
    assert instance_sessions > len(records) / 4


def test_run_instances(estate: EstateFiles) -> None:
    runs = [r for _, rs in _records(estate) for r in rs if r["eventName"] == "RunInstances"]
    assert runs
    for r in runs:
        item = r["responseElements"]["instancesSet"]["items"][0]
        assert re.fullmatch(r"i-[0-9a-f]{17}", item["instanceId"]) and item["imageId"].startswith("ami-")
        assert item["instanceType"] and item["placement"]["availabilityZone"].startswith(SPEC.region)
        assert abs(item["launchTime"] / 1000 - datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()) < 60
        assert {"arn", "id"} <= item["iamInstanceProfile"].keys()
        eni = item["networkInterfaceSet"]["items"][0]
        assert {"networkInterfaceId", "privateIpAddress", "subnetId", "vpcId"} <= eni.keys()
        assert eni["groupSet"]["items"][0]["groupId"].startswith("sg-")
        assert any(t["key"] == "Name" for t in item["tagSet"]["items"])


def test_background_is_benign(estate: EstateFiles) -> None:
    records = [r for _, rs in _records(estate) for r in rs]
    assert not {r["eventName"] for r in records} & FORBIDDEN_EVENT_NAMES
    assert all(r["userIdentity"]["type"] != "Root" for r in records)
    for r in records:
        ua = r["userAgent"].lower()
        assert "kali" not in ua and "parrot" not in ua and "pentoo" not in ua
    assert not any("guardduty" in q["query_name"] for q in _dns(estate))
    for p in estate.cloudtrail + estate.flow + estate.dns:
        assert b"guardduty" not in gzip.decompress(p.read_bytes()).lower()


def test_flow_logs(estate: EstateFiles) -> None:
    inventory = _inventory(estate)
    enis = {i["NetworkInterfaces"][0]["NetworkInterfaceId"]: i for i in inventory}
    headers = Counter()
    total = nodata = 0
    for path, header, rows in _flow(estate):
        m = FLOW_NAME.match(_rel(estate, path))
        assert " ".join(header) in (FLOW_HEADER_V2, FLOW_HEADER_V5)
        headers[" ".join(header)] += 1
        col = {name: k for k, name in enumerate(header)}
        end_of_window = _file_time(m).timestamp()
        starts = []
        for row in rows:
            assert len(row) == len(header)
            total += 1
            inst = enis[row[col["interface-id"]]]
            assert row[col["account-id"]] == m.group(1)
            if "instance-id" in col:
                assert row[col["instance-id"]] == inst["InstanceId"] and row[col["vpc-id"]] == inst["VpcId"]
                assert row[col["subnet-id"]] == inst["SubnetId"]
            start, end = int(row[col["start"]]), int(row[col["end"]])
            assert end_of_window - 600 <= start <= end < end_of_window
            starts.append(start)
            if row[col["log-status"]] == "NODATA":
                nodata += 1
                continue
            assert row[col["log-status"]] == "OK"
            assert row[col["action"]] in ("ACCEPT", "REJECT")
            ip = inst["PrivateIpAddress"]
            assert ip in (row[col["srcaddr"]], row[col["dstaddr"]])
            assert int(row[col["packets"]]) >= 1 and int(row[col["bytes"]]) >= 40 * int(row[col["packets"]])
            if row[col["action"]] == "REJECT":
                assert row[col["dstaddr"]] == ip and row[col["dstport"]] in ("22", "3389", "23", "445")
                assert not ipaddress.ip_address(row[col["srcaddr"]]).is_private
            if "flow-direction" in col:
                direction = "egress" if row[col["srcaddr"]] == ip else "ingress"
                assert row[col["flow-direction"]] == direction
                assert (row[col["traffic-path"]] == "-") == (direction == "ingress")
                assert row[col["pkt-srcaddr"]] == row[col["srcaddr"]]
        assert starts == sorted(starts)
    assert headers[FLOW_HEADER_V2] and headers[FLOW_HEADER_V5]
    assert total == estate.flow_lines == SPEC.flow_lines
    assert 0.005 < nodata / total < 0.02


def test_flow_peers_are_stable(estate: EstateFiles) -> None:
    # each instance talks to a small, steady set of outbound destinations
    peers: dict[str, set[tuple[str, str]]] = {}
    for _, header, rows in _flow(estate):
        col = {name: k for k, name in enumerate(header)}
        for row in rows:
            if row[col["srcaddr"]].startswith("10.") and row[col["action"]] == "ACCEPT" and int(row[col["dstport"]]) < 10000:
                peers.setdefault(row[col["srcaddr"]], set()).add((row[col["dstaddr"]], row[col["dstport"]]))
    assert peers and max(len(v) for v in peers.values()) < 150


def test_dns_logs(estate: EstateFiles) -> None:
    inventory = _inventory(estate)
    by_ip = {i["PrivateIpAddress"]: i for i in inventory}
    lines = _dns(estate)
    assert len(lines) == estate.dns_lines == SPEC.dns_lines
    raw = sum(len(gzip.decompress(p.read_bytes())) for p in estate.dns)
    assert raw == estate.raw_bytes["dns"]
    for q in lines:
        assert list(q) == DNS_KEYS
        assert q["version"] == "1.100000" and q["region"] == SPEC.region and q["query_class"] == "IN"
        inst = by_ip[q["srcaddr"]]
        assert q["srcids"] == {"instance": inst["InstanceId"]}
        assert q["vpc_id"] == inst["VpcId"] and q["account_id"] in SPEC.account_ids
        assert q["query_name"].endswith(".") and q["srcport"].isdigit() and q["transport"] in ("UDP", "TCP")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", q["query_timestamp"])
        for a in q["answers"]:
            assert list(a) == ["Rdata", "Type", "Class"] and a["Class"] == "IN"
        if q["rcode"] == "NXDOMAIN":
            assert q["answers"] == []
    types = Counter(q["query_type"] for q in lines)
    rcodes = Counter(q["rcode"] for q in lines)
    assert types["A"] > types["AAAA"] > 0 and types["PTR"] > 0
    assert rcodes["NXDOMAIN"] > 0
    names = {q["query_name"] for q in lines}
    assert any(re.fullmatch(r"d[a-z0-9]{13}\.cloudfront\.net\.", n) for n in names)
    assert any(n.endswith(".amazonaws.com.") for n in names)


def test_inventory_shape(estate: EstateFiles) -> None:
    doc = json.loads(estate.inventory.read_text())
    assert doc == instances_inventory(SPEC)
    instances = _inventory(estate)
    assert len(instances) == SPEC.instances
    assert {r["OwnerId"] for r in doc["Reservations"]} <= set(SPEC.account_ids)
    for i in instances:
        assert re.fullmatch(r"i-[0-9a-f]{17}", i["InstanceId"]) and i["State"] == {"Code": 16, "Name": "running"}
        assert datetime.fromisoformat(i["LaunchTime"]) < SPEC.start
        assert re.fullmatch(r"10\.0\.\d+\.\d+", i["PrivateIpAddress"])
        assert not ipaddress.ip_address(i["PublicIpAddress"]).is_private
        assert i["Placement"]["AvailabilityZone"].startswith(SPEC.region)
        assert i["IamInstanceProfile"]["Arn"].startswith("arn:aws:iam::") and i["IamInstanceProfile"]["Id"].startswith("AIPA")
        assert any(t["Key"] == "Name" for t in i["Tags"])
        assert i.get("Platform", "windows") == "windows"  # the key exists only for Windows
        eni = i["NetworkInterfaces"][0]
        assert eni["PrivateIpAddress"] == i["PrivateIpAddress"] and eni["Association"]["PublicIp"] == i["PublicIpAddress"]
        assert eni["PrivateIpAddresses"][0]["Primary"] is True and eni["Ipv6Addresses"] == []
        assert eni["Groups"][0]["GroupId"].startswith("sg-")
    assert len({i["PrivateIpAddress"] for i in instances}) == len(instances)
    assert len({i["PublicIpAddress"] for i in instances}) == len(instances)
    assert any(i.get("Platform") == "windows" for i in instances)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic(tmp_path: Path) -> None:
    spec = EstateSpec(cloudtrail_events=1200, flow_lines=3000, dns_lines=1000, days=1, instances=6, users=4)
    a = write_estate(tmp_path / "a", spec)
    b = write_estate(tmp_path / "b", spec)
    c = write_estate(tmp_path / "c", EstateSpec(**{**spec.__dict__, "seed": spec.seed + 1}))
    assert _tree(a.root) == _tree(b.root)
    assert a.raw_bytes == b.raw_bytes
    tree_c = _tree(c.root)
    assert tree_c.keys() != _tree(a.root).keys()
    assert _tree(a.root)["inventory/describe-instances.json"] != tree_c["inventory/describe-instances.json"]


def test_small_and_odd_specs(tmp_path: Path) -> None:
    spec = EstateSpec(account_ids=("123456789012",), cloudtrail_events=7, flow_lines=3, dns_lines=1, days=1, instances=1, users=0)
    files = write_estate(tmp_path, spec)
    assert sum(len(rs) for _, rs in _records(files)) == 7
    assert sum(len(rows) for _, _, rows in _flow(files)) == files.flow_lines == 3
    assert len(_dns(files)) == 1
    empty = write_estate(tmp_path / "empty", EstateSpec(cloudtrail_events=0, flow_lines=0, dns_lines=0, days=1))
    assert (empty.cloudtrail, empty.flow, empty.dns) == ([], [], [])
    assert empty.inventory.exists()


def _threat_lists() -> tuple[set[int], list[tuple[int, int]]]:
    """Listed single addresses, and listed networks as (first, last)."""
    singles: set[int] = set()
    nets: list[tuple[int, int]] = []
    for f in [SHARED / "firehol-ipsets" / "firehol_level1.netset.gz", SHARED / "ipsum" / "ipsum.txt.gz",
              SHARED / "firehol-ipsets" / "blocklist_de_ssh.ipset.gz", SHARED / "firehol-ipsets" / "tor_exits_30d.ipset"]:
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt") as fh:
            for line in fh:
                tok = line.split("#", 1)[0].split()
                if tok:
                    net = ipaddress.ip_network(tok[0], strict=False)
                    # the level-1 list also blocks reserved space (10/8, 224/3, ...), which is not a threat hit
                    if net.version != 4 or net.is_private or net.is_multicast or net.is_reserved:
                        continue
                    if net.num_addresses == 1:
                        singles.add(int(net.network_address))
                    else:
                        nets.append((int(net.network_address), int(net.broadcast_address)))
    return singles, nets


@pytest.mark.skipif(not (SHARED / "ipsum").exists(), reason="shared threat lists not available")
def test_no_threat_list_addresses(estate: EstateFiles) -> None:
    ips: set[str] = set()
    for _, rs in _records(estate):
        ips.update(r["sourceIPAddress"] for r in rs if r["sourceIPAddress"][0].isdigit())
    for _, header, rows in _flow(estate):
        col = {name: k for k, name in enumerate(header)}
        for row in rows:
            ips.update(row[col[c]] for c in ("srcaddr", "dstaddr") if row[col[c]] != "-")
    for q in _dns(estate):
        ips.update(a["Rdata"] for a in q["answers"] if a["Type"] == "A")
    public = sorted(int(ipaddress.ip_address(ip)) for ip in ips if ipaddress.ip_address(ip).is_global)
    assert len(public) > 100
    singles, nets = _threat_lists()
    hits = [str(ipaddress.ip_address(x)) for x in public if x in singles or any(lo <= x <= hi for lo, hi in nets)]
    assert hits == []


def test_aws_delivery_writes_a_file_per_stream_per_window(tmp_path: Path) -> None:
    """AWS's shape: many small files, one per stream per delivery window, and the same records as
    the large-file layout of the same spec."""
    spec = EstateSpec(account_ids=("123456789012",), cloudtrail_events=4000, flow_lines=6000, dns_lines=3000, days=1, instances=3,
                      users=2, delivery="aws")
    aws = write_estate(tmp_path / "aws", spec)
    large = write_estate(tmp_path / "large", EstateSpec(**{**spec.__dict__, "delivery": "large"}))
    assert len(large.cloudtrail) == 2 and len(aws.cloudtrail) == 86400 // 300  # one account and region: a file per 5 minutes
    assert len(aws.flow) > 10 * len(large.flow) and len(aws.dns) > 10 * len(large.dns)
    assert sum(len(rs) for _, rs in _records(aws)) == sum(len(rs) for _, rs in _records(large)) == 4000
    assert sum(len(rows) for _, _, rows in _flow(aws)) == aws.flow_lines == large.flow_lines
    assert len(_dns(aws)) == len(_dns(large))
    for p in aws.cloudtrail:
        assert CT_NAME.match(_rel(aws, p))
    stamps = Counter(CT_NAME.match(_rel(aws, p)).group(6) for p in aws.cloudtrail)  # type: ignore[union-attr]
    assert max(stamps.values()) == 1  # a single file per window
