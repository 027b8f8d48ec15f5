"""Known-benign infrastructure, and the filter that keeps threat lists from the wild off it.

A list collected in the wild names recycled cloud addresses, OS vendors' mirrors, CDN front ends, public
resolvers and popular domains (maltrail's elf_mirai list held security.ubuntu.com, 185.125.190.83: every
Ubuntu instance running ``apt-get update`` raised Backdoor:EC2/C&CActivity.B). ``BenignSets`` holds named
sets of such addresses and names; ``filter_load``/``filter_rows`` take a list's indicators through them:

* an address or network inside a benign range is **removed** (a network partly inside keeps its other
  parts: ``cut``);
* a domain that is a benign name, covers one (``ubuntu.com`` covers ``security.ubuntu.com``) or lies in a
  benign *zone* (a vendor's own, e.g. every name under ``ubuntu.com``) is removed; a name *under* a benign
  name is kept unless the benign entry is a zone (``evil.github.io`` stays: github.io is not a zone here);
* an address on a known sinkhole is **demoted** to the sinkhole category — it raises
  Trojan:EC2/BlackholeTraffic (Medium) instead of C&C (High), and is never filtered away.

Not filtered at all: sinkhole lists (they are the sinkhole set), Tor lists (facts of the consensus, not
judgements), and an operator's own ``--threat-list`` (their decision; the scan summary warns instead).
Popular-domain sets are not applied to crypto-mining lists: a mining pool is popular *because* miners use
it, and querying it is what CryptoCurrency:EC2/BitcoinTool.B!DNS is for.

Shipped sets (``data/``): ``benign-infrastructure.tsv`` (hand-written, sourced per entry),
``popular-domains.txt.gz`` (Majestic Million top 10k, CC BY 3.0) and ``known-sinkholes.tsv.gz``. The
maintainer build (``intel.build``) also uses sets it may use but not ship (AWS's ip-ranges.json, MISP's
copies of the Tranco / Cisco Umbrella / Alexa / Moz top lists): the packaged lists are filtered with
all of them at build time; refreshed copies (``intel update``) are filtered with the shipped sets when
they are loaded. Either way the hot path does not change: filtered indicators are never in the index.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from trailhound.intel.domains import normalise_domain
from trailhound.intel.formats import DOMAIN, IP, NET, Indicator, ListLoad
from trailhound.intel.index import Category
from trailhound.intel.iptable import IpTable, parse_entry

DATA_DIR = Path(__file__).with_name("data")
TABLE = "benign-infrastructure.tsv"
POPULAR = "popular-domains.txt.gz"
SINKHOLES = "known-sinkholes.tsv.gz"
SINKHOLE = "sinkhole"  # the pseudo-set name under which demotions are counted

# set -> why its members are not evidence of malice (intel show prints this)
REASONS: dict[str, str] = {
    "os-vendor": "OS vendor / distribution mirror infrastructure (Canonical, Debian, Fedora, ...)",
    "cdn": "CDN anycast front ends (Cloudflare, Fastly): one address serves many unrelated sites",
    "code-hosting": "GitHub's own network and names (not Actions runners, not github.io pages)",
    "package-registry": "package registries (PyPI, Docker Hub, npm, Maven, RubyGems, Go, crates.io)",
    "public-resolver": "public DNS resolver services (Google, Cloudflare, Quad9, OpenDNS, AdGuard, Level 3)",
    "ntp": "time servers (NTP Pool names, Google / Cloudflare / AWS time)",
    "aws-endpoint": "AWS service endpoint names (<service>.<region>.amazonaws.com)",
    "aws-service": "AWS-operated address space (ip-ranges.json AMAZON minus EC2, Global Accelerator, CodeBuild, Cloud9)",
    "popular-domain": "popular domains (top-10k lists); not applied to crypto-mining pools",
    "pki": "certificate revocation / OCSP services (MISP crl-hostname, crl-ip)",
    SINKHOLE: "known sinkholes: demoted to Trojan:EC2/BlackholeTraffic instead of removed",
}
# categories whose lists are never filtered (sinkholes are what demotion targets; Tor lists are facts)
EXEMPT = frozenset({Category.BLACKHOLE, Category.TOR_EXIT, Category.TOR_RELAY, Category.CUSTOM})
REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"


@dataclass
class FilterStats:
    """What filtering one list did: removals and partial cuts per benign set, demotions to sinkhole."""

    removed: Counter[str] = field(default_factory=Counter)
    cut: Counter[str] = field(default_factory=Counter)
    demoted: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, bucket: Counter[str], set_name: str, value: str) -> None:
        bucket[set_name] += 1
        ex = self.examples.setdefault(set_name, [])
        if len(ex) < 3:
            ex.append(value)

    @property
    def total(self) -> int:
        return sum(self.removed.values()) + self.demoted

    def as_dict(self) -> dict[str, object]:
        return {"removed": dict(sorted(self.removed.items())), "cut": dict(sorted(self.cut.items())), "demoted_to_sinkhole": self.demoted,
                "examples": {k: v for k, v in sorted(self.examples.items())}}

    def merge(self, other: FilterStats) -> None:
        self.removed.update(other.removed)
        self.cut.update(other.cut)
        self.demoted += other.demoted
        for k, v in other.examples.items():
            ex = self.examples.setdefault(k, [])
            ex.extend(v[: 3 - len(ex)])


class BenignSets:
    """Named sets of benign address ranges and domain names (zones, names, one-label patterns)."""

    def __init__(self) -> None:
        self._ips: IpTable[str] = IpTable()
        self._ranges: list[tuple[int, int, int, str]] = []  # bits, first, last, set (for cutting networks)
        self._zones: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._covered: dict[str, str] = {}  # every parent of a benign name (a listed parent would match it)
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        self._sinkholes: IpTable[str] = IpTable()
        self.sets: Counter[str] = Counter()
        self._ip_lookup = self._ips.compiled()
        self._sink_lookup = self._sinkholes.compiled()

    # -- building ------------------------------------------------------------------------
    def add_range(self, value: str, set_name: str) -> None:
        bits, first, last, _ = parse_entry(value)
        self._ips.add(value, set_name)
        self._ranges.append((bits, first, last, set_name))
        self.sets[set_name] += 1

    def add_domain(self, value: str, set_name: str, zone: bool = False) -> None:
        if "*" in value or "{" in value:
            labels = value.lower().split(".")
            rx = r"\.".join(r"[a-z0-9_-]+" if lab == "*" else REGION if lab == "{region}" else re.escape(lab) for lab in labels)
            self._patterns.append((re.compile(rf"^{rx}$"), set_name))
            fixed = []
            for lab in reversed(labels):
                if lab == "*" or lab == "{region}":
                    break
                fixed.append(lab)
            tail = ".".join(reversed(fixed))
            if tail.count("."):  # a listed parent of every name the pattern matches (amazonaws.com)
                self._covered.setdefault(tail, set_name)
            self.sets[set_name] += 1
            return
        name = normalise_domain(value)
        if name is None:
            raise ValueError(f"not a domain name: {value!r}")
        (self._zones if zone else self._names).setdefault(name, set_name)
        parts = name.split(".")
        for i in range(1, len(parts) - 1):
            self._covered.setdefault(".".join(parts[i:]), set_name)
        self.sets[set_name] += 1

    def add_sinkhole(self, value: str, source: str) -> None:
        self._sinkholes.add(value, source)

    def freeze(self) -> BenignSets:
        self._ip_lookup = self._ips.compiled()
        self._sink_lookup = self._sinkholes.compiled()
        return self

    def load_table(self, path: Path) -> BenignSets:
        """The hand-written table (``value<TAB>set<TAB>scope<TAB>source``)."""
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            value, set_name, scope, *_ = line.split("\t")
            if scope == "range":
                self.add_range(value, set_name)
            elif scope in ("zone", "name"):
                self.add_domain(value, set_name, zone=scope == "zone")
            else:
                raise ValueError(f"{path}:{n}: scope must be range, zone or name, not {scope!r}")
        return self

    def load_popular(self, path: Path, set_name: str = "popular-domain") -> BenignSets:
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            if line and not line.startswith("#"):
                self.add_domain(line, set_name)
        return self

    def load_sinkholes(self, path: Path) -> BenignSets:
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            if line and not line.startswith("#"):
                value, _, source = line.partition("\t")
                self.add_sinkhole(value, source or "sinkhole")
        return self

    # -- judging -------------------------------------------------------------------------
    def ip(self, address: str) -> str | None:
        """The benign set an address is in, or None: a service's own address inside a CDN's range (GitLab.com behind
        Cloudflare) is the service's."""
        hit = self._ip_lookup(address)
        return next((h for h in hit if h != "cdn"), hit[0]) if hit else None

    def sinkhole(self, address: str) -> bool:
        return bool(self._sink_lookup(address))

    def domain(self, name: str, popular: bool = True) -> str | None:
        """The benign set a (canonical) domain indicator falls in, or None: it is a benign name, a parent
        of one, or under a benign zone. ``popular=False`` ignores the popular-domain set."""
        fallback = None  # a popular-domain verdict, given only when no vendor set claims the name
        for table in (self._names, self._covered):
            s = table.get(name)
            if s is not None:
                if s != "popular-domain":
                    return s
                fallback = s if popular else None
        zones = self._zones
        if zones:
            labels = name.split(".")
            for i in range(len(labels) - 1):
                s = zones.get(".".join(labels[i:]))
                if s is not None:
                    return s
        for rx, s in self._patterns:
            if rx.match(name):
                return s
        return fallback

    def cut(self, network: str) -> tuple[list[str], str | None]:
        """A network's parts outside every benign range (``[network]`` when it touches none), and the set of
        the first range it touched."""
        import ipaddress

        bits, first, last, _ = parse_entry(network)
        holes = sorted((lo, hi, s) for b, lo, hi, s in self._ranges if b == bits and lo <= last and hi >= first)
        if not holes:
            return [network], None
        make = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
        parts, at = [], first
        for lo, hi, _ in holes:
            if lo > at:
                parts += [str(n) for n in ipaddress.summarize_address_range(make(at), make(lo - 1))]
            at = max(at, hi + 1)
        if at <= last:
            parts += [str(n) for n in ipaddress.summarize_address_range(make(at), make(last))]
        return [p.removesuffix("/32") if bits == 32 else p.removesuffix("/128") for p in parts], holes[0][2]

    # -- filtering -----------------------------------------------------------------------
    def judge(self, value: str, kind: str, category: Category, stats: FilterStats) -> tuple[list[str], bool]:
        """(values to keep, demoted to sinkhole) for one indicator of a list of `category`; counts into `stats`."""
        if kind == DOMAIN:
            s = self.domain(value, popular=category is not Category.CRYPTO)
            if s is not None:
                stats.note(stats.removed, s, value)
                return [], False
            return [value], False
        if kind != NET:
            s = self.ip(value)
            if s is not None:
                stats.note(stats.removed, s, value)
                return [], False
            if self._sink_lookup(value):
                stats.demoted += 1
                ex = stats.examples.setdefault(SINKHOLE, [])
                if len(ex) < 3:
                    ex.append(value)
                return [value], True
            return [value], False
        parts, s = self.cut(value)
        if s is not None:
            stats.note(stats.cut if parts else stats.removed, s, value)
        return parts, False

    def filter_load(self, load: ListLoad, category: Category) -> tuple[ListLoad, ListLoad | None, FilterStats]:
        """`load` without its benign indicators, the indicators demoted to sinkhole (a load to add under
        ``Category.BLACKHOLE``, or None) and what was done. Exempt categories come back untouched."""
        stats = FilterStats()
        if Category(category) in EXEMPT:
            return load, None, stats
        kept: list[Indicator] = []
        demoted: list[Indicator] = []
        for ind in load.indicators:
            values, sink = self.judge(ind.value, ind.kind, category, stats)
            for v in values:
                (demoted if sink else kept).append(Indicator(v, ind.kind if v == ind.value else NET if "/" in v else IP, ind.names))
        if not stats.total and not stats.cut:
            return load, None, stats
        return _load_of(load, kept), (_load_of(load, demoted) if demoted else None), stats

    def hits(self, load: ListLoad) -> list[tuple[str, str]]:
        """(indicator, benign set) for each indicator of an operator's list on a benign set (nothing removed)."""
        out = []
        for ind in load.indicators:
            if ind.kind == DOMAIN:
                s = self.domain(ind.value)
            elif ind.kind == NET:
                s = self.cut(ind.value)[1]
            else:
                s = self.ip(ind.value)
            if s is not None:
                out.append((ind.value, s))
        return out


