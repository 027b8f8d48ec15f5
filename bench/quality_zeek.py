"""(b) Stratosphere, Slips and RITA Zeek captures, converted by zeek2aws into VPC flow and Route 53
logs and scanned one capture at a time.

Most of these captures are older than the packaged intelligence and private-address heavy, so few
threat-list hits are expected; and the behaviours they are known for (port scans, SSH brute force,
DGA bursts, beacons) belong to GuardDuty types Trailhound does not implement yet. Each capture's
``expect`` says what GuardDuty would raise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from quality_common import Sighting, scan
from zeek2aws import Converted, convert, write

STRATO = "stratosphere-security-datasets-for-testing"
SLIPS = "stratosphere-slips-test-dataset"
RITA = "rita-test-data"
# Types whose meaning is "the instance contacted a listed address" (GuardDuty: "is querying", "is communicating with").
CONTACT_TYPES = frozenset({"Backdoor:EC2/C&CActivity.B", "CryptoCurrency:EC2/BitcoinTool.B", "Trojan:EC2/BlackholeTraffic", "Trojan:EC2/DropPoint",
                           "UnauthorizedAccess:EC2/TorClient", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"})


@dataclass(frozen=True)
class Capture:
    name: str
    logs: tuple[str, ...]  # globs under shared/data
    expect: str
    local: tuple[tuple[str, str], ...] = ()  # monitored public address -> its VPC private address


CAPTURES = (
    Capture("strato-001 NjRAT", (f"{STRATO}/001-zeek-scenario-malicious/labeled-conn.log.gz",),
            "Backdoor:EC2/C&CActivity.B if the NjRAT C&C address is listed"),
    Capture("strato-002 Nmap scans", (f"{STRATO}/002-zeek-scenario-port-scanning/conn.log.gz",),
            "Recon:EC2/Portscan (not implemented); the scans are internal"),
    Capture("strato-003 AndroidTester RAT", (f"{STRATO}/003-zeek-scenario-malicious/*.log.gz",),
            "Backdoor:EC2/C&CActivity.B if the C&C (1337/tcp) is listed; Behavior:EC2/NetworkPortUnusual (not implemented)"),
    Capture("strato-005 Simda", (f"{STRATO}/005-zeek-scenario-malicious/conn.log.gz", f"{STRATO}/005-zeek-scenario-malicious/dns.log.gz"),
            "Trojan:EC2/DGADomainRequest.B (not implemented), .C!DNS for listed DGA names"),
    Capture("strato-008 attacked host", (f"{STRATO}/008-zeek-mixed/data/conn.log.labeled.gz",),
            "Recon:EC2/PortProbeUnprotectedPort when a listed scanner reaches an open port", (("147.32.81.167", "10.0.8.167"),)),
    Capture("strato-009 Kovter (DNS)", (f"{STRATO}/009-zeek-malicious/data/dns.log.labeled.gz",),
            "Backdoor:EC2/C&CActivity.B!DNS if Kovter's C&C names are listed"),
    Capture("strato-010 attacked host", (f"{STRATO}/010-zeek-mixed/data/conn.log.labeled.gz", f"{STRATO}/010-zeek-mixed/data/dns.log.labeled.gz"),
            "Recon:EC2/PortProbeUnprotectedPort when a listed scanner reaches an open port", (("147.32.83.234", "10.0.10.234"),)),
    Capture("strato-011 attacked host", (f"{STRATO}/011-zeek-mixed/data/conn.log.labeled.gz", f"{STRATO}/011-zeek-mixed/data/dns.log.labeled.gz"),
            "Recon:EC2/PortProbeUnprotectedPort when a listed scanner reaches an open port", (("147.32.83.165", "10.0.11.165"),)),
    Capture("strato-012 attacked host", (f"{STRATO}/012-zeek-mixed/data/conn.log.labeled.gz", f"{STRATO}/012-zeek-mixed/data/dns.log.labeled.gz"),
            "Recon:EC2/PortProbeUnprotectedPort when a listed scanner reaches an open port", (("147.32.83.161", "10.0.12.161"),)),
    Capture("slips-18 RemcosRAT", (f"{SLIPS}/test18-malicious-ctu-sme-11-win/zeek-labeled/*.log.labeled.gz",),
            "Backdoor:EC2/C&CActivity.B for the RemcosRAT C&C / exfiltration addresses if listed"),
    Capture("slips-9 mixed", (f"{SLIPS}/test9-mixed-zeek-dir/conn.log.gz", f"{SLIPS}/test9-mixed-zeek-dir/dns.log.gz"),
            "UnauthorizedAccess:EC2/SSHBruteForce for 222.186.30.112 (not implemented)"),
    Capture("slips-10 mixed", (f"{SLIPS}/test10-mixed-zeek-dir/conn.log.gz", f"{SLIPS}/test10-mixed-zeek-dir/dns.log.gz"),
            "Recon:EC2/Portscan for 147.32.83.156's address scan (not implemented)"),
    Capture("slips port scans", (f"{SLIPS}/port-scans/*/conn.log.gz",), "Recon:EC2/Portscan (not implemented)"),
    Capture("rita Internet-facing server 24h", (f"{RITA}/missing_host/2024-04-19/conn.*.log.gz", f"{RITA}/missing_host/2024-04-19/dns.*.log.gz"),
            "UnauthorizedAccess:EC2/SSHBruteForce (not implemented); PortProbeUnprotectedPort for listed scanners",
            (("64.225.56.201", "10.0.5.20"),)),
    Capture("rita proxy beacon", (f"{RITA}/proxy/conn.log.gz", f"{RITA}/proxy/dns.log.gz"),
            "none: GuardDuty has no beacon type (RITA's beacon to www.honestimnotevil.com)"),
)


@dataclass
class CaptureResult:
    capture: Capture
    converted: Converted
    events: int
    findings: list[dict]
    sightings: list[Sighting]
    problems: int
    labels_hit: Counter[str] = field(default_factory=Counter)  # label -> sightings whose remote/domain carries it

    @property
    def flows(self) -> int:
        return len(self.converted.flow_lines)

    @property
    def types(self) -> Counter[str]:
        return Counter(f["type"] for f in self.findings)

    @property
    def remote_opened_contacts(self) -> dict[str, list[Sighting]]:
        """Contact-type findings raised only on connections the remote side opened (inbound, or the instance's reply)."""
        by_finding: dict[str, list[Sighting]] = defaultdict(list)
        for s in self.sightings:
            if s.type in CONTACT_TYPES:
                by_finding[s.finding_id].append(s)
        return {fid: ss for fid, ss in by_finding.items() if all(s.remote_opened for s in ss)}


def run_capture(shared: Path, work: Path, capture: Capture) -> CaptureResult:
    paths = sorted(p for pattern in capture.logs for p in shared.glob(pattern))
    converted = convert(paths, dict(capture.local) or None)
    folder = work / "zeek" / capture.name.replace(" ", "_")
    result = scan(write(converted, folder, capture.name.split()[0]))
    labels: Counter[str] = Counter()
    for s in result.sightings:
        found = converted.labels_by_domain.get(s.domain or "") or converted.labels_by_address.get(s.remote_ip or "")
        for label in found or {"(unlabelled)": 1}:
            labels[label] += 1
    return CaptureResult(capture, converted, result.report.events_total, result.findings, result.sightings,
                         len(result.report.problems), labels)


def run_zeek(shared: Path, work: Path) -> list[CaptureResult]:
    return [run_capture(shared, work, c) for c in CAPTURES]
