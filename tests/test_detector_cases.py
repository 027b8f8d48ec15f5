"""One test for every detector: each case beside a detector, scanned alone through the whole pipeline.

A firing case must raise its type and nothing else (with the role it names, and the severity the
type's metadata gives that role); a near miss must raise nothing at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import scan

from trailhound.detectors import case_sources, detector_classes, finding_types, implemented_finding_types
from trailhound.simulator.attack_day import add_attack_instances, write_case_logs, write_custom_lists
from trailhound.simulator.records import Case

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CASES = [(module, case) for module, make in case_sources() for case in make(START)]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("cases")
    threat, trusted = write_custom_lists(root / "lists")
    inventory = root / "describe-instances.json"
    add_attack_instances(inventory)
    return {"threat_lists": [threat], "trusted_lists": [trusted], "inventory": [inventory]}


@pytest.mark.parametrize(("module", "case"), CASES, ids=[f"{m}:{c.name}" for m, c in CASES])
def test_case(module: str, case: Case, context: dict, tmp_path: Path) -> None:
    report, store = scan(write_case_logs(tmp_path, [case]), **context)
    assert report.problems == [] and report.detector_errors == 0
    findings = list(store.findings())
    raised = sorted({f["type"] for f in findings})
    if case.expect is None:
        assert raised == [], f"near miss {module}:{case.name} raised {raised}"
        return
    assert case.expect in raised and set(raised) - {case.expect} <= case.also, raised
    meta, _ = finding_types()[case.expect]
    for f in (f for f in findings if f["type"] == case.expect):
        role = f["service"]["resourceRole"]
        if case.role:
            assert role == case.role
        assert f["severity"] in {meta.severity.base, *(level for _, level in meta.severity.when)}
        if case.role == "ACTOR" and ("ACTOR", meta.severity("ACTOR")) in meta.severity.when:
            assert f["severity"] == meta.severity("ACTOR")


def test_every_implemented_type_has_a_firing_case_and_a_near_miss_beside_it() -> None:
    fired = {c.expect for _, c in CASES if c.expect}
    # drop points by IP need a list of that kind: none is redistributable, so none is packaged (sample-findings brings one)
    assert set(implemented_finding_types()) - fired == {"Trojan:EC2/DropPoint"}
    modules_with_near_misses = {m for m, c in CASES if c.expect is None}
    assert {m for m, _ in case_sources()} == modules_with_near_misses


def test_metadata_is_complete_and_declared_once() -> None:
    seen: dict[str, object] = {}
    for cls in detector_classes():
        assert cls.findings, cls.name
        for f in cls.findings:
            # two detectors may raise one type (its TARGET and ACTOR sides), from one declaration
            assert seen.setdefault(f.name, f) is f, f"{f.name} declared twice, differently"
            assert f.tactic.startswith("TA00") and f.technique.startswith("T1") and f.trigger
            assert 1.0 <= f.severity.base <= (10.0 if f.name.startswith("AttackSequence:") else 8.9)  # Critical: sequences only
