"""Wire-form builders for EC2 findings raised from VPC flow logs and DNS logs.

Detectors name the instance as far as the log does (instance id, else network interface or
private IP); the enrichment stage fills the full ``instanceDetails`` from the inventory.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from trailhound.enrich.geo import is_public

PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 2: "IGMP", 47: "GRE", 50: "ESP"}
PORT_NAMES = {
    20: "FTP-DATA", 21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS", 80: "HTTP", 110: "POP3", 123: "NTP",
    143: "IMAP", 389: "LDAP", 443: "HTTPS", 445: "SMB", 465: "SMTPS", 587: "SMTP", 853: "DNS over TLS", 993: "IMAPS",
    995: "POP3S", 1433: "MSSQL", 1521: "Oracle", 2049: "NFS", 3306: "MYSQL", 3389: "RDP", 5432: "PostgreSQL",
    5900: "VNC", 5985: "WinRM", 5986: "WinRM", 6379: "Redis", 8080: "HTTP", 8088: "YARN", 8443: "HTTPS", 9001: "Tor",
    9030: "Tor", 9200: "Elasticsearch", 9300: "Elasticsearch", 11211: "Memcached", 27017: "MongoDB",
}


@lru_cache(maxsize=262144)
def is_private(ip: str) -> bool:
    """Not publicly routable (RFC 1918, loopback, link-local, CGNAT, ...). Invalid text counts as private."""
    return not is_public(ip)


def port_details(port: int | None) -> dict[str, Any]:
    return {"port": port, "portName": PORT_NAMES.get(port or -1, "Unknown")}


def ip_details(ip: str | None) -> dict[str, Any]:
    if not ip:
        return {}
    return {"ipAddressV6": ip} if ":" in ip else {"ipAddressV4": ip}


def instance_resource(instance_id: str | None, eni: str | None = None, private_ip: str | None = None) -> dict[str, Any]:
    nic: dict[str, Any] = {}
    if eni:
        nic["networkInterfaceId"] = eni
    if private_ip:
        nic["privateIpAddress"] = private_ip
    return {"resourceType": "Instance", "instanceDetails": {"instanceId": instance_id, "networkInterfaces": [nic] if nic else []}}


def resource_key(instance_id: str | None, eni: str | None, private_ip: str | None) -> str:
    return instance_id or eni or private_ip or "unknown"


def network_connection_action(
    *, direction: str, protocol: int | None, local_ip: str | None, local_port: int | None, remote_ip: str,
    remote_port: int | None, blocked: bool, eni: str | None,
) -> dict[str, Any]:
    return {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": direction,
            "protocol": PROTOCOLS.get(protocol or -1, str(protocol) if protocol is not None else "Unknown"),
            "blocked": blocked,
            "localNetworkInterface": eni,
            "localIpDetails": ip_details(local_ip),
            "localPortDetails": port_details(local_port),
            "remoteIpDetails": ip_details(remote_ip),
            "remotePortDetails": port_details(remote_port),
        },
    }
