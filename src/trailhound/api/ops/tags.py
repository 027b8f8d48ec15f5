"""TagResource, UntagResource, ListTagsForResource on the ARNs GuardDuty tags: a detector, and its
filters, IPSets and ThreatIntelSets.

The ARN is judged before the store is touched: another account's ARN is AccessDeniedException at
once (no lookup, so its answer says nothing about what that account has), another region's is a
bad request (the endpoint is regional, as GuardDuty's). Within the caller's account and region a
resource that does not exist is ResourceNotFoundException.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from sqlalchemy import Table, select, update

from trailhound.api.context import Ctx, handles, tags_of
from trailhound.api.protocol import bad_request, denied, not_found
from trailhound.store import tables as t

_ARN = re.compile(r"arn:aws[a-z-]*:guardduty:([a-z0-9-]{1,32}):(\d{12}):detector/([A-Za-z0-9]{1,300})"
                  r"(?:/(filter|ipset|threatintelset)/([^/]{1,300}))?")
_TAG_KEY = re.compile(r"[a-zA-Z0-9+\-=._:/@ ]{1,128}")
MAX_TAGS = 50  # per resource, AWS's tagging quota


def _resource(ctx: Ctx, arn: str, *, lock: bool = False) -> tuple[Table, Any]:
    """The table and WHERE clause of the resource an ARN names, if it is the caller's."""
    m = _ARN.fullmatch(arn)
    if m is None:
        raise bad_request("The request is rejected because the resource ARN is not a GuardDuty detector, filter, IPSet or ThreatIntelSet ARN.")
    region, account, detector_id, kind, child = m.groups()
    if account != ctx.account:
        raise denied("The request is rejected because the resource belongs to another account.")
    if region != ctx.region:
        raise bad_request(f"The request is rejected because the resource is in region {region}, not {ctx.region}.")
    d = t.detectors.c
    detector = ctx.conn.execute(select(d.id).where(d.id == detector_id, d.account_id == account, d.region == region)).scalar()
    if detector is None:
        raise not_found("The request is rejected because the detector does not exist.")
    if kind is None:
        table, where = t.detectors, d.id == detector
    elif kind == "filter":
        table, where = t.filters, (t.filters.c.detector_id == detector) & (t.filters.c.name == child)
    else:
        s = t.intel_sets.c
        table, where = t.intel_sets, (s.detector_id == detector) & (s.id == child) & (s.kind == kind)
    q = select(table.c.tags).where(where)
    row = ctx.conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise not_found(f"The request is rejected because the {kind} does not exist.")
    return table, where


def _tags(ctx: Ctx, table: Table, where: Any) -> dict[str, str]:
    return tags_of(ctx.conn.execute(select(table.c.tags).where(where)).scalar())


@handles("ListTagsForResource")
def list_tags_for_resource(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    table, where = _resource(ctx, p["ResourceArn"])
    return {"Tags": _tags(ctx, table, where)}


@handles("TagResource")
def tag_resource(ctx: Ctx, p: dict[str, Any]) -> None:
    for key, value in p["Tags"].items():
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise bad_request(f"The request is rejected because tag key {key[:128]!r} is not allowed (1-128 characters, not 'aws:').")
        if not isinstance(value, str) or len(value) > 256:
            raise bad_request(f"The request is rejected because the value of tag {key!r} is over 256 characters.")
    with ctx.transaction():  # read-modify-write: the row is locked (PostgreSQL) / the store is (SQLite) until it is written
        table, where = _resource(ctx, p["ResourceArn"], lock=True)
        tags = {**_tags(ctx, table, where), **p["Tags"]}
        if len(tags) > MAX_TAGS:
            raise bad_request(f"The request is rejected because a resource may have at most {MAX_TAGS} tags.")
        ctx.conn.execute(update(table).where(where).values(tags=orjson.dumps(tags)))
    ctx.changed_scopes()  # a detector's tags are in its cached row


@handles("UntagResource")
def untag_resource(ctx: Ctx, p: dict[str, Any]) -> None:
    with ctx.transaction():
        table, where = _resource(ctx, p["ResourceArn"], lock=True)
        gone = set(p["TagKeys"])
        tags = {k: v for k, v in _tags(ctx, table, where).items() if k not in gone}
        ctx.conn.execute(update(table).where(where).values(tags=orjson.dumps(tags)))
    ctx.changed_scopes()  # a detector's tags are in its cached row
