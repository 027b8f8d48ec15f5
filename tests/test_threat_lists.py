"""Custom threat lists raise MaliciousIPCaller.Custom findings; trusted lists suppress before generation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from trailhound.detectors.api_caller_intel import cases as api_caller_cases
from trailhound.simulator.records import ATTACKER_IP, TRUSTED_IP, iam_user, record
from trailhound.intel.formats import load_list
from trailhound.intel.index import Category, IntelIndex

T0 = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


def _lists(tmp_path: Path) -> dict:
    threat = tmp_path / "threats.txt"
    threat.write_text(f"# attacker infrastructure\n{ATTACKER_IP}\n89.160.21.128/25\n10.9.0.0/16\n")
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(f"{TRUSTED_IP}\n")
    return {"threat_lists": [threat], "trusted_lists": [trusted]}


def test_txt_list_parses_ips_cidrs_and_reports_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "list.txt"
    f.write_text("# comment\n10.0.0.1\n10.1.0.0/16  # inline comment\nnot-an-ip\n2001:db8::/32\n\n300.1.1.1\n")
    load = load_list(f)
    assert load.entries == 3
    assert [(p.line, "not an IP" in p.message) for p in load.problems] == [(4, True), (7, True)]
    index = IntelIndex()
    index.add(load, Category.CUSTOM)  # an operator's list is taken as written: private ranges match too

    def names(ip: str) -> list[str]:
        return [h.list_name for h in index.ip(ip)]

    assert names("10.0.0.1") == ["list"]
    assert names("10.1.255.7") == ["list"]
    assert names("10.2.0.1") == []
    assert names("2001:db8:1::5") == ["list"]
    assert names("2001:db9::5") == []
    assert names("255.090.254.5") == []  # anonymised garbage in real logs must not crash


def test_public_only_list_drops_private_and_reserved_entries(tmp_path: Path) -> None:
    # how the pipeline adds threat and trusted lists: GuardDuty applies them to public addresses only
    f = tmp_path / "list.txt"
    f.write_text("10.0.0.1\n10.1.0.0/16\n2001:db8::/32\n89.160.21.128/25\n2a00:1450::/32\n")
    index = IntelIndex()
    index.add(load_list(f), Category.CUSTOM, public_only=True)
    info = index.lists()["list"]
    assert (info.ips, info.dropped_non_public) == (2, 3)
    assert index.ip("10.0.0.1") == () and index.ip("2001:db8::1") == ()
    assert [h.list_name for h in index.ip("89.160.21.200")] == ["list"]
    assert [h.list_name for h in index.ip("2a00:1450::5")] == ["list"]


def test_recon_and_unauthorized_access_from_listed_ip(scan_records, tmp_path: Path) -> None:
    cases = [c for c in api_caller_cases(T0) if c.name in ("threat-ip-recon", "threat-ip-write")]
    _, findings = scan_records([c.record for c in cases], **_lists(tmp_path))
    assert sorted(f["type"] for f in findings) == sorted(c.expect for c in cases if c.expect)
    for f in findings:
        assert f["service"]["evidence"]["threatIntelligenceDetails"][0]["threatListName"] == "threats"
        assert '"threatListName":"threats"' in f["service"]["additionalInfo"]["value"]


def test_cidr_entry_matches(scan_records, tmp_path: Path) -> None:
    rec = record("DescribeInstances", "ec2.amazonaws.com", time=T0, ip="89.160.21.200")
    _, findings = scan_records([rec], **_lists(tmp_path))
    assert [f["type"] for f in findings] == ["Recon:IAMUser/MaliciousIPCaller.Custom"]
    near = record("DescribeInstances", "ec2.amazonaws.com", time=T0, ip="89.160.21.100")
    _, findings = scan_records([near], **_lists(tmp_path))
    assert findings == []


def test_trusted_ip_suppresses_and_wins_over_threat_list(scan_records, tmp_path: Path) -> None:
    lists = _lists(tmp_path)
    lists["threat_lists"][0].write_text(f"{ATTACKER_IP}\n{TRUSTED_IP}\n")
    stop = record("StopLogging", "cloudtrail.amazonaws.com", time=T0, ip=TRUSTED_IP, identity=iam_user("111122223333", "ops"), params={"name": "t"})
    listed = record("CreateUser", "iam.amazonaws.com", time=T0, ip=TRUSTED_IP)
    report, findings = scan_records([stop, listed], **lists)
    assert findings == []
    assert report.suppressed_trusted == 3  # StopLogging twice (rule + threat list), CreateUser once
    # the same StopLogging from an address that is not trusted does fire
    _, findings = scan_records([{**stop, "sourceIPAddress": "192.0.2.1"}], **lists)
    assert [f["type"] for f in findings] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]


def test_trusted_list_ignores_private_addresses(scan_records, tmp_path: Path) -> None:
    lists = _lists(tmp_path)
    lists["trusted_lists"][0].write_text("10.0.0.0/8\n")
    stop = record("StopLogging", "cloudtrail.amazonaws.com", time=T0, ip="10.1.2.3", params={"name": "t"})
    _, findings = scan_records([stop], **lists)
    assert [f["type"] for f in findings] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]


def test_private_address_on_a_threat_list_is_ignored(scan_records, tmp_path: Path) -> None:
    # lists apply to publicly routable addresses only: 10.9.0.0/16 on the list matches nothing
    rec = record("DescribeInstances", "ec2.amazonaws.com", time=T0, ip="10.9.1.1")
    _, findings = scan_records([rec], **_lists(tmp_path))
    assert findings == []
