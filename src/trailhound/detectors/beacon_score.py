"""RITA's beacon score of one series of connections (activecm/rita, ``analysis/beacons.go``), for flow logs.

Four sub-scores in [0, 1], averaged with RITA's default equal weights:

* timestamp — the intervals between connection starts: ``(skew score + MAD score) / 2``, where the skew
  score is ``1 - |Bowley skewness|`` (Q1 + Q3 - 2·Q2) / (Q3 - Q1), taken as 0 when the inter-quartile
  range is under 10 s or the median sits on a quartile (jitter that small is no skew), and the MAD
  score is ``(median - MAD) / median``.
* data size — the same over the bytes of each connection (MAD score 0 when the median is under 1).
* histogram — connections per hour over the observation span: ``1 - coefficient of variation``. A
  beacon is as busy at 3 a.m. as at noon; people and batch jobs are not. (RITA also tries a bimodal
  fit for beacons that change pace; not here.)
* duration — only once connections were seen in ``MIN_HOURS`` distinct hours: the larger of the
  coverage (first to last connection over the observation span) and the consistency (longest run of
  consecutive busy hours over ``IDEAL_HOURS``).

Pure functions of lists: the detector keeps the lists, bounded, and decides when to ask.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

HOUR = 3600.0
MIN_HOURS = 6  # RITA's DurMinHours
IDEAL_HOURS = 12  # RITA's DurIdealNumberOfConsistentHours
MIN_IQR = 10.0  # RITA: an inter-quartile range under this is no skew


@dataclass(frozen=True)
class BeaconScore:
    score: float
    timestamp: float
    interval_skew: float
    interval_mad: float
    data_size: float
    size_skew: float
    size_mad: float
    histogram: float
    duration: float
    coverage: float
    consistency: float
    median_interval: float
    median_bytes: float

    def components(self) -> dict[str, float]:
        r = round
        return {"timestampScore": r(self.timestamp, 3), "intervalSkew": r(self.interval_skew, 3),
                "intervalMadSeconds": r(self.interval_mad, 1),
                "dataSizeScore": r(self.data_size, 3), "sizeSkew": r(self.size_skew, 3), "sizeMadBytes": r(self.size_mad, 1),
                "histogramScore": r(self.histogram, 3), "durationScore": r(self.duration, 3), "coverage": r(self.coverage, 3),
                "consistency": r(self.consistency, 3)}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def bowley(values: list[float]) -> tuple[float, float]:
    """(skewness, score = 1 - |skewness|) of sorted values."""
    q1, q2, q3 = _quartiles(values)
    den = q3 - q1
    skew = (q1 + q3 - 2 * q2) / den if den >= MIN_IQR and q2 != q1 and q2 != q3 else 0.0
    return skew, 1.0 - min(1.0, abs(skew))


def mad(values: list[float], default: float) -> tuple[float, float]:
    """(median absolute deviation, score = (median - MAD) / median, ``default`` under a median of 1)."""
    median = statistics.median(values)
    dev = statistics.median(abs(v - median) for v in values)
    score = (median - dev) / median if median >= 1 else default
    return dev, max(0.0, score)


def histogram(times: list[float], start: float, end: float) -> tuple[float, int, int]:
    """(1 - coefficient of variation of connections per hour, busy hours, longest run of busy hours) over
    [start, end]. A last partial hour is scaled to a full one, so a span that ends mid-hour is not
    taken for a quiet hour."""
    bins = max(1, math.ceil((end - start) / HOUR))
    counts = [0.0] * bins
    for t in times:
        counts[min(bins - 1, max(0, int((t - start) // HOUR)))] += 1
    tail = (end - start) - (bins - 1) * HOUR
    if bins > 1 and 0 < tail < HOUR:
        counts[-1] *= HOUR / max(tail, HOUR / 4)  # a sliver of an hour is scaled at most fourfold
    busy = [c > 0 for c in counts]
    run = longest = 0
    for b in busy:
        run = run + 1 if b else 0
        longest = max(longest, run)
    mean = sum(counts) / bins
    cv = statistics.pstdev(counts) / mean if mean > 0 else 1.0
    return max(0.0, 1.0 - cv), sum(busy), longest


def score(times: list[float], sizes: list[float], start: float, end: float, min_timing: float = 0.0) -> BeaconScore | None:
    """The beacon score of connections at ``times`` (sorted) with ``sizes`` bytes, observed over [start, end];
    None without three non-zero intervals (RITA's minimum), or when the timestamp score is under ``min_timing``
    (the rest is not worked out)."""
    intervals = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    if len(intervals) < 3 or len(sizes) < 3:
        return None
    i_mad, i_mad_score = mad(intervals, 1.0)
    if (1.0 + i_mad_score) / 2 < min_timing:
        return None  # even a perfect skew score could not lift it
    i_skew, i_skew_score = bowley(intervals)
    ts = (i_skew_score + i_mad_score) / 2
    if ts < min_timing:
        return None
    ordered = sorted(sizes)
    s_skew, s_skew_score = bowley(ordered)
    s_mad, s_mad_score = mad(ordered, 0.0)
    ds = (s_skew_score + s_mad_score) / 2
    hist, busy, longest = histogram(times, start, end)
    coverage = consistency = duration = 0.0
    if busy >= MIN_HOURS and end > start:
        coverage = min(1.0, (times[-1] - times[0]) / (end - start))
        consistency = min(1.0, longest / IDEAL_HOURS)
        duration = max(coverage, consistency)
    total = (ts + ds + hist + duration) / 4
    return BeaconScore(total, ts, i_skew, i_mad, ds, s_skew, s_mad, hist, duration, coverage, consistency,
                       statistics.median(intervals), statistics.median(ordered))
