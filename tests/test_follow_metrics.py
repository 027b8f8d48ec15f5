"""The follower's per-source watermarks and lateness, and /metrics' Prometheus text: a file that
arrives later than the allowed lateness is still read and counted late (a near miss inside the
lateness is not), the watermark survives a restart, and every sample is well-formed."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from conftest import write_cloudtrail
from trailhound.config import ScanSettings
from trailhound.export.delivery import ExportStatus
from trailhound.export.metrics import render
from trailhound.sources.follow import Follower, FollowSettings
from trailhound.sources.progress import SourceProgress
from trailhound.store.database import Store

HOUR = 3600.0


def _trail(folder: Path, stamp: str, n: int, user: str) -> Path:
    """A CloudTrail object named as AWS names them (the delivery stamp in the name), with n events."""
    records = [{"eventVersion": "1.08", "eventTime": f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{i % 60:02d}:00Z",
                "eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2", "recipientAccountId": "111122223333", "eventID": f"{stamp}-{user}-{i}", "readOnly": True,
                "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "arn": f"arn:aws:iam::111122223333:user/{user}",
                                 "userName": user, "accessKeyId": "AKIAEXAMPLE00000001"}} for i in range(n)]
    return write_cloudtrail(folder / f"111122223333_CloudTrail_us-east-1_{stamp}_{user}.json.gz", records)


def test_lateness_is_counted_beyond_the_allowed_and_not_within() -> None:
    p = SourceProgress()
    t0 = 1_793_500_000.0
    p.read("a", t0, 10, 900, now=t0 + 60)
    p.read("b", t0 + 600, 5, 900, now=t0 + 660)
    assert p.watermark == t0 + 600 and p.late_objects == 0
    p.read("near", t0 - 250, 1, 900, now=t0 + 700)  # 850 s behind: within the lateness
    assert p.late_objects == 0
    p.read("late", t0 - 1000, 1, 900, now=t0 + 720)  # 1,600 s behind
    assert (p.late_objects, p.late_max_s, p.late_last) == (1, 1600.0, "late")
    assert p.watermark == t0 + 600, "a late object does not move the watermark back"
    assert p.objects_read == 4 and p.events == 17
    assert p.rates(t0 + 720) == (7 / 60, 120.0), "the rate is over the last minute only; lag is now minus the watermark"
    assert p.rates(t0 + 775)[0] == 1 / 60


def test_a_late_file_is_read_and_counted_and_the_watermark_survives_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "AWSLogs"
    store = Store(tmp_path / "follow.db")
    try:
        follower = Follower(store, ScanSettings(), [str(folder)], FollowSettings(allowed_lateness_s=900), notify=lambda _: None)
        _trail(folder, "20261101T1000Z", 20, "alice")
        _trail(folder, "20261101T1200Z", 30, "bob")
        follower.cycle()
        progress = follower.status.sources[str(folder)]
        assert (progress.objects_read, progress.events, progress.late_objects) == (2, 50, 0)
        assert progress.watermark == 1793534400.0  # 2026-11-01T12:00Z
        _trail(folder, "20261101T1150Z", 4, "carol")  # 10 minutes behind: on time
        _trail(folder, "20261101T1030Z", 7, "dave")  # 90 minutes behind: late, still read
        follower.cycle()
        assert follower.status.files_read == 4 and progress.events == 61
        assert progress.late_objects == 1 and progress.late_max_s == 1.5 * HOUR and progress.late_last and "dave" in progress.late_last
        assert sum(u["events"] for u in store.usage()) == 61, "the late file's events were analysed"
        orjson.dumps(asdict(follower.status))  # what /healthz sends
        again = Follower(store, ScanSettings(), [str(folder)], FollowSettings(), notify=lambda _: None)
        assert again.status.sources[str(folder)].watermark == 1793534400.0
    finally:
        store.close()


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.e+]+|[+-]Inf|NaN)$')


def _parse(text: str) -> dict[str, float]:
    """Prometheus' text format, strictly: HELP and TYPE before each family's samples; sample -> value."""
    out: dict[str, float] = {}
    typed: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge") and name not in typed
            typed.add(name)
            continue
        assert _SAMPLE.match(line), line
        key, value = line.rsplit(" ", 1)
        assert key.split("{")[0] in typed, f"{line}: no TYPE before it"
        out[key] = float(value)
    return out


def test_metrics_text(tmp_path: Path) -> None:
    folder = tmp_path / 'logs "quoted"\nand a newline'
    store = Store(tmp_path / "follow.db")
    try:
        follower = Follower(store, ScanSettings(), [str(folder), str(tmp_path / "missing")], FollowSettings(), notify=lambda _: None)
        _trail(folder, "20261101T1000Z", 12, "alice")
        (folder / "111122223333_CloudTrail_us-east-1_20261101T0900Z_broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00not gzip at all")
        follower.cycle()
        export = ExportStatus(sent=3, failures=2, dead_lettered=1)
        now = 1793527200.0 + 125
        got: dict[str, Any] = _parse(render(follower.status, export, store.conn, now=now))
    finally:
        store.close()
    label = str(folder).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    assert got[f'trailhound_source_events_total{{source="{label}"}}'] == 12
    assert got[f'trailhound_source_objects_read_total{{source="{label}"}}'] == 2
    assert got[f'trailhound_source_lag_seconds{{source="{label}"}}'] == 125
    assert got[f'trailhound_source_up{{source="{label}"}}'] == 1
    assert got[f'trailhound_source_up{{source="{tmp_path / "missing"}"}}'] == 0
    assert got[f'trailhound_source_objects_pending{{source="{label}"}}'] == 0
    assert got["trailhound_findings_created_total"] == 0
    assert got["trailhound_export_failures_total"] == 2 and got["trailhound_export_dead_lettered_total"] == 1
    assert got["trailhound_quarantine_files"] == 1 and got["trailhound_quarantine_entries"] >= 1
    # nothing read from the missing folder yet: no watermark, so no lag sample rather than a made-up one
    assert not any(k.startswith("trailhound_source_lag_seconds") and "missing" in k for k in got)
