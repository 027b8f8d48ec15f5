"""The cyclic garbage collector during a scan.

Start-up builds a few hundred thousand long-lived objects (the packaged threat intelligence's indexes)
and a scan allocates lists, dicts and tuples for every batch of events. CPython's collector walks every
tracked object it has not frozen on each full collection, and its default young-generation threshold
(700 allocations) runs a collection every few hundred records: on DNS logs that was a fifth of the
scan's CPU. The pipeline's data is acyclic (events are ``gc=False`` structs, state is plain values),
so a scan freezes what exists when it starts — those objects stay alive anyway; refcounting still
frees them if they are dropped — and collects the young generation less often. Cyclic garbage is
still collected, only in larger steps; when the scan ends everything is unfrozen and the thresholds
restored, so a long-running ``serve`` that scans again and again never keeps a cycle frozen for good.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000  # allocations between young collections during a scan (CPython's default: 700)


@contextmanager
def scanning() -> Iterator[None]:
    """Freeze what start-up built and collect less often, until the scan ends."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], YOUNG), *before[1:])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
