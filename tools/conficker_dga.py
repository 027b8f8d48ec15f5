"""Conficker A and B's domain generation: the 250 names a day each variant tried, for any date.

    .venv/bin/python tools/conficker_dga.py 2014-11-03 [--variant B]    # print that day's names

Used by ``bench/quality_dga.py`` to tell which names of a "benign" list are really Conficker output
(label conflicts: popular in 2014 because millions of infected hosts queried them), never by the
runtime package.

Credit: the algorithm as ported to C and x86 assembly in andrewaeva/DGA ``dga_algorithms/Conficker.cpp``
(GPL-2.0, Andrey Abakumov; variant B) and variant A's constants as published alongside B's in a public
Ruby sketch of the Conficker generators; re-implemented here in Python, not copied. Checked against
Conficker A and B names for every day of 2020 published by Will-Beninger/ConfickerDGA, produced with
downatool2 (University of Bonn, Leder & Werner, "Containing Conficker"): all 366 B days and 365 A days
reproduced name for name (``tests/test_conficker_dga.py`` keeps a sample).

The generator (per variant: a day seed from the date's Windows FILETIME, then a floating-point PRNG):

    key  = (filetime(date) * vmul mod 2**64) // vdiv + vadd                  (unsigned 64-bit)
    rand = u = (double) key;  p = (double) (key * rmul mod 2**64)
           key = bits of (log(u) + ((p + sin(u)) * u + radd) * u)            (the double's 64 bits)
           return the low 32 bits of key as a signed int

    a name: (rand % 4) + 8 letters (C's signed %: 5..11), each 'a' + |rand| % 26, then a TLD from rand.

It runs on the x87 FPU at Windows' default 53-bit precision, so plain IEEE doubles reproduce it,
with one exception: ``sin`` of a huge argument (u is about 2**62). x87 ``fsin`` reduces its argument
with a 66-bit approximation of pi, not the exact reduction of a C library, so the two disagree in
the first digits. It only matters when p < 2**54 (otherwise sin is lost in p's rounding, about one
call in a thousand), but then it changes the rest of the day: with an exact ``math.sin`` 4 of 2020's
366 B days go astray part-way; with the 66-bit pi all match.
"""

from __future__ import annotations

import argparse
import math
import struct
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

M64 = (1 << 64) - 1
_PI = Fraction("3.14159265358979323846264338327950288419716939937510582097494459")
TWO_PI_66 = 2 * Fraction(round(_PI * 2**64), 2**64)  # pi to 66 significant bits (2 <= pi < 4), as x87 fsin reduces
_EPOCH = date(1601, 1, 1)  # FILETIME counts 100 ns from here
NAMES_PER_DAY = 250


@dataclass(frozen=True)
class Variant:
    name: str
    vmul: int
    vadd: int
    vdiv: int
    rmul: int
    radd: float
    tlds: tuple[str, ...]

    def tld(self, r: int) -> str:
        return self.tlds[(r & 0xFFFFFFFF) % len(self.tlds)]  # B's "& 7" is the same over its 8 TLDs


A = Variant("A", 0x463DA5676, 0xB46A7637, 0x58028E44000, 0x64236735, 0.737565675, ("com", "net", "org", "info", "biz"))
B = Variant("B", 0x352C94565, 0xA3596526, 0x58028E44000, 0x53125624, 0.626454564, ("cc", "cn", "ws", "com", "net", "org", "info", "biz"))
VARIANTS = {"A": A, "B": B}


def x87_sin(x: float) -> float:
    """sin as x87 ``fsin`` computes it: the argument reduced exactly modulo 2*pi66, not 2*pi."""
    return math.sin(float(Fraction(x) % TWO_PI_66))


def _filetime(d: date) -> int:
    return (d - _EPOCH).days * 86_400 * 10_000_000


def _rands(v: Variant, d: date):
    key = ((_filetime(d) * v.vmul & M64) // v.vdiv + v.vadd) & M64
    while True:
        u = float(key)
        p = float(key * v.rmul & M64)
        s = x87_sin(u) if p < 2.0**54 else 0.0  # |sin| < 1 is below half an ulp of p from 2**54 on
        key = struct.unpack("<Q", struct.pack("<d", math.log(u) + ((p + s) * u + v.radd) * u))[0]
        low = key & 0xFFFFFFFF
        yield low - (1 << 32) if low >> 31 else low


def _cmod(a: int, m: int) -> int:
    """C's % on a signed int: the sign of the dividend."""
    r = abs(a) % m
    return -r if a < 0 else r


def names(d: date, variant: Variant = B, n: int = NAMES_PER_DAY) -> list[str]:
    """The first ``n`` names the variant generates for the UTC day ``d``."""
    r = _rands(variant, d)
    out = []
    for _ in range(n):
        length = _cmod(next(r), 4) + 8
        label = "".join(chr(abs(next(r)) % 26 + 97) for _ in range(length))
        out.append(f"{label}.{variant.tld(next(r))}")
    return out


def generated(first: date, last: date, variants: tuple[Variant, ...] = (A, B)) -> dict[str, list[tuple[str, date]]]:
    """Every name the variants generate from ``first`` to ``last`` (inclusive) -> [(variant, day)]."""
    out: dict[str, list[tuple[str, date]]] = {}
    d = first
    while d <= last:
        for v in variants:
            for name in names(d, v):
                out.setdefault(name, []).append((v.name, d))
        d += timedelta(days=1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("date", type=date.fromisoformat)
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="B")
    args = ap.parse_args()
    print("\n".join(names(args.date, VARIANTS[args.variant])))


if __name__ == "__main__":
    main()
