"""Usage metering: events and bytes per month, account and source, as GuardDuty bills them."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from conftest import scan, write_cloudtrail

from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import Case, dns_record, flow_row, record

JAN31 = datetime(2026, 1, 31, 23, 58, tzinfo=UTC)
FEB01 = datetime(2026, 2, 1, 0, 2, tzinfo=UTC)


def _usage(store) -> dict[tuple[str, str, str], int]:
    return {(u["month"], u["accountId"], u["source"]): u["events"] for u in store.usage()}


def test_every_source_metered_per_month_and_account(tmp_path: Path) -> None:
    ct = [record("DescribeInstances", "ec2.amazonaws.com", time=JAN31, account="111111111111"),
          record("GetObject", "s3.amazonaws.com", time=JAN31, account="111111111111", params={"bucketName": "b"}, data_event=True),
          record("DescribeInstances", "ec2.amazonaws.com", time=FEB01, account="222222222222")]
    f1 = write_cloudtrail(tmp_path / "ct.json.gz", ct)
    flows = [flow_row(JAN31, src="10.0.1.25", dst="52.94.236.248", sport=40000, dport=443),
             flow_row(FEB01, src="10.0.1.25", dst="52.94.236.248", sport=40001, dport=443),
             flow_row(FEB01, src="10.0.1.25", dst="52.94.236.248", sport=40002, dport=443, account="333333333333")]
    dns = [dns_record(JAN31, "example.com"), dns_record(FEB01, "example.org")]
    files = write_case_logs(tmp_path / "logs", [Case("f", None, flows, source="flow")] + [Case(f"d{i}", None, r, source="dns") for i, r in enumerate(dns)])
    report, store = scan([f1, *files])
    assert report.problems == []
    assert _usage(store) == {
        ("2026-01", "111111111111", "cloudtrail"): 1, ("2026-01", "111111111111", "s3data"): 1, ("2026-02", "222222222222", "cloudtrail"): 1,
        ("2026-01", "111122223333", "flow"): 1, ("2026-02", "111122223333", "flow"): 1, ("2026-02", "333333333333", "flow"): 1,
        ("2026-01", "111122223333", "dns"): 1, ("2026-02", "111122223333", "dns"): 1,
    }
    # bytes are the uncompressed log bytes, shared out per record
    flow_bytes = sum(u["bytes"] for u in store.usage() if u["source"] == "flow")
    raw = gzip.decompress(next(f for f in files if "vpcflowlogs" in str(f)).read_bytes())
    assert 0.9 * len(raw) <= flow_bytes <= len(raw)


def test_guardduty_price_estimate() -> None:
    from trailhound.pricing import estimate

    rows = [
        {"month": "2026-01", "accountId": "1", "source": "cloudtrail", "events": 2_500_000, "bytes": 0},
        {"month": "2026-01", "accountId": "1", "source": "s3data", "events": 600_000_000, "bytes": 0},
        {"month": "2026-01", "accountId": "1", "source": "flow", "events": 1, "bytes": 400 * 10**9},
        {"month": "2026-01", "accountId": "1", "source": "dns", "events": 1, "bytes": 200 * 10**9},
    ]
    [e] = estimate(rows)
    assert e["cloudtrail"] == 10.0  # $4 per million
    assert e["s3data"] == 500 * 0.80 + 100 * 0.40  # first 500M at $0.80/M, then $0.40/M
    assert e["flowDns"] == 500 * 1.00 + 100 * 0.50  # flow and DNS share one GB meter and its tiers
    assert e["total"] == 10.0 + 440.0 + 550.0


def test_usage_codes_of_each_batch_shape() -> None:
    """One account with management and S3 data events (per bucket), several accounts, and records naming their
    account only in the identity: every record under its own key, however the batch is told apart."""
    import msgspec
    import numpy as np

    from trailhound.events import ApiCall, Source
    from trailhound.metering import usage_codes

    def calls(rows: list[dict]) -> list[ApiCall]:
        return [msgspec.json.decode(msgspec.json.encode(r), type=ApiCall) for r in rows]

    def counted(events: list[ApiCall]) -> dict[tuple[str, Source, str], int]:
        keys, codes = usage_codes(events, np.array([e.event_time.timestamp() for e in events]))
        return {keys[i][1:]: int(n) for i, n in enumerate(np.bincount(codes, minlength=len(keys))) if n}

    acct, other = "111111111111", "222222222222"
    mgmt = record("DescribeInstances", "ec2.amazonaws.com", time=JAN31, account=acct)
    get_a = record("GetObject", "s3.amazonaws.com", time=JAN31, account=acct, params={"bucketName": "a"}, data_event=True)
    get_b = record("GetObject", "s3.amazonaws.com", time=JAN31, account=acct, params={"bucketName": "b"}, data_event=True)
    assert counted(calls([get_a, mgmt, get_b, get_a, mgmt])) == {
        (acct, Source.CLOUDTRAIL, ""): 2, (acct, Source.S3_DATA, "a"): 2, (acct, Source.S3_DATA, "b"): 1}
    assert counted(calls([get_a, get_b])) == {(acct, Source.S3_DATA, "a"): 1, (acct, Source.S3_DATA, "b"): 1}
    assert counted(calls([mgmt] * 3)) == {(acct, Source.CLOUDTRAIL, ""): 3}
    theirs = record("DescribeInstances", "ec2.amazonaws.com", time=JAN31, account=other)
    unnamed = {**record("DescribeInstances", "ec2.amazonaws.com", time=JAN31, account=other), "recipientAccountId": None}
    assert counted(calls([mgmt, theirs, get_a, unnamed])) == {
        (acct, Source.CLOUDTRAIL, ""): 1, (other, Source.CLOUDTRAIL, ""): 2, (acct, Source.S3_DATA, "a"): 1}
