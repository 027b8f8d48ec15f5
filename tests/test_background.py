"""Days of ordinary activity raise nothing: the false-positive floor of every detector at once."""

from __future__ import annotations

from pathlib import Path

from conftest import scan

from trailhound.simulator import EstateSpec, write_estate


def test_benign_estate_raises_no_findings(tmp_path: Path) -> None:
    spec = EstateSpec(cloudtrail_events=20_000, flow_lines=60_000, dns_lines=20_000, days=3, instances=16, users=8, seed=11)
    files = write_estate(tmp_path / "logs", spec)
    report, store = scan([tmp_path / "logs"], inventory=[files.inventory])
    assert report.problems == []
    assert report.events_total == files.cloudtrail_events + report.events["flow"] + files.dns_lines
    assert report.events["flow"] > 0.95 * files.flow_lines  # all but the NODATA rows
    assert [f["type"] for f in store.findings()] == []
