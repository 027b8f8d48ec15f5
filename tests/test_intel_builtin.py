"""The packaged intelligence: what it detects, its manifest, licences, and that it rebuilds identically."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path

import pytest

from trailhound.intel import build as build_mod
from trailhound.intel.builtin import DATA_DIR, builtin_index, packaged_manifest, read_tsv
from trailhound.intel.domains import normalise_domain
from trailhound.intel.formats import DOMAIN, load_list
from trailhound.intel.index import Category, IntelIndex

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SELECTED = DATA / "maltrail-static-trails" / "selected"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> IntelIndex:
    return builtin_index(tmp_path_factory.mktemp("no-refresh"))  # an empty refresh dir: packaged data only


def cats(hits) -> list[tuple[str, Category, tuple[str, ...]]]:
    return [(h.list_name.removeprefix("TrailhoundBuiltin:"), h.category, h.threat_names) for h in hits]


def test_loaded_once_per_directory(index: IntelIndex, tmp_path: Path) -> None:
    assert builtin_index(tmp_path) is builtin_index(tmp_path)
    assert len(index) > 100_000 and index.ip_lists() >= 7 and index.domain_count() > 30_000


@pytest.mark.parametrize("name, category", [
    ("guarddutyc2activityb.com", Category.C2),
    ("c2.guarddutyc2activityb.com.", Category.C2),
    ("a8f3kq0zz91.guarddutyc2activityb.com", Category.C2),  # the tester's DNS-exfiltration queries
    ("guarddutydroppointactivity.com", Category.DROP_POINT),
    ("guarddutyblackholeactivity.com", Category.BLACKHOLE),
    ("guarddutyphishingactivity.com", Category.PHISHING),
    ("guarddutydrivebyactivity.com", Category.DRIVE_BY),
    ("GuardDutyDGAActivity.com", Category.DGA),
    ("pool.minergate.com", Category.CRYPTO),
    ("xmr.pool.minergate.com", Category.CRYPTO),
])
def test_guardduty_tester_indicators(index: IntelIndex, name: str, category: Category) -> None:
    hits = index.domain(name)
    tester = [h for h in hits if h.list_name == "TrailhoundBuiltin:amazon-guardduty-tester"]
    assert tester and tester[0].category is category and tester[0].threat_names == ("amazon-guardduty-tester",)


def test_tester_crypto_subdomain_is_crypto_first(index: IntelIndex) -> None:
    hits = index.domain("crypto.guarddutyc2activityb.com")
    assert [h.category for h in hits] == [Category.CRYPTO, Category.C2]
    assert index.domain("guarddutyc2activityb.com.evil.example") == ()
    assert index.domain("notguarddutyc2activityb.com") == ()


def test_tor_exits_and_relays(index: IntelIndex) -> None:
    """The exits are the Tor Project's newest list (2026-08-22; a 2024 exit list names addresses long since
    reassigned); the relays are SecOps' full 2024 list with those exits (an exit is a relay)."""
    exits = load_list(DATA / "firehol-ipsets" / "tor_exits.ipset")
    relays = load_list(DATA / "tor-exit-nodes" / "tor-nodes_2024-02-27.lst.gz")
    assert next(e for e in packaged_manifest()["lists"] if e["name"] == "tor-exit-nodes")["source_date"] == "2026-08-22"
    stale = {i.value for i in load_list(DATA / "tor-exit-nodes" / "tor-exit-nodes_2024-02-27.lst").indicators} - {i.value for i in exits.indicators}
    gone = next(v for v in sorted(stale) if "." in v)
    assert Category.TOR_EXIT not in [h.category for h in index.ip(gone)]  # an exit of 2024 only is no exit now
    exit_ip = exits.indicators[0].value
    assert cats(index.ip(exit_ip))[:2] == [("tor-exit-nodes", Category.TOR_EXIT, ("tor-exit-nodes",)),
                                          ("tor-nodes", Category.TOR_RELAY, ("tor-nodes",))]
    exit_set = {i.value for i in exits.indicators}
    relay_only = next(i.value for i in relays.indicators if i.value not in exit_set and "." in i.value)
    assert [c for _, c, _ in cats(index.ip(relay_only))] == [Category.TOR_RELAY]
    v6 = next(i.value for i in relays.indicators if ":" in i.value)
    assert Category.TOR_RELAY in [h.category for h in index.ip(v6)]
    assert all(index.ip(i.value) for i in exits.indicators)  # every exit of the snapshot is in


def test_maltrail_categories(index: IntelIndex) -> None:
    assert ("maltrail-crypto-mining", Category.CRYPTO, ("crypto_mining",)) in cats(index.domain("pool.minexmr.com"))
    assert cats(index.ip("45.32.233.191")) == [("maltrail-crypto-mining", Category.CRYPTO, ("crypto_mining",))]  # from ip:3333
    assert cats(index.ip("5.63.151.77")) == [("maltrail-mass-scanner", Category.SCANNER, ("mass_scanner_cidr",))]
    assert cats(index.ip("74.208.64.145")) == [("maltrail-sinkhole", Category.BLACKHOLE, ("sinkhole_shadowserver",))]
    assert cats(index.domain("sinkhole-00.shadowserver.org")) == [("maltrail-sinkhole", Category.BLACKHOLE, ("sinkhole_shadowserver",))]
    assert ("maltrail-c2", Category.C2, ("njrat",)) in cats(index.domain("online2018.duckdns.org"))
    assert index.domain("duckdns.org") == ()  # the dynamic-DNS parent of a C2 name is not itself listed


