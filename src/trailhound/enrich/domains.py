"""Registrable domains from the Public Suffix List, offline.

``domain_with_suffix(name)`` fills GuardDuty's ``dnsRequestAction.domainWithSuffix`` ("the second
and top level domain": ``a.b.example.co.uk`` -> ``example.co.uk``); ``registrable_domain(name)``
is the same eTLD+1 but empty when a name has none, for grouping and counting.

The PSL is the snapshot bundled inside ``tldextract`` (``TLDExtract(suffix_list_urls=(),
cache_dir=None)``: no fetch and no cache files ever; the default ``TLDExtract()`` would try
publicsuffix.org and GitHub first). ``tldextract`` (it imports ``requests``) loads on first use.

Suffix sets:

* ICANN section only (the default, ``private=False``) — what GuardDuty's field means:
  ``bucket.s3.amazonaws.com`` -> ``amazonaws.com``, ``x.github.io`` -> ``github.io``.
* ``private=True`` also honours the PSL's private section, where a hosting provider's customers
  are separate owners: ``bucket.s3.amazonaws.com`` -> ``bucket.s3.amazonaws.com``,
  ``x.github.io`` -> ``x.github.io``. Use it to count distinct *owners* (DGA, rare domains).

Normalisation: surrounding whitespace and trailing dots dropped, lower-cased. Special names:

* IP literals (``1.2.3.4``, ``[::1]``, ``::1``): no registrable domain; ``domain_with_suffix``
  returns the address.
* Reverse-DNS names (``…in-addr.arpa``, ``…ip6.arpa``): grouped as ``in-addr.arpa`` / ``ip6.arpa``.
* Names whose last label is not on the list (``ip-10-0-0-1.ec2.internal``, ``corp.local``): the
  PSL's default rule ``*`` applies (the last label is the suffix): ``ec2.internal``, ``corp.local``.
* A bare public suffix (``co.uk``) or a single label (``localhost``): no registrable domain;
  ``domain_with_suffix`` returns the name itself.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import Any, TypeVar

V = TypeVar("V")

__all__ = ["registrable_domain", "domain_with_suffix", "split_name", "normalize", "psl_version", "memoised"]

_REVERSE = ("in-addr.arpa", "ip6.arpa")
CACHE_SIZE = 1 << 17


@functools.lru_cache(maxsize=1)
def _extractor() -> Any:
    import tldextract

    return tldextract.TLDExtract(
        suffix_list_urls=(),  # never fetch
        cache_dir=None,  # never read or write a disk cache
        fallback_to_snapshot=True,  # the PSL snapshot inside the wheel
        include_psl_private_domains=False,
    )


def psl_version() -> str:
    """The ``VERSION`` line of the bundled PSL snapshot (e.g. ``2025-04-07_...``), or ''."""
    from importlib.resources import files

    try:
        text = (files("tldextract") / ".tld_set_snapshot").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return ""
    for line in text.splitlines()[:20]:
        if "VERSION:" in line:
            return line.split("VERSION:", 1)[1].strip()
    return ""


def normalize(name: str) -> str:
    """Trimmed, lower-cased, without trailing dots."""
    return name.strip().rstrip(".").lower()


def _is_ip(name: str) -> bool:
    host = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except (OSError, ValueError):
            continue
    return False


@functools.lru_cache(maxsize=CACHE_SIZE)
def split_name(name: str, private: bool = False) -> tuple[str, str, str]:
    """``(subdomain, registrable domain, public suffix)`` of a DNS name; parts may be ''."""
    host = normalize(name)
    if not host or _is_ip(host):
        return "", "", ""
    for rev in _REVERSE:
        if host == rev or host.endswith("." + rev):
            sub = host[: -len(rev) - 1] if host != rev else ""
            return sub, rev, "arpa"
    r = _extractor().extract_str(host, include_psl_private_domains=private)
    if r.suffix and r.domain:
        reg = f"{r.domain}.{r.suffix}"
        return r.subdomain, reg, r.suffix
    if r.suffix:  # the name is itself a public suffix
        return "", "", r.suffix
    labels = host.split(".")
    if len(labels) >= 2 and all(labels[-2:]):  # no PSL rule matched: default rule "*"
        return ".".join(labels[:-2]), ".".join(labels[-2:]), labels[-1]
    return "", "", ""


def registrable_domain(name: str, private: bool = False) -> str:
    """eTLD+1 of ``name`` (``www.Example.CO.UK.`` -> ``example.co.uk``), or '' if it has none."""
    if not name:
        return ""
    return split_name(name, private)[1]


def domain_with_suffix(name: str, private: bool = False) -> str:
    """GuardDuty's ``domainWithSuffix``: the registrable domain, or the normalised name itself
    when it has none (an IP literal, a single label, a bare suffix)."""
    if not name:
        return ""
    reg = split_name(name, private)[1]
    if reg:
        return reg
    host = normalize(name)
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def memoised(memo: dict[str, V], key: str, limit: int, compute: Callable[[str], V]) -> V:
    """``memo[key]``, computed on a miss (None is a remembered answer too); the memo is emptied when it
    reaches ``limit`` entries — a full reset is cheaper than LRU bookkeeping on every probe."""
    got = memo.get(key, memo)
    if got is memo:
        if len(memo) >= limit:
            memo.clear()
        got = memo[key] = compute(key)
    return got  # type: ignore[return-value]
