"""tools/conficker_dga.py reproduces Conficker A and B names published for known days.

The expected names are from Will-Beninger/ConfickerDGA (conficker.a.txt, conficker.b.txt: 250 names a
day for 2020, produced with the University of Bonn's downatool2), first and last of a day's list."""

from __future__ import annotations

import math
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import conficker_dga as cd  # noqa: E402


def test_a_and_b_reproduce_published_names_for_a_day() -> None:
    b = cd.names(date(2020, 1, 1), cd.B)
    assert len(b) == 250 and len(set(b)) == 250
    assert b[:3] == ["jqfgtmjl.ws", "wytetvzvfb.com", "zrbmw.info"]
    assert b[-3:] == ["ngxhwk.biz", "xutco.org", "wpnpehvp.com"]
    a = cd.names(date(2020, 1, 1), cd.A)
    assert a[:3] == ["fvqcih.net", "nwyoodof.com", "rhrcwu.com"]
    assert a[-3:] == ["tdedxg.org", "lusaaaspbsp.net", "xunvcwdhqo.com"]
    assert {n.rsplit(".", 1)[1] for n in a} <= set(cd.A.tlds) and {n.rsplit(".", 1)[1] for n in b} <= set(cd.B.tlds)
    assert all(5 <= len(n.split(".")[0]) <= 11 for n in a + b)


def test_the_next_day_is_another_list() -> None:
    assert not set(cd.names(date(2020, 1, 2), cd.B)) & set(cd.names(date(2020, 1, 1), cd.B))
    assert cd.names(date(2020, 1, 1), cd.A) != cd.names(date(2020, 1, 1), cd.B)


def test_x87_sine_matters_on_a_day_where_an_exact_sine_goes_astray(monkeypatch) -> None:
    """On 2020-11-16 the B stream needs sin of a huge argument with p < 2**54 early on: the published
    list ends as fsin (66-bit pi) has it; an exact sine diverges after the 42nd name."""
    published_tail = ["lehekqzfw.ws", "tatsif.biz", "ixqsifhj.com", "ytrnwckbj.net"]
    assert cd.names(date(2020, 11, 16), cd.B)[-4:] == published_tail
    monkeypatch.setattr(cd, "x87_sin", math.sin)
    assert cd.names(date(2020, 11, 16), cd.B)[-4:] != published_tail


def test_generated_maps_names_to_variant_and_day() -> None:
    g = cd.generated(date(2020, 1, 1), date(2020, 1, 2))
    assert g["jqfgtmjl.ws"] == [("B", date(2020, 1, 1))] and g["fvqcih.net"] == [("A", date(2020, 1, 1))]
    assert len(g) >= 4 * 250 - 5  # four lists of 250, a collision at most now and then


def test_the_dga_bench_counts_regenerated_names_of_a_benign_list_as_conflicts() -> None:
    """OpenDNS's 2014 top list holds Conficker B names for the days before it was taken: those labels
    are conflicts, with their day; a label the generator does not produce, or produces only outside
    the list's window, stays benign."""
    sys.path.insert(0, str(ROOT / "bench"))
    import quality_dga

    got = quality_dga.label_conflicts("opendns-top", {"fwfsqcux", "bdawooytpv", "google", "zqjjrpx"})
    assert got == {"fwfsqcux": {date(2014, 11, 3)}, "bdawooytpv": {date(2014, 11, 3)}}
    assert quality_dga.label_conflicts("opendns-random", {"konxk"}) == {}  # B's name for 2014-11-10: after the list