def _load_of(load: ListLoad, inds: list[Indicator]) -> ListLoad:
    kinds = Counter(i.kind for i in inds)
    return ListLoad(load.name, load.path, len(inds), [], load.format, inds, kinds[IP], kinds[NET], kinds[DOMAIN])


@lru_cache(maxsize=65_536)  # asked per flow destination by detectors: an estate's peers repeat
def shipped_ip_set(address: str) -> str | None:
    """The shipped benign set ``address`` belongs to (e.g. "code-hosting"), or None."""
    return shipped_sets().ip(address)


@lru_cache(maxsize=1)
def shipped_sets() -> BenignSets:
    """The benign sets shipped in the package (what refreshed lists and operators' lists are judged by)."""
    sets = BenignSets().load_table(DATA_DIR / TABLE)
    if (DATA_DIR / POPULAR).is_file():
        sets.load_popular(DATA_DIR / POPULAR)
    if (DATA_DIR / SINKHOLES).is_file():
        sets.load_sinkholes(DATA_DIR / SINKHOLES)
    return sets.freeze()


def describe(stats: dict[str, int]) -> Iterable[tuple[str, int, str]]:
    for s, n in sorted(stats.items(), key=lambda kv: -kv[1]):
        yield s, n, REASONS.get(s, s)
