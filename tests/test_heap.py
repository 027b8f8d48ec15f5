"""The collector during a scan: start-up's objects frozen and young collections rarer while it runs,
everything as it was afterwards — and no cycle kept from the collector for good."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import write_cloudtrail

from trailhound import heap
from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.simulator.records import iam_user, record
from trailhound.store.database import Store


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _garbage_cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_scanning_freezes_then_restores_even_on_error() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(RuntimeError):
        with heap.scanning():
            assert gc.get_threshold()[0] >= heap.YOUNG
            assert gc.get_freeze_count() > frozen  # the test process's own objects, at least
            raise RuntimeError("a scan that fails")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_are_collected_during_and_after_a_scan() -> None:
    old = _garbage_cycle()  # garbage before the scan: frozen with everything else while it runs...
    with heap.scanning():
        young = _garbage_cycle()  # made during the scan: the collector still sees it
        gc.collect()
        assert young() is None
        assert old() is not None
    gc.collect()
    assert old() is None  # ...and collected once it ends


def test_a_scan_runs_under_it(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    logs = write_cloudtrail(tmp_path / "ct.json.gz", [record("ListBuckets", "s3.amazonaws.com", time=datetime(2026, 3, 1, tzinfo=UTC),
                                                             account="111122223333", identity=iam_user("111122223333", "ann"),
                                                             ip="203.0.113.9", ua="aws-cli/2")])
    before = gc.get_threshold()
    report = Scanner(Store(":memory:"), ScanSettings(), progress=lambda r: seen.append((gc.get_threshold()[0], gc.get_freeze_count()))).scan([logs])
    assert report.events_total == 1
    assert seen and all(young >= heap.YOUNG and frozen > 0 for young, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
