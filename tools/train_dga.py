"""Train the DGA name classifier shipped as ``src/trailhound/enrich/data/dga-model.npz``.

    .venv/bin/python tools/train_dga.py                      # retrain the shipped model (~10 s)
    .venv/bin/python tools/train_dga.py --check              # retrain in memory, compare with the shipped file

Reproducible: the same inputs and ``--seed`` give the same weights, byte for byte (no hashing of
Python strings, no threads, full-batch Adam from zeros; the only randomness is the per-family sample
drawn with the seed). Needs numpy only — the model is small enough to fit without scikit-learn.

Inputs (``../shared/data``; each folder's SOURCE.md gives origin and licence), never shipped:

* DGA names, by family — ``dga-netlab-families`` (25 families seen in the wild, Netlab 360 via
  Cucchiarelli et al.), ``dga-andrewaeva`` (re-implementations: conficker, cryptolocker, matsnu, pushdo,
  ramdo, rovnix, tinba, zeus), ``netlab360-dga-examples`` (chinad, vidro) and maltrail's DGA trails
  (conficker, cryptolocker, dircrypt, fobber, locky, necurs, pykspa, ramnit, simda, tinba). Families of
  the same name are merged; at most ``--per-family`` names of each are used.
* Benign names for training — MISP ``alexa`` (its top 1,000), ``tranco10k``, ``majestic_million`` (top
  10k) and ``cisco_top20k``. They are split by a hash of the label: 45% build the benign bigram/trigram
  table and the word vocabulary, 40% train the regression, 15% set the thresholds (so no benign name
  is judged by tables it helped build).
* Benign long tail, never trained on — the Alexa samples drawn from its whole top million (netlab's
  legit names, andrewaeva's ``alexa_1000``), not on a training list: the per-name threshold must also
  keep to its rate on them (``thresholds``). Top lists are brand names; a DNS log's odd names come from
  the tail, where names never trained on score higher.
* Held back, never used here: ``opendns-public-domain-lists`` (top and random) and MISP
  ``cloudflare-top10k`` — ``bench/quality_dga.py`` measures false positives on them.

What ships is derived only: regression weights, the smoothed log-frequencies of bigrams and trigrams,
a vocabulary of ~10k frequent word-like substrings, three thresholds and this run's metadata.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import hashlib
import io
import json
import math
import random
import sys
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from trailhound.enrich.dga import (  # noqa: E402
    DENSE_NAMES,
    MAX_WORD,
    MODEL_FILE,
    N_BIGRAMS,
    N_SPARSE,
    N_TRIGRAMS,
    Model,
    dense_features,
    judged_label,
    ngram_indices,
)

SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "src" / "trailhound" / "enrich" / "data" / MODEL_FILE
VERSION = "dga-lr-2"  # 2: per-name threshold also held on the long tail; dense features clipped; punycode not judged
MALTRAIL_DGA = ("conficker", "cryptolocker", "dircrypt", "fobber", "locky", "necurs", "pykspa", "ramnit", "simda", "tinba")
TRAIN_BENIGN = ("alexa", "tranco10k", "majestic_million", "cisco_top20k")
TAIL_BENIGN = ("alexa-tail",)  # never trained on: where the per-name threshold must also hold
HELD_OUT_BENIGN = ("opendns-top", "opendns-random", "cloudflare-top10k")
FPR_HIGH, FPR_LOW, FPR_WIDE = 0.0005, 0.02, 0.05  # the thresholds' false-positive rates on the calibration names
CLIP_PCT = 0.5  # dense features clipped to their 0.5th..99.5th percentile over the training rows


# -- corpora -------------------------------------------------------------------------------------

def _label(name: str) -> str | None:
    part = judged_label(name.strip().lower())
    return part[1] if part and part[1] else None


def _misp(shared: Path, name: str) -> list[str]:
    return [str(x) for x in json.loads((shared / "misp-warninglists" / "lists" / name / "list.json").read_text())["list"]]


@functools.cache
def dga_families(shared: Path = SHARED) -> dict[str, list[str]]:
    """Family -> its distinct DGA names (as queried: whole names), sources merged, in a stable order."""
    fams: dict[str, dict[str, None]] = defaultdict(dict)
    with open(shared / "dga-netlab-families" / "dga_domains_sample.csv", newline="") as fh:
        for cls, fam, name in csv.reader(fh):
            if cls == "dga":
                fams[fam][name.lower()] = None
    for f in sorted((shared / "dga-andrewaeva" / "1000domains").glob("*_1000.txt")):
        fam = f.name.split("_")[0]
        if fam != "alexa":
            fams[fam].update(dict.fromkeys(s.strip().lower() for s in f.read_text().splitlines() if s.strip()))
    for fam in ("chinad", "vidro"):
        lines = (shared / "netlab360-dga-examples" / f"{fam}_examples.txt").read_text().splitlines()
        fams[fam].update(dict.fromkeys(s.strip().lower() for s in lines if s.strip() and not s.startswith(("$", "#"))))
    for fam in MALTRAIL_DGA:
        with gzip.open(shared / "maltrail-static-trails" / "selected" / f"malware_{fam}.txt.gz", "rt") as fh:
            for line in fh:
                s = line.split("#", 1)[0].strip().lower()
                if s and "/" not in s and ":" not in s and not s.endswith(".onion") and not s.replace(".", "").isdigit():
                    fams[fam][s] = None
    return {fam: [n for n in names if _label(n)] for fam, names in sorted(fams.items())}


@functools.cache
def benign_lists(shared: Path = SHARED) -> dict[str, list[str]]:
    """List name -> names; the training lists and the held-out ones (HELD_OUT_BENIGN)."""
    out: dict[str, list[str]] = {}
    alexa = []
    with open(shared / "dga-netlab-families" / "dga_domains_sample.csv", newline="") as fh:
        alexa += [name for cls, _, name in csv.reader(fh) if cls == "legit"]
    alexa += (shared / "dga-andrewaeva" / "1000domains" / "alexa_1000.txt").read_text().split()
    out["alexa-tail"] = alexa  # random draws from Alexa's top million: the long tail
    out["alexa"] = _misp(shared, "alexa")  # its top 1,000
    for name in ("tranco10k", "majestic_million", "cisco_top20k", "cloudflare-top10k"):
        out[name] = _misp(shared, name)
    for kind in ("top", "random"):
        out[f"opendns-{kind}"] = (shared / "opendns-public-domain-lists" / f"opendns-{kind}-domains.txt").read_text().split()
    return out


def _part(label: str) -> int:
    """0 (tables), 1 (regression) or 2 (thresholds), by a stable hash of the label."""
    h = zlib.crc32(label.encode()) % 100
    return 0 if h < 45 else 1 if h < 85 else 2


# -- tables ------------------------------------------------------------------------------------------

def ngram_tables(labels: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """Smoothed log-frequencies of bigrams and trigrams (with boundaries) over benign labels, and the
    log-frequency of an n-gram never seen."""
    bi = np.zeros(N_BIGRAMS)
    tri = np.zeros(N_TRIGRAMS)
    for lab in labels:
        b, t = ngram_indices(lab)
        np.add.at(bi, b, 1)
        np.add.at(tri, np.asarray(t) - N_BIGRAMS, 1)
    alpha = 0.5
    unseen = math.log(alpha / (tri.sum() + alpha * N_TRIGRAMS))
    return np.log((bi + alpha) / (bi.sum() + alpha * N_BIGRAMS)), np.log((tri + alpha) / (tri.sum() + alpha * N_TRIGRAMS)), unseen


def vocabulary(labels: list[str]) -> list[str]:
    """Word-like substrings of benign labels: whole hyphen/digit-separated tokens seen twice, and
    substrings that start or end ≥ 4 distinct labels (≥ 12 for three letters) — a word boundary is
    where many names agree to cut."""
    tokens: Counter[str] = Counter()
    edges: Counter[str] = Counter()
    for lab in set(labels):
        parts = "".join(c if c.isalpha() else " " for c in lab).split()
        tokens.update(p for p in set(parts) if 3 <= len(p) <= MAX_WORD)
        seen = set()
        for p in parts:
            for k in range(3, min(MAX_WORD, len(p) - 2) + 1):  # a proper prefix or suffix of a longer token
                seen.add(p[:k])
                seen.add(p[-k:])
        edges.update(seen)
    words = {w for w, c in tokens.items() if c >= 2}
    words |= {w for w, c in edges.items() if c >= (12 if len(w) == 3 else 4)}
    return sorted(words)


# -- features and the regression ---------------------------------------------------------------------

@dataclass
class Features:
    idx: np.ndarray  # sparse column of each entry
    val: np.ndarray
    row: np.ndarray
    dense: np.ndarray  # rows x len(DENSE_NAMES), unscaled
    n: int


def featurize(labels: list[str], bigram_logp: np.ndarray, trigram_logp: np.ndarray, unseen: float, words: frozenset[str]) -> Features:
    idx, val, row, dense = [], [], [], []
    bl, tl = bigram_logp.tolist(), trigram_logp.tolist()
    for r, lab in enumerate(labels):
        bi, tri = ngram_indices(lab)
        idx += bi + tri
        val += [1 / math.sqrt(len(bi))] * len(bi) + [1 / math.sqrt(len(tri))] * len(tri)
        row += [r] * (len(bi) + len(tri))
        dense.append(dense_features(lab, bl, tl, unseen, words))
    return Features(np.asarray(idx, np.int64), np.asarray(val), np.asarray(row, np.int64), np.asarray(dense, np.float64).reshape(-1, len(DENSE_NAMES)),
                    len(labels))


def subset(f: Features, rows: np.ndarray) -> Features:
    keep = np.zeros(f.n, bool)
    keep[rows] = True
    renumber = np.cumsum(keep) - 1
    m = keep[f.row]
    return Features(f.idx[m], f.val[m], renumber[f.row[m]], f.dense[rows], len(rows))


Norm = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # mean, scale, lo, hi of the dense features


def standardize(dense: np.ndarray, norm: Norm) -> np.ndarray:
    mean, scale, lo, hi = norm
    return (np.clip(dense, lo, hi) - mean) / scale


def logits(f: Features, sw: np.ndarray, dw: np.ndarray, b: float, norm: Norm) -> np.ndarray:
    return np.bincount(f.row, weights=sw[f.idx] * f.val, minlength=f.n) + standardize(f.dense, norm) @ dw + b


def fit(f: Features, y: np.ndarray, weight: np.ndarray, iters: int = 400, l2: float = 1e-4, lr: float = 0.05):
    """Weighted logistic regression, full-batch Adam from zeros (deterministic). Dense features are
    clipped to the range most training rows span (``CLIP_PCT``), then standardized: a linear model
    must not extrapolate — a ten-word phrase is not twice as generated as Matsnu's five words, nor a
    40-character hash twice as random as a 20-character one."""
    lo, hi = np.percentile(f.dense, [CLIP_PCT, 100 - CLIP_PCT], axis=0)
    clipped = np.clip(f.dense, lo, hi)
    mean = clipped.mean(axis=0)
    scale = clipped.std(axis=0)
    scale[scale == 0] = 1.0
    norm = (mean, scale, lo, hi)
    x = standardize(f.dense, norm)
    sw, dw, b = np.zeros(N_SPARSE), np.zeros(x.shape[1]), 0.0
    params = [sw, dw, np.zeros(1)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    wsum = weight.sum()
    for t in range(1, iters + 1):
        z = np.bincount(f.row, weights=sw[f.idx] * f.val, minlength=f.n) + x @ dw + b
        p = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
        r = (p - y) * weight / wsum
        grads = [np.bincount(f.idx, weights=f.val * r[f.row], minlength=N_SPARSE) + l2 * sw, x.T @ r + l2 * dw, np.array([r.sum()])]
        for i, (prm, g) in enumerate(zip(params, grads)):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            prm -= lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
        b = float(params[2][0])
    return sw, dw, b, norm


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(z, -40, 40)))


def score_at(scores: np.ndarray, fpr: float) -> float:
    """The score that a share ``fpr`` of ``scores`` reaches."""
    cs = np.sort(scores)
    return float(cs[min(len(cs) - 1, int(math.ceil(len(cs) * (1 - fpr))))])


def thresholds(calib_scores: np.ndarray, tail_scores: np.ndarray) -> tuple[float, float, float]:
    """(high, low, wide): the scores that FPR_HIGH, FPR_LOW and FPR_WIDE of the calibration names reach;
    high also FPR_HIGH of the long tail (and at least 0.5). The per-name threshold fires alone, so it
    must hold where a DNS log's odd names are — the tail of the web, which scores higher than the
    names the model was trained among; the burst tiers count a dozen or more NXDOMAIN names, and keep
    their rates on the training lists' names."""
    high = max(score_at(calib_scores, FPR_HIGH), score_at(tail_scores, FPR_HIGH), 0.5)
    return high, score_at(calib_scores, FPR_LOW), score_at(calib_scores, FPR_WIDE)


