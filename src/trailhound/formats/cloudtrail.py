"""CloudTrail bytes -> ``ApiCall`` events.

Accepts every shape CloudTrail records travel in:
* ``{"Records": [...]}`` objects as delivered to S3 (management and S3 data events alike);
* a JSON array of records (CLI exports, Stratus Red Team detonation logs);
* newline-delimited records, or EventBridge envelopes (``"detail-type": "... via CloudTrail"``).

The fast path decodes the whole document straight into typed structs. Only if that fails does
it fall back to record-by-record decoding (the array cut into its elements by ``split``), so one
malformed record costs that record alone, and a cut document keeps every complete record.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any

import msgspec

from trailhound.events import ApiCall
from trailhound.formats.base import (DECODE_ERRORS, EMPTY_TIMES, Kind, Parsed, Problem, Problems, close_problems,
                                     describe_msgspec_error, drop_implausible, sort_by_time, utc_times)
from trailhound.formats.split import split_array


class _Records(msgspec.Struct):
    Records: list[ApiCall]


class _EventBridge(msgspec.Struct, rename={"detail_type": "detail-type"}):
    detail: msgspec.Raw  # decoded as ApiCall only once detail-type says it is a CloudTrail record
    detail_type: str = ""


RECORDS = msgspec.json.Decoder(_Records)  # the whole {"Records": [...]} object, typed (also the parse floor of bench/bench_pipeline.py)
_array = msgspec.json.Decoder(list[ApiCall])
_one = msgspec.json.Decoder(ApiCall)
_event_bridge = msgspec.json.Decoder(_EventBridge)
_any = msgspec.json.Decoder()
_RECORDS_OPEN = re.compile(rb'"Records"\s*:\s*\[')


def _finish(path: str, events: list[ApiCall], problems: list[Problem], total: int) -> Parsed:
    times = utc_times(events, "event_time")
    events, times, implausible = drop_implausible(path, events, times, "eventTime")
    problems = close_problems(path, problems, implausible)
    events, arr = sort_by_time(events, times)
    return Parsed(Kind.CLOUDTRAIL, events, arr, problems, records_read=total, fatal=not events and bool(problems))


def _problem(path: str, exc: Exception, text: bytes, lead: int, record: int | None = None, at: int = 0) -> Problem:
    p = describe_msgspec_error(exc, text, path, record, at)  # msgspec's byte offsets are offsets into `text`
    if p.line is not None:
        p.line += lead
    return p


def _salvage(path: str, text: bytes, lead: int, start: int, exc: Exception, damage: str | None) -> Parsed:
    """The array at ``start`` record by record, after the whole document failed to decode: each bad
    record is a problem of its own, and a cut document keeps every complete record before the cut."""
    spans, closed = split_array(text, start)
    view = memoryview(text)  # slices without copies (the fast path's Raw fields keep the whole text alive too)
    events: list[ApiCall] = []
    problems: list[Problem] = Problems()
    complete = len(spans)
    cut = damage is not None and not closed  # the source ended early: its last record is the one it ends inside
    for i, (begin, end) in enumerate(spans):
        try:
            events.append(_one.decode(view[begin:end]))
        except DECODE_ERRORS as err:
            if cut and i == complete - 1:
                complete -= 1
            else:
                problems.append(_problem(path, err, text, lead, record=i, at=begin))
    if cut:  # one line for the damage, saying what it cost
        problems.insert(0, Problem(path, f"{damage}: kept the {complete} complete records before the cut"))
    elif not problems:  # every record decodes: what failed lies outside them (a missing bracket, trailing bytes)
        problems.append(_problem(path, exc, text, lead))
    return _finish(path, events, problems, len(spans))


def _parse_lines(path: str, data: bytes, first_line: int | None = 1) -> Parsed:
    """One record or envelope per line; ``first_line=None`` when lines are not the file's own."""
    if b'"detail-type"' not in data:
        try:  # plain records: the whole buffer in one C call
            events = _one.decode_lines(data)
            return _finish(path, events, [], len(events))
        except DECODE_ERRORS:
            pass  # a bad line: find it below
    events = []
    problems: list[Problem] = Problems()
    total = 0
    for lineno, line in enumerate(data.split(b"\n"), first_line or 1):
        if not line.strip():
            continue
        total += 1
        try:
            env = None
            if b'"detail-type"' in line:
                try:
                    env = _event_bridge.decode(line)
                except msgspec.ValidationError:
                    env = None  # a plain record that merely mentions "detail-type" somewhere inside
            if env is not None:
                if not env.detail_type.endswith("via CloudTrail"):
                    problems.append(Problem(path, f"EventBridge event '{env.detail_type}' is not a CloudTrail record", line=lineno if first_line else None))
                    continue
                try:
                    events.append(_one.decode(env.detail))
                except DECODE_ERRORS as exc:
                    p = describe_msgspec_error(exc, line, path)
                    p.field = f"detail.{p.field}" if p.field else "detail"
                    p.line = lineno if first_line else None
                    problems.append(p)
            else:
                events.append(_one.decode(line))
        except DECODE_ERRORS as exc:
            p = describe_msgspec_error(exc, line, path)
            p.line = lineno if first_line else None
            problems.append(p)
    return _finish(path, events, problems, total)


