"""The Stratus Red Team detonation logs: real attack events, one file per technique."""

from __future__ import annotations

import gzip
import json

from conftest import scan

# Technique -> the finding types its events justify. Every finding raised must be listed here.
JUSTIFIED = {
    "aws.defense-evasion.cloudtrail-stop": {"Stealth:IAMUser/CloudTrailLoggingDisabled"},
    "aws.defense-evasion.cloudtrail-delete": {"Stealth:IAMUser/CloudTrailLoggingDisabled"},
    "aws.defense-evasion.cloudtrail-event-selectors": {"Stealth:IAMUser/CloudTrailLoggingDisabled"},
}


def test_stratus_findings_are_justified(shared_data) -> None:
    folder = shared_data / "stratus-red-team-detonation-logs"
    report, store = scan([folder])
    assert report.events["cloudtrail"] == 310
    assert report.problems == []
    # map each finding back to the technique file of the event that raised it
    event_file = {}
    for f in folder.glob("*.json.gz"):
        for e in json.loads(gzip.decompress(f.read_bytes())):
            event_file[(e["eventName"], e["eventTime"])] = f.name.removesuffix(".json.gz")
    raised: dict[str, set[str]] = {}
    for finding in store.findings():
        api = finding["service"]["action"]["awsApiCallAction"]["api"]
        t = finding["service"]["eventLastSeen"].replace(".000Z", "Z")
        raised.setdefault(event_file[(api, t)], set()).add(finding["type"])
    assert "Stealth:IAMUser/CloudTrailLoggingDisabled" in raised["aws.defense-evasion.cloudtrail-stop"]
    assert "Stealth:IAMUser/CloudTrailLoggingDisabled" in raised["aws.defense-evasion.cloudtrail-event-selectors"]
    for technique, types in raised.items():
        assert types <= JUSTIFIED.get(technique, set()), f"{technique} raised unjustified {types}"


def test_invictus_failed_stop_logging_is_silent_and_deletes_fire(shared_data) -> None:
    report, store = scan([shared_data / "invictus-aws-dataset" / "CloudTrail"])
    assert report.events["cloudtrail"] == 2900
    findings = list(store.findings())
    # 3 StopLogging calls and a DeleteTrail failed (TrailNotFoundException); the two successful DeleteTrail calls fire, and so
    # does the event selector that takes no management events (12:00:08), not the clean-up's that puts them back (12:07:49):
    # one finding for the one access key, seen three times from 12:00:08
    assert {f["type"] for f in findings} == {"Stealth:IAMUser/CloudTrailLoggingDisabled"}
    assert [(f["service"]["count"], f["service"]["eventFirstSeen"], f["service"]["action"]["awsApiCallAction"]["api"]) for f in findings] == [
        (3, "2023-07-10T12:00:08.000Z", "DeleteTrail")]
