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
* Label conflicts: names of those lists that Conficker A or B generated in the year before the list
  was taken (``tools/conficker_dga.py``, regenerated, not judged by eye) are DGA output that infected
  hosts made popular. They are counted apart — out of the benign rate, scored as DGA names — and
  listed; a name the generator does not produce stays benign.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))
sys.path.insert(0, str(HERE))

import conficker_dga  # noqa: E402
import train_dga  # noqa: E402
from quality_common import md_table  # noqa: E402

from trailhound.detectors.dga import burst  # noqa: E402
from trailhound.enrich.dga import Model, shipped_model  # noqa: E402

DRAWS, NAMES, ANSWERED_EVERY = 10, 40, 10
# When each held-out list was taken (OpenDNS: the upstream commit; Cloudflare: MISP's list version),
# and the days before it whose Conficker A/B names count as label conflicts on it.
CONFLICT_WINDOWS = {"opendns-top": (date(2013, 11, 1), date(2014, 11, 6)), "opendns-random": (date(2013, 11, 1), date(2014, 11, 6)),
                    "cloudflare-top10k": (date(2025, 8, 1), date(2026, 8, 10))}


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
    conflicts: dict[str, tuple[int, int, int, list[str]]]  # list -> the same for its names that are Conficker output
    conflict_days: dict[str, list[date]]  # list -> the days its Conficker names were generated for
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
        tier = burst(*counts, nx_all=sum(nx))  # (every name the instance failed on is the family's)
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
    benign, conflicts, days = judge_benign(c, m, shared)
    path = Path(train_dga.OUT)
    return DgaResult(fams, benign, conflicts, days, m.version, path.stat().st_size, time.perf_counter() - t0)


def judge_benign(c: train_dga.Corpus, m: Model, shared: Path = train_dga.SHARED) -> tuple[dict, dict]:
    """Per held-out list, (names, over threshold, over the lower one, examples) of its benign labels and
    of its label conflicts (examples: those over the threshold, and the conflicts themselves), and the
    days the conflicts were generated for."""
    benign, conflicts, days = {}, {}, {}
    for name, labels in c.held_out.items():
        gen = label_conflicts(name, set(labels), shared)
        days[name] = sorted({d for ds in gen.values() for d in ds})
        for out, labs in ((benign, [lab for lab in labels if lab not in gen]), (conflicts, sorted(gen))):
            scores = [(m.score(lab), lab) for lab in labs]
            over = sorted(lab for s, lab in scores if s >= m.threshold)
            out[name] = (len(labs), len(over), sum(s >= m.threshold_low for s, _ in scores), over if out is benign else labs)
    return benign, conflicts, days


def label_conflicts(listname: str, labels: set[str], shared: Path = train_dga.SHARED) -> dict[str, set[date]]:
    """The held-out labels of a list whose names Conficker A or B generated in the list's window -> the days."""
    first, last = CONFLICT_WINDOWS[listname]
    generated = _conficker(first, last)
    out: dict[str, set[date]] = {}
    for n in train_dga.benign_lists(shared)[listname]:
        if (days := generated.get(n.strip().lower())) and (lab := train_dga._label(n)) in labels:
            out.setdefault(lab, set()).update(d for _, d in days)
    return out


_GENERATED: dict[tuple[date, date], dict] = {}


def _conficker(first: date, last: date) -> dict:
    if (first, last) not in _GENERATED:
        _GENERATED[(first, last)] = conficker_dga.generated(first, last)
    return _GENERATED[(first, last)]


def rows(d: DgaResult) -> list[list[str]]:
    fp, n = d.benign_rate()
    cn, cfp, clow = (sum(b[i] for b in d.conflicts.values()) for i in range(3))
    missed = [f.family for f in d.families if not f.detected]
    return [
        ["DGA families never seen in training, detected at instance level (leave-one-family-out)",
         f"{d.detected}/{len(d.families)} ({100 * d.detected / len(d.families):.0f}%)",
         f"40 names of the family from one instance in 30 min, most of {DRAWS} draws firing; missed: {', '.join(missed) or 'none'}"],
        ["Held-out benign names scored DGA-like (per name)", f"{fp}/{n:,} ({100 * fp / n:.2f}%)",
         "; ".join(f"{k} {b[1]}/{b[0]:,} ({100 * b[1] / b[0]:.2f}%)" for k, b in d.benign.items()) + f"; model {d.model_version}; "
         "label conflicts (next row) left out"],
        ["Benign-list names that are Conficker A/B output (label conflicts), scored DGA-like", f"{cfp}/{cn:,}",
         "regenerated for the year before each list was taken (tools/conficker_dga.py); "
         + "; ".join(f"{k} {b[0]:,}" for k, b in d.conflicts.items()) + f"; over the lower threshold {clow}/{cn:,}"],
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
                     for k, b in d.benign.items()]), "",
           "Label conflicts: names of those lists that Conficker A or B generated in the year before the list was taken (regenerated by "
           "`tools/conficker_dga.py`; a name it does not produce stays benign). Left out of the benign rate above, scored as DGA names:", "",
           md_table(["List", "Days regenerated", "Conficker names", "Generated for", "Scored DGA-like", "Over lower threshold",
                     "Examples"],
                    [[k, f"{CONFLICT_WINDOWS[k][0]} to {CONFLICT_WINDOWS[k][1]}", f"{b[0]:,}",
                      ", ".join(map(str, d.conflict_days[k])) or "-", f"{b[1]}", f"{b[2]}", ", ".join(b[3][:8])]
                     for k, b in d.conflicts.items()]), ""]
    return out


if __name__ == "__main__":
    result = run_dga()
    print(md_table(["Measure", "Result", "Notes"], rows(result)))
    print()
    print("\n".join(section(result)))
