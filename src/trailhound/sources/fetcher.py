"""The fetch process: S3 listing, GETs, gunzip and planning, beside the process that ingests.

Fetching thousands of small objects costs Python per request (signing, HTTP, a thread handing the
bytes over), and in the ingesting process that Python shared one GIL with the pipeline: the profile
showed the follower reading at a third of ``scan``'s speed, its detectors waiting for the fetch
threads. So the follower's S3 work runs in a process of its own: it lists prefixes (boto3), GETs a
chunk's objects several at a time (``s3_get``: botocore's signer on pooled urllib3), writes each
to the spool, gunzips and fingerprints it and peeks at its start as ``scan``'s reading workers do
(``files.decode``, ``timeline.plan_files``), and hands the chunk back whole: the errors by object,
and the decompressed content and plan of its files, which the ingesting process takes as ``scan``
takes what its ``ReadPool`` read ahead. What is past the hand-over budget stays in the spool and
is read there (memory stays bounded for large objects).

Nothing here touches the store: exactly-once stays with the ingesting process (checkpoints committed
with the findings, SQS messages deleted after). The process is spawned, not forked (the ingesting
process runs the API's threads), ignores SIGINT and SIGTERM (a terminal's Ctrl-C or a service
manager's TERM to the whole group is for the service, which finishes its batch and stops it), ends itself when its parent is gone (a ``kill -9`` of the service leaves nothing behind),
and is started again after it died (the cycle that saw it die fails and is retried).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trailhound.sources.files import RawFile, decode
from trailhound.sources.s3 import S3Location, S3Object, S3Reader, SourceError, Stream
from trailhound.timeline import PendingFile, Planned, plan_files


@dataclass(slots=True)
class Fetched:
    """One chunk's objects, fetched to the spool (by spool path where said so)."""

    errors: dict[str, SourceError] = field(default_factory=dict)  # by object name: not fetched (tried again next cycle)
    too_large: set[str] = field(default_factory=set)  # object names larger than the limit when read (quarantined, as scan does)
    content: dict[str, RawFile] = field(default_factory=dict)  # spool path -> what scan's reading would give
    pending: list[PendingFile] = field(default_factory=list)  # the plan of the fetched files, in chunk order
    others: list[tuple[Path, Any]] = field(default_factory=list)


class Prefetched:
    """A chunk's fetched content as the scanner's reading (``pipeline.Reading``): planned and read by the
    fetch process; a file it did not hand over (a local file, or past the budget) is planned and read in place."""

    def __init__(self, fetched: Fetched) -> None:
        self.content = fetched.content
        self.known: dict[str, PendingFile | tuple[Path, Any]] = {str(p.path): p for p in fetched.pending}
        self.known.update((str(p), (p, kind)) for p, kind in fetched.others)

    def plan(self, paths: list[Path]) -> Planned:
        missing = [p for p in paths if str(p) not in self.known]
        if missing:  # in path order, as plan_files gives it: ties in estimated start keep scan's order
            pending, others = plan_files(missing)
            self.known.update((str(p.path), p) for p in pending)
            self.known.update((str(p), (p, kind)) for p, kind in others)
        out: Planned = ([], [])
        for p in paths:
            entry = self.known[str(p)]
            if isinstance(entry, PendingFile):
                out[0].append(entry)
            else:
                out[1].append(entry)
        out[0].sort()
        return out

    def prefetch(self, files: list[PendingFile]) -> None:
        pass  # all of it came with the chunk

    def take(self, path: Path) -> RawFile | OSError | None:
        return self.content.pop(str(path), None)

    def close(self) -> None:
        self.content.clear()


class Fetcher:
    """The ingesting process's handle on the fetch process (started on first use)."""

    def __init__(self, endpoint_url: str | None, limit: int, threads: int, handoff_bytes: int) -> None:
        self.endpoint_url = endpoint_url
        self.limit = limit
        self.threads = max(1, threads)
        self.handoff_bytes = handoff_bytes
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the process now, without waiting for it."""
        self._submit(_ready)

    def _submit(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                                                 initargs=(self.endpoint_url, os.getpid()))
        return self._executor.submit(fn, *args)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return self._submit(fn, *args).result()
        except BrokenProcessPool:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            self._executor = None  # a new one next time
            raise SourceError("the S3 fetch process ended unexpectedly (started again at the next cycle)") from None

    def streams(self, location: S3Location) -> list[Stream]:
        return self._call(_streams, location)  # type: ignore[no-any-return]

    def list_after(self, location: S3Location, marker: str, limit: int, flat: bool = False) -> tuple[list[S3Object], bool]:
        return self._call(_list_after, location, marker, limit, flat)  # type: ignore[no-any-return]

    def fetch(self, jobs: list[tuple[S3Object, Path]]) -> Fetched:
        named = [(o, str(p)) for o, p in jobs]
        return self._call(_fetch, named, self.limit, self.handoff_bytes, self.threads)  # type: ignore[no-any-return]

    def pid(self) -> int | None:
        """The fetch process's id (None before it is started)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


# -- in the fetch process ------------------------------------------------------------------
_lister: S3Reader | None = None
_getter: Any = None


def _start(endpoint_url: str | None, parent: int) -> None:
    from trailhound.sources.s3_get import ObjectGetter

    global _lister, _getter
    for sig in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl-C or a service manager's TERM to the group: the parent stops it
        signal.signal(sig, signal.SIG_IGN)
    _lister = S3Reader(endpoint_url)
    _getter = ObjectGetter(endpoint_url)
    threading.Thread(target=_orphaned, args=(parent,), name="trailhound-fetch-watch", daemon=True).start()


def _orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> None:
    pass


def _streams(location: S3Location) -> list[Stream]:
    assert _lister is not None
    return _lister.streams(location)


def _list_after(location: S3Location, marker: str, limit: int, flat: bool) -> tuple[list[S3Object], bool]:
    assert _lister is not None
    return _lister.list_after(location, marker, limit, flat=flat)


def _fetch(jobs: list[tuple[S3Object, str]], limit: int, handoff_bytes: int, threads: int) -> Fetched:
    """GET the objects to their spool paths, several at a time (each answers in milliseconds, but one after
    another their round trips would take longer than reading them); then decode and plan what came."""
    out = Fetched()

    def one(job: tuple[S3Object, str]) -> tuple[str, bytes] | None:
        obj, dest = job
        try:
            body = _getter.get(obj, limit)
        except SourceError as exc:
            out.errors[obj.name] = exc
            return None
        if body is None:
            out.too_large.add(obj.name)
            return None
        with open(dest, "wb") as fh:
            fh.write(body)
        return dest, body

    with ThreadPoolExecutor(min(threads, max(1, len(jobs))), thread_name_prefix="trailhound-get") as pool:
        got = [g for g in pool.map(one, jobs) if g is not None]
    used = 0
    for dest, body in got:  # the budget goes to the chunk's first files, read first
        if used >= handoff_bytes:
            break
        raw = decode(Path(dest), body, limit)
        used += len(raw.data)
        out.content[dest] = raw
    out.pending, out.others = plan_files([Path(dest) for dest, _ in got])
    return out


__all__ = ["Fetched", "Fetcher", "Prefetched"]
