"""Hypothesis strategies for tests/test_fuzz.py: valid files of every log and threat-list format, each
record told apart by an id, and the ways one record goes bad.

A file is built from its records' bytes (``items``), so one item can be swapped for a hostile one
before the layout joins them: the test then knows exactly which record is bad and which must survive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from trailhound.events import FLOW_FIELDS
from trailhound.formats.vpcflow import V2_DEFAULT

T_MIN, T_MAX = 1_300_000_000, 1_750_000_000  # 2011 .. 2025: plausible event times
DEEP = b"[" * 10_000 + b"]" * 10_000  # nesting deeper than any decoder follows
MARK = "\x00@@MARK@@"  # a field value swapped for hostile bytes after encoding (json.dumps writes it "\u0000@@MARK@@")
_MARK_JSON = json.dumps(MARK).encode()

# Text as logs carry it: any code point but lone surrogates (json.dumps escapes the controls).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


def iso(t: float, frac: bool) -> str:
    stamp = datetime.fromtimestamp(t, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{stamp.microsecond // 1000:03d}" if frac else "") + "Z"


def ct_id(i: int) -> str:
    return f"evt-{i:04d}"


@st.composite
def ct_record(draw: st.DrawFn, i: int) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": draw(st.sampled_from(["IAMUser", "Root", "AssumedRole"])), "arn": draw(text),
                         "accountId": "111122223333", "userName": draw(st.none() | text)},
        "eventTime": iso(draw(st.floats(T_MIN, T_MAX)), draw(st.booleans())),
        "eventSource": draw(st.sampled_from(["ec2.amazonaws.com", "s3.amazonaws.com", "iam.amazonaws.com"])),
        "eventName": draw(text),
        "awsRegion": "us-east-1",
        "sourceIPAddress": draw(text),
        "userAgent": draw(text),
        "requestParameters": draw(json_values),
        "eventID": ct_id(i),
        "readOnly": draw(st.booleans()),
        "eventCategory": draw(st.sampled_from(["Management", "Data"])),
    }
    return rec


def records(record: Any, min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[list[dict[str, Any]]]:
    """``record(i)`` for i in 0..n-1: records with distinct ids."""
    return st.integers(min_size, max_size).flatmap(lambda n: st.tuples(*(record(i) for i in range(n))).map(list))


def encode(rec: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(rec, ensure_ascii=ascii_only).encode()


# -- one record gone bad ----------------------------------------------------------------------

# (field, the bytes its value becomes): each one makes the record undecodable or its time implausible.
CT_BAD_FIELDS = [
    ("eventName", b'"ab\xff\xfecd"'),  # invalid UTF-8
    ("eventName", b'"ab\x00cd"'),  # a raw NUL inside a string
    ("eventName", b'"ab\x1b[2J\x07cd"'),  # raw control characters: invalid inside a JSON string
    ("eventName", b"[]"),  # the wrong type
    ("eventName", b"1" + b"0" * 400),  # a huge integer
    ("eventTime", b"1e99999"),  # a huge float
    ("eventTime", b'"not a time"'),
    ("eventTime", b'"1970-01-01T00:00:00Z"'),  # decodes, but is no real event time
    ("eventTime", b'"9999-12-31T23:59:59Z"'),
    ("userIdentity", b'"x"'),
    ("requestParameters", DEEP),
]
WHOLE_BAD = [b'"not a record"', b"42", b"null", b"[1, 2]", b"{}", b"true"]


@st.composite
def bad_item(draw: st.DrawFn, rec: dict[str, Any], fields: list[tuple[str, bytes]]) -> bytes:
    """``rec`` encoded with one hostile value, or replaced by a value that is no record at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(WHOLE_BAD))
    field, value = draw(st.sampled_from(fields))
    return encode({**rec, field: MARK}).replace(_MARK_JSON, value)


@st.composite
def mutated(draw: st.DrawFn, data: bytes, keep_newlines: bool = False, max_edits: int = 4) -> bytes:
    """``data`` with a few bytes flipped, inserted or deleted (no newline added or removed when
    ``keep_newlines``: the damage stays on its line)."""
    buf = bytearray(data)
    byte = st.integers(0, 255).filter(lambda b: not keep_newlines or b != 10)
    for _ in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "insert":
            buf[at:at] = bytes([draw(byte)])
        elif not buf or (keep_newlines and buf[at] == 10):
            continue
        elif op == "delete":
            del buf[at]
        else:
            buf[at] = draw(byte)
    return bytes(buf)


