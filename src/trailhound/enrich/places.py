"""Where a caller's address is, for the identity detectors: country, ASN organisation and coordinates
(``geo.IpInfo``), and whether it is inside AWS.

The geo tables take 0.2 s to load, so they are opened on the first lookup (a scan with no CloudTrail
never pays). Inside AWS: the operator's ``ip-ranges.json`` when one is configured
(``aws_ranges.default_ranges``), else Amazon's own autonomous systems in the bundled ASN data —
AWS publishes no licence for ip-ranges.json, so none ships, but its address space is announced by
these ASNs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trailhound.enrich.geo import GeoProvider, IpInfo, ip_key, is_public

# Amazon's networks (ASN registrations of Amazon.com, Amazon Data Services and AWS in RIR whois and
# PeeringDB): 16509 AMAZON-02, 14618 AMAZON-AES, 8987 AWS Europe, 38895 Amazon AP, 39111 AWS EU,
# 7224 Amazon.com Tech, 10124 Amazon Japan, 62785 Amazon Ireland, 135630 Amazon Connect Technology.
AMAZON_ASNS = frozenset({16509, 14618, 8987, 38895, 39111, 7224, 10124, 62785, 135630})


class GeoPlaces:
    def __init__(self, geo: GeoProvider | Callable[[], GeoProvider] | None, ranges: Any = None) -> None:
        self._geo = geo
        self.ranges = ranges  # an aws_ranges.AwsRanges, or None

    def provider(self) -> GeoProvider | None:
        """The geo provider, opened on first use (the finding enricher shares it)."""
        if self._geo is not None and not isinstance(self._geo, GeoProvider):
            self._geo = self._geo()
        return self._geo  # type: ignore[return-value]

    def lookup(self, ip: str | None) -> IpInfo | None:
        if not ip or ip_key(ip) is None or not is_public(ip):
            return None
        geo = self.provider()
        return geo.lookup(ip) if geo is not None else None

    def inside_aws(self, ip: str | None) -> bool:
        if not ip or ip_key(ip) is None:
            return False
        if self.ranges is not None and self.ranges.is_aws(ip):
            return True
        info = self.lookup(ip)
        return info is not None and info.asn in AMAZON_ASNS
