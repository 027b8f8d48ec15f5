"""The follower: ``serve --source`` reads logs as they are delivered, through the scan pipeline.

A cycle finds what is new — in a local folder, files not seen at their size and mtime; under an S3
prefix, the keys listed after the stored marker whose ETag has not been read — orders it by delivery
time (the stamp in AWS's names), and feeds it to the same ``Scanner`` as ``trailhound scan`` in
chunks: S3 objects are fetched to a spool folder first — listed, fetched, gunzipped and planned by a
fetch process of their own (``fetcher``), so that S3's per-request Python does not share the GIL
with the pipeline — and known to the store as ``s3://bucket/key``.
On a cold start the first cycle is the history that is there, like a scan of it; later cycles are
what arrived since. The last chunk of a cycle ends like a scan (open behaviour windows report what
they hold; a later cycle that completes them does not report them twice), so each cycle's findings
are those a ``scan`` of the same files would give.

Exactly once rests on the pipeline's checkpoints, committed in the same transaction as the findings
and detector state they produced: an object is known by its name and content fingerprint, a restart
after ``kill -9`` resumes inside the object it stopped in, and an object read before is not read
again. The marker and the ETags of read objects (``follow_markers``, ``s3_objects``) only save
listing and fetching work: lost with a crash, they cost a fetch of objects the checkpoints then skip.

A source that cannot be read (no such folder or bucket, no credentials, the endpoint down) gets one
line when it fails and one when it recovers; the other sources go on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from trailhound.config import ScanSettings
from trailhound.formats.base import Problem
from trailhound.pipeline import Scanner, ScanReport
from trailhound.sources.files import ignored, walk
from trailhound.sources.failpoints import failpoint
from trailhound.sources.progress import SourceProgress
from trailhound.sources.fetcher import Fetched, Fetcher, Prefetched
from trailhound.sources.s3 import S3Location, S3Object, SourceError, Stream, key_time, parse_location
from trailhound.sources.inbox import Inbox
from trailhound.store import tables as t
from trailhound.store.database import Changes, Store, transaction
from trailhound.store.rows import upsert
from trailhound.text import printable

_CHUNK_KEYS = 500  # names per IN (...)
_PROBLEM_LINES = 20  # problem lines printed per chunk (all of them are in the quarantine list)
_WATERMARK = "follow_watermark:"  # meta key prefix: a source's watermark survives a restart


@dataclass
class FollowSettings:
    poll_s: float = 30.0  # wait between cycles that found nothing more to read
    chunk_objects: int = 1000  # files scanned together (S3 objects fetched to the spool at once)
    chunk_mb: float = 256.0  # ...and no more stored bytes than this (bounds the spool's disk use)
    first_chunk_objects: int = 100  # a cycle's first chunk is small: nothing overlaps its fetch
    fetch_threads: int = 16  # objects fetched at once by the fetch process (I/O-bound: threads there)
    handoff_mb: float = 128.0  # decompressed content a fetched chunk hands over (the rest is read from the spool)
    list_limit: int = 50_000  # keys listed per prefix in one cycle (bounds memory on a cold start of a big bucket)
    s3_endpoint: str | None = None  # an S3-compatible store instead of AWS
    sqs_queue: str | None = None  # S3 event notifications name new objects; listing becomes the fallback
    list_interval_s: float = 300.0  # with a queue: list the prefixes this often (without one: every cycle)
    sqs_messages: int = 1000  # notifications taken per cycle
    sqs_visibility_s: int = 900  # hidden from other receivers while read; redelivered after it if not deleted
    allowed_lateness_s: float = 900.0  # an object this far behind its source's watermark is late (read, and counted)
    spool: Path | None = None  # where S3 objects are fetched to (default: a new temporary folder)


@dataclass(slots=True)
class _Item:
    time: float
    size: int
    path: Path | None = None  # a local file
    source: str = ""  # the --source it came from (a folder or s3://bucket/prefix)
    stamp: tuple[int, int] = (0, 0)  # its (size, mtime_ns)
    obj: S3Object | None = None


@dataclass
class _Listing:
    """One prefix's listing in this cycle: which keys are done, so the marker can move past them."""

    location: S3Location
    marker: str
    objects: list[S3Object]
    done: set[str] = field(default_factory=set)

    def next_marker(self) -> str:
        marker = ""
        for obj in self.objects:
            if obj.key not in self.done:
                break
            marker = obj.key
        return max(marker, self.marker)  # never back: keys before it are listed again anyway (Stream.start_after)


