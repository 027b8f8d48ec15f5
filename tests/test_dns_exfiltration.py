"""Trojan:EC2/DNSDataExfiltration on real tunnel captures, and what keeps known encoders silent."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from conftest import scan

from trailhound.detectors.dns_exfiltration import (
    DNS_EXFILTRATION,
    DnsExfiltration,
    DnsExfiltrationSlow,
    analyse,
    cases,
    encoded_label,
)
from trailhound.engine import Engine
from trailhound.engine.runner import event_time
from trailhound.events import DnsQuery
from trailhound.findings.model import Occurrence

START = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
CASES = {c.name: c for c in cases(START)}
_decode = msgspec.json.Decoder(DnsQuery).decode


def record(t: datetime, name: str, qtype: str = "A", instance: str = "i-0123456789abcdef0") -> dict[str, Any]:
    return {"version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": "vpc-0a1b2c3d",
            "query_timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": name.rstrip(".") + ".", "query_type": qtype,
            "query_class": "IN", "rcode": "NOERROR", "answers": [], "srcaddr": "10.0.1.17", "srcport": "53124", "transport": "UDP",
            "srcids": {"instance": instance}}


def write_dns(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in records) + "\n").encode()))
    return path


def engine_run(records: list[dict[str, Any]]) -> dict[str, list[Occurrence]]:
    """Each tier alone on its own engine, as the pipeline feeds it (one batch), then to the end of the input."""
    queries = [_decode(json.dumps(r)) for r in records]
    out = {}
    for det in (DnsExfiltration(), DnsExfiltrationSlow()):
        engine = Engine([det], None, lateness=300.0)
        out[det.name] = engine.feed(det, queries) + engine.advance(event_time(queries[-1])) + engine.flush()
    return out


def netrack(shared: Path, tool: str, n: int) -> list[str]:
    with gzip.open(shared / "netrack-dns-tunneling-qnames" / f"{tool}_names.csv.gz", "rt") as fh:
        return [row["qname"] for row in csv.DictReader(fh)][:n]


def test_real_tunnels_fire_each_on_its_instance_and_zone(shared_data: Path, tmp_path: Path) -> None:
    """The first 10 minutes of each netrack tool (4 queries a second, its record type) and the whole Elastic iodine capture."""
    sessions = {"dns2tcp": ("TXT", "hidemyself.org"), "dnscapy": ("TXT", "tunnel.example.org"), "iodine": ("NULL", "hidemyself.org")}
    records = []
    for n, (tool, (qtype, _)) in enumerate(sessions.items()):
        names = netrack(shared_data, tool, 2400)
        records += [record(START + timedelta(seconds=i / 4), name, qtype, f"i-0{tool:0>16}") for i, name in enumerate(names)]
    with gzip.open(shared_data / "dns-tunnel-pcaps" / "iodine_elastic_examples_dns.csv.gz", "rt") as fh:
        pcap = [r for r in csv.DictReader(fh) if r["direction"] == "query"]
    t0 = float(pcap[0]["ts"])
    records += [record(START + timedelta(seconds=float(r["ts"]) - t0), r["qname"], "NULL", "i-0elasticiodine00") for r in pcap]
    records.sort(key=lambda r: r["query_timestamp"])
    report, store = scan([write_dns(tmp_path / "AWSLogs" / "111122223333" / "vpcdnsquerylogs" / "q.log.gz", records)])
    found = {f["resource"]["instanceDetails"]["instanceId"]: f for f in store.findings() if f["type"] == DNS_EXFILTRATION}
    assert set(found) == {f"i-0{tool:0>16}" for tool in sessions} | {"i-0elasticiodine00"}
    for tool, (_, zone) in sessions.items():
        assert found[f"i-0{tool:0>16}"]["service"]["action"]["dnsRequestAction"]["domain"] == zone
    assert found["i-0elasticiodine00"]["service"]["action"]["dnsRequestAction"]["domain"] == "pirate.sea"


def test_the_finding_carries_the_evidence(tmp_path: Path) -> None:
    report, store = scan([write_dns(tmp_path / "AWSLogs" / "q.log.gz", CASES["guardduty-tester-long-labels"].records)])
    (f,) = [f for f in store.findings()]
    assert f["type"] == DNS_EXFILTRATION and f["severity"] == 8.0 and f["service"]["resourceRole"] == "ACTOR"
    assert f["service"]["action"]["dnsRequestAction"] == {"domain": "loganding123test.com", "blocked": False, "protocol": "UDP",
                                                          "domainWithSuffix": "loganding123test.com"}
    info = json.loads(f["service"]["additionalInfo"]["value"])
    assert info["domain"] == "loganding123test.com" and info["queryTypes"] == ["A"]
    assert 850 <= info["queries"] <= 900 and 800 <= info["distinctNames"] <= 950  # 900 names, past the exact bound: a sketch
    assert info["encodedBytes"] > 80_000
    assert info["sampleNames"] and all(n.endswith(".loganding123test.com") for n in info["sampleNames"])
    assert f["resource"]["instanceDetails"]["instanceId"] == "i-0a1b2c3d4e5f60718"


def test_fast_tunnels_are_reported_once_and_the_slow_tier_catches_the_trickle() -> None:
    for name in ("dnscat2-hex-txt", "iodine-base32-null", "dns2tcp-base64-txt", "guardduty-tester-long-labels"):
        got = engine_run(CASES[name].records)
        assert (len(got["dns-exfiltration"]), len(got["dns-exfiltration-slow"])) == (1, 0), name
    slow = engine_run(CASES["slow-and-low-base32"].records)
    assert (len(slow["dns-exfiltration"]), len(slow["dns-exfiltration-slow"])) == (0, 1)
    # the same trickle for 33 minutes instead of 70 (100 names, well under 120 with the sketch's error) is under both tiers
    short = engine_run(CASES["slow-and-low-base32"].records[:100])
    assert short == {"dns-exfiltration": [], "dns-exfiltration-slow": []}


def test_known_encoders_are_silent_because_of_their_zone_not_their_volume() -> None:
    """The antivirus lookups moved under a domain nobody vouches for fire: the zone is what clears them."""
    for name, zone in (("av-mcafee-gti-lookups", ".mcafee.com"), ("av-sophos-live-protection", ".sophosxl.net"),
                       ("av-eset-livegrid", ".e5.sk")):
        moved = [dict(r, query_name=r["query_name"].replace(zone + ".", ".files-cache.net.")) for r in CASES[name].records]
        assert engine_run(CASES[name].records)["dns-exfiltration"] == []
        assert len(engine_run(moved)["dns-exfiltration"]) == 1, name


def test_ordinary_names_never_reach_the_engine() -> None:
    """Only names with encoded-looking labels get a key, so an ordinary estate keeps no state here."""
    t = START
    names = ["ssm.us-east-1.amazonaws.com", "security.ubuntu.com", "api-eu-0042.assets.example-shop.com", "www.google.com",
             "10.1.0.10.in-addr.arpa", "web-7d9f8c6b5d-x2k4p.payments.svc.cluster.local", "d1a2b3c4d5e6f7.cloudfront.net"]
    queries = [_decode(json.dumps(record(t + timedelta(seconds=i), names[i % len(names)]))) for i in range(700)]
    det = DnsExfiltration()
    engine = Engine([det], None, lateness=300.0)
    assert det.candidates(queries) == [] or all(det.key_of(q) is None for q in det.candidates(queries))
    assert engine.feed(det, queries) == [] and not [e for e in engine.states._cache.values() if e is not None]


@pytest.mark.parametrize(("label", "encoded"), [
    ("laegpumiplhhpz12ynd1efljwlkjcgwy", True),  # iodine, base32
    ("q+Z8gXyZCMynSHbiLsHw3WUACtyAPdrKzp0AmdDWFZv9kc7hBgnNhmjhYYsMro2", True),  # dns2tcp, base64
    ("3f2a9c1e4b5d6e7f8a9b0c1d2e3f4a5b", True),  # hex
    ("0ubb0EnPJyobGCgvGSgK36CdGWkyY87aklIyGzJW3GuhS1TzzuqXaSiaPvenqJ", True),  # GuardDuty tester
    ("amazon-ssm-us-east-1", False), ("ip-10-0-1-23", False), ("changelogs", False), ("international", False),
    ("loganding123test", False), ("ec2messages", False), ("CloudFront", False), ("_acme-challenge", False),
])
def test_encoded_label(label: str, encoded: bool) -> None:
    assert encoded_label(label) is encoded


def test_analyse_keys_by_owner_and_counts_only_encoded_labels() -> None:
    assert analyse("7xk2m4q9zj3v8w6n5b1c0d2f4h6j8l0p.t.hidemyself.org.")[:2] == ("hidemyself.org", 32)
    assert analyse("mzxw6ytboi2dsmrtgq3tmnzx.attacker.duckdns.org")[:2] == ("attacker.duckdns.org", 24)  # each customer its own owner
    # names that differ only outside their encoded labels are one payload: a key asked with many addresses carries nothing new
    key = analyse("1.2.0.192.q7v2k9x4m8p3z6w1.r.rbl-example.net")
    assert key is not None and key[2] == analyse("9.8.51.198.q7v2k9x4m8p3z6w1.r.rbl-example.net")[2]
    assert key[2] != analyse("1.2.0.192.z7v2k9x4m8p3z6w1.r.rbl-example.net")[2]
    assert analyse("0." + "a2b4c6d8e0f2" * 4 + ".avts.mcafee.com") is None
    assert analyse("x" * 40 + ".example.com") is None  # long, but no encoding
