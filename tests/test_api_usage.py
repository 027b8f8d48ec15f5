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
from trailhound.store.tables import SCHEMA_VERSION

ADMIN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
GB = 10**9


@pytest.fixture
def api(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAILHOUND_LISTS_DIR", str(tmp_path))
    with live_server(store_url) as live:
        yield live


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response["Error"]["Code"]


def _metered(live, rows: dict[tuple[str, str, str, str], tuple[int, int]]) -> None:
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
        ("2026-11-20", ADMIN, "cloudtrail", ""): (1_500_000, 600 * 10**6),  # $4 per 1M, over the window's days
        ("2026-10-22", ADMIN, "cloudtrail", ""): (500_000, 300 * 10**6),  # the window's first day (30 days ending 11-20)
        ("2026-11-20", ADMIN, "s3data", "logs-bucket"): (300_000_000, 5 * 10**8),  # 600M in all: 500M at $0.80 + 100M at $0.40,
        ("2026-11-19", ADMIN, "s3data", "logs-bucket"): (150_000_000, 2 * 10**8),  # split between the buckets by events
        ("2026-11-20", ADMIN, "s3data", "data-bucket"): (150_000_000, 3 * 10**8),
        ("2026-11-20", ADMIN, "flow", ""): (1, 300 * GB),  # flow + DNS: one meter, 600 GB: 500 at $1 + 100 at $0.50, split by bytes
        ("2026-11-20", ADMIN, "dns", ""): (1, 300 * GB),
        ("2026-11-20", MEMBER, "cloudtrail", ""): (1_000_000, 1),
        ("2026-11-20", MEMBER, "dns", ""): (5, 10 * GB),  # its own first tier: tiers are per account
        ("2026-11-18", MEMBER, "s3data", "member-bucket"): (1_000_000, 1),
        ("2026-11-20", OTHER, "cloudtrail", ""): (5_000_000, 1),  # not the admin's member: never in its answers
        ("2026-11-20", OTHER, "s3data", "other-bucket"): (2_000_000, 1),
        ("2026-10-21", ADMIN, "cloudtrail", ""): (100_000_000, 1),  # 30 days before the latest: outside the window
        ("2026-10-21", ADMIN, "s3data", "old-bucket"): (100_000_000, 1),
    })
    (admin, det), (member, mdet), (other, odet) = _admin_with_member(api)

    def stats(client, detector, kind, **criteria):
        return client.get_usage_statistics(DetectorId=detector, UsageStatisticType=kind, UsageCriteria=criteria, Unit="USD")["UsageStatistics"]

    assert _amounts(stats(admin, det, "SUM_BY_ACCOUNT")["SumByAccount"], "AccountId") == {ADMIN: 998.0, MEMBER: 14.8}
    assert _amounts(stats(admin, det, "SUM_BY_DATA_SOURCE")["SumByDataSource"], "DataSource") == {
        "CLOUD_TRAIL": 12.0, "S3_LOGS": 440.8, "FLOW_LOGS": 275.0, "DNS_LOGS": 285.0}
    assert _amounts(stats(admin, det, "SUM_BY_FEATURES")["SumByFeature"], "Feature") == {
        "CLOUD_TRAIL": 12.0, "S3_DATA_EVENTS": 440.8, "FLOW_LOGS": 275.0, "DNS_LOGS": 285.0}
    # narrowed to DNS: still priced on the shared flow + DNS meter
    assert _amounts(stats(admin, det, "SUM_BY_ACCOUNT", Features=["DNS_LOGS"])["SumByAccount"], "AccountId") == {ADMIN: 275.0, MEMBER: 10.0}
    assert _amounts(stats(admin, det, "SUM_BY_DATA_SOURCE", DataSources=["CLOUD_TRAIL"], AccountIds=[MEMBER])["SumByDataSource"],
                    "DataSource") == {"CLOUD_TRAIL": 4.0}
    top = stats(admin, det, "TOP_ACCOUNTS_BY_FEATURE")["TopAccountsByFeature"]
    by_feature = {f["Feature"]: [(a["AccountId"], float(a["Total"]["Amount"])) for a in f["Accounts"]] for f in top}
    assert by_feature["CLOUD_TRAIL"] == [(ADMIN, 8.0), (MEMBER, 4.0)] and by_feature["DNS_LOGS"] == [(ADMIN, 275.0), (MEMBER, 10.0)]

    # per resource: the buckets of S3 data events, the caller's accounts' only, the window's days only
    by_resource = stats(admin, det, "SUM_BY_RESOURCE")["SumByResource"]
    assert [i["Resource"] for i in by_resource] == ["data-bucket", "logs-bucket", "member-bucket"]
    assert _amounts(by_resource, "Resource") == {"data-bucket": 110.0, "logs-bucket": 330.0, "member-bucket": 0.8}
    assert [i["Resource"] for i in stats(admin, det, "TOP_RESOURCES")["TopResources"]] == ["logs-bucket", "data-bucket", "member-bucket"]
    assert stats(admin, det, "TOP_RESOURCES", DataSources=["CLOUD_TRAIL", "DNS_LOGS"]).get("TopResources", []) == []  # no bucket there
    # exact names narrow every view; another account's bucket is never counted
    assert _amounts(stats(admin, det, "SUM_BY_ACCOUNT", Resources=["data-bucket", "other-bucket"])["SumByAccount"], "AccountId") == {ADMIN: 110.0}
    assert _amounts(stats(admin, det, "SUM_BY_RESOURCE", Resources=["member-bucket", "data"])["SumByResource"], "Resource") == {"member-bucket": 0.8}
    assert _amounts(stats(member, mdet, "TOP_RESOURCES")["TopResources"], "Resource") == {"member-bucket": 0.8}
    assert _amounts(stats(other, odet, "SUM_BY_RESOURCE")["SumByResource"], "Resource") == {"other-bucket": 1.6}

    # a member sees its own usage; another account's is refused, never summed
    assert _amounts(stats(member, mdet, "SUM_BY_ACCOUNT")["SumByAccount"], "AccountId") == {MEMBER: 14.8}
    assert _amounts(stats(other, odet, "SUM_BY_ACCOUNT")["SumByAccount"], "AccountId") == {OTHER: 21.6}
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


