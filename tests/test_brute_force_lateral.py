"""Brute force between our own hosts: automation that fans out over SSH is learned as the instance's habit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import scan, store_at

from trailhound.detectors.brute_force import TYPES
from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import MONITOR_HOST, Case, flow_row

NIGHT = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _playbook(night: datetime) -> Case:
    """A playbook without connection reuse: a session per task, a dozen tasks on each of ten hosts, fast."""
    rows = [flow_row(night + timedelta(seconds=25 * h + 2 * i), src=MONITOR_HOST.ip, dst=f"10.0.7.{10 + h}", sport=40000 + 12 * h + i, dport=22,
                     packets=16, nbytes=2900, flags=3, at=MONITOR_HOST, duration=5) for h in range(10) for i in range(12)]
    return Case(f"playbook-{night:%d}", TYPES["SSH"], rows, source="flow", role="ACTOR")


def test_a_fan_out_fires_the_first_night_and_is_a_habit_the_next(tmp_path: Path) -> None:
    db = store_at(tmp_path, "s.db")
    _, store = scan(write_case_logs(tmp_path / "night1", [_playbook(NIGHT)]), db=db, builtin_intel=False)
    [first] = [f for f in store.findings() if f["type"] == TYPES["SSH"]]
    assert first["service"]["resourceRole"] == "ACTOR" and first["service"]["count"] == 1
    store.close()  # (one writer per store: the next scan opens it again)
    # the same run the next night: the instance did this yesterday
    report, store = scan(write_case_logs(tmp_path / "night2", [_playbook(NIGHT + timedelta(days=1))]), db=db, builtin_intel=False)
    assert report.events_total == 120
    [again] = [f for f in store.findings() if f["type"] == TYPES["SSH"]]
    assert again["service"]["count"] == 1  # no new occurrence
