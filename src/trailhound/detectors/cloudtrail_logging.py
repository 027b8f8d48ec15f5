"""Stealth:IAMUser/CloudTrailLoggingDisabled — a trail was stopped or deleted.

Attackers switch off the audit trail before they act (Stratus `cloudtrail-stop`,
`cloudtrail-delete`). Only successful calls count: a failed StopLogging changed nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import LOW, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Stealth:IAMUser/CloudTrailLoggingDisabled"


class CloudTrailLoggingDisabled(Rule):
    name = "cloudtrail-logging-disabled"
    consumes = Source.CLOUDTRAIL
    event_names = frozenset({"StopLogging", "DeleteTrail"})
    findings = (FindingType(TYPE, severity(LOW), "TA0005 Defense Evasion", "T1562.008 Disable or Modify Cloud Logs",
                            "successful `StopLogging` / `DeleteTrail`"),)

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_source != "cloudtrail.amazonaws.com":
            return None
        trail = str(e.params().get("name") or "unknown")
        trail_name = trail.rsplit("/", 1)[-1]
        verb = "stopped" if e.event_name == "StopLogging" else "deleted"
        return api_occurrence(
            e, TYPE, self.severity(TYPE),
            f"AWS CloudTrail trail {trail_name} was {verb}.",
            f"The API {e.event_name} was invoked by {e.user_identity.name} ({e.user_identity.type}) and {verb} the CloudTrail trail "
            f"{trail_name}. Disabling the audit trail is a common step to cover an attacker's tracks.",
            affected={"AWS::CloudTrail::Trail": trail},
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import TRUSTED_IP, Case, iam_user, record

    ct = "cloudtrail.amazonaws.com"
    mallory = iam_user(account, "mallory")
    t = iter(start + timedelta(minutes=3 * i) for i in range(100))
    return [
        Case("stop-logging", TYPE, record("StopLogging", ct, time=next(t), account=account, identity=mallory,
                                          params={"name": f"arn:aws:cloudtrail:us-east-1:{account}:trail/org-trail"})),
        Case("delete-trail", TYPE, record("DeleteTrail", ct, time=next(t), account=account, identity=mallory, params={"name": "org-trail"})),
        Case("start-logging", None, record("StartLogging", ct, time=next(t), account=account, params={"name": "org-trail"})),
        Case("stop-logging-failed", None, record("StopLogging", ct, time=next(t), account=account, params={"name": "org-trail"},
                                                 error_code="TrailNotFoundException")),
        # the operator's office is on the trusted list: GuardDuty raises nothing for its calls
        Case("trusted-ip-stop-logging", None, record("StopLogging", ct, time=next(t), account=account, ip=TRUSTED_IP,
                                                     params={"name": "scratch-trail"})),
    ]
