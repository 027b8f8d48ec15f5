"""``trailhound serve`` and ``trailhound credentials``: the API's commands."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from sqlalchemy import Connection

from trailhound.config import DEFAULT_LISTEN, default_db_path, master_key_path

SHUTDOWN_WAIT_S = 120.0  # on SIGTERM: how long the batch in hand may take to finish and commit
credentials_app = typer.Typer(no_args_is_help=True, help="Access keys for the API (SigV4, as AWS's).")
DbOption = Annotated[Optional[str], typer.Option("--db", help="The store: a SQLite file, or postgresql://user@host/db.")]
KeyOption = Annotated[Optional[Path], typer.Option("--master-key", help="The file of the key that seals API secrets. "
                                                   "Default: <db>.key beside a SQLite store; the user data dir for PostgreSQL.")]


def _store(db: str | None, *, service: bool) -> object:
    from trailhound.store.database import Store, StoreError

    try:
        return Store(db or default_db_path(), service=service)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _master_key(db: str | None, path: Path | None) -> bytes:
    from trailhound.api.keys import SealError, load_or_create_master_key

    try:
        return load_or_create_master_key(path or master_key_path(db or default_db_path()))
    except SealError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@credentials_app.command("create")
def credentials_create(
    account: Annotated[str, typer.Option("--account", help="The 12-digit AWS account id the key acts as.")],
    admin: Annotated[bool, typer.Option("--admin", help="A delegated administrator: may add member accounts and see their findings.")] = False,
    db: DbOption = None,
    master_key: KeyOption = None,
) -> None:
    """Make an access key; prints {"AccessKeyId", "SecretAccessKey"} once (the store keeps the secret sealed)."""
    if not account.isdigit() or len(account) != 12:
        typer.echo(f"error: --account {account!r}: an AWS account id is 12 digits", err=True)
        raise typer.Exit(2)
    key = _master_key(db, master_key)
    store = _store(db, service=True)
    key_id, secret = issue_key(store.connect(), key, account, admin)  # type: ignore[attr-defined]
    typer.echo(json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret}))


def issue_key(conn: Connection, master_key: bytes, account: str, admin: bool = False) -> tuple[str, str]:
    """A new access key of `account`, its secret sealed in the store; (access key id, secret)."""
    from trailhound.api.context import now_iso
    from trailhound.api.keys import new_key, seal
    from trailhound.store import tables as t
    from trailhound.store.database import transaction

    key_id, secret = new_key(account)
    with transaction(conn) as c:
        c.execute(t.credentials.insert().values(access_key_id=key_id, account_id=account, admin=admin,
                                                secret=seal(secret, master_key, key_id), created_at=now_iso()))
    return key_id, secret


def _load_config(ctx: typer.Context, path: Optional[Path]) -> Optional[Path]:
    """--config (eager): the file's settings and TRAILHOUND_* variables become the defaults of the options
    not given on the command line."""
    import os

    from trailhound.config import ConfigError, serve_settings

    try:
        ctx.default_map = {**(ctx.default_map or {}), **serve_settings(path, dict(os.environ))}
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    return path


def serve(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option("--config", is_eager=True, callback=_load_config,
                                                   help="A TOML file of these settings (db, listen, and tables follow, scan, export, log); "
                                                   "TRAILHOUND_<TABLE>_<KEY> variables override it, options override both.")] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="text, or json: one JSON object a line on stderr.")] = "text",
    db: DbOption = None,
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to answer on.")] = DEFAULT_LISTEN,
    master_key: KeyOption = None,
    source: Annotated[list[str], typer.Option("--source", help="Follow this log folder or s3://BUCKET/PREFIX (repeatable): "
                                              "read what is there, then what arrives.")] = [],
    s3_endpoint: Annotated[Optional[str], typer.Option("--s3-endpoint", help="URL of an S3-compatible store, instead of AWS.")] = None,
    sqs_queue: Annotated[Optional[str], typer.Option("--sqs-queue", help="URL of an SQS queue of the buckets' S3 event notifications: "
                                                   "new objects are read as they are named; listing stays the fallback.")] = None,
    list_interval_s: Annotated[float, typer.Option("--list-interval-s", help="With --sqs-queue: list the prefixes this often.")] = 300.0,
    sqs_visibility_s: Annotated[int, typer.Option("--sqs-visibility-s", help="Seconds a received notification stays hidden "
                                                  "while its objects are read (redelivered after, unless deleted).")] = 900,
    allowed_lateness_s: Annotated[float, typer.Option("--allowed-lateness-s", help="A log object this far behind its source's "
                                                      "watermark is counted late (and still read).")] = 900.0,
    poll_s: Annotated[float, typer.Option("--poll-s", help="Seconds between looks for new log objects.")] = 30.0,
    commit_interval_s: Annotated[float, typer.Option("--commit-interval-s", help="Commit findings, detector state and checkpoints "
                                                     "together at least this often while reading.")] = 5.0,
    threat_list: Annotated[list[str], typer.Option("--threat-list", help="Threat list, as for scan.")] = [],
    trusted_list: Annotated[list[str], typer.Option("--trusted-list", help="Trusted IP list, as for scan.")] = [],
    inventory: Annotated[list[Path], typer.Option("--inventory", help="EC2 describe-instances JSON file or folder.")] = [],
    geoip_mmdb: Annotated[list[Path], typer.Option("--geoip-mmdb", help="MaxMind-format City/ASN database, as for scan.")] = [],
    max_file_mb: Annotated[float, typer.Option("--max-file-mb", help="Log objects larger than this are quarantined, not read.")] = 192.0,
    lock_wait: Annotated[float, typer.Option("--lock-wait", help="Seconds to wait while another trailhound process writes to the store.")] = 5.0,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST each new or updated finding here, in EventBridge's envelope.")] = None,
    webhook_secret: Annotated[Optional[str], typer.Option("--webhook-secret", envvar="TRAILHOUND_WEBHOOK_SECRET",
                                                          help="Sign webhook bodies: X-Trailhound-Signature: sha256=<hex HMAC>.")] = None,
    webhook_attempts: Annotated[int, typer.Option("--webhook-attempts", help="Tries of a delivery before it goes to the dead-letter file.")] = 5,
    webhook_backoff_s: Annotated[float, typer.Option("--webhook-backoff-s", help="Wait before the first retry (doubled after each).")] = 2.0,
    dead_letter: Annotated[Optional[Path], typer.Option("--dead-letter", help="JSON lines of events that could not be delivered. "
                                                        "Default: <db>.dead-letter.jsonl (the user data dir for PostgreSQL).")] = None,
    export_file: Annotated[Optional[str], typer.Option("--export-file", help="Append each new or updated finding's event as a JSON line "
                                                       "to this file (- for stdout).")] = None,
    export_s3: Annotated[Optional[str], typer.Option("--export-s3", help="Write findings to s3://BUCKET/PREFIX in GuardDuty's export layout "
                                                     "(gzipped JSON lines; --s3-endpoint applies).")] = None,
    export_format: Annotated[str, typer.Option("--export-format", help="The body of exported findings: eventbridge (GuardDuty's "
                                               "EventBridge event) or ocsf (an OCSF Detection Finding, class 2004).")] = "eventbridge",
    export_delay_s: Annotated[float, typer.Option("--export-delay-s", help="New and updated findings go out within this many seconds "
                                                  "(GuardDuty: 5 minutes).")] = 300.0,
    workers: Annotated[int, typer.Option("--workers", help="Processes answering the API on the one socket (the follower and "
                                         "exporter run in the first only).")] = 1,
) -> None:
    """Answer GuardDuty's API (boto3, the aws cli, Terraform...) from the store; with --source, follow logs as
    they are delivered, and with --webhook or --export-file, send findings out as they happen."""
    import threading

    import uvicorn

    from trailhound.api.app import create_app

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        _usage(f"--listen {listen!r}: give HOST:PORT")
    if poll_s <= 0 or export_delay_s < 0 or webhook_attempts < 1 or webhook_backoff_s < 0:
        _usage("--poll-s must be above 0, --export-delay-s and --webhook-backoff-s at least 0, --webhook-attempts at least 1")
    if sqs_queue and not any(s.startswith("s3://") for s in source):
        _usage("--sqs-queue: give the s3:// --source its notifications are about")
    if log_format not in ("text", "json"):
        _usage(f"--log-format {log_format!r}: text or json")
    if export_format not in ("eventbridge", "ocsf"):
        _usage(f"--export-format {export_format!r}: eventbridge or ocsf")
    if webhook_secret and not webhook:
        _usage("--webhook-secret: give --webhook too")
    if workers < 1:
        _usage("--workers must be at least 1")
    from trailhound.export.logs import configure, notifier

    configure(log_format == "json")
    say = notifier("trailhound.serve", log_format == "json")
    key = _master_key(db, master_key)
    pool = _workers(host, int(port), workers, db, key) if workers > 1 else None
    store = _store(db, service=True)
    stop = threading.Event()
    servers: list[Any] = []

    def shut_down(signum: int, frame: Any) -> None:
        # ours before uvicorn's and after it (it hands a caught signal back on its way out): stop everything and
        # return, so the batch in hand is finished below instead of the process dying with the signal
        stop.set()
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, shut_down)
    threads: list[threading.Thread] = []
    follower = exporter = writer = display = None
    health: dict[str, Any] = {}
    try:
        if source:
            follower, writer = _follower(db, source, s3_endpoint, poll_s, threat_list, trusted_list, inventory, geoip_mmdb, max_file_mb,
                                         lock_wait, commit_interval_s, sqs_queue=sqs_queue, list_interval_s=list_interval_s,
                                         sqs_visibility_s=sqs_visibility_s, allowed_lateness_s=allowed_lateness_s)
            follower.notify = notifier("trailhound.follow", log_format == "json")
            display = _status_line(follower, log_format)
            if display is not None:
                follower.notify = display.say
            threads.append(threading.Thread(target=follower.run, args=(stop,), name="trailhound-follow", daemon=True))
            health["follow"] = follower.status
            health["sources"] = list(source)  # the console's sources page names them
        exporter = _exporter(store, db, webhook, webhook_secret, webhook_attempts, webhook_backoff_s, dead_letter, export_file,
                             export_delay_s, follower, export_s3=export_s3, s3_endpoint=s3_endpoint, export_format=export_format)
        if exporter is not None:
            exporter.notify = display.say if display is not None else notifier("trailhound.export", log_format == "json")
            threads.append(threading.Thread(target=exporter.run, args=(stop,), name="trailhound-export", daemon=True))
            health["export"] = exporter.status
        say(f"GuardDuty API for {store.path} on http://{host}:{port}"  # type: ignore[attr-defined]
            + (f"; following {', '.join(source)}" if source else ""))
        for thread in threads:
            thread.start()
        if display is not None:
            display.thread = threading.Thread(target=display.run, args=(stop,), name="trailhound-status", daemon=True)
            display.thread.start()
        app = create_app(store, key, health=lambda: health, scopes=pool.scopes() if pool else None,  # type: ignore[arg-type]
                         routes=[_metrics_route(store, follower, exporter)])
        if pool is not None:
            pool.serve(app, servers)
        else:
            server = uvicorn.Server(uvicorn.Config(app, host=host.strip("[]"), port=int(port), log_level="warning", access_log=False,
                                                   log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG))
            servers.append(server)
            server.should_exit = stop.is_set()
            server.run()
    finally:
        # SIGTERM/SIGINT (uvicorn returns): the follower finishes the chunk in hand and commits it, the exporter its
        # delivery; past SHUTDOWN_WAIT_S they are cut short, which the checkpoints and cursors make safe too
        if pool is not None:
            pool.stop()
        stop.set()
        if display is not None:
            say = display.say  # the last lines above the status line, which is taken away once they are said
        if threads:
            say("stopping: finishing the batch in hand")
        deadline = time.monotonic() + SHUTDOWN_WAIT_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if exporter is not None:
            exporter.close()
        if follower is not None:
            follower.close()
        if writer is not None:
            writer.close()
        if threads:
            say("stopped" if not any(t.is_alive() for t in threads) else "stopped before the batch in hand was finished")
        if display is not None:
            if display.thread is not None:
                display.thread.join(5)
            display.close()


def _status_line(follower: Any, log_format: str) -> Any:
    """A live status line when stderr is a terminal and the lines are text (else None: plain lines only)."""
    import sys

    from trailhound.export.terminal import StatusLine

    if log_format != "text" or not sys.stderr.isatty():
        return None
    return StatusLine(sys.stderr, follower.status)


def _metrics_route(store: Any, follower: Any, exporter: Any) -> Any:
    """GET /metrics, unsigned like /healthz: Prometheus text (counters, lag per source; no finding data)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from trailhound.export.metrics import CONTENT_TYPE, render

    def scrape() -> str:
        conn = store.connect()
        try:
            return render(follower.status if follower else None, exporter.status if exporter else None, conn)
        finally:
            if conn is not store.conn:
                conn.close()

    async def metrics(request: Request) -> Response:
        return Response(await run_in_threadpool(scrape), media_type=CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])


