"""Policy:IAMUser/ShortTermRootCredentialUsage — a member account's root acted through short-term,
task-scoped credentials (``sts:AssumeRoot`` from the organization's management or delegated IAM
administrator account).

Such a session is logged as the member account's ``Root`` with a temporary ``ASIA`` key and
``sessionContext.assumedRoot: "true"``. The ``AssumeRoot`` call itself is the management account's role,
not root, and root's own sign-in credentials raise RootCredentialUsage instead; so does AWS acting for root.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source, UserIdentity
from trailhound.findings.build import api_occurrence, is_ip
from trailhound.findings.model import LOW, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Policy:IAMUser/ShortTermRootCredentialUsage"


def assumed_root(ident: UserIdentity) -> bool:
    """Credentials from sts:AssumeRoot: root, a temporary key, the session marked assumedRoot."""
    ctx = ident.session_context
    return (ident.type == "Root" and (ident.access_key_id or "").startswith("ASIA") and ctx is not None
            and str(ctx.assumed_root).lower() == "true")


class ShortTermRootCredentialUsage(Rule):
    name = "short-term-root-credential-usage"
    consumes = Source.CLOUDTRAIL
    findings = (FindingType(TYPE, severity(LOW), "TA0004 Privilege Escalation", "T1078.004 Valid Accounts: Cloud Accounts",
                            "an API call made with short-term root credentials (an `sts:AssumeRoot` session, `ASIA` key)",
                            sources=("CloudTrail", "S3DataEvents")),)

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.user_identity.type == "Root"]

    def match(self, e: ApiCall) -> Occurrence | None:
        ident = e.user_identity
        if not assumed_root(ident) or e.event_type == "AwsServiceEvent" or (ident.invoked_by and not is_ip(e.source_ip)):
            return None
        why = (f"The API {e.event_name} was invoked in account {e.account_id} with root credentials issued by sts:AssumeRoot "
               f"(access key {ident.access_key_id}) from {e.source_ip}. Privileged root sessions should be rare and scoped to one task.")
        return api_occurrence(e, TYPE, self.severity(TYPE), f"The API {e.event_name} was invoked using short-term root credentials.", why)


def root_session(account: str, assumed: bool = True) -> dict[str, Any]:
    """The member account's root as an AssumeRoot session logs it."""
    ctx: dict[str, Any] = {"attributes": {"creationDate": "2026-11-02T08:59:00Z", "mfaAuthenticated": "false"}}
    if assumed:
        ctx["assumedRoot"] = "true"
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account,
            "accessKeyId": "ASIAXJ7ROOTTASK0001", "sessionContext": ctx}


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, record

    t = iter(start + timedelta(minutes=3 * i) for i in range(100))
    mgmt_role = {"type": "AssumedRole", "principalId": "AROAEXAMPLEORGADMIN01:ops", "arn": f"arn:aws:sts::{account}:assumed-role/OrgAdmin/ops",
                 "accountId": account, "accessKeyId": "ASIAEXAMPLEORGADMIN1",
                 "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/OrgAdmin", "userName": "OrgAdmin"},
                                    "attributes": {"mfaAuthenticated": "false"}, "assumedRoot": "true"}}
    unlock = {"bucketName": "payments-archive", "Host": "payments-archive.s3.amazonaws.com", "policy": ""}
    return [
        Case("assume-root-deletes-bucket-policy", TYPE, record("DeleteBucketPolicy", "s3.amazonaws.com", time=next(t), account=account,
                                                               identity=root_session(account), ip="77.60.50.185", params=unlock)),
        # the management account's role asking for the session is not root acting
        Case("assume-root-request", None, record("AssumeRoot", "sts.amazonaws.com", time=next(t), account=account, identity=mgmt_role,
                                                 ip="77.60.50.185", params={"targetPrincipal": "222233334444"})),
        # AWS acting for the root session (from the service's name, not an address)
        Case("service-for-short-term-root", None, {**record("GetBucketPolicy", "s3.amazonaws.com", time=next(t), account=account,
                                                            identity={**root_session(account), "invokedBy": "cloudformation.amazonaws.com"}),
                                                   "sourceIPAddress": "cloudformation.amazonaws.com"}),
    ]
