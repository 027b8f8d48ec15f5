"""Filters: saved FindingCriteria; with action ARCHIVE, suppression rules (findings.suppress applies them)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update

from trailhound.api.context import Ctx, handles, next_token, now_iso, page, tags_of
from trailhound.api.protocol import bad_request, not_found
from trailhound.findings import criteria
from trailhound.store import tables as t

MAX_FILTERS = 100  # per detector, GuardDuty's quota
F = t.filters.c


def _criteria(given: Any) -> bytes:
    try:
        criteria.parse(given, allow_matches=True)
    except criteria.CriteriaError as exc:
        raise bad_request(str(exc)) from None
    return orjson.dumps(given)


def _filter(ctx: Ctx, detector_id: str, name: str) -> Any:
    row = ctx.conn.execute(select(t.filters).where(F.detector_id == detector_id, F.name == name)).mappings().first()
    if row is None:
        raise not_found(f"The request is rejected because the filter {name[:64]!r} does not exist.")
    return row


@handles("CreateFilter")
def create_filter(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    detector = ctx.detector(p["DetectorId"])["id"]
    ctx.require_not_member("create suppression rules")
    spec = _criteria(p["FindingCriteria"])
    with ctx.transaction() as c:
        if c.execute(select(F.name).where(F.detector_id == detector, F.name == p["Name"])).first():
            raise bad_request(f"The request is rejected because a filter named {p['Name']!r} already exists.")
        count = c.execute(select(func.count()).select_from(t.filters).where(F.detector_id == detector)).scalar() or 0
        if count >= MAX_FILTERS:
            raise bad_request(f"The request is rejected because the detector has {MAX_FILTERS} filters, the most it may have.")
        c.execute(insert(t.filters).values(detector_id=detector, name=p["Name"], description=p.get("Description") or "",
                                           action=p.get("Action") or "NOOP", rank=p.get("Rank") or count + 1, criteria=spec,
                                           tags=orjson.dumps(p.get("Tags") or {}), created_at=now_iso()))
    return {"Name": p["Name"]}


@handles("GetFilter")
def get_filter(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    row = _filter(ctx, ctx.detector(p["DetectorId"])["id"], p["FilterName"])
    return {"Name": row["name"], "Description": row["description"], "Action": row["action"], "Rank": row["rank"],
            "FindingCriteria": orjson.loads(row["criteria"]), "Tags": tags_of(row["tags"])}


@handles("UpdateFilter")
def update_filter(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    detector = ctx.detector(p["DetectorId"])["id"]
    ctx.require_not_member("change suppression rules")
    _filter(ctx, detector, p["FilterName"])
    values: dict[str, Any] = {}
    if "Description" in p:
        values["description"] = p["Description"] or ""
    if p.get("Action"):
        values["action"] = p["Action"]
    if p.get("Rank"):
        values["rank"] = p["Rank"]
    if "FindingCriteria" in p:
        values["criteria"] = _criteria(p["FindingCriteria"])
    if values:
        with ctx.transaction() as c:
            c.execute(update(t.filters).where(F.detector_id == detector, F.name == p["FilterName"]).values(**values))
    return {"Name": p["FilterName"]}


@handles("DeleteFilter")
def delete_filter(ctx: Ctx, p: dict[str, Any]) -> None:
    detector = ctx.detector(p["DetectorId"])["id"]
    ctx.require_not_member("delete suppression rules")
    _filter(ctx, detector, p["FilterName"])
    with ctx.transaction() as c:
        c.execute(delete(t.filters).where(F.detector_id == detector, F.name == p["FilterName"]))


@handles("ListFilters")
def list_filters(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    detector = ctx.detector(p["DetectorId"])["id"]
    limit, salt = p.get("MaxResults") or 50, f"filters:{detector}"
    offset = page(p.get("NextToken"), salt)
    names = list(ctx.conn.execute(select(F.name).where(F.detector_id == detector).order_by(F.rank, F.name).offset(offset).limit(limit + 1)).scalars())
    return {"FilterNames": names[:limit], "NextToken": next_token(offset + limit, salt) if len(names) > limit else None}
