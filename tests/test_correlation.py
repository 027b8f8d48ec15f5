"""Findings as signals: the attack-sequence detector reads the findings other detectors raise on an
identity (``KeyedDetector.correlates``), through the whole scan and at the engine's contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import msgspec
from conftest import scan

from trailhound.detectors import attack_sequence as seq
from trailhound.detectors import identity_profile as ip
from trailhound.detectors.anomalous_behavior import BOTO, HOME
from trailhound.engine import Engine, FindingType, KeyedDetector, severity
from trailhound.findings.model import HIGH, LOW, MEDIUM, Raised
from trailhound.simulator.attack_day import write_case_logs, write_custom_lists
from trailhound.simulator.records import ATTACKER_IP, CLI_UA, Case, iam_user, record
from trailhound.store.database import Store

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
S3, IAM, EC2 = "s3.amazonaws.com", "iam.amazonaws.com", "ec2.amazonaws.com"


def _scan(tmp_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    threat, _ = write_custom_lists(tmp_path / "lists")
    _, store = scan(write_case_logs(tmp_path / "logs", [Case("c", None, records)]), threat_lists=[threat])
    return list(store.findings())


def _contractor(*attack: tuple[str, str, bool]) -> list[dict[str, Any]]:
    """A key in its second day (no settled habits), then calls from the listed address (api, service, data event)."""
    who = iam_user(ACCOUNT, "sam-contractor")
    days = ip.daily(START, 2, who, [("DescribeInstances", EC2)], [HOME], CLI_UA, ACCOUNT)
    calls = []
    for i, (api, svc, data) in enumerate(attack):
        r = record(api, svc, time=START + timedelta(minutes=3 * i), account=ACCOUNT, identity=who, ip=ATTACKER_IP, ua=BOTO,
                   params={"bucketName": "finance-reports", "key": "q3/ledger.csv"} if svc == S3 else None)
        calls.append({**r, "eventCategory": "Data", "managementEvent": False} if data else r)
    return days + calls


def test_findings_on_a_new_identity_make_a_sequence(tmp_path: Path) -> None:
    findings = _scan(tmp_path, _contractor(("ListBuckets", S3, False), ("CreateAccessKey", IAM, False), ("GetObject", S3, True)))
    by_type = {f["type"]: f for f in findings}
    (sequence,) = [f for f in findings if f["type"].startswith("AttackSequence:")]
    assert sequence["type"] == seq.S3_SEQ and sequence["severity"] == 9.0
    detail = sequence["service"]["detection"]["sequence"]
    signals = {s["name"]: s for s in detail["signals"]}
    # each finding is a FINDING signal whose uid is the finding it stands for
    for name in ("UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", "UnauthorizedAccess:S3/MaliciousIPCaller.Custom"):
        assert signals[name]["type"] == "FINDING" and signals[name]["uid"] == by_type[name]["id"]
    tactics = next(i["values"] for i in detail["sequenceIndicators"] if i["key"] == "ATTACK_TACTIC")
    assert {"InitialAccess", "Exfiltration"} <= set(tactics) and len(tactics) >= 3
    assert detail["resources"] == [{"uid": "arn:aws:s3:::finance-reports", "type": "AWS::S3::Bucket"}]
    assert "an address on a threat list" in detail["description"] and "sam-contractor" in sequence["title"]
    info = json.loads(sequence["service"]["additionalInfo"]["value"])
    assert info["signals"] == len(detail["signals"])


def test_two_weak_tactics_from_a_listed_address_are_no_sequence(tmp_path: Path) -> None:
    findings = _scan(tmp_path, _contractor(("ListBuckets", S3, False), ("ListUsers", IAM, False), ("CreateAccessKey", IAM, False)))
    types = {f["type"] for f in findings}
    assert "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom" in types  # the findings themselves are raised...
    assert not {t for t in types if t.startswith("AttackSequence:")}  # ...but recon and a new key are two tactics, both initial


def _raised(ftype: str, sev: float, actor: str | None = "arn:aws:iam::111122223333:user/sam", at: float = 0.0) -> Raised:
    from trailhound.findings.build import api_occurrence
    from trailhound.events import ApiCall

    e = msgspec.json.decode(json.dumps(record("CreateAccessKey", IAM, time=START + timedelta(seconds=at), ip=ATTACKER_IP)), type=ApiCall)
    o = api_occurrence(e, ftype, sev, "t", "d")
    o.actor = actor
    return Raised(o, f"id-{ftype}")


def test_which_findings_are_signals() -> None:
    det = seq.AttackSequence()
    assert det.finding_key(_raised("UnauthorizedAccess:IAMUser/TorIPCaller", MEDIUM)) == "arn:aws:iam::111122223333:user/sam"
    assert det.finding_key(_raised("Stealth:IAMUser/CloudTrailLoggingDisabled", LOW)) is None  # Low
    assert det.finding_key(_raised("Policy:S3/BucketPublicAccessGranted", HIGH)) is None  # configuration, not someone acting
    assert det.finding_key(_raised(seq.IAM_SEQ, 9.0)) is None  # its own: never read back
    assert det.finding_key(_raised("UnauthorizedAccess:IAMUser/TorIPCaller", MEDIUM, actor=None)) is None  # AWS's own calls
    assert seq.tactic_of("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS") == "CredentialAccess"
    assert seq.tactic_of("Impact:S3/AnomalousBehavior.Delete") == "Impact"


def test_each_finding_type_is_one_signal_per_window() -> None:
    det = seq.AttackSequence()
    tor = [_raised("UnauthorizedAccess:IAMUser/TorIPCaller", MEDIUM, at=60.0 * i) for i in range(30)]
    occs, st = det.on_findings("k", tor, None, 0.0)
    assert occs == [] and len(st.signals) == 1
    later = _raised("UnauthorizedAccess:IAMUser/TorIPCaller", MEDIUM, at=seq.WINDOW + 3600)
    _, st = det.on_findings("k", [later], st, 0.0)
    assert [s[0] for s in st.signals] == [later.occurrence.time]  # the old window's signal has gone


class _Broken(KeyedDetector[Any]):
    """A correlator that fails on findings: the engine reports it and drops that key's state, nothing else."""

    name = "broken-correlator"
    State: ClassVar[type[msgspec.Struct]] = seq.Signals
    correlates = True
    findings = (FindingType("Test:IAMUser/Broken", severity(LOW), "TA0001 Initial Access", "T1078", "never"),)

    def finding_key(self, raised: Raised) -> str | None:
        return raised.occurrence.actor

    def on_findings(self, key: str, raised: list[Raised], state: Any, watermark: float) -> tuple[list[Any], Any]:
        raise ValueError("boom")