# -- the whole recipe ----------------------------------------------------------------------------------

@dataclass
class Corpus:
    families: dict[str, list[str]]  # family -> labels (distinct)
    table: list[str]  # benign labels building the tables
    train: list[str]  # benign labels for the regression
    calib: list[str]  # benign labels setting the thresholds
    tail: list[str]  # long-tail benign labels, on no training list: the per-name threshold holds on them too
    held_out: dict[str, list[str]]  # list -> benign labels never seen in training (names not on a training list)


def corpus(shared: Path = SHARED, seed: int = 1, per_family: int = 1000, benign_every: int = 1) -> Corpus:
    """The training corpus; ``benign_every`` > 1 keeps every n-th benign name of each part (fast tests)."""
    rnd = random.Random(seed)
    fams = {}
    for fam, names in dga_families(shared).items():
        labels = sorted({lab for n in names if (lab := _label(n))})
        fams[fam] = sorted(rnd.sample(labels, per_family)) if len(labels) > per_family else labels
    lists = benign_lists(shared)
    pool = sorted({lab for name in TRAIN_BENIGN for n in lists[name] if (lab := _label(n))})
    dga_labels = {lab for labs in fams.values() for lab in labs}
    pool = [lab for lab in pool if lab not in dga_labels]
    parts: list[list[str]] = [[], [], []]
    for lab in pool:
        parts[_part(lab)].append(lab)
    known = set(pool)
    tail = sorted({lab for name in TAIL_BENIGN for n in lists[name] if (lab := _label(n)) and lab not in known and lab not in dga_labels})
    parts = [p[::benign_every] for p in parts]
    known |= set(tail)
    held = {name: sorted({lab for n in lists[name] if (lab := _label(n)) and lab not in known}) for name in HELD_OUT_BENIGN}
    return Corpus(fams, parts[0], parts[1], parts[2], tail[::benign_every], held)