@dataclass
class FollowStatus:
    cycles: int = 0
    files_read: int = 0
    events: int = 0
    findings_new: int = 0
    findings_updated: int = 0
    sqs_received: int = 0
    sqs_deleted: int = 0
    sqs_ignored: int = 0  # messages that were not S3 notifications
    last_cycle_at: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # source -> the line it failed with (until it recovers)
    sources: dict[str, SourceProgress] = field(default_factory=dict)


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Follower:
    def __init__(self, store: Store, scan_settings: ScanSettings, sources: Iterable[str], settings: FollowSettings | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.settings = settings or FollowSettings()
        self.notify = notify or _stderr
        self.dirs: list[Path] = []
        self.prefixes: list[S3Location] = []
        for source in sources:
            if source.startswith("s3://"):
                self.prefixes.append(parse_location(source))  # ValueError: a usage error, before anything starts
            else:
                self.dirs.append(Path(source))
        self.limit = int(scan_settings.max_file_mb * 1e6)
        self.reader = Fetcher(self.settings.s3_endpoint, self.limit, self.settings.fetch_threads, int(self.settings.handoff_mb * 1e6))
        if self.prefixes:
            self.reader.start()  # its start-up (a new interpreter, boto3) overlaps the scanner's (the intel lists)
        scan_settings.workers = 0  # no forked readers in a process that runs the API's threads
        try:
            self.scanner = Scanner(store, scan_settings, on_commit=self._committed)
        except BaseException:
            self.reader.close()
            raise
        self._inbox = Inbox(self.settings.sqs_queue, self) if self.settings.sqs_queue else None  # ValueError: a usage error, now
        self._listed_at = float("-inf")
        self.status = FollowStatus()
        for source in [str(d) for d in self.dirs] + [p.url for p in self.prefixes]:
            mark = store.meta(_WATERMARK + source)
            self.status.sources[source] = SourceProgress(watermark=float(mark) if mark else None)
        self.seen: dict[str, tuple[int, int]] = {}  # local files read at this (size, mtime_ns)
        spool = self.settings.spool or Path(tempfile.mkdtemp(prefix="trailhound-spool-"))
        spool.mkdir(parents=True, exist_ok=True)
        self.spool = Path(os.path.realpath(spool))  # as walk names files: the scanner's names are looked up by it
        self._chunks = 0
        self._catching_up: set[str] = set()  # streams listed from their marker itself, not the day before it
        self._pending_since: float | None = None  # while a scan runs: findings updated since then may not be in the store yet
        self._list_lines = len(self.scanner.report.problems)  # what loading the threat and trusted lists said: every scan repeats it
        for line in self.scanner.report.problems:
            self.notify(f"serve: {printable(str(line))}")

    def committed_before(self) -> float:
        """Every finding updated before this wall time is in the store (the exporter reads no further)."""
        since = self._pending_since
        return float("inf") if since is None else since

    def _committed(self, began: float) -> None:
        if self._pending_since is not None:
            self._pending_since = began

    # -- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            more = False
            try:
                more = self.cycle(stop)
            except Exception as exc:  # never let one bad cycle end the service: say so, try again next time
                self._pending_since = None
                if os.environ.get("TRAILHOUND_DEBUG"):
                    traceback.print_exc()
                self.notify(f"serve: follow cycle failed: {type(exc).__name__}: {printable(str(exc).splitlines()[0] if str(exc) else '')}")
            if not more:
                stop.wait(self.settings.poll_s)

    def cycle(self, stop: threading.Event | None = None) -> bool:
        """Read what is new at every source; returns whether a listing was cut short (more to read at once)."""
        items: list[_Item] = []
        for d in self.dirs:
            items.extend(self._local(d))
        listings: list[_Listing] = []
        more = False
        now = time.time()
        list_now = not self.settings.sqs_queue or self._catching_up or now - self._listed_at >= self.settings.list_interval_s
        if list_now:
            self._listed_at = now
        for location in self.prefixes if list_now else ():
            try:
                streams = self.reader.streams(location)
            except SourceError as exc:
                self._failed(location.url, str(exc))
                continue
            self._recovered(location.url)
            for stream in streams:
                listing, truncated = self._list(stream)
                if listing is None:
                    continue
                more |= truncated
                listings.append(listing)
                items.extend(_Item(o.time, o.size, source=location.url, obj=o) for o in listing.objects if o.key not in listing.done)
        if self._inbox is not None:
            notified = self._inbox.receive({i.obj.name for i in items if i.obj is not None})
            items.extend(_Item(o.time, o.size, source=o.location.url, obj=o) for o in notified)
        self.status.cycles += 1
        self.status.last_cycle_at = time.time()
        if not items:
            self._save_markers(listings, [])
            self._forget()
            return more
        items.sort(key=lambda i: (i.time, i.obj.name if i.obj else str(i.path)))
        for item in items:
            self.status.sources[item.source].pending += 1
        chunks = list(self._chunked(items))
        # the next chunk is fetched while this one is read: S3's round trips overlap the pipeline's CPU
        # (at most two chunks in the spool)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="trailhound-prefetch") as ahead:
            coming: Future[tuple[Path, Fetched]] | None = ahead.submit(self._fetch_chunk, chunks[0])
            try:
                for n, chunk in enumerate(chunks):
                    assert coming is not None
                    spooled, coming = coming.result(), None
                    if stop is not None and stop.is_set():
                        shutil.rmtree(spooled[0], ignore_errors=True)
                        return False
                    if n + 1 < len(chunks):
                        coming = ahead.submit(self._fetch_chunk, chunks[n + 1])
                    self._read_chunk(chunk, spooled, listings, last=n == len(chunks) - 1 and not more)
            finally:
                if coming is not None:  # fetched ahead and never read (a chunk failed): out of the spool
                    with contextlib.suppress(Exception):
                        shutil.rmtree(coming.result()[0], ignore_errors=True)
        self._forget()
        for progress in self.status.sources.values():
            progress.pending = 0  # what could not be fetched is found again next cycle
        return more

    def _chunked(self, items: list[_Item]) -> Iterable[list[_Item]]:
        budget = int(self.settings.chunk_mb * 1e6)
        chunk: list[_Item] = []
        used = 0
        most = min(self.settings.first_chunk_objects, self.settings.chunk_objects)  # reading starts while the next chunk is fetched
        for item in items:
            if chunk and (len(chunk) >= most or used + item.size > budget):
                yield chunk
                chunk, used, most = [], 0, self.settings.chunk_objects
            chunk.append(item)
            used += item.size
        if chunk:
            yield chunk

    # -- sources -------------------------------------------------------------------------
    def _local(self, folder: Path) -> list[_Item]:
        skipped: list[tuple[str, str]] = []
        out: list[_Item] = []
        try:
            for path in walk([folder], skipped):
                try:
                    st = path.stat()
                except OSError:
                    continue  # gone since it was listed
                stamp = (st.st_size, st.st_mtime_ns)
                if self.seen.get(str(path)) != stamp:
                    out.append(_Item(key_time(path.name, st.st_mtime), st.st_size, path=path, source=str(folder), stamp=stamp))
        except OSError as exc:
            self._failed(str(folder), f"{folder}: {exc.strerror}" if exc.strerror else str(exc))
            return []
        self._recovered(str(folder))
        return out

    def _list(self, stream: Stream) -> tuple[_Listing | None, bool]:
        location = stream.location
        marker = self._marker(location)
        start = stream.start_after(marker, exact=location.url in self._catching_up)
        try:
            objects, truncated = self.reader.list_after(location, start, self.settings.list_limit, flat=stream.flat)
        except SourceError as exc:
            self._failed(location.url, str(exc))
            return None, False
        self._recovered(location.url)
        if truncated:  # more than a listing holds: go on from the marker itself until caught up
            self._catching_up.add(location.url)
        else:
            self._catching_up.discard(location.url)
        objects = [o for o in objects if not ignored(o.key.rsplit("/", 1)[-1])]
        listing = _Listing(location, marker, objects)
        known = self._etags([o.name for o in objects])
        listing.done = {o.key for o in objects if known.get(o.name) == o.etag}
        return listing, truncated

    def _failed(self, source: str, line: str) -> None:
        if self.status.errors.get(source) != line:
            self.notify(f"serve: source {printable(line)} (retrying every {self.settings.poll_s:g} s; other sources go on)")
        self.status.errors[source] = line

    def _recovered(self, source: str) -> None:
        if self.status.errors.pop(source, None) is not None:
            self.notify(f"serve: source {printable(source)}: readable again")

    def _forget(self) -> None:
        if self._inbox is not None:
            self._inbox.forget()  # messages still waiting (an object not fetched) come back after their visibility timeout

    # -- a chunk -------------------------------------------------------------------------
    def _fetch_chunk(self, chunk: list[_Item]) -> tuple[Path, Fetched]:
        """A chunk's S3 objects into a spool folder of their own: the folder, and what the fetch process handed over."""
        self._chunks += 1
        folder = self.spool / f"chunk-{self._chunks}"
        folder.mkdir(parents=True, exist_ok=True)
        jobs = [(item.obj, folder / f"{i:06d}") for i, item in enumerate(chunk) if item.obj is not None and item.obj.size <= self.limit]
        return folder, self.reader.fetch(jobs) if jobs else Fetched()

    def _read_chunk(self, chunk: list[_Item], spooled: tuple[Path, Fetched], listings: list[_Listing], last: bool) -> None:
        folder, got = spooled
        paths: list[Path] = []
        names: dict[str, str] = {}
        fetched: list[S3Object] = []
        too_large: list[S3Object] = []
        gone: set[str] = set()
        try:
            for i, item in enumerate(chunk):
                if item.path is not None:
                    paths.append(item.path)
                    continue
                obj = item.obj
                assert obj is not None
                if obj.size > self.limit or obj.name in got.too_large:  # not fetched (whole): quarantined with the reason, as scan does
                    too_large.append(obj)
                    continue
                dest = folder / f"{i:06d}"
                if (exc := got.errors.get(obj.name)) is not None:  # tried again next cycle: the marker stays before it
                    if exc.gone:
                        gone.add(obj.name)  # deleted or rewritten since it was named: a notification of it waits for nothing
                        self.notify(f"serve: {printable(str(exc))} (no longer there as named)")
                    else:
                        self._failed(obj.location.url, str(exc))
                    continue
                paths.append(dest)
                names[str(dest)] = obj.name
                fetched.append(obj)
            report = None
            began = time.time()
            if paths:
                self.scanner.settings.flush_at_end = last
                self._pending_since = time.time()
                failpoint("follow:before-commit")
                try:
                    report = self.scanner.scan(paths, names, Prefetched(got))
                finally:
                    self._pending_since = None
                self._tell(report)
            for item in chunk:
                if item.path is not None:
                    self.seen[str(item.path)] = item.stamp
            self._done(fetched, too_large, listings)
            self._progress(chunk, fetched + too_large, began)
            if self._inbox is not None:
                self._inbox.settle({o.name for o in fetched + too_large} | gone)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _progress(self, chunk: list[_Item], objects: list[S3Object], began: float) -> None:
        """Per source: the objects of this chunk that were committed, their events, the watermark and lateness."""
        read = {o.name for o in objects}
        done = [i for i in chunk if i.path is not None or (i.obj is not None and i.obj.name in read)]
        wanted = [str(i.path) if i.path is not None else i.obj.name for i in done]  # type: ignore[union-attr]
        c = t.checkpoints.c
        events: dict[str, int] = {}
        for i in range(0, len(wanted), _CHUNK_KEYS):
            q = select(c.path, c.events).where(c.path.in_(wanted[i : i + _CHUNK_KEYS]), c.updated_at >= began - 1)
            events.update((path, int(n)) for path, n in self.store.conn.execute(q))
        now = time.time()
        for item, name in zip(done, wanted):
            self.status.sources[item.source].read(name, item.time, events.get(name, 0), self.settings.allowed_lateness_s, now)
        rows = [{"key": _WATERMARK + src, "value": repr(p.watermark)} for src, p in self.status.sources.items() if p.watermark is not None]
        if rows:
            with transaction(self.store.conn) as conn:
                conn.execute(upsert(conn, t.meta, ["key"]), rows)

    def _tell(self, report: ScanReport) -> None:
        st = self.status
        read = report.files_done - report.files_already_scanned
        st.files_read += read
        st.events += report.events_total
        st.findings_new += report.findings_new
        st.findings_updated += report.findings_updated
        problems = report.problems[self._list_lines:]
        for p in problems[:_PROBLEM_LINES]:
            self.notify(f"serve: {printable(str(p))}")
        if len(problems) > _PROBLEM_LINES:
            self.notify(f"serve: ... and {len(problems) - _PROBLEM_LINES} more (trailhound quarantine lists them)")
        if read or report.findings_new or report.findings_updated:
            self.notify(f"serve: read {read:,} files, {report.events_total:,} events: {report.findings_new} new findings, "
                        f"{report.findings_updated} updated ({report.seconds:.1f} s)")

    def _done(self, fetched: list[S3Object], too_large: list[S3Object], listings: list[_Listing]) -> None:
        """Remember what was read (its ETag) and move the markers past every key read so far."""
        now = time.time()
        if too_large:
            self.store.commit(Changes(quarantine=[(f"{o.size}-toolarge", Problem(o.name, f"larger than {self.limit / 1e6:,.0f} MB, not read "
                                                                                  "(the limit, --max-file-mb)")) for o in too_large]))
            for o in too_large:
                self.notify(f"serve: {printable(o.name)}: larger than {self.limit / 1e6:,.0f} MB, not read (--max-file-mb)")
        read = fetched + too_large
        by_location: dict[S3Location, set[str]] = {}
        for o in read:
            by_location.setdefault(o.location, set()).add(o.key)
        for listing in listings:
            listing.done |= by_location.get(listing.location, set())
        rows = [{"name": o.name, "etag": o.etag, "size": o.size, "read_at": now} for o in read]
        self._save_markers(listings, rows)

    # -- what the store keeps for the follower -------------------------------------------
    def _marker(self, location: S3Location) -> str:
        m = t.follow_markers.c
        return self.store.conn.execute(select(m.marker).where(m.source == location.url)).scalar() or ""

    def _etags(self, names: list[str]) -> dict[str, str]:
        o = t.s3_objects.c
        out: dict[str, str] = {}
        for i in range(0, len(names), _CHUNK_KEYS):
            out.update((name, etag) for name, etag in self.store.conn.execute(select(o.name, o.etag).where(o.name.in_(names[i : i + _CHUNK_KEYS]))))
        return out

    def _save_markers(self, listings: list[_Listing], rows: list[dict[str, Any]]) -> None:
        now = time.time()
        moved = []
        for listing in listings:
            marker = listing.next_marker()
            if marker != listing.marker:
                moved.append({"source": listing.location.url, "marker": marker, "updated_at": now})
                listing.marker = marker
        if not rows and not moved:
            return
        with transaction(self.store.conn) as c:
            if rows:
                c.execute(upsert(c, t.s3_objects, ["name"]), rows)
            if moved:
                c.execute(upsert(c, t.follow_markers, ["source"]), moved)

    def close(self) -> None:
        self.reader.close()
        if self.settings.spool is None:
            shutil.rmtree(self.spool, ignore_errors=True)


__all__ = ["FollowSettings", "FollowStatus", "Follower"]
