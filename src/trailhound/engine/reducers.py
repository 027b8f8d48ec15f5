"""Reducers: what a windowed detector keeps of the rows it observes (Zeek SumStats' reducers).

A reducer is a spec (class-level, shared) and a small typed state per window bucket. States are
msgspec Structs tagged by kind, so a bucket's list of reducer states encodes compactly and decodes
to the right types. Merging buckets into a window result never mutates the buckets.

* ``Count`` — how many observations.
* ``Sum`` — the total of a numeric value.
* ``Distinct`` — distinct values: exact (the values themselves, so evidence can name them) up to a
  bound, then a HyperLogLog sketch (Apache DataSketches, lg_k=8: ~180 bytes, ~6.5% error) that
  keeps counting while a sample of the values is kept for the evidence.
* ``Last`` — the latest observation's value (the context a finding names: instance, interface...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import datasketches
import msgspec


class CountState(msgspec.Struct, tag="c", array_like=True):
    n: int = 0


class SumState(msgspec.Struct, tag="s", array_like=True):
    total: float = 0.0


class DistinctState(msgspec.Struct, tag="d", array_like=True):
    items: list[Any] = msgspec.field(default_factory=list)  # every value while exact; afterwards a sample
    sketch: bytes | None = None  # HyperLogLog of every value, once past the exact bound


class LastState(msgspec.Struct, tag="l", array_like=True):
    t: float = float("-inf")
    value: Any = None


_encode = msgspec.msgpack.encode
ReducerState = CountState | SumState | DistinctState | LastState


@dataclass(frozen=True)
class DistinctValues:
    """A window's distinct values: their number, whether it is exact, and the values (or a sample)."""

    count: int
    exact: bool
    items: tuple[Any, ...]

    def __len__(self) -> int:
        return self.count


class Reducer:
    def new(self) -> ReducerState:
        raise NotImplementedError

    def add(self, state: Any, values: Sequence[tuple[float, Any]]) -> None:
        """Fold (time, value) observations into a bucket's state (in place)."""
        raise NotImplementedError

    def result(self, states: Sequence[Any]) -> Any:
        """The window's value from its buckets' states (which are not modified)."""
        raise NotImplementedError


class Count(Reducer):
    def new(self) -> CountState:
        return CountState()

    def add(self, state: CountState, values: Sequence[tuple[float, Any]]) -> None:
        state.n += len(values)

    def result(self, states: Sequence[CountState]) -> int:
        return sum(s.n for s in states)


class Sum(Reducer):
    def new(self) -> SumState:
        return SumState()

    def add(self, state: SumState, values: Sequence[tuple[float, Any]]) -> None:
        state.total += sum(v for _, v in values)

    def result(self, states: Sequence[SumState]) -> float:
        return sum(s.total for s in states)


class Distinct(Reducer):
    def __init__(self, exact: int = 64, sample: int = 16, lg_k: int = 8) -> None:
        self.exact = exact
        self.sample = sample
        self.lg_k = lg_k

    def new(self) -> DistinctState:
        return DistinctState()

    def _sketch(self, blob: bytes | None, values: Iterable[Any]) -> datasketches.hll_sketch:
        sketch = datasketches.hll_sketch.deserialize(blob) if blob else datasketches.hll_sketch(self.lg_k, datasketches.tgt_hll_type.HLL_4)
        for v in values:
            sketch.update(v)
        return sketch

    def add(self, state: DistinctState, values: Sequence[tuple[float, Any]]) -> None:
        if state.sketch is not None:
            state.sketch = self._sketch(state.sketch, (v for _, v in values)).serialize_compact()
            return
        items = state.items
        seen = set(items)
        for _, v in values:
            if v not in seen:
                seen.add(v)
                items.append(v)
        if len(items) > self.exact:  # past the bound: count with a sketch, keep a sample for the evidence
            state.sketch = self._sketch(None, items).serialize_compact()
            state.items = items[: self.sample]

    def result(self, states: Sequence[DistinctState]) -> DistinctValues:
        if all(s.sketch is None for s in states):  # every bucket exact: so is the union, however large
            merged: dict[Any, None] = {}
            for s in states:
                merged.update(dict.fromkeys(s.items))
            items = tuple(merged) if len(merged) <= self.exact else tuple(merged)[: self.sample]
            return DistinctValues(len(merged), True, items)
        union = datasketches.hll_union(self.lg_k)
        sample: dict[Any, None] = {}
        for s in states:
            union.update(datasketches.hll_sketch.deserialize(s.sketch) if s.sketch else self._sketch(None, s.items))
            for v in s.items:
                if len(sample) < self.sample:
                    sample[v] = None
        return DistinctValues(max(len(sample), round(_estimate(union.get_result(datasketches.tgt_hll_type.HLL_8)))), False, tuple(sample))


def _estimate(sketch: datasketches.hll_sketch) -> float:
    """The sketch's estimate from its registers alone (HyperLogLog with linear counting for small counts).
    The library's own estimate of a union in HLL mode is HIP, which depends on the order the union met
    its values in — which bucket got which values in which batch — so the same rows partitioned or
    batched differently could count 120 or 121 distinct hosts. Registers are a maximum: order-free."""
    blob = sketch.serialize_updatable()
    if blob[7] & 3 != 2:  # a list or set of coupons (small counts): its estimate is their count, order-free too
        return float(sketch.get_estimate())
    m = 1 << blob[3]
    registers = blob[40 : 40 + m]  # HLL_8: one byte per register after the ten-int preamble
    zeros = registers.count(0)
    raw = 0.7213 / (1 + 1.079 / m) * m * m / sum(2.0 ** -r for r in registers)
    return m * math.log(m / zeros) if raw <= 2.5 * m and zeros else raw


class Last(Reducer):
    def new(self) -> LastState:
        return LastState()

    def add(self, state: LastState, values: Sequence[tuple[float, Any]]) -> None:
        for t, v in values:
            # of two at the same instant the larger wins, so arrival order never matters
            if t > state.t or (t == state.t and _encode(v) > _encode(state.value)):
                state.t, state.value = t, v

    def result(self, states: Sequence[LastState]) -> Any:
        best = max(states, key=lambda s: s.t, default=None)
        return best.value if best is not None else None
