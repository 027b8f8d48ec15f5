"""S3 as a source: list a prefix after a marker, fetch an object to a local file.

AWS delivers CloudTrail, VPC flow and Route 53 Resolver logs under ``AWSLogs/<account>/<service>/...``
with names that carry the delivery time (``..._20261101T0005Z_...``): within one stream the keys are
in time order, which is what listing after a stored marker relies on. Credentials come from boto3's
usual chain (environment, ``~/.aws``, an instance or task role); ``endpoint_url`` points at an
S3-compatible store instead of AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_STAMP = re.compile(r"(?<![0-9])(20[0-9]{2})([01][0-9])([0-3][0-9])T([0-2][0-9])([0-5][0-9])Z")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_YEAR = re.compile(r"^(19|20)[0-9]{2}/$")
_DAY = re.compile(r"^(?P<y>[0-9]{4})/(?P<m>[0-9]{2})/(?P<d>[0-9]{2})/")
MAX_STREAMS = 10_000  # folders looked into under one prefix to find its streams


class SourceError(Exception):
    """A source that cannot be read now (no such bucket, no credentials, the endpoint down): one line.
    ``gone``: the object itself is no longer there as named (deleted, or rewritten since)."""

    def __init__(self, line: str, gone: bool = False) -> None:
        super().__init__(line)
        self.gone = gone

    def __reduce__(self) -> tuple[type, tuple[str, bool]]:  # from the fetch process, with ``gone``
        return SourceError, (str(self), self.gone)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def name(self, key: str) -> str:
        """What the store calls an object: its checkpoint, quarantine lines and messages name it so."""
        return f"s3://{self.bucket}/{key}"


def parse_location(text: str) -> S3Location:
    if not text.startswith("s3://"):
        raise ValueError(f"{text!r}: not an s3://BUCKET/PREFIX address")
    bucket, _, prefix = text[len("s3://"):].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"{text!r}: {bucket!r} is not an S3 bucket name")
    return S3Location(bucket, prefix)


@dataclass(frozen=True)
class Stream:
    """A run of objects whose keys come in time order: a folder of AWS's dated layout
    (``AWSLogs/<account>/CloudTrail/<region>/`` with ``YYYY/MM/DD/`` under it), or the files directly
    in a folder that has no dated layout (``flat``)."""

    location: S3Location
    flat: bool = False

    def start_after(self, marker: str, exact: bool = False) -> str:
        """Where to list from after ``marker``: from the day before the marker's day folder, since keys
        within a day are ordered per writer (one flow log's files, then another's), not globally, and a
        delivery can land in the previous day's folder. ``exact``: from the marker itself (catching up)."""
        if not marker or exact or self.flat:
            return marker
        rest = marker[len(self.location.prefix):]
        m = _DAY.match(rest)
        if not m:
            return marker
        import datetime as dt

        try:
            day = dt.date(int(m["y"]), int(m["m"]), int(m["d"])) - dt.timedelta(days=1)
        except ValueError:
            return marker
        return f"{self.location.prefix}{day:%Y/%m/%d}"


def key_time(key: str, fallback: float) -> float:
    """When a log object was delivered, from the stamp in AWS's names (``20261101T0005Z``), else ``fallback``."""
    m = None
    for m in _STAMP.finditer(key.rsplit("/", 1)[-1]):
        pass
    if m is None:
        return fallback
    import calendar

    y, mo, d, h, mi = (int(g) for g in m.groups())
    try:
        return float(calendar.timegm((y, mo, d, h, mi, 0)))
    except (ValueError, OverflowError):
        return fallback


@dataclass(slots=True)
class S3Object:
    location: S3Location
    key: str
    etag: str
    size: int
    time: float  # delivery time: from the key's stamp, else LastModified

    @property
    def name(self) -> str:
        return self.location.name(self.key)


def describe(exc: BaseException) -> str:
    """One line for what went wrong talking to S3."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "error"))
        message = err.get("Message") or {"NoSuchBucket": "the bucket does not exist", "404": "not found", "403": "access denied"}.get(code, "")
        return f"{code}: {message}".rstrip(": ")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return "no AWS credentials found (environment, ~/.aws, or an instance/task role)"
    if isinstance(exc, BotoCoreError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


class S3Reader:
    """One boto3 S3 client that lists (in the follower's fetch process; its GETs go through ``s3_get``)."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        self.client: Any = session.client("s3", endpoint_url=endpoint_url, region_name=region or session.region_name or "us-east-1",
                                          config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                                                        read_timeout=60, max_pool_connections=32))

    def streams(self, location: S3Location) -> list[Stream]:
        """The streams under a prefix: folders are walked (with S3's delimiter) down to AWS's dated layout."""
        out: list[Stream] = []
        todo = [location.prefix]
        seen = 0
        try:
            while todo and seen < MAX_STREAMS:
                prefix = todo.pop(0)
                seen += 1
                folders, files = [], False
                for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix, Delimiter="/"):
                    folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
                    files = files or any(not c["Key"].endswith("/") for c in page.get("Contents", ()))
                if any(_YEAR.match(f[len(prefix):]) for f in folders):
                    out.append(Stream(S3Location(location.bucket, prefix)))
                    continue
                if files:
                    out.append(Stream(S3Location(location.bucket, prefix), flat=True))
                todo.extend(folders)
        except Exception as exc:
            raise SourceError(f"{location.url}: {describe(exc)}") from None
        return out

    def list_after(self, location: S3Location, marker: str, limit: int, flat: bool = False) -> tuple[list[S3Object], bool]:
        """Up to ``limit`` objects under the prefix after ``marker``, in S3's (key) order; and whether more remain.
        ``flat``: only the objects directly in the prefix's folder."""
        out: list[S3Object] = []
        try:
            for page in self._pages(location, marker, flat):
                for item in page.get("Contents", ()):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue  # a folder placeholder
                    out.append(S3Object(location, key, str(item.get("ETag", "")).strip('"'), int(item.get("Size", 0)),
                                        key_time(key, item["LastModified"].timestamp())))
                    if len(out) >= limit:
                        return out, True
        except Exception as exc:
            raise SourceError(f"{location.url}: {describe(exc)}") from None
        return out, False

    def _pages(self, location: S3Location, marker: str, flat: bool) -> Iterator[dict[str, Any]]:
        args: dict[str, Any] = {"Bucket": location.bucket, "Prefix": location.prefix}
        if flat:
            args["Delimiter"] = "/"
        if marker:
            args["StartAfter"] = marker
        return iter(self.client.get_paginator("list_objects_v2").paginate(**args))
