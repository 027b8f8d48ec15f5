"""Throughput of the scan pipeline beside the parse-only floor, per source, measured in one run.

    .venv/bin/python bench/bench_pipeline.py                 # ~1M CloudTrail, 5M flow, 1M DNS
    .venv/bin/python bench/bench_pipeline.py --scale 0.1     # a tenth of that
    .venv/bin/python bench/bench_pipeline.py --layouts aws   # only AWS's delivery shape (100k/300k/100k over 15 days, ~26k files)

For each source it measures, each in its own child process (so peak RSS is per measurement):
  (a) floor    — read + ISA-L gunzip + decode into the same typed structs / columns, nothing else;
  (b) pipeline — `trailhound scan` of the same files into a fresh SQLite store (sniffing, time
                 ordering, enrichment, every detector, metering, checkpoints, findings); the one-off
                 start-up (loading the packaged threat intelligence, geolocation, public-suffix and DGA
                 tables) is printed apart.
and prints events per CPU-second (user+sys of the process and of its reading workers) for both — the median of --repeat
alternating runs — the ratio b/a and peak RSS, and the keyed detector state left per entity
(bytes of the stored row: state, key and bookkeeping).
A calibration loop (dict membership over 1M small dicts) is printed so numbers can be compared
across machines. Generated logs are cached under bench/out/ by size and seed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ("cloudtrail", "flow", "dns")


def cpu_seconds() -> float:
    """CPU of this process and of its finished children (the scan's reading workers)."""
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def calibration_ns() -> float:
    rows = [{"eventName": "x", "i": i} for i in range(1_000_000)]
    t = cpu_seconds()
    n = 0
    for r in rows:
        if "eventName" in r:
            n += 1
    return (cpu_seconds() - t) / len(rows) * 1e9


# ---- children -----------------------------------------------------------------------------

def floor(source: str, files: list[Path]) -> dict:
    import msgspec
    import polars as pl
    from isal import igzip

    from trailhound.events import DnsQuery
    from trailhound.formats.cloudtrail import RECORDS
    from trailhound.formats.vpcflow import read_frame

    dns = msgspec.json.Decoder(DnsQuery)
    events = 0
    t = cpu_seconds()
    for f in files:
        data = igzip.decompress(f.read_bytes())
        if source == "cloudtrail":
            events += len(RECORDS.decode(data).Records)
        elif source == "dns":
            events += len(dns.decode_lines(data))
        else:
            header, _, body = data.partition(b"\n")
            df: pl.DataFrame = read_frame(body, header.decode().split())
            events += df.height
    return {"events": events, "cpu": cpu_seconds() - t, "rss_mb": peak_rss_mb()}


def _warm(scanner: object) -> None:
    """Tables a process builds once, on first use (geolocation, public suffixes, the DGA model, the lists' count of
    names under each parent domain): start-up like the threat intelligence, not per-event work (a small estate
    would otherwise mostly measure them)."""
    intel = getattr(scanner, "intel", None)
    if hasattr(intel, "domains_under"):
        intel.domains_under("")
    # (tldextract builds its suffix trie at its first query, not when it is made)
    for module, name, args in (("trailhound.enrich.geo", "default_provider", ()), ("trailhound.enrich.domains", "registrable_domain", ("example.com",)),
                               ("trailhound.enrich.dga", "shipped_model", ())):
        try:
            getattr(__import__(module, fromlist=[name]), name)(*args)
        except (ImportError, AttributeError):  # a --baseline checkout without it
            pass


def pipeline(source: str, files: list[Path]) -> dict:
    from trailhound.config import ScanSettings
    from trailhound.pipeline import Scanner

    try:
        from trailhound.store.database import Store
    except ImportError:  # a --baseline checkout from before the store was SQLAlchemy's
        from trailhound.store.sqlite import Store  # type: ignore[no-redef]

    workers = os.environ.get("BENCH_WORKERS")
    settings = ScanSettings() if workers is None else ScanSettings(workers=int(workers))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t = cpu_seconds()
        scanner = Scanner(store, settings)  # loads the packaged threat intel: a fixed start-up cost, reported apart
        _warm(scanner)
        startup = cpu_seconds() - t
        t, w = cpu_seconds(), time.perf_counter()
        report = scanner.scan(files)
        cpu, wall = cpu_seconds() - t, time.perf_counter() - w
        findings = store.count_findings()
        states = store.state_sizes() if hasattr(store, "state_sizes") else {}  # (a --baseline checkout may predate it)
    return {"events": report.events_total, "cpu": cpu, "wall": wall, "workers": getattr(report, "workers", 0), "startup": startup, "rss_mb": peak_rss_mb(), "findings": findings,
            "problems": len(report.problems), "states": states}


def child(kind: str, source: str, listing: Path) -> None:
    files = [Path(p) for p in listing.read_text().split("\n") if p]
    result = floor(source, files) if kind == "floor" else pipeline(source, files)
    print(json.dumps(result))


def run_child(kind: str, source: str, files: list[Path], src: Path | None = None, workers: int | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(map(str, files)))
    try:
        # Floor and pipeline run with the same Polars thread setting (the pipeline's default, 1, unless set).
        env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}
        if src is not None:  # another checkout's trailhound (--baseline)
            env["PYTHONPATH"] = str(src)
        if workers is not None:
            env["BENCH_WORKERS"] = str(workers)
        out = subprocess.run([sys.executable, __file__, "--child", kind, source, fh.name], check=True, capture_output=True, text=True, env=env)
    finally:
        os.unlink(fh.name)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- driver -------------------------------------------------------------------------------

