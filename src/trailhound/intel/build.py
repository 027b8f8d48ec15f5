"""Rebuild the packaged intelligence (``intel/data``) from the public sources, for maintainers.

    python -m trailhound.intel.build /path/to/shared/data [--out src/trailhound/intel/data]

Reads the maltrail static-trails tarball, the SecOps-Institute Tor relay list and the Tor Project's
own exit list, keeps only sources whose licence allows redistribution (MIT, MIT and CC0; their licence
texts are copied next to the data),
groups maltrail's per-family files into one list per category, and writes for each list a
gzipped TSV (``indicator<TAB>threat names joined by |[<TAB>category]``) of canonical hosts:
URL paths, regexes and typos are dropped here, so loading the package needs no validation.
``manifest.json`` records, per list: file, category, source URL and commit, licence, date, SHA-256,
entry counts, and per member file its path, threat name (= maltrail family) and count.

The output is deterministic (gzip mtime 0, members in path order): rebuilding from the same
sources gives byte-identical files (``tests/test_intel_builtin.py`` checks that).

Known-benign infrastructure (``intel.benign``): before a list is written, its indicators that fall in
a benign set are removed (a network partly inside keeps its other parts) and its addresses on a known
sinkhole are demoted to the sinkhole category; ``manifest.json`` records per list what each set
removed, with examples. The build uses the shipped sets (``benign-infrastructure.tsv``, the Majestic top
10k it writes as ``popular-domains.txt.gz``, the sinkholes it writes as ``known-sinkholes.tsv.gz``) and
sets it may use but not ship: AWS's ip-ranges.json (AWS-operated space: AMAZON minus EC2, Global
Accelerator, CodeBuild and Cloud9, which customers control), MISP's copies of the Tranco, Cisco
Umbrella, Alexa and Moz top lists, and MISP's CRL/OCSP lists. Cloudflare Radar's top lists are not used
(CC BY-NC 4.0).

Not shipped, for their licences (see ``manifest.json["refused"]``): ipsum (Unlicense itself, but an
aggregate of lists with non-commercial terms such as DShield and blocklist.de), FireHOL ipsets
but their copy of the Tor Project's exit list (each list keeps its maintainer's terms; level 1 includes
Spamhaus DROP). They can be fetched at run time with ``intel.update`` (``extra_sources()``).
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import hashlib
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from trailhound.intel import benign
from trailhound.intel.formats import DOMAIN, NET, Indicator, parse
from trailhound.intel.index import Category, is_global_entry

DATA_DIR = Path(__file__).with_name("data")

MALTRAIL_REPO = "https://github.com/stamparm/maltrail"
MALTRAIL_COMMIT = "8adace159e1e9418ca4dd1a4b07f84917c3b6155"
MALTRAIL_DATE = "2026-08-23"
MALTRAIL_RAW = "https://raw.githubusercontent.com/stamparm/maltrail/master/trails/static/{path}"
TOR_REPO = "https://github.com/SecOps-Institute/Tor-IP-Addresses"
TOR_COMMIT = "8a1ac761a5230b328748b5c5353af38e83652b0b"
TOR_DATE = "2024-02-27"
TOR_RAW = "https://raw.githubusercontent.com/SecOps-Institute/Tor-IP-Addresses/master/{path}"
# The Tor Project's own exit list (TorDNSEL, check.torproject.org/exit-addresses) as FireHOL's tor_exits
# ipset copied it: newer than SecOps' 2024 snapshot. Tor Metrics data is CC0 ("the Tor Project has waived
# all copyright and related or neighboring rights in the data", metrics.torproject.org); FireHOL adds
# only its header. Exits churn: a 2024 exit list names addresses long since handed to others.
TOR_PROJECT_EXITS = "firehol-ipsets/tor_exits.ipset"
TOR_PROJECT_URL = "https://check.torproject.org/exit-addresses"
TOR_BULK_URL = "https://check.torproject.org/torbulkexitlist"  # the same exits, one address a line: what `intel update` fetches
TOR_PROJECT_LICENCE = ("The Tor Project's exit list (TorDNSEL, https://check.torproject.org/exit-addresses), as published\n"
                       "by Tor Metrics and CollecTor: \"Data on this site is freely available under a CC0 no copyright\n"
                       "declaration: To the extent possible under law, the Tor Project has waived all copyright and related\n"
                       "or neighboring rights in the data.\" (https://metrics.torproject.org/)\n"
                       "Taken from FireHOL's tor_exits ipset copy of it (https://github.com/firehol/blocklist-ipsets), which\n"
                       "adds only a header of its own.\n")

# maltrail DGA families (as named in shared/data/maltrail-static-trails/SOURCE.md)
DGA_FAMILIES = ("tinba", "simda", "necurs", "locky", "fobber", "dircrypt", "conficker", "virut", "ramnit",
                "cryptolocker", "shiotob", "zeroaccess", "pykspa")
# C&C frameworks and red-team tooling under maltrail's malicious/
C2_FRAMEWORKS = ("sliver", "metasploit", "brc4", "havoc", "mythic", "covenant", "nighthawk", "nimplant",
                 "coreimpact", "viper", "redwarden", "redguard", "python_byob", "interactsh")
MINER_EXTRA = ("elf_coinminer", "elf_h2miner", "elf_pasteminer", "osx_coinminer", "osx_osaminer", "z0miner")


@dataclass
class Group:
    name: str
    category: Category
    include: tuple[str, ...]  # glob patterns on paths under trails/static/
    exclude: tuple[str, ...] = ()
    ip_category: Category | None = None  # addresses of this group filed under another category
    members: list[str] = field(default_factory=list)


def maltrail_groups() -> list[Group]:
    """Each maltrail file goes to the first group whose patterns it matches."""
    return [
        Group("maltrail-crypto-mining", Category.CRYPTO,
              ("suspicious/crypto_mining.txt", "malware/*_miner.txt", *(f"malware/{m}.txt" for m in MINER_EXTRA)),
              exclude=("malware/apt_leafminer.txt",)),
        Group("maltrail-dga", Category.DGA, tuple(f"malware/{f}.txt" for f in DGA_FAMILIES), ip_category=Category.C2),
        Group("maltrail-sinkhole", Category.BLACKHOLE, ("malware/sinkhole_*.txt",)),
        Group("maltrail-mass-scanner", Category.SCANNER, ("mass_scanner.txt", "mass_scanner_cidr.txt")),
        Group("maltrail-phishing", Category.PHISHING,
              ("malicious/gophish.txt", "malicious/365stealer_phishtool.txt", "malicious/evilginx.txt")),
        Group("maltrail-c2", Category.C2,
              ("malicious/*c2*.txt", *(f"malicious/{f}.txt" for f in C2_FRAMEWORKS), "malware/elf_*.txt",
               "malware/njrat.txt", "malware/kovter.txt", "malware/cobaltstrike*.txt")),
    ]


MISP_REPO = "https://github.com/MISP/misp-warninglists"
MISP_COMMIT = "84f0610aaf3b32159285c9b85510d0f415ea6b27"
AWS_RANGES = "aws-ip-ranges/ip-ranges_2026-08-22.json.gz"
# AWS services whose addresses a customer controls (rents, or runs code on): not benign
AWS_CUSTOMER = ("EC2", "GLOBALACCELERATOR", "CODEBUILD", "CLOUD9", "WORKSPACES_GATEWAYS")
BUILD_ONLY_POPULAR = ("tranco10k", "cisco_top10k", "alexa", "moz-top500")  # used to filter, never shipped

REFUSED = [
    {"source": "ipsum (shared/data/ipsum)", "licence": "Unlicense for the aggregate; underlying lists keep their own terms "
     "(DShield, blocklist.de: non-commercial)", "reason": "redistribution terms of the aggregated lists unclear; fetch at run time"},
    {"source": "FireHOL ipsets (shared/data/firehol-ipsets), all but tor_exits", "licence": "per list (maintainer's terms); FireHOL scripts GPL",
     "reason": "level1 includes Spamhaus DROP and DShield; tor_exits is shipped (the Tor Project's CC0 exit list)"},
]


def _ipset_date(raw: bytes) -> str:
    """The date of the source file a FireHOL ipset was made from ("# Source File Date: Sat Aug 22 00:54:28 UTC 2026")."""
    from datetime import datetime

    for line in raw.decode("utf-8", "replace").splitlines()[:40]:
        if line.startswith("# Source File Date:"):
            return datetime.strptime(line.split(":", 1)[1].strip(), "%a %b %d %H:%M:%S UTC %Y").strftime("%Y-%m-%d")
    raise ValueError("a FireHOL ipset without its source file date")


def _stem(path: str) -> str:
    return Path(path).name.rsplit(".", 1)[0]


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def _write_list(out: Path, name: str, header: list[str],
                rows: dict[str, tuple[str, list[str], Category | None]]) -> tuple[str, bytes]:
    lines = [f"# {h}" for h in header]
    for value, (_kind, names, cat) in rows.items():
        lines.append(f"{value}\t{'|'.join(names)}" + (f"\t{cat.value}" if cat else ""))
    blob = _gzip("\n".join(lines) + "\n")
    fname = f"{name}.tsv.gz"
    (out / fname).write_bytes(blob)
    return fname, blob


def _counts(rows: dict[str, tuple[str, list[str], Category | None]]) -> dict[str, int]:
    c = {"ip": 0, "net": 0, "domain": 0}
    for kind, _, _ in rows.values():
        c[kind] += 1
    return {"entries": len(rows), "ips": c["ip"], "networks": c["net"], "domains": c["domain"]}


def _merge(rows: dict[str, tuple[str, list[str], Category | None]], inds: list[Indicator], family: str,
           ip_category: Category | None) -> int:
    """Add a member's indicators to a list's rows; returns how many non-public addresses were dropped."""
    dropped = 0
    for ind in inds:
        if ind.kind != DOMAIN and not is_global_entry(ind.value):
            dropped += 1
            continue
        slot = rows.get(ind.value)
        if slot is None:
            cat = ip_category if (ip_category and ind.kind != DOMAIN) else None
            rows[ind.value] = (ind.kind, [family], cat)
        elif family not in slot[1]:
            slot[1].append(family)
    return dropped


def _misp(shared: Path, name: str) -> dict:
    return json.loads((shared / "misp-warninglists" / "lists" / name / "list.json").read_text())


def _aws_operated(shared: Path) -> list[str]:
    """AWS's own address space: AMAZON prefixes minus those of services whose addresses customers control."""
    import ipaddress

    doc = json.loads(gzip.decompress((shared / AWS_RANGES).read_bytes()))
    spans: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for p in doc["prefixes"] + doc["ipv6_prefixes"]:
        net = ipaddress.ip_network(p.get("ip_prefix") or p["ipv6_prefix"])
        key = ("minus" if p["service"] in AWS_CUSTOMER else p["service"], net.version)
        spans.setdefault(key, []).append((int(net.network_address), int(net.broadcast_address)))

    def merged(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for lo, hi in sorted(items):
            if out and lo <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(out[-1][1], hi))
            else:
                out.append((lo, hi))
        return out

    result = []
    for version, make in ((4, ipaddress.IPv4Address), (6, ipaddress.IPv6Address)):
        minus = merged(spans.get(("minus", version), []))
        for lo, hi in merged(spans.get(("AMAZON", version), [])):
            at = lo
            for mlo, mhi in minus:  # the customer-controlled spans are few hundred: a scan per span is fine
                if mhi < at or mlo > hi:
                    continue
                if mlo > at:
                    result += [str(n) for n in ipaddress.summarize_address_range(make(at), make(mlo - 1))]
                at = max(at, mhi + 1)
            if at <= hi:
                result += [str(n) for n in ipaddress.summarize_address_range(make(at), make(hi))]
    return result