def _or_lines(path: str, text: bytes, lead: int, parsed: Parsed, ties: bool = False) -> Parsed:
    """``parsed``, or the file read one record per line if that keeps more records (or as many, with
    ``ties``): a record-per-line file whose first line is bad (cut, or a value that is no record)
    looks like one document, and read as one it would lose every line after the first."""
    if text.find(b"\n", 0, len(text.rstrip())) == -1:
        return parsed  # a single line: nothing to gain
    lines = _parse_lines(path, text, first_line=1 + lead)
    return lines if len(lines) > len(parsed) or ties and len(lines) == len(parsed) else parsed


def _json_stream(text: bytes) -> list[Any] | None:
    """Consecutive JSON values separated only by whitespace, or None if the text is not that."""
    decoder = json.JSONDecoder()
    try:
        doc = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    values, pos, end = [], 0, len(doc)
    while pos < end:
        while pos < end and doc[pos].isspace():
            pos += 1
        if pos == end:
            break
        try:
            value, pos = decoder.raw_decode(doc, pos)
        except (json.JSONDecodeError, RecursionError):
            return None
        values.append(value)
    return values if len(values) > 1 else None


_TRAILING = re.compile(r"trailing characters \(byte (\d+)\)")


def _documents(text: bytes, exc: Exception) -> list[Any] | None:
    """``{"Records":[...]}`` documents one after another (concatenated gzip members inflate to that), each whole; None
    when the text is anything else (then the record-by-record salvage judges it)."""
    docs = []
    while True:
        m = _TRAILING.search(str(exc))
        if m is None:
            return None
        end = text.rfind(b"}", 0, int(m.group(1))) + 1  # (the byte named is past the next document's first)
        rest = text[end:].lstrip(b" \t\r\n")
        if not rest.startswith(b"{") or len(docs) >= 10_000:
            return None
        try:
            docs.append(RECORDS.decode(text[:end]))
        except DECODE_ERRORS:
            return None
        text = rest
        try:
            docs.append(RECORDS.decode(text))
            return docs
        except DECODE_ERRORS as again:
            exc = again


# CloudTrail cuts a record's responseElements at 100 KB and keeps its records in the same range; a field ten times that
# is no record AWS wrote, and a detector decoding it would hold ~30x its size in Python objects.
FIELD_LIMIT = 1 << 20
_RAW_FIELDS = {"requestParameters": "request_parameters", "responseElements": "response_elements", "additionalEventData": "additional_event_data"}


_RAW_OF = [operator.attrgetter(attr) for attr in _RAW_FIELDS.values()]


