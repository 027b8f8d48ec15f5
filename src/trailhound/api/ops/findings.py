"""Findings: list with FindingCriteria, get, statistics, archive, feedback, samples."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, bindparam, func, select, update

from trailhound.api.context import Ctx, handles, next_token, page
from trailhound.api.protocol import bad_request
from trailhound.findings import criteria
from trailhound.store import tables as t
from trailhound.store.database import write_findings

F = t.findings.c


def _scope(ctx: Ctx, detector_id: str) -> ColumnElement[bool]:
    """The findings a detector's owner may see: its accounts' (its own, its members'), in the detector's region."""
    row = ctx.detector(detector_id)
    return and_(F.account_id.in_(sorted(ctx.visible_accounts())), F.region == row["region"])


def _criteria(ctx: Ctx, given: dict[str, Any] | None) -> ColumnElement[bool] | None:
    if not given or not given.get("criterion"):
        return None  # no criteria, or an empty criterion: every finding
    try:
        return criteria.where(given, t.findings, ctx.conn.dialect.name)
    except criteria.CriteriaError as exc:
        raise bad_request(str(exc)) from None


def _order(sort: dict[str, Any] | None) -> list[Any]:
    try:
        return criteria.order_by(sort, t.findings)
    except criteria.CriteriaError as exc:
        raise bad_request(str(exc)) from None


def _ids(ctx: Ctx, p: dict[str, Any]) -> tuple[ColumnElement[bool], list[str]]:
    return _scope(ctx, p["DetectorId"]), list(dict.fromkeys(p["FindingIds"]))


def _matching(ctx: Ctx, p: dict[str, Any]) -> ColumnElement[bool]:
    """The detector's visible findings that meet the request's FindingCriteria."""
    where = _scope(ctx, p["DetectorId"])
    crit = _criteria(ctx, p.get("FindingCriteria"))
    return where if crit is None else and_(where, crit)


@handles("ListFindings")
def list_findings(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    where = _matching(ctx, p)
    limit = p.get("MaxResults") or 50
    salt = hashlib.blake2b(orjson.dumps([p["DetectorId"], p.get("FindingCriteria"), p.get("SortCriteria")], option=orjson.OPT_SORT_KEYS),
                           digest_size=8).hexdigest()
    offset = page(p.get("NextToken"), salt)
    q = select(F.id).where(where).order_by(*_order(p.get("SortCriteria"))).offset(offset).limit(limit + 1)
    ids = list(ctx.conn.execute(q).scalars())
    return {"FindingIds": ids[:limit], "NextToken": next_token(offset + limit, salt) if len(ids) > limit else ""}


def _detector_ids(ctx: Ctx) -> dict[tuple[str, str], str]:
    d = t.detectors.c

    def load() -> dict[tuple[str, str], str]:
        rows = ctx.conn.execute(select(d.account_id, d.region, d.id).where(d.account_id.in_(sorted(ctx.visible_accounts()))))
        return {(a, r): i for a, r, i in rows}

    return ctx.scopes.get(("detector-ids", ctx.account), load)


def wire(doc: bytes, archived: int, feedback: str | None, detectors: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The stored document with what the API keeps beside it (archived, feedback) and its account's detector."""
    out = orjson.loads(doc)
    service = out["service"]
    service["archived"] = bool(archived)
    if feedback:
        service["userFeedback"] = feedback
    detector = detectors.get((out["accountId"], out["region"]))
    if detector:  # the scan wrote the store's own detector id; through the API a finding is its account's detector's
        service["detectorId"] = detector
        out["arn"] = f"arn:{out.get('partition', 'aws')}:guardduty:{out['region']}:{out['accountId']}:detector/{detector}/finding/{out['id']}"
    return out


# built once: GetFindings is the call a SIEM connector makes most, and building the statement per request cost more than the query
_GET = (select(F.doc, F.archived, F.feedback)
        .where(F.account_id.in_(bindparam("accounts", expanding=True)), F.region == bindparam("region"), F.id.in_(bindparam("ids", expanding=True))))


# PostgreSQL's straight through the driver, past SQLAlchemy's statement and result machinery, with each list
# as one JSON text (psycopg's dumping of Python lists cost more than the query): the text never changes, so
# psycopg prepares it once per connection. (Half of GetFindings' CPU in the server was this machinery.)
_GET_PG = ("SELECT doc, archived, feedback FROM findings WHERE account_id = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))"
           " AND region = %s AND id = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))")


def _get_pg(ctx: Ctx, accounts: list[str], region: str, ids: list[str]) -> list[Any]:
    with ctx.conn.connection.driver_connection.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(_GET_PG, (orjson.dumps(accounts).decode(), region, orjson.dumps(ids).decode()))
        return cur.fetchall()


@handles("GetFindings")
def get_findings(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    region = ctx.detector(p["DetectorId"])["region"]
    ids = list(dict.fromkeys(p["FindingIds"]))
    detectors = _detector_ids(ctx)
    accounts = sorted(ctx.visible_accounts())
    if p.get("SortCriteria"):
        rows = ctx.conn.execute(_GET.order_by(*_order(p["SortCriteria"])), {"accounts": accounts, "region": region, "ids": ids}).all()
    elif ctx.conn.dialect.name == "postgresql":
        rows = _get_pg(ctx, accounts, region, ids)
    else:
        rows = ctx.conn.execute(_GET, {"accounts": accounts, "region": region, "ids": ids}).all()
    found = [wire(doc, archived, feedback, detectors) for doc, archived, feedback in rows]
    if not p.get("SortCriteria"):
        order = {fid: i for i, fid in enumerate(ids)}
        found.sort(key=lambda f: order[f["id"]])  # as asked
    return {"Findings": found}


_GROUPS = {"ACCOUNT": (F.account_id, "groupedByAccount", "accountId"), "FINDING_TYPE": (F.type, "groupedByFindingType", "findingType"),
           "SEVERITY": (F.severity, "groupedBySeverity", "severity")}


@handles("GetFindingsStatistics")
def get_findings_statistics(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    where = _matching(ctx, p)
    group = p.get("GroupBy")
    if not group:
        if "COUNT_BY_SEVERITY" not in (p.get("FindingStatisticTypes") or []):
            raise bad_request("Give findingStatisticTypes [COUNT_BY_SEVERITY] or groupBy.")
        rows = ctx.conn.execute(select(F.severity, func.count()).where(where).group_by(F.severity))
        return {"FindingStatistics": {"countBySeverity": {f"{float(sev):.1f}": n for sev, n in rows}}}
    total, last = func.count().label("total"), func.max(F.updated_at).label("last")
    limit = p.get("MaxResults") or 25
    order = total.asc() if p.get("OrderBy") == "ASC" else total.desc()
    if group == "DATE":
        day = func.substr(F.updated_at, 1, 10)
        rows = ctx.conn.execute(select(day, func.max(F.severity), total, last).where(where).group_by(day).order_by(order, day).limit(limit))
        out = [{"date": d, "severity": s, "totalFindings": n, "lastGeneratedAt": lg} for d, s, n, lg in rows]
        return {"FindingStatistics": {"groupedByDate": out}}
    if group == "RESOURCE":
        rows = ctx.conn.execute(select(F.account_id, F.resource_id, F.resource_type, total, last).where(where)
                                .group_by(F.account_id, F.resource_id, F.resource_type).order_by(order, F.resource_id).limit(limit))
        out = [{"accountId": a, "resourceId": r, "resourceType": rt, "totalFindings": n, "lastGeneratedAt": lg} for a, r, rt, n, lg in rows]
        return {"FindingStatistics": {"groupedByResource": out}}
    column, name, key = _GROUPS[group]
    rows = ctx.conn.execute(select(column, total, last).where(where).group_by(column).order_by(order, column).limit(limit))
    return {"FindingStatistics": {name: [{key: v, "totalFindings": n, "lastGeneratedAt": lg} for v, n, lg in rows]}}


def _set(ctx: Ctx, p: dict[str, Any], **values: Any) -> None:
    scope, ids = _ids(ctx, p)
    with ctx.transaction() as c:
        c.execute(update(t.findings).where(scope, F.id.in_(ids)).values(**values))


@handles("ArchiveFindings")
def archive_findings(ctx: Ctx, p: dict[str, Any]) -> None:
    ctx.require_not_member("archive findings")
    _set(ctx, p, archived=1)


@handles("UnarchiveFindings")
def unarchive_findings(ctx: Ctx, p: dict[str, Any]) -> None:
    ctx.require_not_member("unarchive findings")
    _set(ctx, p, archived=0)


@handles("UpdateFindingsFeedback")
def update_findings_feedback(ctx: Ctx, p: dict[str, Any]) -> None:
    _set(ctx, p, feedback=p["Feedback"])


@functools.cache
def _samples() -> tuple[bytes, ...]:
    from trailhound.findings.model import encode
    from trailhound.findings.samples import sample_findings

    return tuple(encode(f) for f in sample_findings())  # one scan of the sample cases per process


@handles("CreateSampleFindings")
def create_sample_findings(ctx: Ctx, p: dict[str, Any]) -> None:
    from trailhound.findings.model import decode
    from trailhound.findings.suppress import Suppression

    row = ctx.detector(p["DetectorId"])
    wanted = set(p.get("FindingTypes") or [])
    samples = [decode(doc) for doc in _samples()]
    known = {f.type for f in samples}
    if unknown := wanted - known:
        raise bad_request(f"Unknown finding type(s): {', '.join(sorted(unknown))[:500]}")
    chosen = [f for f in samples if not wanted or f.type in wanted]
    for f in chosen:
        fid = hashlib.blake2b(f"sample|{ctx.account}|{row['region']}|{f.type}".encode(), digest_size=16).hexdigest()
        f.account_id, f.region, f.id = ctx.account, row["region"], fid
        f.arn = f"arn:aws:guardduty:{row['region']}:{ctx.account}:detector/{row['id']}/finding/{fid}"
        f.service.detector_id = row["id"]
    suppression = Suppression.load(ctx.conn)
    for f in chosen:
        suppression.apply(f)
    with ctx.transaction() as c:
        write_findings(c, chosen)
