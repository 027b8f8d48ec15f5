"""Builders of finding parts, shared by every detector.

Detectors name things as far as their log does (an instance id, else a network interface or a
private IP; a bare remote address); the enrichment stage completes them (``findings.enrich``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trailhound.findings.model import (
    AccessKeyDetails,
    AccessKeyResource,
    AwsApiCall,
    AwsApiCallAction,
    DnsRequest,
    DnsRequestAction,
    DomainDetails,
    Evidence,
    InstanceDetails,
    InstanceResource,
    LocalIpDetails,
    NetworkConnection,
    NetworkConnectionAction,
    NetworkInterface,
    Occurrence,
    PortDetails,
    PortProbe,
    PortProbeAction,
    PortProbeDetail,
    RemoteIpDetails,
    S3BucketDetail,
    S3BucketResource,
    ThreatIntelligenceDetail,
)

if TYPE_CHECKING:
    from trailhound.events import ApiCall
    from trailhound.intel.index import ThreatHit

PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 2: "IGMP", 47: "GRE", 50: "ESP"}
PORT_NAMES = {
    20: "FTP-DATA", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS", 80: "HTTP", 110: "POP3", 123: "NTP",
    143: "IMAP", 389: "LDAP", 443: "HTTPS", 445: "SMB", 465: "SMTPS", 587: "SMTP", 853: "DNS over TLS", 993: "IMAPS",
    995: "POP3S", 1433: "MSSQL", 1521: "Oracle", 2049: "NFS", 3306: "MYSQL", 3389: "RDP", 5432: "PostgreSQL",
    5900: "VNC", 5985: "WinRM", 5986: "WinRM", 6379: "Redis", 8080: "HTTP", 8088: "YARN", 8443: "HTTPS", 9001: "Tor",
    9030: "Tor", 9200: "Elasticsearch", 9300: "Elasticsearch", 11211: "Memcached", 27017: "MongoDB",
}


# ---- addresses, ports, protocols ------------------------------------------------------------

def remote_ip(ip: str) -> RemoteIpDetails:
    return RemoteIpDetails(ip_address_v6=ip) if ":" in ip else RemoteIpDetails(ip_address_v4=ip)


def local_ip(ip: str | None) -> LocalIpDetails:
    if not ip:
        return LocalIpDetails()
    return LocalIpDetails(ip_address_v6=ip) if ":" in ip else LocalIpDetails(ip_address_v4=ip)


def port(number: int | None) -> PortDetails:
    return PortDetails(port=number, port_name=PORT_NAMES.get(number if number is not None else -1, "Unknown"))


def protocol_name(number: int | None) -> str:
    return PROTOCOLS.get(number if number is not None else -1, str(number) if number is not None else "Unknown")


# ---- resources --------------------------------------------------------------------------------

def instance_key(instance_id: str | None, eni: str | None, private_ip: str | None) -> str:
    """The instance as far as the log names it (enrichment replaces it by the instance id when it can)."""
    return instance_id or eni or private_ip or "unknown"


def instance_resource(instance_id: str | None, eni: str | None = None, private_ip: str | None = None) -> InstanceResource:
    if private_ip and ":" in private_ip:  # an IPv6 address is the interface's (global) IPv6 address, not its private IPv4 one
        nics = [NetworkInterface(network_interface_id=eni, ipv6_addresses=[private_ip])]
    else:
        nics = [NetworkInterface(network_interface_id=eni, private_ip_address=private_ip)] if eni or private_ip else []
    return InstanceResource(instance_details=InstanceDetails(instance_id=instance_id, network_interfaces=nics))


def access_key_details(e: ApiCall) -> AccessKeyDetails:
    ident = e.user_identity
    return AccessKeyDetails(access_key_id=ident.access_key_id, principal_id=ident.principal_id, user_name=ident.name, user_type=ident.type)


def access_key_resource(e: ApiCall) -> AccessKeyResource:
    return AccessKeyResource(access_key_details=access_key_details(e))


def bucket_resource(e: ApiCall, bucket: str, public_access: dict[str, Any] | None = None) -> S3BucketResource:
    detail = S3BucketDetail(arn=f"arn:aws:s3:::{bucket}", name=bucket, type="Destination", tags=[], public_access=public_access)
    return S3BucketResource(access_key_details=access_key_details(e), s3_bucket_details=[detail])


def principal_key(e: ApiCall) -> str:
    """Aggregation id for IAM findings: the principal, stable across rotating session keys."""
    ident = e.user_identity
    issuer = ident.session_context.session_issuer if ident.session_context else None
    if ident.type == "AssumedRole" and issuer and issuer.arn:
        if ":role/aws-reserved/sso.amazonaws.com/" in issuer.arn and ident.arn:
            return f"{issuer.arn}/{ident.arn.rsplit('/', 1)[-1]}"  # Identity Center: one permission set, many people (each their own)
        return issuer.arn
    return ident.arn or ident.principal_id or ident.access_key_id or "unknown"


# ---- actions ----------------------------------------------------------------------------------

def is_ip(value: str | None) -> bool:
    return bool(value) and (value[:1].isdigit() or ":" in value)  # type: ignore[index]


def api_call(e: ApiCall, affected: Mapping[str, str] | None = None) -> AwsApiCall:
    remote = is_ip(e.source_ip)
    return AwsApiCall(aws_api_call_action=AwsApiCallAction(
        # (a record without a source address says nothing of its caller: no service is assumed)
        api=e.event_name, service_name=e.event_source, caller_type="Remote IP" if remote else "AWS Service" if e.source_ip else None,
        user_agent=e.user_agent,
        error_code=e.error_code or None, remote_ip_details=remote_ip(e.source_ip) if remote and e.source_ip else None,
        domain_details=DomainDetails(domain=e.source_ip) if e.source_ip and not remote else None,
        affected_resources=dict(affected) if affected else None,
    ))


def network_connection(*, direction: str, protocol: int | None, local: str | None, local_port: int | None, remote: str,
                       remote_port: int | None, blocked: bool, eni: str | None) -> NetworkConnection:
    return NetworkConnection(network_connection_action=NetworkConnectionAction(
        connection_direction=direction, protocol=protocol_name(protocol), blocked=blocked, local_network_interface=eni,
        local_ip_details=local_ip(local), local_port_details=port(local_port), remote_ip_details=remote_ip(remote),
        remote_port_details=port(remote_port),
    ))


def port_probe(local: str | None, probes: Sequence[tuple[int, str]], blocked: bool = False) -> PortProbe:
    """A PORT_PROBE action listing (local port, remote ip) probes."""
    details = [PortProbeDetail(local_port_details=port(p), local_ip_details=local_ip(local), remote_ip_details=remote_ip(r)) for p, r in probes]
    return PortProbe(port_probe_action=PortProbeAction(blocked=blocked, port_probe_details=details))


def dns_request(domain: str, protocol: str | None, blocked: bool, domain_with_suffix: str | None) -> DnsRequest:
    return DnsRequest(dns_request_action=DnsRequestAction(domain=domain, protocol=protocol, blocked=blocked, domain_with_suffix=domain_with_suffix))


# ---- threat intelligence evidence -------------------------------------------------------------

def evidence(hits: Sequence[ThreatHit]) -> Evidence:
    """One entry per list, with every threat name the indicator has on it."""
    names: dict[str, list[str]] = {}
    for h in hits:
        listed = names.setdefault(h.list_name, [])
        listed.extend(n for n in h.threat_names if n not in listed)
    return Evidence(threat_intelligence_details=[ThreatIntelligenceDetail(threat_list_name=k, threat_names=v) for k, v in names.items()])


def threat_info(hits: Sequence[ThreatHit]) -> dict[str, Any]:
    """``additionalInfo`` of a threat-intel finding: the first list and threat name."""
    first = hits[0]
    info: dict[str, Any] = {"threatListName": first.list_name}
    if first.threat_names:
        info["threatName"] = first.threat_names[0]
    return info


def api_occurrence(
    e: ApiCall,
    type: str,
    severity: float,
    title: str,
    description: str,
    *,
    resource: Any = None,
    resource_key: str | None = None,
    affected: Mapping[str, str] | None = None,
    additional_info: dict[str, Any] | None = None,
    aggregation_key: str = "",
    evidence: Evidence | None = None,
) -> Occurrence:
    """An occurrence raised by one CloudTrail event (resource: the caller's access key unless given)."""
    from trailhound.detectors.principals import identity_key  # (the detectors build on this module)

    info = {"userAgent": {"fullUserAgent": e.user_agent}} if e.user_agent else {}
    if additional_info:
        info.update(additional_info)
    return Occurrence(actor=identity_key(e),
        type=type, severity=severity, time=e.event_time.timestamp(), account_id=e.account_id, region=e.aws_region,
        resource=resource or access_key_resource(e), resource_key=resource_key or principal_key(e), action=api_call(e, affected),
        title=title, description=description, feature_name="S3DataEvents" if e.event_category == "Data" else "CloudTrail",
        additional_info=info, remote_ip=e.source_ip, aggregation_key=aggregation_key, evidence=evidence,
    )