@dataclass
class Trained:
    model: Model
    arrays: dict[str, np.ndarray]


def build_tables(c: Corpus) -> tuple[np.ndarray, np.ndarray, float, list[str]]:
    bigram_logp, trigram_logp, unseen = ngram_tables(c.table)
    return bigram_logp, trigram_logp, unseen, vocabulary(c.table)


def train(c: Corpus, seed: int = 1, families: list[str] | None = None, iters: int = 400, tables=None, feats=None) -> Trained:
    """The model from a corpus (only ``families`` when given: leave-one-family-out)."""
    bigram_logp, trigram_logp, unseen, words = tables or build_tables(c)
    fams = families if families is not None else sorted(c.families)
    labels = list(c.train) + [lab for fam in fams for lab in c.families[fam]]
    y = np.asarray([0.0] * len(c.train) + [1.0] * (len(labels) - len(c.train)))
    # the two classes weigh the same, and so does every family within the DGA class
    weight = np.concatenate([np.full(len(c.train), 1.0 / len(c.train))] +
                            [np.full(len(c.families[f]), 1.0 / (len(fams) * len(c.families[f]))) for f in fams])
    f = feats(labels) if feats else featurize(labels, bigram_logp, trigram_logp, unseen, frozenset(words))
    sw, dw, b, norm = fit(f, y, weight, iters=iters)
    calib = featurize(c.calib, bigram_logp, trigram_logp, unseen, frozenset(words))
    tail = featurize(c.tail, bigram_logp, trigram_logp, unseen, frozenset(words))
    calib_scores = sigmoid(logits(calib, sw, dw, b, norm))
    high, low, wide = thresholds(calib_scores, sigmoid(logits(tail, sw, dw, b, norm)))
    head = max(score_at(calib_scores, FPR_HIGH), 0.5)  # FPR_HIGH of the calibration names alone: a signal among others
    mean, scale, lo, hi = norm
    arrays = {
        "sparse_w": sw.astype(np.float32), "dense_w": dw.astype(np.float32), "dense_mean": mean.astype(np.float32),
        "dense_scale": scale.astype(np.float32), "dense_lo": lo.astype(np.float32), "dense_hi": hi.astype(np.float32),
        "bias": np.asarray(b, np.float32),
        "bigram_logp": bigram_logp.astype(np.float16), "trigram_logp": trigram_logp.astype(np.float16), "words": np.asarray(" ".join(words)),
    }
    cuts = json.dumps([round(x, 6) for x in (high, low, wide, head)]).encode()  # the version names the thresholds too
    digest = hashlib.sha256(b"".join(arrays[k].tobytes() for k in sorted(arrays)) + cuts).hexdigest()[:12]
    meta = {
        "version": f"{VERSION}-{digest}", "threshold": round(high, 6), "threshold_low": round(low, 6),
        "threshold_wide": round(wide, 6), "threshold_head": round(head, 6),
        "unseen_logp": float(np.float16(unseen)), "seed": seed, "dense_features": list(DENSE_NAMES),
        "families": {f: len(c.families[f]) for f in fams},
        "benign": {"table": len(c.table), "train": len(c.train), "calibration": len(c.calib), "tail": len(c.tail)},
        "trained_on": "dga-netlab-families, dga-andrewaeva, netlab360-dga-examples, maltrail DGA trails; benign: Alexa samples, MISP "
                      "tranco10k, majestic_million, cisco_top20k (held back: OpenDNS top/random, cloudflare-top10k)",
        "fpr_target": {"threshold": FPR_HIGH, "threshold_low": FPR_LOW, "threshold_wide": FPR_WIDE},
    }
    arrays["meta"] = np.asarray(json.dumps(meta, sort_keys=True))
    return Trained(Model({k: v for k, v in arrays.items()}), arrays)