def _set_aside_oversized(path: str, parsed: Parsed) -> Parsed:
    if all(max(map(len, map(get, parsed.events))) <= FIELD_LIMIT for get in _RAW_OF):  # (the common case, at C speed)
        return parsed
    keep, problems = [], Problems()
    for i, e in enumerate(parsed.events):
        size, wire = max((len(getattr(e, attr)), wire) for wire, attr in _RAW_FIELDS.items())
        if size > FIELD_LIMIT:
            problems.append(Problem(path, f"{wire} of {size:,} bytes{f' (event {e.event_id})' if e.event_id else ''}: more than a CloudTrail record carries",
                                    field=wire))
        else:
            keep.append(i)
    if not problems:
        return parsed
    events = [parsed.events[i] for i in keep]
    return Parsed(Kind.CLOUDTRAIL, events, parsed.times[keep], close_problems(path, parsed.problems, problems), records_read=parsed.records_read,
                  fatal=not events)


def parse(path: str, data: bytes, damage: str | None = None) -> Parsed:
    """``damage``: why the source ended early (a cut gzip); named in one line with what was kept."""
    parsed = _parse(path, data, damage)
    if len(data) > FIELD_LIMIT and parsed.events:  # (no field of a smaller file can be that large)
        parsed = _set_aside_oversized(path, parsed)
    if damage and not any(p.message.startswith(damage) for p in parsed.problems):  # unless the salvage named it with what it kept
        parsed.problems.insert(0, Problem(path, damage))
    return parsed


def _parse(path: str, data: bytes, damage: str | None) -> Parsed:
    text = data.lstrip(b" \t\r\n")
    if not text:
        return Parsed(Kind.CLOUDTRAIL, [], EMPTY_TIMES, [Problem(path, "empty file")], fatal=True)
    lead = data.count(b"\n", 0, len(data) - len(text))  # blank lines stripped above

    def unreadable(exc: Exception) -> Parsed:
        return Parsed(Kind.CLOUDTRAIL, [], EMPTY_TIMES, [_problem(path, exc, text, lead)], fatal=True)

    # The fast path: the whole document into typed structs in one C call; record by record only if that fails.
    if text[:1] == b"[":
        try:
            events = _array.decode(text)
            return _finish(path, events, [], len(events))
        except DECODE_ERRORS as exc:
            return _or_lines(path, text, lead, _salvage(path, text, lead, 0, exc, damage))
    if b'"Records"' in text[:64]:
        try:
            return _finish(path, (doc := RECORDS.decode(text)).Records, [], len(doc.Records))
        except DECODE_ERRORS as exc:
            docs = _documents(text, exc)  # `cat a.json.gz b.json.gz`: one gzip stream after another, a document each
            if docs is not None:
                return _finish(path, [e for d in docs for e in d.Records], [], sum(len(d.Records) for d in docs))
            m = _RECORDS_OPEN.search(text, 0, 4096)
            return _salvage(path, text, lead, m.end() - 1, exc, damage) if m else unreadable(exc)
    # One record per line, or a single (possibly pretty-printed) record or envelope.
    first_line_end = text.find(b"\n")
    if first_line_end != -1 and text[:first_line_end].rstrip().endswith(b"}"):
        return _parse_lines(path, text, first_line=1 + lead)
    try:
        doc = _any.decode(text)
    except DECODE_ERRORS as exc:
        values = _json_stream(text)  # pretty-printed records one after another (`jq '.Records[]'`)
        if values is None:
            return _or_lines(path, text, lead, unreadable(exc))
        stream = _parse_lines(path, b"\n".join(msgspec.json.encode(v) for v in values), first_line=None)
        return _or_lines(path, text, lead, stream, ties=True)  # one value a line: the file's own line numbers
    if isinstance(doc, dict) and "Records" in doc:
        return _parse(path, msgspec.json.encode({"Records": doc["Records"]}), damage)
    # A single (pretty-printed) record: re-encoded on one line, so line numbers would be ours (unless it is on one).
    return _parse_lines(path, msgspec.json.encode(doc), first_line=None if b"\n" in text.rstrip() else 1 + lead)
