"""IPSets and ThreatIntelSets through a live ``serve`` and an unmodified boto3 client, on SQLite and
PostgreSQL: the lifecycle and quotas, every list format, locations on disk and in a real S3-compatible
server (moto's, over HTTP), hostile locations, other accounts' ids, and scans that use the ACTIVE sets."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from api_server import live_server
from botocore.exceptions import ClientError
from conftest import write_cloudtrail

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.simulator.records import ATTACKER_IP, TRUSTED_IP, iam_user, record
from trailhound.store import tables as t
from trailhound.store.database import Store

ADMIN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
T0 = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def lists_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "lists"
    d.mkdir()
    monkeypatch.setenv("TRAILHOUND_LISTS_DIR", str(d))
    return d


@pytest.fixture
def api(store_url: str, lists_dir: Path):
    with live_server(store_url) as live:
        yield live


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """A bucket in the S3-compatible server, which the service reads through TRAILHOUND_S3_ENDPOINT and the usual credential chain."""
    for k, v in {"TRAILHOUND_S3_ENDPOINT": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    name = f"lists-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name)
    return s3, name


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response["Error"]["Code"]


def _txt(d: Path, name: str, body: str) -> Path:
    p = d / name
    p.write_text(body)
    return p


def test_lifecycle_quotas_and_paging(api, lists_dir: Path) -> None:
    gd = api.client(ADMIN, admin=True)
    det = gd.create_detector(Enable=True)["DetectorId"]
    trusted = _txt(lists_dir, "office.txt", f"{TRUSTED_IP}\n")
    ip_set = gd.create_ip_set(DetectorId=det, Name="office", Format="TXT", Location=str(trusted), Activate=True, Tags={"team": "sec"})["IpSetId"]
    got = gd.get_ip_set(DetectorId=det, IpSetId=ip_set)
    assert (got["Name"], got["Format"], got["Location"], got["Status"], got["Tags"]) == ("office", "TXT", str(trusted), "ACTIVE", {"team": "sec"})
    with pytest.raises(ClientError) as exc:  # one IPSet per detector
        gd.create_ip_set(DetectorId=det, Name="second", Format="TXT", Location=str(trusted), Activate=False)
    assert _code(exc) == (400, "BadRequestException")

    gd.update_ip_set(DetectorId=det, IpSetId=ip_set, Activate=False, Name="office-v2")
    got = gd.get_ip_set(DetectorId=det, IpSetId=ip_set)
    assert (got["Name"], got["Status"]) == ("office-v2", "INACTIVE")
    gd.update_ip_set(DetectorId=det, IpSetId=ip_set, Activate=True)
    assert gd.get_ip_set(DetectorId=det, IpSetId=ip_set)["Status"] == "ACTIVE"

    threat = _txt(lists_dir, "bad.txt", f"{ATTACKER_IP}\n")
    ids = [gd.create_threat_intel_set(DetectorId=det, Name=f"t{i}", Format="TXT", Location=f"file://{threat}", Activate=i % 2 == 0)["ThreatIntelSetId"]
           for i in range(6)]
    with pytest.raises(ClientError) as exc:  # six ThreatIntelSets per detector
        gd.create_threat_intel_set(DetectorId=det, Name="t7", Format="TXT", Location=str(threat), Activate=False)
    assert _code(exc) == (400, "BadRequestException")
    pages = list(gd.get_paginator("list_threat_intel_sets").paginate(DetectorId=det, PaginationConfig={"PageSize": 4}))
    assert [len(p["ThreatIntelSetIds"]) for p in pages] == [4, 2]
    assert sorted(i for p in pages for i in p["ThreatIntelSetIds"]) == sorted(ids)
    assert [gd.get_threat_intel_set(DetectorId=det, ThreatIntelSetId=i)["Status"] for i in ids] == ["ACTIVE", "INACTIVE"] * 3
    assert gd.list_ip_sets(DetectorId=det)["IpSetIds"] == [ip_set]

    gd.delete_threat_intel_set(DetectorId=det, ThreatIntelSetId=ids[0])
    with pytest.raises(ClientError) as exc:
        gd.get_threat_intel_set(DetectorId=det, ThreatIntelSetId=ids[0])
    assert _code(exc) == (404, "ResourceNotFoundException")
    gd.create_threat_intel_set(DetectorId=det, Name="t7", Format="TXT", Location=str(threat), Activate=True)  # room again


FORMATS = {
    "TXT": f"# ours\n{ATTACKER_IP}\n198.51.100.0/24\n",
    "STIX": json.dumps({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "id": "indicator--1", "name": "c2", "pattern_type": "stix", "pattern": f"[ipv4-addr:value = '{ATTACKER_IP}']"}]}),
    "OTX_CSV": f"Indicator type,Indicator,Description\nIPv4,{ATTACKER_IP},scanner\n",
    "ALIEN_VAULT": f"{ATTACKER_IP}#4#2#Malicious Host#SE##0,0#11\n",
    "PROOF_POINT": f"ip,category,score\n{ATTACKER_IP},1,100\n",
    "FIRE_EYE": f"title,ip,malwarefamily\nbad,{ATTACKER_IP},TrickBot\n",
}


def test_every_format_activates_and_a_bad_file_is_error(api, lists_dir: Path) -> None:
    gd = api.client(ADMIN, admin=True)
    det = gd.create_detector(Enable=True)["DetectorId"]
    for fmt, body in FORMATS.items():
        path = _txt(lists_dir, f"{fmt.lower()}.dat", body)
        set_id = gd.create_threat_intel_set(DetectorId=det, Name=fmt, Format=fmt, Location=str(path), Activate=True)["ThreatIntelSetId"]
        assert gd.get_threat_intel_set(DetectorId=det, ThreatIntelSetId=set_id)["Status"] == "ACTIVE", fmt
    # read, but not a list of the format it is declared as: ERROR, with the reason kept beside it
    junk = _txt(lists_dir, "junk.json", "this is not JSON at all\n")
    ip_set = gd.create_ip_set(DetectorId=det, Name="junk", Format="STIX", Location=str(junk), Activate=True)["IpSetId"]
    assert gd.get_ip_set(DetectorId=det, IpSetId=ip_set)["Status"] == "ERROR"
    conn = api.store.connect()
    assert conn.execute(t.intel_sets.select().where(t.intel_sets.c.id == ip_set)).mappings().one()["error"]
    with pytest.raises(Exception):  # boto3 refuses a format the model does not have, before sending
        gd.create_ip_set(DetectorId=det, Name="x", Format="CSV", Location=str(junk), Activate=True)


def test_s3_locations_on_a_real_s3_compatible_server(api, bucket) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="feeds/bad.txt", Body=f"{ATTACKER_IP}\n".encode())
    s3.put_object(Bucket=name, Key="feeds/bad.txt.gz", Body=gzip.compress(f"{ATTACKER_IP}\n198.51.100.7\n".encode()))
    gd = api.client(ADMIN, admin=True)
    det = gd.create_detector(Enable=True)["DetectorId"]
    for location in (f"s3://{name}/feeds/bad.txt", f"https://s3.amazonaws.com/{name}/feeds/bad.txt",
                     f"https://{name}.s3.us-east-1.amazonaws.com/feeds/bad.txt.gz"):
        set_id = gd.create_threat_intel_set(DetectorId=det, Name="s3", Format="TXT", Location=location, Activate=True)["ThreatIntelSetId"]
        assert gd.get_threat_intel_set(DetectorId=det, ThreatIntelSetId=set_id)["Status"] == "ACTIVE", location
    with pytest.raises(ClientError) as exc:  # a missing object is refused at once, and nothing is kept
        gd.create_ip_set(DetectorId=det, Name="gone", Format="TXT", Location=f"s3://{name}/feeds/none.txt", Activate=True)
    assert _code(exc) == (400, "BadRequestException") and "NoSuchKey" in exc.value.response["Error"]["Message"]
    s3.put_object(Bucket=name, Key="huge.txt", Body=b"1.2.3.4\n" * (36 * 1024 * 1024 // 8))  # over GuardDuty's 35 MB
    with pytest.raises(ClientError) as exc:
        gd.create_ip_set(DetectorId=det, Name="huge", Format="TXT", Location=f"s3://{name}/huge.txt", Activate=True)
    assert _code(exc) == (400, "BadRequestException") and "over the limit" in exc.value.response["Error"]["Message"]
    assert gd.list_ip_sets(DetectorId=det)["IpSetIds"] == []


def test_hostile_locations_are_refused_cleanly(api, lists_dir: Path, tmp_path: Path) -> None:
    gd = api.client(ADMIN, admin=True)
    det = gd.create_detector(Enable=True)["DetectorId"]
    secret = tmp_path / "outside.txt"
    secret.write_text(f"{ATTACKER_IP}\n")
    (lists_dir / "link.txt").symlink_to(secret)
    os.mkfifo(lists_dir / "fifo.txt")
    with open(lists_dir / "sparse.txt", "wb") as f:  # 36 MB on paper: refused by its size, never read
        f.truncate(36 * 1024 * 1024)
    (lists_dir / "bomb.txt.gz").write_bytes(gzip.compress(b"\n" * (150 * 1024 * 1024), compresslevel=1))
    hostile = ["../outside.txt", str(secret), f"file://{secret}", "/etc/passwd", "../../../../../../etc/passwd", "link.txt",
               f"file://localhost{lists_dir}/../outside.txt", "file://evil.example/x.txt", "http://169.254.169.254/latest/meta-data/",
               "https://example.com/list.txt", "ftp://s3.amazonaws.com/b/k", "s3://", "s3://bucket", "fifo.txt", "sparse.txt",
               "bomb.txt.gz", str(lists_dir), "ok.txt\x00.png"]
    for location in hostile:
        with pytest.raises(ClientError) as exc:
            gd.create_threat_intel_set(DetectorId=det, Name="h", Format="TXT", Location=location, Activate=True)
        assert _code(exc) == (400, "BadRequestException"), location
        assert str(secret) not in exc.value.response["Error"]["Message"] or location.endswith("outside.txt")
    # refused even when not activated: a location is judged before it is kept
    with pytest.raises(ClientError) as exc:
        gd.create_ip_set(DetectorId=det, Name="h", Format="TXT", Location="/etc/shadow", Activate=False)
    assert _code(exc) == (400, "BadRequestException")
    assert gd.list_threat_intel_sets(DetectorId=det)["ThreatIntelSetIds"] == []


def test_accounts_only_reach_their_own_lists(api, lists_dir: Path) -> None:
    admin, member, other = api.client(ADMIN, admin=True), api.client(MEMBER), api.client(OTHER)
    det = admin.create_detector(Enable=True)["DetectorId"]
    mdet, odet = member.create_detector(Enable=True)["DetectorId"], other.create_detector(Enable=True)["DetectorId"]
    admin.create_members(DetectorId=det, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    path = _txt(lists_dir, "bad.txt", f"{ATTACKER_IP}\n")
    set_id = admin.create_threat_intel_set(DetectorId=det, Name="bad", Format="TXT", Location=str(path), Activate=True)["ThreatIntelSetId"]
    with pytest.raises(ClientError) as exc:  # only the administrator manages lists
        member.create_threat_intel_set(DetectorId=mdet, Name="mine", Format="TXT", Location=str(path), Activate=True)
    assert _code(exc) == (400, "BadRequestException")
    for call in (lambda: other.get_threat_intel_set(DetectorId=odet, ThreatIntelSetId=set_id),
                 lambda: other.update_threat_intel_set(DetectorId=odet, ThreatIntelSetId=set_id, Activate=False),
                 lambda: other.delete_threat_intel_set(DetectorId=odet, ThreatIntelSetId=set_id)):
        with pytest.raises(ClientError) as exc:  # another account's id is as unknown as a made-up one
            call()
        assert _code(exc) == (404, "ResourceNotFoundException")
    for call in (lambda: other.get_threat_intel_set(DetectorId=det, ThreatIntelSetId=set_id),
                 lambda: other.list_threat_intel_sets(DetectorId=det),
                 lambda: other.delete_threat_intel_set(DetectorId=det, ThreatIntelSetId=set_id)):
        with pytest.raises(ClientError) as exc:  # another account's detector
            call()
        assert _code(exc) == (400, "BadRequestException")
    assert admin.get_threat_intel_set(DetectorId=det, ThreatIntelSetId=set_id)["Status"] == "ACTIVE"


def _calls(tmp_path: Path, name: str, account: str, ip: str) -> Path:
    rec = record("ListAccessKeys", "iam.amazonaws.com", time=T0, account=account, identity=iam_user(account, name), ip=ip)
    return write_cloudtrail(tmp_path / name / "trail.json.gz", [rec])


OTHER_BAD = "89.160.20.120"


def test_scans_use_active_sets_in_their_accounts_only(api, lists_dir: Path, bucket, tmp_path: Path) -> None:
    s3, name = bucket
    admin, other = api.client(ADMIN, admin=True), api.client(OTHER)
    det, odet = admin.create_detector(Enable=True)["DetectorId"], other.create_detector(Enable=True)["DetectorId"]
    admin.create_members(DetectorId=det, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    s3.put_object(Bucket=name, Key="threats.txt", Body=f"{ATTACKER_IP}\n{TRUSTED_IP}\n".encode())
    admin.create_threat_intel_set(DetectorId=det, Name="corp-threats", Format="TXT", Location=f"s3://{name}/threats.txt", Activate=True)
    admin.create_ip_set(DetectorId=det, Name="office", Format="TXT", Location=str(_txt(lists_dir, "office.txt", f"{TRUSTED_IP}\n")), Activate=True)
    others = _txt(lists_dir, "o.txt", f"{ATTACKER_IP}\n{TRUSTED_IP}\n{OTHER_BAD}\n")
    other.create_threat_intel_set(DetectorId=odet, Name="others", Format="TXT", Location=str(others), Activate=True)
    other.create_ip_set(DetectorId=odet, Name="off", Format="TXT", Location=str(_txt(lists_dir, "off.txt", f"{ATTACKER_IP}\n")), Activate=False)

    logs = [_calls(tmp_path, "a1", ADMIN, ATTACKER_IP), _calls(tmp_path, "m1", MEMBER, ATTACKER_IP), _calls(tmp_path, "o1", OTHER, ATTACKER_IP),
            _calls(tmp_path, "a2", ADMIN, TRUSTED_IP), _calls(tmp_path, "o2", OTHER, TRUSTED_IP), _calls(tmp_path, "a3", ADMIN, OTHER_BAD)]
    store = Store(api.url)
    try:
        report = Scanner(store, ScanSettings(builtin_intel=False)).scan(logs)
        findings = [(f["accountId"], f["resource"]["accessKeyDetails"]["userName"], f["type"], json.loads(f["service"]["additionalInfo"]["value"]).get("threatListName"),
                     sorted(d["threatListName"] for d in f["service"]["evidence"]["threatIntelligenceDetails"])) for f in store.findings()]
    finally:
        store.close()
    custom = "Recon:IAMUser/MaliciousIPCaller.Custom"
    assert sorted(findings) == sorted([
        (ADMIN, "a1", custom, "corp-threats", ["corp-threats"]),  # the admin's list for its own account ("others" taken back)
        (MEMBER, "m1", custom, "corp-threats", ["corp-threats"]),  # and for its member's
        (OTHER, "o1", custom, "others", ["others"]),  # the other account's list for its own account only
        (OTHER, "o2", custom, "others", ["others"]),  # the admin's trusted list does not silence another account
    ])  # a2: trusted for ADMIN; a3: only on OTHER's list; the inactive set is not used
    used = "\n".join(report.stored_lists)
    assert "'corp-threats'" in used and "'office'" in used and "'others'" in used and "'off'" not in used
    assert f"s3://{name}/threats.txt" in used
