"""Known-benign infrastructure: packaged lists from the wild stay silent on what every estate talks to
(issue 9's Canonical case), real C&C right next to it still fires, sinkholes stay sinkholes, and an
operator's own list is kept whole but warned about."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import scan

from trailhound.intel import benign
from trailhound.intel.builtin import DATA_DIR, build_index, builtin_index, packaged_manifest, read_tsv
from trailhound.intel.formats import DOMAIN, load_list
from trailhound.intel.index import Category
from trailhound.intel.update import SourceSpec, update
from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import Case, dns_record, flow_row

START = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)
LOCAL = "10.0.1.25"

# What an Ubuntu / CI fleet reaches every day, at its real addresses (several were on maltrail's lists:
# 185.125.190.83 elf_mirai, 151.101.135.221 deimos_c2, 104.16.155.10 supershell_c2, 185.199.110.133).
INFRA = {
    "security.ubuntu.com": ("185.125.190.83", 80), "archive.ubuntu.com": ("91.189.91.83", 80),
    "ntp.ubuntu.com": ("185.125.190.57", 123), "pypi.org": ("151.101.64.223", 443),
    "files.pythonhosted.org": ("151.101.135.221", 443), "production.cloudflare.docker.com": ("104.16.155.10", 443),
    "registry.npmjs.org": ("104.16.24.35", 443), "github.com": ("140.82.112.3", 443),
    "objects.githubusercontent.com": ("185.199.110.133", 443), "deb.debian.org": ("151.101.2.132", 80),
    "time.google.com": ("216.239.35.4", 123), "time.cloudflare.com": ("162.159.200.1", 123),
    "dns.google": ("8.8.8.8", 53), "one.one.one.one": ("1.1.1.1", 53), "dns.quad9.net": ("9.9.9.9", 53),
    "ssm.us-east-1.amazonaws.com": ("52.94.228.178", 443), "d2lzkl7pfhq30w.cloudfront.net": ("18.154.185.115", 443),
    "0.ubuntu.pool.ntp.org": ("", 123), "registry-1.docker.io": ("", 443), "sts.amazonaws.com": ("", 443),
    "123456789012.dkr.ecr.us-east-1.amazonaws.com": ("", 443),
    # a Windows host coming online (13.107.4.52 was on maltrail's cobaltstrike list)
    "www.msftconnecttest.com": ("13.107.4.52", 80), "ipv6.msftconnecttest.com": ("", 80),
}


def _flows_and_dns(pairs: dict[str, tuple[str, int]]) -> list[Case]:
    cases = []
    for i, (name, (ip, port)) in enumerate(sorted(pairs.items())):
        t = START + timedelta(seconds=20 * i)
        cases.append(Case(f"dns-{name}", None, dns_record(t, name, answers=[ip] if ip else None), source="dns"))
        if ip:
            proto = 17 if port in (53, 123) else 6
            cases.append(Case(f"flow-{name}", None, [
                flow_row(t, src=LOCAL, dst=ip, sport=40000 + i, dport=port, protocol=proto, flags=None if proto == 17 else 2),
                flow_row(t, src=ip, dst=LOCAL, sport=port, dport=40000 + i, protocol=proto, flags=None if proto == 17 else 18),
            ], source="flow"))
    return cases


def _listed_c2_outside_benign() -> tuple[str, str]:
    """A packaged C&C address next to the benign ranges (same /8 as Canonical's, or any) and on no benign set."""
    sets = benign.shipped_sets()
    entry = next(e for e in packaged_manifest()["lists"] if e["name"] == "maltrail-c2")
    loads = read_tsv(DATA_DIR / entry["file"], entry["list_name"], Category.C2)
    candidates = [i.value for i in loads[Category.C2].indicators if i.kind == "ip" and ":" not in i.value]
    near = sorted(v for v in candidates if v.startswith("185.125.")) or candidates
    ip = next(v for v in near if sets.ip(v) is None)
    domain = next(i.value for i in loads[Category.C2].indicators if i.kind == DOMAIN and sets.domain(i.value) is None)
    return ip, domain


def test_the_canonical_case_no_longer_raises() -> None:
    index = builtin_index()
    assert index.ip("185.125.190.83") == ()
    c2 = packaged_manifest()["lists"][[e["name"] for e in packaged_manifest()["lists"]].index("maltrail-c2")]
    assert c2["benign_filter"]["removed"]["os-vendor"] >= 1 and "185.125.190.83" in c2["benign_filter"]["examples"]["os-vendor"]
    # and the raw maltrail snapshot does hold it: the test would notice a rebuild that stopped filtering
    import tarfile

    with tarfile.open(Path(__file__).parents[2] / "shared/data/maltrail-static-trails/trails_static.tar.xz", "r:xz") as tar:
        text = tar.extractfile("trails/static/malware/elf_mirai.txt").read().decode()  # type: ignore[union-attr]
    assert "http://185.125.190.83" in text.splitlines()


def test_everyday_infrastructure_raises_nothing_and_listed_c2_still_does(tmp_path: Path) -> None:
    ip, domain = _listed_c2_outside_benign()
    files = write_case_logs(tmp_path / "benign", _flows_and_dns(INFRA))
    report, store = scan(files)
    assert report.events["flow"] >= 30 and report.events["dns"] == len(INFRA)
    assert list(store.findings()) == []
    # near miss paired: the same traffic shape to a listed C&C address / domain outside every benign set fires
    files = write_case_logs(tmp_path / "c2", _flows_and_dns({domain: (ip, 443)}))
    _, store = scan(files)
    types = {f["type"] for f in store.findings()}
    assert {"Backdoor:EC2/C&CActivity.B", "Backdoor:EC2/C&CActivity.B!DNS"} <= types


def test_sinkholes_are_demoted_not_filtered() -> None:
    index = builtin_index()
    hits = index.ip("192.169.69.25")  # maltrail lists it as elf_mirai/njrat C&C; MISP and maltrail know it as a sinkhole
    assert hits and all(h.category is Category.BLACKHOLE for h in hits)
    assert any(h.list_name == "TrailhoundBuiltin:maltrail-c2" for h in hits)  # provenance kept
    sink = next(e for e in packaged_manifest()["lists"] if e["name"] == "maltrail-sinkhole")
    assert sink.get("benign_filter", {}).get("removed", {}) == {}  # the sinkhole list itself is never filtered
    # a sinkhole inside a benign range (MISP lists Cloudflare-fronted sinkholes) is still a sinkhole
    assert benign.shipped_sets().sinkhole("104.21.27.14")


def test_packaged_lists_hold_nothing_on_the_shipped_benign_sets() -> None:
    sets = benign.shipped_sets()
    stray = []
    for e in packaged_manifest()["lists"]:
        default = Category.CUSTOM if e["category"] == "mixed" else Category(e["category"])
        for cat, load in read_tsv(DATA_DIR / e["file"], e["list_name"], default).items():
            if cat in benign.EXEMPT:
                continue
            for value, kind, _ in load.indicators:
                s = sets.domain(value, popular=cat is not Category.CRYPTO) if kind == DOMAIN else sets.cut(value)[1] if "/" in value else sets.ip(value)
                if s is not None:
                    stray.append((e["name"], value, s))
    assert stray == []


def test_filter_is_narrow() -> None:
    sets = benign.shipped_sets()
    # rented compute and bulletproof hosting are not benign, nor are names an attacker can register under a benign one
    for ip in ("3.80.1.1", "172.232.122.178", "45.82.120.100", "149.56.132.95", "185.125.187.254", "91.189.96.1"):
        assert sets.ip(ip) is None, ip
    for name in ("evil.github.io", "bucket.s3.amazonaws.com", "x.s3.us-east-1.amazonaws.com", "ec2-1-2-3-4.compute-1.amazonaws.com",
                 "evil.duckdns.org", "ubuntu.com.evil.ru", "abc.cloudfront.net"):
        assert sets.domain(name) is None, name
    for name, s in (("security.ubuntu.com", "os-vendor"), ("ubuntu.com", "os-vendor"), ("0.ubuntu.pool.ntp.org", "ntp"),
                    ("ssm.eu-west-2.amazonaws.com", "aws-endpoint"), ("amazonaws.com", "aws-endpoint"), ("files.pythonhosted.org", "package-registry"),
                    ("pythonhosted.org", "package-registry"), ("wikipedia.org", "popular-domain")):
        assert sets.domain(name) == s, name
    # a network partly on a benign range keeps the rest
    parts, s = sets.cut("185.125.184.0/21")
    assert s == "os-vendor" and parts == ["185.125.184.0/22"]
    # mining pools are popular because miners use them: not taken off crypto lists by popularity
    assert sets.judge("f2pool.com", DOMAIN, Category.CRYPTO, benign.FilterStats())[0] == ["f2pool.com"]
    assert builtin_index().domain("f2pool.com")


def test_refreshed_lists_are_filtered_when_loaded(tmp_path: Path) -> None:
    src = tmp_path / "feed.txt"
    src.write_text("185.125.190.83\n151.101.0.0/16\n185.125.184.0/21\n192.169.69.25\nsecurity.ubuntu.com\n6.6.6.6\nreal-c2.example-bad.top\n")
    dest = tmp_path / "intel"
    assert update([SourceSpec("feed", str(src), Category.C2, threat_name="feed")], dest).failed == []
    index = build_index(dest)
    assert index.ip("185.125.190.83") == () and index.ip("151.101.1.1") == () and index.domain("security.ubuntu.com") == ()
    assert [h.category for h in index.ip("185.125.185.1")] == [Category.C2]  # the cut network's other half
    assert index.ip("185.125.188.1") == ()
    assert {h.category for h in index.ip("192.169.69.25")} == {Category.BLACKHOLE}
    assert [h.category for h in index.ip("6.6.6.6")] == [Category.C2] and index.domain("real-c2.example-bad.top")
    f = index.benign_filtered["TrailhoundBuiltin:feed"]
    assert f["when"] == "load" and f["removed"] == {"cdn": 1, "os-vendor": 2} and f["cut"] == {"os-vendor": 1}
    assert f["demoted_to_sinkhole"] == 1


def test_operator_list_is_not_filtered_but_warned(tmp_path: Path) -> None:
    lst = tmp_path / "mine.txt"
    lst.write_text("185.125.190.83\n8.8.8.8\nsecurity.ubuntu.com\npypi.org\n6.6.6.6\n")
    files = write_case_logs(tmp_path / "logs", _flows_and_dns({"security.ubuntu.com": ("185.125.190.83", 80)}))
    report, store = scan(files, threat_lists=[lst])
    assert len(report.list_benign) == 1
    line = report.list_benign[0]
    assert line.startswith("mine: 4 entries") and "185.125.190.83 (os-vendor)" in line and line.count("(") == 4  # 3 examples + "..."
    types = {f["type"] for f in store.findings()}
    assert "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom" in types and "Impact:EC2/MaliciousDomainRequest.Custom" in types
    clean = tmp_path / "clean.txt"
    clean.write_text("6.6.6.6\n")
    report, _ = scan(files, threat_lists=[clean])
    assert report.list_benign == []


def test_mining_domains_of_panther_tests_are_listed() -> None:
    index = builtin_index()
    for name in ("moneropool.ru", "abc.abc.moneropool.ru", "webservicepag.webhop.net"):
        assert [h.category for h in index.domain(name)] == [Category.CRYPTO], name
    assert index.domain("webhop.net") == () and index.domain("other.webhop.net") == ()  # the DDNS provider is not listed


def test_shipped_benign_files_are_recorded() -> None:
    info = {b["file"]: b for b in packaged_manifest()["benign"] if b["shipped"]}
    assert set(info) == {benign.TABLE, benign.POPULAR, benign.SINKHOLES}
    import hashlib

    for f, b in info.items():
        assert hashlib.sha256((DATA_DIR / f).read_bytes()).hexdigest() == b["sha256"], f
    assert "CC BY 3.0" in info[benign.POPULAR]["licence"]
    assert "Majestic" in gzip.decompress((DATA_DIR / benign.POPULAR).read_bytes()).decode().splitlines()[0]
    for line in (DATA_DIR / benign.TABLE).read_text().splitlines():  # every entry says where it comes from
        if line and not line.startswith("#"):
            value, set_name, scope, source = line.split("\t")
            assert source.strip() and set_name in benign.REASONS and scope in ("range", "zone", "name"), line


def test_operator_load_untouched(tmp_path: Path) -> None:
    p = tmp_path / "l.txt"
    p.write_text("185.125.190.83\n")
    load = load_list(f"TXT:{p}")
    assert [i.value for i in load.indicators] == ["185.125.190.83"]
    assert benign.shipped_sets().hits(load) == [("185.125.190.83", "os-vendor")]
