"""Recognise a log file by its content (names are only a hint)."""

from __future__ import annotations

import re
from pathlib import Path

from trailhound.events import FLOW_FIELDS
from trailhound.formats.base import Kind

_NOT_LOG_NAMES = re.compile(r"^(LICEN[SC]E|COPYING|NOTICE|README|SOURCE|CHANGELOG|AUTHORS)(\b|[._-])", re.I)
_NOT_LOG_SUFFIXES = (".md", ".rst", ".html", ".pdf", ".png", ".jpg", ".svg", ".py", ".yaml", ".yml", ".cff")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def names_flow_fields(tokens: list[str]) -> bool:
    """Field names, most of them known: a flow-log header. A name this code does not know (a newer
    version's field, a typo) is still a column of the header, read past rather than costing the file."""
    known = sum(t in FLOW_FIELDS for t in tokens)
    return 2 * known > len(tokens) and all(_FIELD_NAME.fullmatch(t) for t in tokens)


def sniff(path: Path, head: bytes) -> Kind:
    name = path.name
    if _NOT_LOG_NAMES.match(name) or name.lower().endswith(_NOT_LOG_SUFFIXES):
        return Kind.NOT_LOG
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return Kind.UNKNOWN
    if text[:1] == b"[":
        return Kind.CLOUDTRAIL  # a JSON array of CloudTrail records (Stratus, CLI exports)
    if text[:1] == b"{":
        window = text[:4096]
        if b'"Records"' in window[:64] or b'"eventVersion"' in window or b'"eventName"' in window:
            return Kind.CLOUDTRAIL
        if b'"digestStartTime"' in window or b'"digestPublicKeyFingerprint"' in window:
            return Kind.DIGEST
        if b'"Reservations"' in window[:64]:
            return Kind.INVENTORY
        if b'"query_name"' in window:
            return Kind.DNS
        if b"via CloudTrail" in window and b'"detail-type"' in window:
            return Kind.CLOUDTRAIL
        if b'"Records"' in window:
            return Kind.CLOUDTRAIL
        return Kind.UNKNOWN
    first = text.split(b"\n", 1)[0].strip()
    try:
        tokens = first.decode("ascii").split()
    except UnicodeDecodeError:
        return Kind.UNKNOWN
    if names_flow_fields(tokens) and "srcaddr" in tokens:
        return Kind.FLOW
    if len(tokens) >= 14 and tokens[0].isdigit() and tokens[1].isdigit():
        return Kind.FLOW  # headerless default-format lines
    return Kind.UNKNOWN