def test_usage_covers_the_30_days_ending_on_the_latest_metered_day(api) -> None:
    _metered(api, {
        ("2026-12-05", ADMIN, "cloudtrail", ""): (1_000_000, 1),
        ("2026-11-06", ADMIN, "cloudtrail", ""): (1_000_000, 1),  # 29 days before: in
        ("2026-11-05", ADMIN, "cloudtrail", ""): (10_000_000, 1),  # 30 days before: out
        ("2026-11-30", ADMIN, "flow", ""): (1, 10 * GB),
    })
    admin = api.client(ADMIN, admin=True)
    det = admin.create_detector(Enable=True)["DetectorId"]

    def by_source(**criteria):
        got = admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_DATA_SOURCE", UsageCriteria=criteria)
        return _amounts(got["UsageStatistics"]["SumByDataSource"], "DataSource")

    assert by_source() == {"CLOUD_TRAIL": 8.0, "FLOW_LOGS": 10.0}
    # usage arriving later moves the window: 12-05 .. 01-03 leaves 11-06 and 11-30 out
    _metered(api, {("2027-01-03", ADMIN, "dns", ""): (1, 5 * GB)})
    assert by_source() == {"CLOUD_TRAIL": 4.0, "DNS_LOGS": 5.0}
    # the window is that of the sources asked about: CloudTrail's own latest day is 12-05
    assert by_source(DataSources=["CLOUD_TRAIL"]) == {"CLOUD_TRAIL": 8.0}