def test_a_failing_correlator_costs_only_its_key() -> None:
    store = Store(":memory:")
    engine = Engine([_Broken(), seq.AttackSequence()], store, 60.0)
    out = engine.feed_findings([_raised("UnauthorizedAccess:IAMUser/TorIPCaller", MEDIUM)])
    assert out == []
    (problem,) = engine.problems
    assert "on_findings failed for key arn:aws:iam::111122223333:user/sam (ValueError: boom)" in problem.message
    assert engine.states.get("attack-sequence", "arn:aws:iam::111122223333:user/sam") is not None  # the other correlator kept its own


def test_a_finding_on_a_call_already_a_signal_is_that_step() -> None:
    """AnomalousBehavior calls PutBucketPolicy Impact; the sequence already has it as the bucket's permission
    change: the finding joins that step (and is linked) rather than adding a tactic of its own."""
    det = seq.AttackSequence()
    finding = _raised("Impact:IAMUser/AnomalousBehavior", MEDIUM, at=120.0)
    t = finding.occurrence.time
    st = seq.Signals(signals=[[t, "S3Permission", "s3:permission:finance-reports", True, "", ATTACKER_IP, "finance-reports"]])
    _, st = det.on_findings("k", [finding], st, 0.0)
    assert [s[1] for s in st.signals] == ["S3Permission", "S3Permission"] and st.signals[1][7] == finding.finding_id
    # at another moment it is a step of its own, with its catalogued tactic
    _, st = det.on_findings("k", [_raised("Impact:IAMUser/AnomalousBehavior", MEDIUM, at=7200.0)], seq.Signals(), 0.0)
    assert [s[1] for s in st.signals] == ["Impact"]


