"""Every shape each log format travels in, decoded into the right fields, on synthetic and real files."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
from conftest import scan

from trailhound.simulator.records import iam_user, record
from trailhound.events import FLOW_COLUMNS, DnsQuery, Source
from trailhound.formats import Kind, parse, sniff
from trailhound.sources.files import peek, read
from trailhound.timeline import plan

T0 = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
ACCOUNT = "111122223333"


def _records() -> list[dict[str, Any]]:
    """Five management events, deliberately out of time order (as CloudTrail files are)."""
    minutes = [7, 1, 4, 0, 9]
    names = ["DescribeInstances", "ListBuckets", "GetUser", "CreateUser", "StopLogging"]
    sources = ["ec2.amazonaws.com", "s3.amazonaws.com", "iam.amazonaws.com", "iam.amazonaws.com", "cloudtrail.amazonaws.com"]
    return [
        record(n, s, time=T0 + timedelta(minutes=m), params={"index": i}, ip=f"192.0.2.{10 + i}")
        for i, (m, n, s) in enumerate(zip(minutes, names, sources))
    ]


def _envelope(rec: dict[str, Any], detail_type: str = "AWS API Call via CloudTrail") -> dict[str, Any]:
    return {
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type,
        "source": "aws." + rec["eventSource"].split(".")[0], "account": ACCOUNT, "time": rec["eventTime"],
        "region": "us-east-1", "resources": [], "detail": rec,
    }


def _check_ct(parsed, records: list[dict[str, Any]]) -> None:
    """Parsed is exactly `records`, sorted by event time, with times matching events."""
    assert parsed.kind is Kind.CLOUDTRAIL
    assert parsed.problems == [] and not parsed.fatal
    assert parsed.records_read == len(records)
    expected = sorted(records, key=lambda r: r["eventTime"])
    assert [e.event_id for e in parsed.events] == [r["eventID"] for r in expected]
    assert [e.event_name for e in parsed.events] == [r["eventName"] for r in expected]
    assert parsed.times.tolist() == [e.event_time.timestamp() for e in parsed.events]
    assert np.all(np.diff(parsed.times) >= 0)


# ---- CloudTrail shapes ------------------------------------------------------------------------

def test_cloudtrail_records_object_plain_and_gzipped(tmp_path: Path) -> None:
    recs = _records()
    body = json.dumps({"Records": recs}).encode()
    plain = tmp_path / "plain.json"
    plain.write_bytes(body)
    gz = tmp_path / "trail.json.gz"
    gz.write_bytes(gzip.compress(body))
    for f in (plain, gz):
        raw = read(f)
        assert raw.error is None and raw.data == body
        _check_ct(parse(f, raw.data), recs)
    # pretty-printed S3 delivery as well
    _check_ct(parse(plain, json.dumps({"Records": recs}, indent=2).encode()), recs)


def test_cloudtrail_json_array(tmp_path: Path) -> None:
    recs = _records()
    f = tmp_path / "detonation.json.gz"
    f.write_bytes(gzip.compress(json.dumps(recs, indent=2).encode()))
    assert sniff(f, peek(f)) is Kind.CLOUDTRAIL
    _check_ct(parse(f, read(f).data), recs)


def test_cloudtrail_newline_delimited(tmp_path: Path) -> None:
    recs = _records()
    body = ("\n".join(json.dumps(r) for r in recs) + "\n").encode()
    _check_ct(parse(tmp_path / "x.jsonl", body), recs)
    # CRLF line ends and blank lines in between are fine too
    _check_ct(parse(tmp_path / "x.jsonl", body.replace(b"\n", b"\r\n\r\n")), recs)


def test_cloudtrail_single_pretty_printed_record(tmp_path: Path) -> None:
    rec = _records()[2]
    _check_ct(parse(tmp_path / "one.json", json.dumps(rec, indent=4).encode()), [rec])


def test_eventbridge_envelopes(tmp_path: Path) -> None:
    recs = _records()
    lines = [json.dumps(_envelope(r)) for r in recs]
    parsed = parse(tmp_path / "eb.jsonl", "\n".join(lines).encode())
    _check_ct(parsed, recs)
    # console sign-in events travel as "AWS Console Sign In via CloudTrail"
    signin = record("ConsoleLogin", "signin.amazonaws.com", time=T0)
    parsed = parse(tmp_path / "eb.jsonl", json.dumps(_envelope(signin, "AWS Console Sign In via CloudTrail"), indent=2).encode())
    _check_ct(parsed, [signin])


def test_eventbridge_non_cloudtrail_detail_type_is_a_problem(tmp_path: Path) -> None:
    recs = _records()
    other = {
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2", "account": ACCOUNT, "time": "2025-03-14T15:02:00Z", "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:111122223333:instance/i-abcd1111"],
        "detail": {"instance-id": "i-abcd1111", "state": "pending"},
    }
    lines = [json.dumps(_envelope(r)) for r in recs[:2]] + [json.dumps(other)] + [json.dumps(_envelope(r)) for r in recs[2:]]
    path = tmp_path / "eb.jsonl"
    parsed = parse(path, "\n".join(lines).encode())
    assert parsed.kind is Kind.CLOUDTRAIL and not parsed.fatal
    assert sorted(e.event_id for e in parsed.events) == sorted(r["eventID"] for r in recs)
    assert parsed.records_read == 6
    [p] = parsed.problems
    assert p.line == 3 and p.path == str(path)
    assert "EC2 Instance State-change Notification" in p.message and "not a CloudTrail record" in p.message
    assert str(p).startswith(f"{path}:3: ")


def test_cloudtrail_digest_file_is_recognised_and_yields_nothing(tmp_path: Path) -> None:
    digest = {
        "awsAccountId": ACCOUNT, "digestStartTime": "2025-03-14T14:00:00Z", "digestEndTime": "2025-03-14T15:00:00Z",
        "digestS3Bucket": "org-trail", "digestS3Object": f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2025/03/14/x.json.gz",
        "digestPublicKeyFingerprint": "4ff4c8e2a1b2c3d4e5f60718293a4b5c", "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": "2025-03-14T14:59:58Z", "oldestEventTime": "2025-03-14T13:55:01Z",
        "previousDigestS3Bucket": "org-trail", "previousDigestS3Object": "AWSLogs/x/prev.json.gz",
        "previousDigestHashValue": "a" * 64, "previousDigestHashAlgorithm": "SHA-256", "previousDigestSignature": "b" * 64,
        "logFiles": [{"s3Bucket": "org-trail", "s3Object": f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2025/03/14/y.json.gz",
                      "hashValue": "c" * 64, "hashAlgorithm": "SHA-256", "newestEventTime": "2025-03-14T14:59:58Z",
                      "oldestEventTime": "2025-03-14T14:55:01Z"}],
    }
    f = tmp_path / "logs" / f"{ACCOUNT}_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20250314T150000Z.json.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress(json.dumps(digest).encode()))
    assert sniff(f, peek(f)) is Kind.DIGEST
    parsed = parse(f, read(f).data)
    assert parsed.kind is Kind.DIGEST and len(parsed) == 0 and parsed.problems == [] and not parsed.fatal
    # through a whole scan, next to a real trail file: counted as a digest, no events, no problem
    (f.parent / "trail.json").write_text(json.dumps({"Records": _records()}))
    report, store = scan([f.parent])
    assert report.files_digest == 1 and report.files_quarantined == 0
    assert report.problems == [] and store.quarantined() == []
    assert report.events_total == 5


def test_api_call_field_decoding(tmp_path: Path) -> None:
    alice = iam_user(ACCOUNT, "alice")
    failed = record("StopLogging", "cloudtrail.amazonaws.com", time=T0, identity=alice, ip="203.0.113.9",
                    params={"name": "org-trail", "nested": {"a": [1, 2]}}, error_code="AccessDenied")
    data_event = record("GetObject", "s3.amazonaws.com", time=T0 + timedelta(seconds=5), identity=alice,
                        params={"bucketName": "finance", "key": "q3.xlsx"}, data_event=True)
    role = {"type": "AssumedRole", "principalId": "AROAEXAMPLEROLE:i-0123456789abcdef0",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/web-role/i-0123456789abcdef0", "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLESESSION01",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLE",
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role/web-role", "accountId": ACCOUNT,
                                                 "userName": "web-role"},
                               "attributes": {"creationDate": "2025-03-14T14:00:00Z", "mfaAuthenticated": "false"},
                               "ec2RoleDelivery": "2.0"}}
    assumed = record("DescribeInstances", "ec2.amazonaws.com", time=T0 + timedelta(seconds=9), identity=role, params=None)
    parsed = parse(tmp_path / "t.json", json.dumps({"Records": [assumed, failed, data_event]}).encode())
    e1, e2, e3 = parsed.events
    assert (e1.event_name, e2.event_name, e3.event_name) == ("StopLogging", "GetObject", "DescribeInstances")

    assert e1.source_ip == "203.0.113.9" and e1.event_source == "cloudtrail.amazonaws.com" and e1.aws_region == "us-east-1"
    assert e1.user_identity.type == "IAMUser"
    assert e1.user_identity.arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert e1.user_identity.access_key_id == alice["accessKeyId"] and e1.user_identity.name == "alice"
    assert e1.error_code == "AccessDenied" and not e1.succeeded and e1.error_message == "AccessDenied (simulated)"
    assert e1.event_time == T0 and e1.account_id == ACCOUNT and e1.event_id == failed["eventID"]
    # request parameters stay raw JSON until asked for
    assert isinstance(e1.request_parameters, msgspec.Raw)
    assert json.loads(bytes(e1.request_parameters)) == failed["requestParameters"]
    assert e1.params() == {"name": "org-trail", "nested": {"a": [1, 2]}}
    assert e1.response() == {}  # responseElements: null
    assert e1.event_category == "Management" and not e1.is_s3_data_event and e1.source is Source.CLOUDTRAIL

    assert e2.event_category == "Data" and e2.is_s3_data_event and e2.source is Source.S3_DATA and e2.succeeded
    assert e2.params() == {"bucketName": "finance", "key": "q3.xlsx"}

    assert e3.params() == {}  # requestParameters: null
    ident = e3.user_identity
    assert ident.type == "AssumedRole" and ident.access_key_id == "ASIAEXAMPLESESSION01"
    assert ident.principal_id == "AROAEXAMPLEROLE:i-0123456789abcdef0"
    assert ident.session_context.session_issuer.arn == f"arn:aws:iam::{ACCOUNT}:role/web-role"
    assert ident.session_context.ec2_role_delivery == "2.0" and ident.name == "web-role"


def test_missing_optional_fields_default() -> None:
    parsed = parse(Path("m.json"), b'{"Records":[{"eventTime":"2025-03-14T15:00:00Z","eventName":"GetCallerIdentity"}]}')
    [e] = parsed.events
    assert e.event_source == "" and e.source_ip is None and e.user_identity.type is None
    assert e.params() == {} and e.account_id == "000000000000" and e.source is Source.CLOUDTRAIL


def _json_records(f: Path) -> list[dict[str, Any]]:
    doc = json.loads(gzip.decompress(f.read_bytes()))
    return doc["Records"] if isinstance(doc, dict) else doc


def test_stratus_corpus_every_file(shared_data: Path) -> None:
    files = sorted((shared_data / "stratus-red-team-detonation-logs").glob("*.json.gz"))
    assert len(files) == 35
    total = 0
    for f in files:
        assert sniff(f, peek(f)) is Kind.CLOUDTRAIL, f.name
        parsed = parse(f, read(f).data)
        assert parsed.problems == [], f.name
        expected = _json_records(f)
        assert len(parsed) == len(expected), f.name
        assert np.all(np.diff(parsed.times) >= 0), f.name
        assert sorted(e.event_name for e in parsed.events) == sorted(r["eventName"] for r in expected)
        total += len(parsed)
    assert total == 310


def test_invictus_corpus_fields_match_the_json(shared_data: Path) -> None:
    files = sorted((shared_data / "invictus-aws-dataset" / "CloudTrail").iterdir())
    assert len(files) == 55
    total = 0
    for f in files:
        parsed = parse(f, read(f).data)
        assert parsed.kind is Kind.CLOUDTRAIL and parsed.problems == [], f.name
        expected = {r["eventID"]: r for r in _json_records(f)}
        assert len(parsed) == len(expected)
        assert np.all(np.diff(parsed.times) >= 0)
        for e in parsed.events:
            r = expected[e.event_id]
            ui = r["userIdentity"]
            assert e.event_name == r["eventName"] and e.event_source == r["eventSource"]
            assert e.event_time == datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00"))
            assert e.source_ip == r.get("sourceIPAddress") and e.error_code == r.get("errorCode")
            assert e.user_identity.type == ui.get("type") and e.user_identity.arn == ui.get("arn")
            assert e.user_identity.access_key_id == ui.get("accessKeyId")
            assert e.event_category == r.get("eventCategory") and e.recipient_account_id == r.get("recipientAccountId")
            assert e.params() == (r.get("requestParameters") or {})
        total += len(parsed)
    assert total == 2900


# ---- VPC flow logs ------------------------------------------------------------------------------

V2_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
V2_LINES = [
    "2 123456789010 eni-0a1b2c3d 10.0.1.5 198.51.100.7 49152 443 6 20 4249 1700000100 1700000160 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d 198.51.100.7 10.0.1.5 443 49152 6 18 30211 1700000040 1700000100 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d - - - - - - - 1700000000 1700000060 - NODATA",
    "2 123456789010 eni-0a1b2c3d 203.0.113.12 10.0.1.5 0 0 1 4 336 1700000070 1700000130 REJECT OK",
    "2 123456789010 eni-0ffff000 - - - - - - - 1700000000 1700000060 - SKIPDATA",
]


def _flow(parsed) -> pl.DataFrame:
    assert parsed.kind is Kind.FLOW
    df = parsed.events
    assert df.schema == pl.Schema(FLOW_COLUMNS)
    assert df["start"].to_list() == sorted(df["start"].to_list())
    assert parsed.times.tolist() == [float(s) for s in df["start"]]
    return df


def test_flow_default_v2_with_header(tmp_path: Path) -> None:
    body = (V2_HEADER + "\n" + "\n".join(V2_LINES) + "\n").encode()
    parsed = parse(tmp_path / "flow.log", body)
    df = _flow(parsed)
    assert parsed.problems == [] and parsed.records_read == 5 and df.height == 3  # NODATA and SKIPDATA dropped
    assert df["srcaddr"].to_list() == ["198.51.100.7", "203.0.113.12", "10.0.1.5"]
    first = df.row(0, named=True)
    assert first["version"] == 2 and first["account_id"] == "123456789010" and first["interface_id"] == "eni-0a1b2c3d"
    assert (first["dstaddr"], first["srcport"], first["dstport"], first["protocol"]) == ("10.0.1.5", 443, 49152, 6)
    assert (first["packets"], first["bytes"], first["start"], first["end"]) == (18, 30211, 1700000040, 1700000100)
    assert first["action"] == "ACCEPT" and first["log_status"] == "OK"
    # fields the v2 format does not carry are present and null
    assert df["instance_id"].null_count() == 3 and df["tcp_flags"].null_count() == 3 and df["reject_reason"].null_count() == 3
    assert set(df["log_status"]) == {"OK"}


def test_flow_headerless_v2_is_the_default_format(tmp_path: Path) -> None:
    with_header = parse(tmp_path / "a.log", (V2_HEADER + "\n" + "\n".join(V2_LINES)).encode())
    headerless = parse(tmp_path / "b.log", "\n".join(V2_LINES).encode())
    assert headerless.problems == [] and headerless.records_read == 5
    assert _flow(headerless).equals(_flow(with_header))


def test_flow_custom_v5_header_in_another_order(tmp_path: Path) -> None:
    header = ("instance-id flow-direction bytes srcaddr version dstport interface-id pkt-src-aws-service account-id "
              "start end srcport dstaddr protocol packets action log-status tcp-flags traffic-path vpc-id pkt-dst-aws-service")
    lines = [
        "i-0a1b2c3d4e5f60718 ingress 5120 52.95.110.1 5 8443 eni-0aaa1111 S3 123456789010 1700000300 1700000360 443 10.0.1.5 6 12 ACCEPT OK 19 - vpc-0abc -",
        "- egress 77 10.0.1.5 5 53 eni-0bbb2222 - 123456789010 1700000200 1700000260 51000 10.0.0.2 17 1 ACCEPT OK - 2 vpc-0abc -",
        "i-0a1b2c3d4e5f60718 - - - 5 - eni-0aaa1111 - 123456789010 1700000100 1700000160 - - - - - NODATA - - vpc-0abc -",
    ]
    parsed = parse(tmp_path / "custom.log.gz", (header + "\n" + "\n".join(lines) + "\n").encode())
    df = _flow(parsed)
    assert parsed.problems == [] and parsed.records_read == 3 and df.height == 2
    dns, s3 = df.rows(named=True)
    assert (s3["srcaddr"], s3["dstaddr"], s3["srcport"], s3["dstport"]) == ("52.95.110.1", "10.0.1.5", 443, 8443)
    assert (s3["bytes"], s3["packets"], s3["protocol"], s3["start"], s3["end"]) == (5120, 12, 6, 1700000300, 1700000360)
    assert s3["instance_id"] == "i-0a1b2c3d4e5f60718" and s3["interface_id"] == "eni-0aaa1111" and s3["vpc_id"] == "vpc-0abc"
    assert (s3["flow_direction"], s3["pkt_src_aws_service"], s3["pkt_dst_aws_service"]) == ("ingress", "S3", None)
    assert (s3["tcp_flags"], s3["traffic_path"], s3["version"]) == (19, None, 5)
    assert (dns["srcaddr"], dns["dstport"], dns["bytes"], dns["instance_id"]) == ("10.0.1.5", 53, 77, None)
    assert (dns["tcp_flags"], dns["traffic_path"], dns["pkt_src_aws_service"]) == (None, 2, None)
    assert df["subnet_id"].null_count() == 2  # not in this format


def test_flow_headers_that_cannot_be_used_are_problems_not_crashes(tmp_path: Path) -> None:
    row = V2_LINES[0].split()
    # a header without `start`: its records have no time, so none can be an event; say so
    parsed = parse(tmp_path / "f.log", b"\nversion srcaddr dstaddr action\n2 10.0.0.1 10.0.0.2 ACCEPT\n")
    assert _flow(parsed).height == 0 and parsed.fatal
    [p] = parsed.problems
    assert p.line == 2 and "start" in p.message
    # a header naming a field twice would shift every later column: not taken as a header
    parsed = parse(tmp_path / "g.log", f"version srcaddr srcaddr start\n2 {row[3]} {row[4]} {row[10]}\n".encode())
    assert _flow(parsed).height == 0 and [p.line for p in parsed.problems] == [1, 2]
    # numbers a column cannot hold, or digits that are not ASCII, are bad lines, not a crash
    lines = [V2_HEADER, V2_LINES[0], V2_LINES[1].replace(" 30211 ", " 99999999999999999999 "), V2_LINES[3].replace(" 203.0.113.12 10.0.1.5 0 ", " 203.0.113.12 10.0.1.5 \u0664 ")]
    parsed = parse(tmp_path / "h.log", "\n".join(lines).encode())
    assert _flow(parsed).height == 1
    assert sorted((p.line, p.field) for p in parsed.problems) == [(3, "bytes"), (4, "srcport")]


ELASTIC = "elastic-integrations-aws-format-samples"


def test_elastic_extra_samples(shared_data: Path) -> None:
    f = shared_data / ELASTIC / "vpcflow" / "test-extra-samples.log"
    lines = f.read_text().splitlines()
    traffic = [ln.split() for ln in lines if ln.split()[13] not in ("NODATA", "SKIPDATA")]
    assert len(lines) == 7 and len(traffic) == 5
    assert sniff(f, peek(f)) is Kind.FLOW
    parsed = parse(f, read(f).data)
    df = _flow(parsed)
    assert parsed.problems == [] and parsed.records_read == len(lines) and df.height == len(traffic)
    assert sorted(zip(df["srcaddr"], df["dstport"], df["bytes"], df["action"])) == sorted(
        (t[3], int(t[6]), int(t[9]), t[12]) for t in traffic)
    # line 1: IPv6 SSH; line 5: RDP rejected
    v6 = df.filter(pl.col("srcaddr") == "2001:db8:1234:a100:8d6e:3477:df66:f105").row(0, named=True)
    assert (v6["dstaddr"], v6["srcport"], v6["dstport"], v6["packets"], v6["bytes"]) == (
        "2001:db8:1234:a102:3304:8879:34cf:4071", 34892, 22, 54, 8855)
    rdp = df.filter(pl.col("dstport") == 3389).row(0, named=True)
    assert (rdp["srcaddr"], rdp["srcport"], rdp["action"], rdp["start"]) == ("78.24.182.42", 49761, "REJECT", 1418530010)
    assert df.filter(pl.col("protocol") == 1).height == 2  # ICMP rows


def test_elastic_tcp_flag_sequence_with_repeated_headers(shared_data: Path) -> None:
    f = shared_data / ELASTIC / "vpcflow" / "test-tcp-flag-sequence.log"
    lines = f.read_text().splitlines()
    headers = [ln for ln in lines if ln.startswith("version ")]
    assert len(headers) == 3
    parsed = parse(f, read(f).data)
    df = _flow(parsed)
    assert parsed.problems == [] and parsed.records_read == len(lines) - len(headers)
    [row] = df.rows(named=True)  # the SKIPDATA and NODATA rows are dropped
    # header order here is "... protocol bytes packets ...": values must not be swapped
    assert (row["bytes"], row["packets"], row["tcp_flags"]) == (568, 8, 2)
    assert (row["srcaddr"], row["dstport"], row["instance_id"], row["vpc_id"]) == (
        "52.213.180.42", 5001, "i-01234567890123456", "vpc-abcdefab012345678")
    assert (row["type"], row["pkt_srcaddr"], row["subnet_id"]) == ("IPv4", "52.213.180.42", "subnet-aaaaaaaa012345678")


def test_elastic_v5_all_fields_without_trailing_newline(shared_data: Path) -> None:
    f = shared_data / ELASTIC / "vpcflow" / "test-v5-all-fields.log"
    data = read(f).data
    assert not data.endswith(b"\n")
    tokens = data.decode().split()
    assert len(tokens) == 29
    # Elastic's sample has a start of 164000066 (1975: a digit lost from 1640000066): not a real event time
    bad = parse(f, data)
    assert [(p.line, p.field) for p in bad.problems] == [(1, "start")] and _flow(bad).height == 0
    parsed = parse(f, data.replace(b" 164000066 ", b" 1640000066 "))
    [row] = _flow(parsed).rows(named=True)
    assert parsed.problems == [] and parsed.records_read == 1
    assert (row["version"], row["srcaddr"], row["dstport"], row["bytes"]) == (5, tokens[3], int(tokens[6]), int(tokens[9]))
    assert (row["srcaddr"], row["dstport"], row["bytes"], row["instance_id"]) == ("89.160.20.156", 33004, 1, "i-0axxxxxx1ad77")
    assert (row["region"], row["az_id"], row["sublocation_type"], row["sublocation_id"]) == ("us-east-1", "use1-az5", None, None)
    assert (row["pkt_src_aws_service"], row["pkt_dst_aws_service"], row["flow_direction"], row["traffic_path"]) == (
        "AMAZON", "CLOUDFRONT", "ingress", 1)
    assert row["ecs_cluster_name"] is None and row["reject_reason"] is None


def test_elastic_v8_forty_fields(shared_data: Path) -> None:
    f = shared_data / ELASTIC / "vpcflow" / "test-v8-samples.log"
    data = read(f).data
    tokens = data.decode().split()
    assert len(tokens) == 40 and tokens[13] == "NODATA"
    parsed = parse(f, data)
    assert parsed.problems == [] and parsed.records_read == 1
    assert _flow(parsed).height == 0  # its log-status is NODATA: no event
    # the same line with a traffic status shows where each of the 40 fields lands
    parsed = parse(f, data.replace(b" NODATA ", b" OK "))
    [row] = _flow(parsed).rows(named=True)
    assert (row["srcaddr"], row["dstaddr"], row["dstport"], row["bytes"], row["action"]) == ("2a02:cf40::", "1.128.0.0", 80, 33615, "REJECT")
    assert row["interface_id"] is None and row["vpc_id"] is None and row["flow_direction"] == "ingress"
    assert row["ecs_cluster_name"] == "backend-cluster" and row["ecs_service_name"] == "payments-service"
    assert row["ecs_container_instance_id"] == "i-18de3682c033431da" and row["ecs_task_id"] == "e504f037-35c"
    assert row["ecs_task_definition_arn"] == "arn:aws:ecs:us-east-1:000000000000:task-definition/orders:12"
    assert row["reject_reason"] == tokens[39] == "BPA"


# ---- Route 53 Resolver query logs ---------------------------------------------------------------

def test_route53_elastic_subset(shared_data: Path) -> None:
    f = shared_data / ELASTIC / "route53_resolver" / "test-route53-subset.log"
    raw_lines = [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()]
    assert len(raw_lines) == 8
    assert sniff(f, peek(f)) is Kind.DNS
    parsed = parse(f, read(f).data)
    assert parsed.kind is Kind.DNS and parsed.problems == [] and parsed.records_read == 8 and len(parsed) == 8
    events: list[DnsQuery] = parsed.events
    assert [e.query_timestamp for e in events] == sorted(e.query_timestamp for e in events)
    assert parsed.times.tolist() == [e.query_timestamp.timestamp() for e in events]
    by_key = {(r["query_name"], r["srcport"]): r for r in raw_lines}
    for e in events:
        r = by_key[(e.query_name, e.srcport)]
        assert (e.rcode, e.query_type, e.account_id, e.vpc_id, e.srcaddr) == (r["rcode"], r["query_type"], r["account_id"], r["vpc_id"], r["srcaddr"])
        assert [(a.rdata, a.type, a.klass) for a in e.answers] == [(a["Rdata"], a["Type"], a["Class"]) for a in r["answers"]]
        assert e.srcids.instance == r.get("srcids", {}).get("instance")
        assert e.firewall_rule_action == r.get("firewall_rule_action")
    # the DNS Firewall record has its keys in another order and is the earliest
    block = events[0]
    assert block.firewall_rule_action == "BLOCK" and block.srcids.instance == "i-0d15cd0d3example"
    assert (block.query_name, block.account_id, block.query_timestamp) == (
        "15.199.16.175.in-addr.arpa.", "111122223333", datetime(2021, 2, 4, 17, 51, 55, tzinfo=UTC))
    nx = [e.query_name for e in events if e.rcode == "NXDOMAIN"]
    assert nx == ["does-not-exist.abc.com.", "__cloud_init_expected_not_found__."]
    cname = next(e for e in events if e.query_name == "abcd.example.com.")
    assert [(a.type, a.rdata) for a in cname.answers] == [("CNAME", "test.example.com."), ("A", "1.128.3.4")]


# ---- sniffing: content wins over the name --------------------------------------------------------

def test_content_wins_over_name(tmp_path: Path) -> None:
    recs = _records()
    ct_log = tmp_path / "cloudtrail-export.log"
    ct_log.write_text("\n".join(json.dumps(r) for r in recs))
    flow_json = tmp_path / "flows.json.gz"
    flow_json.write_bytes(gzip.compress((V2_HEADER + "\n" + "\n".join(V2_LINES) + "\n").encode()))
    dns_csv = tmp_path / "resolver.csv"
    dns_csv.write_bytes(
        b'{"version":"1.100000","account_id":"1","region":"us-east-1","vpc_id":"vpc-1","query_timestamp":"2025-03-14T15:00:00Z",'
        b'"query_name":"example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[],"srcaddr":"10.0.0.9",'
        b'"srcport":"5353","transport":"UDP","srcids":{"instance":"i-0123456789abcdef0"}}\n')
    ct_txt_gz = tmp_path / "notes.txt.gz"
    ct_txt_gz.write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    flow_headerless_json = tmp_path / "data.json"
    flow_headerless_json.write_text("\n".join(V2_LINES) + "\n")
    expected = {ct_log: Kind.CLOUDTRAIL, flow_json: Kind.FLOW, dns_csv: Kind.DNS, ct_txt_gz: Kind.CLOUDTRAIL,
                flow_headerless_json: Kind.FLOW}
    for f, kind in expected.items():
        assert sniff(f, peek(f)) is kind, f.name
    pending, others = plan(list(expected))
    assert others == [] and {p.path: p.kind for p in pending} == expected
    report, _ = scan([tmp_path])
    assert report.problems == []
    assert report.events["cloudtrail"] == 10 and report.events["flow"] == 6 and report.events["dns"] == 1
    # a non-log name is not sniffed at all
    readme = tmp_path / "README.md"
    readme.write_text(json.dumps({"Records": recs}))
    assert sniff(readme, peek(readme)) is Kind.NOT_LOG


def test_concatenated_pretty_records_and_nested_detail_type(tmp_path: Path) -> None:
    """`jq '.Records[]'` output (pretty records one after another) is read record by record, and a
    plain record that mentions "detail-type" inside its parameters is not mistaken for an envelope."""
    from trailhound.formats import parse as parse_any

    t = datetime(2026, 3, 1, tzinfo=UTC)
    recs = [record("StopLogging", "cloudtrail.amazonaws.com", time=t + timedelta(minutes=i), params={"name": f"t{i}"}) for i in range(3)]
    pretty = "\n".join(json.dumps(r, indent=2) for r in recs).encode()
    parsed = parse_any(tmp_path / "jq.json", pretty)
    assert parsed.problems == [] and [e.params()["name"] for e in parsed.events] == ["t0", "t1", "t2"]
    nested = record("PutRule", "events.amazonaws.com", time=t, params={"eventPattern": '{"detail-type": ["x"]}'})
    lines = (json.dumps(nested) + "\n" + json.dumps(recs[0]) + "\n").encode()
    parsed = parse_any(tmp_path / "nd.json", lines)
    assert parsed.problems == [] and [e.event_name for e in parsed.events] == ["PutRule", "StopLogging"]
