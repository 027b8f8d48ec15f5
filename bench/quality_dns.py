"""(b) DGA and DNS-tunnelling name lists, replayed as one instance's Route 53 Resolver query log.

Trailhound has no DGA heuristic (Trojan:EC2/DGADomainRequest.B); only list-based types can fire on
DGA names here, e.g. Trojan:EC2/DGADomainRequest.C!DNS for a DGA domain on a packaged list. DNS
tunnelling is measured per session in ``quality_exfil``.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from quality_common import iso, scan, write_lines

DGA_TYPES = ("Trojan:EC2/DGADomainRequest.B", "Trojan:EC2/DGADomainRequest.C!DNS")
TUNNEL_TYPES = ("Trojan:EC2/DNSDataExfiltration",)
START = 1_793_491_200.0  # 2026-11-01T00:00:00Z
INSTANCE, LOCAL_IP = "i-0d15a7e57c0ffee00", "10.0.3.17"


@dataclass
class NameList:
    name: str
    kind: str  # "dga" | "tunnel" | "benign"
    qtype: str
    rcode: str
    names: list[str]


def load_lists(shared: Path) -> list[NameList]:
    def lines(path: Path) -> list[str]:
        return [s for line in path.read_text().splitlines() if (s := line.strip()) and not s.startswith(("$", "#"))]

    def netrack(name: str) -> list[str]:
        with gzip.open(shared / "netrack-dns-tunneling-qnames" / f"{name}_names.csv.gz", "rt") as fh:
            return [row["qname"] for row in csv.DictReader(fh)]

    with gzip.open(shared / "dns-tunnel-pcaps" / "iodine_elastic_examples_dns.csv.gz", "rt") as fh:
        iodine_pcap = [row["qname"] for row in csv.DictReader(fh) if row["direction"] == "query"]
    dga, opendns = shared / "netlab360-dga-examples", shared / "opendns-public-domain-lists"
    return [
        NameList("netlab360 chinad", "dga", "A", "NXDOMAIN", lines(dga / "chinad_examples.txt")),
        NameList("netlab360 vidro", "dga", "A", "NXDOMAIN", lines(dga / "vidro_examples.txt")),
        NameList("netrack dns2tcp", "tunnel", "TXT", "NOERROR", netrack("dns2tcp")),
        NameList("netrack dnscapy", "tunnel", "TXT", "NOERROR", netrack("dnscapy")),
        NameList("netrack iodine", "tunnel", "NULL", "NOERROR", netrack("iodine")),
        NameList("elastic iodine pcap", "tunnel", "NULL", "NOERROR", iodine_pcap),
        NameList("netrack plain", "benign", "A", "NOERROR", netrack("plain")),
        NameList("opendns top", "benign", "A", "NOERROR", lines(opendns / "opendns-top-domains.txt")),
        NameList("opendns random", "benign", "A", "NOERROR", lines(opendns / "opendns-random-domains.txt")),
    ]


def query(name: str, ts: float, qtype: str, rcode: str) -> str:
    return json.dumps({
        "version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": "vpc-0d15a7e5",
        "query_timestamp": iso(ts), "query_name": name.rstrip(".") + ".", "query_type": qtype, "query_class": "IN",
        "rcode": rcode, "answers": [], "srcaddr": LOCAL_IP, "srcport": str(1024 + int(ts) % 60000), "transport": "UDP",
        "srcids": {"instance": INSTANCE},
    })


@dataclass
class ListResult:
    source: NameList
    distinct: int
    flagged: dict[str, set[str]]  # name -> finding types raised on it


@dataclass
class DnsListResult:
    lists: list[ListResult]
    queries: int

    def of_kind(self, kind: str) -> list[ListResult]:
        return [r for r in self.lists if r.source.kind == kind]

    def names(self, kind: str) -> set[str]:
        return {n for r in self.of_kind(kind) for n in _names(r.source)}

    def detection(self, kind: str, types: tuple[str, ...]) -> tuple[int, int, int]:
        """(true positives, positives, all names flagged with one of these types)."""
        positives = self.names(kind)
        flagged = {n for r in self.lists for n, ts in r.flagged.items() if ts & set(types)}
        return len(flagged & positives), len(positives), len(flagged)


def _names(src: NameList) -> set[str]:
    return {n.rstrip(".").lower() for n in src.names}


def run_dns_lists(shared: Path, work: Path, seed: int = 1) -> DnsListResult:
    lists = load_lists(shared)
    items = [(n, src) for src in lists for n in src.names]
    random.Random(seed).shuffle(items)  # interleaved like one host's real lookups, ~1.6 s apart
    rng = random.Random(seed + 1)
    ts, lines = START, []
    for name, src in items:
        ts += rng.uniform(0.2, 3.0)
        lines.append(query(name, ts, src.qtype, src.rcode))
    result = scan([write_lines(work / "dns-lists" / "AWSLogs" / "111122223333" / "vpcdnsquerylogs" / "queries.log.gz", lines)])
    raised: dict[str, set[str]] = defaultdict(set)
    for s in result.sightings:
        if s.domain:
            raised[s.domain].add(s.type)
    out = [ListResult(src, len(names := _names(src)), {n: raised[n] for n in names if n in raised}) for src in lists]
    return DnsListResult(out, len(lines))
