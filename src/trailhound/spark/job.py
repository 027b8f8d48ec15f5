"""The Structured Streaming query: files → ``shipping`` → ``groupBy(bucket)`` + ``buckets.detect`` →
``groupBy(bucket of the actor)`` + ``buckets.correlate`` → the store.

``run_job`` builds and runs it (``trailhound spark-job``). Spark owns what a distributed run needs:
which files each micro-batch reads and that each is read once (the file source's checkpoint), the
keyed state (RocksDB, checkpointed with the batch), retries and recovery. Trailhound's part is
the stage functions below; the store is written only by the driver, once per micro-batch, with the
batch's id in the same transaction (a batch Spark replays after a crash is recognised and skipped).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle

from trailhound.config import ScanSettings
from trailhound.engine.keyed import KeyedDetector
from trailhound.enrich.inventory import Inventory
from trailhound.findings.model import Occurrence
from trailhound.formats.base import Problem
from trailhound.intel import stored as stored_lists
from trailhound.intel.stored import StoredLists
from trailhound.pipeline import Scanner
from trailhound.spark import buckets, s3_source, shipping
from trailhound.store.database import Store

SHIPPED = "kind STRING, bucket INT, det STRING, key STRING, at DOUBLE, first DOUBLE, last DOUBLE, payload BINARY"
OUT = "kind STRING, at DOUBLE, payload BINARY"
_COLUMNS = shipping.Shipped.__struct_fields__
_ENVELOPE = "detector STRING, key STRING, version INT, born DOUBLE, last DOUBLE, timer DOUBLE, value BINARY"  # (det, key, *engine.state.Row)
_FILES = "path STRING, modificationTime TIMESTAMP, length BIGINT, content BINARY"  # the binaryFile source's own
_STATE_SERVER = "org.apache.spark.sql.execution.python.streaming.TransformWithStateInPySparkStateServer"
_ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


@dataclasses.dataclass(frozen=True)
class Context:
    """What an executor reads of the store when a task starts: the inventory as the micro-batches before
    left it (and ``--inventory``), and the API's ACTIVE lists, as ``scan`` would use them now."""

    inventory: str | None
    lists: StoredLists
    lists_key: str  # what identifies the lists (what a worker builds on them is kept under it)


_lists: dict[str, StoredLists] = {}  # per worker process: the lists last read, by what the store said of them


def _context(db: str) -> Context:
    store = Store(db, readonly=True)
    try:
        inventory = store.meta("inventory")
        rows, members = stored_lists.active(store.conn)
    finally:
        store.close()
    key = repr((tuple(map(tuple, rows)), sorted((a, sorted(m)) for a, m in members.items())))
    if key not in _lists:  # read from their locations only when a set changed (the driver reports a list it cannot read)
        _lists.clear()
        _lists[key] = stored_lists.from_rows(rows, members, [])
    return Context(inventory, _lists[key], key)


def _name(uri: str) -> str:
    """The file's name in the store: its path for a local file (as ``scan`` names it), else its URI."""
    return unquote(uri[len("file:"):]) if uri.startswith("file:") else uri


# -- stage 1: executors, per partition -------------------------------------------------------------

