"""CloudTrail bytes -> ``ApiCall`` events.

Accepts every shape CloudTrail records travel in:
* ``{"Records": [...]}`` objects as delivered to S3 (management and S3 data events alike);
* a JSON array of records (CLI exports, Stratus Red Team detonation logs);
* newline-delimited records, or EventBridge envelopes (``"detail-type": "... via CloudTrail"``).

The fast path decodes the whole document straight into typed structs. Only if that fails does
it fall back to record-by-record decoding, so one malformed record costs that record alone.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from trailhound.events import ApiCall
from trailhound.formats.base import EMPTY_TIMES, Kind, Parsed, Problem, describe_msgspec_error, drop_implausible, sort_by_time


class _Records(msgspec.Struct):
    Records: list[ApiCall]


class _RawRecords(msgspec.Struct):
    Records: list[msgspec.Raw]


class _EventBridge(msgspec.Struct, rename={"detail_type": "detail-type"}):
    detail: msgspec.Raw  # decoded as ApiCall only once detail-type says it is a CloudTrail record
    detail_type: str = ""


RECORDS = msgspec.json.Decoder(_Records)  # the whole {"Records": [...]} object, typed (also the parse floor of bench/bench_pipeline.py)
_raw_records = msgspec.json.Decoder(_RawRecords)
_array = msgspec.json.Decoder(list[ApiCall])
_raw_array = msgspec.json.Decoder(list[msgspec.Raw])
_one = msgspec.json.Decoder(ApiCall)
_event_bridge = msgspec.json.Decoder(_EventBridge)
_any = msgspec.json.Decoder()


def _finish(path: str, events: list[ApiCall], problems: list[Problem], total: int) -> Parsed:
    times = [e.event_time.timestamp() for e in events]
    events, times, implausible = drop_implausible(path, events, times, "eventTime")
    problems = problems + implausible
    events, arr = sort_by_time(events, times)
    return Parsed(Kind.CLOUDTRAIL, events, arr, problems, records_read=total, fatal=not events and bool(problems))


def _decode_each(path: str, raws: list[msgspec.Raw]) -> Parsed:
    events: list[ApiCall] = []
    problems: list[Problem] = []
    for i, raw in enumerate(raws):
        try:
            events.append(_one.decode(raw))
        except msgspec.MsgspecError as exc:
            problems.append(describe_msgspec_error(exc, bytes(raw), path, record=i))
    return _finish(path, events, problems, len(raws))


def _parse_lines(path: str, data: bytes, first_line: int | None = 1) -> Parsed:
    """One record or envelope per line; ``first_line=None`` when lines are not the file's own."""
    events: list[ApiCall] = []
    problems: list[Problem] = []
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
                except msgspec.MsgspecError as exc:
                    p = describe_msgspec_error(exc, line, path)
                    p.field = f"detail.{p.field}" if p.field else "detail"
                    p.line = lineno if first_line else None
                    problems.append(p)
            else:
                events.append(_one.decode(line))
        except msgspec.MsgspecError as exc:
            p = describe_msgspec_error(exc, line, path)
            p.line = lineno if first_line else None
            problems.append(p)
    return _finish(path, events, problems, total)


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
        except json.JSONDecodeError:
            return None
        values.append(value)
    return values if len(values) > 1 else None


def parse(path: str, data: bytes) -> Parsed:
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return Parsed(Kind.CLOUDTRAIL, [], EMPTY_TIMES, [Problem(path, "empty file")], fatal=True)
    lead = data.count(b"\n", 0, len(data) - len(text))  # blank lines stripped above

    def unreadable(exc: msgspec.MsgspecError) -> Parsed:
        p = describe_msgspec_error(exc, text, path)  # msgspec's byte offsets are offsets into `text`
        if p.line is not None:
            p.line += lead
        return Parsed(Kind.CLOUDTRAIL, [], EMPTY_TIMES, [p], fatal=True)

    if text[:1] == b"[":
        try:
            events = _array.decode(text)
            return _finish(path, events, [], len(events))
        except msgspec.ValidationError:
            try:  # a bad record was met before the document could be checked for syntax errors
                raws = _raw_array.decode(text)
            except msgspec.MsgspecError as exc:
                return unreadable(exc)
            return _decode_each(path, raws)
        except msgspec.DecodeError as exc:
            return unreadable(exc)
    head = text[:64]
    if b'"Records"' in head:
        try:
            events = RECORDS.decode(text)
            return _finish(path, events.Records, [], len(events.Records))
        except msgspec.ValidationError:
            try:
                return _decode_each(path, _raw_records.decode(text).Records)
            except msgspec.MsgspecError as exc:
                return unreadable(exc)
        except msgspec.DecodeError as exc:
            return unreadable(exc)
    # One record per line, or a single (possibly pretty-printed) record or envelope.
    first_line_end = text.find(b"\n")
    if first_line_end != -1 and text[:first_line_end].rstrip().endswith(b"}"):
        return _parse_lines(path, text, first_line=1 + lead)
    try:
        doc = _any.decode(text)
    except msgspec.DecodeError as exc:
        values = _json_stream(text)  # pretty-printed records one after another (`jq '.Records[]'`)
        if values is None:
            return unreadable(exc)
        return _parse_lines(path, b"\n".join(msgspec.json.encode(v) for v in values), first_line=None)
    if isinstance(doc, dict) and "Records" in doc:
        return parse(path, msgspec.json.encode({"Records": doc["Records"]}))
    # A single (pretty-printed) record: re-encoded on one line, so line numbers would be ours.
    return _parse_lines(path, msgspec.json.encode(doc), first_line=None)
