"""Is an address a commercial VPN's or a datacenter's egress? From MISP's ``vpn-ipv4``/``vpn-ipv6`` lists.

Shipped: ``data/vpn-ipv4.txt.gz`` — MISP warninglists ``vpn-ipv4``, a copy of X4BNet's ``lists_vpn``
``ipv4.txt`` (MIT, ``data/LICENSE.x4bnet-lists-vpn.txt``). That file is X4BNet's *VPN and datacenter*
list ("anything that is not an eyeball network"), so it names the big clouds too; ``GeoPlaces.vpn_egress``
leaves those out (a CI runner or a workload in AWS, Azure or Google Cloud hides no one).

Not shipped: ``vpn-ipv6``. MISP took it from ejrv/VPNs, which states no licence (its author's account is
gone), so no right to redistribute it is granted. The operator gives it, or any list of CIDRs, at run
time: ``ScanSettings.vpn_lists`` (``scan --vpn-list PATH``) — a MISP ``list.json`` or one CIDR a line.

Both widths become disjoint interval tables (``geo.IntervalTable``): a lookup is one ``searchsorted``.
They are built on the first lookup (~0.2 s): only a scan with an anomalous call ever asks.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from trailhound.enrich.aws_ranges import _parse_cidr
from trailhound.enrich.geo import DATA_DIR, IntervalTable, flatten_ranges, ip_key

SHIPPED = DATA_DIR / "vpn-ipv4.txt.gz"


def read_cidrs(path: str | Path) -> list[str]:
    """The CIDRs of a MISP warninglist ``list.json`` or of a text file (one a line, ``#`` comments; gzip or plain)."""
    data = Path(path).expanduser().read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data.lstrip()[:1] == b"{":
        entries = orjson.loads(data).get("list")
        if not isinstance(entries, list):
            raise ValueError(f"{path}: a JSON file without a 'list' of CIDRs (not a MISP warninglist)")
        return [str(e) for e in entries]
    lines = (line.split("#", 1)[0].strip() for line in data.decode("utf-8", "replace").splitlines())
    return [line for line in lines if line]


class VpnRanges:
    """A set of address ranges; ``ip in ranges``."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        rows: dict[int, list[tuple[int, int, int]]] = {4: [], 16: []}
        self.skipped = 0
        for cidr in cidrs:
            parsed = _parse_cidr(cidr.strip())
            if parsed is None:
                self.skipped += 1
                continue
            width, first, last = parsed
            rows[width].append((first, last, 1))
        self.count = len(rows[4]) + len(rows[16])
        self._tables = {w: IntervalTable.build(_merged(r), w) for w, r in rows.items()}

    def __contains__(self, ip: object) -> bool:
        key = ip_key(ip) if isinstance(ip, str) else None
        return key is not None and self._tables[len(key)].get(key) == 1


def _merged(rows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Disjoint sorted ranges, neighbours joined (the lists nest and overlap)."""
    out: list[tuple[int, int, int]] = []
    for first, last, _ in flatten_ranges(rows):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last), 1)
        else:
            out.append((first, last, 1))
    return out


@functools.lru_cache(maxsize=4)
def load(extra: Sequence[str] = ()) -> VpnRanges:
    """The shipped list and the operator's (``extra``, paths), read once per process."""
    cidrs = read_cidrs(SHIPPED) if SHIPPED.exists() else []
    for path in extra:
        cidrs += read_cidrs(path)
    return VpnRanges(cidrs)
