"""(b') Trojan:EC2/DGADomainRequest.B: leave-one-family-out recall and benign false positives.

    .venv/bin/python bench/quality_dga.py          # prints the Markdown section (part of bench/quality.py's full mode)

* Leave one family out: for each of the families ``tools/train_dga.py`` trains on, a model is trained
  without it (same recipe, thresholds set on the same calibration names) and scores that family's
  names — names of a family it has never seen. Instance level: ``DRAWS`` draws of 40 distinct names
  of the family, as one instance's lookups in half an hour, every tenth answered and the rest
  NXDOMAIN, judged by the detector's own rule (``detectors.dga.burst``). A family counts as detected
  when most draws fire.
* Benign: the shipped model on the lists it was never trained on (OpenDNS top and random, 2014;
  Cloudflare Radar top 10k, 2026), names not on any training list: the share scored DGA-like (the
  per-name threshold) and over the lower threshold.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))
sys.path.insert(0, str(HERE))

import train_dga  # noqa: E402
from quality_common import md_table  # noqa: E402

from trailhound.detectors.dga import burst  # noqa: E402
from trailhound.enrich.dga import shipped_model  # noqa: E402

DRAWS, NAMES, ANSWERED_EVERY = 10, 40, 10


@dataclass
class FamilyResult:
    family: str
    names: int
    recall_high: float  # per name, at the fold's threshold
    recall_low: float
    recall_wide: float
    draws_fired: int
    tiers: dict[str, int] = field(default_factory=dict)

    @property
    def detected(self) -> bool:
        return 2 * self.draws_fired > DRAWS


@dataclass
class DgaResult:
    families: list[FamilyResult]
    benign: dict[str, tuple[int, int, int, list[str]]]  # list -> (names, over threshold, over low threshold, examples)
    model_version: str
    model_bytes: int
    seconds: float

    @property
    def detected(self) -> int:
        return sum(f.detected for f in self.families)

    def benign_rate(self) -> tuple[int, int]:
        return sum(b[1] for b in self.benign.values()), sum(b[0] for b in self.benign.values())


def _draws(scores: list[float], thresholds: tuple[float, float, float], seed: int) -> tuple[int, dict[str, int]]:
    rnd, fired, tiers = random.Random(seed), 0, {}
    for _ in range(DRAWS):
        picked = rnd.sample(scores, min(NAMES, len(scores)))
        nx = [i % ANSWERED_EVERY != ANSWERED_EVERY - 1 for i in range(len(picked))]
        counts = []
        for at in thresholds:  # high, low, wide: names over it, and those of them NXDOMAIN
            over = [s >= at for s in picked]
            counts += [sum(over), sum(o and n for o, n in zip(over, nx))]
        tier = burst(*counts)
        if tier:
            fired += 1
            tiers[tier] = tiers.get(tier, 0) + 1
    return fired, tiers


def run_dga(shared: Path = train_dga.SHARED, seed: int = 1) -> DgaResult:
    t0 = time.perf_counter()
    c = train_dga.corpus(shared, seed)
    folds = train_dga.leave_one_family_out(c)
    fams = []
    for i, (fam, (scores, (high, low, wide))) in enumerate(sorted(folds.items())):
        s = scores.tolist()
        fired, tiers = _draws(s, (high, low, wide), seed + i)
        fams.append(FamilyResult(fam, len(s), sum(x >= high for x in s) / len(s), sum(x >= low for x in s) / len(s),
                                 sum(x >= wide for x in s) / len(s), fired, tiers))
    m = shipped_model()
    benign = {}
    for name, labels in c.held_out.items():
        scores = [(m.score(lab), lab) for lab in labels]
        over = sorted((lab for s, lab in scores if s >= m.threshold))
        benign[name] = (len(labels), len(over), sum(s >= m.threshold_low for s, _ in scores), over)
    path = Path(train_dga.OUT)
    return DgaResult(fams, benign, m.version, path.stat().st_size, time.perf_counter() - t0)


def rows(d: DgaResult) -> list[list[str]]:
    fp, n = d.benign_rate()
    missed = [f.family for f in d.families if not f.detected]
    return [
        ["DGA families never seen in training, detected at instance level (leave-one-family-out)",
         f"{d.detected}/{len(d.families)} ({100 * d.detected / len(d.families):.0f}%)",
         f"40 names of the family from one instance in 30 min, most of {DRAWS} draws firing; missed: {', '.join(missed) or 'none'}"],
        ["Held-out benign names scored DGA-like (per name)", f"{fp}/{n:,} ({100 * fp / n:.2f}%)",
         "; ".join(f"{k} {b[1]}/{b[0]:,} ({100 * b[1] / b[0]:.2f}%)" for k, b in d.benign.items()) + f"; model {d.model_version}"],
    ]


def section(d: DgaResult) -> list[str]:
    fam_rows = [[f.family, f.names, f"{100 * f.recall_high:.0f}%", f"{100 * f.recall_low:.0f}%", f"{100 * f.recall_wide:.0f}%", f"{f.draws_fired}/{DRAWS}",
                 ", ".join(f"{k} ×{v}" for k, v in sorted(f.tiers.items())) or "-", "yes" if f.detected else "no"] for f in d.families]
    out = ["## Trojan:EC2/DGADomainRequest.B — leave-one-family-out", "",
           f"Model `{d.model_version}` ({d.model_bytes:,} bytes). Each family scored by a model trained without it; per-name recall at "
           "that model's threshold (≤ 0.1% of benign names), lower threshold (≤ 2%) and widest (≤ 5%); instance level: draws of 40 names from one "
           f"instance in half an hour (every {ANSWERED_EVERY}th answered, the rest NXDOMAIN) judged by `detectors.dga.burst`. "
           f"{d.seconds:.0f} s.", "",
           md_table(["Family", "Names", "Per-name recall", "Over lower threshold", "Over widest", "Draws firing", "Tiers", "Detected"], fam_rows), "",
           "Benign lists never trained on (names not on a training list):", "",
           md_table(["List", "Names", "Scored DGA-like", "Over lower threshold", "Examples"],
                    [[k, f"{b[0]:,}", f"{b[1]} ({100 * b[1] / b[0]:.2f}%)", f"{b[2]} ({100 * b[2] / b[0]:.1f}%)", ", ".join(b[3][:12])]
                     for k, b in d.benign.items()]), ""]
    return out


if __name__ == "__main__":
    result = run_dga()
    print(md_table(["Measure", "Result", "Notes"], rows(result)))
    print()
    print("\n".join(section(result)))
