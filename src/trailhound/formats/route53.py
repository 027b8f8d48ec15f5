"""Route 53 Resolver query logs (JSON lines) -> ``DnsQuery`` events."""

from __future__ import annotations

import msgspec

from trailhound.events import DnsQuery
from trailhound.formats.base import (DECODE_ERRORS, Kind, Parsed, Problem, Problems, close_problems, describe_msgspec_error,
                                     drop_implausible, sort_by_time, utc_times)

LINES = msgspec.json.Decoder(DnsQuery)  # one query a line (formats.batch decodes plain files with it too)


def parse(path: str, data: bytes) -> Parsed:
    linenos: list[int] | None = None  # each event's line, where some lines were set aside
    try:  # fast path: the whole buffer in one C call
        events = LINES.decode_lines(data)
        problems: list[Problem] = []
        total = len(events)
    except DECODE_ERRORS:  # a bad line (invalid UTF-8, a NUL, deep nesting...): it alone is set aside
        events, problems, total, linenos = [], Problems(), 0, []
        for lineno, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            total += 1
            try:
                events.append(LINES.decode(line))
                linenos.append(lineno)
            except DECODE_ERRORS as exc:
                p = describe_msgspec_error(exc, line, path)
                p.line = lineno
                problems.append(p)
    times = utc_times(events, "query_timestamp")
    events, times, implausible = drop_implausible(path, events, times, "query_timestamp")
    if implausible:  # named by their line, as every other problem of a line log (not by their index among the events)
        if linenos is None:
            linenos = [n for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
        for p in [*implausible, *([implausible.last] if getattr(implausible, "last", None) else [])]:
            if p.record is not None and p.record < len(linenos):
                p.line, p.record = linenos[p.record], None
    problems = close_problems(path, problems, implausible)
    events, arr = sort_by_time(events, times)
    return Parsed(Kind.DNS, events, arr, problems, records_read=total, fatal=not events and bool(problems))
