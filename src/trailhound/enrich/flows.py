"""Flow-log enrichment done once per file, in bulk, before any detector looks at the rows.

``mark_addresses`` adds boolean columns from one pass over the file's distinct addresses (a file of
10k flows has a few hundred): ``listed`` (the source or destination is on a threat list), ``trusted``
(on a trusted list), ``src_private`` and ``dst_private`` (not publicly routable). Threat-intel detectors then walk only
the flagged rows and skip a clean batch with one ``any()``; behaviour detectors tell our side of a
connection from the other without a string operation per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from trailhound.enrich.geo import is_private


def mark_addresses(df: pl.DataFrame, lookup: Callable[[str], Any], trusted: Callable[[str], Any] | None = None) -> pl.DataFrame:
    addresses = pl.concat([df["srcaddr"], df["dstaddr"]]).drop_nulls().unique().to_list()
    listed = [ip for ip in addresses if lookup(ip)]
    src, dst = pl.col("srcaddr"), pl.col("dstaddr")
    none = pl.repeat(False, df.height, dtype=pl.Boolean)
    columns = {"listed": (src.is_in(listed) | dst.is_in(listed)) if listed else none}
    # GuardDuty's trusted IP lists: no flow finding for traffic from or to them, so their rows never reach a detector
    friends = [ip for ip in addresses if trusted(ip)] if trusted is not None else []
    columns["trusted"] = (src.is_in(friends) | dst.is_in(friends)) if friends else none
    # Which side is private only matters where the log does not say the direction (v2-v4 formats).
    if df["flow_direction"].null_count():
        private = [ip for ip in addresses if is_private(ip)]
        columns |= {"src_private": src.is_in(private).fill_null(True) if private else none,
                    "dst_private": dst.is_in(private).fill_null(True) if private else none}
    else:
        columns |= {"src_private": none, "dst_private": none}
    return df.with_columns(**columns)
