"""intel.formats: every GuardDuty list format, on real public samples and hand-written ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from trailhound.intel.formats import DOMAIN, IP, NET, classify, list_name, load_list, parse, sniff, split_spec
from trailhound.intel.index import Category, IntelIndex

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STIX2 = DATA / "stix2-json-examples"
MALTRAIL = DATA / "maltrail-static-trails" / "selected"


def values(load) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {i.value: (i.kind, i.names) for i in load.indicators}


# -- single tokens ----------------------------------------------------------------------------

@pytest.mark.parametrize("token, expected", [
    ("198.51.100.7", (IP, "198.51.100.7")),
    ("198.51.100.0/24", (NET, "198.51.100.0/24")),
    ("198.51.100.9/24", (NET, "198.51.100.0/24")),  # host bits set: the network is meant
    ("198.51.100.9/32", (IP, "198.51.100.9")),
    ("2001:DB8:0:0::1", (IP, "2001:db8::1")),
    ("2001:db8::/32", (NET, "2001:db8::/32")),
    ("[2001:db8::5]:443", (IP, "2001:db8::5")),
    ("::ffff:198.51.100.7", (IP, "198.51.100.7")),  # IPv4-mapped: the IPv4 address
    ("Evil.Example.COM.", (DOMAIN, "evil.example.com")),
    ("*.evil.example", (DOMAIN, "evil.example")),
    ("пример.рф", (DOMAIN, "xn--e1afmkfd.xn--p1ai")),
    ("95.129.236.208:443", (IP, "95.129.236.208")),  # maltrail ip:port
    ("213.165.60.118:22:443", (IP, "213.165.60.118")),  # maltrail ip:port:port
    ("evil.example:8080", (DOMAIN, "evil.example")),
    ("http://147.78.103.91", (IP, "147.78.103.91")),
    ("https://user@Bad.Example:8443/x.php?a=1", (DOMAIN, "bad.example")),
    ("limitededitionphotos.nl/wp-includes/ID3/jre.zip", (DOMAIN, "limitededitionphotos.nl")),
    ("1.2.3.4/wp-admin/", (IP, "1.2.3.4")),
    ("dl.bad.example/123", (DOMAIN, "dl.bad.example")),  # host with a numeric path, not a CIDR
])
def test_classify_hosts(token: str, expected: tuple[str, str]) -> None:
    assert classify(token) == expected


@pytest.mark.parametrize("token, kind", [
    ("/admin/boot/dll/list.php", "skip"),  # URL path: no host
    ("http:///nohost", "skip"),
    ("300.1.1.1", "bad"),
    ("182.86.133:8880", "bad"),  # a truncated IP with a port is not a domain either
    ("1.2.3", "bad"),
    ("010.1.2.3", "bad"),  # leading zeros are ambiguous (octal?): refused
    ("localhost", "bad"),  # single label
    ("com", "bad"),
    ("(gomon|perevod)[0-9]{2,3}\\.ru", "bad"),  # maltrail regex trail
    ("10.0.0.0/33", "bad"),
    ("evil..com", "bad"),
    ("-evil.com", "bad"),
])
def test_classify_refuses_non_hosts(token: str, kind: str) -> None:
    assert classify(token)[0] == kind


# -- TXT --------------------------------------------------------------------------------------

def test_txt_mixed_list_with_bad_lines(tmp_path: Path) -> None:
    f = tmp_path / "mixed.txt"
    f.write_text(
        "# header comment\n"
        "198.51.100.7\n"
        "  203.0.113.0/25   # inline comment\n"
        "evil.example\n"
        "0.0.0.0 ads.example   # hosts-file line\n"
        "not a host at all!\n"
        "2001:db8::/48\n"
        "/just/a/path.php\n"
        "192.0.2.1,listed in 2024\n"
        "999.1.1.1\n"
        "; semicolon comment\n"
        "\n"
    )
    load = load_list(f)
    assert load.name == "mixed" and load.format == "TXT"
    assert values(load) == {
        "198.51.100.7": (IP, ()), "203.0.113.0/25": (NET, ()), "evil.example": (DOMAIN, ()),
        "ads.example": (DOMAIN, ()), "2001:db8::/48": (NET, ()), "192.0.2.1": (IP, ()),
    }
    assert (load.entries, load.ips, load.networks, load.domains) == (6, 2, 2, 2)
    assert [(p.line, p.message) for p in load.problems] == [
        (6, "'not' is not an IP address, CIDR or domain"),
        (8, "'/just/a/path.php' is a URL path without a host: skipped"),
        (10, "'999.1.1.1' is not an IP address, CIDR or domain"),
    ]
    assert load.skipped == 1 and load.problem_count == 3
    assert str(load.problems[0]) == f"{f}:6: 'not' is not an IP address, CIDR or domain"


def test_hosts_file_block_list(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    f.write_text("127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n255.255.255.255 broadcasthost\n"
                 "0.0.0.0 tracker.bad.example\n127.0.0.1 ads.bad.example # ad server\n0.0.0.0 bad_name!\n")
    load = load_list(f)
    assert values(load) == {"tracker.bad.example": (DOMAIN, ()), "ads.bad.example": (DOMAIN, ())}
    assert [p.line for p in load.problems] == [6]


def test_txt_duplicates_are_one_entry(tmp_path: Path) -> None:
    f = tmp_path / "dups.txt"
    f.write_text("198.51.100.7\n198.51.100.7\nEVIL.example\nevil.example.\n")
    assert load_list(f).entries == 2


def test_problem_list_is_capped_but_counted(tmp_path: Path) -> None:
    f = tmp_path / "junk.txt"
    f.write_text("".join(f"junk{i}\n" for i in range(1500)) + "198.51.100.1\n")
    load = load_list(f)
    assert load.entries == 1
    assert load.problem_count == 1500
    assert len(load.problems) == 1001
    assert load.problems[-1].message == "500 more problems not listed"


def test_ipsum_real_feed() -> None:
    load = load_list(DATA / "ipsum" / "ipsum.txt.gz")  # "ip<TAB>count", 120k lines, gzipped
    assert load.name == "ipsum" and load.format == "TXT"
    assert load.entries == load.ips > 100_000
    assert load.problem_count == 0
    assert "77.90.185.20" in values(load)  # first data line, count 10


def test_firehol_sets_plain_and_gzipped() -> None:
    level1 = load_list(DATA / "firehol-ipsets" / "firehol_level1.netset.gz")
    assert level1.name == "firehol_level1"
    assert level1.networks > 4000 and level1.problem_count == 0
    assert values(level1)["1.10.16.0/20"] == (NET, ())
    et = load_list(DATA / "firehol-ipsets" / "et_block.netset")
    assert et.entries > 1500 and et.networks > et.ips and et.problem_count == 0
    bitcoin = load_list(DATA / "firehol-ipsets" / "bitcoin_nodes.ipset.gz")
    assert bitcoin.ips > 7000 and bitcoin.problem_count == 0


def test_tor_lists() -> None:
    exits = load_list(DATA / "tor-exit-nodes" / "tor-exit-nodes_2024-02-27.lst")
    assert exits.ips == exits.entries > 1500 and exits.problem_count == 0
    relays = load_list(DATA / "tor-exit-nodes" / "tor-nodes_2024-02-27.lst.gz")
    v6 = [i.value for i in relays.indicators if ":" in i.value]
    assert len(v6) > 1000 and relays.problem_count == 0
    assert "2605:6400:30:f174:42:42:42:42" in v6  # written 2605:6400:0030:f174:0042:... upstream, canonicalised


def test_maltrail_trails_keep_hosts_and_count_paths() -> None:
    miner = load_list(MALTRAIL / "malware_generic_miner.txt.gz")  # ip:port, domains, URL paths
    v = values(miner)
    assert v["154.48.241.199"] == (IP, ())  # from "154.48.241.199:15912"
    assert miner.domains > 300 and miner.ips > 200
    assert miner.skipped > 0 and miner.skipped == sum("URL path without a host" in p.message for p in miner.problems)
    assert all(p.line for p in miner.problems)
    crypto = load_list(MALTRAIL / "suspicious_crypto_mining.txt.gz")
    assert values(crypto)["pool.minergate.com"] == (DOMAIN, ())
    assert crypto.problem_count == 0
    scanners = load_list(MALTRAIL / "mass_scanner.txt.gz")  # "ip # reverse name" lines, and three upstream typos
    assert scanners.ips > 18_000
    bad = [p for p in scanners.problems if "not an IP" in p.message]
    assert [p.message for p in bad] == [f"'{x}' is not an IP address, CIDR or domain"
                                       for x in ("C91.196.152.28", "C91.196.152.38", "C91.230.168.27")]
    cidr = load_list(MALTRAIL / "mass_scanner_cidr.txt.gz")
    assert values(cidr)["5.63.151.0/24"] == (NET, ())


def test_plain_domain_lists() -> None:
    top = load_list(DATA / "opendns-public-domain-lists" / "opendns-top-domains.txt")
    assert top.domains == top.entries == 10_000 and top.problem_count == 0
    vidro = load_list(DATA / "netlab360-dga-examples" / "vidro_examples.txt")
    assert vidro.domains == 100
    assert [(p.line, "not an IP" in p.message) for p in vidro.problems] == [(1, True)]  # the "$ python dga.py" line


# -- STIX 2 -----------------------------------------------------------------------------------

def test_stix2_oasis_examples() -> None:
    c2 = load_list(STIX2 / "indicator-for-c2-ip-address.json")
    assert c2.format == "STIX"
    assert values(c2) == {"10.0.0.0": (IP, ("IP Address for known C2 channel", "malicious-activity"))}
    campaign = load_list(STIX2 / "indicator-to-campaign-relationship.json")  # "[ ipv4-addr:value = ... ]", indicates a campaign
    assert values(campaign) == {"10.0.0.0": (IP, ("test_name", "malicious-activity", "Operation Omega"))}
    coa = load_list(STIX2 / "indicators-for-C2-with-COA.json")  # an IP indicator and a file-hash one
    assert values(coa)["10.0.0.0"][1] == ("IP Address for known C2 channel", "malicious-activity", "Poison Ivy",
                                         "remote-access-trojan")  # the malware it indicates, and its type
    assert coa.entries == 1 and coa.skipped == 1 and coa.problems[0].record == 3
    infra = load_list(STIX2 / "infrastructure.json")  # SCOs that make up an infrastructure
    assert values(infra) == {
        "198.51.100.3": (IP, ("Poison Ivy C2", "command-and-control", "Poison Ivy", "remote-access-trojan", "rat")),
        "example.com": (DOMAIN, ("Example target-list-hosting", "hosting-target-lists", "target-list-hosting", "IMDDOS", "bot")),
    }
    email = load_list(STIX2 / "malicious-email-indicator-with-attachment.json")
    assert email.entries == 0 and email.skipped == 2 and not email.fatal
    assert load_list(STIX2 / "interop-objectmarking-test.json").entries == 0


def test_stix2_patterns(tmp_path: Path) -> None:
    f = tmp_path / "feed.json"
    f.write_text("""{"type": "bundle", "id": "bundle--1", "objects": [
      {"type": "indicator", "id": "indicator--1", "name": "Emotet C2", "indicator_types": ["malicious-activity"],
       "pattern": "[ipv4-addr:value = '198.51.100.1' OR ipv4-addr:value = '198.51.100.2']", "pattern_type": "stix"},
      {"type": "indicator", "id": "indicator--2", "labels": ["phishing"],
       "pattern": "[domain-name:value IN ('login-bank.example', 'Secure-Bank.example')]"},
      {"type": "indicator", "id": "indicator--3", "pattern": "[url:value = 'http://dl.bad.example:8080/a\\\\'b.exe']"},
      {"type": "indicator", "id": "indicator--4", "pattern": "[ipv6-addr:value ISSUBSET '2001:db8:bad::/48']"},
      {"type": "indicator", "id": "indicator--5", "pattern": "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.9']"},
      {"type": "indicator", "id": "indicator--6", "pattern": "[domain-name:value LIKE '%.bad.example']"},
      {"type": "indicator", "id": "indicator--7", "pattern": "[ipv4-addr:value NOT = '192.0.2.1']"},
      {"type": "indicator", "id": "indicator--8", "revoked": true, "pattern": "[ipv4-addr:value = '192.0.2.2']"},
      {"type": "indicator", "id": "indicator--9", "pattern_type": "snort", "pattern": "alert tcp any any -> 192.0.2.3 any"},
      {"type": "indicator", "id": "indicator--10", "pattern": "[ipv4-addr:value = '999.0.0.1']"},
      {"type": "indicator", "id": "indicator--11"},
      {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "192.0.2.200/30"},
      {"type": "domain-name", "id": "domain-name--1", "value": "sco.bad.example"},
      {"type": "malware", "id": "malware--1", "name": "Emotet", "is_family": true},
      {"type": "relationship", "id": "relationship--1", "relationship_type": "indicates",
       "source_ref": "indicator--1", "target_ref": "malware--1"},
      "not an object"
    ]}""")
    load = load_list(f)
    assert values(load) == {
        "198.51.100.1": (IP, ("Emotet C2", "malicious-activity", "Emotet")),
        "198.51.100.2": (IP, ("Emotet C2", "malicious-activity", "Emotet")),
        "login-bank.example": (DOMAIN, ("phishing",)),
        "secure-bank.example": (DOMAIN, ("phishing",)),
        "dl.bad.example": (DOMAIN, ()),
        "2001:db8:bad::/48": (NET, ()),
        "203.0.113.9": (IP, ()),
        "192.0.2.200/30": (NET, ()),
        "sco.bad.example": (DOMAIN, ()),
    }
    by_record = {p.record: p.message for p in load.problems}
    assert set(by_record) == {5, 6, 8, 9, 10, 15}
    assert "only inexact host comparisons" in by_record[5] and "only inexact" in by_record[6]
    assert "pattern_type 'snort'" in by_record[8]
    assert "'999.0.0.1' is not an IP address" in by_record[9]
    assert by_record[10] == "indicator without a 'pattern' string"
    assert by_record[15] == "not a STIX object (no 'type')"
    assert load.skipped == 4  # two inexact, the snort pattern, the revoked indicator


def test_stix2_single_object_list_and_bad_json(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{"type": "indicator", "pattern": "[domain-name:value = \'x.bad.example\']"}')
    assert values(load_list(one)) == {"x.bad.example": (DOMAIN, ())}
    many = tmp_path / "many.json"
    many.write_text('[{"type": "ipv4-addr", "value": "192.0.2.5"}]')
    assert values(load_list(many)) == {"192.0.2.5": (IP, ())}
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "bundle", "objects": [')
    load = load_list(broken)
    assert load.fatal and load.entries == 0 and load.problems[0].message.startswith("not STIX 2 JSON")


# -- STIX 1.x XML -----------------------------------------------------------------------------

STIX1 = """<?xml version="1.0" encoding="UTF-8"?>
<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" xmlns:indicator="http://stix.mitre.org/Indicator-2"
    xmlns:cybox="http://cybox.mitre.org/cybox-2" xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2"
    xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" xmlns:URIObj="http://cybox.mitre.org/objects#URIObject-2"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:example="http://example.com" id="example:Package-1" version="1.2">
  <stix:Observables cybox_major_version="2" cybox_minor_version="1">
    <cybox:Observable id="example:Observable-ref">
      <cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN">
        <DomainNameObj:Value condition="Equals">Referenced.Bad.Example</DomainNameObj:Value>
      </cybox:Properties></cybox:Object>
    </cybox:Observable>
    <cybox:Observable id="example:Observable-loose">
      <cybox:Object><cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr">
        <AddressObj:Address_Value>192.0.2.44</AddressObj:Address_Value>
      </cybox:Properties></cybox:Object>
    </cybox:Observable>
  </stix:Observables>
  <stix:Indicators>
    <stix:Indicator xsi:type="indicator:IndicatorType" id="example:Indicator-1">
      <indicator:Title>Zeus C2 watchlist</indicator:Title>
      <indicator:Type>IP Watchlist</indicator:Type>
      <indicator:Observable id="example:Observable-1">
        <cybox:Object><cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr">
          <AddressObj:Address_Value condition="Equals" apply_condition="ANY">198.51.100.10##comma##198.51.100.11##comma##bogus!</AddressObj:Address_Value>
        </cybox:Properties></cybox:Object>
      </indicator:Observable>
    </stix:Indicator>
    <stix:Indicator xsi:type="indicator:IndicatorType" id="example:Indicator-2">
      <indicator:Title>Phishing landing</indicator:Title>
      <indicator:Observable idref="example:Observable-ref"/>
    </stix:Indicator>
    <stix:Indicator xsi:type="indicator:IndicatorType" id="example:Indicator-3">
      <indicator:Title>Drive-by URL</indicator:Title>
      <indicator:Observable id="example:Observable-3">
        <cybox:Object><cybox:Properties xsi:type="URIObj:URIObjectType" type="URL">
          <URIObj:Value condition="Equals">http://203.0.113.77/kit/land.php</URIObj:Value>
        </cybox:Properties></cybox:Object>
      </indicator:Observable>
    </stix:Indicator>
    <stix:Indicator xsi:type="indicator:IndicatorType" id="example:Indicator-4">
      <indicator:Title>Fuzzy</indicator:Title>
      <indicator:Observable id="example:Observable-4">
        <cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType">
          <DomainNameObj:Value condition="Contains">bad</DomainNameObj:Value>
        </cybox:Properties></cybox:Object>
      </indicator:Observable>
    </stix:Indicator>
  </stix:Indicators>
