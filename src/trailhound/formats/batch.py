"""Many files of one kind decoded as one: AWS delivers tens of thousands of small files a day.

A 20-line flow log costs a Polars ``read_csv`` and a normalisation (~2 ms of fixed overhead) for
a few microseconds of work, so files of one kind that are due together are decoded as one
``Parsed``: flow logs under one header are concatenated and read in one call; JSON files are
decoded each on their own (msgspec has no per-call overhead worth saving) and merged. Every event
remembers which file it came from (``member_of``), and the merge is stable, so each file's events
keep the order a file decoded alone has: a checkpoint of "the first n events of this file" means
the same whether the file was read in a batch or alone.

A file that would not decode cleanly in the shared flow read is decoded alone, with the exact
problems and line numbers it has alone.
"""

from __future__ import annotations

import itertools
from typing import Any
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from trailhound.formats import vpcflow
from trailhound.formats.base import DECODE_ERRORS, EARLIEST, Kind, Parsed, Problem, latest_plausible, utc_times
from trailhound.formats.cloudtrail import FIELD_LIMIT, RECORDS
from trailhound.formats.route53 import LINES as DNS_LINES

@dataclass(slots=True)
class Member:
    path: str
    data: bytes
    damage: str | None = None  # why the file could not be read to its end (a cut gzip): it is decoded alone


@dataclass
class Batch:
    parsed: Parsed  # every member's events, sorted by time (problems are per member, below)
    member_of: np.ndarray  # int32, one per event: the index of its member
    problems: list[list[Problem]] = field(default_factory=list)
    records_read: list[int] = field(default_factory=list)
    fatal: list[bool] = field(default_factory=list)

    def counts(self) -> np.ndarray:
        """Events per member."""
        return np.bincount(self.member_of, minlength=len(self.records_read))


def parse_many(kind: Kind, members: list[Member], parse_one) -> Batch:  # type: ignore[no-untyped-def]
    """Decode ``members`` (all of ``kind``) into one time-sorted batch; ``parse_one(path, data, damage)``
    decodes a single file."""
    parts: list[tuple[list[int], Parsed, np.ndarray]] = []
    problems: list[list[Problem]] = [[] for _ in members]
    records = [0] * len(members)
    fatal = [False] * len(members)
    if kind is Kind.FLOW and len(members) > 1:
        shared, alone = vpcflow.read_shared([m.data for m in members], [bool(m.damage) for m in members])
    elif kind in _JSON_FAST and len(members) > 1:
        shared, alone = None, _json_shared(kind, members, parts, records)
    else:
        shared, alone = None, list(range(len(members)))
    if shared is not None:
        df, member_of, lines, idx = shared
        for i, n in zip(idx, lines):
            records[i] = n
        parts.append((idx, Parsed(Kind.FLOW, df, df["start"].cast(pl.Float64).to_numpy()), member_of))
    for i in alone:
        p = parse_one(members[i].path, members[i].data, members[i].damage)
        problems[i], records[i], fatal[i] = list(p.problems), p.records_read, p.fatal
        parts.append(([i], p, np.zeros(len(p), dtype=np.int32)))
    parsed, member_of = _merge(kind, parts)
    return Batch(parsed, member_of, problems, records, fatal)


# The plain shape of each JSON kind, decoded file by file in one C call each: {"Records": [...]} of
# CloudTrail, one query per line of Route 53. A file of any other shape, or one that fails, is parsed alone.
_JSON_FAST = {Kind.CLOUDTRAIL: lambda data: RECORDS.decode(data).Records if data[:1] == b"{" and b'"Records"' in data[:64] else None,
              Kind.DNS: lambda data: DNS_LINES.decode_lines(data) if data[:1] == b"{" else None}
_TIME_OF = {Kind.CLOUDTRAIL: "event_time", Kind.DNS: "query_timestamp"}


def _json_shared(kind: Kind, members: list[Member], parts: list[tuple[list[int], Parsed, np.ndarray]], records: list[int]) -> list[int]:
    """Decode the members of the plain shape into one part (their events in member order, then sorted by
    time once for all: per-file sorting and bookkeeping cost more than the decode of a small file).
    Returns the members to parse alone: another shape, a decode error, damage, or an implausible time."""
    decode, time_of = _JSON_FAST[kind], _TIME_OF[kind]
    events: list[Any] = []
    counts: list[int] = []
    idx: list[int] = []
    alone: list[int] = []
    for i, m in enumerate(members):
        got = None
        if not m.damage and (kind is not Kind.CLOUDTRAIL or len(m.data) <= FIELD_LIMIT):  # (a larger one may hold an oversized field)
            try:
                got = decode(m.data)
            except DECODE_ERRORS:
                got = None
        if got is None:
            alone.append(i)
            continue
        events.extend(got)
        counts.append(len(got))
        idx.append(i)
    if not events:
        return sorted(alone + idx)
    times = np.asarray(utc_times(events, time_of), dtype=np.float64)
    if not (times.min() >= EARLIEST and times.max() < latest_plausible()):
        return list(range(len(members)))  # some file holds an implausible time: each alone names it
    member_of = np.repeat(np.asarray(idx, dtype=np.int32), counts)
    order = np.argsort(times, kind="stable")  # stable: each file keeps its own order among equal times
    for i, n in zip(idx, counts):
        records[i] = n
    parts.append((list(range(len(members))), Parsed(kind, [events[j] for j in order.tolist()], times[order]), member_of[order]))
    return alone


def _merge(kind: Kind, parts: list[tuple[list[int], Parsed, np.ndarray]]) -> tuple[Parsed, np.ndarray]:
    """One time-sorted ``Parsed`` of the parts, and each event's member."""
    ids = np.concatenate([np.asarray(idx, dtype=np.int32)[local] for idx, _, local in parts])
    if len(parts) == 1:
        return parts[0][1], ids
    times = np.concatenate([p.times for _, p, _ in parts])
    order = None if times.size < 2 or bool(np.all(times[1:] >= times[:-1])) else np.argsort(times, kind="stable")  # stable: each member keeps its order
    if kind is Kind.FLOW:
        frames = [p.events for _, p, _ in parts if len(p)]
        df = pl.concat(frames) if frames else parts[0][1].events
        if order is not None:
            df = df[order]
        events = df.rechunk()  # contiguous columns: per-slice work on a chunked frame costs several times more
    else:
        flat = list(itertools.chain.from_iterable(p.events for _, p, _ in parts))
        events = flat if order is None else [flat[i] for i in order.tolist()]
    if order is None:
        return Parsed(kind, events, times), ids
    return Parsed(kind, events, times[order]), ids[order]
