"""Per-instance (and per-fleet) network baselines (NetworkPortUnusual, Spambot, the DefenseEvasion resolver types): what
their findings say about the baseline, when the warm-up ends, what a day that fired teaches, how the
batch expressions read a flow row, and that state stays bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import scan

from trailhound.detectors import habits, network_port_unusual, spambot, unusual_resolver
from trailhound.detectors.flows import OPENS, PUBLIC_DEST, PUBLIC_SRC, opener
from trailhound.detectors.habits import SAMPLE, case_host, history
from trailhound.detectors.network_port_unusual import NetworkPortUnusual
from trailhound.detectors.spambot import Spambot
from trailhound.detectors.unusual_resolver import UnusualResolver, public_resolvers
from trailhound.enrich.flows import mark_addresses
from trailhound.enrich.geo import is_private
from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import Case, flow_row, internet_addresses

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _findings(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    report, store = scan(write_case_logs(tmp_path / name, [Case(name, None, sorted(records, key=lambda r: r["start"]), source="flow")]))
    assert report.problems == [] and report.detector_errors == 0
    return list(store.findings())


def _info(f: dict[str, Any]) -> dict[str, Any]:
    return json.loads(f["service"]["additionalInfo"]["value"])


def _case(module: Any, name: str) -> Case:
    return next(c for c in module.cases(START) if c.name == name)


def test_new_port_finding_names_the_baseline(tmp_path: Path) -> None:
    [f] = _findings(tmp_path, "c", _case(network_port_unusual, "app-server-connects-to-4444").records)
    assert f["type"] == "Behavior:EC2/NetworkPortUnusual" and f["severity"] == 5.0
    info = _info(f)
    assert info["baseline"] == "remote ports in the last 35 days: 443, 5432; now 4444"
    assert info["usualRemotePorts"] == [443, 5432] and info["historyDays"] == 11 and "context" not in info
    action = f["service"]["action"]["networkConnectionAction"]
    assert action["connectionDirection"] == "OUTBOUND" and action["remotePortDetails"]["port"] == 4444
    assert f["resource"]["instanceDetails"]["instanceId"] == case_host(1, "app-1").instance
    assert f["service"]["resourceRole"] == "ACTOR" and f["service"]["count"] == 1  # three connections, one new port a day


def test_ldap_callback_is_high_with_log4j_context(tmp_path: Path) -> None:
    [f] = _findings(tmp_path, "c", _case(network_port_unusual, "log4j-ldap-callback").records)
    assert f["severity"] == 8.0 and _info(f)["context"] == "Possible log4j callback"


@pytest.mark.parametrize(("days", "fires"), [(3, False), (6, False), (8, True)])
def test_warm_up_a_week_of_history(tmp_path: Path, days: int, fires: bool) -> None:
    host = case_host(60, "app-90")
    web, db, attacker = internet_addresses(3, seed=9)
    rows = history(host, START, days, [(web, 443), (db, 5432)]) + [
        flow_row(START, src=host.ip, dst=attacker, sport=41000, dport=4444, at=host, flags=3)]
    assert bool(_findings(tmp_path, "c", rows)) is fires


def test_port_older_than_the_memory_is_new_again(tmp_path: Path) -> None:
    host = case_host(61, "app-91")
    web, other = internet_addresses(2, seed=10)
    old = [flow_row(START - timedelta(days=40), src=host.ip, dst=other, sport=40001, dport=5900, at=host, flags=3)]
    rows = old + history(host, START, 12, [(web, 443)]) + [flow_row(START, src=host.ip, dst=other, sport=40002, dport=5900, at=host, flags=3)]
    [f] = _findings(tmp_path, "c", rows)
    assert _info(f)["baseline"].endswith("443; now 5900")
    within = [flow_row(START - timedelta(days=31), src=host.ip, dst=other, sport=40001, dport=5900, at=host, flags=3)]
    assert _findings(tmp_path, "d", within + rows[1:]) == []


def test_spambot_counts_servers_and_a_reported_day_teaches_nothing(tmp_path: Path) -> None:
    case = _case(spambot, "instance-starts-spamming")
    bot = case_host(20, "web-2")
    mx = internet_addresses(60, seed=83)[2:]
    again = [flow_row(START + timedelta(days=1, minutes=i), src=bot.ip, dst=s, sport=44000 + i, dport=25, at=bot, flags=3)
             for i, s in enumerate(mx[:12])]
    [f] = _findings(tmp_path, "c", case.records + again)
    info = _info(f)
    assert f["type"] == "Backdoor:EC2/Spambot" and info["mailServers"] == 10 and len(info["sampledMailServers"]) == 10
    assert info["baseline"].startswith("SMTP ports in the last 35 days: none;")
    assert f["service"]["count"] == 2  # the next day's burst again: the first day did not become its habit


def test_a_quiet_smtp_day_becomes_history(tmp_path: Path) -> None:
    host = case_host(62, "app-92")
    web, *mx = internet_addresses(30, seed=12)
    first = [flow_row(START - timedelta(days=2, minutes=-i), src=host.ip, dst=mx[i], sport=44000 + i, dport=25, at=host, flags=3) for i in range(2)]
    burst = [flow_row(START + timedelta(minutes=i), src=host.ip, dst=s, sport=45000 + i, dport=25, at=host, flags=3) for i, s in enumerate(mx[5:25])]
    assert _findings(tmp_path, "c", history(host, START, 10, [(web, 443)]) + first + burst) == []


def test_resolver_findings_name_the_operator(tmp_path: Path) -> None:
    [f] = _findings(tmp_path, "c", _case(unusual_resolver, "starts-dns-over-https").records)
    info = _info(f)
    assert f["type"] == "DefenseEvasion:EC2/UnusualDoHActivity" and info["operator"] == "Cloudflare" and info["protocol"] == "DoH"
    assert info["baseline"] == "resolvers in the last 35 days: none (the VPC resolver only); now DoH Cloudflare (1.1.1.1)"
    # the same instance having used Google's DNS on 53 all along: a switch to DoH is still new, and the baseline says what it used
    host = case_host(63, "app-93")
    web = internet_addresses(1, seed=13)[0]
    rows = history(host, START, 10, [(web, 443), ("8.8.8.8", 53)]) + [flow_row(START, src=host.ip, dst="8.8.4.4", sport=43001, dport=443,
                                                                                 at=host, flags=3)]
    [g] = _findings(tmp_path, "d", rows)
    assert _info(g)["baseline"] == "resolvers in the last 35 days: DNS Google; now DoH Google (8.8.4.4)"


def test_packaged_resolver_list() -> None:
    resolvers = public_resolvers()
    assert len(resolvers) > 60_000 and {"8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"} <= resolvers
    assert not any("/" in r or is_private(r) for r in list(resolvers)[:5000])
    assert "104.16.132.229" not in habits.DOH_RESOLVERS  # Cloudflare's CDN is not its resolver


def test_opens_agrees_with_opener_where_opener_is_sure() -> None:
    rows = [(flags, sp, dp) for flags in (None, 0, 2, 3, 18, 19, 1, 4, 5, 6) for sp, dp in
            ((40000, 443), (443, 40000), (40000, 4444), (4444, 40000), (5000, 4444), (123, 123), (40000, 50050), (8443, 51000), (1024, 80))]
    df = pl.DataFrame(rows, schema={"tcp_flags": pl.Int32, "srcport": pl.Int32, "dstport": pl.Int32}, orient="row")
    got = df.select(OPENS.alias("o"))["o"].to_list()
    for (flags, sp, dp), o in zip(rows, got):
        sure = opener(sp, dp, flags)
        if sure is not None and sp != dp:
            assert o is sure, (flags, sp, dp)
        else:
            assert o is False or sure is True, (flags, sp, dp)  # unsure: taken for a reply, never for a new connection


def test_a_bare_rst_is_a_refusal_whatever_the_ports() -> None:
    """A closed port answering a prober: the instance's half is RST alone, often from a high port to the prober's
    lower one, which the port rule alone would take for a connection the instance opened."""
    assert opener(44636, 20563, 4) is False and opener(44636, 443, 4) is False
    assert opener(40000, 443, 6) is True  # SYN and RST: the opener gave up
    assert opener(40000, 443, 5) is True  # FIN and RST: the end of a session, judged by its ports


def test_public_dest_agrees_with_is_private() -> None:
    addresses = ["10.1.2.3", "172.16.0.1", "172.31.255.1", "172.32.0.1", "192.168.1.1", "169.254.169.253", "100.64.0.1", "100.127.1.1",
                 "100.128.0.1", "127.0.0.1", "8.8.8.8", "1.1.1.1", "fd00::1", "fe80::1", "2600:1f18::1", "11.0.0.1", "192.169.0.1"]
    frame = mark_addresses(pl.DataFrame({"srcaddr": addresses, "dstaddr": addresses, "flow_direction": ["egress"] * len(addresses)}),
                           lambda ip: ())
    got = frame.select(PUBLIC_DEST.alias("p"))["p"].to_list()
    assert got == [not is_private(a) for a in addresses] == frame.select(PUBLIC_SRC.alias("p"))["p"].to_list()


@pytest.mark.parametrize("cls", [NetworkPortUnusual, Spambot, UnusualResolver])
def test_state_stays_bounded(cls: type) -> None:
    """A host touching hundreds of new ports, mail servers and resolvers keeps a few hundred bytes to ~1.5 KB."""
    import msgspec

    det = cls()
    t0 = START.timestamp()
    resolvers = sorted(public_resolvers())[:300]
    rows = [("10.0.200.99", resolvers[i], SAMPLE * 1200, p, 6, t0 + 600 * i, "i-1", "eni-1", "1", "us-east-1", True)
            for i, p in enumerate(list(range(1000, 1300)))]
    rows += [("10.0.200.99", resolvers[i], SAMPLE * 1200, 25 if i % 2 else 53, 6, t0 + 600 * (300 + i), "i-1", "eni-1", "1", "us-east-1", True)
             for i in range(300)]
    _, st = det.update("10.0.200.99", rows, None, 0.0)
    assert len(msgspec.msgpack.encode(st)) <= 1536


def test_fleets_come_from_auto_scaling_node_group_and_karpenter_tags_only() -> None:
    from trailhound.enrich.flows import mark_addresses
    from trailhound.enrich.inventory import Inventory

    def instance(iid: str, eni: str, tags: dict[str, str]) -> dict[str, Any]:
        return {"InstanceId": iid, "PrivateIpAddress": "10.0.0.1", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                "NetworkInterfaces": [{"NetworkInterfaceId": eni, "PrivateIpAddress": "10.0.0.1"}]}

    inv = Inventory()
    inv.load_describe_instances({"Reservations": [{"Instances": [
        instance("i-0000000000000000a", "eni-a", {"aws:autoscaling:groupName": "web", "Name": "web-1"}),
        instance("i-0000000000000000b", "eni-b", {"eks:nodegroup-name": "ng-1", "aws:ec2launchtemplate:id": "lt-1"}),
        instance("i-0000000000000000c", "eni-c", {"aws:ec2launchtemplate:id": "lt-1", "Name": "web-1"}),  # a template is no fleet
        instance("i-0000000000000000e", "eni-e", {"karpenter.sh/nodepool": "default", "Name": "karpenter-node"}),  # a Karpenter NodePool is
    ]}]})
    by_instance, by_eni = inv.groups()
    assert by_instance == {"i-0000000000000000a": "asg:web", "i-0000000000000000b": "eks-nodegroup:ng-1", "i-0000000000000000e": "karpenter:default"}
    assert by_eni == {"eni-a": "asg:web", "eni-b": "eks-nodegroup:ng-1", "eni-e": "karpenter:default"}
    # v2 logs name no instance: its interface does; an instance learned later is grouped from then on
    frame = pl.DataFrame({"srcaddr": ["10.0.0.1"] * 3, "dstaddr": ["1.2.3.4"] * 3, "instance_id": [None, "i-0000000000000000b", None],
                          "interface_id": ["eni-a", None, "eni-d"], "flow_direction": ["egress"] * 3},
                         schema_overrides={"instance_id": pl.String})
    assert mark_addresses(frame, lambda ip: None, groups=inv.groups())["instance_group"].to_list() == ["asg:web", "eks-nodegroup:ng-1", None]
    inv.load_describe_instances({"Reservations": [{"Instances": [instance("i-0000000000000000d", "eni-d", {"aws:autoscaling:groupName": "web"})]}]})
    assert mark_addresses(frame, lambda ip: None, groups=inv.groups())["instance_group"].to_list()[2] == "asg:web"
    assert mark_addresses(frame, lambda ip: None)["instance_group"].null_count() == 3


def test_a_new_fleet_member_is_judged_by_its_fleet_and_says_so(tmp_path: Path) -> None:
    from trailhound.simulator.attack_day import add_attack_instances

    inventory = tmp_path / "inv.json"
    add_attack_instances(inventory)
    case = _case(network_port_unusual, "new-fleet-member-connects-to-4444")
    _, store = scan(write_case_logs(tmp_path / "logs", [case]), inventory=[inventory])
    [f] = list(store.findings())
    from trailhound.simulator.records import FLEET_HOSTS

    assert f["resource"]["instanceDetails"]["instanceId"] == FLEET_HOSTS[3].instance  # the member, not the fleet
    info = _info(f)
    assert info["baselineOf"] == "asg:web-fleet" and info["historyDays"] == 11 and "443, 5432" in info["baseline"]


def test_a_vpcs_own_ipv6_addresses_are_not_the_internet() -> None:
    """A VPC's IPv6 addresses are global: an instance calling another over them is not on the Internet (no unusual
    port, beacon or volume finding between them). The estate's /64s are learnt from the side each interface logs as its
    own (v5+ flow direction), and kept across files; another customer's address in AWS's IPv6 space stays public."""
    own_v6: set[str] = set()
    app, search, google = "2600:1f18:4a3:6c00:3::10", "2600:1f18:4a3:6c00:3::60", "2a00:1450:4001:80b::200e"
    first = mark_addresses(pl.DataFrame({"srcaddr": [app, app], "dstaddr": [search, google], "flow_direction": ["egress", "egress"]}),
                           lambda ip: (), own_v6=own_v6)
    assert first.select(PUBLIC_DEST.alias("p"))["p"].to_list() == [False, True]
    later = mark_addresses(pl.DataFrame({"srcaddr": [search, search], "dstaddr": [app, "2600:1f18:4a3:9900::1"],
                                         "flow_direction": pl.Series([None, None], dtype=pl.String)}), lambda ip: (), own_v6=own_v6)
    assert later.select(PUBLIC_DEST.alias("p"))["p"].to_list() == [False, True]
    assert later.select(PUBLIC_SRC.alias("p"))["p"].to_list() == [False, False]


def test_an_inventorys_ipv6_addresses_are_ours_in_a_log_without_direction() -> None:
    """AWS's default (v2) log says no direction, and a VPC's IPv6 addresses are global: without the inventory, an
    instance's own IPv6 address is neither side's, and every flow detector is blind to its IPv6 traffic. The /64s of
    the addresses the inventory names are ours (the local side), whatever logs came before."""
    from trailhound.detectors.flows import DEST_IS_LOCAL, PUBLIC_SRC
    from trailhound.enrich.inventory import Inventory
    from trailhound.enrich.stages import FlowAddresses
    from trailhound.events import Source

    web, neighbour, attacker = "2600:1f18:4a3:6c00:3::10", "2600:1f18:4a3:6c00:3::77", "2a01:4f8:c17:1a2b::1"
    inv = Inventory()
    inv.load_describe_instances({"Reservations": [{"Instances": [{"InstanceId": "i-0ab1c2d3e4f5a6b7c", "NetworkInterfaces": [
        {"NetworkInterfaceId": "eni-0ab1c2d3e4f5a6b7c", "PrivateIpAddress": "10.0.3.10", "Ipv6Addresses": [{"Ipv6Address": web}]}]}]}]})
    stage = FlowAddresses(lambda ip: (), inventory=inv)
    v2 = pl.DataFrame({"srcaddr": [attacker, attacker], "dstaddr": [web, neighbour], "flow_direction": pl.Series([None, None], dtype=pl.String)})
    marked = stage(Source.FLOW, v2, [])
    assert marked.select(DEST_IS_LOCAL.alias("l"))["l"].to_list() == [True, True]  # its /64: the neighbour's too
    assert marked.select(PUBLIC_SRC.alias("p"))["p"].to_list() == [True, True]
    alone = FlowAddresses(lambda ip: ())(Source.FLOW, v2, [])
    assert alone.select(DEST_IS_LOCAL.fill_null(False).alias("l"))["l"].to_list() == [False, False]
