"""Policy:IAMUser/RootCredentialUsage — the account's root user called an AWS API.

Root credentials bypass every IAM guard rail; AWS's own guidance is never to use them for
daily work. Calls that AWS services make on root's behalf (``invokedBy`` a service, from the
service's name rather than an IP) and service events are not root activity.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from trailhound.detectors.root_short_term import assumed_root
from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence, is_ip
from trailhound.findings.model import LOW, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Policy:IAMUser/RootCredentialUsage"


class RootCredentialUsage(Rule):
    name = "root-credential-usage"
    consumes = Source.CLOUDTRAIL
    findings = (FindingType(TYPE, severity(LOW), "TA0004 Privilege Escalation", "T1078.004 Valid Accounts: Cloud Accounts",
                            "an API call made with root credentials (not AWS services acting for root)", sources=("CloudTrail", "S3DataEvents")),)

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.user_identity.type == "Root"]

    def match(self, e: ApiCall) -> Occurrence | None:
        ident = e.user_identity
        if ident.type != "Root" or e.event_type == "AwsServiceEvent" or assumed_root(ident):
            return None  # an AssumeRoot session is ShortTermRootCredentialUsage
        # An AWS service acting for root (AWS Config, CloudFormation...) calls from the service's own
        # name, not an IP; root in the console (invokedBy signin.amazonaws.com) is root usage.
        if ident.invoked_by and not is_ip(e.source_ip):
            return None
        # A sign-in that failed (a wrong password, a wrong MFA code) used no credentials: someone tried them.
        if e.event_source == "signin.amazonaws.com" and (not e.succeeded or "Failure" in e.response().values()):
            return None
        return api_occurrence(
            e, TYPE, self.severity(TYPE),
            f"The API {e.event_name} was invoked using root credentials.",
            f"The API {e.event_name} was invoked using root credentials from IP address {e.source_ip}. "
            "Use of the root user should be limited to the few tasks that require it.",
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, record, root_user

    s3, iam = "s3.amazonaws.com", "iam.amazonaws.com"
    t = iter(start + timedelta(minutes=3 * i) for i in range(100))
    return [
        Case("root-api-call", TYPE, record("ListBuckets", s3, time=next(t), account=account, identity=root_user(account), params={"Host": "s3.amazonaws.com"})),
        Case("root-console-call", TYPE, record("CreateAccessKey", iam, time=next(t), account=account,
                                               identity={**root_user(account), "invokedBy": "signin.amazonaws.com"}, ua="AWS Internal", params={})),
        Case("root-console-sign-in", TYPE, {**record("ConsoleLogin", "signin.amazonaws.com", time=next(t), account=account,
                                                     identity=root_user(account), params=None,
                                                     response={"ConsoleLogin": "Success"}), "eventType": "AwsConsoleSignIn"}),
        Case("root-console-sign-in-wrong-password", None, {**record("ConsoleLogin", "signin.amazonaws.com", time=next(t), account=account,
                                                                    identity=root_user(account), params=None,
                                                                    response={"ConsoleLogin": "Failure"}), "eventType": "AwsConsoleSignIn"}),
        Case("root-console-sign-in-failed-authentication", None, {**record("ConsoleLogin", "signin.amazonaws.com", time=next(t), account=account,
                                                                           identity=root_user(account), params=None,
                                                                           response={"ConsoleLogin": "Failure"}),
                                                                  "errorMessage": "Failed authentication", "eventType": "AwsConsoleSignIn"}),
        Case("root-service-event", None, {**record("ListBuckets", s3, time=next(t), account=account,
                                                   identity={**root_user(account), "invokedBy": "config.amazonaws.com"}),
                                          "sourceIPAddress": "config.amazonaws.com"}),
    ]
