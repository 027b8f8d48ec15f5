"""An operator's lists, end to end through the scanner: IPv6 entries match flows between public
addresses (a VPC's IPv6 addresses are global), and entries too broad or not public are refused
with a message instead of judging the whole Internet or all internal traffic."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import scan

from trailhound.config import ScanSettings
from trailhound.intel.combined import CombinedIntel
from trailhound.intel.formats import load_list
from trailhound.intel.guard import refusal
from trailhound.intel.index import Category, IntelIndex
from trailhound.pipeline import Scanner
from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import Case, dns_record, flow_row, record
from trailhound.store.database import Store

T0 = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)
OURS6 = "2600:1f18:abcd::1"  # the instance: an AWS IPv6 address, public like every VPC IPv6 address
BAD6 = "2a00:1450:4001::5"
CUSTOM = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
V2_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"


def _v2_flows(root: Path, rows: list[tuple[str, str, int, int]]) -> list[Path]:
    """A default-format (v2) flow log: no flow-direction field, so which side is ours is inferred."""
    t = int(T0.timestamp())
    lines = [f"2 111122223333 eni-0a1b2c3d4e5f60718 {s} {d} {sp} {dp} 6 4 320 {t + 60 * i} {t + 60 * i + 50} ACCEPT OK\n"
             for i, (s, d, sp, dp) in enumerate(rows)]
    root.mkdir(parents=True, exist_ok=True)
    f = root / "111122223333_vpcflowlogs_us-east-1_fl-0a1b2c3d_20261106T1000Z_0a1b2c3d.log"
    f.write_text(V2_HEADER + "".join(lines))
    return [f]


def _v5_flows(root: Path, rows: list[tuple[str, str, int, int]]) -> list[Path]:
    """v5 records, each logged with its direction and TCP flags (SYN opens, SYN-ACK replies to the lower, service port)."""
    recs = [flow_row(T0, src=s, dst=d, sport=sp, dport=dp, direction="egress" if s in (OURS6, "10.0.1.25") else "ingress",
                     flags=18 if sp < dp else 2) for s, d, sp, dp in rows]
    return write_case_logs(root, [Case("flows", None, recs, source="flow")])


def _list(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _remotes(findings: list[dict]) -> list[tuple[str, str, str]]:
    """(type, direction, remote address) of flow findings."""
    out = []
    for f in findings:
        action = f["service"]["action"]["networkConnectionAction"]
        remote = action["remoteIpDetails"]
        out.append((f["type"], action["connectionDirection"], remote.get("ipAddressV6") or remote.get("ipAddressV4")))
    return sorted(out)


# Both halves of a connection each way: the instance calls the listed host, the listed host calls the instance.
OUT_AND_BACK = [(OURS6, BAD6, 50000, 443), (BAD6, OURS6, 443, 50000)]
IN_AND_BACK = [(BAD6, OURS6, 51515, 22), (OURS6, BAD6, 22, 51515)]


@pytest.mark.parametrize("writer", [_v2_flows, _v5_flows], ids=["v2", "v5"])
@pytest.mark.parametrize("entry", [BAD6, "2a00:1450:4001::/48"], ids=["exact", "cidr"])
@pytest.mark.parametrize(("rows", "direction"), [(OUT_AND_BACK, "OUTBOUND"), (IN_AND_BACK, "INBOUND")], ids=["dst", "src"])
def test_ipv6_entry_matches_flows_between_public_addresses(tmp_path: Path, writer, entry: str, rows, direction: str) -> None:
    threat = _list(tmp_path / "threats.txt", entry)
    report, store = scan(writer(tmp_path / "logs", rows), threat_lists=[threat])
    assert report.problems == []
    # one finding per connection, counted on the half that opened it, the listed side named as the remote
    assert _remotes(list(store.findings())) == [(CUSTOM, direction, BAD6)]


@pytest.mark.parametrize("writer", [_v2_flows, _v5_flows], ids=["v2", "v5"])
def test_ipv6_near_misses_do_not_fire(tmp_path: Path, writer) -> None:
    threat = _list(tmp_path / "threats.txt", "2a00:1450:4001::6", "2a00:1450:4002::/48")  # one off, the next /48
    report, store = scan(writer(tmp_path / "logs", OUT_AND_BACK + IN_AND_BACK), threat_lists=[threat])
    assert report.problems == [] and list(store.findings()) == []


@pytest.mark.parametrize("writer", [_v2_flows, _v5_flows], ids=["v2", "v5"])
def test_trusted_ipv6_network_suppresses_a_listed_address(tmp_path: Path, writer) -> None:
    threat = _list(tmp_path / "threats.txt", BAD6)
    trusted = _list(tmp_path / "trusted.txt", "2a00:1450::/32")
    files = writer(tmp_path / "logs", OUT_AND_BACK + IN_AND_BACK)
    _, store = scan(files, threat_lists=[threat])
    assert len(list(store.findings())) == 2  # each way once: what the trusted list must silence
    _, store = scan(files, threat_lists=[threat], trusted_lists=[trusted])
    assert list(store.findings()) == []


def test_everything_networks_are_refused_and_the_rest_of_the_list_loads(tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", "# pasted from a firewall rule", "0.0.0.0/0", "::/0", "89.160.21.0/24", "2a00:1450:4001::/48")
    rows = [("10.0.1.25", "89.160.21.7", 50001, 443), ("10.0.1.25", "89.160.22.7", 50002, 443), ("10.0.1.25", "8.8.8.8", 50003, 443),
            (OURS6, BAD6, 50004, 443), (OURS6, "2a00:1450:4002::5", 50005, 443)]
    report, store = scan(_v5_flows(tmp_path / "logs", rows), threat_lists=[threat])
    assert [(p.line, p.message.split(" refused: ")[0]) for p in report.problems] == [(2, "'0.0.0.0/0'"), (3, "'::/0'")]
    assert "no broader than /8" in report.problems[0].message and "no broader than /16" in report.problems[1].message
    assert report.list_entries_refused == 2
    # the legitimate /24 and /48 still work, and nothing else is malicious
    assert _remotes(list(store.findings())) == [(CUSTOM, "OUTBOUND", BAD6), (CUSTOM, "OUTBOUND", "89.160.21.7")]


def test_an_everything_trusted_list_is_refused_and_suppresses_nothing(tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", "89.160.21.7", BAD6)
    trusted = _list(tmp_path / "trusted.txt", "0.0.0.0/0", "::/0", "81.2.69.0/24")
    rows = [("10.0.1.25", "89.160.21.7", 50001, 443), (OURS6, BAD6, 50004, 443)]
    report, store = scan(_v5_flows(tmp_path / "logs", rows), threat_lists=[threat], trusted_lists=[trusted])
    assert [p.line for p in report.problems] == [1, 2] and report.list_entries_refused == 2
    assert len(list(store.findings())) == 2


def test_private_entries_never_flag_internal_traffic(tmp_path: Path) -> None:
    # 10.0.0.0/8 is private throughout: skipped and said so; 172.0.0.0/8 is public but holds 172.16.0.0/12: only its public part matches
    threat = _list(tmp_path / "threats.txt", "10.0.0.0/8", "172.0.0.0/8", "fd00::/8")
    rows = [("10.0.1.25", "10.0.2.9", 50001, 443), ("10.0.1.25", "172.31.0.9", 50002, 443), ("10.0.1.25", "172.1.2.3", 50003, 443),
            (OURS6, "fd00::9", 50004, 443)]
    report, store = scan(_v5_flows(tmp_path / "logs", rows), threat_lists=[threat])
    [problem] = report.problems
    assert problem.message.startswith("2 private or reserved entries skipped (10.0.0.0/8, fd00::/8)")
    assert report.list_entries_non_public == 2 and report.list_entries_refused == 0
    assert _remotes(list(store.findings())) == [(CUSTOM, "OUTBOUND", "172.1.2.3")]


def test_public_suffix_domains_are_refused(tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", "co.uk", "*.co.uk", "evil.co.uk", "com", "*")
    queries = [dns_record(T0, "www.bbc.co.uk"), dns_record(T0, "cdn.evil.co.uk")]
    files = write_case_logs(tmp_path / "logs", [Case("q", None, queries, source="dns")])
    report, store = scan(files, threat_lists=[threat])
    assert [p.line for p in report.problems] == [1, 2, 4, 5]  # com and * are not domains at all
    assert "public suffix" in report.problems[0].message and report.list_entries_refused == 2
    assert [(f["type"], f["service"]["action"]["dnsRequestAction"]["domain"]) for f in store.findings()] == [
        ("Impact:EC2/MaliciousDomainRequest.Custom", "cdn.evil.co.uk")]


def test_ipv6_cloudtrail_caller_matches(scan_records, tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", "2a00:1450:4001::/48")
    listed = record("DescribeInstances", "ec2.amazonaws.com", time=T0, ip=BAD6)
    _, findings = scan_records([listed], threat_lists=[threat])
    assert [f["type"] for f in findings] == ["Recon:IAMUser/MaliciousIPCaller.Custom"]
    _, findings = scan_records([{**listed, "sourceIPAddress": "2a00:1450:4002::5"}], threat_lists=[threat])
    assert findings == []


def test_ipv6_sinkhole_answer_matches(tmp_path: Path) -> None:
    sinks = _list(tmp_path / "sinkholes.txt", "2a00:1450:4001::/48")
    index = IntelIndex()
    index.add(load_list(sinks), Category.BLACKHOLE)

    def aaaa(name: str, answer: str) -> dict:
        rec = dns_record(T0, name, answers=[answer])
        rec["query_type"] = rec["answers"][0]["Type"] = "AAAA"
        return rec

    queries = [aaaa("a.example.net", BAD6), aaaa("b.example.net", "2a00:1450:4002::5")]  # listed, and one /48 over
    files = write_case_logs(tmp_path / "logs", [Case("q", None, queries, source="dns")])
    store = Store(":memory:")
    Scanner(store, ScanSettings(), intel=CombinedIntel(index.freeze())).scan(files)
    assert [(f["type"], f["service"]["action"]["dnsRequestAction"]["domain"]) for f in store.findings()] == [
        ("Trojan:EC2/BlackholeTraffic!DNS", "a.example.net")]


def test_cli_says_what_it_refused(tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", "0.0.0.0/0", "89.160.21.0/24")
    files = _v2_flows(tmp_path / "logs", [("10.0.1.25", "89.160.21.7", 50001, 443), ("10.0.1.25", "8.8.8.8", 50002, 443)])
    p = subprocess.run([str(Path(sys.executable).with_name("trailhound")), "scan", *map(str, files), "--threat-list", str(threat),
                        "--db", str(tmp_path / "t.db")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"{threat}:1: '0.0.0.0/0' refused: an IPv4 list entry may be no broader than /8" in p.stderr
    assert "1 entries refused as too broad" in p.stdout
    assert "MaliciousIPCaller.Custom" in p.stdout


def test_real_block_lists_load_whole_as_operator_lists(shared_data: Path) -> None:
    # FireHOL level 1 holds public /12s and bogon /8s and a /3 (dropped as non-public, never refused as too broad)
    for name in ("firehol_level1.netset.gz", "et_block.netset"):
        load = load_list(shared_data / "firehol-ipsets" / name, vet=refusal)
        assert load.refused == 0 and load.problems == [], name
        assert load.networks > 1000, name
