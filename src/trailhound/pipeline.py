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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl

from trailhound.config import ScanSettings
from trailhound.detectors import default_detectors
from trailhound.engine import Detector, Engine, KeyedDetector
from trailhound.engine.router import Router
from trailhound.enrich.geo import default_provider, open_provider
from trailhound.enrich.inventory import Inventory
from trailhound.enrich.stages import FlowAddresses, InventoryLearning, Stage
from trailhound.events import ApiCall, Source
from trailhound.findings.aggregate import Aggregator, TrustedAddresses
from trailhound.findings.enrich import Enricher
from trailhound.findings.model import Finding, Occurrence
from trailhound.formats import Kind, Parsed, Problem, parse
from trailhound.intel.builtin import builtin_index
from trailhound.intel.combined import CombinedIntel
from trailhound.intel.formats import load_list
from trailhound.intel.index import Category, IntelIndex
from trailhound.sources.files import read, walk
from trailhound.store.sqlite import Changes, Checkpoint, Store
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
    detector_errors: int = 0
    skipped_data_events: int = 0  # CloudTrail data events of services other than S3
    files_skipped: int = 0  # FIFOs, devices, sockets, symlink loops: not read
    late_rows: int = 0  # rows that reached a keyed detector after the watermark had passed them
    finding_ids: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def events_total(self) -> int:
        return sum(self.events.values())


@dataclass
class _FileMeta:
    fingerprint: str
    kind: Kind
    bytes_per_event: float
    consumed: int = 0
    usage: tuple[list[tuple[str, str, Source]], np.ndarray] | None = None  # usage keys, and each record's key


