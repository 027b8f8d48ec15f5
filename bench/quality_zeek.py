"""(b) Stratosphere, Slips and RITA Zeek captures, converted by zeek2aws into VPC flow and Route 53
logs and scanned one capture at a time.

Most of these captures are older than the packaged intelligence and private-address heavy, so few
threat-list hits are expected. Each capture's ``expect`` says what GuardDuty would raise.

Behaviour ground truth: a capture's ``scenarios`` name the attacker or scanner it is known for
(from its README, Zeek's notice.log or the Slips folder it comes from), or a stated rule derives
them from the Zeek log itself (RITA's server, which has no labels). A scenario is caught when a
finding of its type names the actor in its role: TARGET, the actor is the finding's remote address
(someone attacks our instance); ACTOR, the actor is the instance (GuardDuty's Portscan and
PortSweep are about *our* instance scanning others). Which hosts are "ours" is zeek2aws's
``--local`` choice, set per capture so that the monitored host is the one the scenario is about.

Benign traffic: each capture's ``benign`` part (the whole capture when nothing in its conn/dns logs
is an attack, the connections labelled Benign/Background, or the monitored host's own outbound
traffic) is converted and scanned again on its own: every finding there is a false positive.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_common import Sighting, scan
from zeek2aws import Converted, convert, read_zeek, write

from trailhound.detectors.beaconing import TYPE as BEACONING
from trailhound.detectors.brute_force import TYPES as BRUTE_FORCE
from trailhound.detectors.port_scan import PORTSCAN, PORTSWEEP

STRATO = "stratosphere-security-datasets-for-testing"
SLIPS = "stratosphere-slips-test-dataset"
RITA = "rita-test-data"
# Types whose meaning is "the instance contacted a listed address" (GuardDuty: "is querying", "is communicating with").
CONTACT_TYPES = frozenset({"Backdoor:EC2/C&CActivity.B", "CryptoCurrency:EC2/BitcoinTool.B", "Trojan:EC2/BlackholeTraffic", "Trojan:EC2/DropPoint",
                           "UnauthorizedAccess:EC2/TorClient", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"})
SSH_BRUTE_FORCE = BRUTE_FORCE["SSH"]
BEHAVIOUR_TYPES = frozenset({PORTSCAN, PORTSWEEP, BEACONING, *BRUTE_FORCE.values()})
Record = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """An attacker or scanner a capture is known for, and the finding that should name it."""

    actor: str  # its address as the Zeek log has it
    type: str  # the GuardDuty type; "" when GuardDuty has none for it
    role: str  # TARGET: the actor is the finding's remote address; ACTOR: the actor is the (monitored) instance
    truth: str  # where the ground truth comes from
    out_of_scope: str = ""  # why it is shown but not counted in recall


@dataclass(frozen=True)
class Part:
    """Which Zeek records of a capture are benign."""

    description: str
    keep: Callable[[str, Record], bool]  # (log kind, record) -> benign


def _labelled(*labels: str) -> Part:
    return Part(f"connections labelled {' or '.join(labels)}", lambda kind, rec: (rec.get("label") or "").split(" ")[0] in labels)


ICMP_ERRORS = frozenset({"3", "11", "12"})  # unreachable, time exceeded, parameter problem: answers to someone else's packet


def _opened_by(host: str) -> Part:
    def keep(kind: str, rec: Record) -> bool:
        icmp_error = rec.get("proto") == "icmp" and str(rec.get("id.orig_p")) in ICMP_ERRORS
        return kind == "dns" or (rec.get("id.orig_h") == host and not icmp_error)

    return Part(f"connections {host} opened (not its ICMP errors answering probes), and its DNS queries", keep)


def _whole(why: str) -> Part:
    return Part(f"whole capture ({why})", lambda kind, rec: True)


# Ground truth derived from RITA's unlabelled server log.
SSH_SESSION_RULE = "Zeek recognised the SSH protocol (service ssh), the server answered (SYN-ACK in history) and it lasted under 60 s"
BURST, SUSTAINED, LOW_RATE = 20, 100, 25
LOW_RATE_WHY = f"low-rate guessing (rule C): under the detector's documented {BURST} sessions within 10 minutes"


def ssh_guessers(paths: list[Path], server: str) -> tuple[tuple[Scenario, ...], str]:
    """Sources of many short SSH login sessions to `server` (rules A, B and C of the note returned with them)."""
    times: dict[str, list[float]] = defaultdict(list)
    for path in paths:
        kind, _, records = read_zeek(path)
        if kind != "conn":
            continue
        for r in records:
            if (r.get("id.resp_h") == server and str(r.get("id.resp_p")) == "22" and r.get("service") == "ssh"
                    and "h" in (r.get("history") or "") and float(r.get("duration") or 0) < 60):
                times[r["id.orig_h"]].append(float(r["ts"]))
    out = []
    for src, ts in times.items():
        ts.sort()
        peak = max(bisect.bisect_right(ts, t + 600) - i for i, t in enumerate(ts))
        rule = "A" if peak >= BURST else "B" if len(ts) >= SUSTAINED else "C" if len(ts) >= LOW_RATE else ""
        if rule:
            truth = f"rule {rule}: {len(ts)} SSH sessions in the day, at most {peak} within 10 min"
            out.append((rule, -len(ts), Scenario(src, SSH_BRUTE_FORCE, "TARGET", truth, LOW_RATE_WHY if rule == "C" else "")))
    note = (f"Ground truth by rule, one SSH session = {SSH_SESSION_RULE}. A source is a brute-forcer if it opened ≥ {BURST} sessions "
            f"to {server} within some 10 minutes (rule A) or ≥ {SUSTAINED} in the day (rule B); rule C, ≥ {LOW_RATE} in the day but "
            f"never {BURST} within 10 minutes (distributed low-rate guessing), is shown but not counted.")
    return tuple(sc for *_, sc in sorted(out, key=lambda x: x[:2])), note


@dataclass(frozen=True)
class Capture:
    name: str
    logs: tuple[str, ...]  # globs under shared/data
    expect: str
    local: tuple[tuple[str, str], ...] = ()  # monitored address -> its VPC private address (itself if private)
    monitored: str = ""  # what the local choice means for the scenario
    scenarios: tuple[Scenario, ...] = ()
    derive: Callable[[list[Path]], tuple[tuple[Scenario, ...], str]] | None = None  # ground truth by a rule over the Zeek log
    benign: Part | None = None
    small: bool = False  # part of --small (CI)

    @property
    def monitored_hosts(self) -> str:
        if self.monitored or self.local:
            return self.monitored or ", ".join(h for h, _ in self.local)
        return "zeek2aws's default: Zeek's local flags, else private addresses"


RITA_SERVER = "64.225.56.201"
SHORT_BEACON = ("the capture lasts {minutes} minutes: a series seen in fewer than RITA's six busy hours earns no duration score, "
                "so it scores at most 0.75 (this one {score}) against the 0.8 needed")
SCANME = "45.33.32.156"
CAPTURES = (
    Capture("strato-001 NjRAT", (f"{STRATO}/001-zeek-scenario-malicious/labeled-conn.log.gz",),
            "Backdoor:EC2/C&CActivity.B if the NjRAT C&C address is listed", (), "zeek2aws's default: the infected 192.168.1.115 is private",
            (Scenario("192.168.1.115", BEACONING, "ACTOR", "labelled Malicious: NjRAT's C&C 41.108.179.197:1177, 237 connections about "
                      "every 12 s", SHORT_BEACON.format(minutes=45, score=0.72)),)),
    Capture("strato-002 Nmap scans", (f"{STRATO}/002-zeek-scenario-port-scanning/conn.log.gz",),
            "Recon:EC2/Portscan (ACTOR) for the scanning host; the scans are internal", (("172.16.1.11", "172.16.1.11"),),
            "the scanner only: its probes leave the instance, the scanned hosts are remote",
            (Scenario("172.16.1.11", PORTSCAN, "ACTOR", "README: one client 172.16.1.11 runs Nmap scans of 172.16.1.0/24, "
                      "192.168.1.0/24 and 10.0.2.0/24"),), small=True),
    Capture("strato-003 AndroidTester RAT", (f"{STRATO}/003-zeek-scenario-malicious/*.log.gz",),
            "Backdoor:EC2/C&CActivity.B if the C&C (1337/tcp) is listed; no Behavior:EC2/NetworkPortUnusual: the capture is shorter than "
            "the instance history (7 days) it needs"),
    Capture("strato-005 Simda", (f"{STRATO}/005-zeek-scenario-malicious/conn.log.gz", f"{STRATO}/005-zeek-scenario-malicious/dns.log.gz"),
            "Trojan:EC2/DGADomainRequest.B for the burst of generated names, .C!DNS for listed DGA names"),
    *(Capture(f"strato-{n} attacked host", (f"{STRATO}/{n}-zeek-mixed/data/conn.log.labeled.gz",) + dns,
              "Recon:EC2/PortProbeUnprotectedPort when a listed scanner reaches an open port; no Portscan/PortSweep/BruteForce: "
              "the labelled attacks are inbound probes, nearly all unanswered (S0)", ((host, private),),
              "the attacked Windows host: every labelled attack is inbound", benign=_labelled("Benign", "Background"))
      for n, host, private, dns in (("008", "147.32.81.167", "10.0.8.167", ()),
                                    ("010", "147.32.83.234", "10.0.10.234", (f"{STRATO}/010-zeek-mixed/data/dns.log.labeled.gz",)),
                                    ("011", "147.32.83.165", "10.0.11.165", (f"{STRATO}/011-zeek-mixed/data/dns.log.labeled.gz",)),
                                    ("012", "147.32.83.161", "10.0.12.161", (f"{STRATO}/012-zeek-mixed/data/dns.log.labeled.gz",)))),
    Capture("strato-009 Kovter (DNS)", (f"{STRATO}/009-zeek-malicious/data/dns.log.labeled.gz",),
            "Backdoor:EC2/C&CActivity.B!DNS if Kovter's C&C names are listed"),
    Capture("slips-18 RemcosRAT", (f"{SLIPS}/test18-malicious-ctu-sme-11-win/zeek-labeled/*.log.labeled.gz",),
            "Backdoor:EC2/C&CActivity.B for the RemcosRAT C&C / exfiltration addresses if listed", (),
            "zeek2aws's default: the infected 192.168.1.107 is private",
            (Scenario("192.168.1.107", BEACONING, "ACTOR", "labelled Malicious: RemcosRAT's C&C 66.63.168.35:5888, 719 connections",
                      SHORT_BEACON.format(minutes=8, score=0.75)),), benign=_labelled("Benign")),
    Capture("slips-9 mixed", (f"{SLIPS}/test9-mixed-zeek-dir/conn.log.gz", f"{SLIPS}/test9-mixed-zeek-dir/dns.log.gz"),
            "none from conn/dns: notice.log's ICMP scans by 192.168.1.15 are not in conn.log", (),
            "private addresses (10.0.2.15, a Windows VM browsing)",
            (Scenario("192.168.1.15", "", "ACTOR", "notice.log: ICMP address, timestamp and address-mask scans of 255 hosts",
                      "ICMP: GuardDuty's Portscan/PortSweep are TCP; and the scanner has no record in conn.log"),),
            benign=_whole("conn/dns hold no attack: a Windows VM browsing")),
    Capture("slips-10 mixed", (f"{SLIPS}/test10-mixed-zeek-dir/conn.log.gz", f"{SLIPS}/test10-mixed-zeek-dir/dns.log.gz"),
            "none from conn/dns: notice.log's scan and SSH guessing are not in this 54-second conn.log",
            (("147.32.83.156", "10.0.83.156"), ("147.32.85.117", "10.0.85.117")),
            "notice.log's scanner 147.32.83.156 and the SSH server it names first, 147.32.85.117",
            (Scenario("147.32.83.156", PORTSWEEP, "ACTOR", "notice.log: Scan::Address_Scan, ≥ 25 hosts on 23, 2323, 8080/tcp",
                      "conn.log has only its web traffic, not the scan; and 25 hosts is under PortSweep's 100"),
             Scenario("222.186.30.112", SSH_BRUTE_FORCE, "TARGET",
                      "notice.log: SSH::Password_Guessing, 30 connections to 147.32.85.117 and others", "no record of it in conn.log")),
            benign=_whole("conn/dns hold none of notice.log's attacks")),
    Capture("slips horizontal scan", (f"{SLIPS}/port-scans/horizontal/conn.log.gz",),
            "Impact:EC2/PortSweep only at ≥ 100 public hosts; C&C types for listed addresses", (("10.0.2.112", "10.0.2.112"),),
            "the infected host 10.0.2.112",
            (Scenario("10.0.2.112", PORTSWEEP, "ACTOR",
                      "Slips folder port-scans/horizontal: 80/tcp to 26 public hosts in 5 s, 10 unanswered",
                      "10 unanswered hosts is far under PortSweep's 100 hosts in 16 /16 networks"),)),
    Capture("slips vertical scan", (f"{SLIPS}/port-scans/vertical/conn.log.gz",),
            f"Recon:EC2/Portscan (ACTOR) for the scanning host against {SCANME}", (("192.168.1.9", "192.168.1.9"),),
            f"the scanner 192.168.1.9 (also Zeek's local_orig); scanme.nmap.org {SCANME} is remote",
            (Scenario("192.168.1.9", PORTSCAN, "ACTOR", f"Slips folder port-scans/vertical: 44 ports of {SCANME} in 5 s"),), small=True),
    Capture("rita Internet-facing server 24h", (f"{RITA}/missing_host/2024-04-19/conn.*.log.gz", f"{RITA}/missing_host/2024-04-19/dns.*.log.gz"),
            "UnauthorizedAccess:EC2/SSHBruteForce (TARGET) per guessing source; PortProbeUnprotectedPort for listed scanners",
            ((RITA_SERVER, "10.0.5.20"),), f"the server {RITA_SERVER}: SSH guessing is inbound",
            derive=lambda paths: ssh_guessers(paths, RITA_SERVER), benign=_opened_by(RITA_SERVER), small=True),
    Capture("rita proxy beacon", (f"{RITA}/proxy/conn.log.gz", f"{RITA}/proxy/dns.log.gz"),
            f"{BEACONING} (ACTOR, a Trailhound extension: GuardDuty has no beacon type) for 10.136.0.18: through the proxy "
            "10.136.0.16:3128 its beacon is a series to the proxy's port", (), "zeek2aws's default: both hosts are private",
            (Scenario("10.136.0.18", BEACONING, "ACTOR", "RITA's tests assert its beacon to www.honestimnotevil.com through the proxy, "
                      "about every 250 s for 28 hours"),), small=True),
    Capture("rita home network", (f"{RITA}/proxy_rolling/conn.*.log.gz", f"{RITA}/proxy_rolling/dns.*.log.gz"),
            "none: two hours of a home network (1,365 host pairs: browsing, streaming, SSDP, updates)",
            benign=_whole("RITA's rolling fixture holds no labelled attack")),
)


@dataclass
class ScenarioResult:
    capture: str
    monitored: str
    scenario: Scenario
    records: int  # flow records with the actor's address
    matched: list[Sighting]  # sightings of the expected type naming the actor in its role
    other: Counter[str]  # other "type ROLE" sightings naming the actor

    @property
    def caught(self) -> bool:
        return bool(self.matched)

    @property
    def counted(self) -> bool:
        return bool(self.scenario.type) and not self.scenario.out_of_scope


@dataclass
class CaptureResult:
    capture: Capture
    converted: Converted
    events: int
    findings: list[dict]
    sightings: list[Sighting]
    problems: int
    labels_hit: Counter[str] = field(default_factory=Counter)  # label -> sightings whose remote/domain carries it
    scenarios: list[ScenarioResult] = field(default_factory=list)
    truth_note: str = ""  # how derived ground truth was made
    unexplained: list[dict] = field(default_factory=list)  # behaviour findings no scenario explains

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


@dataclass
class BenignResult:
    capture: str
    part: str
    events: int  # flow records + DNS queries
    findings: list[dict]

    @property
    def types(self) -> Counter[str]:
        return Counter(f["type"] for f in self.findings)

    @property
    def behaviour(self) -> list[dict]:
        return [f for f in self.findings if f["type"] in BEHAVIOUR_TYPES]


def role_and_local(finding: dict) -> tuple[str, str | None]:
    """A stored finding's resource role and its instance's address (flow findings: the local address of the latest action)."""
    service = finding.get("service") or {}
    net = (service.get("action") or {}).get("networkConnectionAction") or {}
    local = net.get("localIpDetails") or {}
    return service.get("resourceRole") or "", local.get("ipAddressV4") or local.get("ipAddressV6")


def _names(s: Sighting, finding: tuple[str, str | None], actor: str, private: str) -> bool:
    role, local = finding
    return s.remote_ip == actor if role == "TARGET" else local == private


def _paths(shared: Path, capture: Capture) -> list[Path]:
    return sorted(p for pattern in capture.logs for p in shared.glob(pattern))


def run_capture(shared: Path, work: Path, capture: Capture) -> CaptureResult:
    paths = _paths(shared, capture)
    local = dict(capture.local)
    converted = convert(paths, local or None)
    folder = work / "zeek" / capture.name.replace(" ", "_")
    result = scan(write(converted, folder, capture.name.split()[0]))
    labels: Counter[str] = Counter()
    for s in result.sightings:
        found = converted.labels_by_domain.get(s.domain or "") or converted.labels_by_address.get(s.remote_ip or "")
        for label in found or {"(unlabelled)": 1}:
            labels[label] += 1
    scenarios, note = capture.derive(paths) if capture.derive else ((), "")
    out = CaptureResult(capture, converted, result.report.events_total, result.findings, result.sightings,
                        len(result.report.problems), labels, truth_note=note)
    by_id = {f["id"]: f for f in result.findings}
    roles = {fid: role_and_local(f) for fid, f in by_id.items()}
    addresses: Counter[str] = Counter()
    for line in converted.flow_lines:
        addresses.update(line.split(" ", 5)[3:5])
    explained: set[int] = set()
    for sc in capture.scenarios + scenarios:
        private = local.get(sc.actor, sc.actor)
        naming = [(i, s, roles[s.finding_id][0]) for i, s in enumerate(result.sightings)
                  if _names(s, roles[s.finding_id], sc.actor, private)]
        explained.update(i for i, s, _ in naming if s.type in BEHAVIOUR_TYPES)
        matched = [s for _, s, role in naming if (s.type, role) == (sc.type, sc.role)]
        other = Counter(f"{s.type} {role}" for _, s, role in naming if (s.type, role) != (sc.type, sc.role))
        out.scenarios.append(ScenarioResult(capture.name, capture.monitored_hosts, sc, addresses[private], matched, other))
    unexplained = {s.finding_id for i, s in enumerate(result.sightings) if s.type in BEHAVIOUR_TYPES and i not in explained}
    out.unexplained = [by_id[fid] for fid in sorted(unexplained)]
    return out


def run_benign(shared: Path, work: Path, capture: Capture) -> BenignResult | None:
    """Convert and scan the capture's benign records alone (written back as Zeek JSON logs)."""
    if capture.benign is None:
        return None
    folder = work / "zeek-benign" / capture.name.replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    logs = []
    for i, path in enumerate(_paths(shared, capture)):
        kind, opened, records = read_zeek(path)
        kept = [_absolute(r, opened) for r in records if capture.benign.keep(kind, r)]
        if kept:
            logs.append(folder / f"{i}.{kind}.log")
            logs[-1].write_text("".join(json.dumps(r) + "\n" for r in kept))
    converted = convert(logs, dict(capture.local) or None)
    result = scan(write(converted, folder / "aws", capture.name.split()[0]))
    return BenignResult(capture.name, capture.benign.description, result.report.events_total, result.findings)


def _absolute(rec: Record, opened: float | None) -> Record:
    """A record whose relative timestamp (anonymised capture) is shifted to its log's #open time, as zeek2aws does."""
    ts = float(rec["ts"])
    return {**rec, "ts": ts + opened} if opened and ts < 1e8 else rec


def run_zeek(shared: Path, work: Path, small: bool = False) -> list[CaptureResult]:
    return [run_capture(shared, work, c) for c in CAPTURES if c.small or not small]


def run_zeek_benign(shared: Path, work: Path, small: bool = False) -> list[BenignResult]:
    return [b for c in CAPTURES if c.small or not small if (b := run_benign(shared, work, c))]
