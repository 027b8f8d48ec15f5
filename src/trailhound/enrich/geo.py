"""Geolocation and ASN of remote IPs: GuardDuty's ``remoteIpDetails``.

Two backends behind one ``GeoProvider`` interface:

* ``TableGeoProvider`` (the default) — sorted numpy interval tables shipped in the package
  (``enrich/data/geo.npz``), built by ``tools/build_geo_data.py`` from redistributable data:
  DB-IP Lite country (CC BY 4.0) and the RouteViews/NRO/DB-IP IP-to-ASN merge (CC BY 4.0);
  see ``enrich/data/README.md`` for sources, dates and the attribution they require. It gives
  country and ASN number + name. The same file format can carry city and coordinates
  (``build_geo_data.py --city``) when an operator builds a bigger table for themselves.
* ``MmdbGeoProvider`` — operator-supplied MaxMind-format databases read with ``maxminddb``:
  GeoLite2/GeoIP2 City, Country, ASN and ISP, DB-IP Lite, IPinfo Lite, ip-location-db flat layouts.

``open_provider(mmdb_paths)`` stacks them: fields the MMDBs know win, the bundled tables fill the
rest (a GeoLite2-City file plus the bundled ASN table gives the full GuardDuty record).

Keys are the packed address bytes (``inet_pton``) compared as fixed-width numpy bytes (``S4`` /
``S16``), which orders exactly like the big-endian integers, IPv6 included, with no 128-bit type.
Lookups are cached per provider: flow logs repeat the same few thousand peers millions of times.
Private, reserved and otherwise non-global addresses get no geo (``is_public``).
"""

from __future__ import annotations

import array
import bisect
import functools
import ipaddress
import json
import math
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DATA_DIR",
    "BUNDLED_GEO",
    "IpInfo",
    "GeoProvider",
    "TableGeoProvider",
    "MmdbGeoProvider",
    "ChainGeoProvider",
    "IntervalTable",
    "open_provider",
    "default_provider",
    "ip_key",
    "is_public",
    "public_spans",
    "flatten_ranges",
    "wire_form",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
BUNDLED_GEO = DATA_DIR / "geo.npz"
DEFAULT_CACHE_SIZE = 1 << 16

_inet_pton = socket.inet_pton
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


# ---- addresses --------------------------------------------------------------------------------

def ip_key(ip: str) -> bytes | None:
    """Packed big-endian bytes of an address (4 or 16), or None if it is not one.

    IPv4-mapped IPv6 (``::ffff:1.2.3.4``) is unwrapped to its IPv4 address.
    """
    try:
        if ":" in ip:
            packed = _inet_pton(_AF6, ip.split("%", 1)[0])
            return packed[12:] if packed[:12] == _V4_MAPPED else packed
        return _inet_pton(_AF4, ip)
    except (OSError, TypeError, ValueError):
        return None


# Not globally reachable, after the IANA IPv4/IPv6 Special-Purpose Address Registries (the
# "Globally Reachable: False" rows), plus multicast and the deprecated site-local block; the
# registries' globally reachable exceptions inside those blocks are listed separately.
_NON_PUBLIC = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/63", "2001::/23", "2001:db8::/32",
    "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)
_PUBLIC_EXCEPTIONS = (
    "192.0.0.9/32", "192.0.0.10/32",
    "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:3::/32", "2001:4:112::/48", "2001:20::/28", "2001:30::/28",
)


def _special_table(width: int) -> tuple[list[int], list[bool]]:
    rows = []
    for cidrs, public in ((_NON_PUBLIC, False), (_PUBLIC_EXCEPTIONS, True)):
        for cidr in cidrs:
            net = ipaddress.ip_network(cidr)
            if net.max_prefixlen == 8 * width:
                rows.append((int(net.network_address), int(net.broadcast_address), public))
    starts: list[int] = []
    verdicts: list[bool] = []
    end = -1
    for first, last, public in flatten_ranges(rows):
        if first > end + 1:
            starts.append(end + 1)
            verdicts.append(True)
        starts.append(first)
        verdicts.append(bool(public))
        end = last
    starts.append(end + 1)
    verdicts.append(True)
    return starts, verdicts


def is_public(ip: str | None) -> bool:
    """True for globally reachable unicast addresses: not private, shared (CGNAT), loopback,
    link-local, documentation, benchmarking, reserved, multicast, or any other block the IANA
    special-purpose registries mark as not globally reachable (their global exceptions, e.g.
    AS112 and anycast service addresses, stay public). IPv4-mapped IPv6 is judged as IPv4.
    Unlike ``ipaddress.is_global`` this does not change with the Python version."""
    if not ip:
        return False
    key = ip_key(ip)
    if key is None:
        return False
    starts, verdicts = _SPECIAL[len(key)]
    return verdicts[bisect.bisect_right(starts, int.from_bytes(key, "big")) - 1]