def ship_partition(settings: ScanSettings, db: str, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    context = _context(db)
    for frame in batches:
        files = [(_name(p), bytes(c)) for p, c in zip(frame["path"], frame["content"])]
        yield _frame(list(shipping.ship(files, settings, context.inventory, context.lists)))


# -- stages 2 and 3: executors, per bucket -----------------------------------------------------------

def _row(value: Any) -> tuple[Any, ...]:
    """A stored envelope row back as ``engine.state.Row`` (a null timer may come back as NaN)."""
    version, born, last, timer, blob = value
    return int(version), float(born), float(last), None if timer is None or timer != timer else float(timer), bytes(blob)


@dataclasses.dataclass
class Built:
    """What a worker process builds once as ``scan`` builds it (its intel, geo, the store's lists), kept while
    the settings and lists stay; the inventory the micro-batches learn is merged into it in place."""

    keyed: dict[str, KeyedDetector]  # stage 2
    correlators: dict[str, KeyedDetector]  # stage 3
    screen: Callable[[Occurrence], tuple[Occurrence, str | None]]  # the sink's enrichment and suppression, for stage 3
    inventory: Inventory  # the one the detectors and the enrichment read
    merged: str | None = None  # the store's inventory last merged into it


_built: dict[tuple[str, str], Built] = {}  # per worker process: the last set built (detectors hold no state)


def _detectors(settings: ScanSettings, context: Context) -> Built:
    key = (repr(settings), context.lists_key)
    if key not in _built:
        _built.clear()
        _built[key] = _build(settings, context)
    built = _built[key]
    if context.inventory != built.merged:  # (an inventory only grows: merging what the store holds now is reading it)
        built.inventory.merge(msgspec.json.decode(context.inventory or "{}"))
        built.merged = context.inventory
    return built


def _build(settings: ScanSettings, context: Context) -> Built:
    scanner = Scanner(Store(":memory:"), settings, stored=context.lists)  # (building one costs ~1 s: intel, geo)
    detectors = scanner.engine.detectors.values()
    return Built({d.name: d for d in detectors if not d.correlates}, {d.name: d for d in detectors if d.correlates},
                 scanner.aggregator.screen, scanner.inventory)


def _frame(shipped: list[shipping.Shipped]) -> pd.DataFrame:
    return pd.DataFrame(list(map(msgspec.structs.astuple, shipped)), columns=list(_COLUMNS))


class BucketProcessor(StatefulProcessor):
    """Stage 2 (``buckets.detect``); ``correlating``: stage 3 (``buckets.correlate``)."""

    def __init__(self, settings: ScanSettings, db: str, correlating: bool = False) -> None:
        self.settings, self.db, self.correlating = settings, db, correlating

    def init(self, handle: StatefulProcessorHandle) -> None:
        # A bucket's envelopes are one list, read and written whole, once per micro-batch: two calls into the state
        # server per bucket, where a MapState would take one per entity (~1.5 ms each here: 30x slower in all).
        self.envelopes = handle.getListState("envelopes", _ENVELOPE)
        self.clock = handle.getValueState("clock", "watermark DOUBLE, swept DOUBLE")
        self.built = _detectors(self.settings, _context(self.db))

    def handleInputRows(self, key: Any, rows: Iterator[pd.DataFrame], timerValues: Any) -> Iterator[pd.DataFrame]:
        shipped = [shipping.Shipped(r[0], int(r[1]), r[2], r[3], float(r[4]), float(r[5]), float(r[6]), bytes(r[7]))
                   for frame in rows for r in zip(*(frame[c] for c in _COLUMNS))]
        clock = self.clock.get() if self.clock.exists() else None
        wm, swept = (float(clock[0]), float(clock[1])) if clock else (-float("inf"), -float("inf"))
        envelopes = buckets.DictMap(((det, key), _row(rest)) for det, key, *rest in self.envelopes.get()) if self.envelopes.exists() else buckets.DictMap()
        timers = buckets.DictMap((k, row[3]) for k, row in envelopes.items() if row[3] is not None)
        lateness, built = self.settings.allowed_lateness_s, self.built
        if self.correlating:
            state = buckets.BucketState(envelopes, timers, built.correlators)
            out, wm, swept = buckets.correlate(built.correlators, built.screen, state, lateness, wm, shipped, swept)
        else:
            state = buckets.BucketState(envelopes, timers, built.keyed)
            out, wm, swept = buckets.detect(built.keyed, state, lateness, wm, shipped, swept, buckets.has_timers(built.correlators))
        if state.changed:
            if envelopes:
                self.envelopes.put([(det, key, *row) for (det, key), row in envelopes.items()])
            else:
                self.envelopes.clear()
        self.clock.update((wm, swept))
        if not out:
            return
        if self.correlating:  # to the sink
            yield pd.DataFrame([(s.kind, s.at, s.payload) for s in out], columns=["kind", "at", "payload"])
        else:
            yield _frame(out)

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
                ch = shipping.decode_side_effects(payload)
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
            conf: dict[str, str] | None = None, s3_endpoint: str | None = None, s3_settle_s: float = 120.0) -> Sink:
    """Run the query until it stops (``once``: when every file there now is processed). ``s3://`` sources are read
    by ``s3_source`` (``s3_endpoint``: an S3-compatible store; ``s3_settle_s``: how old an object must be to be read)."""
    store = Store(db)
    try:
        settings = dataclasses.replace(settings, flush_at_end=False)
        sink = Sink(store, settings, checkpoint)
        sink.scanner.scan([])  # --inventory into the store, for every executor to read
        cores = _cores(master)
        if not any("://" in src and not src.startswith("s3://") for src in sources):
            # Spark lists a micro-batch's files again to read them: above 32 paths, by a distributed job of a task per
            # file (~5 ms each: 4 s for 865 files on one core). Right for S3 on a cluster; local files are quicker to stat.
            conf = {"spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000", **(conf or {})}
        spark = session(master, partitions or 2 * cores, conf)
        shipped_settings = dataclasses.replace(settings, inventory=[])  # the store has it
        streams = []
        for src in sources:
            if src.startswith("s3://"):  # boto3 (see s3_source); s3a:// is Spark's own file source with Hadoop's connector
                spark.dataSource.register(s3_source.S3Source)
                reader = (spark.readStream.format(s3_source.NAME).option("paths", json.dumps([src])).option("settleSeconds", s3_settle_s)
                          .option("maxBytes", int(settings.max_file_mb * 1e6)))
                reader = reader.option("endpoint", s3_endpoint) if s3_endpoint else reader
            else:
                reader = spark.readStream.format("binaryFile").schema(_FILES).option("recursiveFileLookup", "true")
            if files_per_trigger:
                reader = reader.option("maxFilesPerTrigger", files_per_trigger)
            streams.append(reader.load() if src.startswith("s3://") else reader.load(_uri(src)).select("path", "content"))
        files = functools.reduce(DataFrame.unionByName, streams)
        rows = files.mapInPandas(functools.partial(ship_partition, shipped_settings, db), SHIPPED)
        found = rows.groupBy("bucket").transformWithStateInPandas(BucketProcessor(shipped_settings, db), SHIPPED, "Append", "None")
        # grouped again, by the bucket of each finding's actor (the identity): the attack sequences
        found = found.groupBy("bucket").transformWithStateInPandas(BucketProcessor(shipped_settings, db, correlating=True), OUT, "Append", "None")
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
