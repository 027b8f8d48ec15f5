"""Flow-log enrichment done once per file, in bulk, before any detector looks at the rows.

``mark_addresses`` adds boolean columns from one pass over the file's distinct addresses (a file of
10k flows has a few hundred): ``listed`` (the source or destination is on a threat list), ``trusted``
(on a trusted list), ``src_private`` and ``dst_private`` (not publicly routable), ``src_public`` and ``dst_public``
(public by the quick test on the text the detectors' expressions use), and ``instance_group`` (the
fleet the logging instance belongs to, from ``groups``: an Auto Scaling group or EKS node group, else null).
Threat-intel detectors then walk only
the flagged rows and skip a clean batch with one ``any()``; behaviour detectors tell our side of a
connection from the other without a string operation per row.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from trailhound.enrich.geo import is_private


LISTED, TRUSTED, PRIVATE = 1, 2, 4
_MEMO_LIMIT = 200_000
# Not a private, shared, link-local or loopback address (IPv4) nor a unique-local or link-local one (IPv6), by
# its text: a regular expression, run once per row and column here; the detectors' expressions (``PUBLIC_DEST``,
# ``PUBLIC_SRC``) read its columns, where each ran it again in every ``where`` and column naming it.
_PRIVATE = r"^(?:10\.|127\.|169\.254\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|f[cd]|fe[89ab]|::1$)"


def public(column: str) -> pl.Expr:
    """Whether each row's address in ``column`` is public, by the quick test on its text (null: not public)."""
    return ~pl.col(column).str.contains(_PRIVATE).fill_null(False)


def mark_addresses(df: pl.DataFrame, lookup: Callable[[str], Any], trusted: Callable[[str], Any] | None = None,
                   memo: dict[str, int] | None = None, groups: tuple[dict[str, str], dict[str, str]] | None = None,
                   own_v6: set[str] | None = None, own_public: frozenset[str] = frozenset()) -> pl.DataFrame:
    """``memo`` (address -> LISTED|TRUSTED|PRIVATE bits) carries the judgements from file to file: a
    flow file names mostly the addresses the last one did, and three lookups per address per file
    cost more than the rest of this stage. Valid while the lists behind ``lookup``/``trusted`` stay put.
    ``own_v6``: the /64 networks of the estate's own IPv6 addresses, learned here (``own_networks``): a VPC's
    IPv6 addresses are global, and one instance talking to another over them is not talking to the Internet.
    ``own_public``: the public and Elastic IPs the inventory gives our instances: a host probing the company's own
    web site through its public address, or replicating to it, is not talking to the Internet either."""
    addresses = pl.concat([df["srcaddr"], df["dstaddr"]]).drop_nulls().unique().to_list()
    if memo is None:
        memo = {}
    elif len(memo) > _MEMO_LIMIT:
        memo.clear()  # bounded by a reset: cheaper than LRU bookkeeping per address
    get = memo.get
    bits = [get(ip) for ip in addresses]
    for i, b in enumerate(bits):
        if b is None:
            ip = addresses[i]
            b = bits[i] = memo[ip] = ((LISTED if lookup(ip) else 0) | (TRUSTED if trusted is not None and trusted(ip) else 0)
                                      | (PRIVATE if is_private(ip) else 0))
    src, dst = pl.col("srcaddr"), pl.col("dstaddr")
    none = pl.repeat(False, df.height, dtype=pl.Boolean)

    def having(bit: int) -> list[str]:
        return [ip for ip, b in zip(addresses, bits) if b & bit]

    listed = having(LISTED)
    columns = {"listed": (src.is_in(listed) | dst.is_in(listed)).fill_null(False) if listed else none}
    # GuardDuty's trusted IP lists: no flow finding for traffic from or to them, so their rows never reach a detector
    friends = having(TRUSTED)
    columns["trusted"] = (src.is_in(friends) | dst.is_in(friends)).fill_null(False) if friends else none
    own_v6_here = own_networks(df, addresses, own_v6) if own_v6 is not None and any(":" in a for a in addresses) else []
    # Which side is private only matters where the log does not say the direction (v2-v4 formats): our IPv6 addresses
    # are global, yet ours
    if df["flow_direction"].null_count():
        private = having(PRIVATE) + own_v6_here
        columns |= {"src_private": src.is_in(private).fill_null(True) if private else none,
                    "dst_private": dst.is_in(private).fill_null(True) if private else none}
    else:
        columns |= {"src_private": none, "dst_private": none}
    columns["src_public"], columns["dst_public"] = public("srcaddr"), public("dstaddr")
    own = ([a for a in addresses if a in own_public] if own_public else []) + own_v6_here
    if own:
        columns["src_public"] = columns["src_public"] & ~src.is_in(own).fill_null(False)
        columns["dst_public"] = columns["dst_public"] & ~dst.is_in(own).fill_null(False)
    columns["instance_group"] = _groups(df, groups) if groups and groups[0] else pl.repeat(None, df.height, dtype=pl.String)
    return df.with_columns(**columns)


MAX_OWN_V6 = 4096


def own_networks(df: pl.DataFrame, addresses: list[str], own_v6: set[str]) -> list[str]:
    """The file's IPv6 addresses in the estate's own /64s: those its interfaces log as their own side (the source of
    an egress record, the destination of an ingress one: v5+ logs say which), learned into ``own_v6``, and any other
    address in them."""
    if df["flow_direction"].null_count() < df.height:
        mine = df.lazy().select(pl.when(pl.col("flow_direction") == "egress").then(pl.col("srcaddr"))
                                .when(pl.col("flow_direction") == "ingress").then(pl.col("dstaddr")).alias("a")).unique().collect()["a"]
        learn_networks(own_v6, (a for a in mine.drop_nulls().to_list() if ":" in a))
    return [a for a in addresses if ":" in a and net64(a) in own_v6] if own_v6 else []


def learn_networks(own_v6: set[str], addresses: Iterable[str]) -> None:
    """Add the /64s of our own IPv6 addresses (the inventory's) to ``own_v6``, up to ``MAX_OWN_V6``."""
    for a in addresses:
        net = net64(a)
        if net is not None and len(own_v6) < MAX_OWN_V6:
            own_v6.add(net)


@functools.lru_cache(maxsize=65_536)  # (a file's addresses are mostly the last file's)
def net64(address: str) -> str | None:
    try:
        return ipaddress.IPv6Address(address).exploded[:19]
    except ValueError:
        return None


def _groups(df: pl.DataFrame, groups: tuple[dict[str, str], dict[str, str]]) -> pl.Expr:
    """Each row's logging instance's group: by the instance id the log names (v3+), else by its interface."""
    by_instance, by_eni = groups
    ids = pl.col("instance_id").replace_strict(by_instance, default=None, return_dtype=pl.String)
    if df["instance_id"].null_count() == 0:
        return ids
    return pl.coalesce(ids, pl.col("interface_id").replace_strict(by_eni, default=None, return_dtype=pl.String))
