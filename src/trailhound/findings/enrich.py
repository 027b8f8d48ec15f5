"""Enrich occurrences before they become findings.

Detectors report what their events say: an instance id or just a network interface or private
IP, a bare remote address. Here, once per occurrence (rare compared with events), the instance
gets its full ``instanceDetails`` from the inventory and every ``remoteIpDetails`` its country,
city, coordinates and ASN organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from trailhound.enrich.inventory import Inventory
from trailhound.findings.model import Occurrence


class GeoLookup(Protocol):
    def remote_ip_details(self, ip: str) -> dict[str, Any]: ...


def _remote_details(node: Any, geo: GeoLookup) -> None:
    """Fill every remoteIpDetails dict found anywhere in a wire-form action."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "remoteIpDetails" and isinstance(value, dict):
                ip = value.get("ipAddressV4") or value.get("ipAddressV6")
                if ip and len(value) == 1:
                    value.update(geo.remote_ip_details(ip))
            else:
                _remote_details(value, geo)
    elif isinstance(node, list):
        for item in node:
            _remote_details(item, geo)


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
        if res.get("resourceType") == "Instance":
            details = res.get("instanceDetails") or {}
            nics = details.get("networkInterfaces") or [{}]
            known = self.inventory.instance(details.get("instanceId"), nics[0].get("networkInterfaceId"), nics[0].get("privateIpAddress"))
            if known is not None:
                res["instanceDetails"] = known
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
            _remote_details(occ.action, geo)
        return occ
