"""The ``trailhound`` command line. Commands only: the work happens in the modules they call."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trailhound.config import DEFAULT_LISTEN, STORE_LOCK_WAIT_S, ScanSettings, configure_threads, default_db_path, master_key_path

if TYPE_CHECKING:
    from trailhound.store.database import Store

configure_threads()  # before anything imports Polars
app = typer.Typer(add_completion=False, no_args_is_help=True, help="Threat detection for AWS logs, GuardDuty-style.")
# Piped output is read by people and grep alike: don't wrap it at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DbOption = Annotated[Optional[str], typer.Option("--db", help="The store: a SQLite file, or postgresql://user@host/db. Default: a SQLite file in the user data dir.")]
LockWaitOption = Annotated[float, typer.Option("--lock-wait", help="Seconds to wait while another trailhound process writes to the store.")]
MAX_PROBLEM_LINES = 20


def _fail(message: str) -> NoReturn:
    from trailhound.report import say

    say(err, "error:", "red", message)  # messages name user paths: printable, never markup
    raise typer.Exit(2)


def _check_output(option: str, path: Path | None, folder: bool = False) -> None:
    """Before any work: an output that cannot be written is a one-line error now, not a traceback after the scan."""
    from trailhound.outputs import file_problem, folder_problem

    if path is not None and (why := (folder_problem if folder else file_problem)(path)):
        _fail(f"{option} {path}: {why}")


def _check_findings_output(output: Path | None, store: Store, inputs: Iterable[Path] = ()) -> None:
    """Before any work: findings (JSON lines) go over nothing, an empty file or a previous findings export, never over
    the store, an input of this scan, or any other file, which would be destroyed (another application's database...)."""
    from trailhound.outputs import input_problem, overwrite_problem

    if output is None:
        return
    if str(output.resolve()) in store.own_files():
        _fail(f"-o {output}: is the store itself (--db); give the findings another file")
    if why := input_problem(output, inputs) or overwrite_problem(output):
        _fail(f"-o {output}: {why}")
    _check_output("-o", output)


@contextmanager
def _writing(option: str, path: Path) -> Iterator[None]:
    """An output that fails while written (disk full, I/O error): one line naming it and the OS error, not a traceback."""
    try:
        yield
    except OSError as exc:
        _fail(f"{option} {path}: cannot write it: {exc.strerror or exc}")


@contextmanager
def _stdout() -> Iterator[None]:
    """Standard output that fails (> /dev/full, a closed pipe): one line, or none for a reader that stopped (| head)."""
    try:
        yield
        sys.stdout.flush()
    except OSError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere, quietly, at exit
        if isinstance(exc, BrokenPipeError):
            raise typer.Exit(1) from None
        _fail(f"standard output: cannot write it: {exc.strerror or exc}")


def _open_store(db: str | Path | None, *, readonly: bool = False, lock_wait_s: float = STORE_LOCK_WAIT_S) -> Store:
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from trailhound.store.database import Store, StoreError

    target = db or default_db_path()
    try:
        return Store(target, readonly=readonly, lock_wait_s=lock_wait_s)
    except StoreError as exc:
        _fail(str(exc))
    except (sqlite3.Error, SQLAlchemyError) as exc:  # opened, but its first read failed
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        _fail(f"store {target}: cannot {'read' if readonly else 'open'} it: {reason[0] if reason else type(exc).__name__}")


@contextmanager
def _reading(store: Store) -> Iterator[None]:
    """A store of an older layout, or damaged since it was opened: one line, not a traceback."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (sqlite3.Error, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        _fail(f"store {store.path}: cannot read it: {reason[0] if reason else type(exc).__name__}")


def _run_scan(paths: list[Path], settings: ScanSettings, db: str | Path | None, output: Path | None, show_all: bool = False,
              lock_wait_s: float = STORE_LOCK_WAIT_S) -> int:
    from trailhound.pipeline import ScanReport, Scanner
    from trailhound.report import print_findings, print_problems, print_summary, say

    store = _open_store(db, lock_wait_s=lock_wait_s)  # first: it may create the folder -o names
    _check_findings_output(output, store, [*paths, *_input_files(settings)])
    progress: Progress | None = None
    task = None
    if sys.stderr.isatty():
        progress = Progress(
            TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
            TextColumn("{task.fields[events]:,} events · {task.fields[rate]:,.0f}/s"), TimeElapsedColumn(), console=err,
        )
        task = progress.add_task("scan", total=None, events=0, rate=0.0)
        progress.start()
    import time

    started = time.perf_counter()

    def on_progress(report: ScanReport) -> None:
        if progress is not None and task is not None:
            elapsed = max(1e-6, time.perf_counter() - started)
            progress.update(task, total=report.files_total, completed=report.files_done, events=report.events_total, rate=report.events_total / elapsed)

    try:
        scanner = Scanner(store, settings, progress=on_progress)
        report = scanner.scan(paths)
    except FileNotFoundError as exc:
        say(err, "error:", "red", str(exc))
        return 2
    except KeyboardInterrupt:  # Ctrl-C: each batch commits whole or not at all, so the store is as a kill would leave it
        say(err, "interrupted:", "yellow", "what was committed stays committed; scan the same paths again to continue from there")
        return 130
    except Exception as exc:  # what was committed stays committed; say what failed in one line
        if os.environ.get("TRAILHOUND_DEBUG"):
            raise
        say(err, "error:", "red", f"scan stopped: {type(exc).__name__}: {exc} (set TRAILHOUND_DEBUG=1 for a traceback)")
        return 1
    finally:
        if progress is not None:
            progress.stop()
    print_problems(err, report.problems, MAX_PROBLEM_LINES)
    findings = list(store.findings())
    if show_all:
        print_findings(out, findings)
    print_summary(out, report, findings if show_all else [f for f in findings if f["id"] in report.finding_ids], store.count_findings())
    store.close()
    if output is not None:
        with _writing("-o", output), open(output, "wb") as fh:  # a previous export is overwritten
            fh.writelines(orjson.dumps(f) + b"\n" for f in findings)
        out.print(f"wrote {len(findings)} findings to {output}")
    return 0


def _input_files(settings: ScanSettings) -> list[Path]:
    """The files a scan reads besides its logs: lists (FORMAT:PATH or a path; URLs are not files), inventory, databases."""
    from trailhound.intel.formats import split_spec

    lists = [split_spec(item)[1] for item in [*settings.threat_lists, *settings.trusted_lists]]
    return [*(Path(p) for p in lists if "://" not in p), *settings.inventory, *settings.geoip_mmdb, *settings.vpn_lists]


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Log files and folders (walked recursively), plain or gzipped.")],
    threat_list: Annotated[list[str], typer.Option("--threat-list", help="Threat list of IPs, CIDRs and domains: TXT, STIX, OTX_CSV, ALIEN_VAULT, PROOF_POINT or FIRE_EYE, sniffed or given as FORMAT:PATH.")] = [],
    trusted_list: Annotated[list[str], typer.Option("--trusted-list", help="Trusted IP list (same formats): no CloudTrail/flow findings for these public IPs.")] = [],
    inventory: Annotated[list[Path], typer.Option("--inventory", help="EC2 describe-instances JSON file or folder.")] = [],
    geoip_mmdb: Annotated[list[Path], typer.Option("--geoip-mmdb", help="MaxMind-format City/ASN database (GeoLite2, DB-IP, IPinfo), used before the bundled data.")] = [],
    vpn_list: Annotated[list[Path], typer.Option("--vpn-list", help="Commercial VPN ranges (MISP warninglist list.json, e.g. vpn-ipv6, or CIDRs a line), beside the shipped IPv4 list.")] = [],
    db: DbOption = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write every finding as one JSON line to this file.")] = None,
    max_file_mb: Annotated[float, typer.Option("--max-file-mb", help="Files larger than this decompressed are quarantined, not read (bounds memory).")] = ScanSettings.max_file_mb,
    lock_wait: LockWaitOption = STORE_LOCK_WAIT_S,
    workers: Annotated[int, typer.Option("--workers", help="Processes that plan and read files beside the one that decodes and "
                                                          "detects (-1: every core but one; used on 2,000 files or more).")] = ScanSettings.workers,
) -> None:
    """Analyse log files and folders; a later scan continues where this one stopped."""
    settings = ScanSettings(threat_lists=threat_list, trusted_lists=trusted_list, inventory=inventory, geoip_mmdb=geoip_mmdb,
                            vpn_lists=vpn_list, max_file_mb=max_file_mb, workers=workers)
    raise typer.Exit(_run_scan(paths, settings, db, output, lock_wait_s=lock_wait))


@app.command("spark-job")
def spark_job(
    sources: Annotated[list[str], typer.Argument(help="Folders or URIs the logs are delivered to (s3://bucket/AWSLogs/ through boto3, "
                                                           "s3a:// through Hadoop's connector); each is watched for new files.")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Spark's checkpoint folder or URI: which files are done, and the detectors' state. "
                                            "Restarting with the same one resumes where the job stopped.")],
    db: DbOption = None,
    master: Annotated[str, typer.Option("--master", help="Spark master: local[N], spark://..., yarn, k8s://... (spark-submit's --master).")] = "local[2]",
    once: Annotated[bool, typer.Option("--once", help="Process the files there now, then stop (Spark's available-now trigger).")] = False,
    files_per_trigger: Annotated[Optional[int], typer.Option("--files-per-trigger", help="At most this many new files per micro-batch.")] = None,
    trigger_s: Annotated[float, typer.Option("--trigger-seconds", help="Without --once: how often a micro-batch starts.")] = 60.0,
    conf: Annotated[list[str], typer.Option("--conf", help="KEY=VALUE, a Spark setting (as spark-submit's --conf), repeatable.")] = [],
    threat_list: Annotated[list[str], typer.Option("--threat-list", help="As scan's (read by every executor: a path they all reach).")] = [],
    trusted_list: Annotated[list[str], typer.Option("--trusted-list", help="As scan's.")] = [],
    inventory: Annotated[list[Path], typer.Option("--inventory", help="As scan's: read once, into the store, where the executors read it.")] = [],
    geoip_mmdb: Annotated[list[Path], typer.Option("--geoip-mmdb", help="As scan's (a path every executor reaches).")] = [],
    vpn_list: Annotated[list[Path], typer.Option("--vpn-list", help="As scan's.")] = [],
    max_file_mb: Annotated[float, typer.Option("--max-file-mb", help="As scan's.")] = ScanSettings.max_file_mb,
    s3_endpoint: Annotated[Optional[str], typer.Option("--s3-endpoint", help="s3:// sources: URL of an S3-compatible store, instead of AWS.")] = None,
    s3_settle_s: Annotated[float, typer.Option("--s3-settle-seconds", help="s3:// sources: an object is read once it is this old "
                                               "(an upload in flight is listed with the time it began).")] = 120.0,
) -> None:
    """Run the detectors as an Apache Spark Structured Streaming job (needs the spark extra and Java 17+)."""
    try:
        from trailhound.spark.job import run_job
    except ImportError as exc:
        _fail(f"spark-job needs the spark extra (pip install 'trailhound[spark]'): {exc}")
    settings = ScanSettings(threat_lists=threat_list, trusted_lists=trusted_list, inventory=inventory, geoip_mmdb=geoip_mmdb,
                            vpn_lists=vpn_list, max_file_mb=max_file_mb)
    target = str(db or default_db_path())
    _open_store(target).close()  # a store that cannot be opened is named here, before Spark starts
    bad = [c for c in conf if "=" not in c]
    if bad:
        _fail(f"--conf {bad[0]}: expected KEY=VALUE")
    sink = run_job(sources, target, settings, checkpoint, master=master, once=once, files_per_trigger=files_per_trigger, trigger_s=trigger_s,
                   conf=dict(c.split("=", 1) for c in conf), s3_endpoint=s3_endpoint, s3_settle_s=s3_settle_s)
    out.print(f"{sink.batches} micro-batches written to the store ({sink.skipped} replayed and skipped); {sink.occurrences} occurrences")


@app.command()
def demo(
    keep: Annotated[Optional[Path], typer.Option("--keep", help="Write the sample estate here instead of a temporary folder.")] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the findings: the console and the API, with a key to sign in "
                                        "with (until Ctrl-C).")] = False,
    listen: Annotated[str, typer.Option("--listen", help="With --serve: HOST:PORT to answer on.")] = DEFAULT_LISTEN,
) -> None:
    """Write a small sample AWS estate with attacks in it, scan it, and show the findings."""
    from trailhound.simulator.labelled import simulate as run_simulation

    _check_output("--keep", keep, folder=True)
    with tempfile.TemporaryDirectory(prefix="trailhound-demo-") as tmp:
        root = keep or Path(tmp)
        # the demo is a small simulated estate: two days of habits, then the attack day
        estate = run_simulation(root, None, seed=2026, scale=0.75, days=2)
        out.print(f"sample estate: {estate.root} ({estate.describe()})")
        settings = ScanSettings(threat_lists=[estate.threat_list], trusted_lists=[estate.trusted_list], inventory=[estate.inventory])
        code = _run_scan([estate.logs], settings, root / "demo.db", None, show_all=True)
        if serve and code == 0:
            code = _serve_demo(root / "demo.db", listen)
    raise typer.Exit(code)


def _serve_demo(db: Path, listen: str) -> int:
    """The demo's findings in the console: an administrator key of the estate's first account (its other
    accounts its members, so it sees them all), printed with the console's address, then `serve`."""
    import subprocess

    from sqlalchemy import distinct, select

    from trailhound.api.commands import issue_key
    from trailhound.api.keys import load_or_create_master_key
    from trailhound.api.context import now_iso
    from trailhound.store import tables as t
    from trailhound.store.database import transaction

    store = _open_store(db)
    try:
        accounts = sorted(a for (a,) in store.conn.execute(select(distinct(t.findings.c.account_id))) if a)
        admin, members = (accounts[0], accounts[1:]) if accounts else ("111122223333", [])
        key_id, secret = issue_key(store.conn, load_or_create_master_key(master_key_path(db)), admin, admin=True)
        if members:
            with transaction(store.conn) as c:
                c.execute(t.members.insert(), [{"administrator_id": admin, "account_id": m, "email": f"{m}@example.com",
                                                "relationship_status": "Enabled", "invited_at": now_iso(), "updated_at": now_iso()}
                                               for m in members])
    finally:
        store.close()
    out.print(f"\nconsole: http://{listen}/console/ — sign in with access key {key_id} and secret {secret}"
              f"\n(account {admin}, administrator of {', '.join(members) or 'no other account'}); Ctrl-C stops it", highlight=False)
    try:
        return subprocess.run([sys.executable, "-m", "trailhound.cli", "serve", "--db", str(db), "--listen", listen]).returncode
    except KeyboardInterrupt:
        return 0


@app.command()
def findings(db: DbOption = None, include_archived: bool = False) -> None:
    """Print stored findings as JSON lines."""
    from trailhound.text import printable_json

    store = _open_store(db, readonly=True)
    with _reading(store), _stdout():
        for f in store.findings(include_archived=include_archived):
            sys.stdout.write(printable_json(orjson.dumps(f).decode()) + "\n")  # findings quote log content


@app.command()
def quarantine(db: DbOption = None) -> None:
    """List the files and records set aside as bad input."""
    from rich.text import Text

    from trailhound.formats.base import Problem

    store = _open_store(db, readonly=True)
    with _reading(store):
        rows = store.quarantined()
    with _stdout():
        for q in rows:
            out.print(Text(str(Problem(q["path"], q["message"], q["line"], q["record"], q["field"]))), highlight=False, soft_wrap=True)


@app.command()
def usage(db: DbOption = None) -> None:
    """Events and bytes analysed per month, account and source (GuardDuty's billing units)."""
    from trailhound.report import print_usage

    store = _open_store(db, readonly=True)
    with _reading(store):
        rows = store.usage()
    with _stdout():
        print_usage(out, rows)


@app.command()
def simulate(
    outdir: Annotated[Path, typer.Argument(help="Folder to write the estate into.")],
    finding: Annotated[list[str], typer.Option("--finding", help="A finding type to simulate (repeatable).")] = [],
    all_types: Annotated[bool, typer.Option("--all", help="Every finding type Trailhound detects.")] = False,
    seed: Annotated[int, typer.Option(help="Same seed, same logs.")] = 7,
    scale: Annotated[float, typer.Option(help="Multiplies the background activity.")] = 1.0,
    days: Annotated[int, typer.Option(help="Days of ordinary activity before the attack day.")] = 14,
    delivery: Annotated[str, typer.Option(help="aws: a small file per stream every 5-10 minutes, as AWS delivers; "
                                               "large: few big files (2,000 events or 10,000 lines each).")] = "aws",
) -> None:
    """Write a labelled AWS log estate: weeks of ordinary habits, then an attack day, and its ground truth."""
    from trailhound.simulator.labelled import simulate as run_simulation

    if not finding and not all_types:
        _fail("choose --finding TYPE (repeatable) or --all")
    if delivery not in ("aws", "large"):
        _fail(f"--delivery is aws or large, not {delivery!r}")
    _check_output("outdir", outdir, folder=True)
    try:
        estate = run_simulation(outdir, None if all_types else finding, seed=seed, scale=scale, days=days, delivery=delivery)
    except ValueError as exc:
        _fail(str(exc))
    out.print(f"wrote {estate.describe()} to {estate.logs}", highlight=False)
    out.print(f"ground truth: {estate.ground_truth}", highlight=False)
    out.print(f"scan it with: trailhound scan {estate.logs} --inventory {estate.inventory} "
              f"--threat-list {estate.threat_list} --trusted-list {estate.trusted_list}", highlight=False, soft_wrap=True)


@app.command("sample-findings")
def sample_findings_cmd(
    types: Annotated[Optional[list[str]], typer.Argument(help="Finding types (default: every implemented type).")] = None,
    db: DbOption = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Also write them as JSON lines to this file.")] = None,
    lock_wait: LockWaitOption = STORE_LOCK_WAIT_S,
) -> None:
    """Create one sample finding per type (GuardDuty's CreateSampleFindings) in the store."""
    from trailhound.findings.model import encode
    from trailhound.findings.samples import sample_findings
    from trailhound.store.database import Changes

    store = _open_store(db, lock_wait_s=lock_wait)
    _check_findings_output(output, store)
    try:
        samples = sample_findings(types or None, store.detector_id)
    except ValueError as exc:
        _fail(str(exc))
    store.commit(Changes(findings={f.id: f for f in samples}))
    if output is not None:
        with _writing("-o", output):  # a previous export is overwritten
            output.write_bytes(b"".join(encode(f) + b"\n" for f in samples))
    out.print(f"created {len(samples)} sample findings in {store.path}", highlight=False)


@app.command()
def types(markdown: Annotated[bool, typer.Option("--markdown", help="The README's table, as Markdown.")] = False) -> None:
    """Every finding type Trailhound raises: severity, data source, MITRE ATT&CK, and what raises it."""
    from rich.table import Table

    from trailhound.detectors import catalogue

    if markdown:
        sys.stdout.write(catalogue.markdown() + "\n")
        return
    table = Table(title="Finding types", title_justify="left")
    for col in ("Type", "Severity", "Data", "Kind", "MITRE ATT&CK", "Raised when"):
        table.add_column(col)
    for f, sources, how in catalogue.rows():
        table.add_row(f.name, f.severity.describe(), sources, how, f"{f.tactic}; {f.technique}", f.trigger)
    out.print(table)


@app.command()
def about() -> None:
    """Version, and the sources (with their licences) of the data shipped inside Trailhound."""
    import trailhound
    from trailhound.intel.builtin import packaged_manifest

    out.print(f"trailhound {trailhound.__version__}", highlight=False)
    out.print("IP geolocation by DB-IP (https://db-ip.com), licensed CC BY 4.0.", highlight=False)
    out.print("ASN data from RouteViews (https://www.routeviews.org), the NRO (https://www.nro.net) and DB-IP, licensed CC BY 4.0.", highlight=False)
    for entry in packaged_manifest()["lists"]:
        licence = entry.get("licence") or entry.get("license") or "see intel/data"
        out.print(f"threat list {entry['list_name']}: {entry.get('entries', '?')} entries, {licence}, {entry.get('source', '')}", highlight=False, soft_wrap=True)


intel_app = typer.Typer(no_args_is_help=True, help="Built-in threat intelligence: show it, refresh it.")
app.add_typer(intel_app, name="intel")


@intel_app.command("show")
def intel_show() -> None:
    """The lists in use: packaged snapshot or refreshed copy, category, size."""
    from rich.table import Table

    from trailhound.intel.builtin import builtin_index
    from trailhound.report import say

    index = builtin_index()
    table = Table(title="Threat intelligence in use", title_justify="left")
    for col in ("List", "Category", "IPs/CIDRs", "Domains"):
        table.add_column(col, justify="right" if col in ("IPs/CIDRs", "Domains") else "left")
    for name, info in sorted(index.lists().items()):
        table.add_row(name, ", ".join(c.value for c in info.categories), f"{info.ips:,}", f"{info.domains:,}")
    out.print(table)
    from trailhound.intel.benign import REASONS, SINKHOLE

    removed = Table(title="Known-benign filter: indicators taken out of the lists above, per list and benign set",
                    title_justify="left")
    for col in ("List", "Benign set", "Removed", "When", "Why", "Examples"):
        removed.add_column(col, justify="right" if col == "Removed" else "left")
    total = 0
    for name, f in sorted(index.benign_filtered.items()):
        rows = [(s, n, "removed") for s, n in f["removed"].items()] + [(s, n, "cut") for s, n in f["cut"].items()]
        if f["demoted_to_sinkhole"]:
            rows.append((SINKHOLE, f["demoted_to_sinkhole"], "demoted"))
        for s, n, how in sorted(rows, key=lambda r: -r[1]):
            total += n
            what = f"{n:,}" + ("" if how == "removed" else f" {how}")
            removed.add_row(name, s, what, "at build" if f["when"] == "build" else "at load", REASONS.get(s, s),
                            ", ".join(f["examples"].get(s, [])))
    if total:
        out.print(removed)
    out.print(f"{total:,} indicators filtered as known-benign (sinkholes demoted to Trojan:EC2/BlackholeTraffic, not removed); "
              "your own --threat-list is never filtered.", highlight=False)
    for p in index.problems:
        say(err, "problem", "yellow", str(p))


@intel_app.command("update")
def intel_update(
    source: Annotated[list[str], typer.Option("--source", help="NAME=CATEGORY=LOCATION: a path or http(s) URL, optionally FORMAT:-prefixed (e.g. tor=tor-exit=TXT:https://...).")] = [],
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON file: a list of {name, location, category, format?, threat_name?, list_name?}.")] = None,
    upstream: Annotated[bool, typer.Option("--upstream", help="Refresh every packaged list from its upstream URL.")] = False,
    extra: Annotated[bool, typer.Option("--extra", help="Also fetch feeds that may not be redistributed (ipsum).")] = False,
    directory: Annotated[Optional[Path], typer.Option("--dir", help="Where refreshed lists are kept (default: user data dir, or $TRAILHOUND_INTEL_DIR).")] = None,
) -> None:
    """Fetch threat lists from files or URLs you configure; a failed source keeps its previous copy."""
    import json

    from rich.text import Text

    from trailhound.intel.index import Category
    from trailhound.intel.update import SourceSpec, default_sources, extra_sources, update
    from trailhound.text import printable

    specs: list[SourceSpec] = []
    for item in source:
        try:
            name, category, location = item.split("=", 2)
            specs.append(SourceSpec(name, location, Category(category)))
        except ValueError:
            _fail(f"--source {item!r}: expected NAME=CATEGORY=LOCATION with CATEGORY one of " + ", ".join(c.value for c in Category))
    if config is not None:
        for d in json.loads(config.read_text()):
            specs.append(SourceSpec(d["name"], d["location"], Category(d["category"]), d.get("format"), d.get("threat_name"),
                                    d.get("list_name"), Category(d["ip_category"]) if d.get("ip_category") else None))
    if upstream:
        specs += default_sources()
    if extra:
        specs += extra_sources()
    if not specs:
        _fail("nothing to update: give --source, --config, --upstream or --extra")
    _check_output("--dir", directory, folder=True)
    report = update(specs, directory)
    for line in report.lines():  # names and errors of remote sources: printable, never markup
        out.print(Text(printable(line)), highlight=False, soft_wrap=True)
    raise typer.Exit(1 if report.failed else 0)


def _api_commands() -> None:
    from trailhound.api.commands import credentials_app, serve

    app.add_typer(credentials_app, name="credentials")
    app.command()(serve)


_api_commands()


if __name__ == "__main__":  # pragma: no cover  (after every command is registered: `python -m trailhound.cli serve`)
    app()
