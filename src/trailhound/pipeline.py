"""The scan pipeline: sources -> formats -> timeline -> enrichment -> detectors -> findings -> store.

One ``Scanner`` owns one store. ``scan(paths)`` reads every file it has not finished before,
decodes it and passes it through the enrichment stages, merges the events of all files in time
order, routes them to the detectors (the engine keeps keyed state and fires timers as the
watermark moves), turns occurrences into findings (enrichment, suppression, aggregation), and
commits findings, keyed state, the watermark, checkpoints, quarantine and usage together at
regular commit points. Nothing here knows any particular detector.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl

from trailhound import heap
from trailhound.config import ScanSettings
from trailhound.detectors import default_detectors
from trailhound.engine import Detector, Engine, KeyedDetector
from trailhound.engine.router import Router
from trailhound.enrich.aws_ranges import default_ranges
from trailhound.enrich.geo import default_provider, open_provider
from trailhound.enrich.inventory import Inventory
from trailhound.enrich.places import GeoPlaces
from trailhound.enrich.stages import FlowAddresses, InventoryLearning, Stage
from trailhound.events import Source
from trailhound.findings.aggregate import Aggregator, TrustedAddresses
from trailhound.findings.enrich import Enricher
from trailhound.findings.model import Finding, Occurrence, Raised
from trailhound.findings.suppress import Suppression
from trailhound.formats import Kind, Parsed, Problem, parse, written_end
from trailhound.formats.batch import Member, parse_many
from trailhound.formats.sniff import sniff
from trailhound.intel.builtin import builtin_index
from trailhound.intel.combined import CombinedIntel
from trailhound.intel.formats import load_list
from trailhound.intel.guard import refusal
from trailhound.intel import stored as stored_lists
from trailhound.intel.index import Category, IntelIndex
from trailhound.metering import UsageCodes, usage_codes
from trailhound.sources.files import RawFile, extends, read, walk
from trailhound.sources.files import fingerprint as content_fingerprint
from trailhound.sources.pool import ReadPool, Reading, default_workers
from trailhound.store.database import Changes, Checkpoint, Store
from trailhound.timeline import PendingFile, Run, Slice, Timeline, plan

ProgressFn = Callable[["ScanReport"], None]
SOURCES = {Kind.CLOUDTRAIL: Source.CLOUDTRAIL, Kind.FLOW: Source.FLOW, Kind.DNS: Source.DNS}


@dataclass
class ScanReport:
    files_total: int = 0
    files_done: int = 0
    files_already_scanned: int = 0
    files_not_log: int = 0
    files_digest: int = 0
    files_quarantined: int = 0
    inventory_instances: int = 0
    events: Counter[str] = field(default_factory=Counter)
    bad_records: int = 0
    problems: list[Problem] = field(default_factory=list)
    findings_new: int = 0
    findings_updated: int = 0
    suppressed_trusted: int = 0
    suppressed_by_rules: int = 0  # findings written archived by a suppression rule (a filter with action ARCHIVE)
    detector_errors: int = 0
    skipped_data_events: int = 0  # CloudTrail data events of services other than S3
    files_skipped: int = 0  # FIFOs, devices, sockets, symlink loops: not read
    workers: int = 0  # processes that planned and read files beside this one
    runs: int = 0  # decodes: one per batch of files read together (or per file)
    late_rows: int = 0  # rows that reached a keyed detector after the watermark had passed them
    list_entries_refused: int = 0  # threat/trusted list entries too broad to use (intel.guard)
    list_entries_non_public: int = 0  # threat/trusted list entries that are private or reserved throughout
    list_benign: list[str] = field(default_factory=list)  # one line per list naming known-benign infrastructure or covering too much
    stored_lists: list[str] = field(default_factory=list)  # one line per ACTIVE list of the store (made through the API) in use
    finding_ids: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def events_total(self) -> int:
        return sum(self.events.values())


@dataclass(slots=True)
class _Part:
    """A file to read, from ``offset`` bytes of its content on (0, or where it ended when it was last finished)."""

    pending: PendingFile
    raw: RawFile
    offset: int = 0
    end: int | None = None  # where its finished records end, when a writer is still at its last line (``written_end``)

    @property
    def fingerprint(self) -> str:
        """What its checkpoint names: the content read (without an unfinished last line, which a later scan reads on from)."""
        return self.raw.fingerprint if self.end is None else content_fingerprint(self.raw.data[: self.end])

    @property
    def size(self) -> int:
        return len(self.raw.data) if self.end is None else self.end

    def renumber(self, kind: Kind, problems: list[Problem]) -> None:
        """Problems found in ``content`` (the appended part) at their lines in the file."""
        before = self.raw.data.count(b"\n", 0, self.offset)
        header = bool(self._header(kind))  # its line 1 is the file's line 1
        for p in problems:
            if p.line is not None and not (header and p.line == 1):
                p.line += before - header

    def _header(self, kind: Kind) -> bytes:
        """The flow log's header line that its appended lines are read under (b"": none, or not appended)."""
        if not self.offset or kind is not Kind.FLOW:
            return b""
        end = self.raw.data.find(b"\n")
        first = self.raw.data[: end + 1] if 0 <= end < self.offset else b""
        token = first.split(maxsplit=1)[:1]
        return first if token and not token[0].isdigit() else b""

    def content(self, kind: Kind) -> bytes:
        data = self.raw.data if self.end is None else self.raw.data[: self.end]
        return self._header(kind) + data[self.offset :] if self.offset else data


