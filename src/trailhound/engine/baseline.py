"""Baselines: what an entity usually does, kept small, forgetting slowly.

* ``Profile`` — how often an entity has used each value (a remote port, an ASN, an API), counted
  in active periods (days, by default) and decayed with a half-life, bounded to the ``capacity``
  most-used values. It classifies a value as GuardDuty's anomaly profiles do: ``FREQUENT`` (daily
  to weekly), ``INFREQUENT`` (a few times a month), ``RARE`` (less than monthly) or ``UNSEEN``.
* ``Scorer`` — a robust z-score of a value against the entity's recent values (median and MAD,
  so one past spike does not hide the next), with a grace period: no score until enough history.

Both are learn/score pairs (River's ``learn_one``/``score_one``): score first, then learn, so a
value never vouches for itself. Their state is a msgspec Struct a detector embeds in its own.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import msgspec

DAY = 86_400.0


class ProfileState(msgspec.Struct, array_like=True):
    # value -> [decayed count of active periods, last period index, first period index]
    values: dict[str, list[float]] = msgspec.field(default_factory=dict)


@dataclass(frozen=True)
class Profile:
    half_life: float = 30 * DAY
    period: float = DAY
    capacity: int = 32
    frequent: float = 4.0  # decayed active periods: about weekly or more over the half-life
    infrequent: float = 1.5  # a few times a month

    def _decayed(self, entry: list[float], t: float) -> float:
        count, last_period = entry[0], entry[1]
        age = max(0.0, t - last_period * self.period)
        return count * math.pow(0.5, age / self.half_life)

    def learn(self, st: ProfileState, value: str, t: float, add: bool = True) -> None:
        """Count ``value`` in ``t``'s period; with ``add`` False only a value already kept is refreshed (none added)."""
        period = math.floor(t / self.period)
        entry = st.values.get(value)
        if entry is None and not add:
            return
        if entry is not None:
            if entry[1] >= period:
                return  # already counted in this period: a burst is one active day, not a habit
            st.values[value] = [self._decayed(entry, t) + 1.0, period, entry[2] if len(entry) > 2 else entry[1]]
            return
        if len(st.values) >= self.capacity:  # forget the least used value to make room
            weakest = min(st.values, key=lambda v: self._decayed(st.values[v], t))
            del st.values[weakest]
        st.values[value] = [1.0, period, period]

    def frequency(self, st: ProfileState, value: str, t: float) -> float:
        entry = st.values.get(value)
        return self._decayed(entry, t) if entry is not None else 0.0

    def seen_before(self, st: ProfileState, value: str, t: float) -> bool:
        """Whether the value was first used in a period before the one ``t`` falls in (what ``t``'s own
        period added does not count)."""
        entry = st.values.get(value)
        return entry is not None and (entry[2] if len(entry) > 2 else entry[1]) < math.floor(t / self.period)

    def subtype(self, st: ProfileState, value: str, t: float) -> str:
        f = self.frequency(st, value, t)
        if f <= 0.05:
            return "UNSEEN"
        if f >= self.frequent:
            return "FREQUENT"
        if f >= self.infrequent:
            return "INFREQUENT"
        return "RARE"


class ScorerState(msgspec.Struct, array_like=True):
    recent: list[float] = msgspec.field(default_factory=list)  # the last `memory` values, oldest first


@dataclass(frozen=True)
class Scorer:
    memory: int = 48
    grace: int = 12  # values needed before any score
    floor: float = 1.0  # smallest spread assumed, so a perfectly flat history does not make any change infinite

    def learn(self, st: ScorerState, value: float) -> None:
        st.recent.append(float(value))
        if len(st.recent) > self.memory:
            del st.recent[: len(st.recent) - self.memory]

    def score(self, st: ScorerState, value: float) -> float | None:
        """How many robust standard deviations ``value`` lies above the recent median; None in the grace period."""
        if len(st.recent) < self.grace:
            return None
        median = statistics.median(st.recent)
        mad = statistics.median(abs(v - median) for v in st.recent)
        return (value - median) / max(1.4826 * mad, self.floor, 0.05 * abs(median))