def test_dga_families_domains_as_dga_and_their_ips_as_c2(index: IntelIndex) -> None:
    necurs = load_list(SELECTED / "malware_necurs.txt.gz")
    dom = next(i.value for i in necurs.indicators if i.kind == DOMAIN)
    ip = next(i.value for i in necurs.indicators if i.kind != DOMAIN)
    assert ("maltrail-dga", Category.DGA, ("necurs",)) in cats(index.domain(dom))
    assert ("maltrail-dga", Category.C2, ("necurs",)) in cats(index.ip(ip))
    for family in build_mod.DGA_FAMILIES:  # every family's domains are in
        load = load_list(SELECTED / f"malware_{family}.txt.gz")
        missing = [i.value for i in load.indicators if i.kind == DOMAIN and not any(
            h.category is Category.DGA and family in h.threat_names for h in index.domain(i.value))]
        assert missing == [], family


def test_no_false_positives_on_popular_domains(index: IntelIndex) -> None:
    top = (DATA / "opendns-public-domain-lists" / "opendns-top-domains.txt").read_text().split()
    flagged = [d for d in top if index.domain(d)]
    assert len(flagged) <= 3, flagged  # 10,000 most-queried names (2014): at most a stray stale entry


def test_manifest_matches_files() -> None:
    manifest = packaged_manifest()
    assert {e["name"] for e in manifest["lists"]} == {
        "tor-exit-nodes", "tor-nodes", "maltrail-crypto-mining", "maltrail-c2", "maltrail-dga", "maltrail-sinkhole",
        "maltrail-mass-scanner", "maltrail-phishing", "amazon-guardduty-tester", "mining-pools"}
    total = 0
    for e in manifest["lists"]:
        blob = (DATA_DIR / e["file"]).read_bytes()
        total += len(blob)
        assert hashlib.sha256(blob).hexdigest() == e["sha256"] and len(blob) == e["bytes"], e["name"]
        assert e["list_name"] == f"TrailhoundBuiltin:{e['name']}"
        if e["licence_file"]:
            text = (DATA_DIR / e["licence_file"]).read_text()
            assert (e["licence"], e["licence"] == "MIT" and "MIT License" in text or e["licence"] == "CC0-1.0" and "CC0" in text) == (e["licence"], True)
        default = Category.CUSTOM if e["category"] == "mixed" else Category(e["category"])
        loads = read_tsv(DATA_DIR / e["file"], e["list_name"], default)
        assert sum(ld.entries for ld in loads.values()) == e["entries"], e["name"]
        assert sum(ld.domains for ld in loads.values()) == e["domains"], e["name"]
        if e["members"]:
            assert sum(m["entries"] for m in e["members"]) >= e["entries"]  # families overlap, never lose entries
    assert total == manifest["total_bytes"] < 3_000_000
    refused = " ".join(r["source"] for r in manifest["refused"])
    assert "ipsum" in refused and "FireHOL" in refused


def test_packaged_values_are_canonical_and_public() -> None:
    for e in packaged_manifest()["lists"]:
        default = Category.CUSTOM if e["category"] == "mixed" else Category(e["category"])
        for load in read_tsv(DATA_DIR / e["file"], e["list_name"], default).values():
            for value, kind, names in load.indicators:
                assert names, value
                if kind == DOMAIN:
                    assert normalise_domain(value) == value
                else:
                    net = ipaddress.ip_network(value)
                    assert net.is_global, value
                    assert value == (str(net) if net.num_addresses > 1 else str(net.network_address))


def test_rebuild_from_shared_data_is_byte_identical(tmp_path: Path) -> None:
    for hand in ("amazon-guardduty-tester.tsv", "mining-pools.tsv", "benign-infrastructure.tsv"):  # hand-written inputs
        (tmp_path / hand).write_bytes((DATA_DIR / hand).read_bytes())
    rebuilt = build_mod.build(DATA, tmp_path, built=packaged_manifest()["built"])
    for e in rebuilt["lists"]:
        assert (tmp_path / e["file"]).read_bytes() == (DATA_DIR / e["file"]).read_bytes(), e["name"]
    for f in ("popular-domains.txt.gz", "known-sinkholes.tsv.gz", "dynamic-dns.txt.gz"):  # the benign and reputation sets the build writes
        assert (tmp_path / f).read_bytes() == (DATA_DIR / f).read_bytes(), f
    assert json.loads((tmp_path / "manifest.json").read_text()) == packaged_manifest()
    c2 = next(e for e in rebuilt["lists"] if e["name"] == "maltrail-c2")
    families = {m["threat_name"] for m in c2["members"]}
    assert {"sliver", "metasploit", "cobaltstrike", "elf_mirai", "njrat"} <= families
    assert not any("miner" in f for f in families)  # miners went to the crypto list
