"""Findings to an S3 bucket in GuardDuty's export layout: gzipped JSON lines under
``<prefix>AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<name>.jsonl.gz``, one object per account
and region of each export pass (at most ``ExportSettings.page`` findings), a line per finding — the
finding itself in GuardDuty's JSON, or its OCSF Detection Finding with ``--export-format ocsf``.

An object's name is a UUID of the first and last idempotency keys it holds and its day that of the
last finding's ``updatedAt``: the same findings retried after a failure or a crash are written under
the same key again (S3 replaces it), not as a second object.
"""

from __future__ import annotations

import gzip
import uuid
from typing import Any

from trailhound.export.delivery import Delivery, DeliveryError
from trailhound.export.envelope import NAMESPACE
from trailhound.sources.s3 import describe, parse_location

PAGE = 500


class S3Destination:
    def __init__(self, url: str, endpoint_url: str | None = None, batch: int = PAGE) -> None:
        self.location = parse_location(url)  # ValueError: a usage error
        if self.location.prefix and not self.location.prefix.endswith("/"):
            self.location = type(self.location)(self.location.bucket, self.location.prefix + "/")
        self.name = f"s3:{self.location.url}"
        self.batch = batch
        self.endpoint_url = endpoint_url
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.session.Session()
            self._client = session.client("s3", endpoint_url=self.endpoint_url, region_name=session.region_name or "us-east-1",
                                          config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60))
        return self._client

    def key(self, account: str, region: str, items: list[Delivery]) -> str:
        last = items[-1].finding_updated
        day = f"{last[:4]}/{last[5:7]}/{last[8:10]}" if len(last) >= 10 and last[4] == "-" else "unknown"
        name = uuid.uuid5(NAMESPACE, f"{items[0].key}..{items[-1].key}")
        return f"{self.location.prefix}AWSLogs/{account}/GuardDuty/{region}/{day}/{name}.jsonl.gz"

    def send(self, items: list[Delivery]) -> None:
        groups: dict[tuple[str, str], list[Delivery]] = {}
        for d in items:
            groups.setdefault((d.account, d.region), []).append(d)
        for (account, region), group in groups.items():
            key = self.key(account or "unknown", region or "unknown", group)
            data = gzip.compress(b"".join(d.record + b"\n" for d in group), mtime=0)
            try:
                self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data, ContentType="application/x-ndjson")
            except Exception as exc:
                raise DeliveryError(f"{self.name}: {describe(exc)}") from None


__all__ = ["S3Destination"]
