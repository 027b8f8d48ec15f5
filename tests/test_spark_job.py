"""The Spark job for real: pyspark in local mode (OpenJDK), RocksDB state, the PostgreSQL store.

It must give ``scan``'s findings on the same estate, write nothing twice when Spark replays a
micro-batch, and lose and double nothing when its driver is killed mid-stream and restarted."""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from trailhound.config import ScanSettings
from trailhound.events import ApiCall
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import Occurrence
from trailhound.pipeline import Scanner
from trailhound.store.database import Store
from trailhound.simulator.labelled import simulate
from trailhound.spark import job, shipping

import pg
from test_spark_stages import findings


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, tuple[Any, ...]], int]:
    est = simulate(tmp_path_factory.mktemp("spark-job"), None, seed=23, scale=0.1, days=1)
    logs = est.logs / "AWSLogs"
    store = Store(":memory:")
    Scanner(store, ScanSettings(flush_at_end=False, inventory=[est.inventory])).scan([logs])
    return logs, est.inventory, findings(store), sum(1 for p in logs.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def spark() -> Any:
    session = job.session("local[2]", 4)
    yield session
    session.stop()


def test_job_finds_what_scan_finds_and_a_replayed_or_repeated_run_adds_nothing(estate: Any, spark: Any, tmp_path: Path) -> None:
    logs, inventory, expected, _ = estate
    assert len(expected) >= 40  # enough of every kind to compare (test_spark_stages checks the kinds)
    assert {"AttackSequence:IAM/CompromisedCredentials", "AttackSequence:S3/CompromisedData"} <= {v[0] for v in expected.values()}  # stage 3
    db, checkpoint = pg.fresh_url(), str(tmp_path / "checkpoint")
    sink = job.run_job([str(logs)], db, ScanSettings(inventory=[inventory]), checkpoint, once=True)
    assert sink.batches >= 1
    store = Store(db, readonly=True)
    assert findings(store) == expected
    # A crash after the sink committed the last micro-batch and before Spark recorded it: Spark runs that batch
    # again (its stateful stage too, from the state before it); the sink knows its id and writes nothing.
    commits = sorted((Path(checkpoint) / "commits").glob("[0-9]*"), key=lambda p: int(p.name))
    commits[-1].unlink()
    (commits[-1].parent / f".{commits[-1].name}.crc").unlink(missing_ok=True)  # (the local file system's checksum beside it)
    again = job.run_job([str(logs)], db, ScanSettings(inventory=[inventory]), checkpoint, once=True)
    assert (again.skipped, again.batches, again.occurrences) == (1, 0, 0)
    assert findings(store) == expected
    # and once more: every file is done, nothing to run, no count moves
    last = job.run_job([str(logs)], db, ScanSettings(inventory=[inventory]), checkpoint, once=True)
    assert (last.skipped, last.occurrences) == (0, 0)
    assert findings(store) == expected
    store.close()


def test_a_replayed_micro_batch_changes_nothing(spark: Any, tmp_path: Path) -> None:
    """Spark replays a micro-batch whose commit it did not record; the sink recognises its id."""
    call = msgspec.json.decode(b'{"eventTime": "2026-11-04T09:00:00Z", "eventName": "ListBuckets", "eventSource": "s3.amazonaws.com", '
                               b'"awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "recipientAccountId": "111122223333", '
                               b'"userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}}', type=ApiCall)
    occ: Occurrence = api_occurrence(call, "Policy:IAMUser/RootCredentialUsage", 2.0, "Root credentials were used.", "ListBuckets by root.")
    frame = spark.createDataFrame([(shipping.OCCURRENCE, occ.time, shipping.encode_occurrence(occ))] * 3, job.OUT)
    db = pg.fresh_url()
    store = Store(db)
    sink = job.Sink(store, ScanSettings(flush_at_end=False), str(tmp_path / "ck"))
    sink(frame, 0)
    count = store.finding(next(iter(findings(store)))).service.count
    assert count == 3
    sink(frame, 0)  # replayed
    assert sink.skipped == 1 and store.finding(next(iter(findings(store)))).service.count == 3
    sink(frame, 1)  # the next one counts
    assert store.finding(next(iter(findings(store)))).service.count == 6
    assert store.meta(job.batch_marker(str(tmp_path / "ck"))) == "1"
    store.close()


def test_driver_killed_mid_stream_loses_and_doubles_nothing(estate: Any, tmp_path: Path) -> None:
    logs, inventory, expected, files = estate
    db, checkpoint = pg.fresh_url(), str(tmp_path / "checkpoint")
    per_batch = max(1, files // 16)  # ~16 micro-batches: killed after the second, well before the last
    cmd = [sys.executable, "-m", "trailhound.cli", "spark-job", str(logs), "--checkpoint", checkpoint, "--db", db, "--once",
           "--files-per-trigger", str(per_batch), "--inventory", str(inventory)]
    marker = job.batch_marker(checkpoint)
    log = (tmp_path / "first.log").open("w+")  # (a file, not a pipe: Spark's progress lines would fill a pipe and stop the job)
    first = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)
    store: Store | None = None  # read-only beside the job (it holds the store's writer lock)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        try:
            store = store or Store(db, readonly=True)
        except Exception:  # not created yet
            time.sleep(0.2)
            continue
        if int(store.meta(marker) or -1) >= 2:
            break
        time.sleep(0.2)
    assert first.poll() is None, f"the job ended before it could be killed mid-stream: {(tmp_path / 'first.log').read_text()[-2000:]!r}"
    assert store is not None
    os.killpg(first.pid, signal.SIGKILL)  # the driver, its JVM and its Python workers, at once
    first.wait()
    killed_at = int(store.meta(marker))
    assert 2 <= killed_at < 12, killed_at
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    causes = [line for line in done.stderr.splitlines() if "Caused by" in line or "Error" in line]
    assert done.returncode == 0, "\n".join(causes[:12]) or done.stderr[-2000:]
    assert int(store.meta(marker)) >= 15  # it went on from the checkpoint to the end
    assert findings(store) == expected
    store.close()


def test_job_reads_an_estate_from_s3(estate: Any, tmp_path: Path) -> None:
    """``s3://`` sources (``spark.s3_source``, boto3 in the executors) on a real S3-compatible server, through
    the command as a user runs it: scan's findings, in several micro-batches."""
    from s3_server import s3_server

    logs, inventory, expected, files = estate
    with s3_server(tmp_path / "s3") as server:
        client = server.client()
        client.create_bucket(Bucket="org-logs")
        # in delivery order, as AWS writes them (the source takes them in the order S3 stamped them)
        delivered = sorted((p for p in logs.rglob("*") if p.is_file()), key=lambda p: (m.group(1) if (m := re.search(r"_(\d{8}T\d{4})Z_", p.name)) else "", p))
        for path in delivered:
            client.put_object(Bucket="org-logs", Key=f"AWSLogs/{path.relative_to(logs).as_posix()}", Body=path.read_bytes())
        assert len(delivered) == files
        # and one object larger than --max-file-mb: never fetched whole, quarantined as too large (the limit above the largest
        # log: the attack day's CloudTrail file, every detector's cases in one, inflates to ~20 MB)
        largest = max(len(gzip.decompress(b) if (b := p.read_bytes())[:2] == b"\x1f\x8b" else b) for p in delivered)
        limit_mb = int(largest / 1e6) + 5
        huge = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01/111122223333_CloudTrail_us-east-1_20261101T0000Z_huge.json"
        client.put_object(Bucket="org-logs", Key=huge, Body=b'{"Records": [' + b" " * (limit_mb * 1_000_000 + 100_000) + b"]}")
        db, checkpoint = pg.fresh_url(), str(tmp_path / "checkpoint")
        cmd = [sys.executable, "-m", "trailhound.cli", "spark-job", "s3://org-logs/AWSLogs/", "--checkpoint", checkpoint, "--db", db, "--once",
               "--files-per-trigger", str(files // 3 + 1), "--inventory", str(inventory), "--s3-endpoint", server.endpoint,
               "--s3-settle-seconds", "0", "--max-file-mb", str(limit_mb)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, **server.env})
        causes = [line for line in done.stderr.splitlines() if "Caused by" in line or "Error" in line]
        assert done.returncode == 0, "\n".join(causes[:12]) or done.stderr[-2000:]
        assert "3 micro-batches" in done.stdout, done.stdout
    store = Store(db, readonly=True)
    assert findings(store) == expected
    assert [(q["path"], f"larger than {limit_mb} MB" in q["message"]) for q in store.quarantined()] == [(f"s3://org-logs/{huge}", True)]
    store.close()