</stix:STIX_Package>
"""


def test_stix1_xml(tmp_path: Path) -> None:
    f = tmp_path / "package.xml"
    f.write_text(STIX1)
    load = load_list(f)
    assert load.format == "STIX"
    assert values(load) == {
        "referenced.bad.example": (DOMAIN, ("Phishing landing",)),
        "192.0.2.44": (IP, ()),
        "198.51.100.10": (IP, ("Zeus C2 watchlist", "IP Watchlist")),
        "198.51.100.11": (IP, ("Zeus C2 watchlist", "IP Watchlist")),
        "203.0.113.77": (IP, ("Drive-by URL",)),
    }
    messages = [p.message for p in load.problems]
    assert messages == ["'bogus!' is not an IP address, CIDR or domain", "'bad' has condition 'Contains', not Equals: skipped"]


def test_stix1_refuses_entity_declarations(tmp_path: Path) -> None:
    f = tmp_path / "laughs.xml"
    f.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    load = load_list(f)
    assert load.fatal and "entity" in load.problems[0].message


# -- vendor CSVs ------------------------------------------------------------------------------

def test_otx_csv(tmp_path: Path) -> None:
    f = tmp_path / "pulse.csv"
    f.write_text(
        '"Indicator type","Indicator","Description"\n'
        '"IPv4","198.51.100.20","Cobalt Strike team server"\n'
        '"domain","c2.bad.example",""\n'
        '"hostname","www.c2.bad.example",""\n'
        '"URL","https://203.0.113.30/beacon",""\n'
        '"CIDR","203.0.113.128/26",""\n'
        '"FileHash-SHA256","ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c",""\n'
        '"email","attacker@bad.example",""\n'
        '"IPv4","1.2.3.999","typo"\n'
        '"IPv4"\n'
    )
    load = load_list(f)
    assert load.format == "OTX_CSV"
    assert values(load) == {
        "198.51.100.20": (IP, ("Cobalt Strike team server",)), "c2.bad.example": (DOMAIN, ()),
        "www.c2.bad.example": (DOMAIN, ()), "203.0.113.30": (IP, ()), "203.0.113.128/26": (NET, ()),
    }
    assert load.skipped == 2  # the hash and the e-mail address
    assert [(p.line, p.message) for p in load.problems] == [
        (9, "'1.2.3.999' is not an IP address, CIDR or domain"), (10, "expected at least 2 fields, found 1")]


def test_alienvault_reputation(tmp_path: Path) -> None:
    f = tmp_path / "reputation.data"
    f.write_text(
        "198.51.100.40#4#2#Malicious Host#US#Los Angeles#34.0522,-118.2437#11\n"
        "198.51.100.41#3#2#Scanning Host;Spamming#CN##35.0,105.0#3\n"
        "broken line without fields\n"
        "198.51.100.500#4#2#Malicious Host#US##0,0#1\n"
    )
    load = load_list(f)
    assert load.format == "ALIEN_VAULT"
    assert values(load) == {"198.51.100.40": (IP, ("Malicious Host",)), "198.51.100.41": (IP, ("Scanning Host", "Spamming"))}
    assert [p.line for p in load.problems] == [3, 4]


def test_proofpoint_et_csv(tmp_path: Path) -> None:
    plain = tmp_path / "iprepdata.txt"
    plain.write_text("198.51.100.50,1,127\n198.51.100.51,16,45\n198.51.100.52,99,10\n")
    load = load_list(plain)
    assert load.format == "PROOF_POINT"
    assert values(load) == {"198.51.100.50": (IP, ("CnC",)), "198.51.100.51": (IP, ("Scanner",)),
                            "198.51.100.52": (IP, ("ET category 99",))}
    detailed = tmp_path / "detailed-domainrepdata.csv"
    detailed.write_text("domain,category,score,first_seen,last_seen,ports\n"
                        "cnc.bad.example,CnC,127,2026-01-02,2026-08-01,443|8080\n"
                        "bad_domain!,Spam,20,2026-01-02,2026-08-01,25\n"
                        "lonely\n")
    load = load_list(detailed)
    assert load.format == "PROOF_POINT"
    assert values(load) == {"cnc.bad.example": (DOMAIN, ("CnC",))}
    assert [p.line for p in load.problems] == [3, 4]


def test_fireeye_isight_csv(tmp_path: Path) -> None:
    f = tmp_path / "isight.csv"
    f.write_text(
        "reportId,title,ThreatScape,md5,domain,ip,url,malwareFamily,actor\n"
        "18-00001,APT infrastructure,Cyber Espionage,,update.bad.example,198.51.100.60,,PLUGX,APT10\n"
        "18-00002,Loader,Cyber Crime,,,198.51.100.61,http://dl.bad.example/x.bin,SMOKELOADER,\n"
        "18-00003,Hash only,Cyber Crime,d41d8cd98f00b204e9800998ecf8427e,,,,,\n"
        "18-00004,Typo,Cyber Crime,,,198.51.100.999,,,\n"
    )
    load = load_list(f)
    assert load.format == "FIRE_EYE"
    names1 = ("PLUGX", "APT10", "Cyber Espionage", "APT infrastructure")
    assert values(load) == {
        "update.bad.example": (DOMAIN, names1), "198.51.100.60": (IP, names1),
        "198.51.100.61": (IP, ("SMOKELOADER", "Cyber Crime", "Loader")),
        "dl.bad.example": (DOMAIN, ("SMOKELOADER", "Cyber Crime", "Loader")),
    }
    assert load.skipped == 1 and [p.line for p in load.problems] == [5]


# -- sniffing, forcing, naming ----------------------------------------------------------------

def test_sniff() -> None:
    assert sniff(b'\xef\xbb\xbf  {"type": "bundle"}') == "STIX"
    assert sniff(b"<stix:STIX_Package/>") == "STIX"
    assert sniff(b"Indicator type,Indicator,Description\n") == "OTX_CSV"
    assert sniff(b"# comment\n1.2.3.4#4#2#Malicious Host#US##0,0#1\n") == "ALIEN_VAULT"
    assert sniff(b"ip,category,score\n1.2.3.4,1,10\n") == "PROOF_POINT"
    assert sniff(b"1.2.3.4,1,10\n5.6.7.8,2,20\n") == "PROOF_POINT"
    assert sniff(b"title,domain,ip\nx,a.example,1.2.3.4\n") == "FIRE_EYE"
    assert sniff(b"1.2.3.4\nevil.example\n") == "TXT"
    assert sniff(b"1.2.3.4,first seen 2024\n") == "TXT"
    assert sniff(b"") == "TXT"


def test_forced_format_and_spec_parsing(tmp_path: Path) -> None:
    assert split_spec("STIX:/x/feed.json") == ("STIX", "/x/feed.json")
    assert split_spec("otx_csv:pulse.csv") == ("OTX_CSV", "pulse.csv")
    assert split_spec("C:/lists/x.txt") == (None, "C:/lists/x.txt")  # a drive letter is not a format
    assert split_spec("/plain/path.txt") == (None, "/plain/path.txt")
    f = tmp_path / "ambiguous.txt"
    f.write_text("ip,category,score\n198.51.100.70,1,10\n")  # sniffs as PROOF_POINT
    assert load_list(f).format == "PROOF_POINT"
    forced = load_list(f"txt:{f}")
    assert forced.format == "TXT" and values(forced) == {"198.51.100.70": (IP, ())}
    assert load_list(f"STIX:{f}").fatal  # a TXT file forced to STIX fails loudly, not silently empty
    assert load_list(f, format="otx_csv").fatal  # no "Indicator type" column
    assert list_name("/x/ipsum.txt.gz") == "ipsum" and list_name("feed.JSON") == "feed" and list_name("x.netset") == "x"
    assert load_list(f, name="Named").name == "Named"


def test_unknown_forced_format_is_a_problem() -> None:
    load = parse(b"1.2.3.4\n", name="x", format="CSV")
    assert load.fatal and "unknown list format 'CSV'" in load.problems[0].message


def test_gzip_and_damaged_gzip(tmp_path: Path) -> None:
    blob = gzip.compress(b"198.51.100.80\n198.51.100.81\n" * 2000 + b"evil.example\n")
    good = tmp_path / "list.txt.gz"
    good.write_bytes(blob)
    assert load_list(good).entries == 3
    assert parse(blob, name="bytes").entries == 3  # parse() undoes gzip too
    damaged = tmp_path / "damaged.txt.gz"
    damaged.write_bytes(blob[: len(blob) // 2])
    load = load_list(damaged)
    assert load.entries >= 2 and "gzip" in load.problems[0].message


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_list(tmp_path / "nope.txt")


# -- the index (trusted / threat lists) takes every format ------------------------------------

def test_index_loads_any_format_with_its_domains(tmp_path: Path) -> None:
    loads = [load_list(p) for p in (STIX2 / "infrastructure.json", Path(f"TXT:{MALTRAIL / 'malware_kovter.txt.gz'}"))]
    index = IntelIndex()
    for ld in loads:
        index.add(ld, Category.CUSTOM)
    assert [ld.name for ld in loads] == ["infrastructure", "malware_kovter"]
    assert [h.list_name for h in index.ip("198.51.100.3")] == ["infrastructure"]
    assert [h.list_name for h in index.domain("example.com")] == ["infrastructure"]  # a STIX domain matches too
    assert (loads[0].entries, loads[0].domains, loads[0].problems) == (2, 1, [])
    assert index.ip_count() == 1 + loads[1].ips + loads[1].networks
    assert index.domain_count() == 1 + loads[1].domains
