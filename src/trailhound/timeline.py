"""Merge many files of many sources into one stream in event-time order.

A scan over 15 days of logs must behave as if it had watched those 15 days live, so that
baselines learn before they judge. Loading everything and sorting would not fit in memory at
scale, so the timeline works like a k-way merge of sorted runs:

* every file is a *run*, sorted by event time when it is parsed;
* files are opened in the order of their estimated first event (peeked from the first KB),
  and a file is opened before any event later than its estimated start is emitted — earlier by
  the largest error seen so far in those estimates, so that deliveries whose first bytes do not
  hold their earliest event still land in order;
* the open run with the earliest head emits a *slice* — its events up to the next run's head
  plus ``quantum`` seconds — so the output is in time order to within ``quantum``, while
  emitting large columnar slices instead of single events.

Only files that overlap in time are in memory at once.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from trailhound.formats.base import Kind, Parsed
from trailhound.formats.sniff import sniff
from trailhound.sources.files import peek

_INF = float("inf")
_CT_TIME = re.compile(rb'"eventTime"\s*:\s*"([0-9T:\-.]+Z?)"')
_DNS_TIME = re.compile(rb'"query_timestamp"\s*:\s*"([0-9T:\-.]+Z?)"')


@dataclass(order=True)
class PendingFile:
    start: float  # estimated first event time (epoch s); 0 when unknown, so it is read early
    path: Path = field(compare=False)
    kind: Kind = field(compare=False)


@dataclass
class Run:
    path: Path
    parsed: Parsed
    pos: int = 0  # index of the next event to emit
    meta: Any = None  # the caller's bookkeeping for this file

    @property
    def head(self) -> float:
        return float(self.parsed.times[self.pos])

    def __len__(self) -> int:
        return len(self.parsed.times)


@dataclass(slots=True)
class Slice:
    run: Run
    start: int
    stop: int

    @property
    def kind(self) -> Kind:
        return self.run.parsed.kind

    def events(self) -> Any:
        ev = self.run.parsed.events
        if self.start == 0 and self.stop == len(self.run):
            return ev
        if isinstance(ev, list):
            return ev[self.start : self.stop]
        return ev.slice(self.start, self.stop - self.start)


def _iso_to_epoch(raw: bytes) -> float:
    try:
        return datetime.fromisoformat(raw.decode().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def estimate_start(path: Path, head: bytes, kind: Kind) -> float:
    """A cheap guess of a file's first event time: the earliest time in its first bytes.

    Records inside a log file are not in time order, so every record of the head counts: a
    guess later than the file's real first event lets later events out before it.
    """
    if kind is Kind.CLOUDTRAIL:
        times = [_iso_to_epoch(m) for m in _CT_TIME.findall(head)]
        return min(times) if times else 0.0
    if kind is Kind.DNS:
        times = [_iso_to_epoch(m) for m in _DNS_TIME.findall(head)]
        return min(times) if times else 0.0
    if kind is Kind.FLOW:
        lines = head.split(b"\n")
        first = lines[0].split()
        from trailhound.formats.vpcflow import V2_DEFAULT

        fields = [f.decode() for f in first] if first and not first[0].isdigit() else V2_DEFAULT
        if "start" not in fields:
            return 0.0
        idx = fields.index("start")
        starts = []
        body = lines[1 if fields is not V2_DEFAULT else 0 :]
        for n, line in enumerate(body, 1):
            toks = line.split()
            # the head may end inside the last line: trust its start only if a token follows it
            if len(toks) > idx + (n == len(body)) and toks[idx].isdigit():
                starts.append(float(toks[idx]))
        return min(starts) if starts else 0.0
    return 0.0


def plan(paths: list[Path]) -> tuple[list[PendingFile], list[tuple[Path, Kind]]]:
    """Sniff every file; return the pending log files in estimated time order and the rest."""
    pending: list[PendingFile] = []
    others: list[tuple[Path, Kind]] = []
    for path in paths:
        try:
            head = peek(path)
        except OSError:
            others.append((path, Kind.UNKNOWN))  # reported as unreadable when the file is handled
            continue
        kind = sniff(path, head)
        if kind in (Kind.CLOUDTRAIL, Kind.FLOW, Kind.DNS):
            pending.append(PendingFile(estimate_start(path, head, kind), path, kind))
        else:
            others.append((path, kind))
    pending.sort()
    return pending, others


class Timeline:
    def __init__(self, pending: list[PendingFile], load: Callable[[PendingFile], Run | None], on_done: Callable[[Run], None], quantum: float = 60.0,
                 max_lag: float = 3600.0) -> None:
        self.pending = pending
        self.load = load
        self.on_done = on_done
        self.quantum = quantum
        self.max_lag = max_lag
        self.open_runs = 0

    def __iter__(self) -> Iterator[Slice]:
        pending = self.pending
        heap: list[tuple[float, int, Run]] = []
        seq = 0
        i = 0
        lag = 0.0  # how much earlier than estimated files have turned out to start: open the next file that much sooner
        while i < len(pending) or heap:
            next_start = pending[i].start - lag if i < len(pending) else _INF
            if not heap or next_start <= heap[0][0]:
                estimated = pending[i].start
                run = self.load(pending[i])
                i += 1
                if run is None:
                    continue
                if len(run) and estimated > 0:
                    # bounded: one record far earlier than its file (a wrong clock) must not make every file open at once
                    lag = min(max(lag, estimated - float(run.parsed.times[0])), self.max_lag)
                if run.pos >= len(run):
                    self.on_done(run)
                    continue
                heapq.heappush(heap, (run.head, seq, run))
                seq += 1
                self.open_runs = len(heap)
                continue
            _, _, run = heapq.heappop(heap)
            other = heap[0][0] if heap else _INF
            bound = min(next_start, other) + self.quantum
            times = run.parsed.times
            stop = int(np.searchsorted(times, bound, side="right")) if bound != _INF else len(times)
            stop = max(stop, run.pos + 1)
            s = Slice(run, run.pos, stop)
            run.pos = stop
            yield s
            if run.pos < len(run):
                heapq.heappush(heap, (run.head, seq, run))
                seq += 1
            else:
                self.on_done(run)
            self.open_runs = len(heap)
