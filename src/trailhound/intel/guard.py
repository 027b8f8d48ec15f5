"""What an operator's own list (``--threat-list``, ``--trusted-list``) may not hold: an entry so broad
that one line judges most of the Internet. A pasted ``0.0.0.0/0`` would make every public address
malicious (thousands of findings) or trusted (silence), so such an entry is refused with a problem
naming its line, and the rest of the list loads: one bad line should not cost the good ones.

Limits, as the shortest prefix accepted:

* IPv4 /8 — GuardDuty's IP lists take CIDRs, and real block lists hold big networks: the broadest
  public entries of FireHOL level 1 and ET block are /12s (level 1's /8s and /3 are bogons, dropped
  as non-public anyway). Nothing broader than a whole IANA /8 names one bad actor.
* IPv6 /16 — IANA hands the RIRs /12s, they hand networks /19-/32s; the broadest cloud ranges in
  MISP's warning lists are /24s. A /16 is already a 65,536th of the address space.
* Domains — a public suffix (``co.uk``, ``com.au``) would match every name registered under it;
  single labels (``com``, ``*``) are not domains here and are refused as bad lines already.

Entries that are private or reserved throughout are left to ``IntelIndex.add``, which drops them
(lists apply to public addresses only) whatever their size.

A list is also judged whole (``vet_coverage``): 221 lines of public /8s pass the entry limit one by one
yet cover every public IPv4 address. The union of its addresses and networks, cut to their public parts
as ``IntelIndex.add`` cuts them (private and reserved space is not counted), is measured per IP version
against ``COVERAGE_LIMITS``: past the first bound the list loads with a one-line warning, past the second
it is refused whole. Both kinds of operator list get the same treatment, as they share one loader: a
trusted list that broad silently hides attacks from a large part of the Internet, and a threat list that
broad names no bad actor — it floods the store with findings on ordinary traffic that bury the real
ones — so either is a mistake to stop (a list refused is fixed and rescanned; findings made stay made).
"""

from __future__ import annotations

import math
import socket

from trailhound.enrich.domains import registrable_domain
from trailhound.enrich.geo import public_spans
from trailhound.formats.base import Problem
from trailhound.intel.formats import DOMAIN, IP, NET, ListLoad
from trailhound.intel.index import is_global_entry, public_parts
from trailhound.intel.iptable import parse_entry

