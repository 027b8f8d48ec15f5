"""The console's own reads, beside the API's operations: what GuardDuty's API has no call for.

Each takes the caller's ``Ctx`` (so the same account isolation: usage is the visible accounts' only)
and answers JSON for the page:

* ``ConsoleIngestion``: the last scan or follow commit, the newest event time the detectors have
  reached (the watermark), and the lag between them — store-wide facts, no finding data;
* ``ConsoleUsage``: events and bytes per month, account and source, priced per month as the API's
  GetUsageStatistics prices its latest one (``api.ops.usage.costs``);
* ``ConsoleSources``: for ``serve --source``, each source's last object, lag, error and quarantine
  (administrator keys only: the sources and their file names are the operator's);
* ``ConsoleCount``: how many findings meet a FindingCriteria, counted up to ``COUNT_CAP`` — the
  findings page's total; an exact count of half a million findings reads them all (a second in
  PostgreSQL), where a page of them takes a millisecond;
* ``ConsoleUploadList``: a list file sent from the browser, written into the lists folder and made a
  ThreatIntelSet or IPSet through the API's own Create handler.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, literal, select

from trailhound.api import context
from trailhound.api.context import Ctx
from trailhound.api.ops.findings import _matching  # the API's scope and FindingCriteria, as ListFindings applies them
from trailhound.api.ops.usage import SOURCES, costs
from trailhound.api.protocol import ApiError, bad_request
from trailhound.intel import stored
from trailhound.sources.s3 import key_time, parse_location
from trailhound.store import tables as t

MAX_MONTHS = 24
COUNT_CAP = 10_000
QUARANTINE_SHOWN = 5
RECENT_FILES = 200
LIST_KINDS = {"threatintelset": "CreateThreatIntelSet", "ipset": "CreateIPSet"}


@dataclass
class Call:
    ctx: Ctx
    admin: bool
    health: Callable[[], dict[str, Any]]
    api: Callable[[str, dict[str, Any]], dict[str, Any]]  # an API operation for the same caller, as the console runs it
    max_upload: int


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ingestion(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    c, now = call.ctx.conn, time.time()
    k = t.checkpoints.c
    last, files = c.execute(select(func.max(k.updated_at), func.count()).select_from(t.checkpoints)).one()
    raw = c.execute(select(t.meta.c.value).where(t.meta.c.key == "watermark")).scalar()
    watermark = float(raw) if raw not in (None, "", "-inf") else None
    quarantined = c.execute(select(func.count()).select_from(t.quarantine)).scalar() or 0
    follow = _part(call.health().get("follow"))
    return {"lastIngestedAt": iso(last), "sinceSeconds": None if last is None else round(now - last),
            "newestEventAt": iso(watermark), "lagSeconds": None if last is None or watermark is None else round(max(0.0, last - watermark)),
            "files": files, "quarantined": quarantined,
            "following": follow is not None, "lastCycleAt": iso((follow or {}).get("last_cycle_at")),
            "sourceErrors": len((follow or {}).get("errors") or {})}


def usage(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    u = t.usage.c
    # the store meters by month, or by day (and resource) in later schemas: either way summed per month here
    month = func.substr(u.day, 1, 7) if "day" in u else u.month
    accounts = sorted(call.ctx.visible_accounts())
    months = list(call.ctx.conn.execute(select(month).where(u.account_id.in_(accounts)).group_by(month)
                                        .order_by(month.desc()).limit(MAX_MONTHS)).scalars())
    rows = call.ctx.conn.execute(select(month, u.account_id, u.source, func.sum(u.events), func.sum(u.bytes))
                                 .where(u.account_id.in_(accounts), month.in_(months))
                                 .group_by(month, u.account_id, u.source).order_by(month, u.account_id, u.source)).all()
    by_month: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
    for m, account, source, events, size in rows:
        by_month[m].append((account, source, int(events), int(size)))
    out, totals = [], []
    for month in sorted(by_month):
        priced = costs(by_month[month])  # per month, as the tiers reset each month
        for account, source, events, size in by_month[month]:
            out.append({"month": month, "accountId": account, "source": source, "dataSource": SOURCES.get(source, (source,))[0],
                        "events": events, "bytes": size, "usd": round(priced.get((account, source), 0.0), 6)})
        totals.append({"month": month, "usd": round(sum(priced.values()), 6),
                       "bySource": {s: round(sum(v for (_, src), v in priced.items() if src == s), 6) for s in SOURCES}})
    return {"rows": out, "months": totals}


def _part(value: Any) -> dict[str, Any] | None:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def sources(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    if not call.admin:
        raise ApiError("BadRequestException", "Only an administrator key sees the sources.", 400)
    health = call.health()
    follow, names = _part(health.get("follow")), list(health.get("sources") or [])
    if follow is None:
        return {"following": False, "sources": []}
    c, now = call.ctx.conn, time.time()
    k, q, m = t.checkpoints.c, t.quarantine.c, t.follow_markers.c
    out = []
    for name in names:
        entry: dict[str, Any] = {"source": name, "kind": "s3" if name.startswith("s3://") else "folder"}
        if name.startswith("s3://"):
            location = parse_location(name)  # as the follower names it: its streams (AWS's dated folders under it), errors, objects
            prefix = location.url
            error = next((line for where, line in follow["errors"].items() if where.startswith(prefix)), None)
            # each stream's marker is its last key read (every key up to it is read); the source's last object is the latest delivered
            markers = c.execute(select(m.marker, m.updated_at).where(m.source.startswith(prefix, autoescape=True), m.marker != "")
                                .order_by(m.updated_at.desc()).limit(RECENT_FILES)).all()
            if markers:
                row = max(markers, key=lambda r: (key_time(r.marker, r.updated_at), r.updated_at))
                delivered = key_time(row.marker, row.updated_at)
                entry.update(lastObject=location.name(row.marker), lastReadAt=iso(row.updated_at), lagSeconds=round(max(0.0, now - delivered)))
        else:
            folder = Path(name)
            prefix, error = str(folder.resolve()), follow["errors"].get(str(folder))
            # of the files read last (one commit holds many), the one delivered last by the stamp in its name
            recent = c.execute(select(k.path, k.updated_at).where(k.path.startswith(prefix, autoescape=True))
                               .order_by(k.updated_at.desc()).limit(RECENT_FILES)).all()
            if recent:
                row = max(recent, key=lambda r: (key_time(r.path, r.updated_at), r.updated_at))
                delivered = key_time(row.path, row.updated_at)
                entry.update(lastObject=row.path, lastReadAt=iso(row.updated_at), lagSeconds=round(max(0.0, now - delivered)))
        count = c.execute(select(func.count()).select_from(t.quarantine).where(q.path.startswith(prefix, autoescape=True))).scalar() or 0
        recent = c.execute(select(q.path, q.line, q.message, q.seen_at).where(q.path.startswith(prefix, autoescape=True))
                           .order_by(q.seen_at.desc()).limit(QUARANTINE_SHOWN)).all()
        entry.update(error=error, quarantined=count,
                     quarantine=[{"path": r.path, "line": r.line if r.line >= 0 else None, "message": r.message, "seenAt": iso(r.seen_at)}
                                 for r in recent])
        out.append(entry)
    return {"following": True, "cycles": follow.get("cycles"), "filesRead": follow.get("files_read"), "events": follow.get("events"),
            "lastCycleAt": iso(follow.get("last_cycle_at")), "sources": out}


def count(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    mine = (context.HANDLERS["ListDetectors"](call.ctx, {}) or {}).get("DetectorIds") or []
    if not mine:
        raise bad_request(f"Account {call.ctx.account} has no detector in {call.ctx.region}.")
    where = _matching(call.ctx, {"DetectorId": mine[0], "FindingCriteria": p.get("FindingCriteria")})
    n = call.ctx.conn.execute(select(func.count()).select_from(select(literal(1)).where(where).limit(COUNT_CAP + 1).subquery())).scalar() or 0
    return {"count": min(n, COUNT_CAP), "more": n > COUNT_CAP}


def upload_list(call: Call, p: dict[str, Any]) -> dict[str, Any]:
    kind, content = p.get("Kind"), p.get("Content")
    if kind not in LIST_KINDS or not isinstance(content, str) or not content.strip():
        raise bad_request("Give Kind (threatintelset or ipset) and the file's Content.")
    data = content.encode()
    if len(data) > call.max_upload:
        raise bad_request(f"The file is over {call.max_upload >> 20} MB: put it in the lists folder or S3 and name its location.")
    call.ctx.require_not_member("manage lists")
    folder = stored.lists_dir() / "console" / call.ctx.account
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{secrets.token_hex(8)}.txt"  # a name of ours: nothing the browser sent becomes a path
    path.write_bytes(data)
    params = {"Name": p.get("Name"), "Format": p.get("Format") or "TXT", "Location": str(path), "Activate": bool(p.get("Activate"))}
    try:
        return call.api(LIST_KINDS[kind], params)
    except Exception:
        path.unlink(missing_ok=True)  # refused (a bad name, the quota, a member): no file left behind
        raise


OWN: dict[str, Callable[[Call, dict[str, Any]], dict[str, Any]]] = {
    "ConsoleIngestion": ingestion, "ConsoleUsage": usage, "ConsoleSources": sources, "ConsoleUploadList": upload_list, "ConsoleCount": count}
