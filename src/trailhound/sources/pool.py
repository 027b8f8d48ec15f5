"""Reading in worker processes, while the main process decodes, detects and commits in event time.

Two jobs leave the main process: planning (a peek at the first bytes of every file, to know its
kind and estimated start) and reading (open, read, gunzip, fingerprint) of the files the timeline
will open next. What comes back is small (a plan entry) or plain bytes (a file's content), both
cheap to send between processes; decoding into typed events stays in the main process, where the
events are used. The main process never waits for a file it could not have read faster itself:
a file not prefetched, or past the prefetch budget, is read in place.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Protocol

from trailhound.children import die_with
from trailhound.sources.files import RawFile, read
from trailhound.timeline import PendingFile, Planned, plan


def default_workers() -> int:
    """Every core but the one the ordered detector stage runs on."""
    return max(0, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) - 1)


def _read_files(paths: list[str], limit: int, budget: int) -> list[RawFile | OSError]:
    """The files in order until ``budget`` decompressed bytes are read (the rest are read in place)."""
    out: list[RawFile | OSError] = []
    used = 0
    for p in paths:
        if used >= budget:
            break
        try:
            raw = read(Path(p), limit)
        except OSError as exc:
            out.append(exc)
            continue
        used += len(raw.data)
        out.append(raw)
    return out


class Reading(Protocol):
    """What a scan's files are planned and read through, beside reading them in place."""

    def plan(self, paths: list[Path]) -> Planned: ...
    def prefetch(self, files: list[PendingFile]) -> None: ...
    def take(self, path: Path) -> RawFile | OSError | None: ...  # None: read it in place
    def close(self) -> None: ...


class ReadPool:
    def __init__(self, workers: int, limit: int, budget: int) -> None:
        # fork: a worker needs no re-import of the caller's script (a library must not demand a __main__
        # guard); it runs only file reading and peeking, none of the Polars code whose threads it inherits
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=die_with,
                                            initargs=(os.getpid(),))
        self.limit = limit
        self.budget = budget
        self.ahead: dict[str, tuple[Future[list[RawFile | OSError]], int]] = {}

    def plan(self, paths: list[Path]) -> Planned:
        return plan(paths, lambda fn, chunks: self.executor.map(fn, chunks))

    def prefetch(self, files: list[PendingFile]) -> None:
        todo = [str(f.path) for f in files if str(f.path) not in self.ahead]
        if todo:
            future = self.executor.submit(_read_files, todo, self.limit, self.budget)
            for i, p in enumerate(todo):
                self.ahead[p] = (future, i)

    def take(self, path: Path) -> RawFile | OSError | None:
        """The prefetched content of ``path`` (or why it could not be read); None: read it in place."""
        entry = self.ahead.pop(str(path), None)
        if entry is None:
            return None
        future, i = entry
        done = future.result()
        return done[i] if i < len(done) else None

    def close(self) -> None:
        self.ahead.clear()
        self.executor.shutdown(wait=True, cancel_futures=True)
