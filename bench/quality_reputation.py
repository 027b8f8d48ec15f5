"""(b'') Impact:EC2/*DomainRequest.Reputation on benign name lists: the false-positive rate.

    .venv/bin/python bench/quality_reputation.py    # prints the Markdown section (part of bench/quality.py's full mode)

Each benign list is replayed as one instance's Route 53 Resolver query log through the whole scan
(every detector on), each name once, answered (NOERROR), about a second apart — so every owner is
*newly seen* in the estate, the signal a real estate's first day gives too. Counted: the distinct names
that raised one of the four reputation types.

* top 10k lists (must stay at zero): Tranco, Cisco Umbrella, Cloudflare Radar and Majestic's top 10k
  (MISP warninglists copies; only Majestic's ships with Trailhound, so the others are held out);
* the benign corpora of the DNS quality bench: OpenDNS top and random domains (2014), netrack's plain
  names.

A second pass replays the same lists with every name answered NXDOMAIN three times from two instances
(the harshest estate history the benign names can be given), to show what the NXDOMAIN signals add.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from quality_common import iso, md_table, scan, write_lines  # noqa: E402

TYPES = ("Impact:EC2/AbusedDomainRequest.Reputation", "Impact:EC2/BitcoinDomainRequest.Reputation",
         "Impact:EC2/MaliciousDomainRequest.Reputation", "Impact:EC2/SuspiciousDomainRequest.Reputation")
TOP_LISTS = ("tranco10k", "cisco_top10k", "cloudflare-top10k", "majestic_million")
START = 1_793_491_200.0  # 2026-11-01T00:00:00Z


@dataclass
class ListResult:
    name: str
    top: bool  # a top-10k list: must stay silent
    names: int
    flagged: dict[str, set[str]] = field(default_factory=dict)  # name -> reputation types
    flagged_nx: dict[str, set[str]] = field(default_factory=dict)  # the same with NXDOMAIN history

    def by_type(self, nx: bool = False) -> Counter[str]:
        return Counter(t.rsplit("/", 1)[1].removesuffix("DomainRequest.Reputation") for ts in (self.flagged_nx if nx else self.flagged).values()
                       for t in ts)


@dataclass
class ReputationResult:
    lists: list[ListResult]

    def totals(self, top: bool, nx: bool = False) -> tuple[int, int]:
        rows = [r for r in self.lists if r.top == top]
        return sum(len(r.flagged_nx if nx else r.flagged) for r in rows), sum(r.names for r in rows)


def load(shared: Path) -> list[tuple[str, bool, list[str]]]:
    out = []
    for name in TOP_LISTS:
        entries = json.loads((shared / "misp-warninglists" / "lists" / name / "list.json").read_text())["list"]
        out.append((f"{name} (MISP)", True, sorted({e.strip().lstrip(".").rstrip(".").lower() for e in entries if "." in e})))
    opendns = shared / "opendns-public-domain-lists"
    for label, file in (("opendns top (2014)", "opendns-top-domains.txt"), ("opendns random (2014)", "opendns-random-domains.txt")):
        names = [s.lower() for line in (opendns / file).read_text().splitlines() if (s := line.strip()) and not s.startswith(("#", "$"))]
        out.append((label, False, sorted(set(names))))
    with gzip.open(shared / "netrack-dns-tunneling-qnames" / "plain_names.csv.gz", "rt") as fh:
        out.append(("netrack plain", False, sorted({row["qname"].rstrip(".").lower() for row in csv.DictReader(fh)})))
    return out


def _query(name: str, ts: float, rcode: str, instance: str, ip: str) -> str:
    return json.dumps({
        "version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": "vpc-0d15a7e5",
        "query_timestamp": iso(ts), "query_name": name + ".", "query_type": "A", "query_class": "IN", "rcode": rcode, "answers": [],
        "srcaddr": ip, "srcport": "53111", "transport": "UDP", "srcids": {"instance": instance},
    })


def _replay(names: list[str], work: Path, nx: bool, seed: int) -> dict[str, set[str]]:
    rng = random.Random(seed)
    order = list(names)
    rng.shuffle(order)
    ts, lines = START, []
    for n in order:
        if nx:  # three NXDOMAIN answers from two instances
            for k, (iid, ip) in enumerate((("i-0be9191e00000001", "10.0.3.21"), ("i-0be9191e00000002", "10.0.3.22"), ("i-0be9191e00000001", "10.0.3.21"))):
                lines.append(_query(n, ts + k, "NXDOMAIN", iid, ip))
        else:
            lines.append(_query(n, ts, "NOERROR", "i-0be9191e00000001", "10.0.3.21"))
        ts += rng.uniform(0.5, 1.5)
    result = scan([write_lines(work / "AWSLogs" / "111122223333" / "vpcdnsquerylogs" / "queries.log.gz", lines)])
    raised: dict[str, set[str]] = defaultdict(set)
    for s in result.sightings:
        if s.domain and s.type in TYPES:
            raised[s.domain].add(s.type)
    return dict(raised)


def run_reputation(shared: Path, work: Path, seed: int = 3) -> ReputationResult:
    out = []
    for i, (name, top, names) in enumerate(load(shared)):
        wanted = set(names)
        plain = _replay(names, work / f"rep-{i}", False, seed)
        nx = _replay(names, work / f"rep-nx-{i}", True, seed)
        out.append(ListResult(name, top, len(names), {n: t for n, t in plain.items() if n in wanted},
                              {n: t for n, t in nx.items() if n in wanted}))
    return ReputationResult(out)


def _pct(a: int, b: int) -> str:
    return f"{a}/{b:,} ({100 * a / b:.2f}%)" if b else "n/a"


def rows(r: ReputationResult) -> list[list[str]]:
    top, top_n = r.totals(True)
    other, other_n = r.totals(False)
    nx, nx_n = r.totals(False, nx=True)
    kinds = sum((x.by_type() for x in r.lists if not x.top), Counter())
    return [
        ["Domain reputation: top-10k names raising a .Reputation finding", f"{top}/{top_n:,}",
         "Tranco, Cisco Umbrella, Cloudflare Radar, Majestic top 10k; each name newly seen by one instance (only Majestic's ships)"],
        ["Domain reputation: benign names raising a .Reputation finding", _pct(other, other_n),
         "OpenDNS top/random (2014), netrack plain; newly seen, answered; by type: "
         + (", ".join(f"{k} {v}" for k, v in kinds.most_common()) or "none")],
        ["Domain reputation: the same benign names with NXDOMAIN history", _pct(nx, nx_n),
         "each answered NXDOMAIN three times to two instances (the harshest history)"],
    ]


def section(r: ReputationResult) -> list[str]:
    table = [[x.name, f"{x.names:,}", _pct(len(x.flagged), x.names), ", ".join(f"{k} {v}" for k, v in x.by_type().most_common()) or "—",
              _pct(len(x.flagged_nx), x.names), ", ".join(sorted(x.flagged)[:4]) or "—"] for x in r.lists]
    return ["## Domain reputation on benign names (Impact:EC2/*DomainRequest.Reputation)", "",
            "Each list replayed as one instance's lookups, each name once and answered (every owner newly seen); "
            "then each name answered NXDOMAIN three times to two instances.", "",
            md_table(["List", "Names", "Flagged", "By type", "Flagged with NXDOMAIN history", "Examples with NXDOMAIN history"],
                     [row[:5] + [", ".join(sorted(x.flagged_nx)[:4]) or "—"] for row, x in zip(table, r.lists)]), ""]


if __name__ == "__main__":
    import tempfile

    shared = HERE.parent.parent / "shared" / "data"
    with tempfile.TemporaryDirectory() as work:
        res = run_reputation(shared, Path(work))
    print("\n".join(" | ".join(row) for row in rows(res)))
    print("\n".join(section(res)))
    for x in res.lists:
        for n, ts in sorted(x.flagged.items())[:40]:
            print(x.name, n, sorted(ts))
