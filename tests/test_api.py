"""GuardDuty's API through a live ``serve`` and an unmodified boto3 client, on SQLite and PostgreSQL:
detectors, findings (criteria, sorting, pagination, statistics, archive, feedback, samples), filters
that suppress in the API and in scans, members and account isolation, and hostile requests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from api_server import live_server
from botocore.exceptions import ClientError, ParamValidationError
from conftest import write_cloudtrail

from trailhound.findings.model import Finding, decode, encode
from trailhound.findings.samples import sample_findings
from trailhound.pipeline import Scanner
from trailhound.store.database import Store, write_findings, transaction

ADMIN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
BASE = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def samples() -> list[Finding]:
    return sample_findings()


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def estate(samples: list[Finding], n: int = 240) -> list[Finding]:
    """n findings over three accounts and two regions, with varied types, severities and times."""
    out = []
    for i in range(n):
        f = decode(encode(samples[i % len(samples)]))
        f.account_id = (ADMIN, MEMBER, OTHER)[i % 3]
        f.region = ("us-east-1", "eu-west-1")[(i // 3) % 2]
        f.id = hashlib.blake2b(f"api-test-{i}".encode(), digest_size=16).hexdigest()
        f.severity = (2.0, 5.0, 8.0, 7.0, 3.0)[i % 5]
        f.updated_at = _stamp(BASE + timedelta(minutes=7 * i))
        f.created_at = _stamp(BASE)
        out.append(f)
    return out


@pytest.fixture
def api(store_url: str, samples: list[Finding]):
    with live_server(store_url) as live:
        live.findings = estate(samples)
        with transaction(live.store.connect()) as c:
            write_findings(c, live.findings)
        yield live


def _visible(live, accounts: set[str], region: str = "us-east-1") -> list[Finding]:
    return [f for f in live.findings if f.account_id in accounts and f.region == region]


def _error(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_detectors_one_per_account_and_region_and_private_to_it(api) -> None:
    gd = api.client(ADMIN)
    detector = gd.create_detector(Enable=True, FindingPublishingFrequency="FIFTEEN_MINUTES")["DetectorId"]
    assert len(detector) == 32
    got = gd.get_detector(DetectorId=detector)
    assert got["Status"] == "ENABLED" and got["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
    assert got["DataSources"]["CloudTrail"]["Status"] == "ENABLED"
    assert _error(lambda: gd.create_detector(Enable=True)) == ("BadRequestException", 400)
    gd.update_detector(DetectorId=detector, Enable=False)
    assert gd.get_detector(DetectorId=detector)["Status"] == "DISABLED"
    assert gd.list_detectors()["DetectorIds"] == [detector]
    # another account, and the same account in another region, do not see it
    other = api.client(OTHER)
    assert other.list_detectors()["DetectorIds"] == []
    assert _error(lambda: other.get_detector(DetectorId=detector))[0] == "BadRequestException"
    assert _error(lambda: other.delete_detector(DetectorId=detector))[0] == "BadRequestException"
    assert api.client(ADMIN, region="eu-west-1").list_detectors()["DetectorIds"] == []
    gd.delete_detector(DetectorId=detector)
    assert gd.list_detectors()["DetectorIds"] == []


def test_list_findings_criteria_sort_and_pages(api) -> None:
    gd = api.client(ADMIN)
    detector = gd.create_detector(Enable=True)["DetectorId"]
    cut = BASE + timedelta(minutes=7 * 60)
    criteria = {"Criterion": {"severity": {"GreaterThanOrEqual": 5}, "updatedAt": {"GreaterThan": int(cut.timestamp() * 1000)},
                              "type": {"NotEquals": ["Recon:EC2/Portscan"]}}}
    sort = {"AttributeName": "updatedAt", "OrderBy": "DESC"}
    pages = gd.get_paginator("list_findings").paginate(DetectorId=detector, FindingCriteria=criteria, SortCriteria=sort,
                                                        PaginationConfig={"PageSize": 7})
    got = [fid for page in pages for fid in page["FindingIds"]]
    expected = sorted((f for f in _visible(api, {ADMIN}) if f.severity >= 5 and f.updated_at > _stamp(cut) and f.type != "Recon:EC2/Portscan"),
                      key=lambda f: f.updated_at, reverse=True)
    assert got == [f.id for f in expected] and len(got) > 7
    # no criteria: all of the account's findings in the detector's region, and only those
    all_ids = {fid for page in gd.get_paginator("list_findings").paginate(DetectorId=detector) for fid in page["FindingIds"]}
    assert all_ids == {f.id for f in _visible(api, {ADMIN})}
    # a token from another query is refused, not misread
    first = gd.list_findings(DetectorId=detector, MaxResults=5)
    assert _error(lambda: gd.list_findings(DetectorId=detector, FindingCriteria=criteria, NextToken=first["NextToken"]))[0] == "BadRequestException"


def test_get_findings_and_statistics(api) -> None:
    gd = api.client(ADMIN)
    detector = gd.create_detector(Enable=True)["DetectorId"]
    mine = _visible(api, {ADMIN})[:50]
    foreign = [f for f in api.findings if f.account_id == OTHER][:3]
    got = gd.get_findings(DetectorId=detector, FindingIds=[f.id for f in mine] + [f.id for f in foreign])["Findings"]
    assert [f["Id"] for f in got] == [f.id for f in mine]  # another account's ids are not there, not an error
    assert {f["Service"]["DetectorId"] for f in got} == {detector}
    assert all(f["Arn"].endswith(f"detector/{detector}/finding/{f['Id']}") for f in got)
    stats = gd.get_findings_statistics(DetectorId=detector, FindingStatisticTypes=["COUNT_BY_SEVERITY"])["FindingStatistics"]
    assert stats["CountBySeverity"] == {f"{s:.1f}": n for s, n in Counter(f.severity for f in _visible(api, {ADMIN})).items()}
    by_type = gd.get_findings_statistics(DetectorId=detector, GroupBy="FINDING_TYPE", OrderBy="DESC", MaxResults=100)["FindingStatistics"]
    assert {g["FindingType"]: g["TotalFindings"] for g in by_type["GroupedByFindingType"]} == Counter(f.type for f in _visible(api, {ADMIN}))
    high = gd.get_findings_statistics(DetectorId=detector, FindingStatisticTypes=["COUNT_BY_SEVERITY"],
                                      FindingCriteria={"Criterion": {"severity": {"Equals": ["7", "8"]}}})["FindingStatistics"]
    assert set(high["CountBySeverity"]) == {"7.0", "8.0"}


def test_archive_feedback_and_members_cannot_archive(api) -> None:
    admin = api.client(ADMIN, admin=True)
    detector = admin.create_detector(Enable=True)["DetectorId"]
    ids = [f.id for f in _visible(api, {ADMIN})[:4]]
    admin.archive_findings(DetectorId=detector, FindingIds=ids[:3])
    archived = admin.list_findings(DetectorId=detector, FindingCriteria={"Criterion": {"service.archived": {"Eq": ["true"]}}})["FindingIds"]
    assert sorted(archived) == sorted(ids[:3])
    admin.unarchive_findings(DetectorId=detector, FindingIds=ids[:1])
    got = {f["Id"]: f["Service"]["Archived"] for f in admin.get_findings(DetectorId=detector, FindingIds=ids)["Findings"]}
    assert got == {ids[0]: False, ids[1]: True, ids[2]: True, ids[3]: False}
    admin.update_findings_feedback(DetectorId=detector, FindingIds=ids[3:], Feedback="NOT_USEFUL")
    assert admin.get_findings(DetectorId=detector, FindingIds=ids[3:])["Findings"][0]["Service"]["UserFeedback"] == "NOT_USEFUL"
    # a member's findings are archived by its administrator only
    member = api.client(MEMBER)
    member_detector = member.create_detector(Enable=True)["DetectorId"]
    admin.create_members(DetectorId=detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    own = [f.id for f in _visible(api, {MEMBER})[:2]]
    assert _error(lambda: member.archive_findings(DetectorId=member_detector, FindingIds=own))[0] == "BadRequestException"
    admin.archive_findings(DetectorId=detector, FindingIds=own)
    assert all(f["Service"]["Archived"] for f in member.get_findings(DetectorId=member_detector, FindingIds=own)["Findings"])


def test_members_see_their_own_and_the_administrator_sees_theirs(api) -> None:
    admin = api.client(ADMIN, admin=True)
    detector = admin.create_detector(Enable=True)["DetectorId"]
    member = api.client(MEMBER)
    member_detector = member.create_detector(Enable=True)["DetectorId"]
    plain = api.client(OTHER)
    plain_detector = plain.create_detector(Enable=True)["DetectorId"]

    def listed(client, det) -> set[str]:
        return {fid for page in client.get_paginator("list_findings").paginate(DetectorId=det) for fid in page["FindingIds"]}

    assert listed(admin, detector) == {f.id for f in _visible(api, {ADMIN})}
    out = admin.create_members(DetectorId=detector, AccountDetails=[
        {"AccountId": MEMBER, "Email": "m@example.com"}, {"AccountId": "12345678901a", "Email": "x@example.com"},
        {"AccountId": ADMIN, "Email": "self@example.com"}])
    assert {u["AccountId"] for u in out["UnprocessedAccounts"]} == {"12345678901a", ADMIN}
    assert listed(admin, detector) == {f.id for f in _visible(api, {ADMIN, MEMBER})}
    assert listed(member, member_detector) == {f.id for f in _visible(api, {MEMBER})}
    assert listed(plain, plain_detector) == {f.id for f in _visible(api, {OTHER})}
    members = admin.list_members(DetectorId=detector)["Members"]
    assert [(m["AccountId"], m["RelationshipStatus"], m["DetectorId"]) for m in members] == [(MEMBER, "Enabled", member_detector)]
    assert member.get_administrator_account(DetectorId=member_detector)["Administrator"]["AccountId"] == ADMIN
    # a key without --admin adds no members; another administrator cannot take a member
    assert _error(lambda: plain.create_members(DetectorId=plain_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "e@x.com"}])) == \
        ("AccessDeniedException", 403)
    rival = api.client(OTHER, admin=True)
    taken = rival.create_members(DetectorId=plain_detector, AccountDetails=[{"AccountId": MEMBER, "Email": "e@x.com"}])
    assert [u["AccountId"] for u in taken["UnprocessedAccounts"]] == [MEMBER]
    admin.disassociate_members(DetectorId=detector, AccountIds=[MEMBER])
    assert listed(admin, detector) == {f.id for f in _visible(api, {ADMIN})}
    assert admin.get_members(DetectorId=detector, AccountIds=[MEMBER, OTHER])["UnprocessedAccounts"] == [
        {"AccountId": OTHER, "Result": "The account is not a member of this administrator."}]


def test_filters_crud_and_criteria_checked(api) -> None:
    gd = api.client(ADMIN)
    detector = gd.create_detector(Enable=True)["DetectorId"]
    criteria = {"Criterion": {"type": {"Eq": ["Recon:EC2/Portscan"]}, "resource.instanceDetails.tags.value": {"Matches": ["scanner-*"]}}}
    gd.create_filter(DetectorId=detector, Name="scanner", Action="ARCHIVE", Rank=1, FindingCriteria=criteria, Description="our scanner")
    assert gd.get_filter(DetectorId=detector, FilterName="scanner")["FindingCriteria"] == criteria
    assert _error(lambda: gd.create_filter(DetectorId=detector, Name="scanner", FindingCriteria=criteria))[0] == "BadRequestException"
    bad = {"Criterion": {"resource.instanceDetails.nope": {"Eq": ["x"]}}}
    assert _error(lambda: gd.create_filter(DetectorId=detector, Name="bad", FindingCriteria=bad))[0] == "BadRequestException"
    gd.update_filter(DetectorId=detector, FilterName="scanner", Action="NOOP")
    assert gd.get_filter(DetectorId=detector, FilterName="scanner")["Action"] == "NOOP"
    assert gd.list_filters(DetectorId=detector)["FilterNames"] == ["scanner"]
    gd.delete_filter(DetectorId=detector, FilterName="scanner")
    assert _error(lambda: gd.get_filter(DetectorId=detector, FilterName="scanner")) == ("ResourceNotFoundException", 404)
    other = api.client(OTHER)
    other.create_detector(Enable=True)
    assert _error(lambda: other.list_filters(DetectorId=detector))[0] == "BadRequestException"


def _root_login(t: datetime, account: str) -> dict:
    return {"eventVersion": "1.08", "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "signin.amazonaws.com",
            "eventName": "ConsoleLogin", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "Mozilla/5.0",
            "userIdentity": {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account},
            "responseElements": {"ConsoleLogin": "Success"}, "eventID": f"e-{account}-{t.timestamp()}", "eventType": "AwsConsoleSignIn",
            "recipientAccountId": account}


def test_suppression_rules_archive_what_a_scan_and_the_api_create(api, tmp_path: Path) -> None:
    admin = api.client(ADMIN, admin=True)
    detector = admin.create_detector(Enable=True)["DetectorId"]
    member = api.client(MEMBER)
    member_detector = member.create_detector(Enable=True)["DetectorId"]
    admin.create_members(DetectorId=detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    rule = {"Criterion": {"type": {"Eq": ["Policy:IAMUser/RootCredentialUsage"]}, "accountId": {"Eq": [MEMBER]}}}
    admin.create_filter(DetectorId=detector, Name="member-root-is-known", Action="ARCHIVE", FindingCriteria=rule)
    logs = write_cloudtrail(tmp_path / "ct.json.gz", [_root_login(BASE, MEMBER), _root_login(BASE, OTHER)])
    writer = Store(api.url)
    report = Scanner(writer).scan([logs])
    writer.close()
    preloaded = {f.id for f in api.findings}
    root = {f["accountId"]: f["service"]["archived"] for f in api.store.findings()
            if f["type"] == "Policy:IAMUser/RootCredentialUsage" and f["id"] not in preloaded}
    assert root == {MEMBER: True, OTHER: False}  # the administrator's rule covers its member only
    assert report.suppressed_by_rules == 1
    # and what the API creates
    member.create_sample_findings(DetectorId=member_detector, FindingTypes=["Policy:IAMUser/RootCredentialUsage", "Recon:EC2/Portscan"])
    listed = member.list_findings(DetectorId=member_detector, FindingCriteria={"Criterion": {"service.additionalInfo.sample": {"Eq": ["true"]}}})
    new = [fid for fid in listed["FindingIds"] if fid not in preloaded]
    samples = {f["Type"]: f for f in member.get_findings(DetectorId=member_detector, FindingIds=new)["Findings"]}
    assert len(new) == 2
    assert samples["Policy:IAMUser/RootCredentialUsage"]["Service"]["Archived"] is True
    assert samples["Recon:EC2/Portscan"]["Service"]["Archived"] is False
    assert samples["Recon:EC2/Portscan"]["AccountId"] == MEMBER and samples["Recon:EC2/Portscan"]["Title"].startswith("[SAMPLE]")


def test_hostile_requests_are_refused_as_aws_refuses_them(api) -> None:
    gd = api.client(ADMIN)
    detector = gd.create_detector(Enable=True)["DetectorId"]
    assert _error(lambda: api.client(ADMIN, secret="x" * 40).list_detectors()) == ("InvalidSignatureException", 403)
    unknown = api.client(ADMIN)
    unknown._request_signer._credentials.access_key = "THAKAAAAAAAAAAAAAAAA"
    assert _error(unknown.list_detectors) == ("UnrecognizedClientException", 403)
    for method, path in (("GET", "/detector"), ("POST", f"/detector/{detector}/findings"), ("GET", "/../../etc/passwd")):
        r = requests.request(method, api.endpoint + path, data=b"{}", timeout=10)
        assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # values built to inject SQL are values: nothing matches, nothing breaks
    for value in ("' OR 1=1 --", "x'); DROP TABLE findings; --", '") || true', "$.*", "\\"):
        crit = {"Criterion": {"type": {"Eq": [value]}, "resource.instanceDetails.instanceId": {"Neq": [value]},
                              "service.action.networkConnectionAction.remoteIpDetails.ipAddressV4": {"Eq": [value]}}}
        assert gd.list_findings(DetectorId=detector, FindingCriteria=crit)["FindingIds"] == []
    assert len(gd.list_findings(DetectorId=detector, MaxResults=50)["FindingIds"]) == 40
    # what botocore would not send, sent anyway: checked against the model all the same
    body = b'{"findingCriteria": {"criterion": {"severity": {"gte": "seven"}}}}'
    assert _signed_post(api, f"/detector/{detector}/findings", body)[0] == 400
    assert _signed_post(api, f"/detector/{detector}/findings", b"[1, 2")[0] == 400
    assert _signed_post(api, f"/detector/{detector}/findings", b'{"maxResults": 51}')[0] == 400
    assert _error(lambda: gd.list_findings(DetectorId=detector, MaxResults=51)) == ("BadRequestException", 400)  # botocore checks minimums only
    with pytest.raises(ParamValidationError):
        gd.list_findings(DetectorId=detector, MaxResults=0)


def _signed_post(live, path: str, body: bytes) -> tuple[int, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id, secret = live.keys[(ADMIN, False)]
    request = AWSRequest("POST", live.endpoint + path, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key_id, secret), "guardduty", "us-east-1").add_auth(request)
    r = requests.post(live.endpoint + path, data=body, headers=dict(request.headers), timeout=10)
    return r.status_code, r.headers.get("x-amzn-ErrorType", "")


def test_the_aws_cli_works_against_serve(api) -> None:
    gd = api.client(ADMIN)
    detector = gd.create_detector(Enable=True)["DetectorId"]
    key_id, secret = api.keys[(ADMIN, False)]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    aws = [sys.executable, "-m", "awscli", "guardduty", "--endpoint-url", api.endpoint, "--output", "json"]
    out = subprocess.run([*aws, "list-findings", "--detector-id", detector, "--finding-criteria",
                          '{"Criterion": {"severity": {"Gte": 7}}}', "--max-items", "5"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import json

    ids = json.loads(out.stdout)["FindingIds"]
    assert len(ids) == 5 and {f.id for f in _visible(api, {ADMIN}) if f.severity >= 7} >= set(ids)


def test_pagination_over_thousands_of_findings_returns_each_once(store_url: str, samples: list[Finding]) -> None:
    with live_server(store_url) as live:
        many = estate(samples, n=6000)
        with transaction(live.store.connect()) as c:
            write_findings(c, many)
        gd = live.client(ADMIN)
        detector = gd.create_detector(Enable=True)["DetectorId"]
        sort = {"AttributeName": "severity", "OrderBy": "DESC"}
        pages = list(gd.get_paginator("list_findings").paginate(DetectorId=detector, SortCriteria=sort, PaginationConfig={"PageSize": 50}))
        ids = [fid for page in pages for fid in page["FindingIds"]]
        mine = [f for f in many if f.account_id == ADMIN and f.region == "us-east-1"]
        assert len(pages) == -(-len(mine) // 50) and len(ids) == len(set(ids)) == len(mine) == 1000
        severity = {f.id: f.severity for f in mine}
        assert [severity[i] for i in ids] == sorted(severity.values(), reverse=True)  # ties broken by id, stably across pages
        with pytest.raises(gd.exceptions.BadRequestException):  # the model's exception classes, as from AWS
            gd.get_findings(DetectorId="0" * 32, FindingIds=ids[:1])
