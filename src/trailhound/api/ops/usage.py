"""GetUsageStatistics: what the scans metered (the ``usage`` table), priced as GuardDuty would have billed it.

How the store's sources map onto GuardDuty's names (one meter each, so every view sums to the same total):

    source      dataSource    feature          billed (pricing.py, US East list prices)
    cloudtrail  CLOUD_TRAIL   CLOUD_TRAIL      per 1M management events
    s3data      S3_LOGS       S3_DATA_EVENTS   per 1M S3 data events, tiered; per bucket too (the resource views)
    flow        FLOW_LOGS     FLOW_LOGS        per GB, tiered on flow + DNS bytes together;
    dns         DNS_LOGS      DNS_LOGS         the shared bill is split between them by bytes

GuardDuty reports the last 30 days. The store meters by the UTC day of the events' own time (logs are
often scanned long after they were written), so the statistics cover the 30 days that end on the latest
day with usage for the accounts asked about, priced per account as GuardDuty's tiers are. A bucket's
cost is its share (by events) of its account's S3 data events bill. The store does not meter per
region: usage is the accounts' across regions.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select

from trailhound.api.context import Ctx, handles, next_token, page
from trailhound.api.protocol import bad_request
from trailhound.pricing import CLOUDTRAIL_PER_MILLION, FLOW_DNS_TIERS, S3_DATA_TIERS, tiered
from trailhound.store import tables as t

SOURCES = {"cloudtrail": ("CLOUD_TRAIL", "CLOUD_TRAIL"), "s3data": ("S3_LOGS", "S3_DATA_EVENTS"),
           "flow": ("FLOW_LOGS", "FLOW_LOGS"), "dns": ("DNS_LOGS", "DNS_LOGS")}
U = t.usage.c


def costs(rows: list[tuple[str, str, int, int]]) -> dict[tuple[str, str], float]:
    """(account, source) -> USD, from one month's (account, source, events, bytes) rows."""
    by_account: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for account, source, events, size in rows:
        by_account[account][source] = (events, size)
    out: dict[tuple[str, str], float] = {}
    for account, used in by_account.items():
        if "cloudtrail" in used:
            out[(account, "cloudtrail")] = used["cloudtrail"][0] / 1e6 * CLOUDTRAIL_PER_MILLION
        if "s3data" in used:
            out[(account, "s3data")] = tiered(used["s3data"][0], S3_DATA_TIERS, unit=1e6)
        net = {s: used[s][1] for s in ("flow", "dns") if s in used}
        total = sum(net.values())
        bill = tiered(total / 1e9, FLOW_DNS_TIERS)  # one meter for both: the tiers apply to their sum
        for s, size in net.items():
            out[(account, s)] = bill * size / total if total else 0.0
    return out


def _total(amount: float) -> dict[str, str]:
    return {"amount": f"{amount:.6f}", "unit": "USD"}


def _accounts(ctx: Ctx, asked: list[str] | None) -> list[str]:
    visible = ctx.visible_accounts()
    if asked:
        if outside := [a for a in asked if a not in visible]:
            raise bad_request(f"The request is rejected because account {outside[0][:20]!r} is not this account or one of its members.")
        return sorted(set(asked))
    return sorted(visible)


def _sources(criteria: dict[str, Any]) -> list[str]:
    sources = list(SOURCES)
    if criteria.get("dataSources"):
        sources = [s for s in sources if SOURCES[s][0] in criteria["dataSources"]]
    if criteria.get("features"):
        sources = [s for s in sources if SOURCES[s][1] in criteria["features"]]
    return sources


WINDOW_DAYS = 30


def _window(ctx: Ctx, accounts: list[str], sources: list[str]) -> tuple[str, str] | None:
    """The 30 days (first, last, as YYYY-MM-DD) ending on the latest day with usage, or None without any."""
    last = ctx.conn.execute(select(func.max(U.day)).where(U.account_id.in_(accounts), U.source.in_(sources))).scalar()
    if last is None:
        return None
    first = (date.fromisoformat(last) - timedelta(days=WINDOW_DAYS - 1)).isoformat()
    return first, last


