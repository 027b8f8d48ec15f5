"""Policy:IAMUser/RootCredentialUsage — the account's root user called an AWS API.

Root credentials bypass every IAM guard rail; AWS's own guidance is never to use them for
daily work. Calls that AWS services make on root's behalf (``invokedBy`` a service, from the
service's name rather than an IP) and service events are not root activity.
"""

from __future__ import annotations

from collections.abc import Sequence

from trailhound.detectors.base import Rule, api_occurrence
from trailhound.events import ApiCall, Source
from trailhound.findings.model import LOW, Occurrence


def _is_ip(value: str | None) -> bool:
    return bool(value) and (value[:1].isdigit() or ":" in value)  # type: ignore[index]


class RootCredentialUsage(Rule):
    name = "root-credential-usage"
    consumes = Source.CLOUDTRAIL
    finding_types = ("Policy:IAMUser/RootCredentialUsage",)

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.user_identity.type == "Root"]

    def match(self, e: ApiCall) -> Occurrence | None:
        ident = e.user_identity
        if ident.type != "Root" or e.event_type == "AwsServiceEvent":
            return None
        # An AWS service acting for root (AWS Config, CloudFormation...) calls from the service's own
        # name, not an IP; root in the console (invokedBy signin.amazonaws.com) is root usage.
        if ident.invoked_by and not _is_ip(e.source_ip):
            return None
        return api_occurrence(
            e,
            "Policy:IAMUser/RootCredentialUsage",
            LOW,
            f"The API {e.event_name} was invoked using root credentials.",
            f"The API {e.event_name} was invoked using root credentials from IP address {e.source_ip}. "
            "Use of the root user should be limited to the few tasks that require it.",
        )