@dataclass
class _RunMeta:
    """Bookkeeping of a run: one file, or a batch of files decoded together."""

    kind: Kind
    paths: list[str]
    fingerprints: list[str]
    counts: list[int]  # events per file
    member_of: np.ndarray | None  # each event's file, as an index into paths (None: a single file)
    offsets: list[int]  # per file: content bytes before the part read (a file appended to since it was finished)
    consumed: int = 0  # events of the run processed
    usage: UsageCodes | None = None  # usage keys, and each event's key (metering.usage_codes)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # each event's share of its file's bytes

    def consumed_per_file(self) -> list[int]:
        # the merge is stable, so a run's first `consumed` events are a prefix of each file's own order
        if self.member_of is None:
            return [self.consumed]
        return np.bincount(self.member_of[: self.consumed], minlength=len(self.paths)).tolist()


def _looks_like(kind: Kind, data: bytes) -> bool:
    """A cheap check that an AWS-named file holds what its name says (else it is sniffed in full)."""
    head = data[:64].lstrip()
    if kind is Kind.CLOUDTRAIL:
        return head[:1] == b"[" or head[:1] == b"{" and b'"Records"' in head
    if kind is Kind.DNS:
        return head[:1] == b"{" and b'"query_name"' in data[:4096]
    return head[:1].isalnum()


