"""Detectors: one per account and region, as GuardDuty has it."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update

from trailhound.api.context import Ctx, handles, new_id, next_token, now_iso, page, tags_of
from trailhound.api.protocol import bad_request
from trailhound.store import tables as t

# the foundational sources cannot be turned off (reference §3d); these can
FEATURES = ("CLOUD_TRAIL", "DNS_LOGS", "FLOW_LOGS", "S3_DATA_EVENTS")
_SERVICE_ROLE = "arn:aws:iam::{account}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty"


def _features(given: list[dict[str, Any]] | None, old: list[dict[str, Any]] | None = None, s3: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    status = {f["name"]: f["status"] for f in old or [{"name": n, "status": "ENABLED"} for n in FEATURES]}
    for f in given or []:
        if f.get("name") in ("S3_DATA_EVENTS",) and f.get("status"):
            status[f["name"]] = f["status"]
    if s3 and "enable" in s3:
        status["S3_DATA_EVENTS"] = "ENABLED" if s3["enable"] else "DISABLED"
    return [{"name": n, "status": status[n]} for n in FEATURES]


@handles("CreateDetector")
def create_detector(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    d = t.detectors.c
    if ctx.conn.execute(select(d.id).where(d.account_id == ctx.account, d.region == ctx.region)).first():
        raise bad_request("The request is rejected because a detector already exists for the current account.")
    now, detector_id = now_iso(), new_id()
    with ctx.transaction() as c:
        c.execute(insert(t.detectors).values(
            id=detector_id, account_id=ctx.account, region=ctx.region, status="ENABLED" if p.get("Enable", True) else "DISABLED",
            publishing_frequency=p.get("FindingPublishingFrequency") or "SIX_HOURS",
            features=orjson.dumps(_features(p.get("Features"), s3=(p.get("DataSources") or {}).get("s3Logs"))),
            tags=orjson.dumps(p.get("Tags") or {}), created_at=now, updated_at=now))
    ctx.changed_scopes()
    return {"DetectorId": detector_id}


@handles("GetDetector")
def get_detector(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    row = ctx.detector(p["DetectorId"])
    features = orjson.loads(row["features"])
    on = {f["name"]: f["status"] for f in features}
    return {
        "CreatedAt": row["created_at"], "UpdatedAt": row["updated_at"], "Status": row["status"],
        "FindingPublishingFrequency": row["publishing_frequency"], "ServiceRole": _SERVICE_ROLE.format(account=ctx.account),
        "DataSources": {"cloudTrail": {"status": "ENABLED"}, "dnsLogs": {"status": "ENABLED"}, "flowLogs": {"status": "ENABLED"},
                        "s3Logs": {"status": on.get("S3_DATA_EVENTS", "ENABLED")}},
        "Features": [{**f, "updatedAt": row["updated_at"]} for f in features], "Tags": tags_of(row["tags"]),
    }


@handles("UpdateDetector")
def update_detector(ctx: Ctx, p: dict[str, Any]) -> None:
    row = ctx.detector(p["DetectorId"])
    values: dict[str, Any] = {"updated_at": now_iso()}
    if "Enable" in p:
        values["status"] = "ENABLED" if p["Enable"] else "DISABLED"
    if p.get("FindingPublishingFrequency"):
        values["publishing_frequency"] = p["FindingPublishingFrequency"]
    if "Features" in p or "DataSources" in p:
        values["features"] = orjson.dumps(_features(p.get("Features"), orjson.loads(row["features"]), (p.get("DataSources") or {}).get("s3Logs")))
    with ctx.transaction() as c:
        c.execute(update(t.detectors).where(t.detectors.c.id == row["id"]).values(**values))
    ctx.changed_scopes()


@handles("DeleteDetector")
def delete_detector(ctx: Ctx, p: dict[str, Any]) -> None:
    row = ctx.detector(p["DetectorId"])
    with ctx.transaction() as c:
        c.execute(delete(t.filters).where(t.filters.c.detector_id == row["id"]))
        c.execute(delete(t.intel_sets).where(t.intel_sets.c.detector_id == row["id"]))
        c.execute(delete(t.detectors).where(t.detectors.c.id == row["id"]))
    ctx.changed_scopes()


@handles("ListDetectors")
def list_detectors(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    d = t.detectors.c
    limit, salt = p.get("MaxResults") or 50, "detectors"
    offset = page(p.get("NextToken"), salt)
    ids = list(ctx.conn.execute(select(d.id).where(d.account_id == ctx.account, d.region == ctx.region)
                                .order_by(d.id).offset(offset).limit(limit + 1)).scalars())
    return {"DetectorIds": ids[:limit], "NextToken": next_token(offset + limit, salt) if len(ids) > limit else None}
