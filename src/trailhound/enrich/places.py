"""Where a caller's address is, for the identity detectors: country, ASN organisation and coordinates
(``geo.IpInfo``), and whether it is inside AWS.

The geo tables take ~0.1 s to load, so they are opened on the first lookup (a scan with no CloudTrail
never pays). Inside AWS: the operator's ``ip-ranges.json`` when one is configured
(``aws_ranges.default_ranges``), else Amazon's own autonomous systems in the bundled ASN data —
AWS publishes no licence for ip-ranges.json, so none ships, but its address space is announced by
these ASNs. An instance's own public addresses come from the scan's inventory (``inventory``, set by
the pipeline), when it has them. Commercial VPN egress: ``enrich.vpn``'s lists, the big clouds left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trailhound.enrich import vpn

from trailhound.enrich.flows import net64
from trailhound.enrich.geo import GeoProvider, IpInfo, ip_key, is_public

# Amazon's networks (ASN registrations of Amazon.com, Amazon Data Services and AWS in RIR whois and
# PeeringDB): 16509 AMAZON-02, 14618 AMAZON-AES, 8987 AWS Europe, 38895 Amazon AP, 39111 AWS EU,
# 7224 Amazon.com Tech, 10124 Amazon Japan, 62785 Amazon Ireland, 135630 Amazon Connect Technology.
AMAZON_ASNS = frozenset({16509, 14618, 8987, 38895, 39111, 7224, 10124, 62785, 135630})
# The other big clouds' networks (Microsoft 8075, Google 15169, Google Cloud 396982): the VPN list names them
# as datacenters, and CI runners and workloads call from them; renting there is no anonymizing service.
CLOUD_ASNS = AMAZON_ASNS | {8075, 15169, 396982}


_MISS = object()
_REMEMBER = 100_000  # addresses; ~20 MB at most


class GeoPlaces:
    def __init__(self, geo: GeoProvider | Callable[[], GeoProvider] | None, ranges: Any = None, vpn_lists: Sequence[str | Path] = ()) -> None:
        self._geo = geo
        self.ranges = ranges  # an aws_ranges.AwsRanges, or None
        self.vpn_lists = tuple(str(p) for p in vpn_lists)  # the operator's VPN lists, beside the shipped one
        self.inventory: Any = None  # an enrich.inventory.Inventory, or None
        # the estate's own IPv6 /64s, as its interfaces log them and the inventory names them (enrich.stages.FlowAddresses
        # learns into this set): an instance's IPv6 address is its own, where IPv4 goes out through a NAT gateway
        self.own_v6: set[str] = set()
        self._seen: dict[str, IpInfo | None] = {}
        self._vpn: dict[str, bool] = {}  # remembered as ``_seen`` is: asked again for every call of an anomalous series

    def provider(self) -> GeoProvider | None:
        """The geo provider, opened on first use (the finding enricher shares it)."""
        if self._geo is not None and not isinstance(self._geo, GeoProvider):
            self._geo = self._geo()
        return self._geo  # type: ignore[return-value]

    def lookup(self, ip: str | None) -> IpInfo | None:
        # several identity detectors ask about every call's address, and an estate's callers are few:
        # remembered (bounded), a repeat costs one dict probe
        if not ip:
            return None
        hit = self._seen.get(ip, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        info = None
        if ip_key(ip) is not None and is_public(ip):
            geo = self.provider()
            info = geo.lookup(ip) if geo is not None else None
        if len(self._seen) >= _REMEMBER:
            self._seen.clear()
        self._seen[ip] = info
        return info

    def inside_aws(self, ip: str | None) -> bool:
        if not ip or ip_key(ip) is None:
            return False
        if self.ranges is not None and self.ranges.is_aws(ip):
            return True
        info = self.lookup(ip)
        return info is not None and info.asn in AMAZON_ASNS

    def vpn_egress(self, ip: str | None) -> bool:
        """On a commercial VPN or datacenter list (``enrich.vpn``), and not in one of the big clouds."""
        found = self._vpn.get(ip or "")
        if found is None:
            if not ip or ip_key(ip) is None or self.inside_aws(ip):
                found = False
            else:
                info = self.lookup(ip)
                found = (info is None or info.asn not in CLOUD_ASNS) and ip in vpn.load(self.vpn_lists)
            if len(self._vpn) >= _REMEMBER:
                self._vpn.clear()
            self._vpn[ip or ""] = found
        return found

    def estate_v6(self, ip: str) -> bool:
        """Whether ``ip`` is an IPv6 address in one of the estate's own /64s."""
        return bool(self.own_v6) and ":" in ip and net64(ip) in self.own_v6

    def instance_addresses(self, instance_id: str) -> list[str]:
        """The public IPv4 addresses (public IPs, Elastic IPs) and IPv6 addresses of an instance's
        interfaces, as the inventory knows them; [] when it does not know the instance."""
        known = (self.inventory.instance(instance_id) or self.inventory.instance(instance_id.lower())) if self.inventory is not None else None
        out: list[str] = []
        for nic in (known or {}).get("networkInterfaces") or []:
            for ip in [nic.get("publicIp"), *(nic.get("ipv6Addresses") or [])]:
                if isinstance(ip, str) and ip not in out and is_public(ip):
                    out.append(ip)
        return out
