"""Shared pieces of the detection-quality benchmark: a scanner that keeps every sighting, and
small helpers to write logs the way AWS delivers them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trailhound.config import ScanSettings
from trailhound.findings.model import Finding, Occurrence, to_wire
from trailhound.pipeline import Scanner, ScanReport
from trailhound.store.database import Store

# shared/ lies beside the checkout (as in tests/conftest.py)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Sighting:
    """One occurrence that became (part of) a stored finding, with what identifies its record."""

    type: str
    time: float
    finding_id: str
    api: str | None = None
    remote_ip: str | None = None
    domain: str | None = None
    local_port: int | None = None
    remote_port: int | None = None
    direction: str | None = None  # INBOUND / OUTBOUND for network connections
    blocked: bool = False
    resource_key: str = ""

    @property
    def remote_opened(self) -> bool:
        """A connection the remote side opened: the local end has the service (lower) port.
        Its egress half is the instance's reply, not the instance contacting the remote."""
        return self.local_port is not None and self.remote_port is not None and self.local_port < self.remote_port


def _sighting(occ: Occurrence, fid: str) -> Sighting:
    action = to_wire(occ.action)
    api = (action.get("awsApiCallAction") or {}).get("api")
    domain = (action.get("dnsRequestAction") or {}).get("domain")
    net = action.get("networkConnectionAction") or {}
    probes = (action.get("portProbeAction") or {}).get("portProbeDetails") or [{}]
    remote = occ.remote_ip or _ip(net.get("remoteIpDetails")) or _ip(probes[0].get("remoteIpDetails"))
    port = (net.get("localPortDetails") or probes[0].get("localPortDetails") or {}).get("port")
    return Sighting(occ.type, occ.time, fid, api, remote, domain.lower() if domain else None, port,
                    (net.get("remotePortDetails") or {}).get("port"), net.get("connectionDirection"), bool(net.get("blocked")), occ.resource_key)


def _ip(details: dict[str, Any] | None) -> str | None:
    return (details or {}).get("ipAddressV4") or (details or {}).get("ipAddressV6")


class RecordingScanner(Scanner):
    """A Scanner that also keeps each occurrence it turns into a finding.

    A stored finding folds every recurrence of its type on a resource into one record (count, the
    latest action), so it cannot say which records raised it; the benchmark needs exactly that."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sightings: list[Sighting] = []

    def _emit(self, occurrences: list[Occurrence]) -> list[tuple[Occurrence, Finding, bool]]:
        added = super()._emit(occurrences)
        self.sightings.extend(_sighting(occ, finding.id) for occ, finding, _ in added)  # suppressed ones are not among them
        return added


@dataclass
class ScanResult:
    report: ScanReport
    findings: list[dict[str, Any]]
    sightings: list[Sighting] = field(default_factory=list)

    @property
    def types(self) -> set[str]:
        return {f["type"] for f in self.findings}


def scan(paths: Iterable[str | Path], db: str | Path = ":memory:", **settings: Any) -> ScanResult:
    scanner = RecordingScanner(Store(db), ScanSettings(**settings))
    report = scanner.scan(list(paths))
    findings = list(scanner.store.findings())
    ids = {f["id"] for f in findings}
    return ScanResult(report, findings, [s for s in scanner.sightings if s.finding_id in ids])


def epoch(text: str) -> float:
    """CloudTrail / Route 53 timestamp text -> epoch seconds."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_cloudtrail(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), mtime=0))
    return path


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    return path


def per_100k(count: int, total: int) -> float:
    return 100_000 * count / total if total else 0.0


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


def md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)
