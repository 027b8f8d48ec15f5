"""What can be known offline about a domain's reputation, from its name alone: the static half of the
Impact:EC2/*DomainRequest.Reputation types (``detectors.domain_reputation`` adds what the estate has seen).

``Reputation.facts(name)`` (memoised per query name, bounded) finds the name's **owner** — whoever
chose its leftmost meaningful label: the registrable domain (the Public Suffix List with its private
section, so ``x.github.io`` and ``bucket.s3.amazonaws.com`` are their customers'), or the name
registered under a free dynamic-DNS zone or an abused service (``abc.duckdns.org``) — and the signals
that make it risky, each with a weight in (0, 1) and the value that set it:

* ``dynamicDns`` / ``tunnel`` / ``paste`` / ``freeHosting`` — a legitimate service anyone can get a
  name or a drop box from, and that malware uses for that reason: the 35k free dynamic-DNS and
  shared-subdomain zones of MISP's ``dynamic-dns`` warninglist (CC0; upstream dyn-dns-list, the
  Unlicense), and ``intel/data/abused-services.tsv`` (tunnels such as ngrok and Cloudflare Quick
  Tunnels, paste and file-drop sites, out-of-band callback zones, free hosting platforms);
  ``listedHosting``: a zone with more than ``HOSTING_LISTED`` names on the packaged lists under it;
* ``lexical`` — the DGA model's score of the owner's label (``enrich.dga``; high: over ``threshold_head``, 0.05% of
  the training lists' names — a signal weighed with others, not the per-name verdict), with its entropy, digits
  and length reported beside it;
* ``listedUnderSameDomain`` — up to five names on a threat list lie under the same owner (``c2.evil.com``
  is listed and ``www.evil.com`` is asked for; ``listedNeighbourhood``, weaker: six to twenty). Not strong
  alone: big companies' and hosters' apexes (``bytedance.com``, ``office.net``) have a listed name or two
  under them; it makes a finding with a random-looking label, NXDOMAIN answers or other evidence;
  ``listedOtherTld`` — the owner's label is listed under
  another top-level domain (``evilcorp.net`` asked for, ``evilcorp.com`` listed);
* ``mining`` — mining-pool vocabulary in the name's labels (``xmr``, ``stratum``, ``nicehash``…, or a
  pool word with a coin: ``eth-pool``, ``btcmine``), beyond the exact pool lists.

Never judged (``facts`` returns None): names without a registrable domain (single labels, addresses,
reverse lookups, internal zones), names the packaged threat lists already name (their own types fire),
and names that are, or lie under, a popular (top-10k) or known-benign name — unless the popular name is
the abused service itself (``duckdns.org`` is popular; ``evil.duckdns.org`` is judged as its own owner).
"""

from __future__ import annotations

import functools
import gzip
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trailhound.enrich.dga import _entropy
from trailhound.enrich.domains import memoised, normalize

DATA_DIR = Path(__file__).resolve().parent.parent / "intel" / "data"
DYNAMIC_DNS = "dynamic-dns.txt.gz"
ABUSED = "abused-services.tsv"
MEMO_LIMIT = 200_000
HOSTING_LISTED = 20  # a zone with more listed names under it is a host handing out names, not one actor's domain
NEIGHBOURS_STRONG = 5  # up to this many listed names under an owner: one actor's domain (strong); more: a neighbourhood (weaker)
MIN_OTHER_TLD_LABEL = 7  # a shorter label is a word many owners share across TLDs
OTHER_TLDS = ("com", "net", "org", "info", "biz", "ru", "xyz", "top", "io", "cn", "online", "site", "club", "pw", "cc", "su", "me",
              "co", "tk", "ml", "ga", "cf", "gq", "us", "in", "live", "shop", "icu", "vip", "work")

# signal -> weight (its share of the score when present; signals combine as a noisy-OR)
WEIGHTS: dict[str, float] = {
    "dynamicDns": 0.35, "freeHosting": 0.25, "listedHosting": 0.35, "tunnel": 0.5, "paste": 0.5,
    "lexicalHigh": 0.5, "lexicalLow": 0.25, "listedUnderSameDomain": 0.45, "listedNeighbourhood": 0.3, "listedOtherTld": 0.45,
    "miningStrong": 0.6, "miningWeak": 0.5,
    # what the estate has seen (detectors.domain_reputation)
    "nxdomainHistory": 0.25, "nxdomainHistoryRepeated": 0.4, "newlySeen": 0.15,
}
ABUSED_KINDS = {"dynamic-dns": "dynamicDns", "tunnel": "tunnel", "paste": "paste", "free-hosting": "freeHosting"}

