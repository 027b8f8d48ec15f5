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
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from trailhound.events import FLOW_FIELDS
from trailhound.formats import vpcflow
from trailhound.formats.base import Kind, Parsed, Problem

_FLOW_ERRORS = (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError, pl.exceptions.SchemaError, pl.exceptions.ShapeError)


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
    if kind is Kind.FLOW and len(members) > 1:
        shared, alone = _flow_shared_read(members)
    else:
        shared, alone = None, list(range(len(members)))
    parts: list[tuple[list[int], Parsed, np.ndarray]] = []
    problems: list[list[Problem]] = [[] for _ in members]
    records = [0] * len(members)
    fatal = [False] * len(members)
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


def _flow_shared_read(members: list[Member]) -> tuple[tuple[pl.DataFrame, np.ndarray, list[int], list[int]] | None, list[int]]:
    """One ``read_csv`` over every member that starts with the same header line (or, headerless,
    the same field count) and is plainly well formed; the rest are decoded alone."""
    first = members[0].data
    end = first.find(b"\n")
    header = first[: end if end != -1 else len(first)]
    tokens = header.decode("utf-8", "replace").split()
    fields = tokens if vpcflow._is_header(tokens) else vpcflow._HEADERLESS.get(len(tokens))
    # (unknown fields are named file by file, by the file's own decode)
    if fields is None or "start" not in fields or "srcaddr" not in fields or not all(f in FLOW_FIELDS for f in fields):
        return None, list(range(len(members)))
    skip = len(header) + 1 if fields is tokens else 0
    bodies: list[bytes] = []
    lines: list[int] = []
    idx: list[int] = []
    alone: list[int] = []
    for i, m in enumerate(members):
        data = m.data
        body = data[skip:] if (not skip or data[:skip] == header + b"\n") else None
        if body is None or m.damage or (not skip and body[:1] in (b"\xef", b"\r", b"\n")):
            alone.append(i)
            continue
        if body and not body.endswith(b"\n"):
            body += b"\n"
        n = body.count(b"\n")
        # a member whose own separators do not add up is read alone, where its bad lines are named
        if n and not vpcflow._consistent(body[:-1], len(fields)):
            alone.append(i)
            continue
        bodies.append(body)
        lines.append(n)
        idx.append(i)
    if len(idx) < 2:
        return None, list(range(len(members)))
    try:
        df = vpcflow.read_frame(b"".join(bodies)[:-1], fields) if sum(lines) else None
        if df is None or df.height != sum(lines) or vpcflow._bad_times(df):
            return None, list(range(len(members)))
        df = df.with_columns(pl.Series("__member", np.repeat(np.arange(len(idx), dtype=np.int32), lines)))
        df = vpcflow._normalize(df, fields, extra=("__member",))
    except _FLOW_ERRORS:
        return None, list(range(len(members)))  # a value that does not fit its column: every member alone names it
    return (df.drop("__member"), df["__member"].to_numpy(), lines, idx), alone
