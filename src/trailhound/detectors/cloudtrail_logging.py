"""Stealth:IAMUser/CloudTrailLoggingDisabled — a trail was stopped or deleted.

Attackers switch off the audit trail before they act (Stratus `cloudtrail-stop`,
`cloudtrail-delete`). Only successful calls count: a failed StopLogging changed nothing.
"""

from __future__ import annotations

from trailhound.detectors.base import Rule, api_occurrence
from trailhound.events import ApiCall, Source
from trailhound.findings.model import LOW, Occurrence


class CloudTrailLoggingDisabled(Rule):
    name = "cloudtrail-logging-disabled"
    consumes = Source.CLOUDTRAIL
    finding_types = ("Stealth:IAMUser/CloudTrailLoggingDisabled",)
    event_names = frozenset({"StopLogging", "DeleteTrail"})

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_source != "cloudtrail.amazonaws.com":
            return None
        trail = str(e.params().get("name") or "unknown")
        trail_name = trail.rsplit("/", 1)[-1]
        verb = "stopped" if e.event_name == "StopLogging" else "deleted"
        who = e.user_identity.name
        return api_occurrence(
            e,
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            LOW,
            f"AWS CloudTrail trail {trail_name} was {verb}.",
            f"The API {e.event_name} was invoked by {who} ({e.user_identity.type}) and {verb} the CloudTrail trail "
            f"{trail_name}. Disabling the audit trail is a common step to cover an attacker's tracks.",
            affected={"AWS::CloudTrail::Trail": trail},
        )