# Mining-pool vocabulary: tokens that name mining on their own, pool words, and coins (a pool word with a coin).
MINING_STRONG = ("xmrig", "nbminer", "cpuminer", "minerd", "xmr", "monero", "stratum", "nicehash", "cryptonight", "minergate", "coinhive", "hashvault", "randomx", "kawpow",
                 "ethash", "coinimp", "cryptoloot", "unmineable", "hashrate")
_RUNS = re.compile(r"[a-z]+|[0-9]+")
_NTP_STRATUM = re.compile(r"stratum-?\d")
POOL_WORDS = frozenset({"pool", "pools", "mine", "miner", "miners", "mining", "minepool", "solo"})
COINS = frozenset({"btc", "bitcoin", "eth", "etc", "ethereum", "ltc", "litecoin", "doge", "dogecoin", "zec", "zcash", "rvn", "ravencoin",
                   "erg", "ergo", "kas", "kaspa", "xmr", "monero", "bch", "grin", "beam", "cfx", "flux", "firo", "neoxa", "nexa", "alph",
                   "dero", "zeph", "coin", "coins", "crypto", "hash", "xmg", "ton", "etn", "xhv", "wow", "aeon", "turtle", "trtl"})


@dataclass(frozen=True)
class Facts:
    """The static verdict on one query name."""

    owner: str  # the name judged as one owner's (see the module doc)
    label: str  # the owner's own label
    signals: tuple[tuple[str, float, Any], ...]  # (signal, weight, value), strongest first
    abused: str | None  # the abused-service signal present, if any
    mining: str | None  # the mining token found, if any
    lexical: dict[str, Any]  # the DGA model's score, entropy, digits, length of the owner's label

    def has(self, signal: str) -> bool:
        return any(s == signal for s, _, _ in self.signals)


def combine(weights: list[float] | tuple[float, ...]) -> float:
    """Signals as independent pieces of evidence: 1 - prod(1 - w)."""
    p = 1.0
    for w in weights:
        p *= 1.0 - w
    return 1.0 - p


def _switches(part: str) -> int:
    """How often a label part turns from letters to digits or back."""
    return sum(1 for a, b in itertools.pairwise(part) if a.isdigit() != b.isdigit())


def mining_token(labels: list[str], vocabulary: frozenset[str] = frozenset()) -> tuple[str, str] | None:
    """("miningStrong" | "miningWeak", the token) when the labels name mining, else None. A strong word counts
    as a token of its own or glued to a word (``supportxmr``, ``moneroocean``, ``xmrpool``): a random label
    holds any three letters somewhere (``sdxexmr``)."""
    tokens: list[str] = []
    known = POOL_WORDS | COINS | vocabulary
    timekeeping = any(lab.startswith(("ntp", "time", "clock")) for lab in labels)
    for lab in labels:
        if len(lab) >= 16 and len(_RUNS.findall(lab)) >= 5:
            continue  # a hash or random label (rspamd's, a CDN's): its three-letter runs are chance, not words
        # (a random id's part, letters and digits interleaved, holds any three letters somewhere: k16xmr6gwk)
        chosen = "-".join(p for p in lab.split("-") if _switches(p) < 3)
        words = [t for t in "".join(c if c.isalpha() else " " for c in chosen).split() if t]
        for t in words:
            for s in MINING_STRONG:
                glue = known if s != "stratum" else POOL_WORDS | COINS  # (stratumsecurity is a company, stratumpool a pool)
                if t == s or t.startswith(s) and t[len(s):] in glue or t.endswith(s) and t[: -len(s)] in glue:
                    if s == "stratum" and (timekeeping or _NTP_STRATUM.search(lab)):
                        continue  # NTP's sense: ntp1.stratum2.ru, stratum1.net
                    return "miningStrong", s
        tokens += words
    pool = coin = None
    for t in tokens:
        if t in POOL_WORDS:
            pool = t
        elif t in COINS:
            coin = t
        else:  # compounds: ethpool, poolbtc, btcmine
            for w in POOL_WORDS:
                if t.endswith(w) and t[: -len(w)] in COINS or t.startswith(w) and t[len(w):] in COINS:
                    return "miningWeak", t
    if pool and coin:
        return "miningWeak", f"{pool}+{coin}"
    return None


