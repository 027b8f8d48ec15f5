"""Sample findings, like GuardDuty's CreateSampleFindings: one realistic finding per type.

Samples are not hand-written JSON: each comes from running the real detectors over the labelled
attack records of its type (the cases beside each detector), in a throw-away store, so a sample has exactly the shape
a real finding has. It is then marked as GuardDuty marks samples — title prefixed ``[SAMPLE]``,
``additionalInfo.sample = true`` — and given an id of its own, so it never merges with a real finding.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import orjson

from trailhound.config import ScanSettings
from trailhound.detectors import all_cases, implemented_finding_types
from trailhound.findings.model import Finding
from trailhound.intel.builtin import builtin_index
from trailhound.intel.combined import CombinedIntel
from trailhound.intel.formats import load_list
from trailhound.intel.index import Category, IntelIndex
from trailhound.simulator.attack_day import add_attack_instances, write_case_logs, write_custom_lists
from trailhound.simulator.records import Case, flow_row
from trailhound.store.database import Store

SAMPLE_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SAMPLE_DROP_POINT = "45.155.205.233"  # stands in for a drop point (no drop-point list is redistributable)


def _drop_point_case() -> Case:
    row = flow_row(SAMPLE_TIME, src="10.0.1.25", dst=SAMPLE_DROP_POINT, sport=50123, dport=443)
    return Case("sample-drop-point", "Trojan:EC2/DropPoint", row, source="flow")


def sample_findings(types: Iterable[str] | None = None, detector_id: str | None = None) -> list[Finding]:
    """One sample finding per requested type (default: every implemented type)."""
    from trailhound.pipeline import Scanner

    wanted = set(types) if types else set(implemented_finding_types())
    unknown = wanted - set(implemented_finding_types())
    if unknown:
        raise ValueError(f"unknown finding type(s): {', '.join(sorted(unknown))}")
    cases: dict[str, Case] = {}
    for case in all_cases(SAMPLE_TIME) + [_drop_point_case()]:
        if case.expect in wanted and case.expect not in cases:
            cases[case.expect] = case
    with tempfile.TemporaryDirectory(prefix="trailhound-samples-") as tmp:
        root = Path(tmp)
        threat, trusted = write_custom_lists(root / "lists")
        drop = root / "lists" / "sample-drop-points.txt"
        drop.write_text(SAMPLE_DROP_POINT + "\n")
        extra = IntelIndex()
        extra.add(load_list(drop), Category.DROP_POINT)
        files = write_case_logs(root / "logs", list(cases.values()))
        store = Store(root / "samples.db")
        inventory = root / "describe-instances.json"
        add_attack_instances(inventory)  # samples carry full instanceDetails, like GuardDuty's
        settings = ScanSettings(threat_lists=[threat], trusted_lists=[trusted], inventory=[inventory])
        Scanner(store, settings, intel=CombinedIntel(builtin_index(), extra.freeze())).scan(files)
        raised: dict[str, Finding] = {}
        for doc in store.findings():
            if doc["type"] in wanted and doc["type"] not in raised:
                raised[doc["type"]] = msgspec.convert(doc, Finding)
        store.close()
    return [_mark(raised[t], detector_id) for t in sorted(raised)]


def _mark(finding: Finding, detector_id: str | None) -> Finding:
    fid = hashlib.blake2b(f"sample|{finding.type}".encode(), digest_size=16).hexdigest()
    detector = detector_id or finding.service.detector_id
    finding.id = fid
    finding.arn = f"arn:aws:guardduty:{finding.region}:{finding.account_id}:detector/{detector}/finding/{fid}"
    finding.service.detector_id = detector
    finding.title = "[SAMPLE] " + finding.title
    info = orjson.loads(finding.service.additional_info.value)
    info["sample"] = True
    finding.service.additional_info.value = orjson.dumps(info, option=orjson.OPT_SORT_KEYS).decode()
    return finding