@functools.lru_cache(maxsize=262_144)
def is_private(ip: str) -> bool:
    """Not publicly routable (``not is_public``; invalid text counts as private), memoised: flow logs
    name the same addresses over and over."""
    return not is_public(ip)


# ---- interval tables --------------------------------------------------------------------------

def flatten_ranges(
    rows: Iterable[tuple[int, int, Hashable]],
    combine: Callable[[Hashable, Hashable], Hashable] | None = None,
) -> list[tuple[int, int, Hashable]]:
    """Inclusive ``(first, last, value)`` ranges that may nest or overlap -> disjoint, sorted ranges.

    Where ranges overlap the one that starts later wins (for CIDRs: the more specific prefix).
    With ``combine``, a range nested inside another gets ``combine(outer_value, own_value)``.
    """
    ordered = sorted(rows, key=lambda r: (r[0], -r[1]))
    out: list[tuple[int, int, Hashable]] = []
    stack: list[tuple[int, int, Hashable]] = []  # enclosing ranges, innermost last
    pos = 0  # first address not yet emitted

    def emit(first: int, last: int, value: Hashable) -> None:
        if first <= last:
            out.append((first, last, value))

    for first, last, value in ordered:
        if first > last:
            raise ValueError(f"range starts after it ends: {first} > {last}")
        while stack and stack[-1][1] < first:
            _, top_last, top_value = stack.pop()
            emit(pos, top_last, top_value)
            pos = max(pos, top_last + 1)
        if stack:
            emit(pos, first - 1, stack[-1][2])
            if combine is not None and stack[-1][1] >= last:
                value = combine(stack[-1][2], value)
        pos = max(pos, first)
        stack.append((first, last, value))
    while stack:
        _, top_last, top_value = stack.pop()
        emit(pos, top_last, top_value)
        pos = max(pos, top_last + 1)
    return out


class IntervalTable:
    """Disjoint address ranges -> a small int (0 = no data), looked up with one ``searchsorted``.

    ``starts`` are sorted packed addresses (``S4`` or ``S16``); ``values[i]`` holds from
    ``starts[i]`` up to the next start. A gap after a range is stored as a start with value 0.
    """

    __slots__ = ("starts", "values", "width", "_search", "_values")

    def __init__(self, starts: np.ndarray, values: np.ndarray) -> None:
        if starts.dtype.kind != "S" or starts.dtype.itemsize not in (4, 16):
            raise ValueError(f"starts must be S4 or S16, not {starts.dtype}")
        if len(starts) != len(values):
            raise ValueError("starts and values differ in length")
        self.starts = starts
        self.values = values
        self.width = starts.dtype.itemsize
        self._search = starts.searchsorted
        # array.array indexing yields plain ints (fast, hashable) at 4 bytes an entry
        self._values = array.array("I", np.ascontiguousarray(values, dtype=np.uint32).tobytes())

    def __len__(self) -> int:
        return len(self.starts)

    def get(self, key: bytes) -> int:
        """The value for one packed address of this table's width."""
        i = int(self._search(key, "right")) - 1
        return self._values[i] if i >= 0 else 0

    def get_many(self, keys: np.ndarray) -> np.ndarray:
        """Vectorised ``get`` for an array of packed addresses (dtype ``S4``/``S16``)."""
        idx = self.starts.searchsorted(keys.astype(self.starts.dtype), "right") - 1
        out = self.values[np.maximum(idx, 0)]
        out[idx < 0] = 0
        return out

    @classmethod
    def build(cls, ranges: Iterable[tuple[int, int, int]], width: int, dtype: Any = np.uint32) -> IntervalTable:
        """From disjoint, sorted inclusive ``(first, last, value)`` integer ranges (value > 0)."""
        top = (1 << (8 * width)) - 1
        starts: list[int] = []
        values: list[int] = []
        prev_last = -2
        for first, last, value in ranges:
            if first <= prev_last:
                raise ValueError("ranges overlap or are not sorted; flatten_ranges() them first")
            if not 0 <= first <= last <= top:
                raise ValueError(f"range {first}-{last} out of bounds for {width}-byte addresses")
            if first > prev_last + 1 and starts and values[-1] != 0:
                starts.append(prev_last + 1)  # gap: no data
                values.append(0)
            if values and values[-1] == value and first == prev_last + 1:
                pass  # same value continues: merge
            else:
                starts.append(first)
                values.append(value)
            prev_last = last
        if starts and prev_last < top and values[-1] != 0:
            starts.append(prev_last + 1)
            values.append(0)
        packed = np.array([s.to_bytes(width, "big") for s in starts], dtype=f"S{width}")
        return cls(packed, np.array(values, dtype=dtype))


