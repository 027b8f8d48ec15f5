"""UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS — a Lambda function's or an ECS
task's role credentials used from an address outside AWS.

Lambda assumes a function's execution role with the function's name as the session name
(``assumed-role/<role>/<function>``); ECS assumes a task role with the task's id (32 hex digits). The
credentials live in the function's or container's environment, and a server-side request forgery, a
leaked environment or a compromised dependency hands them out. The function and the task call AWS from
AWS: Lambda's own addresses, a NAT gateway's, a private address through a VPC endpoint.

Which sessions are a resource's, as far as the logs tell: the ``AssumeRole`` records in which
``lambda.amazonaws.com`` or ``ecs-tasks.amazonaws.com`` issues them, the runtime an SDK names in the user
agent (``exec-env/AWS_Lambda_…``), a session named like an ECS task id. Keyed by the session's arn
(``role_sessions.credential_key``: the issuance record's key is the session's too), so what a session is
is learned as its state, whichever batch, partition or process saw the evidence; a session with no
evidence keeps none. Judged per session (a function's sessions share its name, so its arn):

* an address inside AWS (``Places.inside_aws``: the operator's ip-ranges.json, else Amazon's ASNs) or
  a private one is the resource's own egress, never judged (Lambda's addresses cannot be pinned);
* an address outside AWS seen on ``LEARNED_DAYS`` days becomes an expected source (a function in a VPC
  whose traffic leaves through an on-premises proxy), as GuardDuty learns recurring ones;
* any other address outside AWS raises OutsideAWS, once per address and batch.

GuardDuty's ``.InsideAWS`` twin (the credentials used from another AWS account) is not raised: Lambda's
own egress is any of Amazon's addresses, so the logs cannot tell another account's from the function's.
"""

from __future__ import annotations

import re

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors.instance_credentials import bounded, recurring, report_due
from trailhound.detectors.role_sessions import ECS, LAMBDA, credential_key, is_resource_key, is_task_session, issuer_kind, judged, runtime_kind
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.baseline import DAY
from trailhound.engine.runner import timed
from trailhound.enrich.geo import is_private
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import HIGH, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

OUTSIDE = "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS"


class ResourceEgress(msgspec.Struct, array_like=True):
    kind: str = LAMBDA  # LAMBDA or ECS: what the evidence says the session is
    sources: list[str] = msgspec.field(default_factory=list)  # addresses outside AWS learned as the resource's
    strangers: dict[str, list[int]] = msgspec.field(default_factory=dict)  # other address outside AWS -> days it called on
    reported: dict[str, float] = msgspec.field(default_factory=dict)  # stranger -> when it was last reported (``report_due``)


