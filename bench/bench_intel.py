"""Threat-intel lookup speed: per-event and batch IP lookups, domain lookups, list load times.

    .venv/bin/python bench/bench_intel.py [--queries 1000000] [--runs 3]

IP list: 100,000 entries — 85,000 single addresses and 15,000 CIDRs (/16-/30), random public
IPv4 — written as a TXT file and loaded through ``load_list`` (so the parse is measured too).
Queries: random IPv4 strings with 1% taken from the listed addresses (as in
shared/reference/performance-and-libraries.md §2), all distinct string objects like log fields.
Domains: the packaged built-in index (~40k domains) queried with 3-5-label names, 1% under a
listed domain. Every figure is lookups per CPU-second (process time), median of --runs.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from trailhound.intel.builtin import build_index
from trailhound.intel.formats import load_list
from trailhound.intel.index import Category, IntelIndex


def _ip(n: int) -> str:
    return socket.inet_ntoa(struct.pack("!I", n))


def _public(rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(32)
        if 0x01000000 <= n < 0xE0000000 and not (0x0A000000 <= n < 0x0B000000 or 0x7F000000 <= n < 0x80000000
                                                 or 0xAC100000 <= n < 0xAC200000 or 0xC0A80000 <= n < 0xC0A90000
                                                 or 0x64400000 <= n < 0x64800000 or 0xA9FE0000 <= n < 0xA9FF0000):
            return n


def make_list(path: Path, rng: random.Random) -> list[str]:
    singles = [_ip(_public(rng)) for _ in range(85_000)]
    lines = ["# bench list: 85k /32 + 15k CIDRs"] + singles
    for _ in range(15_000):
        plen = rng.randint(16, 30)
        n = _public(rng) >> (32 - plen) << (32 - plen)
        lines.append(f"{_ip(n)}/{plen}")
    path.write_text("\n".join(lines) + "\n")
    return singles


def cpu(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    records = [{"eventName": f"E{i % 300}", "x": i} for i in range(1_000_000)]
    names = {f"E{i}" for i in range(0, 300, 2)}
    dt, _ = cpu(lambda: sum(1 for r in records if r["eventName"] in names), args.runs)
    print(f"calibration: {dt * 1000:.0f} ns per `r['eventName'] in set` iteration (reference machine: 56 ns)")
    del records
    rng = random.Random(7)
    nq = args.queries
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-100k.txt"
        singles = make_list(path, rng)
        t = time.process_time()
        load = load_list(path)
        t_parse = time.process_time() - t
        index = IntelIndex()
        t = time.process_time()
        index.add(load, Category.CUSTOM)
        index.ip("1.2.3.4")  # builds the table
        t_index = time.process_time() - t
    print(f"100k-entry list: parse {t_parse:.2f} s, index build {t_index:.2f} s "
          f"({load.ips} addresses, {load.networks} networks, {load.problem_count} problems)")
    queries = [_ip(_public(rng)) if rng.random() >= 0.01 else rng.choice(singles) for _ in range(nq)]
    queries = [q.encode().decode() for q in queries]  # fresh str objects, as parsed log fields are

    ip = index.ip

    def single() -> int:
        n = 0
        for q in queries:
            if ip(q):
                n += 1
        return n

    dt, hits = cpu(single, args.runs)
    print(f"IP single lookups   : {nq / dt / 1e6:6.2f} M/s  ({hits} hits of {nq})")

    def batch_list() -> int:
        mask, _ = index.ip_mask(queries)
        return int(mask.sum())

    dt, bhits = cpu(batch_list, args.runs)
    print(f"IP batch (list[str]): {nq / dt / 1e6:6.2f} M/s  ({bhits} hits)")
    series = pl.Series("srcaddr", queries)

    def batch_series() -> int:
        mask, _ = index.ip_mask(series)
        return int(mask.sum())

    dt, shits = cpu(batch_series, args.runs)
    print(f"IP batch (pl.Series): {nq / dt / 1e6:6.2f} M/s  ({shits} hits)")
    assert hits == bhits == shits, (hits, bhits, shits)

    t = time.process_time()
    builtin = build_index(Path(tempfile.gettempdir()) / "trailhound-bench-no-refresh")
    builtin.ip("1.2.3.4")
    t_builtin = time.process_time() - t
    print(f"built-in index load : {t_builtin:.2f} s CPU ({builtin})")
    ip = builtin.ip
    dt, bh = cpu(single, args.runs)
    print(f"IP single, built-in : {nq / dt / 1e6:6.2f} M/s  ({bh} hits)")

    listed = [d for d, _ in builtin._domains.items()]
    words = ["www", "api", "cdn", "mail", "static", "img", "login", "portal", "eu", "us-east-1", "svc", "edge"]
    tlds = ["com", "net", "org", "io", "de", "amazonaws.com", "co.uk"]
    names = []
    for _ in range(nq):
        if rng.random() < 0.01:
            names.append(f"{rng.choice(words)}.{rng.choice(listed)}.")
        else:
            labels = [rng.choice(words) for _ in range(rng.randint(1, 3))] + [f"site{rng.getrandbits(20)}", rng.choice(tlds)]
            names.append(".".join(labels) + ".")
    dom = builtin.domain

    def domains() -> int:
        n = 0
        for name in names:
            if dom(name):
                n += 1
        return n

    dt, dh = cpu(domains, args.runs)
    print(f"domain lookups      : {nq / dt / 1e6:6.2f} M/s  ({dh} hits of {nq}; {builtin.domain_count()} listed domains)")


if __name__ == "__main__":
    sys.exit(main())