_SPECIAL = {4: _special_table(4), 16: _special_table(16)}


def public_spans(first: int, last: int, width: int) -> list[tuple[int, int]]:
    """The stretches of the address range ``first..last`` (``width`` 4 or 16 bytes) that ``is_public``
    holds public: what a listed network may match once its private and reserved parts are cut out."""
    starts, verdicts = _SPECIAL[width]
    top = (1 << (8 * width)) - 1
    out: list[tuple[int, int]] = []
    i = bisect.bisect_right(starts, first) - 1
    while i < len(starts) and starts[i] <= last:
        if verdicts[i]:
            lo, hi = max(first, starts[i]), min(last, starts[i + 1] - 1 if i + 1 < len(starts) else top)
            if out and out[-1][1] == lo - 1:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        i += 1
    return out


# ---- the record -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IpInfo:
    """What is known about one address; None where the data has nothing."""

    country_code: str | None = None
    country_name: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    asn: int | None = None
    asn_org: str | None = None
    isp: str | None = None
    org: str | None = None

    def merged(self, other: IpInfo | None) -> IpInfo:
        """This record with its unknown fields filled from ``other`` (a coordinate pair is taken
        whole from one side)."""
        if other is None or other is self:
            return self
        if self.lat is not None or self.lon is not None:
            lat, lon = self.lat, self.lon
        else:
            lat, lon = other.lat, other.lon
        return IpInfo(
            self.country_code if self.country_code is not None else other.country_code,
            self.country_name if self.country_name is not None else other.country_name,
            self.city if self.city is not None else other.city,
            lat,
            lon,
            self.asn if self.asn is not None else other.asn,
            self.asn_org if self.asn_org is not None else other.asn_org,
            self.isp if self.isp is not None else other.isp,
            self.org if self.org is not None else other.org,
        )

    @property
    def empty(self) -> bool:
        return self == _EMPTY


_EMPTY = IpInfo()


def wire_form(ip: str, info: IpInfo | None) -> dict[str, Any]:
    """GuardDuty's RemoteIpDetails for ``ip``: only the parts that are known."""
    out: dict[str, Any] = {"ipAddressV6" if ":" in ip else "ipAddressV4": ip}
    if info is None:
        return out
    country = {}
    if info.country_code:
        country["countryCode"] = info.country_code
    if info.country_name:
        country["countryName"] = info.country_name
    if country:
        out["country"] = country
    if info.city:
        out["city"] = {"cityName": info.city}
    if info.lat is not None and info.lon is not None:
        out["geoLocation"] = {"lat": info.lat, "lon": info.lon}
    org: dict[str, str] = {}
    if info.asn is not None:
        org["asn"] = str(info.asn)
    if info.asn_org:
        org["asnOrg"] = info.asn_org
    if info.isp:
        org["isp"] = info.isp
    if info.org:
        org["org"] = info.org
    if org:
        out["organization"] = org
    return out


# ---- providers --------------------------------------------------------------------------------

class GeoProvider(ABC):
    """``lookup(ip)`` -> IpInfo or None; cached per instance (``cache_size=0`` turns it off)."""

    #: attribution lines for the data behind this provider (CC BY requires showing them)
    sources: tuple[str, ...] = ()

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._cache_size = cache_size
        self._cached: Callable[[str], IpInfo | None]
        self.clear_cache()

    def clear_cache(self) -> None:
        self._cached = functools.lru_cache(maxsize=self._cache_size)(self._lookup_public) if self._cache_size else self._lookup_public

    def _lookup_public(self, ip: str) -> IpInfo | None:
        key = ip_key(ip) if isinstance(ip, str) else None
        if key is None or not is_public(ip):
            return None
        return self._lookup_key(key)

    @abstractmethod
    def _lookup_key(self, key: bytes) -> IpInfo | None:
        """Uncached lookup of a packed public address; None rather than an empty record."""

    def lookup(self, ip: str) -> IpInfo | None:
        """Country/city/coordinates/ASN of a public address; None when private, invalid or unknown."""
        return self._cached(ip)

    def remote_ip_details(self, ip: str) -> dict[str, Any]:
        """GuardDuty's ``remoteIpDetails`` dict (a new dict each call: callers may keep it)."""
        return wire_form(ip, self.lookup(ip))

    def cache_info(self) -> Any:
        return getattr(self._cached, "cache_info", lambda: None)()


