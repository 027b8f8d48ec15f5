"""Lookups per CPU-second (one core) of the enrichment layer.

    .venv/bin/python bench/bench_enrich.py
    .venv/bin/python bench/bench_enrich.py --mmdb /path/GeoLite2-City.mmdb [--mmdb ASN.mmdb]

Workload: ~2,000 distinct public addresses (90% IPv4, 10% IPv6, drawn from networks the geo
tables know) and ~2,000 DNS names, requested 200,000 times with a Zipf-like skew, as flow and DNS
logs repeat peers. Measured:

* cold   — every lookup misses: a provider/table with its cache off, one pass over the distinct set;
* cached — the skewed 200k stream through the normal cached entry point;
* details — ``remote_ip_details`` (cached lookup + building GuardDuty's dict);
* load   — one-time cost to open the bundled geo tables, an ip-ranges.json, the PSL.

Figures are operations per CPU-second (user+sys of this process), median of 3 runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = ROOT.parent / "shared" / "data"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rate(fn: Callable[[str], object], items: Sequence[str], repeat: int = 3, setup: Callable[[], None] | None = None) -> float:
    runs = []
    for _ in range(repeat):
        if setup:
            setup()
        t = cpu()
        for x in items:
            fn(x)
        runs.append(len(items) / max(cpu() - t, 1e-9))
    return statistics.median(runs)


def once(fn: Callable[[], object]) -> float:
    t = cpu()
    fn()
    return cpu() - t


def skewed(distinct: list[str], n: int, rng: random.Random) -> list[str]:
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(distinct))]
    return rng.choices(distinct, weights=weights, k=n)


def sample_ips(rng: random.Random, n: int) -> list[str]:
    """Public addresses inside ranges the bundled ASN table covers."""
    import ipaddress

    import numpy as np

    from trailhound.enrich.geo import BUNDLED_GEO, is_public

    with np.load(BUNDLED_GEO) as z:
        v4s, v4v = z["asn_v4_start"], z["asn_v4_value"]
        v6s, v6v = z["asn_v6_start"], z["asn_v6_value"]
    out: set[str] = set()
    while len(out) < n:
        v6 = rng.random() < 0.1
        starts, values = (v6s, v6v) if v6 else (v4s, v4v)
        i = rng.randrange(len(starts) - 1)
        if not values[i]:
            continue
        width = starts.dtype.itemsize  # numpy drops trailing NULs of S items: pad them back
        lo = int.from_bytes(bytes(starts[i]).ljust(width, b"\0"), "big")
        hi = int.from_bytes(bytes(starts[i + 1]).ljust(width, b"\0"), "big") - 1
        ip = str(ipaddress.IPv6Address(rng.randint(lo, hi)) if v6 else ipaddress.IPv4Address(rng.randint(lo, hi)))
        if is_public(ip):
            out.add(ip)
    return sorted(out)


def sample_names(rng: random.Random, n: int) -> list[str]:
    tlds = ["com", "net", "org", "co.uk", "com.au", "de", "io", "amazonaws.com", "cloudfront.net", "s3.us-east-1.amazonaws.com", "jp", "ru", "cn"]
    words = ["api", "cdn", "mail", "www", "static", "auth", "login", "data", "img", "edge", "ec2", "ntp", "updates"]
    names = set()
    while len(names) < n:
        labels = [rng.choice(words) for _ in range(rng.randint(0, 2))]
        labels.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(4, 14))))
        name = ".".join(labels) + "." + rng.choice(tlds)
        names.add(name + ("." if rng.random() < 0.3 else ""))
    return sorted(names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmdb", action="append", default=[], help="also measure an operator MMDB (repeatable)")
    ap.add_argument("--distinct", type=int, default=2000)
    ap.add_argument("--stream", type=int, default=200_000)
    args = ap.parse_args()
    rng = random.Random(42)
    results: dict[str, object] = {}

    from trailhound.enrich import aws_ranges, domains, geo

    results["load_geo_tables_s"] = round(once(lambda: geo.TableGeoProvider(cache_size=0)), 3)
    ips = sample_ips(rng, args.distinct)
    stream = skewed(ips, args.stream, rng)

    cold = geo.TableGeoProvider(cache_size=0)
    # first sight of an address: the provider cache off
    results["geo_tables_cold_per_s"] = round(rate(cold.lookup, ips))
    hot = geo.TableGeoProvider()
    results["geo_tables_cached_per_s"] = round(rate(hot.lookup, stream, setup=hot.clear_cache))
    results["geo_remote_ip_details_cached_per_s"] = round(rate(hot.remote_ip_details, stream))
    results["is_public_per_s"] = round(rate(geo.is_public, ips))
    known = sum(1 for ip in ips if cold.lookup(ip) is not None)
    results["geo_sample"] = {"distinct": len(ips), "with_data": known, "ipv6": sum(":" in ip for ip in ips)}

    for i, path in enumerate(args.mmdb):
        mm = geo.MmdbGeoProvider([path], cache_size=0)
        results[f"mmdb{i}_cold_per_s"] = round(rate(mm.lookup, ips))
        chained = geo.open_provider([path])
        results[f"mmdb{i}_plus_tables_cached_per_s"] = round(rate(chained.lookup, stream, setup=chained.clear_cache))
        both = geo.open_provider([path], cache_size=0)
        results[f"mmdb{i}_plus_tables_cold_per_s"] = round(rate(both.lookup, ips))

    snap = SHARED / "aws-ip-ranges" / "ip-ranges_2026-08-22.json.gz"
    results["load_aws_ranges_s"] = round(once(lambda: aws_ranges.load_ranges(snap)), 3)
    doc = json.loads(gzip.decompress(snap.read_bytes()))
    ranges_cold = aws_ranges.AwsRanges(doc, cache_size=0)
    aws_ips = ips[: len(ips) // 2] + sorted({p["ip_prefix"].split("/")[0] for p in doc["prefixes"]})[: len(ips) // 2]
    aws_stream = skewed(aws_ips, args.stream, rng)
    results["aws_cold_per_s"] = round(rate(ranges_cold.lookup, aws_ips))
    ranges = aws_ranges.AwsRanges(doc)
    results["aws_cached_per_s"] = round(rate(ranges.is_aws, aws_stream, setup=ranges._cached.cache_clear))

    results["load_psl_s"] = round(once(lambda: domains.registrable_domain("warm.example.com")), 3)
    names = sample_names(rng, args.distinct)
    name_stream = skewed(names, args.stream, rng)
    results["domain_cold_per_s"] = round(rate(domains.registrable_domain, names, setup=domains.split_name.cache_clear))
    results["domain_cached_per_s"] = round(rate(domains.registrable_domain, name_stream, setup=domains.split_name.cache_clear))

    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
