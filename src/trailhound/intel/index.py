"""The threat-intelligence index: IPs and domains -> what list, what kind.

``IntelIndex.add(load, category)`` adds a parsed list (``load_list``) under a ``Category`` — what
an indicator *is*, which decides the GuardDuty finding type a detector raises. ``ip()`` and
``domain()`` return one ``ThreatHit`` per list (and per threat-name set) that covers the value,
exact entries and CIDRs alike, in the order the lists were added; ``()`` on no match or bad
input. ``ip_mask()``/``ips()`` do the same for a batch of addresses (flow logs).

Private and reserved addresses are dropped from every category but CUSTOM when a list is added:
feeds such as FireHOL level 1 carry the bogons (10.0.0.0/8, ...), which would otherwise mark
all internal traffic as malicious. A network that is public but holds such a block (172.0.0.0/8
holds 172.16.0.0/12) keeps its public parts only. ``public_only=True`` does the same for CUSTOM.
"""

from __future__ import annotations

import enum
import ipaddress
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from trailhound.enrich.geo import public_spans
from trailhound.formats.base import Problem
from trailhound.intel.domains import DomainMatcher
from trailhound.intel.formats import DOMAIN, NET, ListLoad
from trailhound.intel.iptable import IpTable, parse_entry

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Category", "ThreatHit", "IntelIndex", "ListInfo", "is_global_entry", "public_parts"]


class Category(str, enum.Enum):
    """What an indicator is, which decides the GuardDuty finding type."""

    CUSTOM = "custom"  # operator's threat list -> *.Custom types
    MALICIOUS = "malicious"  # generic known-bad IP (ipsum, FireHOL level 1) -> *MaliciousIPCaller
    TOR_EXIT = "tor-exit"  # Tor exit nodes
    TOR_RELAY = "tor-relay"  # any relay / guard / authority
    C2 = "c2"
    CRYPTO = "crypto"
    BLACKHOLE = "blackhole"
    DROP_POINT = "drop-point"
    PHISHING = "phishing"
    DRIVE_BY = "drive-by"
    DGA = "dga"
    SCANNER = "scanner"


class ThreatHit(NamedTuple):
    list_name: str
    category: Category
    threat_names: tuple[str, ...]


@dataclass
class ListInfo:
    """What one named list contributed to the index (summed over its loads)."""

    name: str
    categories: list[Category] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    ips: int = 0  # addresses and networks
    domains: int = 0
    dropped_non_public: int = 0
    sources: list[str] = field(default_factory=list)


# Special-purpose IPv4 blocks (IANA): an address outside them is globally routable for sure;
# inside, ipaddress decides (its tables follow the registry of the running Python).
_SPECIAL_V4 = sorted(
    (int(n.network_address), int(n.broadcast_address))
    for n in map(ipaddress.IPv4Network, (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/3",
    ))
)
_SPECIAL_STARTS = [lo for lo, _ in _SPECIAL_V4]


def is_global_entry(value: str) -> bool:
    """Whether a canonical list entry (address or network) is globally routable, by ``ipaddress``'s
    ``is_global`` — not ``enrich.geo.is_public``, which takes addresses only and differs on multicast,
    6to4 and a few IPv6 blocks; switching would change which list entries are dropped."""
    bits, first, last, single = parse_entry(value)
    if bits == 32 and single:
        i = bisect_right(_SPECIAL_STARTS, first) - 1
        if i < 0 or first > _SPECIAL_V4[i][1]:
            return True
        return ipaddress.IPv4Address(first).is_global
    if single:
        return ipaddress.IPv6Address(first).is_global
    return ipaddress.ip_network(value, strict=False).is_global