def _split_blob(blob: np.ndarray) -> list[str]:
    return bytes(blob).decode("utf-8").split("\n") if len(blob) else [""]


class TableGeoProvider(GeoProvider):
    """The numpy interval tables written by ``tools/build_geo_data.py`` (one ``.npz``)."""

    def __init__(self, path: str | Path = BUNDLED_GEO, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.path = Path(path)
        t = _load_tables(str(self.path))
        self.meta: dict[str, Any] = t["meta"]
        self._tables: dict[tuple[str, int], IntervalTable] = t["tables"]
        self._locations: _Records = t["locations"]
        self._ases: _Records = t["ases"]
        self._pairs: dict[tuple[int, int], IpInfo] = {}
        self.sources = tuple(s.get("attribution", s.get("name", "")) for s in self.meta.get("sources", ()))
        super().__init__(cache_size)

    def _lookup_key(self, key: bytes) -> IpInfo | None:
        width = len(key)
        loc = self._tables[("loc", width)].get(key)
        asn = self._tables[("asn", width)].get(key)
        if not asn:
            return self._locations[loc] if loc else None
        if not loc:
            return self._ases[asn]
        pair = (loc, asn)
        info = self._pairs.get(pair)
        if info is None:  # one shared record per (location, AS) pair met so far
            info = self._pairs[pair] = self._locations[loc].merged(self._ases[asn])
        return info

    def stats(self) -> dict[str, int]:
        return {f"{kind}_v{4 if width == 4 else 6}": len(t) for (kind, width), t in self._tables.items()}


class _Records:
    """A table's records by index, each made on first use and kept (a scan meets a few hundred of the
    hundred thousand; making them all took most of the tables' load time). Index 0 is no record."""

    def __init__(self, make: Callable[[int], IpInfo]) -> None:
        self._make = make
        self._made: dict[int, IpInfo] = {0: _EMPTY}

    def __getitem__(self, i: int) -> IpInfo:
        info = self._made.get(i)
        if info is None:
            info = self._made[i] = self._make(i)
        return info


@functools.lru_cache(maxsize=4)
def _load_tables(path: str) -> dict[str, Any]:
    """Read a geo ``.npz`` once per process (shared by every provider on the same file)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode("utf-8"))
        if meta.get("format") != 1:
            raise ValueError(f"{path}: unknown geo table format {meta.get('format')!r}")
        tables = {}
        for kind in ("loc", "asn"):
            for width, tag in ((4, "v4"), (16, "v6")):
                tables[(kind, width)] = IntervalTable(z[f"{kind}_{tag}_start"], z[f"{kind}_{tag}_value"])
        names = dict(zip((c.decode() for c in z["country_code"].tolist()), _split_blob(z["country_name"]), strict=True))
        codes = z["loc_country"].tolist()  # bytes, decoded as records are made
        cities = _split_blob(z["loc_city"])
        city_idx = z["loc_city_index"].tolist()
        lat = z["loc_lat"].tolist()
        lon = z["loc_lon"].tolist()

        def location(i: int) -> IpInfo:
            has_point = not (math.isnan(lat[i]) or math.isnan(lon[i]))
            code = codes[i].decode()
            return IpInfo(country_code=code or None, country_name=names.get(code) if code else None, city=cities[city_idx[i]] or None,
                          lat=round(lat[i], 4) if has_point else None, lon=round(lon[i], 4) if has_point else None)

        as_numbers = z["as_number"].tolist()
        as_orgs = _split_blob(z["as_org"])
        locations = _Records(location)
        ases = _Records(lambda i: IpInfo(asn=as_numbers[i], asn_org=as_orgs[i] or None))
    return {"meta": meta, "tables": tables, "locations": locations, "ases": ases}


# MaxMind-format records come in a few layouts; each reader maps its own to IpInfo.
def _en(names: Any) -> str | None:
    if isinstance(names, dict):
        return names.get("en") or next(iter(names.values()), None)
    return None


def _from_mmdb_record(rec: Any) -> IpInfo | None:
    if not isinstance(rec, dict):
        return None
    country = rec.get("country") if isinstance(rec.get("country"), dict) else None
    if country is None and isinstance(rec.get("registered_country"), dict):
        country = rec["registered_country"]
    cc = (country or {}).get("iso_code") or rec.get("country_code") or None
    cname = _en((country or {}).get("names")) or (rec.get("country") if isinstance(rec.get("country"), str) else None)
    city_rec = rec.get("city")
    city = _en(city_rec.get("names")) if isinstance(city_rec, dict) else (city_rec or None)
    loc = rec.get("location") if isinstance(rec.get("location"), dict) else rec
    lat, lon = loc.get("latitude"), loc.get("longitude")
    asn = rec.get("autonomous_system_number")
    asn_org = rec.get("autonomous_system_organization")
    if asn is None and isinstance(rec.get("asn"), str | int):  # IPinfo Lite: "AS15169"
        raw = str(rec["asn"]).upper().removeprefix("AS")
        asn = int(raw) if raw.isdigit() else None
        asn_org = asn_org or rec.get("as_name")
    traits = rec.get("traits") if isinstance(rec.get("traits"), dict) else {}
    isp = rec.get("isp") or traits.get("isp")
    org = rec.get("organization") or traits.get("organization")
    if asn is None and traits.get("autonomous_system_number") is not None:
        asn = traits.get("autonomous_system_number")
        asn_org = asn_org or traits.get("autonomous_system_organization")
    has_point = isinstance(lat, int | float) and isinstance(lon, int | float) and not (lat == 0 and lon == 0 and not cc)
    info = IpInfo(
        country_code=cc,
        country_name=cname,
        city=city or None,
        lat=round(float(lat), 4) if has_point else None,
        lon=round(float(lon), 4) if has_point else None,
        asn=int(asn) if asn is not None else None,
        asn_org=asn_org or None,
        isp=isp or None,
        org=org or None,
    )
    return None if info.empty else info


class MmdbGeoProvider(GeoProvider):
    """One or more operator-supplied MMDB files (City/Country/ASN/ISP; IPv4-only, IPv6 or both).

    Files are consulted in order and their fields merged: the first file that knows a field wins.
    """

    def __init__(self, paths: Sequence[str | Path], cache_size: int = DEFAULT_CACHE_SIZE, mode: int | None = None) -> None:
        import maxminddb

        if not paths:
            raise ValueError("MmdbGeoProvider needs at least one .mmdb path")
        self.paths = [Path(p) for p in paths]
        self._readers = []
        for p in self.paths:
            reader = maxminddb.open_database(str(p), mode if mode is not None else maxminddb.MODE_AUTO)
            self._readers.append((reader, reader.metadata().ip_version))
        self.sources = tuple(f"{r.metadata().database_type} ({p.name})" for (r, _), p in zip(self._readers, self.paths, strict=True))
        super().__init__(cache_size)

    def _lookup_key(self, key: bytes) -> IpInfo | None:
        addr = ipaddress.IPv4Address(key) if len(key) == 4 else ipaddress.IPv6Address(key)
        merged: IpInfo | None = None
        for reader, version in self._readers:
            if version == 4 and len(key) == 16:
                continue
            try:
                info = _from_mmdb_record(reader.get(addr))
            except ValueError:
                continue
            merged = info if merged is None else merged.merged(info)
        return merged

    def close(self) -> None:
        for reader, _ in self._readers:
            reader.close()


class ChainGeoProvider(GeoProvider):
    """Several providers merged field by field, earlier ones first; one cache in front."""

    def __init__(self, providers: Sequence[GeoProvider], cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if not providers:
            raise ValueError("ChainGeoProvider needs at least one provider")
        self.providers = list(providers)
        self.sources = tuple(s for p in self.providers for s in p.sources)
        super().__init__(cache_size)

    def _lookup_key(self, key: bytes) -> IpInfo | None:
        merged: IpInfo | None = None
        for p in self.providers:
            info = p._lookup_key(key)
            if info is not None:
                merged = info if merged is None else merged.merged(info)
        return merged


def open_provider(
    mmdb_paths: Sequence[str | Path] = (),
    *,
    tables: str | Path | None = BUNDLED_GEO,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> GeoProvider:
    """The provider for a scan: operator MMDBs first (if any), then the interval tables
    (the bundled ones unless ``tables`` names another ``.npz``; ``tables=None`` leaves them out)."""
    if mmdb_paths and tables is not None:
        return ChainGeoProvider([MmdbGeoProvider(mmdb_paths, cache_size=0), TableGeoProvider(tables, cache_size=0)],
                                cache_size=cache_size)
    if mmdb_paths:
        return MmdbGeoProvider(mmdb_paths, cache_size=cache_size)
    if tables is not None:
        return TableGeoProvider(tables, cache_size=cache_size)
    raise ValueError("no geo data: give MMDB paths or a tables file")


@functools.lru_cache(maxsize=1)
def default_provider() -> GeoProvider:
    """The process-wide provider over the bundled tables."""
    return TableGeoProvider(BUNDLED_GEO)