def leave_one_family_out(c: Corpus, iters: int = 400) -> dict[str, tuple[np.ndarray, tuple[float, float, float]]]:
    """For each family: the scores of its labels by a model trained without it, and that model's
    thresholds (``thresholds``). Features are computed once (tables and vocabulary come from benign names only)."""
    bigram_logp, trigram_logp, unseen, words = build_tables(c)
    vocab = frozenset(words)
    fams = sorted(c.families)
    labels = list(c.train) + [lab for fam in fams for lab in c.families[fam]]
    allf = featurize(labels, bigram_logp, trigram_logp, unseen, vocab)
    calib = featurize(c.calib, bigram_logp, trigram_logp, unseen, vocab)
    tail = featurize(c.tail, bigram_logp, trigram_logp, unseen, vocab)
    start, spans = len(c.train), {}
    for fam in fams:
        spans[fam] = (start, start + len(c.families[fam]))
        start += len(c.families[fam])
    out = {}
    for left in fams:
        kept = [f for f in fams if f != left]
        rows = np.concatenate([np.arange(len(c.train))] + [np.arange(*spans[f]) for f in kept])
        y = np.concatenate([np.zeros(len(c.train)), np.ones(len(rows) - len(c.train))])
        weight = np.concatenate([np.full(len(c.train), 1.0 / len(c.train))] +
                                [np.full(len(c.families[f]), 1.0 / (len(kept) * len(c.families[f]))) for f in kept])
        sw, dw, b, norm = fit(subset(allf, rows), y, weight, iters=iters)
        scores = sigmoid(logits(subset(allf, np.arange(*spans[left])), sw, dw, b, norm))
        out[left] = (scores, thresholds(sigmoid(logits(calib, sw, dw, b, norm)), sigmoid(logits(tail, sw, dw, b, norm))))
    return out


def save(t: Trained, path: Path) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **t.arrays)
    path.write_bytes(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-family", type=int, default=1000)
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="retrain and compare with the shipped model instead of writing it")
    args = ap.parse_args()
    c = corpus(args.shared, args.seed, args.per_family)
    print(f"{len(c.families)} families, {sum(map(len, c.families.values())):,} DGA labels; benign {len(c.table):,} table / "
          f"{len(c.train):,} train / {len(c.calib):,} calibration; {len(c.tail):,} long-tail")
    t = train(c, args.seed)
    print(f"{t.model.version}: threshold {t.model.threshold:.4f}, low {t.model.threshold_low:.4f}, wide {t.model.threshold_wide:.4f}")
    if args.check:
        shipped = Model.load(args.output)
        same = shipped.version == t.model.version
        print("identical to the shipped model" if same else f"differs from the shipped model ({shipped.version})")
        raise SystemExit(0 if same else 1)
    save(t, args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
