"""Past one machine: the same detectors inside Apache Spark Structured Streaming.

The query has three parts, and none of them is a second implementation of a detector:

1. ``shipping`` (executors, no grouping): a partition's files go through ``scan``'s own pipeline —
   sniffing, decoding, enrichment, the stateless rules — with an engine that runs no keyed detector
   but groups each one's rows by key, as the single process does before it calls ``update``. Each
   group leaves as one row (detector, key, the hash bucket of the key, the event time its slice ends,
   the rows encoded), beside the rules' occurrences and what the partition metered and quarantined.
2. ``buckets`` (executors, ``groupBy(bucket).transformWithStateInPandas``): per bucket, an ``Engine``
   over the bucket's groups in event-time order, its per-(detector, key) envelopes in Spark's state
   store (a MapState), timers as the operator's event-time timers.
3. ``job`` (the driver, ``foreachBatch``): occurrences into findings by the scan's own aggregator,
   written to the store with the micro-batch's id in the same transaction, so a replayed batch
   changes nothing.

Only ``job`` imports pyspark (the optional ``trailhound[spark]`` extra); the other two are plain
Python, tested without a JVM.
"""
