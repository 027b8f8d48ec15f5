"""Domain reputation (Impact:EC2/*DomainRequest.Reputation): signals, precision on top lists, the finding's reasons."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from trailhound.detectors.domain_reputation import ABUSED, BITCOIN, MALICIOUS, SUSPICIOUS, DomainReputation, verdict
from trailhound.enrich.reputation import ABUSED as ABUSED_TABLE
from trailhound.enrich.reputation import DATA_DIR, DYNAMIC_DNS, Reputation, mining_token
from trailhound.events import DnsQuery
from trailhound.intel.builtin import builtin_index, packaged_manifest
from trailhound.intel.index import Category

TOP_LISTS = ("tranco10k", "cisco_top10k", "cloudflare-top10k", "majestic_million")
NEW = [("newlySeen", 0.15, None)]


@pytest.fixture(scope="module")
def rep() -> Reputation:
    return Reputation(builtin_index())


def _top(shared: Path) -> dict[str, set[str]]:
    out = {}
    for name in TOP_LISTS:
        entries = json.loads((shared / "misp-warninglists" / "lists" / name / "list.json").read_text())["list"]
        out[name] = {e.strip().strip(".").lower() for e in entries if "." in e}
    return out


def test_nothing_on_a_top_10k_list_fires(rep: Reputation, shared_data: Path) -> None:
    """Every name of four top-10k lists (three never shipped), newly seen and answered: no type."""
    fired = {}
    for name, names in _top(shared_data).items():
        for n in names:
            facts = rep.facts(n)
            if facts is not None and verdict(facts, NEW)[0] is not None:
                fired[n] = name
    assert fired == {}


def test_abused_service_names_are_not_top_names(shared_data: Path) -> None:
    tops = set().union(*_top(shared_data).values())
    for line in (DATA_DIR / ABUSED_TABLE).read_text().splitlines():
        if line and not line.startswith("#"):
            zone, kind, scope, source = line.split("\t")
            assert kind in ("tunnel", "paste", "free-hosting") and scope in ("below", "self") and source.strip(), line
            if scope == "self":
                assert zone not in tops, zone  # the service's own name would fire


def test_dynamic_dns_zones_are_packaged_with_their_source() -> None:
    entry = next(e for e in packaged_manifest()["reputation"] if e["file"] == DYNAMIC_DNS)
    blob = (DATA_DIR / DYNAMIC_DNS).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"] and entry["entries"] > 30_000
    assert "CC0" in entry["licence"] and "Unlicense" in entry["licence"]
    first = gzip.decompress(blob).decode().splitlines()[0]
    assert "MISP" in first and "dyn-dns-list" in first


@pytest.mark.parametrize(("name", "owner", "signal"), [
    ("evil.duckdns.org", "evil.duckdns.org", "dynamicDns"),
    ("a.b.x7kq2vz9pw4m.ddns.net", "x7kq2vz9pw4m.ddns.net", "dynamicDns"),
    ("plates-arrival-hungry-expo.trycloudflare.com", "plates-arrival-hungry-expo.trycloudflare.com", "tunnel"),
    ("temp.sh", "temp.sh", "paste"),
    ("xmr-eu1.hashpool-unlisted.net", "hashpool-unlisted.net", "miningStrong"),
    ("qwkzxjvbnrtyp.com", "qwkzxjvbnrtyp.com", "lexicalHigh"),
    ("www.cleverpondky.com", "cleverpondky.com", "listedUnderSameDomain"),  # rippled.cleverpondky.com is listed
])
def test_signals(rep: Reputation, name: str, owner: str, signal: str) -> None:
    facts = rep.facts(name)
    assert facts is not None and facts.owner == owner and facts.has(signal), facts


@pytest.mark.parametrize("name", [
    "duckdns.org", "www.wikipedia.org", "d1x9k2pq7zv3lm.cloudfront.net", "ip-10-0-1-17.ec2.internal", "wpad", "10.0.0.1",
    "17.2.0.10.in-addr.arpa", "rippled.cleverpondky.com",  # listed: C&C / mining types fire instead
    "security.ubuntu.com", "bucket-1234.s3.amazonaws.com",
])
def test_never_judged(name: str) -> None:
    assert DomainReputation(builtin_index())._facts(name) is None  # provider-answered zones (cloudfront.net) are the detector's to skip


def test_mining_vocabulary() -> None:
    words = frozenset({"support", "ocean"})
    assert mining_token(["supportxmr"], words) == ("miningStrong", "xmr")
    assert mining_token(["gulf", "moneroocean"], words) == ("miningStrong", "monero")
    assert mining_token(["xmrpool"], words) == ("miningStrong", "xmr")
    assert mining_token(["eth", "pool", "example"]) == ("miningWeak", "pool+eth")
    assert mining_token(["btcmine"]) == ("miningWeak", "btcmine")
    for labels in (["sdxexmr"], ["liverpool"], ["www", "poolcorp"], ["mining", "example"], ["xk3mrq9zt7xmrpq2vv8c9d4"], ["method", "pool"]):
        assert mining_token(labels, words) is None, labels


def test_bands() -> None:
    rep = Reputation(None)
    ddns_random = rep.facts("x7kq2vz9pw4m.duckdns.org")
    assert verdict(ddns_random, [])[0] == ABUSED  # lexical + dynamic DNS
    assert verdict(rep.facts("myhomelab.duckdns.org"), NEW)[0] is None  # dynamic DNS and new: not enough
    nx = [("nxdomainHistory", 0.25, {}), *NEW]
    assert verdict(ddns_random, nx)[0] == MALICIOUS  # four signals
    generated = rep.facts("vkq3x9zt1mwp7rj.net")
    assert verdict(generated, nx)[0] is None  # one generated name answered NXDOMAIN once: DGADomainRequest.B's, in a burst
    assert verdict(generated, [("nxdomainHistoryRepeated", 0.4, {}), *NEW])[0] == SUSPICIOUS
    assert verdict(rep.facts("xmr.somepool.net"), [])[0] == BITCOIN


def _q(name: str, t: datetime, rcode: str = "NOERROR", instance: str = "i-0123456789abcdef0") -> DnsQuery:
    return msgspec.convert({"query_timestamp": t.isoformat(), "query_name": name + ".", "rcode": rcode, "account_id": "111122223333",
                            "region": "us-east-1", "srcaddr": "10.0.0.5", "srcids": {"instance": instance}}, DnsQuery)


def test_finding_names_its_signals_and_is_throttled() -> None:
    det = DomainReputation(builtin_index())
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    rows = [_q("x7kq2vz9pw4m.duckdns.org", t0 + timedelta(minutes=m)) for m in (0, 5, 30, 70)]
    rows = list(det.candidates(rows))
    assert len(rows) == 4 and {det.key_of(q) for q in rows} == {"x7kq2vz9pw4m.duckdns.org"}
    out, state = det.update("x7kq2vz9pw4m.duckdns.org", rows, None, 0.0)
    assert [o.type for o in out] == [ABUSED, ABUSED]  # once an hour per (owner, instance)
    info = out[0].additional_info
    signals = {s["signal"]: s for s in info["signals"]}
    assert set(signals) == {"lexicalHigh", "dynamicDns", "newlySeen"} and signals["dynamicDns"]["value"] == "duckdns.org"
    assert info["reputationDomain"] == "x7kq2vz9pw4m.duckdns.org" and 0.55 <= info["reputationScore"] <= 1
    assert info["lexical"]["length"] == 12 and "entropy" in info["lexical"]
    # estate history: NXDOMAIN for another name under the owner, from another instance, a day later
    later = t0 + timedelta(days=2)
    out, state = det.update("x7kq2vz9pw4m.duckdns.org", [_q("x7kq2vz9pw4m.duckdns.org", later, "NXDOMAIN", "i-0fedcba9876543210")], state, 0.0)
    assert state.nx == 1 and [o.type for o in out] == [MALICIOUS]  # not new any more; NXDOMAIN once: three signals, 0.76
    assert {s["signal"] for s in out[0].additional_info["signals"]} == {"lexicalHigh", "dynamicDns", "nxdomainHistory"}


def test_classifier_runs_once_per_distinct_name(monkeypatch: pytest.MonkeyPatch) -> None:
    det = DomainReputation(builtin_index(), reputation=Reputation(builtin_index()))
    calls: list[str] = []
    judge = det.reputation._judge
    monkeypatch.setattr(det.reputation, "_judge", lambda host: calls.append(host) or judge(host))
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    names = ["x7kq2vz9pw4m.duckdns.org", "www.wikipedia.org", "qwkzxjvbnrtyp.com"]
    batch = [_q(names[i % 3], t0 + timedelta(seconds=i)) for i in range(300)]
    for _ in range(3):
        kept = det.candidates(batch)
    assert sorted(calls) == sorted(names) and len(kept) == 200


def test_tester_names_raise_their_types_only_here() -> None:
    det = DomainReputation(builtin_index())
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for prefix, ftype in (("abused", ABUSED), ("crypto", BITCOIN), ("malicious", MALICIOUS), ("suspicious", SUSPICIOUS)):
        q = _q(f"{prefix}-rep.guarddutyc2activityb.com", t0)
        out, _ = det.update(det.key_of(q), [q], None, 0.0)
        assert [o.type for o in out] == [ftype]


def test_every_curated_mining_pool_matches_as_crypto() -> None:
    index = builtin_index()
    for line in (DATA_DIR / "mining-pools.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            name, threat, _ = line.split("\t")
            for q in (name, f"stratum.{name}", f"abc.abc.{name}."):
                hits = index.domain(q)
                assert [h.category for h in hits] == [Category.CRYPTO] and threat in hits[0].threat_names, q
