"""Finding identity and aggregation (GuardDuty reference §4a)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import scan, write_cloudtrail

from trailhound.simulator.records import iam_user, record

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def _stop(t: datetime, trail: str = "org-trail", user: str = "mallory", ip: str = "192.0.2.44") -> dict:
    return record("StopLogging", "cloudtrail.amazonaws.com", time=t, identity=iam_user("111122223333", user), ip=ip, params={"name": trail})


def test_recurrence_updates_the_finding(scan_records) -> None:
    _, findings = scan_records([_stop(T0), _stop(T0 + timedelta(hours=1), trail="audit", ip="192.0.2.99"), _stop(T0 + timedelta(minutes=30))])
    assert len(findings) == 1
    f = findings[0]
    assert f["service"]["count"] == 3
    assert f["service"]["eventFirstSeen"] == "2026-11-03T08:00:00.000Z"
    assert f["service"]["eventLastSeen"] == "2026-11-03T09:00:00.000Z"
    # details are those of the latest occurrence, whatever the order they were processed in
    assert f["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"] == "192.0.2.99"
    assert "audit" in f["title"]


def test_other_resource_other_finding(scan_records) -> None:
    _, findings = scan_records([_stop(T0, user="mallory"), _stop(T0, user="eve")])
    assert len(findings) == 2
    assert len({f["id"] for f in findings}) == 2


def test_ids_are_deterministic_across_stores(tmp_path) -> None:
    f1 = write_cloudtrail(tmp_path / "one" / "a.json.gz", [_stop(T0)])
    _, s1 = scan([f1], db=tmp_path / "1.db")
    _, s2 = scan([f1], db=tmp_path / "2.db")
    [a], [b] = list(s1.findings()), list(s2.findings())
    assert a["id"] == b["id"]
    assert a["arn"] != b["arn"]  # the ARN names each store's own detector


def test_second_scan_continues_and_aggregates(tmp_path) -> None:
    db = tmp_path / "s.db"
    scan([write_cloudtrail(tmp_path / "d1" / "a.json.gz", [_stop(T0)])], db=db)
    report, store = scan([tmp_path / "d1", write_cloudtrail(tmp_path / "d2" / "b.json.gz", [_stop(T0 + timedelta(days=1))])], db=db)
    assert report.files_already_scanned == 1
    assert report.events["cloudtrail"] == 1
    [f] = list(store.findings())
    assert f["service"]["count"] == 2
    assert f["createdAt"] <= f["updatedAt"]


def test_remote_ip_is_enriched_with_country_and_asn(scan_records) -> None:
    # 8.8.8.8 is Google's resolver: the bundled DB-IP tables know its country and ASN
    _, [f] = scan_records([_stop(T0, ip="8.8.8.8")])
    details = f["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]
    assert details["ipAddressV4"] == "8.8.8.8"
    assert details["country"] == {"countryCode": "US", "countryName": "United States"}
    assert details["organization"]["asn"] == "15169" and "Google" in details["organization"]["asnOrg"]


def test_private_caller_gets_no_geo(scan_records) -> None:
    _, [f] = scan_records([_stop(T0, ip="10.1.2.3")])
    assert f["service"]["action"]["awsApiCallAction"]["remoteIpDetails"] == {"ipAddressV4": "10.1.2.3"}


def test_the_caller_type_says_what_the_source_address_says(scan_records) -> None:
    """An address: Remote IP; a service's name: AWS Service; no address at all (a reshaped record): nothing assumed."""
    service = {**_stop(T0, user="cfn"), "sourceIPAddress": "cloudformation.amazonaws.com"}
    missing = _stop(T0, user="ops")
    del missing["sourceIPAddress"]
    _, findings = scan_records([_stop(T0, user="mallory"), service, missing])
    by_user = {f["resource"]["accessKeyDetails"]["userName"]: f["service"]["action"]["awsApiCallAction"] for f in findings}
    assert by_user["mallory"]["callerType"] == "Remote IP"
    assert by_user["cfn"]["callerType"] == "AWS Service" and by_user["cfn"]["domainDetails"]["domain"] == "cloudformation.amazonaws.com"
    assert "callerType" not in by_user["ops"] and "remoteIpDetails" not in by_user["ops"]
