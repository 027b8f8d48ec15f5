"""Inbound traffic from known scanners that the network let through, and Tor relaying.

* Recon:EC2/PortProbeUnprotectedPort — a port that security groups and ACLs leave open is being
  probed by a known scanner or malicious host (the flow was ACCEPTed). Low, High for
  Elasticsearch's 9200/9300, which are a classic data-theft target.
* Recon:EC2/PortProbeEMRUnprotectedPort — the same on an EMR-sensitive port (YARN, HDFS, Spark
  UI...), which can give remote code execution on the cluster. High.
  A REJECTed probe is the network doing its job: no finding. Only connections the remote side
  opened count: a flow from a low (service) port to a high (ephemeral) one is the reply half of a
  connection the instance made, not a probe.
* UnauthorizedAccess:EC2/TorRelay — several Tor relays connect in to the same instance port within
  an hour, the pattern of an instance acting as a Tor relay (stateful: flows may come in any batches).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

from trailhound.detectors.network import PORT_NAMES, instance_resource, ip_details, port_details, resource_key
from trailhound.detectors.threat_intel import FlowIntelDetector, _info, evidence, flagged_rows, opener, orient
from trailhound.findings.model import HIGH, LOW, Occurrence
from trailhound.intel.index import Category, ThreatHit

EMR_PORTS = frozenset({8088, 8042, 8890, 8998, 9870, 50070, 18080, 20888, 16010, 8888, 10000})
ELASTICSEARCH_PORTS = frozenset({9200, 9300})
PROBERS = (Category.SCANNER, Category.MALICIOUS)
TOR_RELAY_MIN_PEERS = 3  # distinct Tor relays connecting in to one port of one instance within an hour
_COLS = ("srcaddr", "dstaddr", "srcport", "dstport", "action", "flow_direction", "instance_id", "interface_id", "start", "account_id", "region",
         "tcp_flags")
_SERVICE_PORTS = EMR_PORTS | ELASTICSEARCH_PORTS | frozenset(PORT_NAMES)


def inbound_openers(rows: pl.DataFrame, hits: dict[str, tuple[ThreatHit, ...]]) -> Iterator[tuple[Any, ...]]:
    """Accepted connections a listed remote host opened to an instance:
    (target, local ip, local port, remote ip, hits, start, instance id, eni, account, region)."""
    for src, dst, sport, dport, action, fdir, iid, eni, start, account, region, flags in rows.select(_COLS).iter_rows():
        if action != "ACCEPT":
            continue
        oriented = orient(src, dst, fdir)
        if oriented is None or oriented[0] != "INBOUND":
            continue
        _, local, remote = oriented
        if dport is None or sport is None or not opener(sport, dport, flags, _SERVICE_PORTS):
            continue  # a reply to a connection the instance opened, or nothing tells: not a probe
        yield iid or eni or local, local, dport, remote, hits.get(remote, ()), start, iid, eni, account, region


class InboundProbe(FlowIntelDetector):
    name = "inbound-probe"
    finding_types = ("Recon:EC2/PortProbeUnprotectedPort", "Recon:EC2/PortProbeEMRUnprotectedPort")

    def judge(self, rows: pl.DataFrame, hits: dict[str, tuple[ThreatHit, ...]]) -> list[Occurrence]:
        out: list[Occurrence] = []
        for target, local, dport, remote, found, start, iid, eni, account, region in inbound_openers(rows, hits):
            probers = [h for h in found if h.category in PROBERS]
            if not probers:
                continue
            emr = dport in EMR_PORTS
            ftype = "Recon:EC2/PortProbeEMRUnprotectedPort" if emr else "Recon:EC2/PortProbeUnprotectedPort"
            severity = HIGH if emr or dport in ELASTICSEARCH_PORTS else LOW
            name = port_details(dport)["portName"]
            out.append(Occurrence(
                type=ftype, severity=severity, time=float(start), account_id=account or "", region=region or "",
                resource=instance_resource(iid, eni, local), resource_key=resource_key(iid, eni, local),
                action={"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False, "portProbeDetails": [
                    {"localPortDetails": port_details(dport), "localIpDetails": ip_details(local), "remoteIpDetails": ip_details(remote)}]}},
                title=f"Unprotected port on EC2 instance {target} is being probed.",
                description=f"EC2 instance {target} has an unprotected port {dport} ({name}) which is being probed by a known "
                f"scanner or malicious host, {remote} ({probers[0].list_name}).",
                resource_role="TARGET", feature_name="FlowLogs", additional_info=_info(probers) | {"scannedPort": dport},
                # One finding per instance (the latest probe's details, a count of all), and one apart
                # for the High-severity Elasticsearch ports, so a port sweep is one finding, not thousands.
                evidence=evidence(probers), remote_ip=remote, aggregation_key="elasticsearch" if dport in ELASTICSEARCH_PORTS else "",
            ))
        return out


class TorRelay(FlowIntelDetector):
    """UnauthorizedAccess:EC2/TorRelay — Tor relays keep connecting in to the same port of an
    instance: it is relaying Tor traffic. State per (instance, port): the relays seen in the last
    hour, so the verdict does not depend on how the flows were cut into files or batches."""

    name = "tor-relay"
    finding_types = ("UnauthorizedAccess:EC2/TorRelay",)
    stateful = True
    WINDOW_S = 3600.0

    def keys(self, df: pl.DataFrame) -> set[str]:
        rows, hits = flagged_rows(df, self.lookup)
        return {f"{target}|{port}" for target, _, port, _, found, *_ in inbound_openers(rows, hits) if _tor(found)} if hits else set()

    def run(self, df: pl.DataFrame, state: Mapping[str, Any]) -> tuple[list[Occurrence], dict[str, Any]]:
        rows, hits = flagged_rows(df, self.lookup)
        if not hits:
            return [], {}
        out: list[Occurrence] = []
        updated: dict[str, Any] = {}
        for target, local, port, remote, found, start, iid, eni, account, region in inbound_openers(rows, hits):
            tor = _tor(found)
            if not tor:
                continue
            key = f"{target}|{port}"
            peers = dict(updated.get(key) or state.get(key) or {})
            peers = {ip: ts for ip, ts in peers.items() if ts >= start - self.WINDOW_S}  # only the last hour counts
            new_peer = remote not in peers
            peers[remote] = float(start)
            updated[key] = peers
            if not new_peer or len(peers) < TOR_RELAY_MIN_PEERS:
                continue
            out.append(Occurrence(
                type="UnauthorizedAccess:EC2/TorRelay", severity=HIGH, time=float(start), account_id=account or "", region=region or "",
                resource=instance_resource(iid, eni, local), resource_key=resource_key(iid, eni, local),
                action={"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                    "connectionDirection": "INBOUND", "protocol": "TCP", "blocked": False, "localNetworkInterface": eni,
                    "localIpDetails": ip_details(local), "localPortDetails": port_details(port), "remoteIpDetails": ip_details(remote)}},
                title=f"EC2 instance {target} is behaving as a Tor relay.",
                description=f"{len(peers)} Tor relays connected to port {port} of EC2 instance {target} within an hour: the instance "
                "appears to be relaying Tor traffic.",
                resource_role="ACTOR", feature_name="FlowLogs", additional_info=_info(tor) | {"torPeers": len(peers)},
                evidence=evidence(tor), remote_ip=remote, aggregation_key=str(port),
            ))
        return out, updated


def _tor(found: tuple[ThreatHit, ...]) -> list[ThreatHit]:
    return [h for h in found if h.category in (Category.TOR_RELAY, Category.TOR_EXIT)]
