"""Trojan:EC2/DGADomainRequest.B — an instance querying a burst of algorithmically generated domains.

Malware with a domain generation algorithm tries many generated names until one resolves to its C&C:
most of them were never registered, so one instance asks for dozens of distinct, random-looking
registrable domains within minutes and nearly all come back NXDOMAIN. Two halves:

* **per name** — ``enrich.dga``: a small logistic regression (character bigrams/trigrams, entropy,
  digit and consonant runs, rarity against benign n-grams, word segmentation for dictionary DGAs),
  trained offline by ``tools/train_dga.py`` and judging the label that carries the entropy (the
  registrable domain's, or a dynamic-DNS name's): CDN, load-balancer, S3 and antivirus lookup hashes
  sit under their company's zone and are never scored. Once per distinct name, cached. Only lookups of
  somewhere to connect to count (``DnsQuery.seeks_address``): a mail server checking spam senders' SPF,
  DMARC and MX records asks about random-looking names it was given.
* **per instance** — within 30 minutes, either ≥ ``MIN_HIGH`` distinct names scored DGA-like
  (≤ 0.1% of benign names score that high), or ≥ ``MIN_LOW`` distinct NXDOMAIN names over the lower
  threshold (2% of benign names; what dictionary and pronounceable DGAs reach), or ≥ ``MIN_WIDE``
  distinct NXDOMAIN names over the widest threshold (5% of benign names: pronounceable DGAs such as
  Vawtrak and Pushdo, of which a third to a half reach the lower one); in each, most of those names
  NXDOMAIN, and they are a good share (``MIN_SHARE``: a quarter to a half, by tier) of all the distinct
  domains the instance failed to resolve in the window. The wider the threshold, the more names it takes: a benign instance
  would need hundreds of distinct failing lookups in half an hour to gather twenty in the top 5% by
  chance. A person's typos score low, a few odd but real names stay under the counts, and a crawler or
  link checker failing on hundreds of dead domains has a few odd ones among many ordinary ones.

Names on packaged DGA lists raise Trojan:EC2/DGADomainRequest.C!DNS (``dns_intel``) one by one; this
type needs no list. State per instance (for names over the widest threshold, and failing ones): the
window's NXDOMAIN names (exact up to 16, then a sketch and a sample) and hashed counts, in ten-minute
buckets — nothing for an instance whose names all look ordinary and resolve.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from trailhound.engine import Distinct, FindingType, Last, Sliding, Window, WindowedDetector, severity
from trailhound.enrich.dga import MEMO_LIMIT, Model, shipped_model
from trailhound.enrich.domains import domain_with_suffix, normalize
from trailhound.events import DnsQuery, Source
from trailhound.findings.build import dns_request, instance_key, instance_resource
from trailhound.findings.model import HIGH, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

DGA_B = "Trojan:EC2/DGADomainRequest.B"
MIN_HIGH = 8  # distinct DGA-like names (score ≥ the model's threshold) in the window
MIN_LOW = 12  # distinct NXDOMAIN names over the lower threshold in the window
MIN_WIDE = 20  # distinct NXDOMAIN names over the widest threshold in the window
WINDOW = 1800.0
# of the distinct domains an instance failed to resolve in the window, the share a tier's suspicious ones must be, per tier: a
# crawler or link checker fails on hundreds of dead domains of the long tail, of which a fifth to a third pass the wider
# thresholds, where a generator's tries are nearly all it fails on (a third to a half of a pronounceable family's reach the lower
# threshold, most the widest)
MIN_SHARE = {"high": 0.25, "low": 0.4, "wide": 0.5}


_MISS: Any = object()


def _h(unit: str) -> int:
    return zlib.crc32(unit.encode())


class DgaBurst(WindowedDetector):
    name = "dga-burst"
    consumes = Source.DNS
    findings = (FindingType(DGA_B, severity(HIGH), "TA0011 Command and Control", "T1568.002 Dynamic Resolution: Domain Generation Algorithms",
                            f"within 30 minutes, ≥{MIN_HIGH} distinct names a classifier scores as generated, ≥{MIN_LOW} distinct NXDOMAIN "
                            f"names over its lower threshold or ≥{MIN_WIDE} over its widest, mostly NXDOMAIN and a share of the distinct domains the "
                            f"instance failed to resolve (≥{MIN_SHARE['high']:.0%}, {MIN_SHARE['low']:.0%}, {MIN_SHARE['wide']:.0%})"),)
    window = Sliding(length=WINDOW, step=600)
    # 2: the widest tier's counts (nx_low, wide) joined the buckets; 3: counted with dga-lr-2's thresholds; 4: every failing domain counted
    state_version = 4
    # NXDOMAIN names over the widest threshold (the evidence), and hashed counts per threshold
    reducers = {"nx": Distinct(exact=16, sample=10), "nx_high": Distinct(exact=16, sample=0), "high": Distinct(exact=16, sample=0),
                "nx_low": Distinct(exact=16, sample=0), "low": Distinct(exact=16, sample=0), "wide": Distinct(exact=16, sample=0),
                "nx_all": Distinct(exact=16, sample=0), "context": Last()}

    def __init__(self, intel: Any = None, places: Any = None, model: Model | None = None) -> None:
        super().__init__(intel, places)
        self.model = model or shipped_model()
        self._wide: dict[str, bool] = {}  # query name -> over the widest threshold (one probe a query, not a model call)

    def candidates(self, events: list[DnsQuery]) -> list[DnsQuery]:
        if len(self._wide) > MEMO_LIMIT:
            self._wide.clear()
        get, miss = self._wide.get, _MISS
        # (every NXDOMAIN answer too: the share of an instance's failing domains that look generated is part of the verdict)
        return [q for q in events if (over := get(q.query_name, miss)) is True or over is miss and self._over_wide(q.query_name)
                or q.rcode == "NXDOMAIN"]

    def _over_wide(self, name: str) -> bool:
        judged = self.model.judge(name)
        over = self._wide[name] = judged is not None and judged.score >= self.model.threshold_wide
        return over

    def key_of(self, q: DnsQuery) -> str | None:
        judged = self.model.judge(q.query_name)
        if judged is None or judged.score < self.model.threshold_wide and q.rcode != "NXDOMAIN":
            return None  # an ordinary-looking name answered: the instance keeps no state for it
        if not q.seeks_address:
            return None  # a mail server checking a spam sender's SPF or DMARC record is not resolving a generated name
        return q.srcids.instance or q.srcaddr or None

    def observe(self, rows: list[DnsQuery]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        high_at, low_at = self.model.threshold, self.model.threshold_low
        for q in rows:
            j = self.model.judge(q.query_name)
            if j is None:
                continue
            h, nx = _h(j.unit), q.rcode == "NXDOMAIN"
            if j.score < self.model.threshold_wide:  # an ordinary name: counted among the instance's failing domains only
                if nx:
                    yield q.query_timestamp.timestamp(), (None, None, None, None, None, None, h, None)
                continue
            high, low = j.score >= high_at, j.score >= low_at
            ctx = [q.srcids.instance, q.srcaddr, q.account_id, q.region, q.transport or "UDP", q.firewall_rule_action == "BLOCK",
                   normalize(q.query_name)]
            # an answered name under the lower threshold is counted but never names the finding's action
            yield q.query_timestamp.timestamp(), (j.unit if nx else None, h if nx and high else None, h if high else None,
                                                  h if nx and low else None, h if low else None, h, h if nx else None, ctx if nx or low else None)

    def threshold(self, key: str, w: Window) -> bool:
        return _tier(w) is not None

    def report(self, key: str, w: Window) -> list[Occurrence]:
        iid, src, account, region, transport, blocked, latest = w["context"]  # the latest suspicious name names the action
        tier = _tier(w)
        sample = sorted(((self.model.judge(u), u) for u in w["nx"].items), key=lambda p: -(p[0].score if p[0] else 0))
        names = [{"domain": u, "score": round(j.score, 4) if j else None} for j, u in sample]
        counted, nx = {"high": (w["high"].count, w["nx_high"].count), "low": (w["low"].count, w["nx_low"].count)}.get(
            tier or "", (w["wide"].count, w["nx"].count))
        share = nx / counted if counted else 0.0
        at = {"high": self.model.threshold, "low": self.model.threshold_low}.get(tier or "", self.model.threshold_wide)
        name = iid or src
        info = {
            # the description's count is the tier's: its threshold, its distinct names (the other tiers' counts beside it)
            "domains": names, "distinctDomainsOverThreshold": counted, "distinctDgaLikeDomains": w["high"].count, "distinctSuspiciousDomains": w["low"].count,
            "distinctNxdomainSuspicious": w["nx_low"].count, "distinctNxdomainOverWidest": w["nx"].count, "nxdomainShare": round(share, 3),
            "distinctNxdomain": w["nx_all"].count,
            "tier": tier, "modelVersion": self.model.version, "threshold": at,
            "windowMinutes": int(WINDOW // 60),
        }
        return [Occurrence(
            type=DGA_B, severity=self.severity(DGA_B), time=w.last, first_seen=w.first, account_id=account or "", region=region or "",
            resource=instance_resource(iid, None, src), resource_key=instance_key(iid, None, src),
            action=dns_request(latest, transport, bool(blocked), domain_with_suffix(latest)), resource_role="ACTOR", feature_name="DnsLogs",
            title=f"EC2 instance {name} is querying algorithmically generated domains.",
            description=f"EC2 instance {name} queried {counted} distinct domains that look algorithmically generated within "
                        f"{int(WINDOW // 60)} minutes, {share:.0%} of them NXDOMAIN (e.g. {', '.join(n['domain'] for n in names[:3])}). "
                        "Malware with a domain generation algorithm tries generated names until one reaches its command and control server.",
            additional_info=info,
        )]


def _tier(w: Window) -> str | None:
    return burst(w["high"].count, w["nx_high"].count, w["low"].count, w["nx_low"].count, w["wide"].count, w["nx"].count, w["nx_all"].count)


def burst(high: int, nx_high: int, low: int, nx_low: int, wide: int = 0, nx_wide: int = 0, nx_all: int = 0) -> str | None:
    """Which tier a window's counts meet ("high", "low", "wide") or None: enough distinct suspicious
    names (the wider the threshold, the more), most of them NXDOMAIN, and at least ``MIN_SHARE`` of all the
    distinct domains that failed (``nx_all``): a generator's tries are most of what fails, a crawler's few odd
    dead links among hundreds of ordinary ones are not."""
    if high >= MIN_HIGH and 2 * nx_high > high and nx_high >= MIN_SHARE["high"] * nx_all:
        return "high"
    if nx_low >= MIN_LOW and 2 * nx_low > low and nx_low >= MIN_SHARE["low"] * nx_all:
        return "low"
    if nx_wide >= MIN_WIDE and 2 * nx_wide > wide and nx_wide >= MIN_SHARE["wide"] * nx_all:
        return "wide"
    return None


# -- cases: names from small generators written here (the shape of known families, not their lists) --

_WORDS = ("account", "answer", "bright", "garden", "middle", "summer", "window", "letter", "change", "follow", "mother", "market",
          "silver", "travel", "winter", "yellow", "health", "island", "minute", "nature", "orange", "people", "public", "record",
          "season", "simple", "spring", "stream", "street", "wonder", "castle", "honest", "jacket", "bridge", "camera", "doctor")


def random_letters(rnd: random.Random, n: int) -> list[str]:
    """CryptoLocker / Ramnit shape: 12-18 random letters."""
    tlds = ("com", "net", "biz", "ru", "org", "info")
    return [f"{''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(12, 18)))}.{rnd.choice(tlds)}" for _ in range(n)]


def alphanumeric(rnd: random.Random, n: int) -> list[str]:
    """GameoverZeus / Corebot shape: 20-28 letters and digits."""
    return [f"{''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(rnd.randint(20, 28)))}.{rnd.choice(('net', 'com', 'org', 'biz'))}"
            for _ in range(n)]


def pronounceable(rnd: random.Random, n: int) -> list[str]:
    """Vawtrak / Pushdo shape: three or four consonant-vowel(-consonant) syllables."""
    c, v = "bcdfghjklmnprstvwxz", "aeiou"
    return [f"{''.join(rnd.choice(c) + rnd.choice(v) + (rnd.choice(c) if rnd.random() < 0.5 else '') for _ in range(rnd.randint(3, 4)))}"
            f".{rnd.choice(('com', 'ru', 'net'))}" for _ in range(n)]


def dictionary(rnd: random.Random, n: int) -> list[str]:
    """Matsnu shape: four or five dictionary words glued together."""
    return [f"{''.join(rnd.sample(_WORDS, rnd.randint(4, 5)))}.com" for _ in range(n)]


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, dns_record

    def queries(names: list[str], at: float, spacing: float = 0.5, nx_every: int = 1, answered: int = 0) -> list[dict[str, Any]]:
        """One query per name, ``spacing`` minutes apart; every name NXDOMAIN except every ``answered``-th."""
        out = []
        for i, n in enumerate(names):
            nx = not (answered and i % answered == answered - 1)
            rec = dns_record(start + timedelta(minutes=at + i * spacing), n, account=account, rcode="NXDOMAIN" if nx else "NOERROR")
            if nx:
                rec["answers"] = []
            out.append(rec)
        return out

    rnd = random.Random(9)
    typos = [f"{w}.com" for w in ("gooogle", "amazn", "faceboook", "githb", "stackoverlow", "wikipeda", "yotube", "microsfot", "twiter",
                                  "linkdin", "reddt", "netflx", "ubunut", "debain", "pypi-org", "dockr", "npmjs-com", "cloudfare", "gogle",
                                  "amazom", "gmial", "outlok", "slakc", "zooom", "dropbx", "bitbucke", "gitlabb", "jirra", "atlasian", "mozila")]
    cdn = ([f"d{''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(13))}.cloudfront.net" for _ in range(15)]
           + [f"internal-api-{rnd.randrange(10**9, 10**10)}.us-east-1.elb.amazonaws.com" for _ in range(15)]
           + [f"{rnd.getrandbits(128):032x}.s3.amazonaws.com" for _ in range(15)]
           + [f"{rnd.getrandbits(160):040x}.avqs.mcafee.com" for _ in range(15)]
           + [f"{rnd.getrandbits(128):032x}.sophosxl.net" for _ in range(15)])
    compounds = [f"{a}{b}.com" for a in _WORDS for b in _WORDS if a != b][::3][:360]
    odd_but_real = ["xkcd.com", "jgrqyxupl.com", "zxcvbnml.com", "b117f8da23446a91387efea0e428392a.com", "qwxz.org", "ihfjsrkdw.com"]
    return [
        Case("dga-random-letters", DGA_B, queries(random_letters(rnd, 40), 0, answered=20), source="dns", role="ACTOR"),
        Case("dga-alphanumeric", DGA_B, queries(alphanumeric(rnd, 40), 40), source="dns", role="ACTOR"),
        Case("dga-dictionary-words", DGA_B, queries(dictionary(rnd, 40), 80, answered=10), source="dns", role="ACTOR"),
        Case("dga-pronounceable", DGA_B, queries(pronounceable(rnd, 40), 240, answered=10), source="dns", role="ACTOR"),
        # the same shape answered: a crawler of odd but registered names
        Case("pronounceable-names-answered", None, queries(pronounceable(rnd, 40), 280, answered=1), source="dns"),
        Case("odd-but-real-names", None, queries(odd_but_real * 3, 120, spacing=2, answered=1), source="dns"),
        Case("nxdomain-typos", None, queries(typos, 170, spacing=0.3), source="dns"),
        Case("cdn-and-av-hashes", None, queries(cdn, 200, spacing=0.2, answered=3), source="dns"),
        # a link checker failing on 400 dead domains in half an hour: forty of them random-looking (spam domains in a crawl
        # frontier), the rest ordinary word compounds and typos
        Case("link-checker-fails-on-dead-domains", None, queries(
            [n for odd, *plain in zip(random_letters(rnd, 40), *[compounds[i::9] for i in range(9)]) for n in (odd, *plain)], 330,
            spacing=30 / 400), source="dns"),
        # a mail server checking forty spam senders' SPF and DMARC records (random throwaway domains, half unregistered)
        Case("mail-server-checks-spam-senders", None, [{**r, "query_type": "TXT"} for r in queries(
            [n for d in random_letters(rnd, 40) for n in (d, f"_dmarc.{d}")], 300, spacing=0.25, answered=4)], source="dns"),
    ]
