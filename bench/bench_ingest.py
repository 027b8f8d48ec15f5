"""Ingestion from S3: `serve --source` following an AWS-shaped estate on a real S3-compatible server,
against `scan` of the same files.

    .venv/bin/python bench/bench_ingest.py [--days 3] [--scale 1] [--keep DIR]

1. Simulates an estate in AWS's delivery shape (CloudTrail every 5 minutes per region, a flow-log and
   a DNS-log object per 10 minutes per source: about 1,700 small objects a day at scale 1) — the
   history days and one more day, the burst.
2. `trailhound scan` of the history files (a subprocess, fresh SQLite store): events/s.
3. SeaweedFS (tests/s3_server.py) with the history uploaded; `trailhound serve --source s3://...`
   (a subprocess, fresh SQLite store) from its start until every history object is committed:
   events/s, and the ratio to scan (goal >= 0.5).
4. The burst: the next day's objects uploaded at once while serve runs; the lag is the time from the
   last upload until the last of them is committed (goal < 60 s), sampled with /metrics' pending count.
   With --sqs, serve has a queue (moto's server, tests/sqs_server.py) and no listing after its first:
   each burst object is named by the S3 notification sent after its upload, as S3 would send it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
BIN = Path(sys.executable).parent


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a live process and its live children (serve's fetch process): on a shared
    machine, what a run cost, whatever the other jobs took from its wall time."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_s(int(child))
    except (OSError, ValueError):
        pass
    return total


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
            return True
    except OSError:
        return False


def upload(client: object, bucket: str, root: Path, files: list[Path], sqs: object = None, queue: str = "") -> float:
    from sqs_server import notification

    began = time.perf_counter()
    for f in files:
        key = f.relative_to(root).as_posix()
        etag = client.put_object(Bucket=bucket, Key=key, Body=f.read_bytes())["ETag"].strip('"')  # type: ignore[attr-defined]
        if sqs is not None:
            sqs.send_message(QueueUrl=queue, MessageBody=notification(bucket, key, f.stat().st_size, etag))  # type: ignore[attr-defined]
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=3, help="history days (the burst is one more)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--sqs", action="store_true", help="the burst through S3 notifications on SQS (moto), not listing")
    ap.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder, removed)")
    args = ap.parse_args()

    from s3_server import s3_server
    from sqs_server import sqs_client, sqs_server

    from trailhound.simulator.labelled import simulate

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        estate = simulate(work / "estate", None, seed=11, scale=args.scale, days=args.days + 1, delivery="aws")
        logs = estate.logs
        files = sorted(f for f in (logs / "AWSLogs").rglob("*") if f.is_file())
        def day(f: Path) -> str:
            return f.parent.as_posix()[-10:]

        per_day = Counter(day(f) for f in files)
        burst_day = max(d for d, n in per_day.items() if n >= 100)  # the last full day (the attack's few objects ride along)
        history = [f for f in files if day(f) < burst_day]
        burst = [f for f in files if day(f) >= burst_day]
        lists = ["--threat-list", str(estate.threat_list), "--trusted-list", str(estate.trusted_list)]
        print(f"estate: {len(history):,} history objects ({sum(f.stat().st_size for f in history) / 1e6:.1f} MB), "
              f"burst {burst_day}: {len(burst):,} objects  ({time.perf_counter() - t:.0f} s to simulate)")

        # -- scan of the history files ------------------------------------------------------
        hist_dir = work / "history"
        for f in history:
            dest = hist_dir / f.relative_to(logs)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        scan_db = work / "scan.db"
        t = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([str(BIN / "trailhound"), "scan", str(hist_dir), "--db", str(scan_db), *lists, "-o", str(work / "scan.jsonl")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        scan_s = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the scan and its reading workers, all waited for
        scan_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        events = count(scan_db, "SELECT sum(events) FROM usage")
        scan_rate = events / scan_s
        print(f"scan:   {events:,} events in {scan_s:.1f} s = {scan_rate:,.0f} events/s ({scan_cpu:.1f} s CPU)")

        # -- serve from S3: the history (a cold start), then a burst ---------------------------------
        with s3_server(work / "seaweedfs") as s3, (sqs_server(work / "moto") if args.sqs else nullcontext(None)) as sqs_endpoint:
            sqs = sqs_client(sqs_endpoint) if sqs_endpoint else None
            queue = sqs.create_queue(QueueName="bench")["QueueUrl"] if sqs else ""
            via = ["--sqs-queue", queue, "--list-interval-s", "86400"] if sqs else []
            client = s3.client()
            client.create_bucket(Bucket="bench")
            up = upload(client, "bench", logs, history)
            print(f"upload: {len(history):,} objects in {up:.1f} s")
            db, port = work / "serve.db", free_port()
            log = open(work / "serve.log", "wb")
            t = time.perf_counter()
            proc = subprocess.Popen([str(BIN / "trailhound"), "serve", "--db", str(db), "--listen", f"127.0.0.1:{port}",
                                     "--source", "s3://bench/AWSLogs/", "--s3-endpoint", s3.endpoint, "--poll-s", "1", *via, *lists],
                                    env={**os.environ, **s3.env}, stdout=subprocess.DEVNULL, stderr=log)
            try:
                while not healthy(port):
                    assert proc.poll() is None, (work / "serve.log").read_text()[-2000:]
                    time.sleep(0.05)
                started = time.perf_counter() - t
                while count(db, "SELECT count(*) FROM s3_objects") < len(history):
                    assert proc.poll() is None, (work / "serve.log").read_text()[-2000:]
                    time.sleep(0.2)
                serve_s = time.perf_counter() - t
                serve_cpu = cpu_s(proc.pid)
                served = count(db, "SELECT sum(events) FROM usage")
                rate = served / serve_s
                print(f"serve:  {served:,} events in {serve_s:.1f} s = {rate:,.0f} events/s = {rate / scan_rate:.2f}x scan "
                      f"(goal >= 0.5x; from process start, S3 listing and fetching included; the API answered after {started:.1f} s; "
                      f"{serve_cpu:.1f} s CPU with its fetch process)")
                up = upload(client, "bench", logs, burst, sqs, queue)
                uploaded_at = time.perf_counter()
                peak = 0
                while count(db, "SELECT count(*) FROM s3_objects") < len(files):
                    assert proc.poll() is None, (work / "serve.log").read_text()[-2000:]
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                        for line in r.read().decode().splitlines():
                            if line.startswith("trailhound_source_objects_pending"):
                                peak = max(peak, int(float(line.rsplit(" ", 1)[1])))
                    time.sleep(0.2)
                lag = time.perf_counter() - uploaded_at
                print(f"burst{' (SQS)' if sqs else ''}:  {len(burst):,} objects uploaded in {up:.1f} s; all committed {lag:.1f} s after the last upload "
                      f"(goal < 60 s; at most {peak:,} pending at once)")
            finally:
                proc.terminate()
                proc.wait(60)
                log.close()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
