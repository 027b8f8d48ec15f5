"""Typed settings: the one place where defaults live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir


def default_db_path() -> Path:
    return Path(user_data_dir("trailhound", appauthor=False)) / "trailhound.db"


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
