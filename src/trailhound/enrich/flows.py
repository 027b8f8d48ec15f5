"""Flow-log enrichment done once per file, in bulk, before any detector looks at the rows.

``mark_listed`` adds a boolean ``listed`` column: the source or destination address is on a threat
list. One lookup per distinct address (a file of 10k flows has a few hundred), so the threat-intel
detectors only ever walk the handful of flagged rows, and skip the whole batch when there are none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl


def mark_listed(df: pl.DataFrame, lookup: Callable[[str], Any]) -> pl.DataFrame:
    addresses = pl.concat([df["srcaddr"], df["dstaddr"]]).drop_nulls().unique().to_list()
    listed = [ip for ip in addresses if lookup(ip)]
    if not listed:
        return df.with_columns(listed=pl.repeat(False, df.height, dtype=pl.Boolean, eager=True))
    return df.with_columns(listed=pl.col("srcaddr").is_in(listed) | pl.col("dstaddr").is_in(listed))