class ResourceCredentialExfiltration(KeyedDetector[ResourceEgress]):
    name = "resource-credential-exfiltration"
    consumes = Source.CLOUDTRAIL
    method = "behaviour"
    State: ClassVar[type[msgspec.Struct]] = ResourceEgress
    ttl = 14 * DAY
    state_version = 2
    findings = (
        FindingType(OUTSIDE, severity(HIGH), "TA0006 Credential Access", "T1552 Unsecured Credentials",
                    "a Lambda function's or ECS task's role session (issued by Lambda or ECS, or calling through their runtime, or "
                    "named like a task id and first used inside AWS; never an Identity Center or e-mail-named session) used from a public address "
                    "outside AWS not seen from it on 3 days", sources=("CloudTrail", "S3DataEvents")),
    )
    key_by = staticmethod(credential_key)
    owns = staticmethod(is_resource_key)

    def update(self, key: str, rows: list[ApiCall], state: ResourceEgress | None, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state
        out: list[Occurrence] = []
        arn = key[len("S|"):]
        resource = arn.rsplit("/", 1)[-1]
        if "/AWSReservedSSO_" in arn or "@" in resource or _TOOL_SESSION.fullmatch(resource):
            # a person's session (Identity Center, an e-mail, a CLI profile's role: botocore, aws-vault and the Go SDK name
            # it by the time): `sam local invoke` lends it a Lambda's user agent
            return [], None
        task = ECS if st is None and is_task_session(arn) else None  # (a fact of the key: worked out once)
        for t, e, _ in timed(rows):
            if e.user_identity.type != "AssumedRole":  # the issuance record: the service says what the session is
                kind = issuer_kind(e)
                if kind is not None:
                    st = ResourceEgress(kind) if st is None else st
                    st.kind = kind
                continue
            src = str(e.source_ip)
            if st is None:  # no evidence yet: its runtime, else a task-id name, or it is anyone's session
                kind = runtime_kind(e.user_agent)
                if kind is None and task is not None and (is_private(src) or self.places.inside_aws(src)):
                    kind = task  # a task-id name first used where tasks run (uuid4().hex names a laptop's session too)
                if kind is None:
                    continue
                st = ResourceEgress(kind)
            if not judged(e) or src in st.sources or self.places.inside_aws(src) or self.places.lookup(src) is None:
                continue  # the resource's own egress, or an address the geo data cannot place (it may be AWS's)
            if recurring(st.strangers, src, t):  # a recurring source is expected
                st.sources = st.sources[-7:] + [src]
                del st.strangers[src]
                continue
            if report_due(st.reported, src, t):
                out.append(self._report(e, st.kind, resource, st))
        if st is None:  # nothing says it is a resource's session: nothing is kept
            return out, None
        st.strangers = bounded(st.strangers)
        return out, st

    def _report(self, e: ApiCall, kind: str, resource: str, st: ResourceEgress) -> Occurrence:
        what = f"Lambda function {resource}" if kind == LAMBDA else f"ECS task {resource}"
        return api_occurrence(
            e, OUTSIDE, self.severity(OUTSIDE),
            f"Credentials created for {what} were used from outside AWS.",
            f"Role credentials delivered to {what} ({e.user_identity.name}) called {e.event_name} from {e.source_ip}, outside AWS"
            + (f"; its known sources outside AWS are {', '.join(st.sources)}" if st.sources else "")
            + f". {kind} credentials are only meant to be used by the resource they were issued to.",
            additional_info={"resourceType": kind, "resourceName": resource, "knownExternalSources": list(st.sources)}, aggregation_key=f"{kind}|{resource}",
        )


_TOOL_SESSION = re.compile(r"botocore-session-\d+|aws-go-sdk-\d+|\d{10,19}")


def lambda_role(account: str, function: str, role: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLELAMBDA0001:{function}", "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{function}",
            "accountId": account, "accessKeyId": "ASIAEXAMPLELAMBDA001",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLELAMBDA0001",
                                                 "arn": f"arn:aws:iam::{account}:role/service-role/{role}", "accountId": account, "userName": role},
                               "attributes": {"creationDate": "2026-11-02T06:00:00Z", "mfaAuthenticated": "false"}}}


