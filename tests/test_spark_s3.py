"""The Spark job's ``s3://`` source (``spark.s3_source``) against a real S3-compatible server (SeaweedFS):
offsets that take the oldest objects first within a read limit, the same objects when a micro-batch is
planned again after a restart, nothing still settling, nothing outside the prefix, no object fetched
past the size limit. (The job reading an
estate from S3 end to end is in test_spark_job.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.streaming.datasource import ReadAllAvailable

from s3_server import s3_server
from trailhound.spark.s3_source import S3StreamReader


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with s3_server(tmp_path / "s3") as server:
        for k, v in server.env.items():
            monkeypatch.setenv(k, v)
        client = server.client()
        client.create_bucket(Bucket="logs")
        yield server, client


def reader(endpoint: str, **options: str) -> S3StreamReader:
    return S3StreamReader({"paths": json.dumps(["s3://logs/AWSLogs/"]), "endpoint": endpoint, "settleSeconds": "0", **options})


def test_offsets_take_the_oldest_first_within_the_limit_and_replan_the_same(bucket: Any) -> None:
    server, client = bucket
    keys = [f"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/0{d}/{n}.json.gz" for d, n in ((2, "b"), (1, "z"), (3, "a"), (1, "y"), (2, "c"))]
    for i, key in enumerate(keys):
        if i in (0, 2, 4):  # three generations of objects, two of them in one second each (LastModified has whole seconds here)
            time.sleep(1.0 - time.time() % 1.0 + 0.01)
        client.put_object(Bucket="logs", Key=key, Body=f"body {i}".encode())
    client.put_object(Bucket="logs", Key="other/x.json.gz", Body=b"not under the prefix")
    r = reader(server.endpoint, maxFilesPerTrigger="2")
    offsets = [r.initialOffset()]
    batches = []
    while True:
        end = r.latestOffset(offsets[-1], r.getDefaultReadLimit())
        if end == offsets[-1]:
            break
        batches.append([(uri, body) for p in r.partitions(offsets[-1], end) for uri, body in r.read(p)])
        offsets.append(end)
    uri = [f"s3://logs/{k}" for k in keys]
    # by LastModified (the order they were put in), names apart; a tie broken by the URI
    assert batches == [[(uri[1], b"body 1"), (uri[0], b"body 0")], [(uri[3], b"body 3"), (uri[2], b"body 2")], [(uri[4], b"body 4")]]
    # Spark plans a micro-batch again after a restart, from its offsets alone: a new reader lists the same objects
    again = reader(server.endpoint, maxFilesPerTrigger="2")
    assert [u for p in again.partitions(offsets[1], offsets[2]) for u, _ in p.objects] == [uri[3], uri[2]]
    # no limit: everything at once, in tasks of objectsPerTask
    whole = reader(server.endpoint, objectsPerTask="2")
    end = whole.latestOffset(whole.initialOffset(), ReadAllAvailable())
    assert [len(p.objects) for p in whole.partitions(whole.initialOffset(), end)] == [2, 2, 1]
    # an object larger than maxBytes is not fetched whole: its first maxBytes + 1 bytes tell the pipeline it is too large
    capped = reader(server.endpoint, maxBytes="4")
    end = capped.latestOffset(capped.initialOffset(), ReadAllAvailable())
    assert {body for p in capped.partitions(capped.initialOffset(), end) for _, body in capped.read(p)} == {b"body "}
    # an object newer than settleSeconds waits: an upload in flight is listed with the time it began
    assert reader(server.endpoint, settleSeconds="3600").latestOffset(offsets[0], ReadAllAvailable()) == offsets[0]
