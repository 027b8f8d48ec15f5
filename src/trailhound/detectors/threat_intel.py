"""Threat-intelligence findings: activity involving a known-bad IP or domain.

Which finding type an indicator raises depends on what it is (its ``Category``), where it was
seen (an API call, a flow, a DNS query) and, for API calls, what the call does:

* API calls (CloudTrail management events) — Recon:IAMUser/* for read-only discovery APIs,
  UnauthorizedAccess:IAMUser/* for everything else; MaliciousIPCaller (built-in lists),
  .Custom (the operator's lists), TorIPCaller (Tor exit nodes).
* S3 data events — Discovery:S3 for listing/ACL reads, Exfiltration:S3 for object reads and
  copies, Impact:S3 for writes and deletes (built-in lists); .Custom and Tor split into
  Discovery:S3 vs UnauthorizedAccess:S3.
* Flows — Backdoor:EC2/C&CActivity.B, CryptoCurrency:EC2/BitcoinTool.B, Trojan:EC2/BlackholeTraffic,
  Trojan:EC2/DropPoint, UnauthorizedAccess:EC2/TorClient when the instance opens a connection to a
  listed address (blocked attempts included); UnauthorizedAccess:EC2/MaliciousIPCaller.Custom for
  connections either way. Each connection counts once, on the half that opened it.
* DNS queries — the same families with ``!DNS``, Trojan:EC2/{Phishing,DriveBy,DGA} and
  Impact:EC2/MaliciousDomainRequest.Custom (the operator's domain lists).

Every finding carries ``evidence.threatIntelligenceDetails`` and ``additionalInfo.threatListName``
and aggregates per type, resource and indicator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import polars as pl

from trailhound.detectors.base import Detector, Rule, api_occurrence, bucket_resource
from trailhound.detectors.network import instance_resource, is_private, network_connection_action, resource_key
from trailhound.enrich.domains import domain_with_suffix
from trailhound.enrich.flows import mark_listed
from trailhound.events import ApiCall, DnsQuery, Source
from trailhound.findings.model import HIGH, MEDIUM, Occurrence
from trailhound.intel.index import Category, ThreatHit


class Intel(Protocol):
    def ip(self, ip: str | None) -> tuple[ThreatHit, ...]: ...
    def domain(self, name: str | None) -> tuple[ThreatHit, ...]: ...


class CombinedIntel:
    """Built-in and operator lists behind one lookup (with a memo: indicators repeat heavily)."""

    def __init__(self, *indexes: Any) -> None:
        self.indexes = [i for i in indexes if i is not None]
        self._ip_memo: dict[str | None, tuple[ThreatHit, ...]] = {}
        self._domain_memo: dict[str | None, tuple[ThreatHit, ...]] = {}

    def ip(self, ip: str | None) -> tuple[ThreatHit, ...]:
        return self._lookup(self._ip_memo, ip, "ip")

    def domain(self, name: str | None) -> tuple[ThreatHit, ...]:
        return self._lookup(self._domain_memo, name, "domain")

    def _lookup(self, memo: dict[str | None, tuple[ThreatHit, ...]], key: str | None, kind: str) -> tuple[ThreatHit, ...]:
        hit = memo.get(key)
        if hit is None:
            hit = tuple(h for index in self.indexes for h in getattr(index, kind)(key))
            if len(memo) > 500_000:  # bound the memo; a full reset is cheaper than LRU bookkeeping
                memo.clear()
            memo[key] = hit
        return hit


def evidence(hits: Sequence[ThreatHit]) -> dict[str, Any]:
    """One entry per list, with every threat name the indicator has on it."""
    names: dict[str, list[str]] = {}
    for h in hits:
        listed = names.setdefault(h.list_name, [])
        listed.extend(n for n in h.threat_names if n not in listed)
    return {"threatIntelligenceDetails": [{"threatListName": k, "threatNames": v} for k, v in names.items()]}


def _info(hits: Sequence[ThreatHit]) -> dict[str, Any]:
    first = hits[0]
    info: dict[str, Any] = {"threatListName": first.list_name}
    if first.threat_names:
        info["threatName"] = first.threat_names[0]
    return info


def _pick(hits: Sequence[ThreatHit], categories: Mapping[Category, Any]) -> tuple[Category, list[ThreatHit]] | None:
    """The most specific category present (mapping order = priority) and its hits."""
    for category in categories:
        chosen = [h for h in hits if h.category is category]
        if chosen:
            return category, chosen
    return None


# ---- CloudTrail ------------------------------------------------------------------------------

RECON_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet", "Scan")
S3_DISCOVERY = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions", "GetObjectAcl", "GetBucketAcl", "GetBucketPolicy",
                          "GetBucketLocation", "HeadBucket", "ListMultipartUploads", "ListParts", "GetObjectTagging", "GetBucketTagging",
                          "GetObjectAttributes", "HeadObject"})
S3_COLLECTION = frozenset({"GetObject", "CopyObject", "UploadPartCopy", "SelectObjectContent", "GetObjectTorrent", "RestoreObject"})

_API_CATEGORIES = {Category.CUSTOM: "custom", Category.TOR_EXIT: "tor", Category.MALICIOUS: "malicious", Category.C2: "malicious"}


def api_finding_type(e: ApiCall, category: Category) -> tuple[str, float]:
    kind = _API_CATEGORIES[category]
    if e.is_s3_data_event:
        discovery = e.event_name in S3_DISCOVERY
        if kind == "custom":
            return ("Discovery:S3/MaliciousIPCaller.Custom" if discovery else "UnauthorizedAccess:S3/MaliciousIPCaller.Custom"), HIGH
        if kind == "tor":
            return ("Discovery:S3/TorIPCaller", MEDIUM) if discovery else ("UnauthorizedAccess:S3/TorIPCaller", HIGH)
        if discovery:
            return "Discovery:S3/MaliciousIPCaller", HIGH
        return ("Exfiltration:S3/MaliciousIPCaller" if e.event_name in S3_COLLECTION else "Impact:S3/MaliciousIPCaller"), HIGH
    recon = e.event_name.startswith(RECON_PREFIXES)
    suffix = {"custom": "MaliciousIPCaller.Custom", "tor": "TorIPCaller", "malicious": "MaliciousIPCaller"}[kind]
    return f"{'Recon' if recon else 'UnauthorizedAccess'}:IAMUser/{suffix}", MEDIUM


class ApiCallerThreatIntel(Rule):
    name = "api-caller-threat-intel"
    consumes = Source.CLOUDTRAIL
    finding_types = (
        "Recon:IAMUser/MaliciousIPCaller", "Recon:IAMUser/MaliciousIPCaller.Custom", "Recon:IAMUser/TorIPCaller",
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", "UnauthorizedAccess:IAMUser/TorIPCaller",
        "Discovery:S3/MaliciousIPCaller", "Discovery:S3/MaliciousIPCaller.Custom", "Discovery:S3/TorIPCaller",
        "Exfiltration:S3/MaliciousIPCaller", "Impact:S3/MaliciousIPCaller", "UnauthorizedAccess:S3/MaliciousIPCaller.Custom",
        "UnauthorizedAccess:S3/TorIPCaller",
    )

    def __init__(self, intel: Intel) -> None:
        self.lookup = intel.ip

    def match(self, e: ApiCall) -> list[Occurrence] | None:
        hits = self.lookup(e.source_ip)
        if not hits:
            return None
        out = []
        # One finding per kind of list the caller is on (custom and built-in lists both report).
        for group in ({Category.CUSTOM: 0}, {Category.TOR_EXIT: 0}, {Category.C2: 0, Category.MALICIOUS: 0}):
            picked = _pick(hits, group)
            if picked:
                out.append(self._occurrence(e, *picked))
        return out

    def _occurrence(self, e: ApiCall, category: Category, hits: list[ThreatHit]) -> Occurrence:
        ftype, severity = api_finding_type(e, category)
        source = "a Tor exit node" if category is Category.TOR_EXIT else f"an IP address on the threat list {hits[0].list_name}"
        bucket = str(e.params().get("bucketName") or "") if e.is_s3_data_event else ""
        if bucket:
            occ = api_occurrence(
                e, ftype, severity,
                f"The S3 API {e.event_name} was invoked from {source}.",
                f"The S3 API {e.event_name} on bucket {bucket} was invoked by {e.user_identity.name} from {e.source_ip}, {source}.",
                resource=bucket_resource(e, bucket), resource_key=bucket, affected={"AWS::S3::Bucket": bucket},
                additional_info=_info(hits), aggregation_key=e.source_ip or "",
            )
        else:
            occ = api_occurrence(
                e, ftype, severity,
                f"The API {e.event_name} was invoked from {source}.",
                f"The API {e.event_name} was invoked by {e.user_identity.name} from {e.source_ip}, {source}.",
                additional_info=_info(hits), aggregation_key=e.source_ip or "",
            )
        occ.evidence = evidence(hits)
        return occ


# ---- VPC flow logs -------------------------------------------------------------------------

FLOW_TYPES: dict[Category, tuple[str, float, str]] = {
    Category.C2: ("Backdoor:EC2/C&CActivity.B", HIGH, "a known command and control server"),
    Category.CRYPTO: ("CryptoCurrency:EC2/BitcoinTool.B", HIGH, "an IP address associated with cryptocurrency mining"),
    Category.DROP_POINT: ("Trojan:EC2/DropPoint", MEDIUM, "a drop point for credentials and stolen data"),
    Category.BLACKHOLE: ("Trojan:EC2/BlackholeTraffic", MEDIUM, "a black hole (sinkhole) IP address"),
    Category.CUSTOM: ("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", MEDIUM, "an IP address on a custom threat list"),
}
_TOR = (Category.TOR_RELAY, Category.TOR_EXIT)


EPHEMERAL_MIN = 32768  # Linux's ephemeral range starts here, Windows' at 49152
_SYN, _ACK = 2, 16


def opener(srcport: int | None, dstport: int | None, tcp_flags: int | None = None, service_ports: frozenset[int] = frozenset()) -> bool | None:
    """Whether a flow record is the half that opened its connection (True), the reply (False),
    or cannot tell (None). TCP flags decide when the log has them (SYN without ACK opens, SYN-ACK
    replies); otherwise the service side is the well-known or known service port, else the
    non-ephemeral one. Port-less protocols (ICMP) count as opening."""
    if tcp_flags:
        if tcp_flags & _SYN and not tcp_flags & _ACK:
            return True
        if tcp_flags & _SYN and tcp_flags & _ACK:
            return False
    if srcport is None or dstport is None or srcport == dstport:
        return True
    for s_is_service, d_is_service in ((srcport < 1024, dstport < 1024), (srcport in service_ports, dstport in service_ports),
                                       (srcport < EPHEMERAL_MIN, dstport < EPHEMERAL_MIN)):
        if s_is_service != d_is_service:
            return d_is_service
    return None


def orient(src: str, dst: str, flow_direction: str | None) -> tuple[str, str, str] | None:
    """(direction, local ip, remote ip) of a flow record, or None when neither side is remote."""
    if flow_direction == "ingress":
        return "INBOUND", dst, src
    if flow_direction == "egress":
        return "OUTBOUND", src, dst
    src_private, dst_private = is_private(src), is_private(dst)
    if src_private and not dst_private:
        return "OUTBOUND", src, dst
    if dst_private and not src_private:
        return "INBOUND", dst, src
    return None


def flagged_rows(df: pl.DataFrame, lookup: Any) -> tuple[pl.DataFrame, dict[str, tuple[ThreatHit, ...]]]:
    """The rows whose source or destination is on a list, and those addresses' hits.

    Uses the ``listed`` column the pipeline adds to every flow file (enrich.flows.mark_listed), so a
    batch without any listed address costs one `any()`; without that column, marks the batch itself."""
    if "listed" not in df.columns:
        df = mark_listed(df, lookup)
    if not df["listed"].any():
        return df.clear(), {}
    rows = df.filter(pl.col("listed"))
    addresses = set(rows["srcaddr"].to_list()) | set(rows["dstaddr"].to_list())
    return rows, {ip: h for ip in addresses if (h := lookup(ip))}


_FLOW_COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "action", "flow_direction", "instance_id", "interface_id", "start",
                 "account_id", "region", "tcp_flags")


class FlowIntelDetector(Detector):
    """A flow detector that only needs the rows whose source or destination is listed."""

    consumes = Source.FLOW

    def __init__(self, intel: Intel) -> None:
        self.lookup = intel.ip

    def run(self, df: pl.DataFrame, state: Mapping[str, Any]) -> tuple[list[Occurrence], dict[str, Any]]:
        rows, hits = flagged_rows(df, self.lookup)
        return (self.judge(rows, hits) if hits else []), {}

    def judge(self, rows: pl.DataFrame, hits: dict[str, tuple[ThreatHit, ...]]) -> list[Occurrence]:
        raise NotImplementedError


class FlowThreatIntel(FlowIntelDetector):
    name = "flow-threat-intel"
    finding_types = tuple(t for t, _, _ in FLOW_TYPES.values()) + ("UnauthorizedAccess:EC2/TorClient",)

    def judge(self, rows: pl.DataFrame, hits: dict[str, tuple[ThreatHit, ...]]) -> list[Occurrence]:
        out: list[Occurrence] = []
        for src, dst, sport, dport, proto, action, fdir, iid, eni, start, account, region, flags in rows.select(_FLOW_COLUMNS).iter_rows():
            oriented = orient(src, dst, fdir)
            if oriented is None:
                continue
            direction, local, remote = oriented
            found = hits.get(remote)
            if not found:
                continue
            opened = opener(sport, dport, flags)
            if opened is None:  # ports tell nothing: a listed host is a server the instance reached out to
                opened = direction == "OUTBOUND"
            if not opened:
                continue  # a reply half: the connection is counted once, on the half that opened it
            local_port, remote_port = (sport, dport) if direction == "OUTBOUND" else (dport, sport)
            action_wire = network_connection_action(
                direction=direction, protocol=proto, local_ip=local, local_port=local_port, remote_ip=remote,
                remote_port=remote_port, blocked=action == "REJECT", eni=eni,
            )
            target = iid or eni or local
            for category, (ftype, severity, what) in FLOW_TYPES.items():
                chosen = [h for h in found if h.category is category]
                # The instance must be the one reaching out, except for the operator's own lists,
                # which GuardDuty applies to traffic in either direction.
                if chosen and (direction == "OUTBOUND" or category is Category.CUSTOM):
                    out.append(self._occ(ftype, severity, f"EC2 instance {target} is communicating with {remote}, {what}.", chosen, start, iid, eni, local, remote, direction, action_wire, account, region))
            if direction == "OUTBOUND":
                tor = [h for h in found if h.category in _TOR]
                if tor:
                    out.append(self._occ("UnauthorizedAccess:EC2/TorClient", HIGH, f"EC2 instance {target} is communicating with the Tor node {remote}.", tor, start, iid, eni, local, remote, direction, action_wire, account, region))
        return out

    @staticmethod
    def _occ(ftype: str, severity: float, title: str, hits: list[ThreatHit], start: int, iid: str | None, eni: str | None,
             local: str, remote: str, direction: str, action: dict[str, Any], account: str | None, region: str | None) -> Occurrence:
        return Occurrence(
            type=ftype, severity=severity, time=float(start), account_id=account or "", region=region or "",
            resource=instance_resource(iid, eni, local), resource_key=resource_key(iid, eni, local), action=action,
            title=title,
            description=f"{title} The {direction.lower()} traffic was recorded in VPC flow logs; {remote} is on {hits[0].list_name}.",
            resource_role="ACTOR" if direction == "OUTBOUND" else "TARGET", feature_name="FlowLogs",
            additional_info=_info(hits), evidence=evidence(hits), remote_ip=remote, aggregation_key=remote,
        )


# ---- DNS -------------------------------------------------------------------------------------

DNS_TYPES: dict[Category, tuple[str, float, str]] = {
    Category.C2: ("Backdoor:EC2/C&CActivity.B!DNS", HIGH, "a known command and control server"),
    Category.CRYPTO: ("CryptoCurrency:EC2/BitcoinTool.B!DNS", HIGH, "cryptocurrency-related activity"),
    Category.DGA: ("Trojan:EC2/DGADomainRequest.C!DNS", HIGH, "a domain generated by a domain generation algorithm (DGA)"),
    Category.PHISHING: ("Trojan:EC2/PhishingDomainRequest!DNS", HIGH, "phishing"),
    Category.DRIVE_BY: ("Trojan:EC2/DriveBySourceTraffic!DNS", HIGH, "a known source of drive-by download attacks"),
    Category.DROP_POINT: ("Trojan:EC2/DropPoint!DNS", MEDIUM, "a drop point for credentials and stolen data"),
    Category.BLACKHOLE: ("Trojan:EC2/BlackholeTraffic!DNS", MEDIUM, "a black hole (sinkhole)"),
    Category.CUSTOM: ("Impact:EC2/MaliciousDomainRequest.Custom", MEDIUM, "a domain on a custom threat list"),
}
IMDS_ADDRESSES = frozenset({"169.254.169.254", "fd00:ec2::254"})
# AWS's own names for the metadata service are not a rebinding attack.
_IMDS_OWN_NAMES = ("instance-data", "instance-data.ec2.internal", "metadata.google.internal")


def dns_action(q: DnsQuery) -> dict[str, Any]:
    domain = q.query_name.rstrip(".")
    return {
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {
            "domain": domain,
            "protocol": q.transport or "UDP",
            "blocked": q.firewall_rule_action == "BLOCK",
            "domainWithSuffix": domain_with_suffix(domain),
        },
    }


def dns_occurrence(q: DnsQuery, ftype: str, severity: float, title: str, description: str, *, info: dict[str, Any], key: str,
                   hits: Sequence[ThreatHit] = ()) -> Occurrence:
    iid = q.srcids.instance
    return Occurrence(
        type=ftype, severity=severity, time=q.query_timestamp.timestamp(), account_id=q.account_id, region=q.region,
        resource=instance_resource(iid, None, q.srcaddr), resource_key=resource_key(iid, None, q.srcaddr), action=dns_action(q),
        title=title, description=description, resource_role="ACTOR", feature_name="DnsLogs", additional_info=info,
        evidence=evidence(hits) if hits else None, aggregation_key=key,
    )


class DnsThreatIntel(Rule):
    name = "dns-threat-intel"
    consumes = Source.DNS
    finding_types = tuple(t for t, _, _ in DNS_TYPES.values()) + ("UnauthorizedAccess:EC2/MetadataDNSRebind",)

    def __init__(self, intel: Intel) -> None:
        self.domain = intel.domain
        self.ip = intel.ip
        self._name_listed: dict[str, bool] = {}  # memo: query names and answers repeat heavily
        self._answer_flagged: dict[str, bool] = {}

    def candidates(self, events: Sequence[DnsQuery]) -> list[DnsQuery]:
        names, answers = self._name_listed, self._answer_flagged
        if len(names) > 500_000:
            names.clear()
        if len(answers) > 500_000:
            answers.clear()
        out = []
        for q in events:
            listed = names.get(q.query_name)
            if listed is None:
                listed = names[q.query_name] = bool(self.domain(q.query_name.rstrip(".").lower()))
            if not listed:
                for a in q.answers:
                    flagged = answers.get(a.rdata)
                    if flagged is None:
                        flagged = answers[a.rdata] = a.rdata in IMDS_ADDRESSES or any(h.category is Category.BLACKHOLE for h in self.ip(a.rdata))
                    if flagged:
                        listed = True
                        break
            if listed:
                out.append(q)
        return out

    def match(self, q: DnsQuery) -> list[Occurrence] | None:
        out: list[Occurrence] = []
        name = q.query_name.rstrip(".").lower()
        hits = list(self.domain(name))
        for answer in q.answers:
            if answer.type in ("A", "AAAA"):
                if answer.rdata in IMDS_ADDRESSES and name not in _IMDS_OWN_NAMES:
                    out.append(dns_occurrence(
                        q, "UnauthorizedAccess:EC2/MetadataDNSRebind", HIGH,
                        f"The domain {name} resolves to the instance metadata service.",
                        f"An instance queried {name}, which resolved to {answer.rdata}, the EC2 instance metadata service. "
                        "This is a DNS rebinding attempt to reach instance credentials through a web application.",
                        info={"domain": name}, key=name,
                    ))
                # A domain answered with a sinkhole address is being redirected to a black hole.
                hits.extend(h for h in self.ip(answer.rdata) if h.category is Category.BLACKHOLE)
        if not hits:
            return out or None
        for category, (ftype, severity, what) in DNS_TYPES.items():
            chosen = [h for h in hits if h.category is category]
            if chosen:
                out.append(dns_occurrence(
                    q, ftype, severity, f"An instance is querying {name}, a domain associated with {what}.",
                    f"An EC2 instance queried {name}, which is on {chosen[0].list_name}"
                    + (f" ({', '.join(chosen[0].threat_names)})" if chosen[0].threat_names else "") + ".",
                    info=_info(chosen) | {"domain": name}, key=name, hits=chosen,
                ))
        return out
