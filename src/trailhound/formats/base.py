"""What every format parser returns, and how it reports bad input."""

from __future__ import annotations

import enum
import operator
import re
import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import msgspec
import numpy as np

from trailhound.text import printable


class Kind(str, enum.Enum):
    CLOUDTRAIL = "cloudtrail"
    FLOW = "flow"
    DNS = "dns"
    INVENTORY = "inventory"  # EC2 describe-instances output found among the logs
    DIGEST = "digest"  # CloudTrail digest files: integrity proofs, no events; skipped silently
    NOT_LOG = "not-log"  # documentation and licence files next to the logs
    UNKNOWN = "unknown"


@dataclass(slots=True)
class Problem:
    """One piece of bad input: where it is and what is wrong, in one line."""

    path: str
    message: str
    line: int | None = None  # 1-based line number, when the format is line-oriented
    record: int | None = None  # 0-based record index inside a JSON document
    field: str | None = None
    # the bad records this line stands for: itself (1), none (0: a note on the file, as its unknown header fields), or
    # those past the ones named (``Problems``)
    records: int = 1

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        if self.record is not None:
            where += f" record {self.record}"
        what = f"field '{self.field}': " if self.field else ""
        return printable(f"{where}: {what}{self.message}")  # names and messages quote log content: never a terminal escape


class Problems(list):  # type: ignore[type-arg]
    """A file's bad records as a parser finds them: the first ``NAMED`` are kept, the rest only counted, so a
    file of millions of bad lines costs a counter, not millions of objects and quarantine rows."""

    NAMED = 100

    def __init__(self) -> None:
        super().__init__()
        self.unnamed = 0
        self.last: Problem | None = None

    def append(self, problem: Problem) -> None:
        if len(self) < self.NAMED:
            super().append(problem)
        else:
            self.unnamed += 1
            self.last = problem


def close_problems(path: str, *parts: list[Problem]) -> list[Problem]:
    """A file's problems from its parser's lists (``Problems`` or plain), at most ``Problems.NAMED`` named and
    one line counting the rest."""
    named: list[Problem] = []
    unnamed, last = 0, None
    for part in parts:
        for p in part:
            if len(named) < Problems.NAMED:
                named.append(p)
            else:
                unnamed, last = unnamed + 1, p
        if isinstance(part, Problems) and part.unnamed:
            unnamed, last = unnamed + part.unnamed, part.last
    if unnamed:
        where = f" (the last: {str(last).removeprefix(path).lstrip(': ')})" if last is not None else ""
        named.append(Problem(path, f"{unnamed} more bad records, not named one by one{where}", records=unnamed))
    return named


@dataclass(slots=True)
class Parsed:
    """A file's events, sorted by event time, with the records that could not be read."""

    kind: Kind
    events: Any  # list[ApiCall] | list[DnsQuery] | polars.DataFrame (FlowBatch)
    times: np.ndarray  # float64 epoch seconds, ascending, one per event
    problems: list[Problem] = field(default_factory=list)
    records_read: int = 0  # records seen, including NODATA rows and bad records
    fatal: bool = False  # nothing at all could be read from the file
    extra: Any = None  # kind-specific payload (the inventory document)

    def __len__(self) -> int:
        return len(self.times)


def line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, max(0, offset)) + 1


# in msgspec's messages: where a syntax error is ("(byte 7)"), and which field a type error is in
# ("- at `$.Records[0].eventTime`", "`$[0].eventTime`", "`$.query_name`")
_BYTE_RE = re.compile(r"\(byte (\d+)\)")
_FIELD_RE = re.compile(r"at `\$(?:\.Records)?(?:\[\d+\])?\.?([^`]*)`")


# What a decoder raises on bad input: msgspec's errors, and RecursionError for nesting deeper than it follows.
DECODE_ERRORS = (msgspec.MsgspecError, RecursionError)


def describe_msgspec_error(exc: Exception, data: bytes, path: str, record: int | None = None, at: int = 0) -> Problem:
    """Turn a decode error into a one-line problem with the line or field it concerns (``at``: where
    in ``data`` the decoded bytes began, when they were a slice of it)."""
    if isinstance(exc, RecursionError):
        return Problem(path, "JSON nested too deeply to decode", record=record)
    msg = str(exc).split("\n", 1)[0]
    line = None
    m = _BYTE_RE.search(msg)
    if m:
        line = line_of_offset(data, at + int(m.group(1)))
    field = None
    f = _FIELD_RE.search(msg)
    if f and f.group(1):
        field = f.group(1)
        msg = msg[: f.start()].rstrip(" -")
    return Problem(path, msg, line=line, record=record, field=field)


# Event times a real AWS log can carry: AWS began in 2006, and no log records the future (two days of
# clock skew allowed). A record dated 0001 or 9999 is bad input: never a planning input that would
# make the timeline hold every file, never a jump of the watermark that would close every window and
# expire every baseline (for this scan and the ones after it).
EARLIEST, LATEST = 1_136_073_600.0, 4_102_444_800.0  # 2006-01-01, 2100-01-01 (UTC)
FUTURE_SKEW_S = 2 * 86_400.0


def latest_plausible() -> float:
    return min(LATEST, time.time() + FUTURE_SKEW_S)


_ZONE = operator.attrgetter("tzinfo")


def utc_times(events: list[Any], attr: str) -> list[float]:
    """Each event's time (its ``attr``) in epoch seconds. CloudTrail and Route 53 write UTC: a time without its zone
    (a careless export) is UTC too, never this machine's local time, and is stored with its zone, so that no detector
    compares a naive time with an aware one."""
    get = operator.attrgetter(attr)
    stamps = list(map(get, events))
    if None in map(_ZONE, stamps):  # (a pass at C speed)
        for e, s in zip(events, stamps):
            if s.tzinfo is None:
                setattr(e, attr, s.replace(tzinfo=UTC))
        stamps = list(map(get, events))
    return [s.timestamp() for s in stamps]


def drop_implausible(path: str, events: list[Any], times: list[float], field: str) -> tuple[list[Any], list[float], list[Problem]]:
    """The events whose time is plausible, and a problem for each one that is not."""
    latest = latest_plausible()
    if all(EARLIEST <= t < latest for t in times):
        return events, times, []
    keep_e, keep_t, problems = [], [], Problems()
    for i, (e, t) in enumerate(zip(events, times)):
        if EARLIEST <= t < latest:
            keep_e.append(e)
            keep_t.append(t)
        else:
            why = "in the future" if t >= EARLIEST else "before 2006"
            problems.append(Problem(path, f"time {t:.0f} is {why}: not a real event time", record=i, field=field))
    return keep_e, keep_t, problems


def sort_by_time(events: list[Any], times: list[float]) -> tuple[list[Any], np.ndarray]:
    arr = np.asarray(times, dtype=np.float64)
    if len(times) < 64:  # AWS's small files: a Python pass is ~10x cheaper than numpy's call overhead
        ordered = all(a <= b for a, b in zip(times, times[1:]))
    else:
        ordered = bool(np.all(arr[1:] >= arr[:-1]))
    if not ordered:
        order = np.argsort(arr, kind="stable")
        arr = arr[order]
        events = [events[i] for i in order.tolist()]
    return events, arr


EMPTY_TIMES = np.empty(0, dtype=np.float64)
