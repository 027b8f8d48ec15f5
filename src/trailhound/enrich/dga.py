"""How algorithmic a domain name looks: the per-name half of Trojan:EC2/DGADomainRequest.B.

A logistic regression, trained offline by ``tools/train_dga.py`` and shipped as ``data/dga-model.npz``
(numpy arrays, no pickles), evaluated here with plain Python and numpy. What it judges is the label
that carries the name's entropy, not the whole name:

* the registrable domain's own label (ICANN section of the Public Suffix List): ``d3k9x1.cloudfront.net``,
  ``abc123.elb.amazonaws.com``, ``bucket.s3.amazonaws.com`` and an antivirus vendor's hashed reputation
  lookups are judged as ``cloudfront``, ``amazonaws``, the vendor — whoever chose the label to the left
  of a company's zone, the company owns the zone;
* below a free dynamic-DNS zone (``ddns.net``, ``dyndns.org``… ``DYNAMIC_ZONES``), where anyone can
  register a name and DGAs do (Corebot, Symmi, Kraken), the label registered there;
* nothing for names without a registrable domain on the PSL: single labels (Chrome's random intranet
  probes), IP literals, reverse lookups, ``*.internal`` / ``.local`` / ``.corp`` names; nor for an
  internationalised label (``xn--…``), whose ASCII form encodes non-Latin text and says nothing of
  how it was chosen.

Features of a label (``features``): character bigrams and trigrams with word boundaries (directly
indexed, no hashing), and lexical measures — length (binned), Shannon entropy, digit and vowel
ratios, consonant runs, distinct characters, how common its bigrams and trigrams are in benign names
(a table learned from benign lists), and how well it splits into words of a small vocabulary learned
from benign names (coverage, word count against length: dictionary DGAs such as Matsnu, Suppobox and
Gozi glue three to six words, people one or two). Each lexical measure is clipped to the range the
training names span before it is weighed, so a long phrase or hash is not scored beyond what was
learned. ``Model.score(label)`` is the probability that the label was generated; ``Model.judge(name)``
caches (bounded) the verdict per query name, so the classifier runs once per distinct name however
often it is queried.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from trailhound.enrich.domains import memoised, normalize

MODEL_FILE = "dga-model.npz"
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"
BOUNDARY = len(ALPHABET)  # '^' and '$' share one code
BASE = len(ALPHABET) + 1  # 38
N_BIGRAMS, N_TRIGRAMS = BASE**2, BASE**3
N_SPARSE = N_BIGRAMS + N_TRIGRAMS
_CODE = {c: i for i, c in enumerate(ALPHABET)}
_VOWELS = frozenset("aeiou")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
LENGTH_BINS = (4, 6, 8, 10, 12, 15, 19, 24)  # upper bounds; a last bin above
MAX_WORD = 12
MEMO_LIMIT = 200_000

# Free dynamic-DNS and free-subdomain zones where anyone registers a name (and DGAs do): the label
# below one of these is judged, not the zone. From maltrail's suspicious/dynamic_domain trail (MIT) and
# the providers' own sign-up pages; only zones of providers handing out names for free.
DYNAMIC_ZONES = frozenset({
    "ddns.net", "dyndns.org", "dyndns.info", "dyndns.biz", "dynserv.com", "mooo.com", "no-ip.org", "no-ip.biz", "no-ip.info", "noip.me",
    "hopto.org", "zapto.org", "sytes.net", "serveftp.com", "servebeer.com", "servehttp.com", "myftp.org", "myftp.biz", "redirectme.net",
    "duckdns.org", "freedns.afraid.org", "chickenkiller.com", "afraid.org", "3utilities.com", "bounceme.net", "ddnsking.com",
    "gotdns.ch", "dynu.net", "dynu.com", "changeip.com", "dns-dns.com", "ddns.me", "myvnc.com", "publicvm.com", "servemp3.com",
    "dnsalias.com", "dnsalias.net", "dnsalias.org", "homeip.net", "is-a-geek.com", "selfip.com", "webhop.net", "dyn-o-saur.com",
    "3322.org", "f3322.net", "8800.org", "vicp.net", "oicp.net", "linkpc.net", "ddns.info", "dynamic-dns.net", "freeddns.org",
    "dnsdynamic.org", "ns01.info", "ns02.info", "zyns.com", "xxuz.com", "dlinkddns.com", "kozow.com", "mypsx.net", "tftpd.net",
})


@dataclass(frozen=True)
class Judged:
    """The part of a query name that was judged, and how algorithmic its label looks (0..1)."""

    unit: str  # the registrable domain, or the name registered under a dynamic-DNS zone
    label: str
    score: float


@functools.lru_cache(maxsize=1 << 16)
def judged_label(name: str) -> tuple[str, str] | None:
    """(unit, label) of a query name: what carries its entropy (see the module doc), or None."""
    from trailhound.enrich.domains import _extractor, _is_ip

    host = normalize(name)
    if "." not in host or _is_ip(host) or host.endswith(".arpa"):
        return None
    r = _extractor().extract_str(host, include_psl_private_domains=False)
    if not r.suffix or not r.domain:
        return None  # no PSL suffix (internal names) or a bare suffix
    unit, label = f"{r.domain}.{r.suffix}", r.domain
    if unit in DYNAMIC_ZONES and r.subdomain:
        label = r.subdomain.rsplit(".", 1)[-1]
        unit = f"{label}.{unit}"
    if label.startswith("xn--"):
        return None  # punycode: the ASCII form of a non-Latin name, random-looking by construction
    return unit, label


def _codes(label: str) -> list[int]:
    return [_CODE.get(c, 36) for c in label]  # anything outside the alphabet (IDN, '_') counts as a hyphen


def ngram_indices(label: str) -> tuple[list[int], list[int]]:
    """Bigram and trigram indices of a label with a boundary code at each end."""
    codes = [BOUNDARY, *_codes(label), BOUNDARY]
    bi = [codes[i] * BASE + codes[i + 1] for i in range(len(codes) - 1)]
    tri = [N_BIGRAMS + (codes[i] * BASE + codes[i + 1]) * BASE + codes[i + 2] for i in range(len(codes) - 2)]
    return bi, tri


def segment(label: str, words: frozenset[str]) -> tuple[int, int, int, int]:
    """The cheapest split of a label into vocabulary words (3 to ``MAX_WORD`` letters) and single other
    characters, each piece costing 1 (ties: more characters in words): (words, characters in words,
    longest run of other characters, runs of other characters)."""
    n = len(label)
    cost = [0] * (n + 1)
    covered = [0] * (n + 1)
    back = [0] * (n + 1)  # start of the piece ending at i
    for i in range(1, n + 1):
        c, cov, b = cost[i - 1] + 1, covered[i - 1], i - 1
        for j in range(max(0, i - MAX_WORD), i - 2):
            if label[j:i] in words and (cost[j] + 1 < c or (cost[j] + 1 == c and covered[j] + i - j > cov)):
                c, cov, b = cost[j] + 1, covered[j] + i - j, j
        cost[i], covered[i], back[i] = c, cov, b
    n_words = longest = runs = run = 0
    i = n
    while i > 0:
        j = back[i]
        if i - j > 1:
            n_words += 1
            run = 0
        else:
            runs += run == 0
            run += 1
            longest = max(longest, run)
        i = j
    return n_words, covered[n], longest, runs


def _entropy(label: str) -> float:
    n = len(label)
    counts: dict[str, int] = {}
    for c in label:
        counts[c] = counts.get(c, 0) + 1
    return -sum(k / n * math.log2(k / n) for k in counts.values())


DENSE_NAMES = (
    *(f"len<={b}" for b in LENGTH_BINS), f"len>{LENGTH_BINS[-1]}", "length", "entropy", "entropy/log2(len)", "digits", "has_digit",
    "digit_letter_switches", "vowels", "longest_consonant_run", "consonant_runs>=4", "hyphens", "distinct_chars",
    "bigram_logp_mean", "trigram_logp_mean", "trigram_logp_min", "trigrams_unseen", "trigrams_rare",
    "word_coverage", "words", "words/length", "longest_other_run", "other_runs", "all_words", "words>=3_all_covered",
)


def dense_features(label: str, bigram_logp: Any, trigram_logp: Any, unseen: float, words: frozenset[str]) -> list[float]:
    """The lexical measures of ``DENSE_NAMES`` (unscaled)."""
    n = max(len(label), 1)
    bins = [0.0] * (len(LENGTH_BINS) + 1)
    bins[next((i for i, b in enumerate(LENGTH_BINS) if n <= b), len(LENGTH_BINS))] = 1.0
    digits = sum(c in _DIGITS for c in label)
    letters = [c for c in label if c in _LETTERS]
    vowels = sum(c in _VOWELS for c in letters)
    switches = sum(1 for a, b in zip(label, label[1:]) if (a in _DIGITS) != (b in _DIGITS))
    longest, cur, runs4 = 0, 0, 0
    for c in label:
        if c in _LETTERS and c not in _VOWELS and c != "y":
            cur += 1
            longest = max(longest, cur)
        else:
            runs4 += cur >= 4
            cur = 0
    runs4 += cur >= 4
    ent = _entropy(label)
    bi, tri = ngram_indices(label)
    bl = [bigram_logp[i] for i in bi]
    tl = [trigram_logp[i - N_BIGRAMS] for i in tri]
    w, cov, other, oruns = segment(label, words)
    return [
        *bins, float(n), ent, ent / math.log2(n) if n > 1 else 0.0, digits / n, float(digits > 0), float(switches),
        vowels / max(len(letters), 1), float(longest), float(runs4), float(label.count("-")), len(set(label)) / n,
        sum(bl) / len(bl), sum(tl) / len(tl), min(tl), sum(x <= unseen for x in tl) / len(tl), sum(x <= unseen + 1.5 for x in tl) / len(tl),
        cov / n, float(w), w / n * 10, float(other), float(oruns), float(cov == n), float(w >= 3 and cov == n),
    ]


class Model:
    """The shipped classifier (or one built by the training tool): ``score(label)``, ``judge(name)``."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        self.meta: dict[str, Any] = json.loads(str(arrays["meta"]))
        self.version: str = self.meta["version"]
        self.threshold: float = float(self.meta["threshold"])  # per-name: a DGA-looking name (0.05% of benign names, the long tail's too)
        self.threshold_low: float = float(self.meta["threshold_low"])  # per-name: worth counting in a burst of NXDOMAIN names
        self.threshold_wide: float = float(self.meta["threshold_wide"])  # per-name: 5% of benign names; counts only in a long NXDOMAIN burst
        # 0.05% of the training lists' names only (dga-lr-1's threshold): for a signal weighed with others (enrich.reputation)
        self.threshold_head: float = float(self.meta.get("threshold_head", self.threshold))
        self.bigram_logp = arrays["bigram_logp"].astype(np.float64).tolist()
        self.trigram_logp = arrays["trigram_logp"].astype(np.float64).tolist()
        self.unseen = float(self.meta["unseen_logp"])
        self.words = frozenset(str(arrays["words"]).split())
        self.sparse = arrays["sparse_w"].astype(np.float64).tolist()
        self.dense_w = arrays["dense_w"].astype(np.float64).tolist()
        self.mean = arrays["dense_mean"].astype(np.float64).tolist()
        self.scale = arrays["dense_scale"].astype(np.float64).tolist()
        n = len(self.mean)  # the range each dense feature is clipped to (dga-lr-2 on; none before)
        self.lo = arrays["dense_lo"].astype(np.float64).tolist() if "dense_lo" in arrays else [-math.inf] * n
        self.hi = arrays["dense_hi"].astype(np.float64).tolist() if "dense_hi" in arrays else [math.inf] * n
        self.bias = float(arrays["bias"])
        self._memo: dict[str, Judged | None] = {}

    @classmethod
    def load(cls, path: Path | str | None = None) -> Model:
        source = Path(path) if path else files("trailhound.enrich") / "data" / MODEL_FILE
        with source.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            return cls({k: npz[k] for k in npz.files})

    def logit(self, label: str) -> float:
        bi, tri = ngram_indices(label)
        sw = self.sparse
        z = self.bias + sum(sw[i] for i in bi) / math.sqrt(len(bi)) + sum(sw[i] for i in tri) / math.sqrt(len(tri))
        dense = dense_features(label, self.bigram_logp, self.trigram_logp, self.unseen, self.words)
        return z + sum(w * (min(max(x, lo), hi) - m) / s
                       for w, x, m, s, lo, hi in zip(self.dense_w, dense, self.mean, self.scale, self.lo, self.hi))

    def score(self, label: str) -> float:
        z = self.logit(label)
        return 1.0 / (1.0 + math.exp(-z)) if z > -40 else 0.0

    def judge(self, name: str) -> Judged | None:
        """The verdict on a query name (memoised per name, bounded)."""
        return memoised(self._memo, name, MEMO_LIMIT, self._judge)

    def _judge(self, name: str) -> Judged | None:
        part = judged_label(name)
        return None if part is None else Judged(part[0], part[1], self.score(part[1]))


@functools.lru_cache(maxsize=1)
def shipped_model() -> Model:
    return Model.load()
