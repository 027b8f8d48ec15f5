"""IP threat lists and trusted-IP lists (GuardDuty's ThreatIntelSet / IPSet).

Lists are read by ``intel.formats`` in any GuardDuty format (TXT, STIX, OTX_CSV, ALIEN_VAULT,
PROOF_POINT, FIRE_EYE), sniffed from the content or forced with ``FORMAT:PATH``. A bad line is
reported with its line number and skipped; the rest of the list loads. This matcher holds the
addresses and networks only: domains of a list are reported as ignored (``intel.index``
matches both).

Lookups are per event on the hot path, so they avoid ``ipaddress``: exact addresses sit in a
dict (most indicators are single hosts), and CIDRs in one integer set per prefix length,
probed with a shift — no per-lookup object allocation.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from trailhound.formats.base import Problem
from trailhound.intel.formats import DOMAIN, ListLoad, load_list

__all__ = ["IpMatcher", "ListLoad", "is_public", "load_lists", "load_txt"]

_inet_pton = socket.inet_pton
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6


def _to_int(ip: str) -> tuple[int, int] | None:
    """(version bits, integer) of a textual IP, or None when it is not a valid address."""
    try:
        if ":" in ip:
            return 128, int.from_bytes(_inet_pton(_AF6, ip), "big")
        return 32, int.from_bytes(_inet_pton(_AF4, ip), "big")
    except OSError:
        return None


@dataclass
class IpMatcher:
    """Which named lists an IP is on."""

    exact: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # (bits, prefix length) -> {network int >> host bits: list names}
    nets: dict[tuple[int, int], dict[int, tuple[str, ...]]] = field(default_factory=dict)
    size: int = 0

    def add(self, entry: str, list_name: str) -> None:
        net = ipaddress.ip_network(entry, strict=False)  # raises ValueError on bad input
        bits = net.max_prefixlen
        self.size += 1
        if net.prefixlen == bits:
            key = str(net.network_address)
            names = self.exact.get(key, ())
            if list_name not in names:
                self.exact[key] = names + (list_name,)
            return
        table = self.nets.setdefault((bits, net.prefixlen), {})
        k = int(net.network_address) >> (bits - net.prefixlen)
        names = table.get(k, ())
        if list_name not in names:
            table[k] = names + (list_name,)

    def lookup(self, ip: str | None) -> tuple[str, ...]:
        if not ip:
            return ()
        hit = self.exact.get(ip)
        if hit is not None:
            return hit
        if not self.nets:
            return ()
        parsed = _to_int(ip)
        if parsed is None:
            return ()
        bits, n = parsed
        if bits == 32 and ":" not in ip and ip != str(ipaddress.IPv4Address(n)):
            hit = self.exact.get(str(ipaddress.IPv4Address(n)))  # normalised form
            if hit is not None:
                return hit
        names: tuple[str, ...] = ()
        for (b, plen), table in self.nets.items():
            if b == bits:
                found = table.get(n >> (bits - plen))
                if found:
                    names += found
        return names

    def __contains__(self, ip: str | None) -> bool:
        return bool(self.lookup(ip))

    def __len__(self) -> int:
        return self.size


def load_txt(path: Path, matcher: IpMatcher, name: str | None = None) -> ListLoad:
    """Add the addresses and networks of a list file (TXT or any other format, see
    ``intel.formats``; ``FORMAT:PATH`` forces one) to `matcher`."""
    load = load_list(path, name=name)
    for value, kind, _ in load.indicators:
        if kind != DOMAIN:
            matcher.add(value, load.name)
    if load.domains:
        load.problems.append(Problem(str(load.path), f"{load.domains} domain entries ignored: this list matches IP addresses only"))
        load.problem_count += 1
    load.entries -= load.domains
    return load


def is_public(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


def load_lists(paths: Iterable[Path]) -> tuple[IpMatcher, list[ListLoad]]:
    matcher = IpMatcher()
    return matcher, [load_txt(Path(p), matcher) for p in paths]
