"""S3 event notifications on an SQS queue: which objects were just created.

S3 sends one message per event (``{"Records": [{"eventSource": "aws:s3", "eventName":
"ObjectCreated:Put", "s3": {"bucket": {"name"}, "object": {"key", "size", "eTag"}}}]}``, the key
URL-encoded with ``+`` for a space), an ``s3:TestEvent`` when the notification is configured, and,
through an SNS topic, the same JSON inside SNS's envelope (``{"Type": "Notification", "Message"}``).
A message is only a hint: the follower reads the object, commits its checkpoint, and deletes the
message after that, so a crash in between redelivers it and the checkpoint skips the object.
"""

from __future__ import annotations

import calendar
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import orjson

from trailhound.sources.s3 import SourceError, describe

MAX_BATCH = 10  # SQS's limit per ReceiveMessage and DeleteMessageBatch


@dataclass(frozen=True, slots=True)
class Notice:
    """One created object, as a notification names it."""

    bucket: str
    key: str
    etag: str
    size: int
    time: float  # the event's time (used when the key carries no delivery stamp)


@dataclass(slots=True)
class Message:
    receipt: str
    notices: list[Notice]
    problem: str | None = None  # not a notification we understand: said once, then deleted (listing still finds the object)


def _when(text: Any) -> float:
    try:
        return float(calendar.timegm(time.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return time.time()


def parse(body: str | bytes) -> list[Notice]:
    """The created objects a message names ([] for a test event or another kind of event); ValueError if
    it is not an S3 notification at all."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return parse(doc["Message"])  # through SNS
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return []
    records = doc.get("Records")
    if not isinstance(records, list):
        raise ValueError("no Records")
    out: list[Notice] = []
    for record in records:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            raise ValueError("a record that is not an S3 event")
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue  # removals, restores, tagging: nothing new to read
        s3 = record.get("s3") or {}
        bucket, obj = (s3.get("bucket") or {}).get("name"), s3.get("object") or {}
        key = obj.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str) or not key:
            raise ValueError("an S3 event without a bucket name or object key")
        size = obj.get("size", 0)
        out.append(Notice(bucket, urllib.parse.unquote_plus(key), str(obj.get("eTag") or "").strip('"'),
                          int(size) if isinstance(size, int) else 0, _when(record.get("eventTime"))))
    return out


def client_for(url: str) -> Any:
    """A boto3 SQS client for a queue URL: AWS's region from ``sqs.<region>.amazonaws.com``, and any other
    host (an SQS-compatible server) as the endpoint itself."""
    import boto3
    from botocore.config import Config

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.count("/") < 2:
        raise ValueError(f"--sqs-queue {url!r}: give the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
    session = boto3.session.Session()
    host = parts.hostname or ""
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    if host.endswith(".amazonaws.com"):
        labels = host.split(".")
        region = labels[1] if len(labels) > 3 and labels[0] == "sqs" else session.region_name or "us-east-1"
        return session.client("sqs", region_name=region, config=config)
    return session.client("sqs", endpoint_url=f"{parts.scheme}://{parts.netloc}", region_name=session.region_name or "us-east-1",
                          config=config)


class Queue:
    """One queue of S3 notifications (thread-confined to the follower)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = client_for(url)

    def receive(self, limit: int, visibility_s: int, wait_s: int = 0) -> list[Message]:
        """Up to ``limit`` messages, hidden from other receivers for ``visibility_s`` while they are read."""
        out: list[Message] = []
        try:
            while len(out) < limit:
                got = self.client.receive_message(QueueUrl=self.url, MaxNumberOfMessages=min(MAX_BATCH, limit - len(out)),
                                                  VisibilityTimeout=visibility_s, WaitTimeSeconds=wait_s if not out else 0)
                messages = got.get("Messages", [])
                if not messages:
                    break
                for m in messages:
                    try:
                        out.append(Message(m["ReceiptHandle"], parse(m.get("Body", ""))))
                    except (ValueError, TypeError, RecursionError) as exc:
                        out.append(Message(m["ReceiptHandle"], [], problem=f"message {m.get('MessageId', '?')}: {exc}"))
        except Exception as exc:
            if out:
                return out  # what was received is read; the rest comes next time
            raise SourceError(f"{self.url}: {describe(exc)}") from None
        return out

    def delete(self, receipts: list[str]) -> None:
        try:
            for i in range(0, len(receipts), MAX_BATCH):
                entries = [{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(receipts[i : i + MAX_BATCH])]
                self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
        except Exception as exc:  # not deleted: redelivered later, and the checkpoints skip what it names
            raise SourceError(f"{self.url}: {describe(exc)}") from None


__all__ = ["Message", "Notice", "Queue", "client_for", "parse"]
