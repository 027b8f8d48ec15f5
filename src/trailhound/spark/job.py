"""The Structured Streaming query: files → ``shipping`` → ``groupBy(bucket)`` + ``buckets`` → the store.

``run_job`` builds and runs it (``trailhound spark-job``). Spark owns what a distributed run needs:
which files each micro-batch reads and that each is read once (the file source's checkpoint), the
keyed state (RocksDB, checkpointed with the batch), retries and recovery. Trailhound's part is
the three functions below; the store is written only by the driver, once per micro-batch, with the
batch's id in the same transaction (a batch Spark replays after a crash is recognised and skipped).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle

from trailhound.config import ScanSettings
from trailhound.engine.keyed import KeyedDetector
from trailhound.formats.base import Problem
from trailhound.pipeline import Scanner
from trailhound.spark import buckets, shipping
from trailhound.store.database import Store

SHIPPED = "kind STRING, bucket INT, det STRING, key STRING, at DOUBLE, first DOUBLE, last DOUBLE, payload BINARY"
OUT = "kind STRING, at DOUBLE, payload BINARY"
_COLUMNS = shipping.Shipped.__struct_fields__
_ENVELOPE = "detector STRING, key STRING, version INT, born DOUBLE, last DOUBLE, timer DOUBLE, value BINARY"  # (det, key, *engine.state.Row)
_FILES = "path STRING, modificationTime TIMESTAMP, length BIGINT, content BINARY"  # the binaryFile source's own
_STATE_SERVER = "org.apache.spark.sql.execution.python.streaming.TransformWithStateInPySparkStateServer"
_ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def _meta(db: str, key: str) -> str | None:
    store = Store(db, readonly=True)
    try:
        return store.meta(key)
    finally:
        store.close()


def _name(uri: str) -> str:
    """The file's name in the store: its path for a local file (as ``scan`` names it), else its URI."""
    return unquote(uri[len("file:"):]) if uri.startswith("file:") else uri


# -- stage 1: executors, per partition -------------------------------------------------------------

