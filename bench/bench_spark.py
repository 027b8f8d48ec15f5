"""The Spark job (``trailhound spark-job --once``) beside one ``scan`` process, on the same estate, on this machine.

    .venv/bin/python bench/bench_spark.py                      # a 4-day simulated estate in AWS's delivery shape
    .venv/bin/python bench/bench_spark.py --scale 0.2 --days 2 # smaller

Prints, for ``scan`` and for the job on local[1] and local[2]: wall seconds, events per second, and for the job the
same with Spark's fixed start-up (a run over an empty folder, measured here) taken off; whether the job's findings
are scan's (attack sequences included). Then the numbers a cluster sizing starts from: bytes shuffled per event
(the shipped rows, and the correlators' rows again into stage 3), keyed state per entity (envelope rows as the
job stores them), and entities per million events. Estates are cached under bench/out/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
CLI = [sys.executable, "-m", "trailhound.cli"]


def estate(layout: str, scale: float, days: int) -> tuple[Path, Path | None]:
    """``sim``: a labelled estate (every case on its attack day, an inventory) in AWS's delivery shape;
    ``large``/``aws``: bench_pipeline's estates of the same names (benign, no inventory)."""
    if layout != "sim":
        sys.path.insert(0, str(HERE))
        from bench_pipeline import estate as pipeline_estate

        files, _ = pipeline_estate(scale, 7, layout)
        return Path(os.path.commonpath([str(p) for fs in files.values() for p in fs])), None
    from trailhound.simulator.labelled import simulate

    root = HERE / "out" / f"spark-{scale}-{days}"
    if not (root / "logs").exists():
        shutil.rmtree(root, ignore_errors=True)
        simulate(root, None, seed=31, scale=scale, days=days)
    return root / "logs" / "AWSLogs", root / "logs" / "inventory"


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd[:4])}... failed: {done.stderr[-1500:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", choices=("sim", "large", "aws"), default="sim")
    ap.add_argument("--scale", type=float, default=0.5)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--masters", default="local[1],local[2]")
    ap.add_argument("--batches", type=int, default=8, help="micro-batches the job cuts the estate into (--files-per-trigger)")
    args = ap.parse_args()

    from test_spark_stages import findings, through_stages

    from trailhound.config import ScanSettings
    from trailhound.pipeline import Scanner
    from trailhound.sources.files import walk
    from trailhound.spark import shipping
    from trailhound.store.database import Store

    logs, inventory = estate(args.layout, args.scale, args.days)
    inv = [inventory] if inventory else []
    inv_args = ["--inventory", str(inventory)] if inventory else []
    files = sorted(str(p) for p in walk([logs]))
    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        wall = timed([*CLI, "scan", str(logs), *inv_args, "--db", str(tmp / "scan.db")])
        store = Store(":memory:")
        report = Scanner(store, ScanSettings(flush_at_end=False, inventory=inv)).scan([logs])
        events, expected = report.events_total, findings(store)
        print(f"estate: {len(files):,} files, {events:,} events ({dict(report.events)}); {len(expected)} findings")
        print(f"scan (one process, --workers default): {wall:6.1f} s  {events / wall:9,.0f} events/s")
        empty = tmp / "empty"
        empty.mkdir()
        per = max(1, -(-len(files) // args.batches))
        for master in args.masters.split(","):
            startup = timed([*CLI, "spark-job", str(empty), "--checkpoint", str(tmp / f"ck-empty-{master}"), "--db", str(tmp / f"e-{master}.db"),
                             "--once", "--master", master])
            db = tmp / f"job-{master}.db"
            wall = timed([*CLI, "spark-job", str(logs), "--checkpoint", str(tmp / f"ck-{master}"), "--db", str(db), "--once",
                          "--master", master, "--files-per-trigger", str(per), *inv_args])
            got = findings(Store(db, readonly=True))
            same = "yes" if got == expected else f"NO ({len(set(got) ^ set(expected))} differ)"
            print(f"spark-job {master:9} ({args.batches} micro-batches): {wall:6.1f} s  {events / wall:9,.0f} events/s; "
                  f"less start-up ({startup:.1f} s): {events / max(wall - startup, 1e-9):9,.0f} events/s; scan's findings: {same}")
        # what a cluster moves and keeps, from the job's own two stages run here in one process
        shipped_bytes, again, kinds = 0, 0, Counter()
        correlators = {n for n, d in Scanner(Store(":memory:"), ScanSettings()).engine.detectors.items() if d.correlates}
        for s in shipping.ship(((f, Path(f).read_bytes()) for f in files), ScanSettings(flush_at_end=False, inventory=inv), None):
            size = len(s.payload) + len(s.det) + len(s.key) + 33  # + the fixed columns
            shipped_bytes += size
            # through stage 2 on to stage 3: occurrences, and rows with a correlator among their detectors
            again += size if s.kind == shipping.OCCURRENCE or (s.kind == shipping.ROWS and any(n in correlators for n in shipping.detectors_of(s))) else 0
            kinds[s.kind] += 1
        print(f"shuffled: {(shipped_bytes + again) / events:,.0f} bytes per event ({shipped_bytes / 1e6:,.1f} MB into stage 2, "
              f"{again / 1e6:,.1f} MB of it again into stage 3; {kinds[shipping.ROWS]:,} key groups)")
        sizes: dict[tuple[str, str], int] = {}
        through_stages(logs, inventory, 1, micro_batches=args.batches, sizes=sizes)
        n = len(sizes)
        print(f"keyed state: {n:,} entities (detector, key) held after the run, {sum(sizes.values()) / max(n, 1):,.0f} bytes each "
              f"on average ({sum(sizes.values()) / 1e6:.1f} MB); {n / events * 1e6:,.0f} entities per million events")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
