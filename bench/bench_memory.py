"""Memory over time: peak RSS and keyed state of a scan of D days, and of the same estate 10x longer.

    .venv/bin/python bench/bench_memory.py                  # 3 days vs 30 days, flow logs
    .venv/bin/python bench/bench_memory.py --days 2 --sources flow,cloudtrail,dns

The estate is the simulator's (same seed, same activity per day), plus, every day, 300 internet
addresses each opening a few SSH sessions to a bastion — the background radiation an
Internet-facing host sees, and the case where per-entity state would pile up if it never expired.
Each scan runs in its own process; the script prints peak RSS, keyed state entities and bytes per
entity at the end of each, and the growth factor. A bounded engine keeps the 10x run flat.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = datetime(2026, 9, 1, tzinfo=UTC)


def write(root: Path, days: int, sources: set[str], per_day: dict[str, int]) -> list[Path]:
    from trailhound.simulator import EstateSpec, write_estate
    from trailhound.simulator.attack_day import write_case_logs
    from trailhound.simulator.records import BASTION, Case, flow_row, internet_addresses

    spec = EstateSpec(start=START, days=days, seed=11, cloudtrail_events=per_day["cloudtrail"] * days, flow_lines=per_day["flow"] * days,
                      dns_lines=per_day["dns"] * days, instances=12, users=6)
    files = write_estate(root, spec)
    out = [p for kind in sorted(sources) for p in getattr(files, kind)]
    if "flow" in sources:
        for day in range(days):
            rows = []
            for n, ip in enumerate(internet_addresses(300, seed=1000 + day)):
                t0 = START + timedelta(days=day, minutes=(n * 4.7) % 1440)
                rows += [flow_row(t0 + timedelta(seconds=30 * i), src=ip, dst=BASTION.ip, sport=40000 + i, dport=22, packets=14, nbytes=2100,
                                  flags=3, at=BASTION, duration=4) for i in range(3)]
            rows.sort(key=lambda r: r["start"])
            out += write_case_logs(root / "radiation" / f"day{day:03d}", [Case("radiation", None, rows, source="flow")])
    return out


def child(listing: Path) -> None:
    import resource

    from trailhound.config import configure_threads

    configure_threads()
    from trailhound.pipeline import Scanner
    from trailhound.store.database import Store

    files = [Path(p) for p in listing.read_text().split("\n") if p]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "m.db")
        scanner = Scanner(store)
        report = scanner.scan(files)
        states = store.state_sizes()
        # VmHWM, not ru_maxrss: the latter can carry the parent's peak across fork+exec (the parent wrote the estate)
        hwm = [line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")]
        rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"events": report.events_total, "rss_mb": rss, "states": states, "in_memory": scanner.engine.states.size(),
                          "findings": store.count_findings(), "late": report.late_rows}))


def measure(files: list[Path]) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(map(str, files)))
    out = subprocess.run([sys.executable, __file__, "--child", fh.name], check=True, capture_output=True, text=True)
    Path(fh.name).unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--sources", default="flow")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child))
        return
    sources = set(args.sources.split(","))
    per_day = {"cloudtrail": 30_000, "flow": 150_000, "dns": 30_000}
    rows = []
    for days in (args.days, args.days * args.factor):
        root = HERE / "out" / f"memory-{days}d-{'-'.join(sorted(sources))}"
        marker = root / "files.json"
        if marker.exists():
            files = [Path(p) for p in json.loads(marker.read_text())]
        else:
            files = write(root, days, sources, per_day)
            marker.write_text(json.dumps([str(p) for p in files]))
        r = measure(files)
        keys = sum(n for n, _, _ in r["states"].values())
        mean = sum(n * m for n, m, _ in r["states"].values()) / keys if keys else 0
        rows.append((days, r, keys, mean))
        print(f"{days:>4} days: {r['events']:>11,} events  peak RSS {r['rss_mb']:>6.0f} MB  keyed state {keys:,} entities "
              f"({mean:,.0f} bytes each; {r['in_memory']:,} in memory)  findings {r['findings']}  late rows {r['late']}")
        for det, (n, m, mx) in sorted(r["states"].items()):
            print(f"        {det}: {n:,} entities, {m:,.0f} bytes each on average, {mx:,} at most")
    (d1, a, _, _), (d2, b, _, _) = rows
    print(f"{d2 // d1}x the days: {b['events'] / max(1, a['events']):.1f}x the events, peak RSS x{b['rss_mb'] / a['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