def test_a_scan_meters_s3_data_events_per_bucket_and_day(api, tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 4, 23, 59, tzinfo=UTC)
    who = iam_user(ADMIN, "etl")

    def get(i: int, bucket: str) -> dict:
        return record("GetObject", "s3.amazonaws.com", time=t0 + timedelta(seconds=i), account=ADMIN, identity=who, ip="52.94.236.248",
                      params={"bucketName": bucket, "key": f"k/{i}"}, data_event=True)

    # one file across midnight: 60 events on the 4th, 90 on the 5th; 100 of one bucket, 50 of another, 10 with no bucket named
    records = [get(i, "reports" if i % 3 else "archive") for i in range(150)]
    records += [record("GetObject", "s3.amazonaws.com", time=t0 + timedelta(seconds=200 + i), account=ADMIN, identity=who,
                       ip="52.94.236.248", data_event=True) for i in range(10)]
    records += [record("DescribeInstances", "ec2.amazonaws.com", time=t0 + timedelta(seconds=i), account=ADMIN, identity=who,
                       ip="52.94.236.248") for i in range(40)]
    store = Store(api.url)
    try:
        Scanner(store, ScanSettings(builtin_intel=False)).scan([write_cloudtrail(tmp_path / "ct" / "trail.json.gz", records)])
        rows = store.conn.exec_driver_sql("SELECT day, source, resource, events FROM usage ORDER BY day, source, resource").all()
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [
        ("2026-11-04", "cloudtrail", "", 40), ("2026-11-04", "s3data", "archive", 20), ("2026-11-04", "s3data", "reports", 40),
        ("2026-11-05", "s3data", "", 10), ("2026-11-05", "s3data", "archive", 30), ("2026-11-05", "s3data", "reports", 60)]
    admin = api.client(ADMIN, admin=True)
    det = admin.create_detector(Enable=True)["DetectorId"]
    got = admin.get_usage_statistics(DetectorId=det, UsageStatisticType="SUM_BY_RESOURCE", UsageCriteria={})["UsageStatistics"]
    assert _amounts(got["SumByResource"], "Resource") == {"archive": round(50 * 0.8 / 1e6, 6), "reports": round(100 * 0.8 / 1e6, 6)}


def test_a_store_metered_by_month_is_brought_forward(store_url: str) -> None:
    """Schema 4 kept usage per month, account and source: opening the store moves it to days (a month's on
    its first day) without losing an event or a byte, and scans meter by day and bucket from then on."""
    store = Store(store_url)
    c = store.conn
    c.exec_driver_sql("DROP TABLE usage")
    c.exec_driver_sql("CREATE TABLE usage (month TEXT NOT NULL, account_id TEXT NOT NULL, source TEXT NOT NULL, events BIGINT NOT NULL,"
                      " bytes BIGINT NOT NULL, PRIMARY KEY (month, account_id, source))")
    c.exec_driver_sql("INSERT INTO usage VALUES ('2026-10', '111122223333', 'cloudtrail', 7, 700), ('2026-11', '111122223333', 's3data', 5, 50),"
                      " ('2026-11', '444455556666', 'flow', 3, 3000)")
    c.exec_driver_sql("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    store.close()

    store = Store(store_url)
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION)
        assert store.usage() == [
            {"month": "2026-10", "accountId": ADMIN, "source": "cloudtrail", "events": 7, "bytes": 700},
            {"month": "2026-11", "accountId": ADMIN, "source": "s3data", "events": 5, "bytes": 50},
            {"month": "2026-11", "accountId": MEMBER, "source": "flow", "events": 3, "bytes": 3000}]
        rows = store.conn.exec_driver_sql("SELECT day, account_id, source, resource, events, bytes FROM usage ORDER BY day, source").all()
        assert [tuple(r) for r in rows] == [("2026-10-01", ADMIN, "cloudtrail", "", 7, 700), ("2026-11-01", MEMBER, "flow", "", 3, 3000),
                                            ("2026-11-01", ADMIN, "s3data", "", 5, 50)]
        store.commit(Changes(usage={("2026-11-01", ADMIN, "s3data", ""): [1, 10], ("2026-11-02", ADMIN, "s3data", "b"): [2, 20]}))
        assert [u["events"] for u in store.usage() if u["source"] == "s3data"] == [8]
    finally:
        store.close()
    assert Store(store_url).meta("schema_version") == str(SCHEMA_VERSION)  # opened again: nothing left to do


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


def test_a_schema_5_store_gains_the_type_and_severity_index(store_url: str) -> None:
    """Schema 6 indexes findings by (type, severity, id): one type's findings, most severe first, read in
    index order (the console's and ListFindings' sort) instead of sorted after reading them all."""
    from sqlalchemy import inspect

    store = Store(store_url)
    store.conn.exec_driver_sql("DROP INDEX findings_type_severity_id")
    store.conn.exec_driver_sql("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    store.close()
    store = Store(store_url)
    try:
        names = {i["name"] for i in inspect(store.conn).get_indexes("findings")}
        assert "findings_type_severity_id" in names and store.meta("schema_version") == str(SCHEMA_VERSION)
    finally:
        store.close()
