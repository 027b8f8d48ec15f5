"""A finding as an OCSF Detection Finding (class 2004, category Findings), for SIEMs that speak OCSF.

The required attributes of the class (OCSF 1.3: ``activity_id``, ``category_uid``, ``class_uid``,
``finding_info.uid``, ``metadata.product``, ``metadata.version``, ``severity_id``, ``time``,
``type_uid``) and the cloud profile's ``cloud.provider`` are always set; the GuardDuty finding itself
rides along whole in ``unmapped`` so nothing is lost to the mapping. ``metadata.uid`` is the same
idempotency key as the EventBridge event's ``id`` (finding id + updatedAt).
"""

from __future__ import annotations

import calendar
import time
from typing import Any

import trailhound
from trailhound.export.envelope import event_id

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004  # Detection Finding
CATEGORY_UID = 2  # Findings
_SEVERITY = [(9.0, 5, "Critical"), (7.0, 4, "High"), (4.0, 3, "Medium"), (0.1, 2, "Low")]  # GuardDuty's ranges


def _ms(text: Any) -> int | None:
    """OCSF timestamps are epoch milliseconds."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        whole = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    frac = text[19:].lstrip(".").rstrip("Z")
    return whole * 1000 + (int(frac[:3].ljust(3, "0")) if frac[:3].isdigit() else 0)


def severity(score: Any) -> tuple[int, str]:
    value = float(score) if isinstance(score, (int, float)) else 0.0
    for floor, sid, name in _SEVERITY:
        if value >= floor:
            return sid, name
    return 1, "Informational"


def _resources(finding: dict[str, Any]) -> list[dict[str, Any]]:
    resource = finding.get("resource") or {}
    kind = str(resource.get("resourceType") or "")
    base = {"type": kind, "region": finding.get("region"), "cloud_partition": finding.get("partition", "aws"),
            "owner": {"account": {"uid": finding.get("accountId"), "type": "AWS Account", "type_id": 10}}}
    if (instance := resource.get("instanceDetails") or {}).get("instanceId"):
        return [{**base, "uid": instance["instanceId"]}]
    if (key := resource.get("accessKeyDetails") or {}).get("accessKeyId") or key.get("userName"):
        return [{**base, "uid": key.get("accessKeyId") or key.get("userName"), "name": key.get("userName")}]
    buckets = [b for b in resource.get("s3BucketDetails") or [] if isinstance(b, dict) and b.get("name")]
    if buckets:
        return [{**base, "uid": b.get("arn") or b["name"], "name": b["name"]} for b in buckets]
    return [base] if kind else []


def detection_finding(finding: dict[str, Any]) -> dict[str, Any]:
    """The Detection Finding for ``finding`` (its GuardDuty wire form)."""
    created, updated = finding.get("createdAt"), finding.get("updatedAt")
    activity_id, activity = (1, "Create") if created == updated else (2, "Update")
    sid, sname = severity(finding.get("severity"))
    service = finding.get("service") or {}
    archived = bool(service.get("archived"))
    out: dict[str, Any] = {
        "activity_id": activity_id, "activity_name": activity,
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + activity_id, "type_name": f"Detection Finding: {activity}",
        "severity_id": sid, "severity": sname,
        "time": _ms(updated) or int(time.time() * 1000),
        "start_time": _ms(service.get("eventFirstSeen")), "end_time": _ms(service.get("eventLastSeen")),
        "count": service.get("count"),
        "status_id": 5 if archived else 1, "status": "Archived" if archived else "New",
        "is_alert": not archived,
        "message": finding.get("title"),
        "metadata": {"version": OCSF_VERSION, "profiles": ["cloud"], "uid": event_id(str(finding.get("id", "")), str(updated or "")),
                     "product": {"name": "Trailhound", "vendor_name": "Trailhound", "version": trailhound.__version__,
                                 "feature": {"name": "GuardDuty-compatible threat detection"}},
                     "original_time": updated},
        "cloud": {"provider": "AWS", "region": finding.get("region"), "account": {"uid": finding.get("accountId"), "type": "AWS Account",
                                                                                   "type_id": 10}},
        "finding_info": {"uid": finding.get("id"), "title": finding.get("title"), "desc": finding.get("description"),
                         "types": [finding.get("type")], "created_time": _ms(created), "modified_time": _ms(updated),
                         "first_seen_time": _ms(service.get("eventFirstSeen")), "last_seen_time": _ms(service.get("eventLastSeen")),
                         "src_url": finding.get("arn"), "product_uid": "trailhound"},
        "resources": _resources(finding),
        "unmapped": {"guardduty": finding},
    }
    return {k: v for k, v in out.items() if v is not None}


__all__ = ["CLASS_UID", "OCSF_VERSION", "detection_finding", "severity"]
