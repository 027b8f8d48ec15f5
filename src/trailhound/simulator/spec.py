"""What a simulated estate is made of (``EstateSpec``), what writing one returns (``EstateFiles``), the
delivery windows of each log, and the small id, address and time helpers every part of the estate uses."""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

CT_WINDOW = 300  # CloudTrail delivers a file per account and region about every 5 minutes
FLOW_WINDOW = 600  # default flow-log aggregation/delivery interval
DNS_WINDOW = 300
LINES_PER_FILE = 10_000  # flow and DNS lines per file


@dataclass(frozen=True)
class EstateSpec:
    """The estate to simulate. Everything derives from ``seed``: one spec always yields byte-identical files."""

    account_ids: tuple[str, ...] = ("111122223333", "444455556666")
    region: str = "us-east-1"
    start: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    days: int = 3
    cloudtrail_events: int = 20_000
    flow_lines: int = 50_000
    dns_lines: int = 20_000
    instances: int = 20
    users: int = 8
    events_per_file: int = 2000  # CloudTrail events per file ("large" delivery)
    lines_per_file: int = LINES_PER_FILE  # flow and DNS lines per file ("large" delivery)
    seed: int = 7
    # "aws": a file per stream per delivery window, as AWS writes them (tens of thousands of small
    # files a day); "large": files of events_per_file / lines_per_file records
    delivery: str = "large"


@dataclass
class EstateFiles:
    """What ``write_estate`` wrote: the files of each source, their record counts and uncompressed sizes."""

    root: Path
    cloudtrail: list[Path]
    flow: list[Path]
    dns: list[Path]
    inventory: Path
    cloudtrail_events: int
    flow_lines: int
    dns_lines: int
    raw_bytes: dict[str, int]


# ---------------------------------------------------------------------------------------------
# small helpers

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # alphabet of IAM unique ids and access keys
ALNUM = string.ascii_letters + string.digits
_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def hexid(rnd: random.Random, n: int = 17) -> str:
    return f"{rnd.getrandbits(4 * n):0{n}x}"


def awsid(rnd: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rnd.choices(_B32, k=n))


def uuid_from_hex(h: str) -> str:
    """A uuid4-formatted string from 32 random hex digits."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def unlisted_ip(rnd: random.Random, prefix: str) -> str:
    """A random address in `prefix` that is on none of the packaged threat lists (redrawn if it is:
    the background must never match a list by accident; the draw stays deterministic)."""
    listed = _listed()
    while True:
        parts = prefix.rstrip(".").split(".")
        while len(parts) < 3:
            parts.append(str(rnd.randint(1, 254)))
        parts.append(str(rnd.randint(2, 253)))
        ip = ".".join(parts)
        if not listed(ip):
            return ip


@lru_cache(maxsize=1)
def _listed() -> Callable[[str], bool]:
    from trailhound.intel.builtin import DATA_DIR, builtin_index

    # The packaged lists only (a folder with no refreshed copies), so that output depends on the seed alone.
    index = builtin_index(DATA_DIR / "packaged-only")
    return lambda ip: bool(index.ip(ip))


def region_short(region: str) -> str:
    """us-east-1 -> use1, eu-west-2 -> euw2 (the short form AZ ids and ElastiCache endpoints use)."""
    geo, direction, n = region.split("-")
    return f"{geo}{direction[0]}{n}"
