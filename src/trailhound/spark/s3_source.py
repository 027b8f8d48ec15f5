"""``s3://`` sources for the Spark job without Hadoop's S3 connector: a streaming data source in Python
(Spark 4's ``DataSource`` API) that lists the prefixes with boto3 and fetches the objects in the executors.

Spark's own file source reads ``s3a://`` where the ``hadoop-aws`` connector is on its classpath (EMR,
Databricks, Glue); this one needs nothing but boto3's credential chain, and reads S3-compatible stores
too (``endpoint``). Its offset is a point in one total order of the objects: (LastModified, the delivery
time AWS writes in the name, URI) — S3 gives LastModified in whole seconds, and the files of one second
go in delivery order. A micro-batch takes the objects after its start, oldest first, at most ``maxFilesPerTrigger`` of them,
and none modified in the last ``settleSeconds``: S3 stamps an upload when it starts, so one still in
flight could later be listed behind objects already taken. AWS's log deliveries are small single PUTs;
two minutes is ample. The objects of a micro-batch are those between its two offsets, listed again when
Spark replans it after a restart: the same objects, since log objects are not rewritten (one that is
gets a new LastModified and is read again, as a new delivery).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxFiles, SupportsTriggerAvailableNow

from trailhound.sources.s3 import S3Reader, key_time, parse_location

NAME = "trailhound-s3"
SCHEMA = "path STRING, content BINARY"  # as the binaryFile source's two columns the job reads
_START = {"modified_ms": -1, "stamp": -1.0, "uri": ""}
Listed = tuple[int, float, str, int]  # (LastModified in ms, delivery time from the name, URI, size): in offset order


@dataclass
class Objects(InputPartition):  # type: ignore[misc]
    """One task's objects: (URI, size)."""

    objects: list[tuple[str, int]]


class S3Source(DataSource):  # type: ignore[misc]
    """``spark.readStream.format("trailhound-s3").option("paths", json list of s3:// prefixes)``; options
    ``endpoint``, ``maxFilesPerTrigger``, ``settleSeconds``, ``objectsPerTask``, ``maxBytes``."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> S3StreamReader:
        return S3StreamReader(dict(self.options))


class S3StreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):  # type: ignore[misc]
    def __init__(self, options: dict[str, str]) -> None:
        options = {k.lower(): v for k, v in options.items()}  # (Spark hands them over lower-cased)
        self.prefixes = [parse_location(p) for p in json.loads(options["paths"])]
        self.endpoint = options.get("endpoint") or None
        self.max_files = int(options.get("maxfilespertrigger") or 0)
        self.settle_ms = int(float(options.get("settleseconds", "120")) * 1000)
        self.per_task = max(1, int(options.get("objectspertask", "256")))
        self.max_bytes = int(options.get("maxbytes") or 0)  # more is not fetched: the first maxBytes + 1 bytes say it is too large
        self._listed: list[Listed] | None = None  # the last listing (driver only: dropped before a task is sent)
        self._target: tuple[int, float, str] | None = None  # available-now (``--once``): the last object there when the query began
        self._client: Any = None  # one boto3 client per reader: the driver's listings, a task's fetches

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None, "_listed": None}  # a client does not pickle; a task makes its own

    def _s3(self) -> Any:
        if self._client is None:
            self._client = S3Reader(self.endpoint).client
        return self._client

    def initialOffset(self) -> dict[str, Any]:
        return dict(_START)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxFiles(self.max_files) if self.max_files else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        settled = self._settled(self._list())
        self._target = settled[-1][:3] if settled else (-1, -1.0, "")

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        self._listed = listed = self._list()
        after = self._settled(_between(listed, start, None))
        if self._target is not None:
            after = [o for o in after if o[:3] <= self._target]
        if not after:
            return start
        n = limit.max_files if isinstance(limit, ReadMaxFiles) else len(after)
        last = after[min(n, len(after)) - 1]
        return {"modified_ms": last[0], "stamp": last[1], "uri": last[2]}

    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> Sequence[InputPartition]:
        listed, self._listed = (self._listed if self._listed is not None else self._list()), None
        objects = [(uri, size) for _, _, uri, size in _between(listed, start, end)]
        return [Objects(objects[i:i + self.per_task]) for i in range(0, len(objects), self.per_task)]

    def read(self, partition: Objects) -> Iterator[tuple[str, bytes]]:
        client = self._s3()
        for uri, size in partition.objects:
            where = parse_location(uri)
            capped = {"Range": f"bytes=0-{self.max_bytes}"} if self.max_bytes and size > self.max_bytes else {}
            # (a capped object reaches the pipeline larger than --max-file-mb: quarantined as too large, as scan does)
            yield uri, client.get_object(Bucket=where.bucket, Key=where.prefix, **capped)["Body"].read()

    def commit(self, end: dict[str, Any]) -> None:
        pass

    def _settled(self, listed: list[Listed]) -> list[Listed]:
        settled = int(time.time() * 1000) - self.settle_ms
        return [o for o in listed if o[0] <= settled]

    def _list(self) -> list[Listed]:
        """Every object under the prefixes, in offset order."""
        client = self._s3()
        out = []
        for where in self.prefixes:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.prefix):
                for o in page.get("Contents", ()):
                    if not o["Key"].endswith("/"):
                        modified = o["LastModified"].timestamp()
                        out.append((int(modified * 1000), key_time(o["Key"], modified), where.name(o["Key"]), int(o.get("Size", 0))))
        out.sort()
        return out


def _between(listed: list[Listed], start: dict[str, Any], end: dict[str, Any] | None) -> list[Listed]:
    lo = (int(start["modified_ms"]), float(start["stamp"]), str(start["uri"]))
    hi = (int(end["modified_ms"]), float(end["stamp"]), str(end["uri"])) if end is not None else None
    return [o for o in listed if o[:3] > lo and (hi is None or o[:3] <= hi)]