def _workers(host: str, port: int, count: int, db: str | None, key: bytes) -> Any:
    """Bind the socket and fork the other workers (before this process opens the store or starts a thread)."""
    from trailhound.api.app import create_app
    from trailhound.api.workers import Workers

    try:
        pool = Workers(host, port, count)
    except OSError as exc:
        typer.echo(f"error: --listen {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None

    def worker() -> None:
        store = _store(db, service=True)
        try:
            pool.serve(create_app(store, key, scopes=pool.scopes()))  # type: ignore[arg-type]
        finally:
            store.close()  # type: ignore[attr-defined]

    pool.fork(worker)
    return pool


def _usage(line: str) -> NoReturn:
    typer.echo(f"error: {line}", err=True)
    raise typer.Exit(2)


def _follower(db: str | None, source: list[str], s3_endpoint: str | None, poll_s: float, threat_list: list[str], trusted_list: list[str],
              inventory: list[Path], geoip_mmdb: list[Path], max_file_mb: float, lock_wait: float,
              commit_interval_s: float, **follow: Any) -> tuple[Any, Any]:
    from trailhound.config import ScanSettings
    from trailhound.sources.follow import Follower, FollowSettings
    from trailhound.store.database import Store, StoreError

    for s in source:
        if s.startswith("s3://"):
            continue
        if not Path(s).exists():  # a folder may come and go later, but a mistyped one should say so now
            typer.echo(f"warning: --source {s}: no such folder yet (looked for every {poll_s:g} s)", err=True)
    try:
        writer = Store(db or default_db_path(), lock_wait_s=lock_wait)  # the follower is the store's one writer, as a scan is
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    settings = ScanSettings(threat_lists=threat_list, trusted_lists=trusted_list, inventory=inventory, geoip_mmdb=geoip_mmdb,
                            max_file_mb=max_file_mb, commit_interval_s=commit_interval_s)
    try:
        follower = Follower(writer, settings, source, FollowSettings(poll_s=poll_s, s3_endpoint=s3_endpoint, **follow))
    except (ValueError, FileNotFoundError) as exc:
        writer.close()
        _usage(f"--source/lists: {exc}")
    return follower, writer


def _exporter(store: Any, db: str | None, webhook: str | None, secret: str | None, attempts: int, backoff_s: float,
              dead_letter: Path | None, export_file: str | None, delay_s: float, follower: Any, export_s3: str | None = None,
              s3_endpoint: str | None = None, export_format: str = "eventbridge") -> Any:
    from trailhound.export.delivery import Exporter, ExportSettings, FileDestination, WebhookDestination

    destinations: list[Any] = []
    if webhook:
        try:
            destinations.append(WebhookDestination(webhook, secret))
        except ValueError as exc:
            _usage(str(exc))
    if export_file:
        destinations.append(FileDestination(export_file))
    if export_s3:
        from trailhound.export.s3_destination import S3Destination

        try:
            destinations.append(S3Destination(export_s3, s3_endpoint))
        except ValueError as exc:
            _usage(f"--export-s3: {exc}")
    if not destinations:
        return None
    if dead_letter is None:
        base = str(db or default_db_path())
        dead_letter = (master_key_path(base).parent / "dead-letter.jsonl" if base.startswith(("postgresql", "postgres:"))
                       else Path(base.removeprefix("sqlite:///") + ".dead-letter.jsonl"))
    settings = ExportSettings(delay_s=delay_s, attempts=attempts, backoff_s=backoff_s, dead_letter=dead_letter, format=export_format)
    return Exporter(store, destinations, settings, horizon=follower.committed_before if follower is not None else None)