def _byte_shares(member_of: np.ndarray, counts: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Each event's whole-number part of its file's ``shares`` bytes: the k-th of n events of a file
    of B bytes gets floor((k+1)B/n) - floor(kB/n), so any prefix of a file's events is metered the
    same whether the file was read alone or in a batch, and a finished file exactly B."""
    n = len(member_of)
    if not n:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(member_of, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - np.repeat(starts, counts)
    b = shares[member_of]
    c = np.maximum(counts[member_of], 1)
    return (rank + 1) * b // c - rank * b // c


def _operator_lists(specs: Iterable[str | Path], report: ScanReport, threat: bool = False) -> IntelIndex:
    """An operator's threat or trusted lists. Like GuardDuty's they apply to public addresses only; entries
    too broad to mean anything are refused (``intel.guard``), and both kinds of skipped entry are named.
    A threat list is never filtered against known-benign infrastructure (the operator's decision), but
    each one that names some is reported in one line with up to three examples."""
    index = IntelIndex()
    for spec in specs:
        load = load_list(spec, vet=refusal)
        report.problems.extend(load.problems)
        report.list_entries_refused += load.refused
        if load.coverage:  # a whole list over a sane share of the Internet (said in the summary too, not only among problems)
            report.list_benign.append(f"{load.path}: {load.coverage}")
        if threat and load.indicators:
            from trailhound.intel.benign import shipped_sets

            benign = shipped_sets().hits(load)
            if benign:
                shown = ", ".join(f"{v} ({s})" for v, s in benign[:3]) + (", ..." if len(benign) > 3 else "")
                report.list_benign.append(f"{load.name}: {len(benign)} entries are known-benign infrastructure ({shown}); "
                                          "kept, as your list says, but expect findings on ordinary traffic")
        dropped = index.add(load, Category.CUSTOM, public_only=True)
        if dropped:
            report.list_entries_non_public += len(dropped)
            shown = ", ".join(dropped[:3]) + (", ..." if len(dropped) > 3 else "")
            report.problems.append(Problem(str(load.path), f"{len(dropped)} private or reserved entries skipped ({shown}): "
                                           "lists apply to public addresses only, as GuardDuty's do"))
    return index


class Scanner:
    def __init__(
        self,
        store: Store,
        settings: ScanSettings | None = None,
        detectors: Sequence[Detector] | None = None,
        progress: ProgressFn | None = None,
        intel: CombinedIntel | None = None,
        on_commit: Callable[[float], None] | None = None,
        stored: stored_lists.StoredLists | None = None,
    ) -> None:
        self.store = store
        # told, after each commit point, the wall time it began: every finding updated before then is in the store
        self.on_commit = on_commit
        self.settings = settings or ScanSettings()
        self.report = ScanReport()
        self.progress = progress
        custom = _operator_lists(self.settings.threat_lists, self.report, threat=True)
        self.trusted = _operator_lists(self.settings.trusted_lists, self.report).freeze()
        # the API's ACTIVE IPSets and ThreatIntelSets (``stored``: as another store has them, for a Spark executor)
        stored = stored if stored is not None else stored_lists.for_scan(store.conn, self.report.problems)
        self.report.stored_lists = stored.used
        self._lists_report = self.report  # what loading the lists said, repeated by every scan
        # `intel` replaces the packaged lists (tests, or an operator's own feed set); custom lists always apply.
        base = intel if intel is not None else builtin_index() if self.settings.builtin_intel else None
        self.intel = CombinedIntel(base, custom.freeze(), stored.threat)
        mmdb = list(self.settings.geoip_mmdb)
        # one geo provider, opened on first use, for the identity detectors and the finding enricher
        places = GeoPlaces((lambda: open_provider(mmdb)) if mmdb else default_provider, default_ranges(), self.settings.vpn_lists)
        self.detectors: list[Detector] = list(detectors) if detectors is not None else default_detectors(self.intel, places)
        self.inventory = Inventory.from_state(msgspec.json.decode(self.store.meta("inventory") or "null"))
        places.inventory = self.inventory  # an instance's own addresses, for the instance-credential detector
        if detectors is None:  # the full set: state of detectors gone or changed since is of no use to anyone
            store.prune_state({d.name: d.state_version for d in self.detectors if isinstance(d, KeyedDetector)})
        watermark = float(self.store.meta("watermark") or "-inf")
        self.engine = self._engine([d for d in self.detectors if isinstance(d, KeyedDetector)], watermark)
        self.router = Router(self.detectors, self.engine)
        self.stages: list[Stage] = [InventoryLearning(self.inventory), FlowAddresses(self.intel.ip, self.trusted.ip, self.inventory, places.own_v6), self.router]
        self.aggregator = Aggregator(store.finding, store.detector_id, Enricher(self.inventory, geo=places.provider, default_region=self.settings.default_region),
                                     [TrustedAddresses(self.trusted.ip), *stored_lists.scan_hooks(stored)], capacity=self.settings.finding_cache_entries)
        self.suppression = Suppression.load(store.conn)  # the API's ARCHIVE filters, applied as findings are written
        self.limit = int(self.settings.max_file_mb * 1e6)
        self.batch_bytes = int(self.settings.batch_mb * 1e6)
        self.changes = Changes()
        self.open_runs: dict[str, Run] = {}
        self._names: Mapping[str, str] = {}  # local path -> the name the store knows the file by (see ``scan``)
        self._pool: Reading | None = None
        self._first = False  # (set by each scan)
        self._last_commit = time.monotonic()

    def _engine(self, keyed: list[KeyedDetector], watermark: float) -> Engine:
        """The keyed detectors' engine (``spark.shipping`` ships their rows instead of running them)."""
        return Engine(keyed, self.store, self.settings.allowed_lateness_s, watermark, capacity=self.settings.state_cache_entries)

    # -- entry point ---------------------------------------------------------------------
    def scan(self, paths: Iterable[str | Path], names: Mapping[str, str] | None = None, reading: Reading | None = None) -> ScanReport:
        """Read ``paths`` (files and folders). ``names`` gives the name a file is known by in the store
        (checkpoints, quarantine, messages) when that is not its local path: an S3 object fetched to a
        local file is ``s3://bucket/key``, so it is the same object whichever file held it. ``reading``:
        files already planned and read by another process (the follower's fetcher), instead of a ReadPool."""
        with heap.scanning():
            return self._scan(paths, names, reading)

    def _scan(self, paths: Iterable[str | Path], names: Mapping[str, str] | None, reading: Reading | None) -> ScanReport:
        started = time.perf_counter()
        self._names = names or {}
        lists = self._lists_report
        report = self.report = ScanReport(problems=list(lists.problems), list_entries_refused=lists.list_entries_refused,
                                          list_entries_non_public=lists.list_entries_non_public, list_benign=list(lists.list_benign),
                                          stored_lists=list(lists.stored_lists))
        skipped: list[tuple[str, str]] = []
        for inv_path in walk(self.settings.inventory, skipped):
            self._load_inventory(inv_path, read(inv_path, self.limit).data)
        # walk gives canonical paths: overlapping arguments name each file once; the store's own files (its lock too) are no logs
        own = self.store.own_files()
        # a first scan (a backfill, the biggest an estate has) has no checkpoint to look up per batch: a file it
        # reads twice is a copy under another name, which _opened catches by content
        self._first = not self.store.has_checkpoints()
        files = list({text: p for p in walk(paths, skipped) if (text := str(p)) not in own}.values())  # (by text: hashing a Path costs more)
        report.problems.extend(Problem(path, f"skipped: {why}") for path, why in skipped)
        report.files_skipped = len(skipped)
        report.files_total = len(files)
        workers = self.settings.workers if self.settings.workers >= 0 else default_workers()
        # worker processes pay off on many files (their start-up is ~0.2 s); a few are read in place
        self._pool = reading if reading is not None else (
            ReadPool(workers, self.limit, self.batch_bytes) if workers and len(files) >= self.settings.pool_min_files else None)
        report.workers = workers if self._pool else 0
        try:
            pending, others = self._pool.plan(files) if self._pool else plan(files)
            for path, kind in others:
                self._other_file(path, kind)
            self._opened: set[str] = set()
            timeline = Timeline(pending, self._load, self._finished, quantum=self.settings.order_quantum_s, batch_files=self.settings.batch_files,
                                prefetch=self._pool.prefetch if self._pool else None, batch_span_s=self.settings.batch_span_s)
            for piece in timeline:
                self._process(piece)
                piece.run.meta.consumed = piece.stop
                if time.monotonic() - self._last_commit >= self.settings.commit_interval_s:
                    self.commit()
        finally:
            if self._pool:
                self._pool.close()
                self._pool = None
        if self.settings.flush_at_end:  # a bounded input has ended: open windows report what they hold
            self._emit(self.engine.flush())
            self._engine_problems()
        self.commit()
        report.seconds = time.perf_counter() - started
        return report

    # -- files ---------------------------------------------------------------------------
    def _name(self, path: Path) -> str:
        """What the store calls this file (its path, unless ``scan`` was told another name)."""
        text = str(path)
        name = self._names.get(text, text)
        if not name.isascii():  # a name that is not UTF-8 (undecodable bytes, kept by Python as surrogates): its bytes escaped
            name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return name

    def _other_file(self, path: Path, kind: Kind) -> None:
        report = self.report
        name = self._name(path)
        if kind is Kind.NOT_LOG:
            report.files_not_log += 1
        elif kind is Kind.DIGEST:
            report.files_digest += 1  # integrity proofs, not events: skipped by design
        elif kind is Kind.INVENTORY:
            self._load_inventory(path, read(path, self.limit).data)
        else:
            try:
                raw = read(path, self.limit)
            except OSError as exc:
                self._quarantine("", [Problem(name, f"unreadable: {exc.strerror or exc}")], fatal=True)
                report.files_done += 1
                return
            key = name
            if raw.too_large:
                self._quarantine(raw.fingerprint, [Problem(name, raw.error or "too large")], fatal=True)
                report.files_done += 1
                return
            if self._already_scanned(key, raw.fingerprint):
                report.files_already_scanned += 1
            else:
                why = "empty file" if not raw.data.strip() else (
                    "unknown format: not CloudTrail JSON, a VPC flow log, a Route 53 query log or describe-instances output")
                problems = [Problem(name, raw.error)] if raw.error else []
                self._quarantine(raw.fingerprint, problems + [Problem(name, why)], fatal=True)
                self.changes.checkpoints[key] = Checkpoint(key, raw.fingerprint, kind.value, 0, 0, True)
        report.files_done += 1

    def _load_inventory(self, path: Path, data: bytes) -> None:
        parsed = parse(path, data, Kind.INVENTORY)
        if parsed.problems:
            self._quarantine("", parsed.problems, fatal=True)
            return
        before = self.inventory.rejected
        self.report.inventory_instances += self.inventory.load_describe_instances(parsed.extra if isinstance(parsed.extra, dict) else {})
        bad = self.inventory.rejected - before
        if bad:
            self._quarantine("", [Problem(str(path), f"{bad} instance entries not understood and skipped")], fatal=False)

    def _quarantine(self, fingerprint: str, problems: list[Problem], fatal: bool) -> None:
        self.report.problems.extend(problems)
        self.changes.quarantine.extend((fingerprint, p) for p in problems)
        if fatal:
            self.report.files_quarantined += 1
        # (a quarantined file's records that were each bad count too; what was wrong with the file itself does not)
        self.report.bad_records += sum(p.records for p in problems if not fatal or p.line is not None or p.record is not None or p.records > 1)

    def _read(self, path: Path) -> RawFile | None:
        """A log file's content, or None when it cannot be had (quarantined, counted as done)."""
        ahead = self._pool.take(path) if self._pool else None  # read by a worker while earlier files were processed
        try:
            if isinstance(ahead, OSError):
                raise ahead
            raw = ahead if ahead is not None else read(path, self.limit)
        except OSError as exc:
            self._quarantine("", [Problem(self._name(path), f"unreadable: {exc.strerror or exc}")], fatal=True)
            self.report.files_done += 1
            return None
        if raw.too_large:  # not checkpointed: with a higher limit, a later scan reads it
            self._quarantine(raw.fingerprint, [Problem(self._name(path), raw.error or "too large")], fatal=True)
            self.report.files_done += 1
            return None
        return raw

    def _already_scanned(self, key: str, fingerprint: str) -> bool:
        """Whether this content was read to its end (under this path, or another: a moved or copied delivery)."""
        cp = self.store.checkpoints([key]).get(key)
        if cp is not None and cp.fingerprint == fingerprint and cp.complete:
            return True
        return bool(self.store.complete_fingerprints([fingerprint]))

    def _skip_copy(self) -> None:
        self.report.files_already_scanned += 1
        self.report.files_done += 1

    def _load(self, batch: list[PendingFile]) -> tuple[list[Run], list[PendingFile]]:
        """Open files of one group that are next in time: those not finished before are read until
        the batch budget is spent (the rest handed back) and decoded as one run; a file a previous
        scan stopped inside is a run of its own, resumed where it stopped; a file appended to since
        it was finished is read from where it ended."""
        known = {} if self._first else self.store.checkpoints([self._name(p.path) for p in batch])
        fresh: list[_Part] = []
        unsure: list[_Part] = []  # not checkpointed under this path: maybe moved, copied or re-compressed
        runs: list[Run] = []
        used = 0
        deferred: list[PendingFile] = []
        for i, pending in enumerate(batch):
            if used >= self.batch_bytes:
                deferred = batch[i:]
                break
            raw = self._read(pending.path)
            if raw is None:
                continue
            if pending.named and not _looks_like(pending.kind, raw.data) and (actual := sniff(pending.path, raw.data[:4096])) is not pending.kind:
                # an AWS name on other content: it is what its content says (read again, as it is rare)
                if actual in (Kind.CLOUDTRAIL, Kind.FLOW, Kind.DNS):
                    runs.extend(self._load([PendingFile(pending.start, pending.path, actual, actual.value.encode())])[0])
                else:
                    self._other_file(pending.path, actual)
                continue
            used += len(raw.data)
            cp = known.get(self._name(pending.path))
            if cp is not None and cp.fingerprint in (raw.fingerprint, raw.stored_fingerprint):
                if cp.complete:
                    self._skip_copy()
                elif cp.consumed:
                    runs.extend(self._runs(pending.kind, [_Part(pending, raw, cp.offset)], resumed=cp.consumed))
                else:
                    fresh.append(_Part(pending, raw, cp.offset))
            elif cp is not None and cp.complete and (offset := extends(raw.data, cp.fingerprint)):
                fresh.append(_Part(pending, raw, offset))  # appended to since: only what is new
            else:
                unsure.append(_Part(pending, raw))
        if unsure:
            done = set() if self._first else self.store.complete_fingerprints([fp for p in unsure for fp in (p.raw.fingerprint, p.raw.stored_fingerprint)])
            for part in unsure:
                if part.raw.fingerprint in done or part.raw.stored_fingerprint in done:
                    self._skip_copy()
                else:
                    fresh.append(part)
        members = []
        for part in fresh:  # the same content twice in one scan (a copy under another name) is read once
            if part.raw.fingerprint in self._opened:
                self._skip_copy()
            else:
                self._opened.add(part.raw.fingerprint)
                members.append(part)
                if part.raw.stored_fingerprint == part.raw.fingerprint:  # a plain file: maybe still being written
                    part.end = written_end(part.pending.kind, part.raw.data, part.offset)
                    if part.end is not None:  # said, not quarantined: the next scan reads it whole
                        line = part.raw.data.count(b"\n", 0, part.end) + 1
                        self.report.problems.append(Problem(f"{self._name(part.pending.path)}:{line}", "its last line is not finished "
                                                            "(no newline, not a whole record): left for the next scan to read"))
        if members:
            runs.extend(self._runs(batch[0].kind, members))
        return runs, deferred

    def _runs(self, kind: Kind, members: list[_Part], resumed: int = 0) -> list[Run]:
        """Decode and enrich files as one run (a resumed file is always alone)."""
        paths = [self._name(m.pending.path) for m in members]
        contents = [m.content(kind) for m in members]
        try:  # a bug in parsing or enriching must cost its file, not the scan
            batch = parse_many(kind, [Member(path, data, m.raw.error) for path, data, m in zip(paths, contents, members)], self._parse_one(kind))
            parsed, member_of = batch.parsed, batch.member_of
            if kind is Kind.CLOUDTRAIL and len(parsed):
                member_of = self._drop_unanalysed_data_events(parsed, member_of)
            counts = np.bincount(member_of, minlength=len(members))
            # GuardDuty meters the analysed records' share of each file's bytes
            shares = np.array([(m.size - m.offset) * int(n) // max(1, r) for m, n, r in zip(members, counts, batch.records_read)],
                              dtype=np.int64)
            weights = _byte_shares(member_of, counts, shares)
            usage = usage_codes(parsed.events, parsed.times) if len(parsed) else None
            if len(parsed):
                source = SOURCES[parsed.kind]
                for stage in self.stages:
                    if source in stage.sources:
                        parsed.events = stage(source, parsed.events, self.report.problems)
            problems, fatal = batch.problems, batch.fatal
        except Exception as exc:
            if len(members) > 1:  # find the file it is about: each alone
                return [run for m in members for run in self._runs(kind, [m])]
            parsed, member_of, usage, weights = Parsed(kind, [], np.empty(0)), np.zeros(0, dtype=np.int32), None, np.zeros(0, dtype=np.int64)
            counts = np.zeros(1, dtype=np.int64)
            damage = [Problem(paths[0], members[0].raw.error)] if members[0].raw.error else []
            problems, fatal = [damage + [Problem(paths[0], f"could not be read ({type(exc).__name__}: {exc})")]], [True]
        if not resumed:
            for m, probs, bad in zip(members, problems, fatal):
                if probs:  # (a damaged file's damage is among them, named by the parser with what it kept)
                    if m.offset:
                        m.renumber(kind, probs)
                    self._quarantine(m.raw.fingerprint, probs, fatal=bad)
        meta = _RunMeta(kind, paths, [m.fingerprint for m in members], counts.tolist(),
                        member_of if len(members) > 1 else None, offsets=[m.offset for m in members], consumed=resumed,
                        usage=usage, weights=weights)
        run = Run(Path(paths[0]), parsed, pos=min(resumed, len(parsed)), meta=meta)
        self.open_runs[paths[0]] = run
        self.report.runs += 1
        return [run]

    @staticmethod
    def _parse_one(kind: Kind) -> Callable[[str, bytes, str | None], Parsed]:
        return lambda path, data, damage: parse(path, data, kind, damage)

    def _drop_unanalysed_data_events(self, parsed: Parsed, member_of: np.ndarray) -> np.ndarray:
        """GuardDuty analyses management events and S3 data events only: Lambda, DynamoDB... data
        events are neither judged nor metered (counted in the report as skipped)."""
        keep = [i for i, e in enumerate(parsed.events) if e.event_category != "Data" or e.event_source == "s3.amazonaws.com"]
        if len(keep) == len(parsed.events):
            return member_of
        self.report.skipped_data_events += len(parsed.events) - len(keep)
        parsed.events = [parsed.events[i] for i in keep]
        parsed.times = parsed.times[keep]
        return member_of[keep]

    def _finished(self, run: Run) -> None:
        self.router.forget(run.parsed.events)
        meta: _RunMeta = run.meta
        self.open_runs.pop(meta.paths[0], None)
        for path, fingerprint, n, offset in zip(meta.paths, meta.fingerprints, meta.counts, meta.offsets):
            self.changes.checkpoints[path] = Checkpoint(path, fingerprint, meta.kind.value, n, n, True, offset)
        self.report.files_done += len(meta.paths)
        if self.progress:
            self.progress(self.report)

    # -- events --------------------------------------------------------------------------
    def _process(self, piece: Slice) -> None:
        events = piece.events()
        meta: _RunMeta = piece.run.meta
        self._meter_slice(meta, piece.start, piece.stop, events)
        routed = self.router.run(SOURCES[piece.kind], events, piece.run.parsed.events, piece.start, piece.run.parsed.times)
        if routed.problems:
            self.report.problems.extend(routed.problems)
            self.report.detector_errors += len(routed.problems)
        for p, record in zip(routed.set_aside, routed.set_aside_records):  # the record that broke a detector, in its file's quarantine
            m = self._file_of(piece, events, record)
            self._quarantine(meta.fingerprints[m], [Problem(meta.paths[m], f"{p.path} {p.message}")], fatal=False)
            self.report.detector_errors += 1
        self._emit(routed.occurrences)
        # (never past the wall clock: a record dated a day ahead, within the clock skew allowed, would otherwise make every
        # record of the next scan late)
        self._emit(self.engine.advance(min(float(piece.run.parsed.times[piece.stop - 1]), time.time())))
        self._engine_problems()

    @staticmethod
    def _file_of(piece: Slice, events: Any, record: Any) -> int:
        """Which file of the slice's run a record came from (rare: a detector failed on it)."""
        member_of = piece.run.meta.member_of
        if member_of is None:
            return 0
        at = 0
        if isinstance(events, list):
            at = next((j for j, e in enumerate(events) if e is record), 0)
        elif isinstance(record, dict):  # a flow row: find it by its time and addresses
            hit = events.with_row_index("__at").filter(pl.col("start") == record.get("start"), pl.col("srcaddr") == record.get("srcaddr"),
                                                        pl.col("dstaddr") == record.get("dstaddr"))
            at = int(hit["__at"][0]) if hit.height else 0
        return int(member_of[piece.start + at])

    def _engine_problems(self) -> None:
        if self.engine.problems:
            self.report.problems.extend(self.engine.problems)
            self.report.detector_errors += len(self.engine.problems)
            self.engine.problems.clear()

    def _meter_slice(self, meta: _RunMeta, start: int, stop: int, events: Any) -> None:
        """Usage of exactly the events of this slice (so a resumed file is never metered twice)."""
        if meta.usage is None:  # a run with no events
            return
        keys, codes = meta.usage[0], meta.usage[1][start:stop]
        shares = meta.weights[start:stop]
        if len(keys) == 1:
            counts, nbytes = [stop - start], [int(shares.sum())]
        else:
            counts = np.bincount(codes, minlength=len(keys)).tolist()
            nbytes = np.bincount(codes, weights=shares, minlength=len(keys)).tolist()  # whole numbers: exact in float64 below 2**53
        for (day, acct, source, resource), count, size in zip(keys, counts, nbytes):
            if count:
                self.report.events[source.value] += int(count)
                slot = self.changes.usage.setdefault((day, acct, source.value, resource), [0, 0])
                slot[0] += int(count)
                slot[1] += int(size)

    # -- findings ------------------------------------------------------------------------
    def _emit(self, occurrences: list[Occurrence]) -> list[tuple[Occurrence, Finding, bool]]:
        """Occurrences into findings; returns those that were not suppressed, with their finding and whether it is new.
        What was not suppressed goes on to the detectors that correlate findings; what they raise does not."""
        added = self._add(occurrences)
        if added and self.engine.correlators:
            added += self._add(self.engine.feed_findings([Raised(o, f.id) for o, f, _ in added]))
        return added

    def add_occurrences(self, occurrences: list[Occurrence]) -> None:
        """Occurrences raised elsewhere (a Spark job's detectors) into findings, as this scan's own are."""
        self._add(occurrences)

    def _add(self, occurrences: list[Occurrence]) -> list[tuple[Occurrence, Finding, bool]]:
        if not occurrences:
            return []
        report = self.report
        added = self.aggregator.add(occurrences, time.time())
        for _, finding, is_new in added:
            if is_new:
                report.findings_new += 1
            elif finding.id not in report.finding_ids:
                report.findings_updated += 1
            report.finding_ids.add(finding.id)
        report.suppressed_trusted = self.aggregator.suppressed.get("trusted", 0)
        return added

    # -- commit points -------------------------------------------------------------------
    def commit(self) -> None:
        ch = self.changes
        for run in self.open_runs.values():
            meta: _RunMeta = run.meta
            for path, fingerprint, n, done, offset in zip(meta.paths, meta.fingerprints, meta.counts, meta.consumed_per_file(), meta.offsets):
                ch.checkpoints[path] = Checkpoint(path, fingerprint, meta.kind.value, n, done, False, offset)
        if self.inventory.changed:
            ch.meta["inventory"] = msgspec.json.encode(self.inventory.to_state()).decode()
            self.inventory.changed = False
        ch.findings = self.aggregator.take()
        if self.suppression:
            self.report.suppressed_by_rules += sum(1 for f in ch.findings.values() if self.suppression.apply(f))
        ch.state = self.engine.states.changes()
        ch.ttl = {name: det.ttl for name, det in self.engine.detectors.items()}
        if self.engine.watermark > float("-inf"):
            ch.watermark = self.engine.watermark
        self.report.late_rows = sum(self.engine.late_rows.values())
        began = time.time()
        self.store.commit(ch)
        if self.on_commit:
            self.on_commit(began)
        self.changes = Changes()
        self._last_commit = time.monotonic()
        if self.progress:
            self.progress(self.report)
