"""Fuzzing every parser (issue 11): Hypothesis feeds each one arbitrary bytes and valid files with
damage in them, and checks what the README promises of bad input.

* No exception escapes: every parser turns bad input into problems.
* Good records around a bad one are kept: one record made unreadable costs that record alone, and a
  cut gzip keeps every record that ends before the cut.
* Memory stays bounded: a parse allocates at most 20x its input plus 1 MB (Python allocations, as
  tracemalloc sees them: Polars' own buffers are not counted), and a gzip bomb is refused at the limit.
* What a parse returns is consistent: times ascending and one per event, records read >= events,
  problems naming the file and printable.

Profiles: ``ci`` (the default: a fixed, small budget, derandomized, no example database, so a clean
clone runs the same examples every time) and ``deep`` (``TRAILHOUND_FUZZ=deep``: thousands of random
examples per test, for a long local run).
"""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
import pytest
from fuzz_strategies import (
    CT_BAD_FIELDS, CT_LAYOUTS, DEEP, DNS_BAD_FIELDS, LINE_LAYOUTS, LIST_FORMATS, BAD_LIST_VALUES, T_MAX, T_MIN, bad_flow_line,
    bad_item, ct_document, ct_id, ct_record, dns_id, dns_record, encode, entries, envelope, flow_document, flow_file, flow_id,
    flow_row, list_document, mutated, records, seps, splice,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trailhound.formats import Kind, Parsed, parse, sniff
from trailhound.formats.base import EARLIEST, LATEST
from trailhound.formats.batch import Member, parse_many
from trailhound.formats.split import split_array
from trailhound.formats.vpcflow import V2_DEFAULT
from trailhound.intel import formats as lists
from trailhound.sources import files
from trailhound.timeline import estimate_start

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=_SLOW)
settings.register_profile("deep", max_examples=3000, deadline=None, suppress_health_check=_SLOW)
settings.load_profile(os.environ.get("TRAILHOUND_FUZZ", "ci"))

T = TypeVar("T")
PATH = "fuzz/input.log"
KINDS = [None, Kind.CLOUDTRAIL, Kind.FLOW, Kind.DNS, Kind.INVENTORY]


# -- the properties every parse keeps ---------------------------------------------------------

def bounded(size: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args)``, failing if it allocated more than 20x ``size`` bytes plus 1 MB at its peak."""
    tracemalloc.start()
    try:
        result = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * size + 1_000_000, f"{peak} bytes allocated for {size} bytes of input"
    return result


def check_problems(problems: list[Any], path: str) -> None:
    for p in problems:
        assert p.path == path
        line = str(p)
        assert line.isprintable() and "\x1b" not in line, line  # one line, nothing a terminal would act on


def check(parsed: Parsed, path: str = PATH) -> Parsed:
    """What every parse returns, whatever it was given."""
    n = parsed.events.height if parsed.kind is Kind.FLOW else len(parsed.events)
    assert len(parsed.times) == n and parsed.times.dtype == np.float64
    assert bool(np.all(np.diff(parsed.times) >= 0)), "times not ascending"
    assert parsed.records_read >= n
    if n:
        assert EARLIEST <= parsed.times[0] and parsed.times[-1] < LATEST  # no implausible time reaches the timeline
    check_problems(parsed.problems, path)
    return parsed


def fuzz_parse(data: bytes, kind: Kind | None, damage: str | None = None) -> Parsed:
    return check(bounded(len(data), parse, Path(PATH), data, kind, damage))


def ids(parsed: Parsed) -> set[str]:
    if parsed.kind is Kind.FLOW:
        return set(parsed.events["srcaddr"].to_list())
    if parsed.kind is Kind.DNS:
        return {e.query_name for e in parsed.events}
    return {e.event_id for e in parsed.events}


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Load what parsers load once (Polars kernels, the public suffix list) before memory is measured."""
    for data, kind in ((b'{"Records": [{"eventTime": "2020-01-01T00:00:00Z", "eventName": "X"}]}', Kind.CLOUDTRAIL),
                       (b"srcaddr start\n1.2.3.4 1700000000\n", Kind.FLOW), (b"{}\n", Kind.DNS)):
        parse(Path(PATH), data, kind)
        parse(Path(PATH), data + b"\xff\n", kind)
    flows = [Member(f"{i}.log", b"srcaddr start\n1.2.3.4 1700000000\n") for i in range(3)]
    parse_many(Kind.FLOW, flows, _parse_one(Kind.FLOW))
    for fmt in LIST_FORMATS:
        lists.parse(b"evil.example.com\n1.2.3.4\n", name="x", format=fmt)