def _month(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


UsageCodes = tuple[list[tuple[str, str, Source]], np.ndarray]


def _usage_codes_of(events: Any, per_month: bool = False, month: str = "") -> UsageCodes:
    """Number each record's usage key (month, account, source) so that any slice is metered with one bincount."""
    combos: dict[tuple[Any, ...], int] = {}
    if isinstance(events, pl.DataFrame):  # flow records: usually one account per file (S3 delivers per account)
        accts = events["account_id"].fill_null("unknown")
        if per_month:
            months = (events["start"] * 1000).cast(pl.Datetime("ms")).dt.strftime("%Y-%m")
            accts = months + "|" + accts
        uniq = accts.unique(maintain_order=True).to_list()
        if len(uniq) == 1:
            codes = np.zeros(len(accts), dtype=np.int64)
        else:
            codes = accts.replace_strict(uniq, list(range(len(uniq))), return_dtype=pl.Int64).to_numpy()
        keys = [tuple(k.split("|", 1)) if per_month else (month, k) for k in uniq]
        return [(m, a, Source.FLOW) for m, a in keys], codes
    if events and isinstance(events[0], ApiCall):
        key = lambda e: (e.event_time, e.account_id, Source.S3_DATA if e.event_category == "Data" else Source.CLOUDTRAIL)  # noqa: E731
    else:
        key = lambda e: (e.query_timestamp, e.account_id, Source.DNS)  # noqa: E731
    for_month = (lambda t: f"{t.year:04d}-{t.month:02d}") if per_month else (lambda t: month)
    keys = ((for_month(t), acct or "unknown", source) for t, acct, source in map(key, events))
    codes = np.fromiter((combos.setdefault(k, len(combos)) for k in keys), dtype=np.int64, count=len(events))
    return list(combos), codes


def _usage_codes(parsed: Parsed) -> UsageCodes | None:
    month = _month(float(parsed.times[0]))
    if month != _month(float(parsed.times[-1])):
        return None  # rare: metered record by record
    return _usage_codes_of(parsed.events, month=month)


class Scanner:
    def __init__(
        self,
        store: Store,
        settings: ScanSettings | None = None,
        detectors: Sequence[Detector] | None = None,
        progress: ProgressFn | None = None,
        intel: CombinedIntel | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or ScanSettings()
        self.report = ScanReport()
        self.progress = progress
        custom = IntelIndex()
        for spec in self.settings.threat_lists:
            load = load_list(spec)
            self.report.problems.extend(load.problems)
            custom.add(load, Category.CUSTOM, public_only=True)  # GuardDuty's IP lists apply to public addresses only
        # Trusted lists, like threat lists, hold public addresses only (GuardDuty ignores the rest).
        self.trusted = IntelIndex()
        for spec in self.settings.trusted_lists:
            load = load_list(spec)
            self.report.problems.extend(load.problems)
            self.trusted.add(load, Category.CUSTOM, public_only=True)
        self.trusted.freeze()
        self._list_problems = list(self.report.problems)
        # `intel` replaces the packaged lists (tests, or an operator's own feed set); custom lists always apply.
        base = intel if intel is not None else builtin_index() if self.settings.builtin_intel else None
        self.intel = CombinedIntel(base, custom.freeze())
        self.detectors: list[Detector] = list(detectors) if detectors is not None else default_detectors(self.intel)
        self.inventory = Inventory.from_state(msgspec.json.decode(self.store.meta("inventory") or "null"))
        if detectors is None:  # the full set: state of detectors gone or changed since is of no use to anyone
            store.prune_state({d.name: d.state_version for d in self.detectors if isinstance(d, KeyedDetector)})
        watermark = float(self.store.meta("watermark") or "-inf")
        self.engine = Engine([d for d in self.detectors if isinstance(d, KeyedDetector)], store, self.settings.allowed_lateness_s,
                             watermark, capacity=self.settings.state_cache_entries)
        self.router = Router(self.detectors, self.engine)
        self.stages: list[Stage] = [InventoryLearning(self.inventory), FlowAddresses(self.intel.ip, self.trusted.ip), self.router]
        mmdb = list(self.settings.geoip_mmdb)
        geo = (lambda: open_provider(mmdb)) if mmdb else default_provider
        self.aggregator = Aggregator(store.finding, store.detector_id, Enricher(self.inventory, geo=geo, default_region=self.settings.default_region),
                                     [TrustedAddresses(self.trusted.ip)], capacity=self.settings.finding_cache_entries)
        self.limit = int(self.settings.max_file_mb * 1e6)
        self.changes = Changes()
        self.open_runs: dict[str, Run] = {}
        self._last_commit = time.monotonic()

    # -- entry point ---------------------------------------------------------------------
    def scan(self, paths: Iterable[str | Path]) -> ScanReport:
        started = time.perf_counter()
        report = self.report = ScanReport(problems=list(self._list_problems))
        skipped: list[tuple[str, str]] = []
        for inv_path in walk(self.settings.inventory, skipped):
            self._load_inventory(inv_path, read(inv_path, self.limit).data)
        # walk gives canonical paths: overlapping arguments name each file once; the store's own files (its lock too) are no logs
        own = self.store.own_files()
        files = [p for p in dict.fromkeys(walk(paths, skipped)) if str(p) not in own]
        report.problems.extend(Problem(path, f"skipped: {why}") for path, why in skipped)
        report.files_skipped = len(skipped)
        report.files_total = len(files)
        pending, others = plan(files)
        for path, kind in others:
            self._other_file(path, kind)
        timeline = Timeline(pending, self._open, self._finished, quantum=self.settings.order_quantum_s)
        for piece in timeline:
            self._process(piece)
            piece.run.meta.consumed = piece.stop
            if time.monotonic() - self._last_commit >= self.settings.commit_interval_s:
                self.commit()
        if self.settings.flush_at_end:  # a bounded input has ended: open windows report what they hold
            self._emit(self.engine.flush())
            self._engine_problems()
        self.commit()
        report.seconds = time.perf_counter() - started
        return report

    # -- files ---------------------------------------------------------------------------
    def _other_file(self, path: Path, kind: Kind) -> None:
        report = self.report
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
                self._quarantine("", [Problem(str(path), f"unreadable: {exc.strerror or exc}")], fatal=True)
                report.files_done += 1
                return
            key = str(path)
            if raw.too_large:
                self._quarantine(raw.fingerprint, [Problem(str(path), raw.error or "too large")], fatal=True)
                report.files_done += 1
                return
            if self._already_scanned(key, raw.fingerprint) is True:
                report.files_already_scanned += 1
            else:
                why = "empty file" if not raw.data.strip() else (
                    "unknown format: not CloudTrail JSON, a VPC flow log, a Route 53 query log or describe-instances output")
                problems = [Problem(str(path), raw.error)] if raw.error else []
                self._quarantine(raw.fingerprint, problems + [Problem(str(path), why)], fatal=True)
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
        else:
            self.report.bad_records += len(problems)

    def _open(self, pending: PendingFile) -> Run | None:
        path = pending.path
        key = str(path)
        try:
            raw = read(path, self.limit)
        except OSError as exc:
            self._quarantine("", [Problem(str(path), f"unreadable: {exc.strerror or exc}")], fatal=True)
            self.report.files_done += 1
            return None
        if raw.too_large:  # not checkpointed: with a higher limit, a later scan reads it
            self._quarantine(raw.fingerprint, [Problem(str(path), raw.error or "too large")], fatal=True)
            self.report.files_done += 1
            return None
        done = self._already_scanned(key, raw.fingerprint)
        if done is True:
            self.report.files_already_scanned += 1
            self.report.files_done += 1
            return None
        resumed = done or 0
        meta = _FileMeta(raw.fingerprint, pending.kind, 0.0, consumed=resumed)
        try:  # a bug in parsing or enriching must cost this file, not the scan
            parsed: Parsed = parse(path, raw.data, pending.kind)
            problems = list(parsed.problems)
            if pending.kind is Kind.CLOUDTRAIL and len(parsed):
                self._drop_unanalysed_data_events(parsed)
            meta.bytes_per_event = len(raw.data) / max(1, parsed.records_read)
            if len(parsed):
                meta.usage = _usage_codes(parsed)
                source = SOURCES[parsed.kind]
                for stage in self.stages:
                    if source in stage.sources:
                        parsed.events = stage(source, parsed.events, self.report.problems)
        except Exception as exc:
            parsed = Parsed(pending.kind, [], np.empty(0), fatal=True)
            problems = [Problem(str(path), f"could not be read ({type(exc).__name__}: {exc})")]
        if raw.error:
            problems.insert(0, Problem(str(path), raw.error))
        if problems and not resumed:
            self._quarantine(raw.fingerprint, problems, fatal=parsed.fatal)
        meta.kind = parsed.kind
        run = Run(path, parsed, pos=min(resumed, len(parsed)), meta=meta)
        self.open_runs[key] = run
        return run

    def _already_scanned(self, key: str, fingerprint: str) -> bool | int:
        """True when this content was read to its end (under this path, or another: a moved or
        copied delivery), else how many of its events a previous scan already processed."""
        cp = self.store.checkpoint(key)
        if cp is None or cp.fingerprint != fingerprint:
            cp = self.store.checkpoint_by_fingerprint(fingerprint)
            if cp is None or not cp.complete:
                return 0  # a partial read under another path says nothing about this one
        return True if cp.complete else cp.consumed

    def _drop_unanalysed_data_events(self, parsed: Parsed) -> None:
        """GuardDuty analyses management events and S3 data events only: Lambda, DynamoDB... data
        events are neither judged nor metered (counted in the report as skipped)."""
        keep = [i for i, e in enumerate(parsed.events) if e.event_category != "Data" or e.event_source == "s3.amazonaws.com"]
        if len(keep) < len(parsed.events):
            self.report.skipped_data_events += len(parsed.events) - len(keep)
            parsed.events = [parsed.events[i] for i in keep]
            parsed.times = parsed.times[keep]

    def _finished(self, run: Run) -> None:
        self.router.forget(run.parsed.events)
        key = str(run.path)
        self.open_runs.pop(key, None)
        meta: _FileMeta = run.meta
        self.changes.checkpoints[key] = Checkpoint(key, meta.fingerprint, meta.kind.value, len(run), len(run), True)
        self.report.files_done += 1
        if self.progress:
            self.progress(self.report)

    # -- events --------------------------------------------------------------------------
    def _process(self, piece: Slice) -> None:
        events = piece.events()
        self._meter_slice(piece.run.meta, piece.start, piece.stop, events)
        routed = self.router.run(SOURCES[piece.kind], events, piece.run.parsed.events, piece.start)
        if routed.problems:
            self.report.problems.extend(routed.problems)
            self.report.detector_errors += len(routed.problems)
        if routed.set_aside:  # the record that broke a detector, named, in its file's quarantine
            path = str(piece.run.path)
            self._quarantine(piece.run.meta.fingerprint, [Problem(path, f"{p.path} {p.message}") for p in routed.set_aside], fatal=False)
            self.report.detector_errors += len(routed.set_aside)
        self._emit(routed.occurrences)
        self._emit(self.engine.advance(float(piece.run.parsed.times[piece.stop - 1])))
        self._engine_problems()

    def _engine_problems(self) -> None:
        if self.engine.problems:
            self.report.problems.extend(self.engine.problems)
            self.report.detector_errors += len(self.engine.problems)
            self.engine.problems.clear()

    def _meter_slice(self, meta: _FileMeta, start: int, stop: int, events: Any) -> None:
        """Usage of exactly the events of this slice (so a resumed file is never metered twice)."""
        if meta.usage is None:  # a file spanning two months: count record by record
            keys, codes = _usage_codes_of(events, per_month=True)
            start, stop = 0, len(codes)
        else:
            keys, codes = meta.usage
        counts = np.bincount(codes[start:stop], minlength=len(keys)) if len(keys) > 1 else (stop - start,)
        for (month, acct, source), count in zip(keys, counts):
            if count:
                self.report.events[source.value] += int(count)
                self._meter(month, acct, source, int(count), meta.bytes_per_event)

    def _meter(self, month: str, account: str, source: Source, count: int, per_event: float) -> None:
        slot = self.changes.usage.setdefault((month, account, source.value), [0, 0])
        slot[0] += count
        slot[1] += int(count * per_event)

    # -- findings ------------------------------------------------------------------------
    def _emit(self, occurrences: list[Occurrence]) -> list[tuple[Occurrence, Finding, bool]]:
        """Occurrences into findings; returns those that were not suppressed, with their finding and whether it is new."""
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
        for key, run in self.open_runs.items():
            meta: _FileMeta = run.meta
            ch.checkpoints[key] = Checkpoint(key, meta.fingerprint, meta.kind.value, len(run), meta.consumed, False)
        if self.inventory.changed:
            ch.meta["inventory"] = msgspec.json.encode(self.inventory.to_state()).decode()
            self.inventory.changed = False
        ch.findings = self.aggregator.take()
        ch.state = self.engine.states.changes()
        ch.ttl = {name: det.ttl for name, det in self.engine.detectors.items()}
        if self.engine.watermark > float("-inf"):
            ch.watermark = self.engine.watermark
        self.report.late_rows = sum(self.engine.late_rows.values())
        self.store.commit(ch)
        self.changes = Changes()
        self._last_commit = time.monotonic()
        if self.progress:
            self.progress(self.report)