def splice(draw: st.DrawFn, data: bytes) -> bytes:
    """Hostile bytes injected at a random point."""
    at = draw(st.integers(0, len(data)))
    junk = draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\x1b[2J", b"\xef\xbb\xbf", DEEP[:3000] + DEEP[-3000:], b"1" + b"0" * 500,
                                 b'"', b"}", b"]", b",", b"\r", b"\n", b"\t"]))
    return data[:at] + junk + data[at:]


# -- CloudTrail layouts -----------------------------------------------------------------------

CT_LAYOUTS = ["records", "array", "lines", "eventbridge", "mixed"]
LINE_LAYOUTS = ("lines", "eventbridge", "mixed")


def envelope(item: bytes, detail_type: bytes = b"AWS API Call via CloudTrail") -> bytes:
    return b'{"version": "0", "id": "e", "detail-type": "' + detail_type + b'", "source": "aws.ec2", "detail": ' + item + b"}"


def ct_document(layout: str, items: list[bytes], sep: bytes = b", ") -> bytes:
    if layout == "records":
        return b'{"Records": [' + sep.join(items) + b"]}"
    if layout == "array":
        return b"[" + sep.join(items) + b"]\n"
    if layout == "eventbridge":
        items = [envelope(x) for x in items]
    elif layout == "mixed":
        items = [envelope(x) if i % 2 else x for i, x in enumerate(items)]
    return b"\n".join(items) + b"\n"


seps = st.sampled_from([b",", b", ", b",\n", b"\n,\n  "])


# -- Route 53 Resolver ------------------------------------------------------------------------

def dns_id(i: int) -> str:
    return f"q{i:04d}.example.com."


@st.composite
def dns_record(draw: st.DrawFn, i: int) -> dict[str, Any]:
    return {
        "version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": draw(text),
        "query_timestamp": iso(draw(st.floats(T_MIN, T_MAX)), draw(st.booleans())), "query_name": dns_id(i),
        "query_type": draw(st.sampled_from(["A", "AAAA", "TXT"])), "query_class": "IN", "rcode": "NOERROR",
        "answers": [{"Rdata": draw(text), "Type": "A", "Class": "IN"} for _ in range(draw(st.integers(0, 2)))],
        "srcaddr": "10.0.1.25", "srcport": "53124", "transport": "UDP", "srcids": {"instance": draw(text)},
    }


DNS_BAD_FIELDS = [
    ("query_name", b'"ab\xff\xfecd"'), ("query_name", b'"ab\x00cd"'), ("query_name", b'"\x1b]0;x\x07"'), ("query_name", b"{}"),
    ("query_timestamp", b"1e99999"), ("query_timestamp", b'"2001-01-01T00:00:00Z"'), ("answers", b'"x"'), ("answers", DEEP),
    ("srcids", b"1" + b"0" * 400),
]


# -- VPC flow logs ----------------------------------------------------------------------------

def flow_id(i: int) -> str:
    return f"10.{i // 250}.{i % 250}.7"


_OPTIONAL = sorted(set(FLOW_FIELDS) - {"srcaddr", "start"})
# Token characters: anything a line is not split at (Polars splits at b" " only; non-ASCII blanks are token text).
_token = st.text(st.characters(exclude_characters=" \t\n\r\x0b\x0c", exclude_categories=("Cs",)), min_size=1, max_size=10).filter(
    lambda t: t != "-")


@st.composite
def flow_header(draw: st.DrawFn) -> list[str] | None:
    """A header naming srcaddr, start and any other known fields in any order; None: headerless v2."""
    if draw(st.integers(0, 5)) == 0:
        return None
    others = draw(st.lists(st.sampled_from(_OPTIONAL), unique=True, max_size=12))
    return draw(st.permutations(["srcaddr", "start", *others]))


@st.composite
def flow_row(draw: st.DrawFn, i: int, fields: tuple[str, ...]) -> str:
    values = []
    for name in fields:
        dtype = FLOW_FIELDS[name]
        if name == "srcaddr":
            values.append(flow_id(i))
        elif name in ("start", "end"):
            values.append(str(draw(st.integers(T_MIN, T_MAX))))
        elif name == "log-status":
            values.append("OK")  # NODATA rows are no events
        elif name == "version":
            values.append(str(draw(st.integers(2, 8))))
        else:  # (a good row's values are within their fields' ranges: a port of 70000 is a bad line)
            top = {"srcport": 65535, "dstport": 65535, "protocol": 255, "tcp-flags": 255, "packets": 2**40, "bytes": 2**44}.get(name)
            integer = st.integers(0, top) if top else st.integers(0, 2**31 - 1) if dtype == FLOW_FIELDS["srcport"] else st.integers(0, 2**62)
            values.append(draw((integer.map(str) if dtype != FLOW_FIELDS["action"] else _token) | st.just("-")))
    return " ".join(values)