# -- any bytes at all -------------------------------------------------------------------------

@given(data=st.binary(max_size=3000), kind=st.sampled_from(KINDS))
@example(data=b"[" * 100_000, kind=Kind.CLOUDTRAIL)
@example(data=b'{"Records": [' + DEEP + b"]}", kind=Kind.CLOUDTRAIL)
@example(data=b"srcaddr start\n" + b"\xff " * 2 + b"\n", kind=Kind.FLOW)
def test_arbitrary_bytes_never_raise(data: bytes, kind: Kind | None) -> None:
    fuzz_parse(data, kind)


@given(head=st.binary(max_size=2000))
@example(head=b"\xbb srcaddr start\n1.2.3.4 1700000000\n")  # sniff reads past a stray BOM byte; the estimate must too
@example(head=b"srcaddr start\n1.2.3.4 " + b"9" * 400 + b"\n")
def test_sniff_and_estimate_start_take_any_bytes(head: bytes) -> None:
    kind = sniff(Path(PATH), head)
    start = estimate_start(Path(PATH), head, kind)
    assert start == 0.0 or EARLIEST <= start < LATEST  # a planning input is unknown (0) or a real time
    split_array(head, 0)


# -- CloudTrail -------------------------------------------------------------------------------

ct_files = st.tuples(st.sampled_from(CT_LAYOUTS), records(ct_record), seps)


@given(f=ct_files, data=st.data())
def test_cloudtrail_damage_never_raises(f: tuple[str, list[dict[str, Any]], bytes], data: st.DataObject) -> None:
    layout, recs, sep = f
    doc = ct_document(layout, [encode(r, ascii_only=i % 2 == 0) for i, r in enumerate(recs)], sep)
    how = data.draw(st.sampled_from(["mutate", "splice", "cut"]))
    if how == "mutate":
        doc = data.draw(mutated(doc))
    elif how == "splice":
        doc = splice(data.draw, doc)
    else:
        doc = doc[: data.draw(st.integers(0, len(doc)))]
    fuzz_parse(doc, data.draw(st.sampled_from([None, Kind.CLOUDTRAIL])))


@given(f=ct_files, data=st.data())
def test_cloudtrail_one_bad_record_costs_that_record_alone(f: tuple[str, list[dict[str, Any]], bytes], data: st.DataObject) -> None:
    layout, recs, sep = f
    items = [encode(r) for r in recs]
    bad = data.draw(st.integers(0, len(recs) - 1))
    items[bad] = data.draw(bad_item(recs[bad], CT_BAD_FIELDS))
    doc = ct_document(layout, items, sep)
    parsed = fuzz_parse(doc, Kind.CLOUDTRAIL)
    assert ids(parsed) >= {ct_id(i) for i in range(len(recs)) if i != bad}
    assert ct_id(bad) not in ids(parsed) and parsed.problems
    if layout in LINE_LAYOUTS:
        assert any(p.line == bad + 1 or p.record == bad for p in parsed.problems), parsed.problems
    else:
        assert any(p.record == bad for p in parsed.problems), parsed.problems


