"""Is an address inside AWS, and which service and region? From AWS's ``ip-ranges.json``.

Used for GuardDuty's InsideAWS/OutsideAWS distinction (e.g. InstanceCredentialExfiltration) and
to tag AWS-service peers in flow logs.

No snapshot ships with the package: AWS publishes the file without any licence statement, so
redistribution is not granted. The operator supplies it — ``load_ranges(path_or_url)`` reads a
local ``ip-ranges.json`` (plain or gzipped) or fetches a URL **only when given one**
(``AWS_IP_RANGES_URL`` is the official address). ``default_ranges()`` finds a configured file:
an explicit path, else ``$TRAILHOUND_AWS_IP_RANGES``, else ``enrich/data/ip-ranges.json(.gz)``
if a packager has put one there; otherwise there is no AWS-range data (None).

The prefixes (nested CIDRs, the same prefix listed once per service) are flattened at load time
into disjoint sorted intervals; a lookup is one ``searchsorted`` on the packed address.
An address's ``services`` are those of every published prefix that contains it (``AMAZON`` is
the catch-all AWS lists for all its space); ``prefix``, ``region`` and ``network_border_group``
are those of the most specific one.
"""

from __future__ import annotations

import functools
import gzip
import os
import urllib.request
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from trailhound.enrich.geo import DATA_DIR, IntervalTable, flatten_ranges, ip_key

__all__ = ["AWS_IP_RANGES_URL", "ENV_VAR", "AwsRange", "AwsRanges", "load_ranges", "default_ranges"]

AWS_IP_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
ENV_VAR = "TRAILHOUND_AWS_IP_RANGES"
_BUNDLED = (DATA_DIR / "ip-ranges.json.gz", DATA_DIR / "ip-ranges.json")


@dataclass(frozen=True, slots=True)
class AwsRange:
    prefix: str  # the most specific published prefix containing the address
    region: str  # e.g. "us-east-1", or "GLOBAL"
    network_border_group: str
    services: tuple[str, ...]  # sorted; every service whose prefixes contain the address

    @property
    def service(self) -> str:
        """The most telling service name: a specific one (EC2, S3, ...) over the catch-all AMAZON."""
        specific = [s for s in self.services if s != "AMAZON"]
        return specific[0] if len(specific) == 1 else (",".join(specific) if specific else "AMAZON")


def _parse_cidr(cidr: str) -> tuple[int, int, int] | None:
    """(address width in bytes, first, last) of a CIDR string; None when it is not one."""
    addr, sep, plen = cidr.partition("/")
    key = ip_key(addr)
    if key is None or (":" in addr) != (len(key) == 16):  # no IPv4-mapped tricks in a prefix list
        return None
    bits = 8 * len(key)
    try:
        length = int(plen) if sep else bits
    except ValueError:
        return None
    if not 0 <= length <= bits:
        return None
    host = (1 << (bits - length)) - 1
    first = int.from_bytes(key, "big") & ~host
    return len(key), first, first | host


def _combine(outer: Hashable, inner: Hashable) -> Hashable:
    o, i = outer, inner
    assert isinstance(o, tuple) and isinstance(i, tuple)
    return (i[0], i[1], i[2], tuple(sorted(set(o[3]) | set(i[3]))))


class AwsRanges:
    """The published AWS address space of one ``ip-ranges.json``."""

    def __init__(self, doc: dict[str, Any], source: str = "", cache_size: int = 1 << 16) -> None:
        prefixes = doc.get("prefixes")
        v6_prefixes = doc.get("ipv6_prefixes", [])
        if not isinstance(prefixes, list) or not isinstance(v6_prefixes, list):
            raise ValueError(f"{source or 'ip-ranges'}: not an AWS ip-ranges.json document (no 'prefixes' list)")
        self.source = source
        self.create_date: str = str(doc.get("createDate", ""))
        self.sync_token: str = str(doc.get("syncToken", ""))
        self.skipped = 0  # malformed entries ignored
        rows: dict[int, list[tuple[int, int, Hashable]]] = {4: [], 16: []}
        for entries, field in ((prefixes, "ip_prefix"), (v6_prefixes, "ipv6_prefix")):
            for p in entries:
                try:
                    cidr = p[field]
                    parsed = _parse_cidr(cidr)
                except (KeyError, TypeError, AttributeError):
                    parsed = None
                if parsed is None:
                    self.skipped += 1
                    continue
                width, first, last = parsed
                value = (cidr, str(p.get("region", "")), str(p.get("network_border_group", "")), (str(p.get("service", "")),))
                rows[width].append((first, last, value))
        self.prefix_count = len(rows[4]) + len(rows[16])
        if not self.prefix_count:
            raise ValueError(f"{source or 'ip-ranges'}: no valid prefixes")
        values: dict[Hashable, int] = {}
        self._ranges: list[AwsRange | None] = [None]
        self._tables: dict[int, IntervalTable] = {}
        for width, entries in rows.items():
            indexed = []
            for first, last, v in flatten_ranges(entries, combine=_combine):
                idx = values.get(v)
                if idx is None:
                    idx = values[v] = len(self._ranges)
                    assert isinstance(v, tuple)
                    self._ranges.append(AwsRange(v[0], v[1], v[2], v[3]))
                indexed.append((first, last, idx))
            self._tables[width] = IntervalTable.build(indexed, width, np.uint32)
        self._cached = functools.lru_cache(maxsize=cache_size)(self._lookup)

    def __len__(self) -> int:
        return self.prefix_count

    def __repr__(self) -> str:
        return f"AwsRanges({self.prefix_count} prefixes, createDate={self.create_date!r}, source={self.source!r})"

    def _lookup(self, ip: str) -> AwsRange | None:
        key = ip_key(ip) if isinstance(ip, str) else None
        if key is None:
            return None
        return self._ranges[self._tables[len(key)].get(key)]

    def lookup(self, ip: str) -> AwsRange | None:
        """The AWS range containing ``ip``, or None (outside AWS, or not an address)."""
        return self._cached(ip)

    def is_aws(self, ip: str | None) -> bool:
        return bool(ip) and self._cached(ip) is not None  # type: ignore[arg-type]

    __contains__ = is_aws


def _read(path_or_url: str | Path, timeout: float) -> tuple[bytes, str]:
    text = str(path_or_url)
    if text.startswith(("http://", "https://", "file://")):
        with urllib.request.urlopen(text, timeout=timeout) as resp:  # only ever on an explicit URL
            return resp.read(), text
    path = Path(text).expanduser()
    return path.read_bytes(), str(path)


def load_ranges(path_or_url: str | Path, *, timeout: float = 30.0) -> AwsRanges:
    """Read an ``ip-ranges.json`` (plain or gzipped) from a file or an explicit URL.

    Raises OSError if it cannot be read and ValueError if it is not an ip-ranges document.
    """
    data, source = _read(path_or_url, timeout)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{source}: not an AWS ip-ranges.json document")
    return AwsRanges(doc, source)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> AwsRanges:
    return load_ranges(path)


def default_ranges(path: str | Path | None = None) -> AwsRanges | None:
    """The configured ranges: ``path``, else ``$TRAILHOUND_AWS_IP_RANGES``, else a packaged file;
    None when there is none. Never touches the network unless one of those is an http(s) URL."""
    chosen = str(path) if path else os.environ.get(ENV_VAR) or next((str(p) for p in _BUNDLED if p.exists()), None)
    return _load_cached(chosen) if chosen else None
