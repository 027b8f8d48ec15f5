"""Stealth:IAMUser/CloudTrailLoggingDisabled — a trail was stopped, deleted, or told to stop logging management writes.

Attackers switch off the audit trail before they act (Stratus `cloudtrail-stop`, `cloudtrail-delete`),
or leave it running and quiet (`cloudtrail-event-selectors`): event selectors that no longer take the
management events that change things — `includeManagementEvents: false`, or read-only — while the trail
still looks alive. Only successful calls count: a failed StopLogging changed nothing. (A trail made
for data events alone is set up the same way: the finding says which trail, for its owner to tell.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

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
    event_names = frozenset({"StopLogging", "DeleteTrail", "PutEventSelectors"})
    findings = (FindingType(TYPE, severity(LOW), "TA0005 Defense Evasion", "T1562.008 Disable or Modify Cloud Logs",
                            "successful `StopLogging` / `DeleteTrail`, or `PutEventSelectors` that leaves no selector taking management "
                            "writes (`includeManagementEvents: false`, or read-only)"),)

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_source != "cloudtrail.amazonaws.com":
            return None
        params = e.params()
        if e.event_name == "PutEventSelectors":
            if logs_management_writes(params):
                return None
            trail = str(params.get("trailName") or "unknown")
            verb, how = "told to stop logging management writes", (" Its event selectors no longer take the management events that change "
                                                                     "things (or the trail is meant for data events alone)")
        else:
            trail = str(params.get("name") or "unknown")
            verb, how = ("stopped" if e.event_name == "StopLogging" else "deleted"), ""
        trail_name = trail.rsplit("/", 1)[-1]
        return api_occurrence(
            e, TYPE, self.severity(TYPE),
            f"AWS CloudTrail trail {trail_name} was {verb}.",
            f"The API {e.event_name} was invoked by {e.user_identity.name} ({e.user_identity.type}) and {verb} the CloudTrail trail "
            f"{trail_name}.{how}{'.' if how else ''} Disabling the audit trail is a common step "
            "to cover an attacker's tracks.",
            affected={"AWS::CloudTrail::Trail": trail},
        )


def logs_management_writes(params: dict[str, Any]) -> bool:
    """Whether the basic event selectors of a PutEventSelectors call take management events that write: one selector
    with management events (the default) and not read-only. Advanced selectors (``advancedEventSelectors``) are
    not judged: a call that sets them, or anything not understood, counts as logging."""
    selectors = params.get("eventSelectors")
    if not isinstance(selectors, list) or not selectors or params.get("advancedEventSelectors"):
        return True
    for sel in selectors:
        if not isinstance(sel, dict):
            return True
        include = sel.get("includeManagementEvents", True)
        writes = str(sel.get("readWriteType") or "All")
        if include is not False and str(include).lower() != "false" and writes != "ReadOnly":
            return True
    return False


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import TRUSTED_IP, Case, iam_user, record

    ct = "cloudtrail.amazonaws.com"
    mallory = iam_user(account, "mallory")
    t = iter(start + timedelta(minutes=3 * i) for i in range(100))
    return [
        Case("stop-logging", TYPE, record("StopLogging", ct, time=next(t), account=account, identity=mallory,
                                          params={"name": f"arn:aws:cloudtrail:us-east-1:{account}:trail/org-trail"})),
        Case("delete-trail", TYPE, record("DeleteTrail", ct, time=next(t), account=account, identity=mallory, params={"name": "org-trail"})),
        # Stratus cloudtrail-event-selectors: the trail keeps running but takes no management events
        Case("event-selectors-drop-management-events", TYPE, record("PutEventSelectors", ct, time=next(t), account=account, identity=mallory,
                                                                    params={"trailName": "org-trail", "eventSelectors": [{
                                                                        "dataResources": [{"type": "AWS::S3::Object", "values": []}],
                                                                        "excludeManagementEventSources": [], "includeManagementEvents": False,
                                                                        "readWriteType": "ReadOnly"}]})),
        # adding S3 data events to a trail that keeps its management events (the console's "data events" tab)
        Case("event-selectors-add-data-events", None, record("PutEventSelectors", ct, time=next(t), account=account, identity=mallory,
                                                             params={"trailName": "org-trail", "eventSelectors": [{
                                                                 "dataResources": [{"type": "AWS::S3::Object", "values": ["arn:aws:s3:::finance/"]}],
                                                                 "excludeManagementEventSources": ["kms.amazonaws.com"], "includeManagementEvents": True,
                                                                 "readWriteType": "All"}]})),
        Case("start-logging", None, record("StartLogging", ct, time=next(t), account=account, params={"name": "org-trail"})),
        Case("stop-logging-failed", None, record("StopLogging", ct, time=next(t), account=account, params={"name": "org-trail"},
                                                 error_code="TrailNotFoundException")),
        # the operator's office is on the trusted list: GuardDuty raises nothing for its calls
        Case("trusted-ip-stop-logging", None, record("StopLogging", ct, time=next(t), account=account, ip=TRUSTED_IP,
                                                     params={"name": "scratch-trail"})),
    ]