@given(f=ct_files.filter(lambda f: f[0] in LINE_LAYOUTS), data=st.data())
def test_cloudtrail_damage_to_one_line_stays_on_that_line(f: tuple[str, list[dict[str, Any]], bytes], data: st.DataObject) -> None:
    layout, recs, _ = f
    lines = ct_document(layout, [encode(r) for r in recs]).split(b"\n")
    bad = data.draw(st.integers(0, len(recs) - 1))
    lines[bad] = data.draw(mutated(lines[bad], keep_newlines=True))
    parsed = fuzz_parse(b"\n".join(lines), Kind.CLOUDTRAIL)
    assert ids(parsed) >= {ct_id(i) for i in range(len(recs)) if i != bad}


@given(layout=st.sampled_from(["records", "array", "lines", "eventbridge"]), recs=records(ct_record, 2, 12), data=st.data())
def test_a_cut_cloudtrail_gzip_keeps_every_record_before_the_cut(layout: str, recs: list[dict[str, Any]], data: st.DataObject,
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    items = [encode(r) for r in recs]
    doc = ct_document(layout, items)
    stored = gzip.compress(doc, mtime=0)
    cut = stored[: data.draw(st.integers(2, len(stored) - 1))]  # (less than the magic number is no gzip)
    path = tmp_path_factory.mktemp("cut") / "trail.json.gz"
    path.write_bytes(cut)
    raw = bounded(len(cut), files.read, path, limit=1 << 20)
    assert raw.error and not raw.too_large and doc.startswith(raw.data)
    assert raw.data == zlib.decompressobj(wbits=31).decompress(cut)  # all the cut stream holds, not a byte less
    parsed = check(parse(path, raw.data, Kind.CLOUDTRAIL, raw.error), str(path))
    ends, pos = [], 0
    for item in items:
        item = envelope(item) if layout == "eventbridge" else item  # a record is complete with its envelope
        pos = doc.index(item, pos) + len(item)
        ends.append(pos)
    assert ids(parsed) >= {ct_id(i) for i, end in enumerate(ends) if end <= len(raw.data)}
    assert any(raw.error in p.message for p in parsed.problems)


# -- Route 53 Resolver ------------------------------------------------------------------------

dns_files = records(dns_record, 1, 10)


@given(recs=dns_files, data=st.data())
def test_dns_one_bad_line_costs_that_line_alone(recs: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = [encode(r, ascii_only=i % 2 == 1) for i, r in enumerate(recs)]
    bad = data.draw(st.integers(0, len(recs) - 1))
    if data.draw(st.booleans()):
        lines[bad] = data.draw(bad_item(recs[bad], DNS_BAD_FIELDS))
        must_fail = True
    else:
        lines[bad] = data.draw(mutated(lines[bad], keep_newlines=True))
        must_fail = False
    parsed = fuzz_parse(b"\n".join(lines) + b"\n", Kind.DNS)
    assert ids(parsed) >= {dns_id(i) for i in range(len(recs)) if i != bad}
    if must_fail:
        assert dns_id(bad) not in ids(parsed)
        assert any(p.line == bad + 1 or p.record == bad for p in parsed.problems), parsed.problems


@given(recs=dns_files, data=st.data())
def test_dns_damage_never_raises(recs: list[dict[str, Any]], data: st.DataObject) -> None:
    doc = b"\n".join(encode(r) for r in recs)
    doc = data.draw(mutated(doc)) if data.draw(st.booleans()) else splice(data.draw, doc)
    fuzz_parse(doc, data.draw(st.sampled_from([None, Kind.DNS])))


# -- VPC flow logs ----------------------------------------------------------------------------

@given(f=flow_file(), data=st.data())
def test_flow_one_bad_line_costs_that_line_alone(f: tuple[list[str] | None, list[str]], data: st.DataObject) -> None:
    header, rows = f
    fields = tuple(header or V2_DEFAULT)
    lines = [r.encode() for r in rows]
    bad = data.draw(st.integers(0, len(rows) - 1))
    lines[bad] = data.draw(bad_flow_line(rows[bad], fields))
    parsed = fuzz_parse(flow_document(header, lines), Kind.FLOW)
    assert ids(parsed) == {flow_id(i) for i in range(len(rows)) if i != bad}
    assert any(p.line == bad + 1 + (header is not None) for p in parsed.problems), parsed.problems


@given(f=flow_file(), data=st.data())
def test_flow_damage_to_one_line_stays_on_that_line(f: tuple[list[str] | None, list[str]], data: st.DataObject) -> None:
    header, rows = f
    lines = [r.encode() for r in rows]
    bad = data.draw(st.integers(0, len(rows) - 1))
    lines[bad] = data.draw(mutated(lines[bad], keep_newlines=True))
    parsed = fuzz_parse(flow_document(header, lines), Kind.FLOW)
    assert ids(parsed) >= {flow_id(i) for i in range(len(rows)) if i != bad}


@given(f=flow_file(), data=st.data())
def test_flow_damage_never_raises(f: tuple[list[str] | None, list[str]], data: st.DataObject) -> None:
    header, rows = f
    doc = flow_document(header, [r.encode() for r in rows])
    doc = data.draw(mutated(doc)) if data.draw(st.booleans()) else splice(data.draw, doc)
    fuzz_parse(doc, data.draw(st.sampled_from([None, Kind.FLOW])))


# -- a batch is its files read alone ----------------------------------------------------------

@st.composite
def flow_members(draw: st.DrawFn) -> list[Member]:
    """Files of one header, some with a bad line, a byte-order mark, another header or a cut."""
    header, _ = draw(flow_file())
    fields = tuple(header or V2_DEFAULT)
    members = []
    for m in range(draw(st.integers(2, 5))):
        lines = [draw(flow_row(100 * m + i, fields)).encode() for i in range(draw(st.integers(1, 5)))]
        twist = draw(st.sampled_from(["none", "none", "bad-line", "mutate", "bom", "empty", "damage"]))
        if twist == "bad-line":
            lines[0] = draw(bad_flow_line(lines[0].decode(), fields))
        doc = flow_document(header, lines)
        if twist == "mutate":
            doc = draw(mutated(doc))
        elif twist == "bom":
            doc = b"\xef\xbb\xbf" + doc
        elif twist == "empty":
            doc = flow_document(header, [])
        members.append(Member(f"m{m}.log", doc, "truncated gzip stream" if twist == "damage" else None))
    return members


def _parse_one(kind: Kind) -> Callable[[str, bytes, str | None], Parsed]:
    return lambda path, data, damage: parse(path, data, kind, damage)


def assert_batch_is_each_file_alone(kind: Kind, members: list[Member]) -> None:
    batch = bounded(sum(len(m.data) for m in members), parse_many, kind, members, _parse_one(kind))
    times = batch.parsed.times
    assert bool(np.all(np.diff(times) >= 0)) and len(batch.member_of) == len(times)
    for i, m in enumerate(members):
        alone = check(parse(m.path, m.data, kind, m.damage), m.path)
        mine = batch.member_of == i
        assert times[mine].tolist() == alone.times.tolist()
        if kind is Kind.FLOW:
            assert batch.parsed.events.filter(pl.Series(mine)).equals(alone.events)
        else:
            assert [e for e, keep in zip(batch.parsed.events, mine) if keep] == alone.events
        assert [str(p) for p in batch.problems[i]] == [str(p) for p in alone.problems]
        assert (batch.records_read[i], batch.fatal[i]) == (alone.records_read, alone.fatal)


@given(members=flow_members())
def test_a_flow_batch_is_each_file_read_alone(members: list[Member]) -> None:
    assert_batch_is_each_file_alone(Kind.FLOW, members)


@given(files_=st.lists(st.tuples(dns_files, st.booleans()), min_size=1, max_size=4), data=st.data())
def test_a_dns_batch_is_each_file_read_alone(files_: list[tuple[list[dict[str, Any]], bool]], data: st.DataObject) -> None:
    members = []
    for m, (recs, damaged) in enumerate(files_):
        doc = b"\n".join(encode(r) for r in recs) + b"\n"
        members.append(Member(f"d{m}.log", data.draw(mutated(doc)) if damaged else doc))
    assert_batch_is_each_file_alone(Kind.DNS, members)


@given(files_=st.lists(st.tuples(st.sampled_from(CT_LAYOUTS), records(ct_record, 1, 4), st.booleans()), min_size=1, max_size=4),
       data=st.data())
def test_a_cloudtrail_batch_is_each_file_read_alone(files_: list[tuple[str, list[dict[str, Any]], bool]], data: st.DataObject) -> None:
    members = []
    for m, (layout, recs, damaged) in enumerate(files_):
        doc = ct_document(layout, [encode(r) for r in recs])
        members.append(Member(f"c{m}.json", data.draw(mutated(doc)) if damaged else doc, "cut" if damaged else None))
    assert_batch_is_each_file_alone(Kind.CLOUDTRAIL, members)


# -- gzip -------------------------------------------------------------------------------------

@st.composite
def gzip_files(draw: st.DrawFn) -> tuple[bytes, bytes, bool]:
    """(stored bytes, what they decompress to when whole, whether they are whole)."""
    parts = draw(st.lists(st.binary(max_size=3000) | st.just(b"x" * 50_000), min_size=1, max_size=3))
    stored = b"".join(gzip.compress(p, compresslevel=draw(st.integers(1, 9)), mtime=0) for p in parts)  # multi-member
    plain = b"".join(parts)
    how = draw(st.sampled_from(["whole", "cut", "flip", "garbage", "mutate"]))
    if how == "cut":
        stored = stored[: draw(st.integers(0, len(stored) - 1))]
    elif how == "flip":
        at = draw(st.integers(0, len(stored) - 1))
        stored = stored[:at] + bytes([stored[at] ^ draw(st.integers(1, 255))]) + stored[at + 1 :]
    elif how == "garbage":
        stored += draw(st.binary(min_size=1, max_size=50))
    elif how == "mutate":
        stored = draw(mutated(stored, max_edits=3))
    return stored, plain, how == "whole"


@given(g=gzip_files(), limit=st.sampled_from([None, 100, 5000, 1 << 20]))
@example(g=(gzip.compress(b"abc") + b"\x1f\x8b", b"abc", False), limit=None)  # trailing garbage that starts like a gzip
# a damaged second member that ISA-L decodes on and zlib refuses ("invalid distances set"): the peek is zlib's prefix too
@example(g=(b'\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03c``\x00\x00\x12\xd9A\xff\x03\x00\x00\x00\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xed\xc1\x01\r\x00\x00\x00\xc2\xa0\xda\x8fo\x0f\x07\x96\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00O\x06\xda\x1f\xee\xb5P\xc3\x00\x00', b"\0\0\0" + b"x" * 4093, False), limit=None)
def test_gzip_damage_never_raises_and_keeps_what_precedes_it(g: tuple[bytes, bytes, bool], limit: int | None,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    stored, plain, whole = g
    path = tmp_path_factory.mktemp("gz") / "f.gz"
    path.write_bytes(stored)
    raw = bounded(len(stored) + (limit or len(plain)), files.read, path, limit)
    data, error = files.gunzip(stored)
    if whole:
        assert error is None and data == plain
    assert error is not None or data == plain or not stored  # damage is either said or did not change the content
    if not stored.startswith(files.GZIP_MAGIC):
        assert raw.data == stored and raw.error is None  # not a gzip at all: read as it is
    elif raw.too_large:
        assert limit is not None and raw.data == b""
    else:  # the same bytes and the same word on them, with a limit or without
        assert raw.data == (data if limit is None else data[:limit]) and (raw.error is None) == (error is None)
        assert files.peek(path, 4096) == data[:4096]


def test_a_gzip_bomb_is_refused_at_the_limit(tmp_path: Path) -> None:
    """50 MB of zeros in 50 kB: refused as too large, never held whole (nor when the stream is cut)."""
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9, mtime=0)
    limit = 4_000_000
    for name, stored in (("bomb.gz", bomb), ("cut-bomb.gz", bomb[: len(bomb) // 2]), ("two.gz", gzip.compress(b"x") + bomb)):
        path = tmp_path / name
        path.write_bytes(stored)
        raw = bounded(limit, files.read, path, limit=limit)  # 20x the limit at most: the 50 MB never exist
        assert raw.too_large and raw.data == b"" and "larger than 4 MB decompressed" in (raw.error or "")
        assert len(bounded(limit, files.peek, path)) == 16384


# -- threat lists -----------------------------------------------------------------------------

@given(data=st.binary(max_size=3000), fmt=st.sampled_from([None, *LIST_FORMATS]))
@example(data=b"Indicator type,Indicator\nIPv4," + b"a" * 200_000 + b"\n", fmt="OTX_CSV")  # a field past csv's limit
@example(data=b'<?xml version="1.0"?>' + b" " * 5000 + b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;</x>', fmt="STIX")
def test_list_parsers_take_any_bytes(data: bytes, fmt: str | None) -> None:
    load = bounded(len(data), lists.parse, data, name="fuzz", path=PATH, format=fmt)
    check_problems(load.problems, PATH)
    assert load.entries == len(load.indicators) and load.problem_count >= len(load.problems) - 1


@given(fmt=st.sampled_from(LIST_FORMATS), data=st.data())
def test_list_one_bad_line_costs_that_line_alone(fmt: str, data: st.DataObject) -> None:
    values = data.draw(entries(fmt))
    raw = [v.encode() for v, _ in values]
    bad = data.draw(st.integers(0, len(raw) - 1))
    json_safe = [b for b in BAD_LIST_VALUES if all(32 <= c < 127 and c != 92 for c in b)]
    raw[bad] = data.draw(st.sampled_from(json_safe if fmt == "STIX" else BAD_LIST_VALUES))
    doc, first = list_document(fmt, raw)
    if data.draw(st.booleans()):
        doc = gzip.compress(doc)
    load = bounded(len(doc), lists.parse, doc, name="fuzz", path=PATH, format=fmt if data.draw(st.booleans()) else None)
    check_problems(load.problems, PATH)
    assert load.format == fmt or len(values) == 1  # (a list of one bad line is a bad TXT line just as well)
    assert {i.value for i in load.indicators} == {canon for i, (_, canon) in enumerate(values) if i != bad}
    where = [(p.line, p.record) for p in load.problems]
    assert ((first + bad, None) if fmt != "STIX" else (None, bad)) in where, where


@given(fmt=st.sampled_from(LIST_FORMATS), data=st.data())
def test_list_damage_never_raises(fmt: str, data: st.DataObject) -> None:
    values = data.draw(entries(fmt))
    doc, _ = list_document(fmt, [v.encode() for v, _ in values])
    doc = data.draw(mutated(doc)) if data.draw(st.booleans()) else splice(data.draw, doc)
    load = bounded(len(doc), lists.parse, doc, name="fuzz", path=PATH, format=data.draw(st.sampled_from([None, fmt])))
    check_problems(load.problems, PATH)


# -- plausible times in, plausible estimates out -------------------------------------------------

@given(f=st.one_of(ct_files.map(lambda f: ("ct", f)), flow_file().map(lambda f: ("flow", f)), dns_files.map(lambda f: ("dns", f))))
def test_a_files_estimated_start_is_never_after_its_first_event(f: tuple[str, Any]) -> None:
    what, spec = f
    if what == "ct":
        layout, recs, sep = spec
        doc = ct_document(layout, [encode(r) for r in recs], sep)
    elif what == "flow":
        doc = flow_document(spec[0], [r.encode() for r in spec[1]])
    else:
        doc = b"\n".join(encode(r) for r in spec) + b"\n"
    kind = sniff(Path(PATH), doc[:4096])
    parsed = fuzz_parse(doc, kind)
    start = estimate_start(Path(PATH), doc[:4096], kind)
    if len(parsed) and len(doc) <= 4096:
        assert start <= parsed.times[0] + 1  # (flow times are whole seconds, CloudTrail's may carry milliseconds)
    assert T_MIN - 1 <= start <= T_MAX + 1 or start == 0.0


# -- what the fuzzer found, kept as plain tests ------------------------------------------------

def test_a_bad_first_line_does_not_cost_the_lines_after_it() -> None:
    """A record-per-line file whose first line is cut or no record read as one document lost every line."""
    good = [encode({"eventTime": f"2024-01-01T00:00:0{i}Z", "eventName": "X", "eventID": ct_id(i)}) for i in range(1, 4)]
    for first in (b"[1, 2]", good[0][:-9], b'{"eventTime": "2024-01-01T00:00:00Z", "eventName": "X"', b'"not a record"'):
        parsed = fuzz_parse(b"\n".join([first, *good]) + b"\n", Kind.CLOUDTRAIL)
        assert ids(parsed) == {ct_id(i) for i in range(1, 4)}
        assert [p.line for p in parsed.problems] == [1], parsed.problems


def test_flow_lines_split_where_polars_splits_them() -> None:
    """Next to a bad line, a good line with a byte str.split() takes for a blank (\\x1f, U+00A0) kept its fields."""
    header = b"srcaddr account-id start"
    doc = flow_document(["srcaddr", "account-id", "start"], [b"1.1.1.1 a\x1fb 1700000000", "2.2.2.2 a\u00a0b 1700000001".encode(),
                                                             b"3.3.3.3 c soon"])
    parsed = fuzz_parse(doc, Kind.FLOW)
    assert doc.startswith(header) and ids(parsed) == {"1.1.1.1", "2.2.2.2"}
    assert parsed.events["account_id"].to_list() == ["a\x1fb", "a\u00a0b"]
    assert [p.line for p in parsed.problems] == [4]


def test_zero_padding_after_a_gzip_is_no_damage(tmp_path: Path) -> None:
    """ISA-L and gzip skip zeros after the last member; the bounded read called them damage."""
    path = tmp_path / "padded.gz"
    path.write_bytes(gzip.compress(b"abc\n", mtime=0) + b"\0" * 512)
    assert (files.read(path).error, files.read(path, limit=1 << 20).error) == (None, None)
    path.write_bytes(gzip.compress(b"abc\n", mtime=0) + b"\0\1")
    assert "2 bytes of non-gzip data" in (files.read(path, limit=1 << 20).error or "")


def test_a_small_damaged_gzip_keeps_the_records_before_the_damage() -> None:
    """zlib drops what one call decoded when it meets the damage: fed a 16 kB chunk at a time, a small
    file lost everything before a bad CRC, and a larger one up to 16 kB of compressed records."""
    items = [encode({"eventTime": "2024-01-01T00:00:00Z", "eventName": "X", "eventID": ct_id(i)}) for i in range(50)]
    body = b"\n".join(items) + b"\n"
    stored = bytearray(gzip.compress(body, mtime=0))
    stored[-8] ^= 0xFF  # the CRC
    data, error = files.gunzip(bytes(stored))
    assert data == body and "CRC" in (error or "") or "incorrect data check" in (error or "")
    assert ids(fuzz_parse(data, Kind.CLOUDTRAIL, error)) == {ct_id(i) for i in range(50)}


def test_peek_at_a_damaged_gzip_reads_its_head_only(tmp_path: Path) -> None:
    """Peeking at a gzip damaged early read the whole file to salvage its first bytes."""
    stored = bytearray(gzip.compress(b"srcaddr start\n" * 1000, mtime=0))
    stored[12] ^= 0x55  # inside the first deflate block
    path = tmp_path / "big.gz"
    path.write_bytes(bytes(stored) + os.urandom(20_000_000))
    head = bounded(0, files.peek, path, 4096)
    assert head == files.gunzip(bytes(stored))[0][:4096]


def test_an_alienvault_list_with_a_bad_first_line_is_still_alienvault() -> None:
    load = lists.parse(b"not a host!#4#2#Malicious Host#US##0,0#3\n203.0.113.9#4#2#Scanning Host#US##0,0#3\n", name="av")
    assert load.format == "ALIEN_VAULT" and [i.names for i in load.indicators] == [("Scanning Host",)]
