"""The body a finding leaves in: EventBridge's event for a GuardDuty finding, and its signature.

``id`` is a UUID made from the finding's id and ``updatedAt``: the same state of a finding always
gets the same id, so a receiver de-duplicates redeliveries (delivery is at-least-once) by it, and
an update of the finding is a new event.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import orjson

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/trailhound/trailhound/finding-event")
SIGNATURE_HEADER = "X-Trailhound-Signature"


def event_id(finding_id: str, updated_at: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{finding_id}@{updated_at}"))


def envelope(finding: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's event for ``finding`` (its GuardDuty wire form), as GuardDuty sends it."""
    updated = str(finding.get("updatedAt", ""))
    return {
        "version": "0",
        "id": event_id(str(finding["id"]), updated),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": finding.get("accountId", ""),
        "time": updated.split(".")[0].rstrip("Z") + "Z" if updated else "",  # EventBridge's time has whole seconds
        "region": finding.get("region", ""),
        "resources": [],
        "detail": finding,
    }


def body(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def signature(secret: str, data: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of the body under the secret>``, the value of X-Trailhound-Signature."""
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def verify(secret: str, data: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature of the raw body and compare in constant time."""
    return hmac.compare_digest(signature(secret, data), header or "")


__all__ = ["SIGNATURE_HEADER", "body", "envelope", "event_id", "signature", "verify"]
