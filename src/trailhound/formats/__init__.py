"""Bytes -> typed events. ``parse`` picks the format by content and never raises on bad input."""

from __future__ import annotations

from pathlib import Path

import msgspec

from trailhound.formats import cloudtrail, route53, vpcflow
from trailhound.formats.base import DECODE_ERRORS, EMPTY_TIMES, Kind, Parsed, Problem
from trailhound.formats.sniff import sniff

__all__ = ["Kind", "Parsed", "Problem", "parse", "sniff", "written_end"]

_PARSERS = {Kind.FLOW: vpcflow.parse, Kind.DNS: route53.parse}
BOM = b"\xef\xbb\xbf"


def written_end(kind: Kind, data: bytes, start: int = 0) -> int | None:
    """Where a plain line log's written records end, when its last line has no newline and is no whole record
    yet (a DNS line that does not decode, a flow line short of its fields): a writer is still at it, and the
    next scan reads it whole. None: every byte is a finished record (or the format is not line by line)."""
    if kind not in (Kind.DNS, Kind.FLOW) or not data or data.endswith(b"\n"):
        return None
    cut = data.rfind(b"\n") + 1
    if cut < start:
        return None
    tail = data[cut:]
    if kind is Kind.DNS:
        try:
            route53.LINES.decode(tail)
            return None
        except DECODE_ERRORS:
            return cut
    width = len(data[: data.find(b"\n")].split())  # the header's fields, or a headerless file's first record's
    return cut if cut > 0 and 0 < len(tail.split()) < width else None


def parse(path: str | Path, data: bytes, kind: Kind | None = None, damage: str | None = None) -> Parsed:
    """``damage``: why the source could not be read to its end (a cut gzip), said in one problem line."""
    if data[:3] == BOM:  # some tools write one; every decoder would take it for a bad first record or header
        data = data[3:]
    kind = kind or sniff(path, data[:16384])
    name = str(path)
    if kind is Kind.CLOUDTRAIL:
        return cloudtrail.parse(name, data, damage)  # names the damage together with the records it kept
    parser = _PARSERS.get(kind)
    if parser is not None:
        parsed = parser(name, data)
        if damage:
            parsed.problems.insert(0, Problem(name, damage))
        return parsed
    if kind is Kind.INVENTORY:
        try:
            return Parsed(Kind.INVENTORY, [], EMPTY_TIMES, extra=msgspec.json.decode(data))
        except DECODE_ERRORS as exc:
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
