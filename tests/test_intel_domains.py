"""intel.domains: label-boundary suffix matching of DNS names against listed domains."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from trailhound.intel.domains import DomainMatcher, normalise_domain

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def matcher() -> DomainMatcher[str]:
    m: DomainMatcher[str] = DomainMatcher()
    for d, tag in [("evil.com", "A"), ("b.evil.com", "B"), ("Deep.X.Y.example.ORG.", "C"), ("*.wild.example", "D"),
                   (".dot.example", "E"), ("evil.com", "A2")]:
        assert m.add(d, tag)
    return m


@pytest.mark.parametrize("query, tags", [
    ("evil.com", ("A", "A2")),
    ("EVIL.COM.", ("A", "A2")),  # case and the trailing dot of an FQDN do not matter
    ("a.b.c.evil.com", ("A", "A2")),
    ("b.evil.com", ("B", "A", "A2")),  # most specific first
    ("x.b.evil.com.", ("B", "A", "A2")),
    ("notevil.com", ()),  # not on a label boundary
    ("evil.com.attacker.net", ()),  # a prefix is not a suffix
    ("evil.co", ()),
    ("com", ()),
    ("", ()),
    (None, ()),
    ("x.y.example.org", ()),  # parent of a listed name is not listed
    ("deep.x.y.example.org", ("C",)),
    ("a.deep.x.y.example.org", ("C",)),
    ("wild.example", ("D",)),  # "*.wild.example" means wild.example and below
    ("q.wild.example", ("D",)),
    ("q.dot.example", ("E",)),
])
def test_suffix_semantics(matcher: DomainMatcher[str], query: str | None, tags: tuple[str, ...]) -> None:
    assert matcher.lookup(query) == tags
    assert (query in matcher) is bool(tags)


def test_match_names_most_specific_listed_domain(matcher: DomainMatcher[str]) -> None:
    assert matcher.match("x.b.evil.com") == "b.evil.com"
    assert matcher.match("a.evil.com.") == "evil.com"
    assert matcher.match("x.y.example.org") is None
    assert matcher.match("notevil.com") is None
    assert len(matcher) == 5
    assert sorted(matcher) == ["b.evil.com", "deep.x.y.example.org", "dot.example", "evil.com", "wild.example"]


@pytest.mark.parametrize("bad", ["com", "localhost", "300.1.1.1", "1.2.3.4", "ex ample.com", "-a.com", "a-.com", "a..com",
                                 "a.c", "x" * 64 + ".com", ".".join(["a" * 60] * 5), "", "*."])
def test_refuses_what_is_not_a_listable_domain(bad: str) -> None:
    m: DomainMatcher[str] = DomainMatcher()
    assert not m.add(bad, "t")
    assert normalise_domain(bad) is None
    assert len(m) == 0


def test_idn_names_are_punycode() -> None:
    m: DomainMatcher[str] = DomainMatcher()
    assert m.add("bücher.example", "t")
    assert normalise_domain("BÜCHER.example") == "xn--bcher-kva.example"
    assert m.lookup("www.xn--bcher-kva.example") == ("t",)


def test_agrees_with_brute_force_on_real_lists() -> None:
    listed = [ln.strip() for ln in (DATA / "netlab360-dga-examples" / "chinad_examples.txt").read_text().splitlines()]
    top = [ln.strip() for ln in (DATA / "opendns-public-domain-lists" / "opendns-top-domains.txt").read_text().splitlines()]
    listed += top[:2000]  # include popular parents (google.com, akamaihd.net...) to exercise the walk
    m: DomainMatcher[str] = DomainMatcher()
    for d in listed:
        m.add(d, d)
    listed_set = {normalise_domain(d) for d in listed}
    rng = random.Random(3)
    queries = top + [f"{rng.choice(['www', 'a.b', 'cdn-1'])}.{rng.choice(listed)}" for _ in range(3000)]
    queries += [f"x{d}" for d in rng.sample(listed, 500)]  # glued prefix: never on a label boundary
    for q in queries:
        labels = q.lower().rstrip(".").split(".")
        expected = tuple(s for s in (".".join(labels[k:]) for k in range(len(labels) - 1)) if s in listed_set)
        assert m.lookup(q) == expected, q
