"""Rules: the finding wire form, and the password-policy judgement against the previous policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trailhound.detectors import s3_public
from trailhound.simulator.records import record

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CASES = s3_public.cases(START)


def test_finding_wire_form(scan_records) -> None:
    case = next(c for c in CASES if c.name == "bucket-policy-anonymous")
    _, [f] = scan_records([case.record])
    assert set(f) >= {"schemaVersion", "accountId", "region", "partition", "id", "arn", "type", "severity", "title",
                      "description", "createdAt", "updatedAt", "resource", "service"}
    assert f["schemaVersion"] == "2.0" and f["partition"] == "aws" and f["severity"] == 8.0
    assert len(f["id"]) == 32 and f["arn"].endswith(f"/finding/{f['id']}")
    assert f["arn"].startswith("arn:aws:guardduty:us-east-1:111122223333:detector/")
    res = f["resource"]
    assert res["resourceType"] == "S3Bucket"
    assert res["accessKeyDetails"]["userName"] == "mallory" and res["accessKeyDetails"]["userType"] == "IAMUser"
    bucket = res["s3BucketDetails"][0]
    assert bucket["name"] == "finance-reports" and bucket["arn"] == "arn:aws:s3:::finance-reports"
    assert bucket["publicAccess"]["effectivePermission"] == "PUBLIC"
    assert bucket["publicAccess"]["permissionConfiguration"]["bucketLevelPermissions"]["bucketPolicy"] == {
        "allowsPublicReadAccess": True, "allowsPublicWriteAccess": False}
    svc = f["service"]
    assert svc["serviceName"] == "guardduty" and svc["count"] == 1 and svc["archived"] is False
    assert svc["eventFirstSeen"] == svc["eventLastSeen"] == case.record["eventTime"].replace("Z", ".000Z")
    call = svc["action"]["awsApiCallAction"]
    assert svc["action"]["actionType"] == "AWS_API_CALL"
    assert call["api"] == "PutBucketPolicy" and call["serviceName"] == "s3.amazonaws.com"
    assert call["remoteIpDetails"] == {"ipAddressV4": "192.0.2.44"}
    assert call["affectedResources"] == {"AWS::S3::Bucket": "finance-reports"}
    assert svc["additionalInfo"]["type"] == "default" and isinstance(svc["additionalInfo"]["value"], str)


def _policy_update(t: datetime, **params) -> dict:
    return record("UpdateAccountPasswordPolicy", "iam.amazonaws.com", time=t, params=params)


def test_password_policy_judged_against_the_previous_policy(scan_records) -> None:
    strong = dict(minimumPasswordLength=16, requireSymbols=True, requireNumbers=True, maxPasswordAge=90)
    t = START
    # strong -> slightly weaker (one setting) -> Low; -> same again: nothing; -> deleted: High
    records = [
        _policy_update(t, **strong),
        _policy_update(t.replace(minute=5), **{**strong, "minimumPasswordLength": 14}),
        _policy_update(t.replace(minute=10), **{**strong, "minimumPasswordLength": 14}),
    ]
    _, findings = scan_records(records)
    assert len(findings) == 1
    f = findings[0]
    assert f["type"] == "Stealth:IAMUser/PasswordPolicyChange" and f["severity"] == 2.0
    assert "minimum length 16 -> 14" in f["description"]


def test_password_policy_severity_grows_with_the_change(scan_records) -> None:
    strong = dict(minimumPasswordLength=16, requireSymbols=True, requireNumbers=True, requireUppercaseCharacters=True)
    _, findings = scan_records([_policy_update(START, **strong), _policy_update(START.replace(minute=1), minimumPasswordLength=6)])
    assert [f["severity"] for f in findings] == [8.0]
    _, findings = scan_records([_policy_update(START, **strong), _policy_update(START.replace(minute=1), **{**strong, "requireSymbols": False, "requireNumbers": False})])
    assert [f["severity"] for f in findings] == [5.0]
    deleted = record("DeleteAccountPasswordPolicy", "iam.amazonaws.com", time=START)
    _, findings = scan_records([deleted])
    assert [(f["type"], f["severity"]) for f in findings] == [("Stealth:IAMUser/PasswordPolicyChange", 8.0)]


def test_password_policy_state_survives_between_scans(tmp_path) -> None:
    from conftest import scan, write_cloudtrail

    db = tmp_path / "state.db"
    strong = dict(minimumPasswordLength=20, requireSymbols=True)
    scan([write_cloudtrail(tmp_path / "a.json.gz", [_policy_update(START, **strong)])], db=db)
    # Without the remembered policy, length 12 would be fine (AWS default is 8); with it, it is a weakening.
    _, store = scan([write_cloudtrail(tmp_path / "b.json.gz", [_policy_update(START.replace(hour=10), minimumPasswordLength=12, requireSymbols=True)])], db=db)
    assert [f["type"] for f in store.findings()] == ["Stealth:IAMUser/PasswordPolicyChange"]


def test_password_policy_outlives_a_year_and_an_upgrade(tmp_path) -> None:
    """The policy in force is remembered however long ago it was set, and a store written before keyed
    state was typed keeps it."""
    import sqlite3

    import msgspec
    from conftest import scan, write_cloudtrail

    from trailhound.store.database import Store

    db = tmp_path / "old.db"
    Store(db).close()
    con = sqlite3.connect(db)  # made a store of that time: untyped state, and not yet marked as a Trailhound store
    con.execute("PRAGMA application_id = 0")
    con.execute("DROP TABLE keyed_state")
    con.execute("DELETE FROM meta WHERE key = 'schema_version'")  # nor did it keep a schema version
    con.execute("CREATE TABLE detector_state (detector TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (detector, key))")
    con.execute("INSERT INTO detector_state VALUES ('password-policy-change', '111122223333', ?)",
                (msgspec.msgpack.encode({"minimumPasswordLength": 20, "requireSymbols": True}),))
    con.execute("INSERT INTO detector_state VALUES ('tor-relay', 'i-1|9001', ?)", (msgspec.msgpack.encode({"1.2.3.4": 1.0}),))
    con.commit()
    con.close()
    # the migrated row says nothing of when the policy was set (the old store did not keep it): it never expires
    _, store = scan([write_cloudtrail(tmp_path / "b.json.gz", [_policy_update(START, minimumPasswordLength=12, requireSymbols=True)])], db=db)
    assert [f["type"] for f in store.findings()] == ["Stealth:IAMUser/PasswordPolicyChange"]  # 20 -> 12
    assert not store.conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'detector_state'").fetchone()
