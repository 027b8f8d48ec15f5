"""Findings in GuardDuty's wire form (camelCase, as GetFindings and the S3/EventBridge export
carry them), their deterministic identity, and aggregation of recurring occurrences.

A detector emits ``Occurrence``s: one sighting of a finding type on a resource. The first
occurrence creates the finding; later ones with the same identity update it — ``service.count``,
``updatedAt``, ``eventLastSeen`` and the details of the latest occurrence — as GuardDuty does
(reference §4a).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

LOW, MEDIUM, HIGH = 2.0, 5.0, 8.0
SCHEMA_VERSION = "2.0"


class Occurrence(msgspec.Struct, kw_only=True):
    """One sighting of a finding type on a resource, as a detector reports it."""

    type: str
    severity: float
    time: float  # event time, epoch seconds
    account_id: str
    region: str
    resource: dict[str, Any]  # wire-form `resource` (resourceType + details)
    resource_key: str  # stable id of the affected resource: principal, instance id, bucket
    action: dict[str, Any]  # wire-form `service.action`
    title: str
    description: str
    resource_role: str = "TARGET"
    feature_name: str = "CloudTrail"
    additional_info: dict[str, Any] = msgspec.field(default_factory=dict)
    evidence: dict[str, Any] | None = None
    remote_ip: str | None = None  # the public IP the activity came from or went to (trusted-list check)
    aggregation_key: str = ""  # extra identity, e.g. the indicator for threat-intel types


def iso(ts: float) -> str:
    """GuardDuty's timestamp strings: ISO-8601 with milliseconds and 'Z'."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def finding_id(occ: Occurrence) -> str:
    """Same activity pattern -> same id, on every machine and every replay (32 hex chars like GuardDuty's)."""
    key = "\x1f".join((occ.account_id, occ.region, occ.type, occ.resource_key, occ.resource_role, occ.aggregation_key))
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _additional_info(info: dict[str, Any]) -> dict[str, str]:
    return {"value": orjson.dumps(info, option=orjson.OPT_SORT_KEYS).decode(), "type": "default"}


def new_finding(occ: Occurrence, detector_id: str, now: float) -> dict[str, Any]:
    fid = finding_id(occ)
    service: dict[str, Any] = {
        "serviceName": "guardduty",
        "detectorId": detector_id,
        "featureName": occ.feature_name,
        "action": occ.action,
        "resourceRole": occ.resource_role,
        "additionalInfo": _additional_info(occ.additional_info),
        "eventFirstSeen": iso(occ.time),
        "eventLastSeen": iso(occ.time),
        "archived": False,
        "count": 1,
    }
    if occ.evidence:
        service["evidence"] = occ.evidence
    stamp = iso(now)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "accountId": occ.account_id,
        "region": occ.region,
        "partition": "aws",
        "id": fid,
        "arn": f"arn:aws:guardduty:{occ.region}:{occ.account_id}:detector/{detector_id}/finding/{fid}",
        "type": occ.type,
        "resource": occ.resource,
        "service": service,
        "severity": occ.severity,
        "createdAt": stamp,
        "updatedAt": stamp,
        "title": occ.title,
        "description": occ.description,
    }


def aggregate(finding: dict[str, Any], occ: Occurrence, now: float) -> dict[str, Any]:
    """Fold a recurring occurrence into its finding (mutates and returns it)."""
    service = finding["service"]
    service["count"] = int(service.get("count", 0)) + 1
    stamp = iso(occ.time)
    if stamp < service["eventFirstSeen"]:
        service["eventFirstSeen"] = stamp
    if stamp >= service["eventLastSeen"]:
        # The latest occurrence's details replace the old ones (e.g. the newest remote IP).
        service["eventLastSeen"] = stamp
        service["action"] = occ.action
        service["additionalInfo"] = _additional_info(occ.additional_info)
        if occ.evidence:
            service["evidence"] = occ.evidence
        finding["resource"] = occ.resource
        finding["title"] = occ.title
        finding["description"] = occ.description
    # A recurring issue never becomes less severe than it has been.
    finding["severity"] = max(float(finding["severity"]), occ.severity)
    finding["updatedAt"] = iso(now)
    return finding


def severity_label(severity: float) -> str:
    if severity >= 9.0:
        return "Critical"
    if severity >= 7.0:
        return "High"
    if severity >= 4.0:
        return "Medium"
    return "Low"
