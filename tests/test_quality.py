"""The detection-quality benchmark's small mode (bench/quality.py --small) as regression guards."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import quality  # noqa: E402

from trailhound.detectors import implemented_finding_types  # noqa: E402

# Measured 2026-11: cloudtrail-stop and cloudtrail-delete. Raise it when a detector covers more.
STRATUS_COVERED_MIN = 2
# After a 14-day baseline (bench/quality_stratus.py), measured 2026-12: all 35.
STRATUS_AFTER_BASELINE_MIN = 35


@pytest.fixture(scope="module")
def small(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> quality.Results:
    return quality.run(small=True, shared=shared_data, work=tmp_path_factory.mktemp("quality"))


def test_every_simulated_implemented_type_is_caught(small: quality.Results) -> None:
    implemented = set(implemented_finding_types())
    missed = [(c.name, c.expect) for run in small.sim for c in run.firing if c.expect in implemented and not c.caught]
    assert missed == []
    assert {c.expect for run in small.sim for c in run.firing} <= implemented, "the simulation expects a type no detector raises"


def test_near_misses_stay_silent(small: quality.Results) -> None:
    fired = [(c.name, sorted({s.type for s in c.sightings})) for run in small.sim for c in run.violations]
    assert fired == []


def test_benign_background_raises_nothing(small: quality.Results) -> None:
    found = [quality.describe(s) for run in small.sim for s in run.unexplained]
    assert found == []
    assert all(run.benign_events > 5000 for run in small.sim)


def test_attack_records_raise_only_their_type(small: quality.Results) -> None:
    extra = [(c.name, c.other_types) for run in small.sim for c in run.firing if c.other_types]
    assert extra == []


def test_stratus_coverage_does_not_regress(small: quality.Results) -> None:
    assert len(small.stratus.techniques) == 35
    assert small.stratus.problems == 0
    assert len(small.stratus.covered) >= STRATUS_COVERED_MIN, [t.technique for t in small.stratus.covered]


def test_no_unjustified_stratus_finding(small: quality.Results) -> None:
    assert {t.technique: t.unjustified for t in small.stratus.techniques if t.unjustified} == {}


def test_stratus_after_a_baseline(small: quality.Results) -> None:
    """Each technique after 14 days of the same principals' habits: its mapped type (a GuardDuty type, or a
    Trailhound extension where GuardDuty has none), and nothing on the habits or on an ordinary day after them."""
    import quality_stratus

    res = small.stratus_baseline
    assert res is not None and len(res.techniques) == 35
    assert res.false_positives == []
    assert len(res.covered) >= STRATUS_AFTER_BASELINE_MIN, [t.technique for t in res.techniques if not t.covered]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index(quality_stratus.README_BEGIN)
    end = readme.index(quality_stratus.README_END) + len(quality_stratus.README_END)
    assert readme[start:end] == quality_stratus.readme_block(res), "run bench/quality.py and paste the Stratus table into README.md"


def test_panther_disagreements_are_all_known(small: quality.Results) -> None:
    assert len(small.panther) >= 40
    new = [(t.rule, t.name, t.note[1]) for t in small.panther_disagreements if t.note[0] == "new"]
    assert new == []


def test_real_capture_attackers_are_named(small: quality.Results) -> None:
    # RITA's Internet-facing server: its busiest SSH guesser; Slips' vertical scan; Stratosphere's Nmap scanner (bench/quality_zeek.py)
    assert small.zeek_caught("170.64.237.193", "UnauthorizedAccess:EC2/SSHBruteForce", "TARGET")
    assert small.zeek_caught("89.32.41.104", "UnauthorizedAccess:EC2/SSHBruteForce", "TARGET")  # a login a minute, for hours (slow tier)
    assert small.zeek_caught("192.168.1.9", "Recon:EC2/Portscan", "ACTOR")
    assert small.zeek_caught("172.16.1.11", "Recon:EC2/Portscan", "ACTOR")
    assert small.zeek_caught("10.136.0.18", "Backdoor:EC2/Trailhound.Beaconing", "ACTOR")  # RITA's proxy beacon
    burst = [sc for sc in small.zeek_scenarios if sc.scenario.truth.startswith("rule A")]  # >= 20 SSH sessions within 10 minutes
    assert len(burst) >= 5
    assert [sc.scenario.actor for sc in burst if not sc.caught] == []


def test_real_captures_raise_no_unexplained_behaviour_finding(small: quality.Results) -> None:
    assert [(z.capture.name, f["title"]) for z in small.zeek for f in z.unexplained] == []
    assert small.zeek_benign and all(b.events > 1000 for b in small.zeek_benign)
    assert [(b.capture, f["title"]) for b in small.zeek_benign for f in b.behaviour] == []