@st.composite
def flow_file(draw: st.DrawFn, min_rows: int = 1, max_rows: int = 8) -> tuple[list[str] | None, list[str]]:
    header = draw(flow_header())
    fields = tuple(header or V2_DEFAULT)
    n = draw(st.integers(min_rows, max_rows))
    return header, [draw(flow_row(i, fields)) for i in range(n)]


def flow_document(header: list[str] | None, lines: list[bytes]) -> bytes:
    return b"\n".join(([" ".join(header).encode()] if header else []) + lines) + b"\n"


# Each makes one line unreadable: wrong field count, a value that fits no integer column, an implausible time.
@st.composite
def bad_flow_line(draw: st.DrawFn, line: str, fields: tuple[str, ...]) -> bytes:
    tokens = line.split(" ")
    how = draw(st.sampled_from(["short", "long", "start-text", "start-huge", "start-ms", "start-old", "utf8"]))
    at = fields.index("start")
    if how == "short":
        del tokens[draw(st.integers(0, len(tokens) - 1))]
    elif how == "long":
        tokens.insert(draw(st.integers(0, len(tokens))), "extra")
    elif how == "utf8":  # an invalid byte in the one column that must be an integer
        raw = [t.encode() for t in tokens]
        raw[at] = b"1\xff"
        return b" ".join(raw)
    else:
        tokens[at] = {"start-text": "soon", "start-huge": "9" * 30, "start-ms": str(T_MAX * 1000), "start-old": "12"}[how]
    return " ".join(tokens).encode()


# -- threat lists -----------------------------------------------------------------------------

def list_entry(i: int, kind: int) -> tuple[str, str]:
    """(what the list says, the indicator it becomes): an IPv4, a CIDR, a domain or an IPv6 address."""
    a, b = i // 250, i % 250 + 1
    return [(f"203.0.{a}.{b}", f"203.0.{a}.{b}"), (f"198.{a}.{b}.0/24", f"198.{a}.{b}.0/24"),
            (f"Host{i}.Example.COM", f"host{i}.example.com"), (f"2001:db8::{i + 1:x}", f"2001:db8::{i + 1:x}")][kind]


def entries(fmt: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    kinds = st.sampled_from([0, 3]) if fmt == "ALIEN_VAULT" else st.integers(0, 3)  # AlienVault's feed lists addresses only
    return st.lists(kinds, min_size=1, max_size=10).map(lambda ks: [list_entry(i, k) for i, k in enumerate(ks)])
LIST_FORMATS = ["TXT", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE", "STIX"]
# A line whose host is unreadable: each costs its line alone.
BAD_LIST_VALUES = [b"not a host!", b"\xff\xfe.example.com", b"ab\x00cd", b"300.1.2.3/33", b"\x1b[2J", b"-.-", b"a" * 300]


def list_document(fmt: str, values: list[bytes]) -> tuple[bytes, int]:
    """A list in ``fmt`` holding ``values``, and the line (or STIX record) of the first value."""
    if fmt == "TXT":
        return b"# a feed\n" + b"\n".join(values) + b"\n", 2
    if fmt == "OTX_CSV":
        return b"Indicator type,Indicator,Description\n" + b"".join(b"IPv4,%s,C2 server\n" % v for v in values), 2
    if fmt == "ALIEN_VAULT":
        return b"".join(b"%s#4#2#Malicious Host#US##0.0,0.0#3\n" % v for v in values), 1
    if fmt == "PROOF_POINT":
        return b"ip,category,score\n" + b"".join(b"%s,1,100\n" % v for v in values), 2
    if fmt == "FIRE_EYE":
        return b"reportId,ip,malwareFamily\n" + b"".join(b"r1,%s,Emotet\n" % v for v in values), 2
    objects = [b'{"type": "indicator", "id": "indicator--%d", "pattern_type": "stix", "pattern": "[domain-name:value = \'%s\']"}'
               % (i, v) for i, v in enumerate(values)]
    return b'{"type": "bundle", "id": "bundle--1", "objects": [' + b", ".join(objects) + b"]}", 0
