"""IPv4/IPv6 addresses and networks -> tags, for per-event and per-batch lookups.

Built once from canonical entries (``1.2.3.4``, ``10.0.0.0/8``, ``2001:db8::/32``), then
looked up many times. The layout:

* **exact addresses** (most indicators are single hosts) sit in a dict keyed by their canonical
  text, holding the tags of every entry that covers them, networks included: a hit costs one
  probe and no parsing. ``inet_pton`` accepts only canonical dotted quads (no leading zeros),
  so a valid IPv4 string that misses the dict is not a listed address;
* **networks** become integer ranges; overlapping ones are cut into disjoint segments, each
  carrying the tags of every network covering it (so a lookup returns every list an address
  is on, in the order the tags were added), bisected after one ``inet_pton``;
* before bisecting, a miss probes two small sets of the first three and first two bytes of the
  networks' addresses: most addresses are in no listed network and are rejected there.

For batches (flow logs), every IPv4 entry (addresses and networks) is also cut into disjoint
segments held in numpy arrays, built on the first batch lookup: a column of address strings is
validated and converted by polars and matched with one ``searchsorted``.
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
import polars as pl

T = TypeVar("T")

_inet_pton = socket.inet_pton
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6
_EMPTY: tuple[Any, ...] = ()

# A canonical dotted quad, exactly what inet_pton(AF_INET) accepts (no leading zeros).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
V4_RE = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def parse_entry(value: str) -> tuple[int, int, int, bool]:
    """(bits, first, last, is_single_address) of a canonical address or network."""
    if "/" in value:
        net = ipaddress.ip_network(value, strict=False)
        first = int(net.network_address)
        return net.max_prefixlen, first, first + net.num_addresses - 1, net.num_addresses == 1
    if ":" in value:
        n = int.from_bytes(_inet_pton(_AF6, value), "big")
        return 128, n, n, True
    n = int.from_bytes(_inet_pton(_AF4, value), "big")
    return 32, n, n, True


def _segments(ranges: list[tuple[int, int, int]]) -> tuple[list[int], list[int], list[tuple[int, ...]]]:
    """Cut (first, last, tag id) ranges into disjoint, maximal segments with their tag-id sets."""
    events: list[tuple[int, int, int]] = []
    for lo, hi, tid in ranges:
        events.append((lo, 1, tid))
        events.append((hi + 1, -1, tid))
    events.sort()
    starts: list[int] = []
    ends: list[int] = []
    keys: list[tuple[int, ...]] = []
    active: dict[int, int] = {}
    i, n = 0, len(events)
    while i < n:
        pos = events[i][0]
        while i < n and events[i][0] == pos:
            _, delta, tid = events[i]
            c = active.get(tid, 0) + delta
            if c:
                active[tid] = c
            else:
                del active[tid]
            i += 1
        if active and i < n:
            end = events[i][0] - 1
            key = tuple(sorted(active))
            if starts and ends[-1] == pos - 1 and keys[-1] == key:
                ends[-1] = end
            else:
                starts.append(pos)
                ends.append(end)
                keys.append(key)
    return starts, ends, keys


class IpTable(Generic[T]):
    """Addresses and networks -> tags. ``add`` entries, then ``lookup`` (one address) or
    ``match`` (a batch); adding after a lookup rebuilds the table on the next lookup."""

    def __init__(self) -> None:
        self._tags: list[T] = []
        self._tag_id: dict[T, int] = {}
        self._nets: dict[int, list[tuple[int, int, int]]] = {32: [], 128: []}  # (first, last, tag id)
        self._exact: dict[str, list[int]] = {}  # canonical address text -> tag ids
        self.entries = 0

    # -- building ------------------------------------------------------------------------
    def add(self, value: str, tag: T) -> None:
        """Add a canonical address (``1.2.3.4``, compressed IPv6) or network (``10.0.0.0/8``);
        raises ValueError on a bad one."""
        tid = self._tag_id.get(tag)
        if tid is None:
            tid = self._tag_id[tag] = len(self._tags)
            self._tags.append(tag)
        if "/" in value:
            bits, first, last, single = parse_entry(value)
            if single:  # a /32 or /128 written as a network: an address
                value = str(ipaddress.IPv4Address(first)) if bits == 32 else ipaddress.IPv6Address(first).compressed
            else:
                self._nets[bits].append((first, last, tid))
                value = ""
        elif ":" in value:
            value = ipaddress.IPv6Address(value).compressed  # canonical text (raises ValueError)
        else:
            try:
                _inet_pton(_AF4, value)
            except OSError:
                raise ValueError(f"'{value}' is not an IPv4 address") from None
        if value:
            ids = self._exact.get(value)
            if ids is None:
                self._exact[value] = [tid]
            elif tid not in ids:
                ids.append(tid)
        self.entries += 1
        self.__dict__.pop("lookup", None)  # rebuild on next lookup
        self.__dict__.pop("_built", None)

    def _build(self) -> None:
        tags = self._tags
        interned: dict[tuple[int, ...], tuple[T, ...]] = {}

        def hits(key: tuple[int, ...]) -> tuple[T, ...]:
            h = interned.get(key)
            if h is None:
                h = interned[key] = tuple(tags[t] for t in key)
            return h

        s4, e4, k4 = _segments(self._nets[32])
        s6, e6, k6 = _segments(self._nets[128])
        h4 = [hits(k) for k in k4]
        h6 = [hits(k) for k in k6]
        # Exact addresses carry the tags of the networks that cover them too.
        exact: dict[str, tuple[T, ...]] = {}
        exact6: dict[int, tuple[T, ...]] = {}
        ex4: list[tuple[int, int]] = []  # (address, tag id) pairs, for the batch table
        for text, ids in self._exact.items():
            v6 = ":" in text
            n = int.from_bytes(_inet_pton(_AF6 if v6 else _AF4, text), "big")
            starts, ends, keys = (s6, e6, k6) if v6 else (s4, e4, k4)
            key = tuple(ids)
            if starts:
                i = bisect_right(starts, n) - 1
                if i >= 0 and n <= ends[i]:
                    key = tuple(sorted(set(ids).union(keys[i])))
            elif len(key) > 1:
                key = tuple(sorted(key))
            h = exact[text] = hits(key)
            if v6:
                exact6[n] = h
            else:
                ex4.extend((n, t) for t in ids)
        # first 3 / first 2 bytes of every IPv4 network's addresses (/18 and longer: <= 64 /24s each)
        near24: set[bytes] = set()
        near16: set[bytes] = set()
        for lo, hi, _ in self._nets[32]:
            if hi - lo < 1 << 14:
                near24.update(k.to_bytes(3, "big") for k in range(lo >> 8, (hi >> 8) + 1))
            else:
                near16.update(k.to_bytes(2, "big") for k in range(lo >> 16, (hi >> 16) + 1))
        self.exact_count = len(exact)
        self.segments = (len(s4), len(s6))
        self._ex4 = ex4
        self._hits = hits
        self.__dict__.pop("_batch", None)
        self.lookup = self._make_lookup(exact, exact6, near24, near16, s4, e4, h4, s6, e6, h6)  # type: ignore[method-assign]
        self._built = True

    @staticmethod
    def _make_lookup(exact: dict[str, tuple[T, ...]], exact6: dict[int, tuple[T, ...]], near24: set[bytes],
                     near16: set[bytes], s4: list[int], e4: list[int], h4: list[tuple[T, ...]],
                     s6: list[int], e6: list[int], h6: list[tuple[T, ...]]) -> Callable[[str | None], tuple[T, ...]]:
        exact_get = exact.get
        pton, af4, af6 = _inet_pton, _AF4, _AF6
        from_bytes = int.from_bytes
        empty: tuple[T, ...] = ()
        v4_nets = bool(s4)
        mapped_prefix = b"\x00" * 10 + b"\xff\xff"

        def lookup6(ip: str) -> tuple[T, ...]:
            try:
                b = pton(af6, ip)
            except (OSError, ValueError):
                return empty
            if b[:12] == mapped_prefix:  # IPv4-mapped (::ffff:a.b.c.d): look up the IPv4 address
                return lookup(socket.inet_ntop(af4, b[12:]))
            n = from_bytes(b, "big")
            hit = exact6.get(n)  # a listed address written differently (upper case, zeros)
            if hit is not None:
                return hit
            i = bisect_right(s6, n) - 1
            if i >= 0 and n <= e6[i]:
                return h6[i]
            return empty

        def lookup(ip: str | None) -> tuple[T, ...]:
            hit = exact_get(ip)  # type: ignore[arg-type]
            if hit is not None:
                return hit
            try:
                b = pton(af4, ip)  # type: ignore[arg-type]
            except OSError:
                if ip and ":" in ip:
                    return lookup6(ip)
                return empty
            except (TypeError, ValueError):  # None, embedded NUL
                return empty
            # most addresses are in no listed network: two set probes reject them
            if not v4_nets or (b[:3] not in near24 and b[:2] not in near16):
                return empty
            n = from_bytes(b, "big")
            i = bisect_right(s4, n) - 1
            if i >= 0 and n <= e4[i]:
                return h4[i]
            return empty

        return lookup

    def compiled(self) -> Callable[[str | None], tuple[T, ...]]:
        """The lookup function of the current entries (built now if needed): bind it once and
        call it per event."""
        if "_built" not in self.__dict__:
            self._build()
        return self.__dict__["lookup"]

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the entries only (the built table holds closures): rebuilt on first use."""
        return {k: v for k, v in self.__dict__.items() if k in ("_tags", "_tag_id", "_nets", "_exact", "entries")}

    # -- lookups -------------------------------------------------------------------------
    def lookup(self, ip: str | None) -> tuple[T, ...]:
        """Tags of every entry covering `ip` (text); () for an unlisted, invalid or empty address."""
        return self.compiled()(ip)

    def _batch_table(self) -> tuple[np.ndarray, np.ndarray, list[tuple[T, ...]]]:
        """All IPv4 entries, addresses and networks alike, as disjoint segments in numpy arrays
        (IPv4 only: numpy has no 128-bit integers). Built on the first batch lookup."""
        batch = self.__dict__.get("_batch")
        if batch is None:
            starts, ends, keys = _segments([(n, n, t) for n, t in self._ex4] + self._nets[32])
            hits = self._hits
            batch = self._batch = (np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64),
                                   [hits(k) for k in keys])
        return batch

    def match(self, values: Sequence[str | None] | pl.Series) -> tuple[np.ndarray, list[tuple[T, ...]]]:
        """For a batch of address strings: a boolean mask of the rows on any list, and the tags of
        the matched rows in row order. IPv4 rows are matched in bulk (polars converts, numpy
        searches); IPv6 and anything that is not a canonical dotted quad go through ``lookup``."""
        if "_built" not in self.__dict__:
            self._build()
        starts, ends, seg_hits = self._batch_table()
        s = values if isinstance(values, pl.Series) else pl.Series("ip", values, dtype=pl.String)
        if s.dtype != pl.String:
            s = s.cast(pl.String)
        n_rows = len(s)
        if n_rows == 0:
            return np.zeros(0, dtype=bool), []
        is_v4 = s.str.contains(V4_RE).fill_null(False)
        seg = np.full(n_rows, -1, dtype=np.int64)
        if len(starts):
            parts = s.str.split_exact(".", 3).struct.unnest()
            cols = [parts[c].cast(pl.Int64, strict=False).fill_null(0).to_numpy() for c in parts.columns]
            num = (cols[0] << 24) | (cols[1] << 16) | (cols[2] << 8) | cols[3]
            idx = np.searchsorted(starts, num, side="right") - 1
            ok = is_v4.to_numpy() & (idx >= 0)
            ok &= num <= ends[np.maximum(idx, 0)]
            seg[ok] = idx[ok]
        mask = seg >= 0
        # rows that are not dotted quads (IPv6, IPv4-mapped, junk): one by one
        other = (~is_v4 & s.is_not_null()).to_numpy()
        slow: dict[int, tuple[T, ...]] = {}
        if other.any():
            lookup = self.lookup
            rows = np.flatnonzero(other)
            for i, text in zip(rows.tolist(), s.gather(rows).to_list()):
                h = lookup(text)
                if h:
                    slow[i] = h
                    mask[i] = True
        if not slow:
            return mask, [seg_hits[k] for k in seg[mask].tolist()]
        return mask, [slow[i] if k < 0 else seg_hits[k] for i, k in zip(np.flatnonzero(mask).tolist(), seg[mask].tolist())]

    def __len__(self) -> int:
        return self.entries
