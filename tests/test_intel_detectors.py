"""Every threat-intelligence finding type fires on its case and stays silent on its near miss."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import scan

from trailhound.detectors import api_caller_intel, dns_intel, flow_intel, port_probe, tor_relay
from trailhound.simulator.attack_day import add_attack_instances, write_case_logs, write_custom_lists
from trailhound.simulator.records import Case, flow_row, packaged_indicators

START = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)
CASES = [c for module in (api_caller_intel, flow_intel, dns_intel, port_probe, tor_relay) for c in module.cases(START)]


def _scan_case(case: Case, tmp_path: Path, **settings):
    threat, trusted = write_custom_lists(tmp_path / "lists")
    files = write_case_logs(tmp_path / "logs", [case])
    report, store = scan(files, threat_lists=[threat], trusted_lists=[trusted], **settings)
    assert report.problems == []
    return report, list(store.findings())


@pytest.mark.parametrize("case", [c for c in CASES if c.expect], ids=[c.name for c in CASES if c.expect])
def test_threat_intel_findings_name_their_list(case: Case, tmp_path: Path) -> None:
    _, findings = _scan_case(case, tmp_path)
    for f in findings:
        if f["type"] not in ("UnauthorizedAccess:EC2/MetadataDNSRebind",):
            assert f["service"]["evidence"]["threatIntelligenceDetails"][0]["threatListName"], "threat-intel findings name their list"
            assert '"threatListName"' in f["service"]["additionalInfo"]["value"]


def test_custom_cases_need_the_custom_list(tmp_path: Path) -> None:
    for case in [c for c in CASES if c.needs_custom_list]:
        files = write_case_logs(tmp_path / case.name, [case])
        _, store = scan(files)  # no --threat-list
        assert list(store.findings()) == [], case.name


def test_flow_finding_wire_form_and_inventory(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "flow-c2")
    inventory = tmp_path / "inv.json"
    inventory.write_text('{"Reservations":[{"Instances":[{"InstanceId":"i-0a1b2c3d4e5f60718","InstanceType":"t3.small",'
                         '"Placement":{"AvailabilityZone":"us-east-1a"},"Tags":[{"Key":"Name","Value":"web-1"}],'
                         '"NetworkInterfaces":[{"NetworkInterfaceId":"eni-0a1b2c3d4e5f60718","PrivateIpAddress":"10.0.1.25"}]}]}]}')
    _, [f] = _scan_case(case, tmp_path, inventory=[inventory])
    assert f["resource"]["resourceType"] == "Instance"
    inst = f["resource"]["instanceDetails"]
    assert inst["instanceId"] == "i-0a1b2c3d4e5f60718" and inst["instanceType"] == "t3.small"
    assert inst["tags"] == [{"key": "Name", "value": "web-1"}]
    conn = f["service"]["action"]["networkConnectionAction"]
    assert f["service"]["action"]["actionType"] == "NETWORK_CONNECTION"
    assert conn["connectionDirection"] == "OUTBOUND" and conn["protocol"] == "TCP" and conn["blocked"] is False
    assert conn["localIpDetails"] == {"ipAddressV4": "10.0.1.25"} and conn["remotePortDetails"] == {"port": 443, "portName": "HTTPS"}
    assert conn["remoteIpDetails"]["ipAddressV4"] == case.record["dstaddr"]
    assert "country" in conn["remoteIpDetails"]  # geo-enriched
    assert f["service"]["resourceRole"] == "ACTOR" and f["service"]["featureName"] == "FlowLogs"
    assert f["severity"] == 8.0 and f["accountId"] == "111122223333" and f["region"] == "us-east-1"


def test_dns_finding_wire_form(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "dns-c2")
    _, [f] = _scan_case(case, tmp_path)
    action = f["service"]["action"]
    assert action["actionType"] == "DNS_REQUEST"
    assert action["dnsRequestAction"] == {"domain": "c2.guarddutyc2activityb.com", "protocol": "UDP", "blocked": False,
                                          "domainWithSuffix": "guarddutyc2activityb.com"}
    assert f["resource"]["instanceDetails"]["instanceId"] == "i-0a1b2c3d4e5f60718"
    assert f["service"]["evidence"]["threatIntelligenceDetails"][0]["threatListName"] == "TrailhoundBuiltin:amazon-guardduty-tester"


def test_port_probe_severity_and_aggregation(tmp_path: Path) -> None:
    by_name = {c.name: c for c in CASES}
    files = write_case_logs(tmp_path / "logs", [by_name["probe-ssh"], by_name["probe-elasticsearch"]])
    _, store = scan(files)
    sev = {f["service"]["action"]["portProbeAction"]["portProbeDetails"][0]["localPortDetails"]["port"]: f["severity"] for f in store.findings()}
    assert sev == {22: 2.0, 9200: 8.0}


def test_trusted_list_does_not_suppress_dns_findings(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "dns-c2")
    trusted = tmp_path / "trusted.txt"
    trusted.write_text("10.0.0.0/8\n93.184.215.14\n")
    files = write_case_logs(tmp_path / "logs", [case])
    _, store = scan(files, trusted_lists=[trusted])
    (found,) = store.findings()
    assert found["type"] == "Backdoor:EC2/C&CActivity.B!DNS"
    # the title names the instance, as GuardDuty's do ("EC2 instance i-... is querying a domain name ...")
    iid = case.record["srcids"]["instance"]
    assert found["title"].startswith(f"EC2 instance {iid} is querying ") and iid in found["description"]


def test_trusted_ip_suppresses_flow_findings(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "flow-c2")
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(case.record["dstaddr"] + "\n")
    report, store = scan(write_case_logs(tmp_path / "logs", [case]), trusted_lists=[trusted])
    assert list(store.findings()) == []  # its rows never reach a flow detector


def test_a_trusted_scanner_does_not_hide_a_malicious_one(tmp_path: Path) -> None:
    """Probes from a trusted scanner and a listed one in the same window: the listed one is reported,
    and the finding names it (trusted rows never enter the window)."""
    from datetime import timedelta

    from trailhound.intel.index import Category
    from trailhound.simulator.records import LOCAL_IP, example_indicator

    scanner = example_indicator(Category.SCANNER)
    friendly = packaged_indicators(Category.SCANNER, 2)[1]
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(friendly + "\n")
    rows = [flow_row(START, src=scanner, dst=LOCAL_IP, sport=61000, dport=22),
            flow_row(START + timedelta(minutes=1), src=friendly, dst=LOCAL_IP, sport=61001, dport=22)]
    _, store = scan(write_case_logs(tmp_path / "logs", [Case("probes", None, rows, source="flow")]), trusted_lists=[trusted])
    [f] = list(store.findings())
    remotes = {d["remoteIpDetails"]["ipAddressV4"] for d in f["service"]["action"]["portProbeAction"]["portProbeDetails"]}
    assert f["type"] == "Recon:EC2/PortProbeUnprotectedPort" and remotes == {scanner}


def test_flow_drop_point_with_a_drop_point_list(tmp_path: Path) -> None:
    """No redistributable drop-point IP list exists to package; with one, the flow type fires."""
    from trailhound.config import ScanSettings
    from trailhound.intel.combined import CombinedIntel
    from trailhound.intel.formats import load_list
    from trailhound.intel.index import Category, IntelIndex
    from trailhound.pipeline import Scanner
    from trailhound.store.database import Store

    lst = tmp_path / "droppoints.txt"
    lst.write_text("45.155.205.233\n")
    index = IntelIndex()
    index.add(load_list(lst), Category.DROP_POINT)
    row = flow_row(START, src="10.0.1.25", dst="45.155.205.233", sport=50000, dport=443)
    files = write_case_logs(tmp_path / "logs", [Case("flow-drop-point", "Trojan:EC2/DropPoint", row, source="flow")])
    store = Store(":memory:")
    Scanner(store, ScanSettings(), intel=CombinedIntel(index.freeze())).scan(files)
    assert [(f["type"], f["severity"]) for f in store.findings()] == [("Trojan:EC2/DropPoint", 5.0)]


def test_tor_relay_does_not_depend_on_how_flows_are_split(tmp_path: Path) -> None:
    """Three relays within the hour: one finding, whether the flows come in one file, three, or three scans."""
    from datetime import timedelta

    from trailhound.intel.index import Category

    relays = packaged_indicators(Category.TOR_RELAY, 4)
    rows = [flow_row(START + timedelta(minutes=10 * i), src=r, dst="10.0.1.25", sport=45000 + i, dport=9001) for i, r in enumerate(relays[:3])]

    def tor(store) -> list:
        return [f for f in store.findings() if f["type"] == "UnauthorizedAccess:EC2/TorRelay"]

    _, one = scan(write_case_logs(tmp_path / "one", [Case("all", None, rows, source="flow")]))
    assert len(tor(one)) == 1
    split = [write_case_logs(tmp_path / f"part{i}", [Case(f"p{i}", None, [r], source="flow")]) for i, r in enumerate(rows)]
    _, three_files = scan([f for files in split for f in files])
    assert len(tor(three_files)) == 1
    db = tmp_path / "s.db"
    for files in split:  # three separate scans: the peers seen so far live in the detector's state
        _, store = scan(files, db=db)
    assert len(tor(store)) == 1
    # a fourth relay two hours later starts afresh: the earlier ones are outside the window
    late = flow_row(START + timedelta(hours=3), src=relays[3], dst="10.0.1.25", sport=46000, dport=9001)
    _, store = scan(write_case_logs(tmp_path / "late", [Case("late", None, [late], source="flow")]), db=db)
    assert tor(store)[0]["service"]["count"] == 1


def test_v2_and_v3_flows_of_one_instance_make_one_finding(tmp_path: Path) -> None:
    """A v2 flow names the interface, a v3 flow the instance: the inventory makes them one resource."""
    from trailhound.simulator.records import ATTACKER_IP, ENI, INSTANCE

    threat, _ = write_custom_lists(tmp_path / "lists")
    inventory = tmp_path / "inv.json"
    add_attack_instances(inventory)
    t = int(START.timestamp())
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "v2.log").write_text(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
        f"2 111122223333 {ENI} 10.0.1.25 {ATTACKER_IP} 40000 443 6 1 60 {t} {t + 60} ACCEPT OK\n")
    (tmp_path / "logs" / "v3.log").write_text(
        "version account-id interface-id instance-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
        f"3 111122223333 {ENI} {INSTANCE} 10.0.1.25 {ATTACKER_IP} 40001 443 6 1 60 {t + 300} {t + 360} ACCEPT OK\n")
    _, store = scan([tmp_path / "logs"], threat_lists=[threat], inventory=[inventory])
    [f] = list(store.findings())
    assert f["resource"]["instanceDetails"]["instanceId"] == INSTANCE and f["service"]["count"] == 2


def test_address_marks_carried_between_files_match_a_fresh_judgement() -> None:
    """The per-address memo is only a cache: frames marked with it get the columns a fresh pass gives,
    whichever file first named an address, and a reset past its bound changes nothing."""
    import polars as pl

    from trailhound.enrich import flows as marks

    listed, friend = "185.220.101.1", "93.184.216.34"
    lookup = lambda ip: ("hit",) if ip == listed else ()  # noqa: E731
    trusted = lambda ip: ("ok",) if ip == friend else ()  # noqa: E731

    def frame(rows: list[tuple[str | None, str]]) -> pl.DataFrame:
        return pl.DataFrame({"srcaddr": [r[0] for r in rows], "dstaddr": [r[1] for r in rows],
                             "flow_direction": [None] * len(rows)}, schema={"srcaddr": pl.Utf8, "dstaddr": pl.Utf8, "flow_direction": pl.Utf8})

    files = [frame([(listed, "10.0.0.5"), ("10.0.0.5", "8.8.8.8")]),
             frame([("10.0.0.5", listed), (friend, "10.0.0.6"), (None, "10.0.0.6")]),
             frame([("8.8.8.8", "10.0.0.5")])]
    cols = ["listed", "trusted", "src_private", "dst_private"]
    memo: dict[str, int] = {}
    for df in files:
        assert marks.mark_addresses(df, lookup, trusted, memo).select(cols).equals(marks.mark_addresses(df, lookup, trusted).select(cols))
    assert memo[listed] == marks.LISTED and memo[friend] == marks.TRUSTED and memo["10.0.0.5"] == marks.PRIVATE
    second = marks.mark_addresses(files[1], lookup, trusted, memo)
    assert second["listed"].to_list() == [True, False, False] and second["trusted"].to_list() == [False, True, False]
    assert second["src_private"].to_list() == [True, False, True]  # a missing address counts as ours, as before
