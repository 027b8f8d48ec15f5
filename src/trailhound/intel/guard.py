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
"""

from __future__ import annotations

from trailhound.enrich.domains import registrable_domain
from trailhound.intel.formats import DOMAIN, NET
from trailhound.intel.index import is_global_entry, public_parts

MIN_PREFIX = {4: 8, 6: 16}  # IP version -> shortest network prefix an operator's list may hold
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