def ship_partition(settings: ScanSettings, db: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    inventory = _meta(db, "inventory")  # as the store has it now: what earlier micro-batches learned, and --inventory
    for frame in batches:
        files = [(_name(p), bytes(c)) for p, c in zip(frame["path"], frame["content"])]
        rows = list(map(msgspec.structs.astuple, shipping.ship(files, settings, inventory)))
        yield pd.DataFrame(rows, columns=list(_COLUMNS)) if rows else pd.DataFrame({c: [] for c in _COLUMNS})


# -- stage 2: executors, per bucket ----------------------------------------------------------------

def _row(value: Any) -> tuple[Any, ...]:
    """A stored envelope row back as ``engine.state.Row`` (a null timer may come back as NaN)."""
    version, born, last, timer, blob = value
    return int(version), float(born), float(last), None if timer is None or timer != timer else float(timer), bytes(blob)


_built: dict[tuple[str, str | None], dict[str, KeyedDetector]] = {}  # per worker process: the last set built (detectors hold no state)


def _detectors(settings: ScanSettings, inventory: str | None) -> dict[str, KeyedDetector]:
    """The keyed detectors as ``scan`` builds them (its intel, geo, and this inventory), less the correlators:
    an attack sequence reads the findings of every bucket, which a bucket does not see."""
    key = (repr(settings), inventory)
    if key not in _built:
        _built.clear()
        _built[key] = _build(settings, inventory)
    return _built[key]


def _build(settings: ScanSettings, inventory: str | None) -> dict[str, KeyedDetector]:
    store = Store(":memory:")
    if inventory:
        store.set_meta("inventory", inventory)
    scanner = Scanner(store, settings)
    return {n: d for n, d in scanner.engine.detectors.items() if not d.correlates}


class BucketProcessor(StatefulProcessor):
    def __init__(self, settings: ScanSettings, db: str) -> None:
        self.settings, self.db = settings, db

    def init(self, handle: StatefulProcessorHandle) -> None:
        # A bucket's envelopes are one list, read and written whole, once per micro-batch: two calls into the state
        # server per bucket, where a MapState would take one per entity (~1.5 ms each here: 30x slower in all).
        self.envelopes = handle.getListState("envelopes", _ENVELOPE)
        self.clock = handle.getValueState("clock", "watermark DOUBLE, swept DOUBLE")
        self.detectors = _detectors(self.settings, _meta(self.db, "inventory"))

    def handleInputRows(self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any) -> Iterator[pd.DataFrame]:
        shipped, out = [], []
        for frame in rows:
            for r in zip(*(frame[c] for c in _COLUMNS)):
                if r[0] in (shipping.OCCURRENCE, shipping.CHANGES):  # for the sink, as they are
                    out.append((r[0], float(r[4]), bytes(r[7])))
                else:
                    shipped.append(shipping.Shipped(r[0], int(r[1]), r[2], r[3], float(r[4]), float(r[5]), float(r[6]), bytes(r[7])))
        clock = self.clock.get() if self.clock.exists() else None
        wm, swept = (float(clock[0]), float(clock[1])) if clock else (-float("inf"), -float("inf"))
        rows = buckets.DictMap(((det, key), _row(rest)) for det, key, *rest in self.envelopes.get()) if self.envelopes.exists() else buckets.DictMap()
        timers = buckets.DictMap((k, row[3]) for k, row in rows.items() if row[3] is not None)
        state = buckets.BucketState(rows, timers, self.detectors)
        occurrences, problems, wm, swept = buckets.run(self.detectors, state, self.settings.allowed_lateness_s, wm, shipped, swept)
        if state.changed:
            if rows:
                self.envelopes.put([(det, key, *row) for (det, key), row in rows.items()])
            else:
                self.envelopes.clear()
        self.clock.update((wm, swept))
        out.extend((shipping.OCCURRENCE, o.time, shipping.encode_occurrence(o)) for o in occurrences)
        out.extend((shipping.PROBLEM, wm, msgspec.json.encode((p.path, p.message))) for p in problems)
        if out:
            yield pd.DataFrame(out, columns=["kind", "at", "payload"])

    def close(self) -> None:
        pass


def batch_marker(checkpoint: str) -> str:
    """The store's meta key holding the last micro-batch written by the query of this checkpoint."""
    where = checkpoint if "://" in checkpoint else str(Path(checkpoint).resolve())
    return f"spark.{hashlib.sha256(where.encode()).hexdigest()[:12]}.batch"


# -- the sink: the driver, per micro-batch ------------------------------------------------------------

class Sink:
    """Occurrences into findings by ``scan``'s aggregator (its enrichment, trusted lists, suppression
    rules), usage and quarantine beside them, committed with the micro-batch's id."""

    def __init__(self, store: Store, settings: ScanSettings, checkpoint: str) -> None:
        self.store = store
        self.scanner = Scanner(store, settings)
        self.marker = batch_marker(checkpoint)
        self.batches = self.skipped = self.occurrences = 0

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        done = self.store.meta(self.marker)
        if done is not None and int(done) >= batch_id:  # committed before a crash, replayed by Spark: already in
            # ... but run it all the same: the replay's stateful stage must commit its state, or Spark refuses the batch
            frame.write.format("noop").mode("overwrite").save()
            self.skipped += 1
            return
        table = frame.toArrow()
        scanner = self.scanner
        changes = scanner.changes
        occurrences = []
        for kind, payload in zip(table.column("kind").to_pylist(), table.column("payload").to_pylist()):
            if kind == shipping.OCCURRENCE:
                occurrences.append(shipping.decode_occurrence(payload))
            elif kind == shipping.CHANGES:
                ch = shipping.decode_changes(payload)
                for day, acct, source, resource, events, size in ch.usage:
                    slot = changes.usage.setdefault((day, acct, source, resource), [0, 0])
                    slot[0] += events
                    slot[1] += size
                changes.quarantine.extend(map(shipping.problem_of, ch.quarantine))
                if ch.inventory is not None:
                    scanner.inventory.merge(ch.inventory)
            elif kind == shipping.PROBLEM:
                path, message = msgspec.json.decode(payload)
                changes.quarantine.append(("", Problem(path, message)))
        scanner.add_occurrences(occurrences)
        self.occurrences += len(occurrences)
        scanner.changes.meta[self.marker] = str(batch_id)
        scanner.commit()
        self.batches += 1


# -- the query -------------------------------------------------------------------------------------

def session(master: str, partitions: int, conf: dict[str, str] | None = None) -> SparkSession:
    # Python workers started by a local master run this interpreter (its packages), unless told otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (SparkSession.builder.master(master).appName("trailhound")
               .config("spark.sql.streaming.stateStore.providerClass", _ROCKSDB)
               # state partitions: fixed by the checkpoint once the query first runs
               .config("spark.sql.shuffle.partitions", str(partitions))
               # a log file is a few KB, not the 4 MB Spark assumes opening one costs: without this, a micro-batch of
               # small files is cut into a task per ~32 files, each paying a pipeline set-up (~10x the work)
               .config("spark.sql.files.openCostInBytes", str(64 * 1024))
               .config("spark.ui.enabled", "false"))
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    # The state server warns once per MapState lookup of a key it does not hold: every new entity. (A local master's
    # executors share this JVM; a cluster's take the same line in their log4j2.properties.)
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(_STATE_SERVER, jvm.org.apache.logging.log4j.Level.ERROR)
    return spark


def run_job(sources: list[str], db: str, settings: ScanSettings, checkpoint: str, master: str = "local[2]", once: bool = False,
            files_per_trigger: int | None = None, partitions: int | None = None, trigger_s: float = 60.0,
            conf: dict[str, str] | None = None) -> Sink:
    """Run the query until it stops (``once``: when every file there now is processed)."""
    store = Store(db)
    try:
        settings = dataclasses.replace(settings, flush_at_end=False)
        sink = Sink(store, settings, checkpoint)
        sink.scanner.scan([])  # --inventory into the store, for every executor to read
        cores = _cores(master)
        spark = session(master, partitions or 2 * cores, conf)
        shipped_settings = dataclasses.replace(settings, inventory=[])  # the store has it
        streams = []
        for src in sources:
            reader = spark.readStream.format("binaryFile").schema(_FILES).option("recursiveFileLookup", "true")
            if files_per_trigger:
                reader = reader.option("maxFilesPerTrigger", files_per_trigger)
            streams.append(reader.load(_uri(src)).select("path", "content"))
        files = functools.reduce(DataFrame.unionByName, streams)
        rows = files.mapInPandas(functools.partial(ship_partition, shipped_settings, db), SHIPPED)
        found = rows.groupBy("bucket").transformWithStateInPandas(BucketProcessor(shipped_settings, db), OUT, "Append", "None")
        writer = found.writeStream.foreachBatch(sink).option("checkpointLocation", checkpoint)
        writer = writer.trigger(availableNow=True) if once else writer.trigger(processingTime=f"{trigger_s} seconds")
        writer.start().awaitTermination()
        return sink
    finally:
        store.close()


def _uri(src: str) -> str:
    return src if "://" in src else Path(src).resolve().as_uri()


def _cores(master: str) -> int:
    if master.startswith("local["):
        n = master[len("local["):-1]
        return (os.cpu_count() or 1) if n == "*" else int(n)
    return 2