MIN_PREFIX = {4: 8, 6: 16}  # IP version -> shortest network prefix an operator's list may hold
# IP version -> (warn above, refuse above): public addresses a whole operator's list may cover.
# IPv4 (3.70 billion public addresses): real block lists cover about a /8's worth (FireHOL level 1 18.5M, ET
# block 14.9M) and one cloud region's published ranges up to ~23M (AWS us-east-1, 2026); all of AWS is 102M
# (51M in 2020) — a plausible trusted list, so it must load, but it trusts every EC2 tenant: warned from 2^26
# (a /6's worth, 67M, 1.8% of the public space), refused past 2^29 (a /3's worth, 537M, 14.5%: five AWSes).
# IPv6: all of AWS's ranges are 2^100.4 addresses; the biggest single networks hold a /19-/24. Warned past
# a /24's worth (2^104), refused past a /12's worth (2^116: what IANA hands a whole regional registry).
COVERAGE_LIMITS = {4: (1 << 26, 1 << 29), 6: (1 << 104, 1 << 116)}
_PUBLIC = {version: public_spans(0, (1 << bits) - 1, bits // 8) for version, bits in ((4, 32), (6, 128))}  # as enrich.geo tells public
PUBLIC_V4 = sum(hi - lo + 1 for lo, hi in _PUBLIC[4])  # 3,702,258,690
_REVERSE_ZONES = frozenset({"in-addr.arpa", "ip6.arpa"})  # every PTR query is under one: grouped, not suffixes, for the PSL


def refusal(kind: str, value: str) -> str | None:
    """Why an operator's list may not hold this canonical entry, in one line; None when it may."""
    if kind == NET:
        version = 6 if ":" in value else 4
        prefix = int(value.rsplit("/", 1)[1])
        if prefix >= MIN_PREFIX[version] or not is_global_entry(value) or not public_parts(value):
            return None
        span = (32 if version == 4 else 128) - prefix
        return (f"'{value}' refused: an IPv{version} list entry may be no broader than /{MIN_PREFIX[version]} (this one spans "
                f"2^{span} addresses); entry skipped, the rest of the list loads")
    if kind == DOMAIN and (value in _REVERSE_ZONES or not registrable_domain(value)):
        return f"'{value}' refused: a public suffix, it would match every domain under it; entry skipped, the rest of the list loads"
    return None


def coverage(load: ListLoad) -> dict[int, int]:
    """IP version -> how many public addresses the list's addresses and networks cover together
    (overlaps counted once; private and reserved parts not counted, as ``IntelIndex.add`` drops them)."""
    ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for value, kind, _ in load.indicators:
        if kind == IP:  # the common entry of a big feed: no ipaddress object
            six = ":" in value
            n = int.from_bytes(socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, value), "big")
            ranges[6 if six else 4].append((n, n))
        elif kind == NET:
            bits, first, last, _ = parse_entry(value)
            ranges[4 if bits == 32 else 6].append((first, last))
    return {version: _public_total(spans, _PUBLIC[version]) for version, spans in ranges.items()}


def _public_total(spans: list[tuple[int, int]], public: list[tuple[int, int]]) -> int:
    """Addresses of the union of inclusive ``spans`` that fall in the sorted, disjoint ``public`` stretches."""
    total, j, end = 0, 0, -1
    for first, last in sorted(spans):
        first = max(first, end + 1)  # what an earlier span covered is counted once
        if first > last:
            continue
        end = last
        while j < len(public) and public[j][1] < first:
            j += 1
        k = j
        while k < len(public) and public[k][0] <= last:
            total += min(last, public[k][1]) - max(first, public[k][0]) + 1
            k += 1
    return total


def _may_pass(load: ListLoad) -> bool:
    """Whether the entries' sizes, summed as if none overlapped, pass a warning bound: a cheap check that
    spares the exact count (a third of a second for a 250k-address feed) to all but network-heavy lists."""
    upper = {4: load.ips, 6: load.ips}  # single addresses, counted in both versions: an over-count, as the sum is
    for value, kind, _ in load.indicators:
        if kind == NET:
            six = ":" in value
            upper[6 if six else 4] += 1 << ((128 if six else 32) - int(value.rsplit("/", 1)[1]))
    return any(n > COVERAGE_LIMITS[v][0] for v, n in upper.items())


def _amount(version: int, n: int) -> str:
    if version == 4:
        size = f"{n / 1e9:.2f} billion" if n >= 1e9 else f"{n / 1e6:.1f} million" if n >= 1e6 else f"{n:,}"
        return f"{size} public IPv4 addresses ({100 * n / PUBLIC_V4:.1f}% of the public space)"
    return f"2^{math.log2(n):.1f} public IPv6 addresses (a /{128 - math.log2(n):.1f}'s worth)"


def vet_coverage(load: ListLoad) -> None:
    """Judge an operator's list by all it covers (see the module's doc): past a warning bound, a problem
    saying so heads the list's problems; past a refusal bound, the list is refused whole — nothing from it
    is used, its entries counted in ``refused`` and ``too_broad`` set. ``load.coverage`` keeps the line."""
    if not _may_pass(load):
        return
    covered = coverage(load)
    over = [(v, n) for v, n in covered.items() if n > COVERAGE_LIMITS[v][0]]
    if not over:
        return
    refused = [v for v, n in over if n > COVERAGE_LIMITS[v][1]]
    said = " and ".join(_amount(v, n) for v, n in over)
    if refused:
        most = " / ".join(_amount(v, COVERAGE_LIMITS[v][1]).split(" (")[0] for v in refused)
        line = (f"list refused: it covers {said}, more than a list may ({most}); a trusted list this broad hides attacks, "
                "a threat list this broad flags ordinary traffic: nothing from it is used")
        load.refused += load.entries
        load.indicators = []
        load.entries = load.ips = load.networks = load.domains = 0
        load.too_broad = True
    else:
        line = (f"list loaded, but it covers {said}: a trusted list this broad hides attacks from all of it, a threat "
                "list this broad flags ordinary traffic; check it is meant")
    load.coverage = line
    load.problems.insert(0, Problem(str(load.path) or load.name, line))
    load.problem_count += 1