def benign_sets(shared: Path, out: Path, sinkhole_rows: dict[str, tuple[str, list[str], Category | None]]) -> tuple[benign.BenignSets, list[dict]]:
    """The shipped sets (writing the generated ones into `out`) plus the build-only ones; and their manifest."""
    sets = benign.BenignSets().load_table(out / benign.TABLE)
    table_blob = (out / benign.TABLE).read_bytes()
    info = [{"file": benign.TABLE, "shipped": True, "sets": dict(sets.sets), "licence": "hand-written facts, sourced per entry",
             "sha256": hashlib.sha256(table_blob).hexdigest(), "bytes": len(table_blob)}]
    # Majestic Million top 10k (MISP's copy): CC BY 3.0, redistributable with attribution
    maj = _misp(shared, "majestic_million")
    names = sorted({n for n in (benign.normalise_domain(x) for x in maj["list"]) if n})
    blob = _gzip("# Majestic Million top 10,000 (https://majestic.com/reports/majestic-million), licensed CC BY 3.0 "
                 f"by Majestic-12 Ltd; via MISP warninglists majestic_million version {maj['version']}, commit {MISP_COMMIT}\n"
                 + "\n".join(names) + "\n")
    (out / benign.POPULAR).write_bytes(blob)
    sets.load_popular(out / benign.POPULAR)
    info.append({"file": benign.POPULAR, "shipped": True, "sets": {"popular-domain": len(names)}, "source": f"{MISP_REPO} lists/majestic_million",
                 "commit": MISP_COMMIT, "version": maj["version"], "licence": "CC BY 3.0 (Majestic-12 Ltd)",
                 "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)})
    # known sinkholes: MISP's own list (CC0) and maltrail's sinkhole addresses (MIT)
    sinks: dict[str, str] = {}
    for v in _misp(shared, "sinkholes")["list"]:
        v = v.strip().removesuffix("/32")
        if is_global_entry(v):
            sinks.setdefault(v, "misp-sinkholes")
    for v, (kind, fams, _) in sinkhole_rows.items():
        if kind != DOMAIN:
            sinks.setdefault(v, "|".join(fams))
    blob = _gzip("# Known sinkhole addresses: MISP warninglists `sinkholes` (CC0, commit " + MISP_COMMIT + ") and maltrail's "
                 "trails/static/malware/sinkhole_*.txt addresses (MIT)\n" + "".join(f"{v}\t{src}\n" for v, src in sinks.items()))
    (out / benign.SINKHOLES).write_bytes(blob)
    sets.load_sinkholes(out / benign.SINKHOLES)
    info.append({"file": benign.SINKHOLES, "shipped": True, "sets": {benign.SINKHOLE: len(sinks)},
                 "source": f"{MISP_REPO} lists/sinkholes; {MALTRAIL_REPO} sinkhole_*.txt", "licence": "CC0 (MISP), MIT (maltrail)",
                 "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)})
    # build-only sets: used to decide what to drop, never shipped
    aws = _aws_operated(shared)
    for v in aws:
        sets.add_range(v, "aws-service")
    info.append({"file": None, "shipped": False, "sets": {"aws-service": len(aws)}, "source": f"shared/data/{AWS_RANGES} (AWS ip-ranges.json)",
                 "licence": "no licence statement: used at build time, not redistributed"})
    popular = 0
    for name in BUILD_ONLY_POPULAR:
        for x in _misp(shared, name)["list"]:
            n = benign.normalise_domain(x.lstrip("."))
            if n and "." in n and not n.endswith(".arpa"):
                sets.add_domain(n, "popular-domain")
                popular += 1
    info.append({"file": None, "shipped": False, "sets": {"popular-domain": popular}, "source": f"{MISP_REPO} lists/{', '.join(BUILD_ONLY_POPULAR)}",
                 "commit": MISP_COMMIT, "licence": "third-party top lists (terms of Tranco, Cisco Umbrella, Alexa, Moz): used at build time, "
                 "not redistributed"})
    crl = 0
    for x in _misp(shared, "crl-hostname")["list"]:
        n = benign.normalise_domain(x)
        if n and "." in n:
            sets.add_domain(n, "pki")
            crl += 1
    for x in _misp(shared, "crl-ip")["list"]:
        v = x.strip().removesuffix("/32")
        if is_global_entry(v):
            sets.add_range(v, "pki")
            crl += 1
    info.append({"file": None, "shipped": False, "sets": {"pki": crl}, "source": f"{MISP_REPO} lists/crl-hostname, crl-ip", "commit": MISP_COMMIT,
                 "licence": "CC0 (MISP): used at build time"})
    return sets.freeze(), info


def _filter_rows(sets: benign.BenignSets, rows: dict[str, tuple[str, list[str], Category | None]],
                 category: Category, ip_category: Category | None) -> tuple[dict[str, tuple[str, list[str], Category | None]], benign.FilterStats]:
    stats = benign.FilterStats()
    if category in benign.EXEMPT:
        return rows, stats
    kept: dict[str, tuple[str, list[str], Category | None]] = {}
    for value, (kind, names, cat) in rows.items():
        effective = cat or (ip_category if kind != DOMAIN and ip_category else category)
        values, sink = sets.judge(value, kind, effective, stats)
        for v in values:
            if v in kept or (v != value and v in rows):
                continue
            kept[v] = (kind if v == value else NET if "/" in v else "ip", names, Category.BLACKHOLE if sink else cat)
    return kept, stats


DYNAMIC_DNS = "dynamic-dns.txt.gz"
DYN_DNS_UPSTREAM = "https://github.com/alexandrosmagos/dyn-dns-list"


def dynamic_dns(shared: Path, out: Path) -> dict:
    """Free dynamic-DNS and shared-subdomain zones (MISP's ``dynamic-dns`` warninglist), written as
    ``dynamic-dns.txt.gz`` for the domain reputation signals (``enrich.reputation``); its manifest entry.

    MISP's list is CC0 (its README); its entries come from alexandrosmagos/dyn-dns-list (the Unlicense:
    public domain), scraped from the providers' own sign-up pages (afraid.org, no-ip, dyn, changeip, ...),
    as MISP's tools/generate-dynamic-dns.py says, plus entries MISP's maintainers added by hand."""
    src = _misp(shared, "dynamic-dns")
    zones = sorted({n for n in (benign.normalise_domain(x.lstrip(".")) for x in src["list"]) if n and "." in n})
    blob = _gzip(f"# Free dynamic-DNS and shared-subdomain zones: MISP warninglists dynamic-dns version {src['version']}, commit "
                 f"{MISP_COMMIT} (CC0 1.0), from {DYN_DNS_UPSTREAM} (the Unlicense) and MISP's maintainers\n" + "\n".join(zones) + "\n")
    (out / DYNAMIC_DNS).write_bytes(blob)
    return {"file": DYNAMIC_DNS, "entries": len(zones), "source": f"{MISP_REPO} lists/dynamic-dns", "commit": MISP_COMMIT,
            "version": src["version"], "upstream": DYN_DNS_UPSTREAM, "licence": "CC0 1.0 (MISP); upstream the Unlicense",
            "used_for": "domain reputation: names registered under a free dynamic-DNS zone (Impact:EC2/AbusedDomainRequest.Reputation)",
            "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}


def build(shared: Path, out: Path = DATA_DIR, built: str | None = None) -> dict:
    """Write the packaged lists, licences and manifest.json into `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    lists: list[dict] = []
    # -- maltrail --------------------------------------------------------------------------
    tar_path = shared / "maltrail-static-trails" / "trails_static.tar.xz"
    groups = maltrail_groups()
    content: dict[str, bytes] = {}
    with tarfile.open(tar_path, "r:xz") as tar:  # one pass in archive order: xz cannot seek back cheaply
        for m in tar:
            path = m.name.removeprefix("trails/static/")
            if m.isfile() and path.endswith(".txt") and any(fnmatch.fnmatch(path, p) for g in groups for p in g.include):
                fh = tar.extractfile(m)
                assert fh is not None
                content[path] = fh.read()
    claimed: set[str] = set()
    for g in groups:
        for path in sorted(content):
            if path in claimed or any(fnmatch.fnmatch(path, x) for x in g.exclude):
                continue
            if any(fnmatch.fnmatch(path, pat) for pat in g.include):
                g.members.append(path)
                claimed.add(path)
    collected = []
    for g in groups:
        rows: dict[str, tuple[str, list[str], Category | None]] = {}
        member_info = []
        for path in g.members:
            load = parse(content[path], name=_stem(path), path=f"maltrail:trails/static/{path}", format="TXT")
            dropped = _merge(rows, load.indicators, _stem(path), g.ip_category)
            member_info.append({"path": f"trails/static/{path}", "threat_name": _stem(path), "entries": load.entries - dropped,
                                "dropped_non_public": dropped, "skipped": load.skipped, "problems": load.problem_count,
                                "url": MALTRAIL_RAW.format(path=path)})
        collected.append((g, rows, member_info))
    sinkhole_rows = next(rows for g, rows, _ in collected if g.category is Category.BLACKHOLE)
    sets, benign_info = benign_sets(shared, out, sinkhole_rows)
    for g, rows, member_info in collected:
        rows, stats = _filter_rows(sets, rows, g.category, g.ip_category)
        header = [f"TrailhoundBuiltin:{g.name} — {g.category.value}", f"source: {MALTRAIL_REPO} trails/static, commit {MALTRAIL_COMMIT} ({MALTRAIL_DATE})",
                  "licence: MIT, Copyright (c) 2014-2026 Maltrail developers — see LICENSE.maltrail.txt",
                  "columns: indicator, maltrail families (|-separated), category when it differs from the list's"]
        fname, blob = _write_list(out, g.name, header, rows)
        lists.append({"name": g.name, "list_name": f"TrailhoundBuiltin:{g.name}", "file": fname, "category": g.category.value,
                      **({"ip_category": g.ip_category.value} if g.ip_category else {}),
                      "source": MALTRAIL_REPO, "commit": MALTRAIL_COMMIT, "source_date": MALTRAIL_DATE,
                      "licence": "MIT", "licence_file": "LICENSE.maltrail.txt", "sha256": hashlib.sha256(blob).hexdigest(),
                      "bytes": len(blob), **_counts(rows), "benign_filter": stats.as_dict(), "members": member_info})
    shutil.copyfile(shared / "maltrail-static-trails" / "LICENSE", out / "LICENSE.maltrail.txt")
    # -- Tor: the Tor Project's exit list (newest), and every relay (SecOps-Institute, with those exits) ---------------
    tor_dir = shared / "tor-exit-nodes"
    project_raw = (shared / TOR_PROJECT_EXITS).read_bytes()
    project = parse(project_raw, name="tor-exit-nodes", path=str(shared / TOR_PROJECT_EXITS), format="TXT")
    project_date = _ipset_date(project_raw)
    relays_file = f"tor-nodes_{TOR_DATE}.lst.gz"
    relays = parse((tor_dir / relays_file).read_bytes(), name="tor-nodes", path=str(tor_dir / relays_file), format="TXT")
    secops = {"source": TOR_REPO, "commit": TOR_COMMIT, "source_date": TOR_DATE, "licence": "MIT", "licence_file": "LICENSE.tor-secops.md"}
    ours = {"source": TOR_PROJECT_URL, "commit": "", "source_date": project_date, "licence": "CC0-1.0", "licence_file": "LICENSE.tor-project.txt"}
    for name, category, members, meta, about in (
        ("tor-exit-nodes", Category.TOR_EXIT, [(project, TOR_BULK_URL, "tor-exit-nodes")], ours,
         [f"source: the Tor Project's exit list {TOR_PROJECT_URL} of {project_date} (FireHOL's tor_exits copy)",
          "licence: CC0 (Tor Metrics data) — see LICENSE.tor-project.txt"]),
        ("tor-nodes", Category.TOR_RELAY, [(relays, TOR_RAW.format(path="tor-nodes.lst"), "tor-nodes"), (project, TOR_BULK_URL, "tor-exits")], secops,
         [f"source: {TOR_REPO} tor-nodes.lst, commit {TOR_COMMIT} ({TOR_DATE}), and the Tor Project's exits of {project_date}",
          "licence: MIT, Copyright (c) 2023 SecOps - Institute of Information Security — see LICENSE.tor-secops.md; "
          "the exits CC0 — see LICENSE.tor-project.txt"]),
    ):
        rows = {}
        member_info = []
        for load, url, member in members:
            dropped = _merge(rows, load.indicators, name, None)
            member_info.append({"path": Path(load.path).name, "threat_name": member, "entries": load.entries - dropped,
                                "dropped_non_public": dropped, "skipped": load.skipped, "problems": load.problem_count, "url": url})
        fname, blob = _write_list(out, name, [f"TrailhoundBuiltin:{name} — {category.value}", *about, "columns: indicator, threat name"], rows)
        lists.append({"name": name, "list_name": f"TrailhoundBuiltin:{name}", "file": fname, "category": category.value, **meta,
                      "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob), **_counts(rows), "members": member_info})
    (out / "LICENSE.tor-project.txt").write_text(TOR_PROJECT_LICENCE)
    shutil.copyfile(tor_dir / "LICENSE.md", out / "LICENSE.tor-secops.md")
    # -- hand-written lists: AWS guardduty-tester indicators, mining pools missing from maltrail -----
    for name, source in (("amazon-guardduty-tester", "https://github.com/awslabs/amazon-guardduty-tester"),
                         ("mining-pools", "hand-written: Panther's AWS.DNS.Crypto.Domain rule tests, pools' own sites")):
        hand = out / f"{name}.tsv"
        blob = hand.read_bytes()
        entries = [ln for ln in blob.decode().splitlines() if ln and not ln.startswith("#")]
        lists.append({"name": name, "list_name": f"TrailhoundBuiltin:{name}",
                      "file": hand.name, "category": "mixed", "always": True,
                      "source": source, "commit": None, "source_date": None,
                      "licence": "facts (domain names), hand-written", "licence_file": None,
                      "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob), "entries": len(entries), "ips": 0,
                      "networks": 0, "domains": len(entries), "members": []})
    manifest = {"schema": 1, "built": built, "lists": lists, "refused": REFUSED, "benign": benign_info,
                "reputation": [dynamic_dns(shared, out)], "total_bytes": sum(e["bytes"] for e in lists)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def main() -> None:  # pragma: no cover - maintainer entry point
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shared", type=Path, help="the shared/data folder")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--built", default=None, help="build date recorded in the manifest")
    args = ap.parse_args()
    m = build(args.shared, args.out, args.built)
    for e in m["lists"]:
        print(f"{e['name']:28} {e['category']:10} {e['entries']:7} entries {e['bytes']:9} bytes")
    print(f"total {m['total_bytes']} bytes")


if __name__ == "__main__":  # pragma: no cover
    main()