def issuance(account: str, at: datetime, service: str, role: str, session: str) -> dict[str, Any]:
    """The ``AssumeRole`` record of ``service`` (Lambda, ECS tasks) issuing a resource's credentials."""
    from trailhound.simulator.records import record

    rec = record("AssumeRole", "sts.amazonaws.com", time=at, account=account, ip=service, ua=service,
                 identity={"type": "AWSService", "invokedBy": service},
                 params={"roleArn": f"arn:aws:iam::{account}:role/service-role/{role}", "roleSessionName": session})
    return {**rec, "eventType": "AwsApiCall"}


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.anomalous_behavior import FAR, OFFICE, VPS
    from trailhound.simulator.records import Case, record

    lambda_ua = "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.226 md/arch#x86_64 lang/python#3.12.5 exec-env/AWS_Lambda_python3.12"
    ecs_ua = "aws-sdk-java/2.28.16 Linux/5.10.226 OpenJDK_64-Bit_Server_VM/21.0.5 Java/21.0.5 exec-env/AWS_ECS_FARGATE"
    lambda_egress, nat = "3.236.72.15", "54.90.185.12"  # Lambda's own address in us-east-1, a NAT gateway's (Amazon's)

    def calls(who: dict[str, Any], ip_: str, at: datetime, ua: str, count: int = 3, api: str = "GetObject", service: str = "s3.amazonaws.com") -> list[dict[str, Any]]:
        return [record(api, service, time=at + timedelta(minutes=3 * i), account=account, identity=who, ip=ip_, ua=ua) for i in range(count)]

    def function(name: str, role: str, thief: str | None, thief_at: datetime) -> list[dict[str, Any]]:
        who = lambda_role(account, name, role)
        own = issuance(account, start - timedelta(hours=1), "lambda.amazonaws.com", role, name)
        stolen = calls(who, thief, thief_at, "aws-cli/2.17.50 ua/2.0 os/linux", 2, "ListBuckets") if thief else []
        return [own, *calls(who, lambda_egress, start - timedelta(minutes=50), lambda_ua, 4), *stolen, *calls(who, lambda_egress, start + timedelta(minutes=5), lambda_ua)]

    task = "6a3f0c1e9b2d4f5e8a7c6b5d4e3f2a1b"
    task_role = {**lambda_role(account, task, "orders-task"), "principalId": f"AROAEXAMPLEECSTASK01:{task}", "accessKeyId": "ASIAEXAMPLEECSTASK01"}
    return [
        # a function's credentials (read through an SSRF in it) used from a rented server while it runs on
        Case("lambda-credentials-used-from-vps", OUTSIDE, function("thumbnailer", "thumbnailer-role-x1y2z3", VPS, start)),
        # the same credentials used from inside AWS: another Lambda address, a NAT gateway's
        Case("lambda-credentials-used-inside-aws", None, function("webhook-relay", "webhook-relay-role-a1b2c3", nat, start)),
        # an ECS task's credentials (from the container's metadata endpoint) used from a far-away network
        Case("ecs-task-credentials-used-from-far-away", OUTSIDE, calls(task_role, nat, start - timedelta(minutes=30), ecs_ua)
             + calls(task_role, FAR, start, "python-requests/2.32.3", 2, "GetSecretValue", "secretsmanager.amazonaws.com")),
        # a function in a VPC calling through an endpoint (a private address) and its NAT gateway
        Case("lambda-in-a-vpc", None, [{**r, "vpcEndpointId": "vpce-0a1b2c3d"} for r in calls(lambda_role(account, "nightly-report", "nightly-report-role-q9w8e7"),
                                                                                             "10.0.12.40", start, lambda_ua)]
             + calls(lambda_role(account, "nightly-report", "nightly-report-role-q9w8e7"), nat, start + timedelta(minutes=20), lambda_ua)),
        # ECS Anywhere: tasks on the company's own servers call from its sites, as they are meant to
        Case("ecs-anywhere-task-on-premises", None, calls({**task_role, "arn": task_role["arn"].replace(task, "1b2a3f4e5d6c7b8a9e0f1d2c3b4a5f6e")},
                                                          OFFICE, start, ecs_ua.replace("AWS_ECS_FARGATE", "AWS_ECS_EXTERNAL"))),
        # `sam local invoke` with a CLI profile's assumed role: the engineer's session, lent the emulator's Lambda user agent
        Case("sam-local-invoke-with-an-assumed-role-profile", None, calls(lambda_role(account, "botocore-session-1764316800", "developer"), OFFICE,
                                                                           start, lambda_ua)),
        # a person's role session from the office: no resource's credentials
        Case("engineer-session-from-the-office", None, calls(lambda_role(account, "nora", "engineer"), OFFICE, start, "aws-cli/2.17.50 ua/2.0 os/linux")),
    ]
