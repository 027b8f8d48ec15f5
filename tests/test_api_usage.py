"""GetUsageStatistics and the tagging operations through a live ``serve`` and an unmodified boto3 client,
on SQLite and PostgreSQL: GuardDuty's tiered prices per account, every statistics type, the caller's
accounts only; tags on detectors, filters and lists, and ARNs of other accounts or of nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api_server import live_server
from botocore.exceptions import ClientError
from conftest import write_cloudtrail

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.pricing import estimate
from trailhound.simulator.records import iam_user, record
from trailhound.store.database import Changes, Store

ADMIN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
GB = 10**9


@pytest.fixture
def api(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAILHOUND_LISTS_DIR", str(tmp_path))
    with live_server(store_url) as live:
        yield live


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response["Error"]["Code"]


def _metered(live, rows: dict[tuple[str, str, str], tuple[int, int]]) -> None:
    """Usage as scans record it (the store's own commit path)."""
    store = Store(live.url)
    try:
        store.commit(Changes(usage={k: list(v) for k, v in rows.items()}))
    finally:
        store.close()


def _amounts(items: list[dict], key: str) -> dict[str, float]:
    assert all(i["Total"]["Unit"] == "USD" for i in items)
    return {i[key]: round(float(i["Total"]["Amount"]), 6) for i in items}


def _admin_with_member(live):
    admin, member, other = live.client(ADMIN, admin=True), live.client(MEMBER), live.client(OTHER)
    det = admin.create_detector(Enable=True)["DetectorId"]
    mdet, odet = member.create_detector(Enable=True)["DetectorId"], other.create_detector(Enable=True)["DetectorId"]
    admin.create_members(DetectorId=det, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    return (admin, det), (member, mdet), (other, odet)


def test_usage_priced_per_account_as_guardduty_bills(api) -> None:
    _metered(api, {
        ("2026-11", ADMIN, "cloudtrail"): (2_000_000, 900 * 10**6),  # $4 per 1M
        ("2026-11", ADMIN, "s3data"): (600_000_000, 10**9),  # 500M at $0.80 + 100M at $0.40
        ("2026-11", ADMIN, "flow"): (1, 300 * GB),  # flow + DNS: one meter, 600 GB: 500 at $1 + 100 at $0.50, split by bytes
        ("2026-11", ADMIN, "dns"): (1, 300 * GB),
        ("2026-11", MEMBER, "cloudtrail"): (1_000_000, 1),
        ("2026-11", MEMBER, "dns"): (5, 10 * GB),  # its own first tier: tiers are per account
        ("2026-11", OTHER, "cloudtrail"): (5_000_000, 1),  # not the admin's member: never in its answers
        ("2026-10", ADMIN, "cloudtrail"): (100_000_000, 1),  # an older month: outside the window
    })
    (admin, det), (member, mdet), (other, odet) = _admin_with_member(api)

    def stats(client, detector, kind, **criteria):
        return client.get_usage_statistics(DetectorId=detector, UsageStatisticType=kind, UsageCriteria=criteria, Unit="USD")["UsageStatistics"]

    assert _amounts(stats(admin, det, "SUM_BY_ACCOUNT")["SumByAccount"], "AccountId") == {ADMIN: 998.0, MEMBER: 14.0}
    assert _amounts(stats(admin, det, "SUM_BY_DATA_SOURCE")["SumByDataSource"], "DataSource") == {
        "CLOUD_TRAIL": 12.0, "S3_LOGS": 440.0, "FLOW_LOGS": 275.0, "DNS_LOGS": 285.0}
    assert _amounts(stats(admin, det, "SUM_BY_FEATURES")["SumByFeature"], "Feature") == {
        "CLOUD_TRAIL": 12.0, "S3_DATA_EVENTS": 440.0, "FLOW_LOGS": 275.0, "DNS_LOGS": 285.0}
    # narrowed to DNS: still priced on the shared flow + DNS meter
    assert _amounts(stats(admin, det, "SUM_BY_ACCOUNT", Features=["DNS_LOGS"])["SumByAccount"], "AccountId") == {ADMIN: 275.0, MEMBER: 10.0}
    assert _amounts(stats(admin, det, "SUM_BY_DATA_SOURCE", DataSources=["CLOUD_TRAIL"], AccountIds=[MEMBER])["SumByDataSource"],
                    "DataSource") == {"CLOUD_TRAIL": 4.0}
    top = stats(admin, det, "TOP_ACCOUNTS_BY_FEATURE")["TopAccountsByFeature"]
    by_feature = {f["Feature"]: [(a["AccountId"], float(a["Total"]["Amount"])) for a in f["Accounts"]] for f in top}
    assert by_feature["CLOUD_TRAIL"] == [(ADMIN, 8.0), (MEMBER, 4.0)] and by_feature["DNS_LOGS"] == [(ADMIN, 275.0), (MEMBER, 10.0)]
    assert stats(admin, det, "SUM_BY_RESOURCE").get("SumByResource", []) == []  # not metered per resource: nothing invented

    # a member sees its own usage; another account's is refused, never summed
    assert _amounts(stats(member, mdet, "SUM_BY_ACCOUNT")["SumByAccount"], "AccountId") == {MEMBER: 14.0}
    assert _amounts(stats(other, odet, "SUM_BY_ACCOUNT")["SumByAccount"], "AccountId") == {OTHER: 20.0}
    for client, detector, accounts in ((admin, det, [OTHER]), (member, mdet, [ADMIN]), (other, odet, [ADMIN, OTHER])):
        with pytest.raises(ClientError) as exc:
            stats(client, detector, "SUM_BY_ACCOUNT", AccountIds=accounts)
        assert _code(exc) == (400, "BadRequestException")
    with pytest.raises(ClientError) as exc:
        stats(other, det, "SUM_BY_ACCOUNT")  # the admin's detector
    assert _code(exc) == (400, "BadRequestException")
    with pytest.raises(ClientError) as exc:
        admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_ACCOUNT", UsageCriteria={}, Unit="EUR")
    assert _code(exc) == (400, "BadRequestException")

    first = admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_DATA_SOURCE", UsageCriteria={}, MaxResults=3)
    rest = admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_DATA_SOURCE", UsageCriteria={}, MaxResults=3,
                                      NextToken=first["NextToken"])  # (botocore has no paginator for this one)
    assert [len(p["UsageStatistics"]["SumByDataSource"]) for p in (first, rest)] == [3, 1] and "NextToken" not in rest
    with pytest.raises(ClientError) as exc:  # a token of another query
        admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_ACCOUNT", UsageCriteria={}, NextToken=first["NextToken"])
    assert _code(exc) == (400, "BadRequestException")


def test_usage_of_a_scan_matches_the_cost_report(api, tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 4, tzinfo=UTC)
    records = [record("DescribeInstances", "ec2.amazonaws.com", time=t0 + timedelta(seconds=i), account=ADMIN,
                      identity=iam_user(ADMIN, "ops"), ip="52.94.236.248") for i in range(300)]
    store = Store(api.url)
    try:
        Scanner(store, ScanSettings(builtin_intel=False)).scan([write_cloudtrail(tmp_path / "ct" / "trail.json.gz", records)])
        expected = sum(e["total"] for e in estimate(store.usage()))
    finally:
        store.close()
    admin = api.client(ADMIN, admin=True)
    det = admin.create_detector(Enable=True)["DetectorId"]
    got = admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_ACCOUNT", UsageCriteria={"AccountIds": [ADMIN]})
    assert [(i["AccountId"], float(i["Total"]["Amount"])) for i in got["UsageStatistics"]["SumByAccount"]] == [(ADMIN, pytest.approx(expected, abs=1e-6))]
    assert expected == pytest.approx(300 / 1e6 * 4.0)


def test_tags_on_every_taggable_resource(api, tmp_path: Path) -> None:
    (admin, det), _, (other, odet) = _admin_with_member(api)
    (tmp_path / "l.txt").write_text("89.160.20.112\n")
    ip_set = admin.create_ip_set(DetectorId=det, Name="ips", Format="TXT", Location="l.txt", Activate=True, Tags={"a": "1"})["IpSetId"]
    intel = admin.create_threat_intel_set(DetectorId=det, Name="bad", Format="TXT", Location="l.txt", Activate=False)["ThreatIntelSetId"]
    admin.create_filter(DetectorId=det, Name="quiet", Action="ARCHIVE", FindingCriteria={"Criterion": {"severity": {"Lt": 4}}}, Tags={"f": "x"})
    base = f"arn:aws:guardduty:us-east-1:{ADMIN}:detector/{det}"
    arns = {base: {}, f"{base}/filter/quiet": {"f": "x"}, f"{base}/ipset/{ip_set}": {"a": "1"}, f"{base}/threatintelset/{intel}": {}}
    for arn, initial in arns.items():
        assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == initial, arn
        admin.tag_resource(ResourceArn=arn, Tags={"env": "prod", "owner": "secops"})
        admin.tag_resource(ResourceArn=arn, Tags={"env": "test"})
        admin.untag_resource(ResourceArn=arn, TagKeys=["owner", "never-there"])
        assert admin.list_tags_for_resource(ResourceArn=arn)["Tags"] == {**initial, "env": "test"}, arn
    assert admin.get_ip_set(DetectorId=det, IpSetId=ip_set)["Tags"] == {"a": "1", "env": "test"}
    assert admin.get_filter(DetectorId=det, FilterName="quiet")["Tags"] == {"f": "x", "env": "test"}
    assert admin.get_detector(DetectorId=det)["Tags"] == {"env": "test"}

    other.tag_resource(ResourceArn=f"arn:aws:guardduty:us-east-1:{OTHER}:detector/{odet}", Tags={"mine": "yes"})
    for arn in arns:  # another account's ARNs: refused before anything is looked up, and left as they were
        for call in (lambda: other.list_tags_for_resource(ResourceArn=arn), lambda: other.tag_resource(ResourceArn=arn, Tags={"pwned": "1"}),
                     lambda: other.untag_resource(ResourceArn=arn, TagKeys=["env"])):
            with pytest.raises(ClientError) as exc:
                call()
            assert _code(exc) == (403, "AccessDeniedException")
    made_up = f"arn:aws:guardduty:us-east-1:{OTHER}:detector/{'0' * 32}"
    with pytest.raises(ClientError) as exc:  # the same answer whether the other account's resource exists or not
        other.list_tags_for_resource(ResourceArn=made_up.replace(OTHER, ADMIN))
    assert _code(exc) == (403, "AccessDeniedException")
    assert admin.list_tags_for_resource(ResourceArn=base)["Tags"] == {"env": "test"}

    for arn in (made_up, f"{base}/filter/nope", f"{base}/ipset/{'f' * 32}", f"{base}/threatintelset/{ip_set}"):  # (an IPSet id as a ThreatIntelSet)
        with pytest.raises(ClientError) as exc:
            (other if OTHER in arn else admin).list_tags_for_resource(ResourceArn=arn)
        assert _code(exc) == (404, "ResourceNotFoundException"), arn
    bad = [(base.replace("us-east-1", "eu-west-1"), {"k": "v"}), (f"{base}/finding/{'a' * 32}", {"k": "v"}), ("arn:aws:s3:::bucket", {"k": "v"}),
           (f"{base}' OR '1'='1", {"k": "v"}), (base, {"aws:reserved": "v"}), (base, {f"k{i}": "v" for i in range(60)})]
    for arn, tags in bad:
        with pytest.raises(ClientError) as exc:
            admin.tag_resource(ResourceArn=arn, Tags=tags)
        assert _code(exc) == (400, "BadRequestException"), (arn, list(tags)[:1])
    assert admin.list_tags_for_resource(ResourceArn=base)["Tags"] == {"env": "test"}