def cells(rows: list[tuple[str, str, str, int, int]]) -> dict[tuple[str, str, str], float]:
    """(account, source, resource) -> USD, from the window's (account, source, resource, events, bytes) rows:
    each account's bill per source (costs), split between its resources by events."""
    used: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for account, source, _, events, size in rows:
        used[(account, source)][0] += events
        used[(account, source)][1] += size
    bill = costs([(a, s, e, b) for (a, s), (e, b) in used.items()])
    out: dict[tuple[str, str, str], float] = {}
    for account, source, resource, events, _ in rows:
        total = used[(account, source)][0]
        share = events / total if total else 1.0
        out[(account, source, resource)] = out.get((account, source, resource), 0.0) + bill.get((account, source), 0.0) * share
    return out


@handles("GetUsageStatistics")
def get_usage_statistics(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    if p.get("Unit") not in (None, "", "USD"):
        raise bad_request("The request is rejected because unit must be USD.")
    kind, criteria = p["UsageStatisticType"], p.get("UsageCriteria") or {}
    accounts, sources = _accounts(ctx, criteria.get("accountIds")), _sources(criteria)
    window = _window(ctx, accounts, sources)
    cost: dict[tuple[str, str, str], float] = {}
    if window is not None:
        # priced on every source of the window (flow and DNS share one tiered meter), then narrowed to those asked for
        rows = ctx.conn.execute(select(U.account_id, U.source, U.resource, func.sum(U.events), func.sum(U.bytes))
                                .where(U.day >= window[0], U.day <= window[1], U.account_id.in_(accounts))
                                .group_by(U.account_id, U.source, U.resource)).all()
        cost = {k: v for k, v in cells([(a, s, r, int(e), int(b)) for a, s, r, e, b in rows]).items() if k[1] in sources}
    if criteria.get("resources"):  # exact names: only usage GuardDuty meters per resource (S3 data events per bucket)
        wanted = set(criteria["resources"])
        cost = {k: v for k, v in cost.items() if k[2] in wanted}
    if kind in ("SUM_BY_RESOURCE", "TOP_RESOURCES"):
        per: dict[str, float] = defaultdict(float)
        for (_, _, resource), usd in cost.items():
            if resource:
                per[resource] += usd
        ranked = sorted(per.items()) if kind == "SUM_BY_RESOURCE" else sorted(per.items(), key=lambda x: (-x[1], x[0]))[:50]
        items: list[dict[str, Any]] = [{"resource": r, "total": _total(usd)} for r, usd in ranked]
    elif kind == "SUM_BY_ACCOUNT":
        per = defaultdict(float)
        for (account, _, _), usd in cost.items():
            per[account] += usd
        items = [{"accountId": a, "total": _total(usd)} for a, usd in sorted(per.items())]
    elif kind in ("SUM_BY_DATA_SOURCE", "SUM_BY_FEATURES"):
        at, key = (0, "dataSource") if kind == "SUM_BY_DATA_SOURCE" else (1, "feature")
        per = defaultdict(float)
        for (_, source, _), usd in cost.items():
            per[SOURCES[source][at]] += usd
        items = [{key: name, "total": _total(usd)} for name, usd in sorted(per.items())]
    else:  # TOP_ACCOUNTS_BY_FEATURE
        by: dict[tuple[str, str], float] = defaultdict(float)
        for (account, source, _), usd in cost.items():
            by[(SOURCES[source][1], account)] += usd
        top: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for (feature, account), usd in by.items():
            top[feature].append((usd, account))
        items = [{"feature": f, "accounts": [{"accountId": a, "total": _total(usd)} for usd, a in sorted(v, key=lambda x: (-x[0], x[1]))[:50]]}
                 for f, v in sorted(top.items())]
    limit = p.get("MaxResults") or 50
    salt = hashlib.blake2b(orjson.dumps([p["DetectorId"], kind, criteria], option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()
    offset = page(p.get("NextToken"), salt)
    name = {"SUM_BY_ACCOUNT": "sumByAccount", "SUM_BY_DATA_SOURCE": "sumByDataSource", "SUM_BY_RESOURCE": "sumByResource",
            "TOP_RESOURCES": "topResources", "SUM_BY_FEATURES": "sumByFeature", "TOP_ACCOUNTS_BY_FEATURE": "topAccountsByFeature"}[kind]
    return {"UsageStatistics": {name: items[offset:offset + limit]},
            "NextToken": next_token(offset + limit, salt) if len(items) > offset + limit else None}
