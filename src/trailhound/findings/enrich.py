"""Enrich occurrences before they become findings.

Detectors report what their events say: an instance id or just a network interface or private
IP, a bare remote address. Here, once per occurrence (rare compared with events), the instance
gets its full ``instanceDetails`` from the inventory and every ``remoteIpDetails`` its country,
city, coordinates and ASN organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from trailhound.enrich.inventory import Inventory
from trailhound.findings.model import InstanceDetails, InstanceResource, Occurrence, RemoteIpDetails, remote_ips


class GeoLookup(Protocol):
    def remote_ip_details(self, ip: str) -> dict[str, Any]: ...


class Enricher:
    def __init__(self, inventory: Inventory, geo: GeoLookup | Callable[[], GeoLookup] | None = None, default_region: str = "us-east-1") -> None:
        self.inventory = inventory
        self._geo = geo  # a provider, or a factory called on the first finding (geo tables take 0.2 s to load)
        self.default_region = default_region

    @property
    def geo(self) -> GeoLookup | None:
        if callable(self._geo) and not hasattr(self._geo, "remote_ip_details"):
            self._geo = self._geo()
        return self._geo  # type: ignore[return-value]

    def __call__(self, occ: Occurrence) -> Occurrence:
        res = occ.resource
        if isinstance(res, InstanceResource):
            details = res.instance_details
            nic = details.network_interfaces[0] if details.network_interfaces else None
            address = (nic.private_ip_address or next(iter(nic.ipv6_addresses), None)) if nic else None
            known = self.inventory.instance(details.instance_id, nic.network_interface_id if nic else None, address)
            if known is not None:
                occ.resource = InstanceResource(instance_details=msgspec.convert(known, InstanceDetails))
                # the instance, however the log named it (ENI in v2 flows, id in v3+): one finding per instance
                occ.resource_key = known["instanceId"]
                if not occ.region and known.get("availabilityZone"):
                    occ.region = known["availabilityZone"][:-1]
                if not occ.account_id:
                    arn = (known.get("iamInstanceProfile") or {}).get("arn") or ""
                    occ.account_id = arn.split(":")[4] if arn.count(":") >= 5 else ""
        if not occ.region:
            occ.region = self.default_region
        if not occ.account_id:
            occ.account_id = "000000000000"
        geo = self.geo
        if geo is not None:
            for details in remote_ips(occ.action):
                ip = details.ip
                if ip and details.organization is None and details.country is None:
                    filled = msgspec.convert(geo.remote_ip_details(ip), RemoteIpDetails)
                    for field in ("city", "country", "geo_location", "organization"):
                        setattr(details, field, getattr(filled, field))
        return occ
