"""Bytes -> typed events. ``parse`` picks the format by content and never raises on bad input."""

from __future__ import annotations

from pathlib import Path

import msgspec

from trailhound.formats import cloudtrail, route53, vpcflow
from trailhound.formats.base import EMPTY_TIMES, Kind, Parsed, Problem
from trailhound.formats.sniff import sniff

__all__ = ["Kind", "Parsed", "Problem", "parse", "sniff"]

_PARSERS = {Kind.CLOUDTRAIL: cloudtrail.parse, Kind.FLOW: vpcflow.parse, Kind.DNS: route53.parse}


def parse(path: str | Path, data: bytes, kind: Kind | None = None) -> Parsed:
    kind = kind or sniff(path, data[:16384])
    name = str(path)
    parser = _PARSERS.get(kind)
    if parser is not None:
        return parser(name, data)
    if kind is Kind.INVENTORY:
        try:
            return Parsed(Kind.INVENTORY, [], EMPTY_TIMES, extra=msgspec.json.decode(data))
        except msgspec.DecodeError as exc:
            return Parsed(Kind.INVENTORY, [], EMPTY_TIMES, [Problem(name, f"invalid describe-instances JSON: {exc}")], fatal=True)
    if kind in (Kind.DIGEST, Kind.NOT_LOG):
        return Parsed(kind, [], EMPTY_TIMES)
    return Parsed(
        Kind.UNKNOWN,
        [],
        EMPTY_TIMES,
        [Problem(name, "unknown format: not CloudTrail JSON, a VPC flow log, a Route 53 query log or describe-instances output")],
        fatal=True,
    )
