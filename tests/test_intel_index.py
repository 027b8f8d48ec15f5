"""intel.index: IntelIndex lookups (single and batch) against brute force, categories, names."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trailhound.intel.formats import ListLoad, load_list, parse
from trailhound.intel.index import Category, IntelIndex, ThreatHit

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def txt(name: str, body: str) -> ListLoad:
    return parse(body.encode(), name=name)


@pytest.fixture
def index() -> IntelIndex:
    idx = IntelIndex()
    idx.add(txt("bad-hosts", "45.33.32.7\n2a01:4f8::7\nevil.example\n"), Category.MALICIOUS)
    idx.add(txt("bad-nets", "45.33.32.0/24\n45.33.0.0/16\n2a01:4f8::/32\n"), Category.C2)
    idx.add(txt("mine", "203.0.113.5\n10.1.2.3\n10.9.0.0/16\nc.evil.example\n"), Category.CUSTOM)
    return idx


def names(hits: tuple[ThreatHit, ...]) -> list[str]:
    return [h.list_name for h in hits]


def test_exact_and_cidr_hits_from_every_list_in_order(index: IntelIndex) -> None:
    hits = index.ip("45.33.32.7")
    assert hits == (ThreatHit("bad-hosts", Category.MALICIOUS, ()), ThreatHit("bad-nets", Category.C2, ()))
    assert names(index.ip("45.33.32.8")) == ["bad-nets"]  # the /24 and the /16 are one list: one hit
    assert names(index.ip("45.33.7.1")) == ["bad-nets"]  # /16 only
    assert index.ip("45.34.0.1") == ()
    assert names(index.ip("2a01:4f8::7")) == ["bad-hosts", "bad-nets"]
    assert names(index.ip("2A01:4F8:0::7")) == ["bad-hosts", "bad-nets"]  # non-canonical IPv6 text
    assert names(index.ip("2a01:4f8:ffff::1")) == ["bad-nets"]
    assert index.ip("2a01:4f9::1") == ()
    assert names(index.ip("::ffff:45.33.32.7")) == ["bad-hosts", "bad-nets"]  # IPv4-mapped IPv6


@pytest.mark.parametrize("junk", [None, "", "not-an-ip", "198.51.100", "45.33.32.7 ", "045.33.32.7", "45.33.32.07",
                                  "255.090.254.5", "045.33.32.7", "::ffff:zz", "1.2.3.4.5", "45.33.32.300", "45.33.32.-1"])
def test_invalid_input_is_no_hit_not_an_error(index: IntelIndex, junk: str | None) -> None:
    assert index.ip(junk) == ()
    assert index.ips([junk]) == [()]


def test_private_addresses_dropped_except_for_custom_lists(index: IntelIndex) -> None:
    assert names(index.ip("10.1.2.3")) == ["mine"]  # CUSTOM keeps what the operator wrote
    assert names(index.ip("10.9.200.1")) == ["mine"]
    idx = IntelIndex()
    idx.add(txt("level1", "0.0.0.0/8\n10.0.0.0/8\n192.168.0.0/16\n100.64.0.0/10\n198.51.100.0/24\n8.8.8.0/24\n"
                          "127.0.0.1\n1.1.1.1\nfd00::1\n2a00:1450::1\n"), Category.MALICIOUS)
    assert idx.ip("10.1.2.3") == () and idx.ip("192.168.1.1") == () and idx.ip("100.64.0.1") == ()
    assert idx.ip("127.0.0.1") == () and idx.ip("fd00::1") == ()
    assert idx.ip("198.51.100.1") == ()  # documentation range: not globally routable
    assert names(idx.ip("8.8.8.8")) == names(idx.ip("1.1.1.1")) == names(idx.ip("2a00:1450::1")) == ["level1"]
    info = idx.lists()["level1"]
    assert (info.ips, info.dropped_non_public) == (3, 7)
    forced = IntelIndex()
    forced.add(txt("l", "10.0.0.0/8\n"), Category.MALICIOUS, public_only=False)
    assert names(forced.ip("10.2.3.4")) == ["l"]


def test_domains(index: IntelIndex) -> None:
    assert names(index.domain("www.evil.example.")) == ["bad-hosts"]
    assert [(h.list_name, h.category) for h in index.domain("x.c.evil.example")] == [
        ("mine", Category.CUSTOM), ("bad-hosts", Category.MALICIOUS)]
    assert index.domain("notevil.example") == () and index.domain(None) == ()
    assert index.domains(["evil.example", "x.org"]) == [index.domain("evil.example"), ()]


def test_threat_names_default_names_and_ip_category() -> None:
    idx = IntelIndex()
    stix = load_list(DATA / "stix2-json-examples" / "infrastructure.json")
    idx.add(stix, Category.C2, public_only=False)
    (hit,) = idx.ip("198.51.100.3")
    assert hit.list_name == "infrastructure" and hit.category is Category.C2
    assert hit.threat_names[:3] == ("Poison Ivy C2", "command-and-control", "Poison Ivy")
    dga = load_list(DATA / "maltrail-static-trails" / "selected" / "malware_necurs.txt.gz")
    idx.add(dga, Category.DGA, default_names=("necurs",), ip_category=Category.C2)
    dom = next(i.value for i in dga.indicators if i.kind == "domain")
    ip = next(i.value for i in dga.indicators if i.kind == "ip")
    assert idx.domain(dom) == (ThreatHit("malware_necurs", Category.DGA, ("necurs",)),)
    assert idx.ip(ip) == (ThreatHit("malware_necurs", Category.C2, ("necurs",)),)
    assert idx.categories() == {Category.C2, Category.DGA}


def test_adding_after_lookups_rebuilds(index: IntelIndex) -> None:
    assert index.ip("192.0.2.9") == ()
    assert index.ip_mask(["192.0.2.9"])[0].tolist() == [False]
    index.add(txt("late", "192.0.2.0/28\n"), Category.CUSTOM)
    assert names(index.ip("192.0.2.9")) == ["late"]
    assert index.ip_mask(["192.0.2.9"])[0].tolist() == [True]
    assert index.ip_lists() == 4 and index.domain_lists() == 2
    assert index.ip_count() == 9 and index.domain_count() == 2  # 2 + 3 + 3 + 1 addresses and networks


def test_batch_returns_mask_and_hits_of_matched_rows(index: IntelIndex) -> None:
    rows = ["45.33.32.7", None, "192.0.2.1", "2a01:4f8::1", "-", "10.1.2.3", "::ffff:45.33.7.7", "45.33.32.8"]
    mask, hits = index.ip_mask(rows)
    assert mask.tolist() == [True, False, False, True, False, True, True, True]
    assert hits == [index.ip(r) for r in rows if index.ip(r)]
    series_mask, series_hits = index.ip_mask(pl.Series("srcaddr", rows))
    assert series_mask.tolist() == mask.tolist() and series_hits == hits
    assert index.ips(rows) == [index.ip(r) for r in rows]
    empty_mask, empty_hits = index.ip_mask([])
    assert empty_mask.shape == (0,) and empty_hits == []


def _random_index(rng: random.Random) -> tuple[IntelIndex, list[tuple[str, ipaddress._BaseNetwork]]]:
    """Three lists of random public addresses and (overlapping, nested) networks."""
    entries: list[tuple[str, ipaddress._BaseNetwork]] = []
    idx = IntelIndex()
    for name in ("l1", "l2", "l3"):
        lines = []
        for _ in range(400):
            n = rng.randrange(0x0B000000, 0x64000000)  # 11.0.0.0 - 99.255.255.255: public, dense enough to overlap
            plen = rng.choice([32, 32, 32, 24, 20, 16, 12])
            net = ipaddress.IPv4Network((n >> (32 - plen) << (32 - plen), plen))
            lines.append(str(net) if plen < 32 else str(net.network_address))
            entries.append((name, net))
        for _ in range(60):
            net = ipaddress.IPv6Network((0x2A00 << 112 | rng.getrandbits(40) << 72, rng.choice([128, 64, 48])), strict=False)
            lines.append(str(net) if net.prefixlen < 128 else str(net.network_address))
            entries.append((name, net))
        idx.add(parse("\n".join(lines).encode(), name=name), Category.CUSTOM)
    return idx, entries


def test_lookups_agree_with_brute_force() -> None:
    rng = random.Random(11)
    idx, entries = _random_index(rng)
    queries = []
    for _, net in rng.sample(entries, 300):  # inside listed entries, at their edges, and just outside
        first, last = int(net.network_address), int(net.broadcast_address)
        cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        for n in (first, last, (first + last) // 2, first - 1, last + 1):
            queries.append(str(cls(n)))
    queries += [str(ipaddress.IPv4Address(rng.randrange(0x0B000000, 0x64000000))) for _ in range(2000)]

    def expected(q: str) -> list[str]:
        a = ipaddress.ip_address(q)
        return sorted({name for name, net in entries if net.version == a.version and a in net})

    single = [idx.ip(q) for q in queries]
    for q, hits in zip(queries, single):
        assert sorted(h.list_name for h in hits) == expected(q), q
        assert len({h.list_name for h in hits}) == len(hits)  # one hit per list
    mask, hits = idx.ip_mask(queries)
    assert mask.tolist() == [bool(h) for h in single]
    assert hits == [h for h in single if h]
    assert sum(mask) > 500  # the test exercises hits, not just misses


def test_batch_on_a_real_flow_log_column() -> None:
    lines = (DATA / "elastic-integrations-aws-format-samples" / "vpcflow").glob("*")
    addrs = []
    for f in lines:
        for line in f.read_text(errors="replace").splitlines():
            addrs += [tok for tok in line.split() if tok.count(".") == 3 or tok.count(":") >= 2]
    assert len(addrs) > 20
    idx = IntelIndex()
    listed = sorted({a for a in addrs if not a.startswith(("10.", "172.", "192.168."))})[:3] + ["10.0.0.0/8"]
    idx.add(parse("\n".join(listed).encode(), name="flowtest"), Category.CUSTOM)
    mask, hits = idx.ip_mask(addrs)
    assert mask.tolist() == [bool(idx.ip(a)) for a in addrs]
    assert mask.any() and isinstance(mask, np.ndarray) and len(hits) == int(mask.sum())


def test_index_pickles_for_worker_processes(index: IntelIndex) -> None:
    import pickle

    before = [index.ip(q) for q in ("45.33.32.7", "45.33.7.1", "2a01:4f8::9", "10.9.1.1", "8.8.8.8")]
    assert index.ip_mask(["45.33.32.7"])[0].tolist() == [True]  # built tables and closures exist now
    copy = pickle.loads(pickle.dumps(index))
    assert [copy.ip(q) for q in ("45.33.32.7", "45.33.7.1", "2a01:4f8::9", "10.9.1.1", "8.8.8.8")] == before
    assert copy.domain("x.c.evil.example") == index.domain("x.c.evil.example")
    assert copy.ips(["45.33.32.7", "8.8.8.8"]) == [before[0], ()]


def test_freeze_binds_the_lookup_closure(index: IntelIndex) -> None:
    method = index.ip  # before any lookup: the building method
    assert method("45.33.32.7") == index.ip("45.33.32.7")
    frozen = index.freeze()
    assert frozen is index and index.ip is index.ip  # a plain function now, the same object every time
    assert index.ip("45.33.32.7")[0].list_name == "bad-hosts"
    index.add(txt("later", "45.33.99.1\n"), Category.MALICIOUS)
    assert [h.list_name for h in index.ip("45.33.99.1")] == ["bad-nets", "later"]  # the new list is seen