@functools.lru_cache(maxsize=1)
def shared_zones() -> frozenset[str]:
    """Zones whose names their customers answer or point anywhere (free dynamic DNS, tunnels, pastes, free hosting)."""
    dyn, services = _zones()
    return dyn | frozenset(services)


def _zones() -> tuple[frozenset[str], dict[str, tuple[str, str]]]:
    text = gzip.decompress((DATA_DIR / DYNAMIC_DNS).read_bytes()).decode()
    dyn = frozenset(line for line in text.splitlines() if line and not line.startswith("#"))
    table: dict[str, tuple[str, str]] = {}  # zone -> (kind, scope)
    for line in (DATA_DIR / ABUSED).read_text().splitlines():
        if line and not line.startswith("#"):
            zone, kind, scope, _ = line.split("\t")
            table[zone] = (kind, scope)
    return dyn, table


class Reputation:
    """The static signals of query names (see the module doc), judged once per distinct name."""

    def __init__(self, intel: Any = None, model: Any = None, benign: Any = None) -> None:
        from trailhound.enrich.dga import shipped_model
        from trailhound.intel.benign import shipped_sets

        self.intel = intel
        self.model = model or shipped_model()
        self.benign = benign or shipped_sets()
        self.dynamic, self.services = _zones()
        self._memo: dict[str, Facts | None] = {}

    # -- owners -------------------------------------------------------------------------------
    def owner(self, host: str) -> tuple[str, str, str | None, str] | None:
        """(owner, its label, abused kind or None, the abused zone or '') of a normalised name, or None when it has no owner."""
        from trailhound.enrich.domains import split_name

        labels = host.split(".")
        if host in self.dynamic or self.services.get(host, ("", ""))[1] == "below":
            return None  # the provider's own name, not a customer's
        # the longest abused zone the name is under (a zone itself is the service, not a customer)
        for i in range(1, len(labels) - 1):
            zone = ".".join(labels[i:])
            if zone in self.services:
                kind, scope = self.services[zone]
                if scope == "below":
                    return f"{labels[i - 1]}.{zone}", labels[i - 1], kind, zone
                break
            if zone in self.dynamic:
                if i == 1 and labels[0] in _PROVIDER_HOSTS:
                    return None  # the provider's own web site or mail host (www.dyndns.tv), no customer's name
                return f"{labels[i - 1]}.{zone}", labels[i - 1], "dynamic-dns", zone
        _, reg, _ = split_name(host, private=True)
        if not reg or reg.endswith(".arpa"):
            return None
        _, icann, suffix = split_name(host)
        if not icann or suffix in ("internal", "local", "localhost", "invalid", "test", "example", "corp", "lan", "home"):
            return None
        if reg in self.services:  # a paste site's own names
            return reg, reg.split(".", 1)[0], self.services[reg][0], reg
        return reg, reg.split(".", 1)[0], None, ""

    # -- the verdict --------------------------------------------------------------------------
    def facts(self, name: str) -> Facts | None:
        return memoised(self._memo, name, MEMO_LIMIT, lambda n: self._judge(normalize(n)))

    def popular(self, host: str, owner: str) -> bool:
        """Whether the name, or a parent of it up to its owner, is a popular or known-benign name."""
        domain = self.benign.domain
        at = 0
        while True:
            part = host[at:]
            if domain(part):
                return True
            if part == owner or "." not in part:
                return False
            at = host.find(".", at) + 1

    def _judge(self, host: str) -> Facts | None:
        if "." not in host or not host.isascii():
            return None
        found = self.owner(host)
        if found is None:
            return None
        owner, label, abused, zone = found
        intel = self.intel
        if intel is not None and intel.domain(host):
            return None  # on a threat list: its own type fires (dns_intel)
        if self.popular(host, owner):
            return None
        signals: list[tuple[str, float, Any]] = []
        if abused:
            signals.append((ABUSED_KINDS[abused], WEIGHTS[ABUSED_KINDS[abused]], zone))
        chosen = chosen_part(label, zone)
        score = word_score(self.model, chosen) if chosen else 0.0
        digits = sum(c.isdigit() for c in chosen)
        lexical = {"dgaScore": round(score, 4), "entropy": round(_entropy(chosen), 3), "digits": digits, "length": len(chosen)}
        if score >= self.model.threshold_head:
            signals.append(("lexicalHigh", WEIGHTS["lexicalHigh"], lexical["dgaScore"]))
        elif score >= self.model.threshold_low or (len(chosen) >= 16 and digits >= 2 and lexical["entropy"] >= 3.6):
            signals.append(("lexicalLow", WEIGHTS["lexicalLow"], lexical["dgaScore"]))
        if intel is not None and hasattr(intel, "domains_under"):
            below = intel.domains_under(owner)
            if below > HOSTING_LISTED and not abused:
                signals.append(("listedHosting", WEIGHTS["listedHosting"], below))
                abused = "listed-hosting"
            elif below and not abused:
                signal = "listedUnderSameDomain" if below <= NEIGHBOURS_STRONG else "listedNeighbourhood"
                signals.append((signal, WEIGHTS[signal], below))
            if len(label) >= MIN_OTHER_TLD_LABEL and not abused and not below and owner.count(".") == 1:  # one closeness signal at most
                own_tld = owner.rsplit(".", 1)[1]
                for tld in OTHER_TLDS:
                    if tld != own_tld and intel.domain(f"{label}.{tld}"):
                        signals.append(("listedOtherTld", WEIGHTS["listedOtherTld"], f"{label}.{tld}"))
                        break
        mined = mining_token(host.split(".")[:-1], self.model.words)
        if mined:
            signals.append((mined[0], WEIGHTS[mined[0]], mined[1]))
        if not signals:
            return None
        signals.sort(key=lambda s: -s[1])
        kind = ABUSED_KINDS.get(abused or "", "listedHosting" if abused else None)
        return Facts(owner, label, tuple(signals), kind, mined[1] if mined else None, lexical)


