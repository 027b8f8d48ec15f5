"""IPSets (trusted IP lists) and ThreatIntelSets: one table (``intel_sets``), one set of handlers for both.

Activation reads the file at once (GuardDuty does it in the background): a location that is refused
or cannot be read (outside the lists folder, missing, over 35 MB) is a BadRequestException and
changes nothing; a file that is read but holds no usable list leaves the set in status ERROR with
the reason (``errorDetails`` in the JSON, which the entity-set shapes model and boto3 ignores here).
The scan reads ACTIVE sets again from their locations (``intel.stored.for_scan``), so an edited file
is picked up by the next scan without re-activating it.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update

from trailhound.api.context import Ctx, handles, new_id, next_token, now_iso, page, tags_of
from trailhound.api.protocol import bad_request, not_found
from trailhound.intel import stored
from trailhound.store import tables as t

S = t.intel_sets.c
# kind -> (operation noun, id member, ids member, sets per detector: GuardDuty's quotas)
KINDS = {"ipset": ("IPSet", "IpSetId", "IpSetIds", 1), "threatintelset": ("ThreatIntelSet", "ThreatIntelSetId", "ThreatIntelSetIds", 6)}


def _locate(location: str) -> stored.Location:
    try:
        return stored.locate(location)
    except stored.LocationError as exc:
        raise bad_request(f"The request is rejected because the location is not valid: {exc}") from None


def _activate(kind: str, name: str, fmt: str, location: str, owner: str | None) -> tuple[str, str | None]:
    """(status, reason) after reading the file; an unreadable one is the caller's bad request."""
    try:
        _, why = stored.load(kind, name, fmt, _locate(location), owner)
    except stored.FetchError as exc:
        raise bad_request(f"The request is rejected because the location cannot be read: {exc}") from None
    return ("ERROR", why) if why else ("ACTIVE", None)


def _row(ctx: Ctx, kind: str, detector: str, set_id: str) -> Any:
    row = ctx.conn.execute(select(t.intel_sets).where(S.id == set_id, S.detector_id == detector, S.kind == kind)).mappings().first()
    if row is None:  # another detector's set answers as none does
        raise not_found(f"The request is rejected because the {KINDS[kind][0]} {set_id[:64]!r} does not exist.")
    return row


def _managed(ctx: Ctx, kind: str, p: dict[str, Any]) -> Any:
    """The caller's set that the request names, once the caller is known to be one who may change it."""
    noun, id_member, _, _ = KINDS[kind]
    detector = ctx.detector(p["DetectorId"])["id"]
    ctx.require_not_member(f"manage {noun}s")
    return _row(ctx, kind, detector, p[id_member])


def _create(kind: str) -> Any:
    noun, id_member, _, quota = KINDS[kind]

    def create(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        detector = ctx.detector(p["DetectorId"])["id"]
        ctx.require_not_member(f"manage {noun}s")
        _locate(p["Location"])
        status, why = (_activate(kind, p["Name"], p["Format"], p["Location"], p.get("ExpectedBucketOwner"))
                       if p["Activate"] else ("INACTIVE", None))
        set_id, now = new_id(), now_iso()
        with ctx.transaction() as c:
            # the detector's row locked (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises): two creates cannot both fit the quota
            c.execute(select(t.detectors.c.id).where(t.detectors.c.id == detector).with_for_update())
            count = c.execute(select(func.count()).select_from(t.intel_sets).where(S.detector_id == detector, S.kind == kind)).scalar() or 0
            if count >= quota:
                raise bad_request(f"The request is rejected because the detector already has {count} {noun}(s), the most GuardDuty allows.")
            c.execute(insert(t.intel_sets).values(id=set_id, detector_id=detector, kind=kind, name=p["Name"], format=p["Format"],
                                                  location=p["Location"], status=status, error=why, tags=orjson.dumps(p.get("Tags") or {}),
                                                  created_at=now, updated_at=now))
        return {id_member: set_id}

    return create


def _get(kind: str) -> Any:
    id_member = KINDS[kind][1]

    def get(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        row = _row(ctx, kind, ctx.detector(p["DetectorId"])["id"], p[id_member])
        out = {"Name": row["name"], "Format": row["format"], "Location": row["location"], "Status": row["status"],
               "Tags": tags_of(row["tags"])}
        if row["error"]:
            out["errorDetails"] = row["error"]
        return out

    return get


def _update(kind: str) -> Any:
    def update_(ctx: Ctx, p: dict[str, Any]) -> None:
        row = _managed(ctx, kind, p)
        name, location = p.get("Name") or row["name"], p.get("Location") or row["location"]
        values: dict[str, Any] = {"name": name, "location": location, "updated_at": now_iso()}
        _locate(location)
        activate = p.get("Activate")
        if activate is None:  # a new location of an active set is read now, as activating it would
            activate = row["status"] in ("ACTIVE", "ERROR") if "Location" in p else None
        if activate is True:
            values["status"], values["error"] = _activate(kind, name, row["format"], location, p.get("ExpectedBucketOwner"))
        elif activate is False:
            values["status"], values["error"] = "INACTIVE", None
        with ctx.transaction() as c:
            c.execute(update(t.intel_sets).where(S.id == row["id"]).values(**values))

    return update_


def _delete(kind: str) -> Any:
    def delete_(ctx: Ctx, p: dict[str, Any]) -> None:
        row = _managed(ctx, kind, p)
        with ctx.transaction() as c:
            c.execute(delete(t.intel_sets).where(S.id == row["id"]))

    return delete_


def _list(kind: str) -> Any:
    ids_member = KINDS[kind][2]

    def list_(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
        detector = ctx.detector(p["DetectorId"])["id"]
        limit, salt = p.get("MaxResults") or 50, f"{kind}:{detector}"
        offset = page(p.get("NextToken"), salt)
        q = select(S.id).where(S.detector_id == detector, S.kind == kind).order_by(S.created_at, S.id).offset(offset).limit(limit + 1)
        ids = list(ctx.conn.execute(q).scalars())
        return {ids_member: ids[:limit], "NextToken": next_token(offset + limit, salt) if len(ids) > limit else None}

    return list_


for _kind, (_noun, *_rest) in KINDS.items():
    handles(f"Create{_noun}")(_create(_kind))
    handles(f"Get{_noun}")(_get(_kind))
    handles(f"Update{_noun}")(_update(_kind))
    handles(f"Delete{_noun}")(_delete(_kind))
    handles(f"List{_noun}s")(_list(_kind))
