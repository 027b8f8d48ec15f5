"""What GuardDuty would charge for the same analysis (US East list prices, reference §5).

CloudTrail management events are billed per million, S3 data events per million in tiers,
VPC flow + DNS logs together per GB in tiers — per account, per month, per region.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

CLOUDTRAIL_PER_MILLION = 4.00
S3_DATA_TIERS = ((500e6, 0.80), (4_500e6, 0.40), (float("inf"), 0.20))  # (events in tier, $ per 1M)
FLOW_DNS_TIERS = ((500, 1.00), (2_000, 0.50), (7_500, 0.25), (float("inf"), 0.15))  # (GB in tier, $ per GB)


def tiered(quantity: float, tiers: Sequence[tuple[float, float]], unit: float = 1.0) -> float:
    cost, left = 0.0, quantity
    for size, price in tiers:
        used = min(left, size)
        cost += used / unit * price
        left -= used
        if left <= 0:
            break
    return cost


def estimate(usage: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (month, account): the GuardDuty bill for the events and bytes in `usage` rows."""
    acc: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for u in usage:
        slot = acc[(u["month"], u["accountId"])]
        if u["source"] in ("flow", "dns"):
            slot["gb"] += u["bytes"] / 1e9
        else:
            slot[u["source"]] += u["events"]
    out = []
    for (month, account), s in sorted(acc.items()):
        ct = s["cloudtrail"] / 1e6 * CLOUDTRAIL_PER_MILLION
        s3 = tiered(s["s3data"], S3_DATA_TIERS, unit=1e6)
        net = tiered(s["gb"], FLOW_DNS_TIERS)
        out.append({"month": month, "accountId": account, "cloudtrail": ct, "s3data": s3, "flowDns": net, "total": ct + s3 + net})
    return out
