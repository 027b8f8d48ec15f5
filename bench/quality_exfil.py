"""(b) DNS tunnelling sessions and benign long-label names: Trojan:EC2/DNSDataExfiltration.

Tunnels, each one session of an instance of its own, as Route 53 Resolver query logs:

* netrack's dns2tcp, dnscapy and iodine query names (lab captures without timestamps: replayed in
  their order at 4 queries a second, with the tools' record types: TXT for dns2tcp and dnscapy, NULL
  for iodine);
* the Elastic iodine capture, with its own timestamps and record types (``dns-tunnel-pcaps``);
* GuardDuty's tester pattern (900 long random labels under one domain), the detector's own case.

A session is detected when a DNSDataExfiltration finding names its instance. Benign: the netrack
plain names with the OpenDNS top and random lists as one busy instance's day, and each
benign-encoder family at volume (antivirus reputation, CDN/ELB/Lambda URL hashes, DKIM and ACME,
client-subnet probes, service discovery, AWS endpoints) on an instance of its own for an hour.
Precision: findings on tunnel sessions over all DNSDataExfiltration findings of these runs.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from quality_common import iso, scan, write_lines

from trailhound.detectors.dns_exfiltration import DNS_EXFILTRATION, analyse
from trailhound.detectors.dns_exfiltration import cases as exfil_cases

START = 1_793_577_600.0  # 2026-11-02T00:00:00Z
RATE = 4.0  # queries a second for captures without timestamps
QTYPES = {"1": "A", "5": "CNAME", "10": "NULL", "15": "MX", "16": "TXT", "28": "AAAA", "33": "SRV", "255": "ANY"}


@dataclass
class Session:
    name: str
    kind: str  # "tunnel" | "benign"
    queries: list[tuple[float, str, str]]  # (time, name, record type)
    instance: str = ""
    found: int = 0  # DNSDataExfiltration findings on this session's instance
    domains: set[str] = field(default_factory=set)

    @property
    def detected(self) -> bool:
        return self.found > 0

    @property
    def encoded_names(self) -> int:
        return sum(1 for _, n, _ in self.queries if analyse(n))


@dataclass
class ExfilResult:
    sessions: list[Session]
    queries: int

    def of_kind(self, kind: str) -> list[Session]:
        return [s for s in self.sessions if s.kind == kind]

    @property
    def recall(self) -> tuple[int, int]:
        tunnels = self.of_kind("tunnel")
        return sum(s.detected for s in tunnels), len(tunnels)

    @property
    def precision(self) -> tuple[int, int]:
        return sum(s.found for s in self.of_kind("tunnel")), sum(s.found for s in self.sessions)


def _netrack(shared: Path, tool: str) -> list[str]:
    with gzip.open(shared / "netrack-dns-tunneling-qnames" / f"{tool}_names.csv.gz", "rt") as fh:
        return [row["qname"] for row in csv.DictReader(fh)]


def _paced(names: list[str], qtype: str, rate: float = RATE, start: float = START) -> list[tuple[float, str, str]]:
    return [(start + i / rate, n, qtype) for i, n in enumerate(names)]


def tunnel_sessions(shared: Path) -> list[Session]:
    with gzip.open(shared / "dns-tunnel-pcaps" / "iodine_elastic_examples_dns.csv.gz", "rt") as fh:
        rows = [r for r in csv.DictReader(fh) if r["direction"] == "query"]
    t0 = float(rows[0]["ts"])
    elastic = [(START + float(r["ts"]) - t0, r["qname"], QTYPES.get(r["qtype"], r["qtype"])) for r in rows]
    tester = next(c for c in exfil_cases(datetime.fromtimestamp(START, UTC)) if c.name == "guardduty-tester-long-labels")
    tester_q = [(START + i * 0.2, r["query_name"], r["query_type"]) for i, r in enumerate(tester.records)]
    return [
        Session("netrack dns2tcp", "tunnel", _paced(_netrack(shared, "dns2tcp"), "TXT")),
        Session("netrack dnscapy", "tunnel", _paced(_netrack(shared, "dnscapy"), "TXT")),
        Session("netrack iodine", "tunnel", _paced(_netrack(shared, "iodine"), "NULL")),
        Session("elastic iodine pcap (pirate.sea)", "tunnel", elastic),
        Session("GuardDuty tester pattern", "tunnel", tester_q),
    ]


def benign_sessions(shared: Path, seed: int = 5) -> list[Session]:
    rnd = random.Random(seed)

    def tok(alphabet: str, n: int) -> str:
        return "".join(rnd.choice(alphabet) for _ in range(n))

    b32, hx = "abcdefghijklmnopqrstuvwxyz234567", "0123456789abcdef"

    def hour(make: object, qtype: str = "A", rate: float = 5.0) -> list[tuple[float, str, str]]:
        return _paced([make() for _ in range(int(3600 * rate))], qtype, rate)  # type: ignore[operator]

    lists = [*(_netrack(shared, "plain")),
             *(line.strip() for f in ("opendns-top-domains.txt", "opendns-random-domains.txt")
               for line in (shared / "opendns-public-domain-lists" / f).read_text().splitlines() if line.strip())]
    rnd.shuffle(lists)
    return [
        Session("netrack plain + OpenDNS top/random (one instance)", "benign", _paced(lists, "A", 0.5)),
        Session("McAfee GTI file reputation, 5/s", "benign", hour(lambda: f"0.{tok(b32, 52)}.avts.mcafee.com")),
        Session("Sophos Live Protection, 5/s", "benign", hour(lambda: f"{tok(hx, 40)}.{tok(hx, 24)}.4.sxl.sophosxl.net")),
        Session("ESET LiveGrid, 5/s (TXT)", "benign", hour(lambda: f"{tok(b32, 63)}.{tok(b32, 20)}.a.e5.sk", "TXT")),
        Session("Team Cymru hash registry, 2/s (TXT)", "benign", hour(lambda: f"{tok(hx, 40)}.malware.hash.cymru.com", "TXT", 2.0)),
        Session("CloudFront / ELB / Lambda URL hashes, 5/s", "benign", hour(lambda: rnd.choice([
            f"d{tok(hx, 13)}.cloudfront.net", f"internal-api-{tok(hx, 8)}-{rnd.randint(10**9, 10**10)}.us-east-1.elb.amazonaws.com",
            f"{tok(b32, 32)}.lambda-url.us-east-1.on.aws"]))),
        Session("S3 buckets, VPC endpoints, 5/s", "benign", hour(lambda: rnd.choice([
            f"logs-{tok(hx, 12)}-{rnd.randint(1, 999)}.s3.us-east-1.amazonaws.com",
            f"vpce-0{tok(hx, 16)}-{tok(b32, 8)}.sqs.us-east-1.vpce.amazonaws.com"]))),
        Session("DKIM selectors of many senders, 2/s (TXT)", "benign", hour(
            lambda: f"{tok(b32, 32)}._domainkey.{tok('abcdefghijklmnopqrstuvwxyz', 8)}.com", "TXT", 2.0)),
        Session("ACME challenges of one domain, 1/s (TXT)", "benign", hour(
            lambda: f"_acme-challenge.{rnd.choice(['api', 'www', 'app', 'vpn'])}-{rnd.randint(1, 400)}.example-corp.com", "TXT", 1.0)),
        Session("client-subnet probes, one every 20 s (TXT)", "benign", hour(lambda: f"{tok(hx, 16)}.ecs.probe-cdn.net", "TXT", 0.05)),
        Session("Kubernetes and ECS service discovery, 5/s", "benign", hour(lambda: rnd.choice([
            f"api-{tok(hx, 10)}-{tok(b32, 5)}.shop.svc.cluster.local", f"{tok(b32, 24)}.github.com.default.svc.cluster.local",
            f"{tok(hx, 32)}.tasks.prod.ecs.internal"]))),
    ]


def run_exfil(shared: Path, work: Path) -> ExfilResult:
    sessions = tunnel_sessions(shared) + benign_sessions(shared)
    lines = []
    for n, s in enumerate(sessions):
        s.instance = f"i-0e{n:015x}"
        ip = f"10.0.{40 + n}.17"
        for ts, name, qtype in s.queries:
            lines.append((ts, json.dumps({
                "version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": "vpc-0d15a7e5",
                "query_timestamp": iso(ts), "query_name": name.rstrip(".") + ".", "query_type": qtype, "query_class": "IN",
                "rcode": "NOERROR", "answers": [], "srcaddr": ip, "srcport": "53124", "transport": "UDP",
                "srcids": {"instance": s.instance}})))
    lines.sort(key=lambda x: x[0])
    path = write_lines(work / "dns-exfil" / "AWSLogs" / "111122223333" / "vpcdnsquerylogs" / "queries.log.gz", [line for _, line in lines])
    result = scan([path])
    by_instance = {s.instance: s for s in sessions}
    for f in result.findings:
        if f["type"] != DNS_EXFILTRATION:
            continue
        s = by_instance.get(f["resource"]["instanceDetails"]["instanceId"])
        if s is not None:
            s.found += 1
            s.domains.add(f["service"]["action"]["dnsRequestAction"]["domain"])
    return ExfilResult(sessions, len(lines))
