"""UnauthorizedAccess:EC2/TorRelay — Tor relays keep connecting in to the same port of an instance.

Tor users reach a public service through exit nodes; several distinct relays that are not exits
opening TCP connections to one port within an hour is the pattern of an instance that is itself a relay (Tor
runs over TCP only: relay hosts asking a public NTP or DNS server are its clients, not its peers). Keyed
by (instance, port); state is the relays seen in the last hour, so the verdict does not depend on
how the flows were cut into files or batches. About 170 bytes per (instance, port) while relays
are seen, deleted two hours after the last one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from trailhound.detectors.flows import ACCEPTED, SERVICE_PORTS, opener, orient
from trailhound.engine import Distinct, FindingType, Last, Sliding, Window, WindowedDetector, severity
from trailhound.events import Source
from trailhound.findings.build import evidence, instance_resource, network_connection, threat_info
from trailhound.findings.model import HIGH, Occurrence
from trailhound.intel.index import Category

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "UnauthorizedAccess:EC2/TorRelay"
MIN_RELAYS = 3  # distinct Tor relays connecting in to one port of one instance within an hour
_TOR = (Category.TOR_RELAY, Category.TOR_EXIT)
_COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "flow_direction", "instance_id", "interface_id", "start", "account_id", "region", "tcp_flags")


class TorRelay(WindowedDetector):
    name = "tor-relay"
    method = "threat intel"  # windowed, but what makes it suspicious is the list
    consumes = Source.FLOW
    findings = (FindingType(TYPE, severity(HIGH), "TA0011 Command and Control", "T1090.003 Proxy: Multi-hop Proxy",
                            f"≥{MIN_RELAYS} Tor relays that are not exits connecting in (TCP) to one port of an instance within an hour"),)
    key = pl.concat_str([pl.coalesce("instance_id", "interface_id", "dstaddr"), pl.col("dstport").cast(pl.Utf8)], separator="|")
    window = Sliding(length=3600, step=300)
    reducers = {"relays": Distinct(), "context": Last()}

    where = pl.col("listed") & ACCEPTED & (pl.col("protocol") == 6)  # Tor runs over TCP: relay hosts' NTP and DNS are no relaying
    columns = _COLUMNS

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        for src, dst, sport, dport, fdir, iid, eni, start, account, region, flags in rows:
            oriented = orient(src, dst, fdir, self.intel.ip)
            if oriented is None or oriented[0] != "INBOUND" or not opener(sport, dport, flags, SERVICE_PORTS):
                continue
            _, local, remote = oriented
            categories = {h.category for h in self.intel.ip(remote)}
            # a Tor user reaching a public service comes from an exit; relaying is what relays that are not exits do
            if Category.TOR_RELAY in categories and Category.TOR_EXIT not in categories:
                yield float(start), (remote, [iid, eni, local, dport, remote, sport, account, region])

    def threshold(self, key: str, w: Window) -> bool:
        return w["relays"].count >= MIN_RELAYS

    def report(self, key: str, w: Window) -> list[Occurrence]:
        iid, eni, local, dport, remote, sport, account, region = w["context"]
        hits = [h for h in self.intel.ip(remote) if h.category in _TOR]
        target = iid or eni or local
        relays = w["relays"].count
        return [Occurrence(
            type=TYPE, severity=self.severity(TYPE), time=w.last, first_seen=w.first, account_id=account or "", region=region or "",
            resource=instance_resource(iid, eni, local), resource_key=key.rsplit("|", 1)[0],
            action=network_connection(direction="INBOUND", protocol=6, local=local, local_port=dport, remote=remote, remote_port=sport,
                                      blocked=False, eni=eni),
            title=f"EC2 instance {target} is behaving as a Tor relay.",
            description=f"{relays} Tor relays connected to port {dport} of EC2 instance {target} within an hour: the instance "
            "appears to be relaying Tor traffic.",
            resource_role="ACTOR", feature_name="FlowLogs", additional_info=threat_info(hits) | {"torPeers": relays},
            evidence=evidence(hits), remote_ip=remote, aggregation_key=str(dport),
        )]


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import LOCAL_IP, Case, flow_row, packaged_indicators

    relays = packaged_indicators(Category.TOR_RELAY, 3)
    t0 = start
    late = start + timedelta(minutes=90)
    return [
        Case("tor-relay", TYPE, [flow_row(t0 + timedelta(minutes=2 * i), account=account, src=r, dst=LOCAL_IP, sport=40000 + i, dport=9001)
                                 for i, r in enumerate(relays)], source="flow", role="ACTOR"),
        # relay hosts' ntpd asking a public NTP server (UDP): clients of its time service, not Tor peers
        Case("relay-hosts-ask-a-public-ntp-server", None, [flow_row(t0 + timedelta(minutes=2 * i), account=account, src=r, dst=LOCAL_IP, sport=123,
                                                                    dport=123, protocol=17, flags=None) for i, r in enumerate(relays)], source="flow"),
        Case("tor-relay-one-peer", None, flow_row(late, account=account, src=relays[0], dst=LOCAL_IP, sport=40100, dport=9002), source="flow"),
        # three exits within minutes: Tor users reaching a public web service, not a relay
        Case("tor-exits-reach-a-web-server", None, [flow_row(late + timedelta(minutes=i), account=account, src=x, dst=LOCAL_IP, sport=42000 + i,
                                                             dport=443) for i, x in enumerate(packaged_indicators(Category.TOR_EXIT, 3))],
             source="flow"),
        # three relays, but spread over three hours: Tor users of a public service, not a relay
        Case("tor-relays-hours-apart", None, [flow_row(late + timedelta(minutes=75 * i), account=account, src=r, dst=LOCAL_IP, sport=41000 + i,
                                                       dport=9003) for i, r in enumerate(relays)], source="flow"),
    ]
