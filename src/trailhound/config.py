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
    # operator lists of commercial VPN ranges (a MISP warninglist list.json or CIDRs a line), beside the shipped
    # IPv4 one: MISP's vpn-ipv6 carries no licence, so it is given here, not packaged (``enrich.vpn``)
    vpn_lists: list[Path] = field(default_factory=list)
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
    batch_span_s: float = 24 * 3600.0
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


# ---- serve's settings from a TOML file (serve --config) and TRAILHOUND_* variables ---------------
# One row a setting: its TOML key ([section] key), its type, and the serve option it fills. The
# environment variable is TRAILHOUND_ + the key with dots as underscores, upper-case
# (follow.poll_s -> TRAILHOUND_FOLLOW_POLL_S; lists comma-separated). The command line wins over the
# environment, the environment over the file, the file over the defaults.
SERVE_KEYS: dict[str, tuple[type, str]] = {
    "db": (str, "db"),
    "listen": (str, "listen"),
    "log.format": (str, "log_format"),
    "follow.sources": (list, "source"),
    "follow.s3_endpoint": (str, "s3_endpoint"),
    "follow.sqs_queue": (str, "sqs_queue"),
    "follow.sqs_visibility_s": (int, "sqs_visibility_s"),
    "follow.list_interval_s": (float, "list_interval_s"),
    "follow.poll_s": (float, "poll_s"),
    "follow.allowed_lateness_s": (float, "allowed_lateness_s"),
    "follow.commit_interval_s": (float, "commit_interval_s"),
    "scan.threat_lists": (list, "threat_list"),
    "scan.trusted_lists": (list, "trusted_list"),
    "scan.inventory": (list, "inventory"),
    "scan.geoip_mmdb": (list, "geoip_mmdb"),
    "scan.max_file_mb": (float, "max_file_mb"),
    "export.webhook": (str, "webhook"),
    "export.webhook_secret": (str, "webhook_secret"),
    "export.webhook_attempts": (int, "webhook_attempts"),
    "export.webhook_backoff_s": (float, "webhook_backoff_s"),
    "export.dead_letter": (str, "dead_letter"),
    "export.file": (str, "export_file"),
    "export.s3": (str, "export_s3"),
    "export.format": (str, "export_format"),
    "export.delay_s": (float, "export_delay_s"),
}


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used: one line naming it."""


def env_name(key: str) -> str:
    return "TRAILHOUND_" + key.replace(".", "_").upper()


def _typed(where: str, kind: type, value: object, env: bool = False) -> object:
    if kind is list:
        if env and isinstance(value, str):  # a variable holds one string: comma-separated (a file has TOML's arrays)
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string")
        return value
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise ConfigError(f"{where}: expected {what}, not {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {what}, not {value!r}") from None


def serve_settings(path: Path | None, environ: dict[str, str]) -> dict[str, object]:
    """serve's option name -> value, from the TOML file at ``path`` (if any) and then the environment."""
    import tomllib

    out: dict[str, object] = {}
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"--config {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--config {path}: not TOML ({exc})") from None
        flat: dict[str, object] = {}
        for name, value in doc.items():
            if isinstance(value, dict):
                flat.update((f"{name}.{k}", v) for k, v in value.items())
            else:
                flat[name] = value
        for key, value in flat.items():
            if key not in SERVE_KEYS:
                raise ConfigError(f"--config {path}: unknown setting {key!r} (known: {', '.join(sorted(SERVE_KEYS))})")
            kind, option = SERVE_KEYS[key]
            out[option] = _typed(f"--config {path}: {key}", kind, value)
    for key, (kind, option) in SERVE_KEYS.items():
        if (text := environ.get(env_name(key))) is not None:
            out[option] = _typed(env_name(key), kind, text, env=True)
    return out
