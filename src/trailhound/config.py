"""Typed settings: the one place where defaults live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir


def default_db_path() -> Path:
    return Path(user_data_dir("trailhound", appauthor=False)) / "trailhound.db"


# A second writer of a store waits this long for the first to finish before giving up (--lock-wait).
STORE_LOCK_WAIT_S = 5.0


@dataclass
class ScanSettings:
    # GuardDuty ThreatIntelSet / ThreatEntitySet files (IPs, CIDRs, domains), "PATH" or "FORMAT:PATH"
    threat_lists: list[str | Path] = field(default_factory=list)
    trusted_lists: list[str | Path] = field(default_factory=list)  # GuardDuty IPSet (trusted IP) files
    builtin_intel: bool = True  # the packaged Tor, C&C, mining, sinkhole, scanner and DGA lists
    inventory: list[Path] = field(default_factory=list)  # describe-instances JSON files or folders
    geoip_mmdb: list[Path] = field(default_factory=list)  # operator MaxMind-format databases, tried before the bundled data
    default_region: str = "us-east-1"  # for findings from logs that do not name their region
    # Events across files and sources are merged in time order to within this many seconds.
    order_quantum_s: float = 60.0
    # Commit findings, state and checkpoints together at least this often (wall seconds).
    commit_interval_s: float = 5.0
    # The watermark trails the latest event time by this much: behaviour windows are judged once it
    # passes their end, and a row arriving later than that is too late for them (counted, not used).
    # It must exceed order_quantum_s, the disorder the time-ordered merge allows.
    allowed_lateness_s: float = 300.0
    # At the end of a scan (a bounded input) open behaviour windows report what they hold; a later
    # scan that completes them does not report them twice.
    flush_at_end: bool = True
    # A file that decompresses to more than this is not read (quarantined with that reason): parsing a flow
    # log takes about 4x its decompressed size, so this keeps a scan under ~1 GB whatever the input.
    max_file_mb: float = 192.0
    # Files of one kind (and flow-log header) that are next in time are decoded as one batch: up to this
    # many files, and no more decompressed bytes than batch_mb beyond the first file (parsing a batch
    # of flow logs takes about 4x that). AWS delivers many small files: each would cost ~2 ms alone.
    batch_files: int = 1000
    batch_mb: float = 4.0
    # ...and whose estimated starts lie within this span of the first one: a batch's events wait in
    # memory until their time comes, so memory must not grow with the time a batch covers.
    batch_span_s: float = 6 * 3600.0
    # Worker processes that plan and read files while this one decodes and detects in event time
    # (-1: every core but one; 0: none), used when a scan has at least pool_min_files files.
    workers: int = 0
    pool_min_files: int = 2000
    state_cache_entries: int = 200_000  # keyed detector states kept decoded in memory (the rest in the store)
    finding_cache_entries: int = 20_000  # findings kept in memory for aggregation (the rest in the store)


def configure_threads() -> None:
    """One pipeline process works on one core (scale out with processes or Spark tasks, not threads):
    Polars' thread pool only adds scheduling overhead on the small per-file frames it gets here.
    Called by the command line before Polars is imported; a library user keeps their own setting."""
    import os

    os.environ.setdefault("POLARS_MAX_THREADS", "1")


def master_key_path(db: str | Path) -> Path:
    """Where the key that seals API secrets lives: beside a SQLite store; in the user data dir for PostgreSQL
    (or TRAILHOUND_MASTER_KEY in the environment, for either)."""
    text = str(db)
    if text.startswith(("postgresql", "postgres:")):
        return Path(user_data_dir("trailhound", appauthor=False)) / "master.key"
    return Path(text.removeprefix("sqlite:///") + ".key")


DEFAULT_LISTEN = "127.0.0.1:8743"  # the API's address: loopback unless asked otherwise
