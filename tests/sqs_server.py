"""SQS for the tests and the ingestion bench: moto's server mode (``moto_server``, from the moto[server]
test extra) as a subprocess on a free loopback port, and the S3 event notifications S3 would put on
a queue, in S3's own JSON (event structure version 2.1)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import orjson


def sqs_client(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


@contextmanager
def sqs_server(folder: Path) -> Iterator[str]:
    """moto's SQS on a free port; yields its endpoint URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "moto.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "moto_server exited"
            try:
                sqs_client(endpoint).list_queues()
                break
            except Exception:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def notification(bucket: str, key: str, size: int, etag: str, event: str = "ObjectCreated:Put") -> str:
    """What S3 puts on the queue for one event (event structure version 2.1): the key URL-encoded, spaces as +."""
    return orjson.dumps({"Records": [record(bucket, key, size, etag, event)]}).decode()


def record(bucket: str, key: str, size: int, etag: str, event: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-03T10:05:12.345Z",
        "eventName": event, "userIdentity": {"principalId": "AWS:AROAEXAMPLE:delivery"},
        "requestParameters": {"sourceIPAddress": "10.0.0.1"}, "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                                                                                   "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailhound", "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                                                                                    "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}}}


