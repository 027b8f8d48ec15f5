"""The scan pipeline: sources -> formats -> timeline -> enrichment -> detectors -> findings -> store.

One ``Scanner`` owns one store. ``scan(paths)`` reads every file it has not finished before,
merges the events of all files in time order, routes them to the detectors that consume them,
folds the occurrences into findings, and commits findings, detector state, checkpoints,
quarantine and usage together at regular commit points.
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
from trailhound.detectors import Detector, default_detectors
from trailhound.detectors.threat_intel import CombinedIntel
from trailhound.enrich.flows import mark_listed
from trailhound.enrich.geo import open_provider
from trailhound.enrich.inventory import Inventory
from trailhound.events import ApiCall, Source
from trailhound.findings.enrich import Enricher
from trailhound.findings.model import Occurrence, aggregate, finding_id, new_finding
from trailhound.formats import Kind, Parsed, Problem, parse
from trailhound.intel.formats import load_list
from trailhound.intel.builtin import builtin_index
from trailhound.intel.index import Category, IntelIndex
from trailhound.sources.files import read, walk
from trailhound.state.cache import StateCache
from trailhound.store.sqlite import Changes, Checkpoint, Store
from trailhound.timeline import PendingFile, Run, Slice, Timeline, plan

ProgressFn = Callable[["ScanReport"], None]


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
        self.detectors = list(detectors) if detectors is not None else default_detectors(self.intel)
        self.inventory = Inventory.from_state(msgspec.json.decode(self.store.meta("inventory") or "null"))
        mmdb = list(self.settings.geoip_mmdb)
        self.enrich = Enricher(self.inventory, geo=lambda: open_provider(mmdb), default_region=self.settings.default_region)
        self.state = StateCache(store)
        self.changes = Changes()
        self.findings: dict[str, dict[str, Any]] = {}
        self.open_runs: dict[str, Run] = {}
        self._last_commit = time.monotonic()
        self._route_names: dict[str, list[Detector]] = {}
        self._every_ct: list[Detector] = []
        self._by_source: dict[Source, list[Detector]] = {s: [] for s in Source}
        for det in self.detectors:
            if det.consumes is Source.CLOUDTRAIL and det.event_names is not None:
                for name in det.event_names:
                    self._route_names.setdefault(name, []).append(det)
            elif det.consumes is Source.CLOUDTRAIL:
                self._every_ct.append(det)
            else:
                self._by_source[det.consumes].append(det)

    # -- entry point ---------------------------------------------------------------------
    def scan(self, paths: Iterable[str | Path]) -> ScanReport:
        started = time.perf_counter()
        report = self.report = ScanReport(problems=list(self._list_problems))
        for inv_path in walk(self.settings.inventory):
            self._load_inventory(inv_path, read(inv_path).data)
        files = list({p.resolve(): p for p in reversed(list(walk(paths)))}.values())[::-1]  # overlapping paths: each file once
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
            self._load_inventory(path, read(path).data)
        else:
            try:
                raw = read(path)
            except OSError as exc:
                self._quarantine("", [Problem(str(path), f"unreadable: {exc.strerror or exc}")], fatal=True)
                report.files_done += 1
                return
            key = str(path.resolve())
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
        key = str(path.resolve())
        try:
            raw = read(path)
        except OSError as exc:
            self._quarantine("", [Problem(str(path), f"unreadable: {exc.strerror or exc}")], fatal=True)
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
            if pending.kind is Kind.FLOW and len(parsed):
                self.inventory.learn_flows(parsed.events)
                parsed.events = mark_listed(parsed.events, self.intel.ip)
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
        key = str(run.path.resolve())
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
        if piece.kind is Kind.CLOUDTRAIL:
            self._cloudtrail(events)
        else:
            for det in self._by_source[Source.FLOW if piece.kind is Kind.FLOW else Source.DNS]:
                self._run(det, events)

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

    def _cloudtrail(self, events: list[ApiCall]) -> None:
        route = self._route_names
        routed: dict[int, tuple[Detector, list[ApiCall]]] = {}
        launches: list[ApiCall] = []
        sessions: dict[str, ApiCall] = {}  # instance-role sessions, one event per distinct session
        for e in events:
            targets = route.get(e.event_name)
            if targets is not None:
                for det in targets:
                    slot = routed.get(id(det))
                    if slot is None:
                        slot = routed[id(det)] = (det, [])
                    slot[1].append(e)
            pid = e.user_identity.principal_id
            if pid is not None and ":i-" in pid:
                sessions[pid] = e
            elif e.event_name == "RunInstances":
                launches.append(e)
        inventory = self.inventory
        for e in launches + [e for pid, e in sessions.items() if pid not in inventory.sessions_seen]:
            try:
                inventory.learn_api_call(e)
            except Exception as exc:  # an odd response document costs its inventory entry, nothing else
                self.report.problems.append(Problem(f"event {e.event_id}", f"{e.event_name} response not understood ({type(exc).__name__}: {exc})"))
        for det in self._every_ct:
            self._run(det, events)
        for det, evs in routed.values():
            self._run(det, evs)

    def _meter(self, month: str, account: str, source: Source, count: int, per_event: float) -> None:
        slot = self.changes.usage.setdefault((month, account, source.value), [0, 0])
        slot[0] += count
        slot[1] += int(count * per_event)

    def _run(self, det: Detector, events: Any) -> None:
        try:
            self._run_detector(det, events)
        except Exception as exc:  # a detector bug must not stop the others or lose the events
            self.report.problems.append(Problem(det.name, f"detector failed on a batch of {len(events)} events ({type(exc).__name__}: {exc})"))
            self.report.detector_errors += 1

    def _run_detector(self, det: Detector, events: Any) -> None:
        if det.stateful:
            keys = det.keys(events)
            state = self.state.get(det.name, keys, self.changes)
            occurrences, updated = det.run(events, state)
            self.state.put(det.name, updated, self.changes)
        else:
            occurrences, _ = det.run(events, {})
        if occurrences:
            self._emit(occurrences)

    # -- findings ------------------------------------------------------------------------
    def _emit(self, occurrences: list[Occurrence]) -> None:
        now = time.time()
        for occ in occurrences:
            occ = self.enrich(occ)
            # Trusted IPs suppress CloudTrail and flow findings before they exist (public IPs only).
            if occ.remote_ip and occ.feature_name != "DnsLogs" and self.trusted.ip(occ.remote_ip):
                self.report.suppressed_trusted += 1
                continue
            fid = finding_id(occ)
            finding = self.findings.get(fid) or self.store.finding(fid)
            if finding is None:
                finding = new_finding(occ, self.store.detector_id, now)
                self.report.findings_new += 1
            else:
                aggregate(finding, occ, now)
                if fid not in self.report.finding_ids:
                    self.report.findings_updated += 1
            self.findings[fid] = finding
            self.report.finding_ids.add(fid)
            self.changes.findings[fid] = finding

    # -- commit points -------------------------------------------------------------------
    def commit(self) -> None:
        ch = self.changes
        for key, run in self.open_runs.items():
            meta: _FileMeta = run.meta
            ch.checkpoints[key] = Checkpoint(key, meta.fingerprint, meta.kind.value, len(run), meta.consumed, False)
        if self.inventory.changed:
            ch.meta["inventory"] = msgspec.json.encode(self.inventory.to_state()).decode()
            self.inventory.changed = False
        self.store.commit(ch)
        self.changes = Changes()
        self._last_commit = time.monotonic()
        if self.progress:
            self.progress(self.report)
