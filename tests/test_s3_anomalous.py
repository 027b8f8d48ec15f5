"""S3 AnomalousBehavior's memory of buckets: an identity that reads many buckets keeps them all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from trailhound.detectors import s3_anomalous as s3a
from trailhound.detectors.anomalous_behavior import BOTO, OFFICE
from trailhound.enrich.geo import default_provider
from trailhound.enrich.places import GeoPlaces
from trailhound.events import ApiCall
from trailhound.simulator.records import iam_user, record

START = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # a Sunday night
ACCOUNT = "111122223333"


def _reads(who: dict[str, Any], bucket: str, at: datetime, n: int) -> list[dict[str, Any]]:
    return [{**record("GetObject", "s3.amazonaws.com", time=at + timedelta(seconds=i), account=ACCOUNT, identity=who, ip=OFFICE, ua=BOTO,
                      params={"bucketName": bucket, "key": f"full/{i:05d}"}), "eventCategory": "Data", "managementEvent": False, "readOnly": True}
            for i in range(n)]


def test_a_backup_tool_reading_sixty_buckets_every_week_knows_them_all() -> None:
    """A backup tool's weekly full read of 60 buckets (and a nightly incremental of a few): with room for fewer buckets the
    least recently read were forgotten, and the next full read of them was 'a bucket it has not read' every week."""
    det = s3a.S3AnomalousBehavior(places=GeoPlaces(default_provider()))
    who = iam_user(ACCOUNT, "veeam-backup")
    buckets = [f"app-{n:02d}-data" for n in range(60)]
    records: list[dict[str, Any]] = []
    for week in range(3):
        sunday = START + timedelta(days=7 * week)
        records += [r for b in buckets for r in _reads(who, b, sunday + timedelta(minutes=buckets.index(b)), s3a.READS + 10)]
        records += [r for d in range(1, 7) for r in _reads(who, buckets[d], sunday + timedelta(days=d), 5)]  # the nights between
    events = sorted((msgspec.json.decode(orjson.dumps(r), type=ApiCall) for r in records), key=lambda e: e.event_time)
    state, raised = None, []
    for day in sorted({e.event_time.date() for e in events}):
        todays = [e for e in events if e.event_time.date() == day]
        occs, state = det.update(det.key_of(todays[0]) or "", todays, state, 0.0)
        raised += occs
    assert raised == []
    assert len(state.buckets) == 60
