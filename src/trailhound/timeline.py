"""Merge many files of many sources into one stream in event-time order.

A scan over 15 days of logs must behave as if it had watched those 15 days live, so that
baselines learn before they judge. Loading everything and sorting would not fit in memory at
scale, so the timeline works like a k-way merge of sorted runs:

* every file is part of a *run*, sorted by event time when it is parsed: files of one kind (and,
  for flow logs, one header) that are next in time order are opened together as one run, up to
  ``batch_files`` of them (the loader may read fewer, to bound memory, and hand the rest back), so
  that AWS's thousands of small files cost one decode and one columnar pass per batch;
* files are opened in the order of their estimated first event: for AWS's own deliveries, from the
  object's name (it says what the file is and when it was written: no file is opened to plan it);
  for other files, peeked from the first KB,
  and a file is opened before any event later than its estimated start is emitted — earlier by
  the largest error seen so far in those estimates, so that deliveries whose first bytes do not
  hold their earliest event still land in order (opening a file early costs memory, never order);
* the open run with the earliest head emits a *slice* — its events up to the next run's head
  plus ``quantum`` seconds — so the output is in time order to within ``quantum``, while
  emitting large columnar slices instead of single events.

Only files that overlap in time are in memory at once.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from trailhound.formats.base import EARLIEST, LATEST, Kind, Parsed
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
    group: bytes = field(default=b"", compare=False)  # files that can be decoded together share it (kind, flow header)
    named: bool = field(default=False, compare=False)  # planned from its AWS name alone: its content is checked when read


@dataclass
class Run:
    path: Path  # the (first) file of the run
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
    if kind is Kind.CLOUDTRAIL or kind is Kind.DNS:
        # ISO times of one format order as text: convert only the earliest (a time before 2006 or past
        # 2099 is a bad record, not a planning input)
        stamps = [m for m in (_CT_TIME if kind is Kind.CLOUDTRAIL else _DNS_TIME).findall(head) if b"2006" <= m < b"2100"]
        return _iso_to_epoch(min(stamps)) if stamps else 0.0
    if kind is Kind.FLOW:
        lines = head.split(b"\n")
        first = lines[0].split()
        from trailhound.formats.vpcflow import V2_DEFAULT

        # (a byte sniffing reads past, like a stray BOM byte, must not make the estimate raise)
        fields = [f.decode("utf-8", "replace") for f in first] if first and not first[0].isdigit() else V2_DEFAULT
        if "start" not in fields:
            return 0.0
        idx = fields.index("start")
        starts = []
        body = lines[1 if fields is not V2_DEFAULT else 0 :]
        for n, line in enumerate(body, 1):
            toks = line.split()
            # the head may end inside the last line: trust its start only if a token follows it
            if len(toks) > idx + (n == len(body)) and toks[idx].isdigit():
                start = float(toks[idx])
                if EARLIEST <= start < LATEST:  # as above: a bad line's time (or inf) would plan the file at the end of time
                    starts.append(start)
        return min(starts) if starts else 0.0
    return 0.0


def _group(head: bytes, kind: Kind) -> bytes:
    """Which files can share a decode: the same kind and, for flow logs, the same header line (or,
    without one, the same number of fields)."""
    if kind is not Kind.FLOW:
        return kind.value.encode()
    first = head.split(b"\n", 1)[0]
    tokens = first.split()
    if tokens and tokens[0].isdigit():
        return b"flow#%d" % len(tokens)
    return b"flow:" + first


Planned = tuple[list[PendingFile], list[tuple[Path, Kind]]]

# AWS's object names: <account>_CloudTrail_<region>_<time>_<unique>.json.gz,
# <account>_vpcflowlogs_<region>_<flow log id>_<time>_<hash>.log.gz, <account>_vpcdnsquerylogs_<vpc>_<time>_<hash>.log.gz.
_AWS_NAME = re.compile(r"\d{12}_(?:(CloudTrail)_[a-z0-9-]+|(vpcflowlogs)_[a-z0-9-]+_(fl-[0-9a-f]+)|(vpcdnsquerylogs)_vpc-[0-9a-f]+)"
                       r"_(20\d\d)(\d\d)(\d\d)T(\d\d)(\d\d)Z_[A-Za-z0-9]+\.(?:json|log)\.gz")
# The name's time is when the file was written, and its records are from before then: CloudTrail delivers
# within ~5 minutes (AWS: "not guaranteed"), flow logs aggregate up to 10 minutes and deliver every 5-10.
# Planning a file this much earlier costs only memory; a later record is caught by the timeline's lag.
NAME_LEAD_S = 900.0


def from_name(path: Path) -> tuple[Kind, float, str] | None:
    """(kind, estimated start, flow log id or "") of an AWS-named delivery; None for any other name."""
    m = _AWS_NAME.fullmatch(path.name)
    if m is None:
        return None
    ct, flow, fl_id, _dns, year, month, day, hour, minute = m.groups()
    midnight = _midnight(year, month, day)
    if midnight is None or hour > "23" or minute > "59":  # a 13th month, a 25th hour: not AWS's
        return None
    written = midnight + int(hour) * 3600 + int(minute) * 60
    kind = Kind.CLOUDTRAIL if ct else Kind.FLOW if flow else Kind.DNS
    return kind, written - NAME_LEAD_S, fl_id or ""


@functools.lru_cache(maxsize=4096)  # a day's deliveries share it: thousands of files, one datetime
def _midnight(year: str, month: str, day: str) -> float | None:
    try:
        return datetime(int(year), int(month), int(day), tzinfo=UTC).timestamp()
    except ValueError:
        return None


def plan(paths: list[Path], mapper: Callable[[Callable[[list[Path]], Planned], list[list[Path]]], Iterable[Planned]] | None = None) -> Planned:
    """Sniff every file; return the pending log files in estimated time order and the rest.
    ``mapper`` (a pool's ``map``) peeks at chunks of files in other processes; AWS-named files are
    planned here, from their names (cheaper than sending them)."""
    if mapper is None:
        pending, others = plan_files(paths)
    else:
        named: list[Path] = []
        unnamed: list[Path] = []
        for p in paths:
            (unnamed if _AWS_NAME.fullmatch(p.name) is None else named).append(p)
        pending, others = plan_files(named) if named else ([], [])
        if len(unnamed) < 2 * _PLAN_CHUNK:
            more = [plan_files(unnamed)]
        else:
            more = mapper(plan_files, [unnamed[i : i + _PLAN_CHUNK] for i in range(0, len(unnamed), _PLAN_CHUNK)])  # type: ignore[assignment]
        for p, o in more:
            pending.extend(p)
            others.extend(o)
    pending.sort()
    return pending, others


_PLAN_CHUNK = 512


def plan_files(paths: list[Path]) -> Planned:
    """What each file is, and for logs their estimated start and group (in the order given)."""
    pending: list[PendingFile] = []
    others: list[tuple[Path, Kind]] = []
    flow_logs: dict[str, list[PendingFile]] = {}  # AWS-named flow logs by flow log id: one format each
    for path in paths:
        named = from_name(path)
        if named is not None:
            kind, start, fl_id = named
            pending.append(f := PendingFile(start, path, kind, kind.value.encode(), named=True))
            if fl_id:
                flow_logs.setdefault(fl_id, []).append(f)
            continue
        try:
            head = peek(path, 4096)  # enough to sniff and to estimate the start; planning peeks at every file
        except OSError:
            others.append((path, Kind.UNKNOWN))  # reported as unreadable when the file is handled
            continue
        kind = sniff(path, head)
        if kind in (Kind.CLOUDTRAIL, Kind.FLOW, Kind.DNS):
            pending.append(PendingFile(estimate_start(path, head, kind), path, kind, _group(head, kind)))
        else:
            others.append((path, kind))
    for files in flow_logs.values():
        # a flow log's format is fixed when it is created: its first file's header is every file's (a file
        # that differs anyway is decoded alone when its batch is read, formats.batch)
        try:
            group = _group(peek(files[0].path, 4096), Kind.FLOW)
        except OSError:
            group = b"flow:?"
        for f in files:
            f.group = group
    return pending, others


Loader = Callable[[list[PendingFile]], tuple[list[Run], list[PendingFile]]]


class Timeline:
    """Yields slices of runs in event-time order. ``load(files)`` opens the given files (of one
    group, in time order) as runs and returns them with the files it chose not to read yet (a
    suffix of ``files``; never all of them), which are put back first in line."""

    def __init__(self, pending: list[PendingFile], load: Loader, on_done: Callable[[Run], None], quantum: float = 60.0,
                 max_lag: float = 3600.0, batch_files: int = 1, prefetch: Callable[[list[PendingFile]], None] | None = None,
                 batch_span_s: float = float("inf")) -> None:
        self.batch_span_s = batch_span_s
        self.pending = pending
        self.prefetch = prefetch  # told which files of a group come next, while the current ones are worked on
        self.load = load
        self.on_done = on_done
        self.quantum = quantum
        self.max_lag = max_lag
        self.batch_files = max(1, batch_files)
        self.open_runs = 0

    def _next_batch(self, queue: deque[PendingFile]) -> list[PendingFile]:
        """The files the next batch of this queue takes: at most batch_files, whose estimated starts lie
        within batch_span_s of the first (a batch's events wait in memory until their time comes, so a
        few tiny files a day must not bring a month of events in at once)."""
        first = queue[0].start
        return list(itertools.takewhile(lambda f: f.start <= first + self.batch_span_s, itertools.islice(queue, self.batch_files)))

    def __iter__(self) -> Iterator[Slice]:
        # one queue per group, each in estimated time order; `heads` orders the queues by their first file
        queues: dict[bytes, deque[PendingFile]] = {}
        for p in self.pending:
            queues.setdefault(p.group, deque()).append(p)
        heads = [(q[0].start, n, g) for n, (g, q) in enumerate(queues.items())]
        heapq.heapify(heads)
        if self.prefetch:
            for _, _, g in sorted(heads):
                self.prefetch(self._next_batch(queues[g]))
        heap: list[tuple[float, int, Run]] = []
        seq = 0
        lag = 0.0  # how much earlier than estimated files have turned out to start: open the next file that much sooner
        while heads or heap:
            next_start = heads[0][0] - lag if heads else _INF
            if not heap or next_start <= heap[0][0]:
                _, n, group = heapq.heappop(heads)
                queue = queues[group]
                batch = [queue.popleft() for _ in range(len(self._next_batch(queue)))]
                estimated = batch[0].start
                runs, deferred = self.load(batch)
                if len(deferred) >= len(batch):
                    raise RuntimeError("the loader must open at least the first file it is given")
                queue.extendleft(reversed(deferred))
                if queue:
                    heapq.heappush(heads, (queue[0].start, n, group))
                    if self.prefetch:
                        self.prefetch(self._next_batch(queue))
                for run in runs:
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