def estate(scale: float, seed: int, layout: str = "large"):
    from trailhound.simulator import EstateSpec, write_estate

    if layout == "aws":  # AWS's delivery shape: a small file per stream every 5-10 minutes, 15 days
        spec = EstateSpec(cloudtrail_events=int(100_000 * scale), flow_lines=int(300_000 * scale), dns_lines=int(100_000 * scale), days=15,
                          seed=seed, delivery="aws")
    else:
        spec = EstateSpec(cloudtrail_events=int(1_000_000 * scale), flow_lines=int(5_000_000 * scale), dns_lines=int(1_000_000 * scale), days=3,
                          seed=seed)
    root = HERE / "out" / f"estate-{layout}-{scale:g}-{seed}"
    marker = root / "done.json"
    if marker.exists():
        listing = json.loads(marker.read_text())
        return {k: [Path(p) for p in v] for k, v in listing.items()}, spec
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    files = write_estate(root, spec)
    print(f"generated {files.cloudtrail_events:,} CloudTrail, {files.flow_lines:,} flow, {files.dns_lines:,} DNS records "
          f"in {time.perf_counter() - t:.0f}s under {root}", file=sys.stderr)
    listing = {"cloudtrail": [str(p) for p in files.cloudtrail], "flow": [str(p) for p in files.flow], "dns": [str(p) for p in files.dns]}
    marker.write_text(json.dumps(listing))
    return {k: [Path(p) for p in v] for k, v in listing.items()}, spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplier of the default 1M/5M/1M records")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sources", default=",".join(SOURCES))
    ap.add_argument("--layouts", default="large,aws", help="large (few big files), aws (AWS's delivery shape: many small files), or both")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is printed")
    ap.add_argument("--baseline", type=Path, help="src/ of another checkout (e.g. `git worktree add ../old <rev>`): its pipeline is "
                    "measured in the same alternation, against the same floor")
    ap.add_argument("--workers", default="0,1", help="worker-process counts whose wall-clock time is compared (one run each, "
                    "after the table; empty: none)")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SOURCE", "LISTING"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
        return
    print(f"calibration: {calibration_ns():.0f} ns per dict-membership iteration (reference machine: 56 ns)")
    for layout in args.layouts.split(","):
        files, _ = estate(args.scale, args.seed, layout)
        n = sum(len(v) for v in files.values())
        print(f"\n{layout} layout: {n:,} files" + (" (AWS's delivery: a file per stream per 5-10 minutes, 15 days)" if layout == "aws" else
                                                   " (large files: 2,000 CloudTrail events or 10,000 lines each, 3 days)"))
        measure(args, files)


def measure(args: argparse.Namespace, files: dict[str, list[Path]]) -> None:
    print(f"{'source':<11}{'events':>11}{'floor ev/CPU-s':>16}{'pipeline ev/CPU-s':>19}{'ratio':>7}{'floor RSS':>11}{'pipeline RSS':>14}{'MB gz':>8}{'start-up':>10}{'findings':>10}")
    for source in args.sources.split(","):
        fs = files[source]
        gz_mb = sum(f.stat().st_size for f in fs) / 1e6
        for f in fs:  # into the page cache first: whichever child runs first must not pay the disk for the others
            f.read_bytes()
        # The machine is shared: alternate floor and pipeline runs and keep the median of each.
        floors, pipes, bases = [], [], []
        for _ in range(args.repeat):
            floors.append(run_child("floor", source, fs))
            pipes.append(run_child("pipeline", source, fs))
            if args.baseline:
                bases.append(run_child("pipeline", source, fs, args.baseline))
        a = sorted(floors, key=lambda r: r["events"] / r["cpu"])[len(floors) // 2]
        b = sorted(pipes, key=lambda r: r["events"] / r["cpu"])[len(pipes) // 2]
        ra, rb = a["events"] / a["cpu"], b["events"] / b["cpu"]
        print(f"{source:<11}{b['events']:>11,}{ra:>16,.0f}{rb:>19,.0f}{rb / ra:>7.2f}{a['rss_mb']:>9.0f}MB{b['rss_mb']:>12.0f}MB{gz_mb:>8.0f}"
              f"{b['startup']:>9.2f}s{b['findings']:>10}")
        if bases:
            c = sorted(bases, key=lambda r: r["events"] / r["cpu"])[len(bases) // 2]
            rc = c["events"] / c["cpu"]
            print(f"  baseline {args.baseline}: {rc:,.0f} ev/CPU-s, ratio {rc / ra:.2f}; this checkout is {rb / rc:.2f}x its speed")
        for det, (keys, mean, largest) in sorted(b["states"].items()):
            print(f"  keyed state {det}: {keys:,} entities, {mean:,.0f} bytes each on average, {largest:,} at most")
        if args.workers:
            walls = {n: run_child("pipeline", source, fs, workers=int(n)) for n in args.workers.split(",")}
            base = walls[min(walls, key=int)]["wall"]
            print("  wall-clock: " + ", ".join(f"{n} reading worker{'s' * (int(n) != 1)} {r['wall']:.2f}s ({base / r['wall']:.2f}x)"
                                              for n, r in walls.items()))
        if a["events"] != b["events"]:
            print(f"  note: floor decoded {a['events']:,} records, pipeline analysed {b['events']:,} (NODATA rows are not events)")


if __name__ == "__main__":
    main()