def public_parts(value: str) -> list[str]:
    """A canonical network cut to its publicly routable parts (``[]`` when it has none, ``[value]``
    when it is all public), so that a public /8 holding a private block never matches internal traffic.
    Cut by ``enrich.geo``'s table, the one flow enrichment tells private sides by."""
    bits, first, last, _ = parse_entry(value)
    spans = public_spans(first, last, bits // 8)
    if spans == [(first, last)]:
        return [value]
    make = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
    return [str(n) for lo, hi in spans for n in ipaddress.summarize_address_range(make(lo), make(hi))]


class IntelIndex:
    """IPs and domains -> ``ThreatHit``s. Add lists, then look up.

    ``ip``/``domain`` are the per-event hot path. ``freeze()`` (or the first lookup) builds the
    IP table and binds ``index.ip`` straight to its lookup closure; adding a list unbinds it
    until the next lookup. Call ``freeze()`` before handing ``index.ip`` to a hot loop, so the
    loop holds the closure rather than the building method (a closure taken before a later
    ``add`` keeps answering from the tables it was built with). ``intel.builtin.builtin_index()`` is frozen.
    """

    def __init__(self) -> None:
        self._ips: IpTable[ThreatHit] = IpTable()
        self._domains: DomainMatcher[ThreatHit] = DomainMatcher()
        self._lists: dict[str, ListInfo] = {}
        self.problems: list[Problem] = []  # fatal load problems of lists that could not be used
        # list name -> what the known-benign filter (``intel.benign``) took out of it, and when ("build" or "load")
        self.benign_filtered: dict[str, dict[str, object]] = {}
        self.domain = self._domains.lookup  # type: ignore[method-assign]

    # -- building ------------------------------------------------------------------------
    def add(self, load: ListLoad, category: Category, *, public_only: bool | None = None,
            default_names: tuple[str, ...] = (), ip_category: Category | None = None) -> list[str]:
        """Add every indicator of `load` under `category`, listed as ``load.name``; returns the
        address entries dropped as private or reserved.

        `public_only` (default: every category but CUSTOM) drops private/reserved addresses;
        `default_names` are the threat names of indicators whose source gave none;
        `ip_category` files the addresses of the list under another category (a DGA family's
        list also names its C&C servers' IPs).
        """
        category = Category(category)
        if public_only is None:
            public_only = category is not Category.CUSTOM
        info = self._lists.setdefault(load.name, ListInfo(load.name))
        if category not in info.categories:
            info.categories.append(category)
        if load.format not in info.formats:
            info.formats.append(load.format)
        info.sources.append(str(load.path))
        hits: dict[tuple[str, ...], ThreatHit] = {}
        ip_cat = Category(ip_category) if ip_category is not None else category
        ip_hits: dict[tuple[str, ...], ThreatHit] = {}
        add_domain, add_ip = self._domains._add_canonical, self._ips.add
        ips_before = info.ips
        dropped: list[str] = []
        for value, kind, names in load.indicators:
            names = names or default_names
            if kind == DOMAIN:
                hit = hits.get(names)
                if hit is None:
                    hit = hits[names] = ThreatHit(load.name, category, names)
                add_domain(value, hit)
                info.domains += 1
                continue
            parts = [value]
            if public_only:
                if not is_global_entry(value):
                    parts = []
                elif kind == NET:
                    parts = public_parts(value)
                if not parts:
                    info.dropped_non_public += 1
                    dropped.append(value)
                    continue
            hit = ip_hits.get(names)
            if hit is None:
                hit = ip_hits[names] = ThreatHit(load.name, ip_cat, names)
            for part in parts:
                add_ip(part, hit)
            info.ips += 1
        if info.ips > ips_before and ip_cat not in info.categories:
            info.categories.append(ip_cat)
        self.__dict__.pop("ip", None)  # rebind on next lookup
        self.__dict__.pop("_under", None)
        return dropped

    def freeze(self) -> IntelIndex:
        """Build the lookup tables now (they are otherwise built on the first lookup); returns self."""
        self.ip = self._ips.compiled()  # type: ignore[method-assign]
        return self

    # -- lookups -------------------------------------------------------------------------
    def ip(self, ip: str | None) -> tuple[ThreatHit, ...]:
        """Hits for one address (text, IPv4 or IPv6): exact entries and covering CIDRs."""
        self.ip = self._ips.compiled()  # type: ignore[method-assign]
        return self.ip(ip)

    def ip_mask(self, batch: Sequence[str | None] | pl.Series) -> tuple[np.ndarray, list[tuple[ThreatHit, ...]]]:
        """For a batch (a polars Series or a sequence of address strings): a boolean mask of the
        rows on any list, and the hits of the matched rows only, in row order."""
        return self._ips.match(batch)

    def ips(self, batch: Sequence[str | None] | pl.Series) -> list[tuple[ThreatHit, ...]]:
        """Hits for every row of a batch (``()`` where none)."""
        mask, hits = self._ips.match(batch)
        out: list[tuple[ThreatHit, ...]] = [()] * len(mask)
        for i, h in zip(np.flatnonzero(mask).tolist(), hits):
            out[i] = h
        return out

    def domain(self, name: str | None) -> tuple[ThreatHit, ...]:
        """Hits for a DNS name: every listed domain it is or is under, the most specific first."""
        return self._domains.lookup(name)

    def domains(self, batch: Sequence[str | None]) -> list[tuple[ThreatHit, ...]]:
        lookup = self._domains.lookup
        return [lookup(n) for n in batch]

    def domains_under(self, name: str) -> int:
        """How many listed domains lie strictly under ``name`` (canonical form): ``evil.com`` has one when
        only ``c2.evil.com`` is listed. Counted once, on first use (domain reputation's closeness signal)."""
        counts = self.__dict__.get("_under")
        if counts is None:
            counts = self._under = Counter()
            for key in self._domains:
                i = key.find(".")
                while (j := key.find(".", i + 1)) > 0:
                    counts[key[i + 1 :]] += 1
                    i = j
        return counts.get(name, 0)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("ip", None)  # a closure: rebound after unpickling, on first use
        state.pop("_under", None)  # derived: counted again on first use
        return state

    # -- sizes ---------------------------------------------------------------------------
    def ip_lists(self) -> int:
        """Lists with at least one address or network."""
        return sum(1 for i in self._lists.values() if i.ips)

    def domain_lists(self) -> int:
        return sum(1 for i in self._lists.values() if i.domains)

    def ip_count(self) -> int:
        """Address and network entries (an address on two lists counts twice)."""
        return len(self._ips)

    def domain_count(self) -> int:
        """Distinct listed domains."""
        return len(self._domains)

    def lists(self) -> dict[str, ListInfo]:
        return dict(self._lists)

    def categories(self) -> set[Category]:
        return {c for i in self._lists.values() for c in i.categories}

    def __len__(self) -> int:
        return self.ip_count() + self.domain_count()

    def __repr__(self) -> str:
        return f"IntelIndex({len(self._lists)} lists, {self.ip_count()} IP entries, {self.domain_count()} domains)"