# names a dynamic-DNS provider keeps for itself directly under its zone (no customer can register them)
_PROVIDER_HOSTS = frozenset({"www", "mail", "smtp", "mx", "ns", "ns1", "ns2", "ns3", "ns4", "dns", "api", "blog", "help", "support", "status",
                             "docs", "ftp", "m", "members", "account", "login", "my", "secure", "forum", "shop", "store", "cdn", "static", "img"})
# platforms whose preview names carry a hash of a fixed length in any letters and digits (Vercel's
# ``<project>-<9 characters>-<scope>``: a quarter of them hold fewer than two digits, and some none)
_PREVIEW_HASH = {"vercel.app": re.compile(r"[0-9a-z]{9}")}


def chosen_part(label: str, zone: str = "") -> str:
    """The part of a label its owner chose: without the hashes a platform appends to a chosen name (Heroku's
    ``billing-api-3f9c2a7d1e4b``, Netlify's ``6512f0c3a9b4e70008d1c2e3--acme-docs``, Vercel's preview
    ``acme-web-1js5oz4ny-acme-team`` or ``acme-web-kqzvtpwxa-acme-team``, Firebase's channel ``acme-web--pr584-7j5lyka6``),
    which are no sign of a generated name. A label that is only hashes is judged whole."""
    parts = label.split("-")
    preview = _PREVIEW_HASH.get(zone)
    kept = [p for i, p in enumerate(parts) if not _platform_hash(p) and not (preview and 0 < i < len(parts) - 1 and preview.fullmatch(p))]
    return "-".join(p for p in kept if p) if len(kept) < len(parts) and any(sum(c.isalpha() for c in p) >= 3 for p in kept) else label


def _platform_hash(part: str) -> bool:
    """Hex of 8+ characters with a digit, or base-36 of 7-12 with two digits and two letters."""
    digits = sum(c.isdigit() for c in part)
    return (len(part) >= 8 and digits >= 1 and bool(_HEX_HASH.fullmatch(part))) or (
        7 <= len(part) <= 12 and digits >= 2 and len(part) - digits >= 2 and bool(_BASE36.fullmatch(part)))


def word_score(model: Any, label: str) -> float:
    """The model's score of a chosen name, hyphen-joined words judged word by word: the most random-looking word of
    four or more characters (the model learnt from DGA labels, which have no hyphens, and reads any long hyphenated
    name as generated: ``acme-web-git-feat-stone-river-acme-team`` scores 0.9997 whole, 0.006 at most by word)."""
    words = [w for w in label.split("-") if len(w) >= 4]
    if "-" not in label or not words:
        return float(model.score(label))
    return max(float(model.score(w)) for w in words)


_HEX_HASH = re.compile(r"[0-9a-f]+")
_BASE36 = re.compile(r"[0-9a-z]+")


@functools.lru_cache(maxsize=4)
def reputation_for(intel: Any) -> Reputation:
    return Reputation(intel)