def test_a_finding_older_than_the_latest_signal_updates_only_with_a_new_tactic() -> None:
    """Findings join the window in time order, not at its end: only a tactic new to the window updates a reported sequence."""
    det = seq.AttackSequence()
    t0 = _raised("UnauthorizedAccess:IAMUser/TorIPCaller", MEDIUM).occurrence.time
    reported = [[t0, "Discovery", "ListUsers", True, "!country XX", ATTACKER_IP, ""],
                [t0 + 600, "Persistence", "CreateAccessKey", True, "", ATTACKER_IP, ""],
                [t0 + 1200, "CredentialAccess", "GetSecretValue", True, "", ATTACKER_IP, ""]]
    st = seq.Signals(signals=[list(s) for s in reported], reported=t0)
    again = _raised("Persistence:IAMUser/AnomalousBehavior", MEDIUM, at=300.0)  # a tactic the window has, before its last signal
    occs, st = det.on_findings("k", [again], st, 0.0)
    assert occs == [] and len(st.signals) == 4
    new = _raised("DefenseEvasion:IAMUser/AnomalousBehavior", MEDIUM, at=900.0)  # a new tactic, also before the last signal
    occs, st = det.on_findings("k", [new], st, 0.0)
    assert [o.type for o in occs] == [seq.IAM_SEQ]


def _desk_admin_then(ua: str, ip_: str) -> list[dict[str, Any]]:
    """An administrator's fortnight at the office through the CLI, then a day of new IAM, secrets and logging work."""
    from trailhound.detectors.anomalous_behavior import OFFICE

    who = iam_user(ACCOUNT, "ops-admin")
    days = ip.daily(START, 14, who, [("DescribeInstances", EC2), ("ListUsers", IAM)], [OFFICE], CLI_UA, ACCOUNT)
    apply = [("CreateRole", IAM), ("AttachRolePolicy", IAM), ("CreateUser", IAM), ("CreateAccessKey", IAM),
             ("GetSecretValue", "secretsmanager.amazonaws.com"), ("DeleteFlowLogs", EC2)]
    return days + [record(api, svc, time=START + timedelta(minutes=2 * i), account=ACCOUNT, identity=who, ip=ip_ or OFFICE, ua=ua)
                   for i, (api, svc) in enumerate(apply)]


def test_a_new_tool_at_the_usual_desk_is_no_attack_sequence(tmp_path: Path) -> None:
    """An administrator's first Terraform apply from the office: new APIs of four tactics through a client it never
    used. The AnomalousBehavior findings may say so; a Critical sequence needs the calls (or a finding) to come from
    somewhere the identity never was: a new tool on the usual desk is a new habit, stolen keys are used elsewhere."""
    from trailhound.detectors.anomalous_behavior import TF, VPS

    desk = {f["type"] for f in _scan(tmp_path / "desk", _desk_admin_then(TF, ""))}
    assert not {t for t in desk if t.startswith("AttackSequence:")}, desk
    # the same day's work through the same new tool from a hosting network it never used is one
    away = {f["type"] for f in _scan(tmp_path / "away", _desk_admin_then(TF, VPS))}
    assert seq.IAM_SEQ in away, away


def test_a_night_on_call_from_home_is_no_attack_sequence(tmp_path: Path) -> None:
    """The same new work through the usual CLI from a home ISP in the office's country (KPN at the office, Vodafone
    at home): new APIs from a new network may be AnomalousBehavior; a Critical sequence needs a new country,
    anonymizing egress or a finding's origin. From a new country it is one."""
    from trailhound.detectors.anomalous_behavior import FAR

    home = {f["type"] for f in _scan(tmp_path / "home", _desk_admin_then(CLI_UA, "84.105.3.7"))}
    assert not {t for t in home if t.startswith("AttackSequence:")}, home
    assert "Persistence:IAMUser/AnomalousBehavior" in home  # (the calls are still judged on their own)
    abroad = {f["type"] for f in _scan(tmp_path / "abroad", _desk_admin_then(CLI_UA, FAR))}
    assert seq.IAM_SEQ in abroad, abroad


def test_aws_addresses_and_unlocated_ones_are_no_country_a_sequence_calls_elsewhere() -> None:
    """A self-hosted runner in a new region, a job moved from a VPC endpoint to a NAT gateway: AWS's address is a new
    network, not somewhere the identity never was; a new country or an anonymizing network is."""
    from trailhound.detectors.attack_sequence import _elsewhere, _place

    assert not _elsewhere(_place(["network AWS", "country AWS"], None))
    assert not _elsewhere(_place(["network net 192.0", "country None"], None))
    assert _elsewhere(_place(["network TELEFONICA", "country ES"], None))
    assert _elsewhere(_place(["network AWS", "country AWS"], "hosting"))
