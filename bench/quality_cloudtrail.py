"""(b) Real CloudTrail corpora: Stratus Red Team, Invictus, OTRF, and Panther's rule tests.

Stratus techniques map to the GuardDuty finding types GuardDuty would raise for them, by one
rule: the type GuardDuty documents for the technique or its API (CloudTrailLoggingDisabled for
StopLogging/DeleteTrail, InstanceCredentialExfiltration for stolen instance credentials), else
the IAM AnomalousBehavior family of the Stratus tactic where GuardDuty has that family
(credential-access, defense-evasion, discovery, exfiltration, impact, initial-access,
persistence, privilege-escalation), else the family GuardDuty lists the technique's API under
(StartSession -> InitialAccess, ModifyInstanceAttribute -> Persistence), else none (execution and
lateral-movement techniques GuardDuty has no type for). AnomalousBehavior types are ML: GuardDuty
raises them only when the call is unusual for the principal, so "expected" means "the type
GuardDuty has for this", not "GuardDuty always fires".
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_common import Sighting, epoch, scan, write_cloudtrail, write_lines

from trailhound.detectors import implemented_finding_types

CRED, DEFENSE, DISCOVERY = "CredentialAccess:IAMUser/AnomalousBehavior", "DefenseEvasion:IAMUser/AnomalousBehavior", "Discovery:IAMUser/AnomalousBehavior"
EXFIL, IMPACT, INITIAL = "Exfiltration:IAMUser/AnomalousBehavior", "Impact:IAMUser/AnomalousBehavior", "InitialAccess:IAMUser/AnomalousBehavior"
PERSIST, PRIVESC = "Persistence:IAMUser/AnomalousBehavior", "PrivilegeEscalation:IAMUser/AnomalousBehavior"
ANOMALY = frozenset({CRED, DEFENSE, DISCOVERY, EXFIL, IMPACT, INITIAL, PERSIST, PRIVESC})
TRAIL_OFF = "Stealth:IAMUser/CloudTrailLoggingDisabled"
CRED_EXFIL = frozenset({"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"})
ROOT = "Policy:IAMUser/RootCredentialUsage"
# Trailhound extension types, for the four techniques GuardDuty has no type for
EXT_LAUNCH, EXT_COMMAND = "Impact:IAMUser/Trailhound.UnusualInstanceLaunch", "Execution:IAMUser/Trailhound.UnusualRunCommand"
EXT_CONNECT, EXT_SERIAL = "LateralMovement:IAMUser/Trailhound.UnusualInstanceConnect", "LateralMovement:IAMUser/Trailhound.UnusualSerialConsoleAccess"
EXTENSIONS = frozenset({EXT_LAUNCH, EXT_COMMAND, EXT_CONNECT, EXT_SERIAL})

# technique -> (types GuardDuty would raise, further types a finding may justifiably carry, note)
STRATUS: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "aws.credential-access.ec2-get-password-data": (frozenset({CRED}), frozenset(), "GetPasswordData is listed under CredentialAccess"),
    "aws.credential-access.ec2-steal-instance-credentials": (CRED_EXFIL, frozenset(), "instance-role credentials used from the attacker's host; IPs are anonymised in this corpus"),
    "aws.credential-access.secretsmanager-batch-retrieve-secrets": (frozenset({CRED}), frozenset(), "BatchGetSecretValue is listed under CredentialAccess"),
    "aws.credential-access.secretsmanager-retrieve-secrets": (frozenset({CRED}), frozenset(), "GetSecretValue is listed under CredentialAccess"),
    "aws.credential-access.ssm-retrieve-securestring-parameters": (frozenset({CRED}), frozenset(), "by tactic"),
    "aws.defense-evasion.cloudtrail-delete": (frozenset({TRAIL_OFF}), frozenset({DEFENSE}), "DeleteTrail"),
    "aws.defense-evasion.cloudtrail-event-selectors": (frozenset({DEFENSE}), frozenset({TRAIL_OFF}), "PutEventSelectors excluding management events: Trailhound's CloudTrailLoggingDisabled takes it (a trail that logs no management writes); GuardDuty documents the type for stopped/deleted trails"),
    "aws.defense-evasion.cloudtrail-stop": (frozenset({TRAIL_OFF}), frozenset({DEFENSE}), "StopLogging"),
    "aws.defense-evasion.dns-delete-logs": (frozenset({DEFENSE}), frozenset(), "DeleteResolverQueryLogConfig, by tactic"),
    "aws.defense-evasion.organizations-leave": (frozenset({DEFENSE}), frozenset(), "LeaveOrganization, by tactic"),
    "aws.defense-evasion.vpc-remove-flow-logs": (frozenset({DEFENSE}), frozenset(), "DeleteFlowLogs is listed under DefenseEvasion"),
    "aws.discovery.ec2-download-user-data": (frozenset({DISCOVERY}), frozenset(), "DescribeInstanceAttribute, by tactic"),
    "aws.execution.ec2-launch-unusual-instances": (frozenset({EXT_LAUNCH}), frozenset({PERSIST}), "Trailhound extension (GuardDuty has no Execution family; the retired ResourceConsumption:IAMUser/ComputeResources was the equivalent)"),
    "aws.execution.ec2-user-data": (frozenset({PERSIST}), frozenset(), "ModifyInstanceAttribute is listed under Persistence"),
    "aws.execution.ssm-send-command": (frozenset({EXT_COMMAND}), frozenset(), "Trailhound extension (GuardDuty has no Execution family)"),
    "aws.execution.ssm-start-session": (frozenset({INITIAL}), frozenset(), "StartSession is listed under InitialAccess"),
    "aws.exfiltration.ec2-security-group-open-port-22-ingress": (frozenset({EXFIL}), frozenset(), "AuthorizeSecurityGroupIngress from a /0 range exposes the group to anyone, classed as Exfiltration"),
    "aws.exfiltration.ec2-share-ami": (frozenset({EXFIL}), frozenset(), "ModifyImageAttribute, by tactic"),
    "aws.exfiltration.ec2-share-ebs-snapshot": (frozenset({EXFIL}), frozenset(), "ModifySnapshotAttribute, by tactic"),
    "aws.exfiltration.rds-share-snapshot": (frozenset({EXFIL}), frozenset(), "ModifyDBSnapshotAttribute, by tactic"),
    "aws.impact.bedrock-invoke-model": (frozenset({IMPACT}), frozenset(), "by tactic"),
    "aws.initial-access.console-login-without-mfa": (frozenset({INITIAL}), frozenset({"UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"}), "by tactic; ConsoleLoginSuccess.B needs logins from several places"),
    "aws.lateral-movement.ec2-instance-connect": (frozenset({EXT_CONNECT}), frozenset(), "Trailhound extension (GuardDuty has no LateralMovement family)"),
    "aws.lateral-movement.ec2-serial-console-send-ssh-public-key": (frozenset({EXT_SERIAL}), frozenset(), "Trailhound extension (GuardDuty has no LateralMovement family)"),
    "aws.persistence.iam-backdoor-role": (frozenset({PERSIST}), frozenset(), "UpdateAssumeRolePolicy, by tactic"),
    "aws.persistence.iam-backdoor-user": (frozenset({PERSIST}), frozenset(), "CreateAccessKey is listed under Persistence"),
    "aws.persistence.iam-create-admin-user": (frozenset({PERSIST}), frozenset({PRIVESC}), "CreateUser/CreateAccessKey, AttachUserPolicy"),
    "aws.persistence.iam-create-backdoor-role": (frozenset({PERSIST}), frozenset({PRIVESC}), "CreateRole, AttachRolePolicy"),
    "aws.persistence.iam-create-user-login-profile": (frozenset({PERSIST}), frozenset(), "CreateLoginProfile, by tactic"),
    "aws.persistence.lambda-backdoor-function": (frozenset({PERSIST}), frozenset(), "Lambda AddPermission, by tactic"),
    "aws.persistence.lambda-layer-extension": (frozenset({PERSIST}), frozenset(), "Lambda UpdateFunctionConfiguration, by tactic"),
    "aws.persistence.lambda-overwrite-code": (frozenset({PERSIST}), frozenset(), "Lambda UpdateFunctionCode, by tactic"),
    "aws.persistence.rolesanywhere-create-trust-anchor": (frozenset({PERSIST}), frozenset(), "CreateTrustAnchor, by tactic"),
    "aws.persistence.sts-federation-token": (frozenset({PERSIST, INITIAL}), frozenset(), "GetFederationToken (older GuardDuty text lists it under InitialAccess)"),
    "aws.privilege-escalation.iam-update-user-login-profile": (frozenset({PRIVESC}), frozenset({PERSIST}), "UpdateLoginProfile, by tactic"),
}


# ---- Stratus ---------------------------------------------------------------------------------

@dataclass
class TechniqueResult:
    technique: str
    events: int
    expected: frozenset[str]
    raised: dict[str, list[str]]  # type -> APIs of the events that raised it
    note: str

    @property
    def covered(self) -> bool:
        return bool(self.expected & set(self.raised))

    @property
    def unjustified(self) -> set[str]:
        _, also, _ = STRATUS[self.technique]
        return set(self.raised) - self.expected - also - ANOMALY - EXTENSIONS


@dataclass
class StratusResult:
    techniques: list[TechniqueResult]
    unknown_files: list[str]
    problems: int

    @property
    def covered(self) -> list[TechniqueResult]:
        return [t for t in self.techniques if t.covered]

    @property
    def coverable(self) -> list[TechniqueResult]:
        """Techniques whose GuardDuty type Trailhound implements."""
        implemented = set(implemented_finding_types())
        return [t for t in self.techniques if t.expected & implemented]


def run_stratus(shared: Path) -> StratusResult:
    folder = shared / "stratus-red-team-detonation-logs"
    out, unknown, problems = [], [], 0
    for f in sorted(folder.glob("*.json.gz")):
        technique = f.name.removesuffix(".json.gz")
        if technique not in STRATUS:
            unknown.append(technique)
            continue
        # Each technique alone: every finding of the scan belongs to that technique's events.
        result = scan([f])
        problems += len(result.report.problems)
        raised: dict[str, list[str]] = defaultdict(list)
        for s in result.sightings:
            raised[s.type].append(s.api or "?")
        expected, _, note = STRATUS[technique]
        out.append(TechniqueResult(technique, result.report.events_total, expected, dict(raised), note))
    return StratusResult(out, unknown, problems)


# ---- Invictus --------------------------------------------------------------------------------

BENIGN_LABELS = ("aws_service", "other_human_or_console")
ATTACK_LABELS = ("attack_detonation", "attack_detonation_role")


@dataclass
class LabelledResult:
    """Sightings of a labelled corpus, each attributed to the labels of the records it may come from."""

    name: str
    events: Counter[str]  # label -> events
    hits: list[tuple[Sighting, tuple[str, ...]]]
    problems: int = 0
    notes: list[str] = field(default_factory=list)

    def sightings_on(self, labels: tuple[str, ...]) -> list[tuple[Sighting, tuple[str, ...]]]:
        return [(s, ls) for s, ls in self.hits if set(ls) & set(labels)]

    def findings_on(self, labels: tuple[str, ...]) -> set[str]:
        return {s.finding_id for s, _ in self.sightings_on(labels)}

    def events_of(self, labels: tuple[str, ...]) -> int:
        return sum(self.events[label] for label in labels)


def _attribute(sightings: list[Sighting], labels: dict[tuple[str, float], set[str]]) -> list[tuple[Sighting, tuple[str, ...]]]:
    """Label each sighting with every label of the records sharing its API and second (or 'unmatched')."""
    return [(s, tuple(sorted(labels.get((s.api or "", round(s.time)), {"unmatched"})))) for s in sightings]


def run_invictus(shared: Path) -> LabelledResult:
    folder = shared / "invictus-aws-dataset"
    labels: dict[tuple[str, float], set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    with gzip.open(folder / "event_labels.csv.gz", "rt") as fh:
        for row in csv.DictReader(fh):
            labels[(row["eventName"], round(epoch(row["eventTime"])))].add(row["label"])
            counts[row["label"]] += 1
    result = scan([folder / "CloudTrail"])
    return LabelledResult("invictus", counts, _attribute(result.sightings, labels), len(result.report.problems))


# ---- OTRF ------------------------------------------------------------------------------------

def run_otrf(shared: Path, work: Path) -> list[LabelledResult]:
    folder = shared / "otrf-security-datasets-aws"
    out = []
    with zipfile.ZipFile(folder / "ec2_proxy_s3_exfiltration.zip") as z:
        z.extractall(work / "otrf")
    with zipfile.ZipFile(folder / "aws_s3_honeybucketlogs.zip") as z:
        z.extractall(work / "otrf")
    raw = next((work / "otrf").glob("ec2_proxy_s3_exfiltration*.json"))
    raw_scan = scan([raw])
    # Logstash moved eventTime into @timestamp; put it back as CloudTrail delivers it.
    records, labels, counts = [], defaultdict(set), Counter()
    for line in raw.read_text().splitlines():
        rec = json.loads(line)
        rec.setdefault("eventTime", rec["@timestamp"].replace(".000Z", "Z"))
        label = "attack_stolen_instance_credentials" if rec["userIdentity"].get("type") == "AssumedRole" else (
            "aws_service" if rec["userIdentity"].get("type") == "AWSService" else "benign_admin")
        labels[(rec["eventName"], round(epoch(rec["eventTime"])))].add(label)
        counts[label] += 1
        records.append(rec)
    fixed = scan([write_cloudtrail(work / "otrf" / "exfil" / "trail.json.gz", records)])
    out.append(LabelledResult("otrf-ec2-proxy-s3-exfiltration", counts, _attribute(fixed.sightings, labels), len(fixed.report.problems),
                              notes=[f"as shipped (eventTime only in Logstash's @timestamp): {raw_scan.report.events_total} events read, "
                                     f"{len(raw_scan.report.problems)} problems reported"]))

    records, labels, counts = [], defaultdict(set), Counter()
    with open(work / "otrf" / "AWS_S3_HoneyBucketLogs.csv", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            rec = _honeybucket_record(row, i)
            labels[(rec["eventName"], round(epoch(rec["eventTime"])))].add("attack_bucket_recon")
            counts["attack_bucket_recon"] += 1
            records.append(rec)
    result = scan([write_cloudtrail(work / "otrf" / "honeybucket" / "trail.json.gz", records)])
    out.append(LabelledResult("otrf-s3-honeybucket", counts, _attribute(result.sightings, labels), len(result.report.problems)))
    return out


def _honeybucket_record(row: dict[str, str], i: int) -> dict[str, Any]:
    """A CSV row of the honey-bucket alert summary back as the S3 data event it summarises."""
    params = ast.literal_eval(row["Request Parameters"])
    host = str(params.get("Host", ""))
    region = host.split(".s3-", 1)[1].split(".")[0] if ".s3-" in host else "us-east-1"
    return {
        "eventVersion": "1.08", "userIdentity": ast.literal_eval(row["User ID"]), "eventTime": row["Event DateTime"],
        "eventSource": "s3.amazonaws.com", "eventName": row["Event Name"], "awsRegion": region,
        "sourceIPAddress": row["Source IP"], "userAgent": row["Request User Agent"], "requestParameters": params,
        "responseElements": None, "requestID": row["Request ID"], "eventID": row["Event ID"], "readOnly": row["Event Name"] != "PutObject",
        "resources": [{"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{params.get('bucketName')}"}],
        "eventType": row["Event Type"], "managementEvent": False, "recipientAccountId": "123456789012", "eventCategory": "Data",
    }


# ---- Panther rule tests ----------------------------------------------------------------------

BUCKET_PUBLIC = frozenset({"Policy:S3/BucketAnonymousAccessGranted", "Policy:S3/BucketPublicAccessGranted"})
# rule -> (Trailhound types that correspond, event names within the comparable scope or None for all)
PANTHER: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {
    "AWS.CloudTrail.Stopped": (frozenset({TRAIL_OFF}), None),
    "AWS.CloudTrail.SecurityConfigurationChange": (frozenset({TRAIL_OFF}), frozenset({"StopLogging", "DeleteTrail"})),
    "AWS.CloudTrail.EventSelectorsDisabled": (frozenset({TRAIL_OFF}), None),
    "AWS.Root.Activity": (frozenset({ROOT}), None),
    "AWS.Console.RootLogin": (frozenset({ROOT}), None),
    "AWS.CloudTrail.RootAccessKeyCreated": (frozenset({ROOT}), None),
    "AWS.CloudTrail.RootPasswordChanged": (frozenset({ROOT}), None),
    "AWS.S3.DisableBucketLogging": (frozenset({"Stealth:S3/ServerAccessLoggingDisabled"}), None),
    "AWS.S3.SecurityControlDisabling": (frozenset({"Stealth:S3/ServerAccessLoggingDisabled"}), frozenset({"PutBucketLogging"})),
    "AWS.S3.DeletePublicAccessBlock": (frozenset({"Policy:S3/BucketBlockPublicAccessDisabled", "Policy:S3/AccountBlockPublicAccessDisabled"}), None),
    "AWS.CloudTrail.ResourceMadePublic": (BUCKET_PUBLIC, frozenset({"PutBucketPolicy", "PutBucketAcl"})),
    "AWS.DNS.Crypto.Domain": (frozenset({"CryptoCurrency:EC2/BitcoinTool.B!DNS"}), None),
}
PANTHER_FILES = ("cloudtrail_rule_tests.jsonl.gz", "vpcdns_rule_tests.jsonl.gz")

# Known disagreements, (rule, test) -> (kind, reason). kind: "semantics" = Panther's rule means something
# else than the GuardDuty type, Trailhound is right to differ; "intel" = the indicator is not on the
# packaged lists; "detector" = a possible Trailhound issue (reported, src/ is not changed here).
PANTHER_NOTES: dict[tuple[str, str], tuple[str, str]] = {
    ("AWS.Root.Activity", "Root Activity - CreateServiceLinkedRole"):
        ("semantics", "Panther exempts root's CreateServiceLinkedRole; RootCredentialUsage covers every call made with root credentials"),
    ("AWS.Root.Activity", "Root Read-Only Enumeration"):
        ("semantics", "Panther exempts read-only root calls; RootCredentialUsage does not"),
    ("AWS.CloudTrail.RootPasswordChanged", "Root Password Change Failed"):
        ("semantics", "Panther wants a successful change; the failed attempt still ran in a root console session, i.e. root credentials were used"),
    ("AWS.CloudTrail.RootAccessKeyCreated", "Root Created Access Key For User"):
        ("semantics", "Panther only wants keys for root itself; root creating a key for a user is still a call made with root credentials"),
}


@dataclass
class PantherTest:
    rule: str
    name: str
    expected: bool
    raised: set[str]
    mapped: frozenset[str]
    problems: list[str]

    @property
    def fired(self) -> bool:
        return bool(self.raised & self.mapped)

    @property
    def agrees(self) -> bool:
        return self.fired == self.expected

    @property
    def note(self) -> tuple[str, str]:
        return PANTHER_NOTES.get((self.rule, self.name), ("new", "not yet explained: " + (
            f"raised {', '.join(sorted(self.raised & self.mapped))}" if self.fired else f"none of {', '.join(sorted(self.mapped))} raised")))


def panther_record(log: dict[str, Any]) -> dict[str, Any]:
    """A Panther test log as the service wrote it: without Panther's enrichment fields."""
    return {k: v for k, v in log.items() if not k.startswith("p_")}


