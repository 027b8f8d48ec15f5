"""Instances talking to known-bad addresses, from VPC flow logs.

Backdoor:EC2/C&CActivity.B, CryptoCurrency:EC2/BitcoinTool.B, Trojan:EC2/BlackholeTraffic,
Trojan:EC2/DropPoint and UnauthorizedAccess:EC2/TorClient when the instance opens a connection to a
listed address (blocked attempts included); UnauthorizedAccess:EC2/MaliciousIPCaller.Custom for
connections either way with an address on the operator's list. Each connection counts once, on the
half that opened it; the rest of a batch costs one look at its ``listed`` column.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from trailhound.detectors.flows import flagged_rows, opener, orient
from trailhound.engine import Detector, FindingType, severity
from trailhound.events import Source
from trailhound.findings.build import evidence, instance_key, instance_resource, network_connection, threat_info
from trailhound.findings.model import HIGH, MEDIUM, NetworkConnection, Occurrence
from trailhound.intel.index import Category, ThreatHit

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

_C2 = ("TA0011 Command and Control", "T1071 Application Layer Protocol")
# category -> (type, what the address is, MITRE tactic and technique, severity)
FLOW_TYPES: dict[Category, tuple[str, str, tuple[str, str], float]] = {
    Category.C2: ("Backdoor:EC2/C&CActivity.B", "a known command and control server", _C2, HIGH),
    Category.CRYPTO: ("CryptoCurrency:EC2/BitcoinTool.B", "an IP address associated with cryptocurrency mining",
                      ("TA0040 Impact", "T1496 Resource Hijacking"), HIGH),
    Category.DROP_POINT: ("Trojan:EC2/DropPoint", "a drop point for credentials and stolen data",
                          ("TA0010 Exfiltration", "T1041 Exfiltration Over C2 Channel"), MEDIUM),
    Category.BLACKHOLE: ("Trojan:EC2/BlackholeTraffic", "a black hole (sinkhole) IP address", _C2, MEDIUM),
    Category.CUSTOM: ("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "an IP address on a custom threat list", _C2, MEDIUM),
}
TOR_CLIENT = "UnauthorizedAccess:EC2/TorClient"
ICMP = frozenset({1, 58})
_TOR = (Category.TOR_RELAY, Category.TOR_EXIT)
_COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action", "flow_direction", "instance_id", "interface_id", "start",
            "account_id", "region", "tcp_flags")


class FlowThreatIntel(Detector):
    name = "flow-threat-intel"
    method = "threat intel"
    consumes = Source.FLOW
    findings = tuple(
        FindingType(ftype, severity(level), *mitre,
                    f"the instance {'exchanges traffic with' if cat is Category.CUSTOM else 'opens a connection to'} {what}")
        for cat, (ftype, what, mitre, level) in FLOW_TYPES.items()
    ) + (FindingType(TOR_CLIENT, severity(HIGH), "TA0011 Command and Control", "T1090.003 Proxy: Multi-hop Proxy",
                     "the instance opens a connection to a Tor relay"),)

    where = pl.col("listed")

    def run(self, df: pl.DataFrame) -> list[Occurrence]:
        rows, hits = flagged_rows(df, self.intel.ip)
        if not hits:
            return []
        out: list[Occurrence] = []
        for src, dst, sport, dport, proto, action, fdir, iid, eni, start, account, region, flags in rows.select(_COLUMNS).iter_rows():
            oriented = orient(src, dst, fdir, hits.get)
            if oriented is None:
                continue
            direction, local, remote = oriented
            found = hits.get(remote)
            if not found:
                continue
            if proto in ICMP and direction == "OUTBOUND" and not any(h.category is Category.CUSTOM for h in found):
                continue  # mostly the instance's errors answering a listed prober (port unreachable): not contact
            opened = opener(sport, dport, flags)
            if opened is None:  # ports tell nothing: a listed host is a server the instance reached out to
                opened = direction == "OUTBOUND"
            if not opened:
                continue  # a reply half: the connection is counted once, on the half that opened it
            local_port, remote_port = (sport, dport) if direction == "OUTBOUND" else (dport, sport)
            action_wire = network_connection(direction=direction, protocol=proto, local=local, local_port=local_port, remote=remote,
                                             remote_port=remote_port, blocked=action == "REJECT", eni=eni)
            target = iid or eni or local
            ctx = (start, iid, eni, local, remote, direction, action_wire, account, region)
            for category, (ftype, what, _, _) in FLOW_TYPES.items():
                chosen = [h for h in found if h.category is category]
                # The instance must be the one reaching out, except for the operator's own lists,
                # which GuardDuty applies to traffic in either direction.
                if chosen and (direction == "OUTBOUND" or category is Category.CUSTOM):
                    out.append(self._occ(ftype, f"EC2 instance {target} is communicating with {remote}, {what}.", chosen, *ctx))
            # (Tor runs over TCP: an NTP server answering a relay host's ntpd, port 123 to 123, is no Tor circuit)
            tor = [h for h in found if h.category in _TOR] if direction == "OUTBOUND" and proto == 6 else []
            if tor:
                out.append(self._occ(TOR_CLIENT, f"EC2 instance {target} is communicating with the Tor node {remote}.", tor, *ctx))
        return out

    def _occ(self, ftype: str, title: str, hits: list[ThreatHit], start: int, iid: str | None, eni: str | None, local: str, remote: str,
             direction: str, action: NetworkConnection, account: str | None, region: str | None) -> Occurrence:
        return Occurrence(
            type=ftype, severity=self.severity(ftype), time=float(start), account_id=account or "", region=region or "",
            resource=instance_resource(iid, eni, local), resource_key=instance_key(iid, eni, local), action=action, title=title,
            description=f"{title} The {direction.lower()} traffic was recorded in VPC flow logs; {remote} is on {hits[0].list_name}.",
            resource_role="ACTOR" if direction == "OUTBOUND" else "TARGET", feature_name="FlowLogs",
            additional_info=threat_info(hits), evidence=evidence(hits), remote_ip=remote, aggregation_key=remote,
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from datetime import timedelta

    from trailhound.simulator.records import ATTACKER_IP, BENIGN_IP, LOCAL_IP, Case, example_indicator, flow_row

    c2, crypto, sink = example_indicator(Category.C2), example_indicator(Category.CRYPTO), example_indicator(Category.BLACKHOLE)
    tor_relay = example_indicator(Category.TOR_RELAY)
    t = iter(start + timedelta(minutes=2 * i) for i in range(1000))
    out = LOCAL_IP

    def flow(name: str, expect: str | None, custom: bool = False, **kw: Any) -> Case:
        return Case(name, expect, flow_row(next(t), account=account, **kw), source="flow", needs_custom_list=custom)

    return [
        flow("flow-c2", "Backdoor:EC2/C&CActivity.B", src=out, dst=c2, sport=49152, dport=443),
        flow("flow-crypto", "CryptoCurrency:EC2/BitcoinTool.B", src=out, dst=crypto, sport=49153, dport=3333),
        flow("flow-sinkhole", "Trojan:EC2/BlackholeTraffic", src=out, dst=sink, sport=49154, dport=80),
        flow("flow-custom", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", custom=True, src=out, dst=ATTACKER_IP, sport=49155, dport=8009),
        flow("flow-tor-client", TOR_CLIENT, src=out, dst=tor_relay, sport=49156, dport=9001),
        flow("flow-benign", None, src=out, dst=BENIGN_IP, sport=49157, dport=443),
        # a public NTP server answering a relay host's ntpd (port 123 to 123): Tor runs over TCP, this is no circuit
        flow("ntp-server-answers-a-tor-relay-host", None, src=out, dst=tor_relay, sport=123, dport=123, protocol=17, flags=None, packets=1, nbytes=76),
        flow("flow-c2-connects-in-rejected", None, src=c2, dst=out, sport=48328, dport=17000, action="REJECT"),
        flow("flow-reply-to-c2", None, src=out, dst=c2, sport=80, dport=41016, flags=18),
        flow("flow-reply-to-c2-no-flags", None, src=out, dst=c2, sport=80, dport=41016, flags=None),
        flow("flow-c2-high-port-no-flags", "Backdoor:EC2/C&CActivity.B", src=out, dst=c2, sport=40000, dport=50050, flags=None),
        # a listed scanner probes a closed high port: the instance's half is a bare RST from that port to the scanner's lower one
        flow("closed-port-refuses-listed-prober", None, src=out, dst=c2, sport=44636, dport=20563, flags=4, packets=1, nbytes=40),
        flow("icmp-unreachable-to-listed-prober", None, src=out, dst=crypto, sport=0, dport=0, protocol=1, flags=None, packets=1, nbytes=56),
        flow("flow-custom-connects-in", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", custom=True, src=ATTACKER_IP, dst=out, sport=51515,
             dport=22, action="REJECT"),
    ]