def route53_record(log: dict[str, Any]) -> dict[str, Any]:
    """Panther normalises Route 53 query logs (timestamp without 'T'/'Z', one answer as an object); undo that."""
    rec = panther_record(log)
    rec["query_timestamp"] = rec["query_timestamp"].replace(" ", "T").rstrip("Z") + "Z"
    answers = rec.get("answers")
    rec["answers"] = [answers] if isinstance(answers, dict) else (answers or [])
    return rec


def run_panther(shared: Path, work: Path) -> list[PantherTest]:
    folder = shared / "panther-analysis-tests"
    out = []
    for name in PANTHER_FILES:
        with gzip.open(folder / name, "rt") as fh:
            tests = [json.loads(line) for line in fh]
        for i, t in enumerate(tests):
            mapped, scope = PANTHER.get(t["rule_id"], (None, None))
            if mapped is None or (scope is not None and t["log"].get("eventName") not in scope):
                continue
            if name.startswith("vpcdns"):
                path = write_lines(work / "panther" / f"{i}" / "query.log.gz", [json.dumps(route53_record(t["log"]))])
            else:
                path = write_cloudtrail(work / "panther" / f"ct{i}" / "trail.json.gz", [panther_record(t["log"])])
            # One test per scan: tests reuse times and names, and must not share detector state.
            result = scan([path])
            out.append(PantherTest(t["rule_id"], t["test_name"], bool(t["expected_result"]), result.types, mapped,
                                   [str(p) for p in result.report.problems]))
    return out
