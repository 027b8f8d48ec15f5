"""Threat-list file formats: every format GuardDuty accepts for an IPSet / ThreatIntelSet.

``TXT``          one IP, CIDR or domain per line; ``#`` comments (whole-line or inline). Also
                 takes what real feeds put on a line: ``ip<TAB>count`` (ipsum), FireHOL
                 ``.ipset``/``.netset`` headers, hosts-file lines (``0.0.0.0 evil.com``),
                 ``ip:port``, URLs and ``host/path`` (the host is kept), as maltrail writes them.
``STIX``         STIX 2.x JSON (bundle, TAXII envelope, list or single object): indicator
                 patterns on ``ipv4-addr``/``ipv6-addr``/``domain-name``/``url``/
                 ``network-traffic:*_ref.value`` with ``=``, ``IN`` or ``ISSUBSET``, OR-ed or not;
                 and ``ipv4-addr``/``ipv6-addr``/``domain-name``/``url`` objects. STIX 1.x XML
                 (CybOX Address, DomainName, Hostname and URI objects). Threat names come from
                 the indicator's ``name``, ``indicator_types``/``labels``, what it ``indicates``,
                 and the infrastructure a plain address belongs to. Revoked indicators are
                 skipped; ``valid_until`` is not enforced (a feed's expiry policy is its own).
``OTX_CSV``      AlienVault OTX pulse export: ``Indicator type,Indicator,Description``.
``ALIEN_VAULT``  AlienVault reputation feed: ``ip#risk#reliability#activity#country#city#lat,lon#x``.
``PROOF_POINT``  Proofpoint ET Intelligence CSV: ``ip-or-domain,category,score[,first_seen,last_seen,ports]``.
``FIRE_EYE``     FireEye iSIGHT CSV export: a header row naming the columns; every IP, CIDR,
                 domain, hostname and URL column is read, malware family / actor as threat names.

The format is sniffed from the content unless forced with ``FORMAT:PATH`` (``stix:/x/feed.json``,
case-insensitive). A bad line or record becomes a ``Problem`` naming the line (or record) and the
rest of the list loads. Lines that hold no host at all — a URL path, a file hash — are skipped
and counted (``ListLoad.skipped``), also as a problem; comments are skipped silently.

Parsing is the cold path (once per list load): clarity first, but the common line shapes (a
dotted quad, a domain) take a short fast path so a 120k-line feed loads in a fraction of a second.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson

from trailhound.formats.base import Problem
from trailhound.intel.domains import normalise_domain
from trailhound.sources.files import GZIP_MAGIC, gunzip, read

FORMATS = ("TXT", "STIX", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE")
MAX_PROBLEMS = 1000  # problems kept per list; the rest are counted in ListLoad.problem_count

IP, NET, DOMAIN = "ip", "net", "domain"  # Indicator.kind
_SKIP, _BAD = "skip", "bad"

_inet_pton = socket.inet_pton
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6


class Indicator(NamedTuple):
    """One listed host: ``value`` is canonical — a dotted quad, a compressed IPv6 address, a
    network ``addr/len`` (host bits cleared) or a lower-case punycode domain."""

    value: str
    kind: str  # IP | NET | DOMAIN
    names: tuple[str, ...] = ()  # threat names from the source (family, indicator name, ...)


@dataclass
class ListLoad:
    """What one list file held."""

    name: str
    path: Path | str
    entries: int = 0  # distinct indicators accepted (IPs + networks + domains)
    problems: list[Problem] = field(default_factory=list)
    format: str = "TXT"
    indicators: list[Indicator] = field(default_factory=list)
    ips: int = 0
    networks: int = 0
    domains: int = 0
    skipped: int = 0  # lines / records that hold no host (URL paths, hashes, e-mail...)
    refused: int = 0  # entries the caller's vetting refused (an operator's list: too broad)
    problem_count: int = 0  # every problem, including those beyond MAX_PROBLEMS
    fatal: bool = False  # nothing could be read (not the format, not JSON, ...)
    coverage: str = ""  # an operator's list covering too much of the Internet: what was said of it (intel.guard.vet_coverage)
    too_broad: bool = False  # ... and refused whole for it: nothing from it is used

    def summary(self) -> str:
        refused = f", {self.refused} refused" + (" (the whole list: too broad)" if self.too_broad else "") if self.refused else ""
        return (f"{self.name} ({self.format}): {self.entries} entries — {self.ips} IPs, {self.networks} networks, "
                f"{self.domains} domains; {self.skipped} skipped{refused}, {self.problem_count} problems")


# -- single values ----------------------------------------------------------------------------

def _v6(text: str) -> str | None:
    """Canonical text of an IPv6 address; an IPv4-mapped one (::ffff:a.b.c.d) is its IPv4 address."""
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else addr.compressed


def _host(host: str) -> tuple[str, str] | None:
    """(kind, canonical) for a bare host: an IPv4/IPv6 address or a domain."""
    try:
        _inet_pton(_AF4, host)
        return IP, host
    except (OSError, ValueError):
        pass
    if ":" in host:
        v6 = _v6(host.strip("[]"))
        return (IP, v6) if v6 else None
    d = normalise_domain(host)
    return (DOMAIN, d) if d else None


def _network(text: str) -> tuple[str, str] | None:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if net.prefixlen == net.max_prefixlen:
        return IP, str(net.network_address)
    return NET, str(net)


def classify(token: str) -> tuple[str, str]:
    """What a list token denotes: ``(IP|NET|DOMAIN, canonical value)``, or ``(_SKIP|_BAD, why)``."""
    tok = token.strip().strip("\"'")
    if not tok:
        return _BAD, "empty value"
    shown = tok if len(tok) <= 80 else tok[:77] + "..."
    if tok[0].isdigit():  # fast path: a dotted quad
        try:
            _inet_pton(_AF4, tok)
            return IP, tok
        except (OSError, ValueError):
            pass
    if "://" in tok:
        try:
            host = urlsplit(tok).hostname
        except ValueError:
            return _BAD, f"'{shown}' is not a valid URL"
        if not host:
            return _SKIP, f"'{shown}' is a URL without a host: skipped"
        found = _host(host)
        return found if found else (_BAD, f"'{shown}': the URL host '{host}' is not an IP address or domain")
    if tok[0] == "/":
        return _SKIP, f"'{shown}' is a URL path without a host: skipped"
    if "/" in tok:
        head, _, tail = tok.partition("/")
        if tail.isdigit() and (head[-1:].isdigit() or ":" in head):  # a CIDR, unless host/123 (a path)
            found = _network(tok)
            return found if found else (_BAD, f"'{shown}' is not an IP address or CIDR")
        tok = head  # host/path: keep the host
        if not tok:
            return _SKIP, f"'{shown}' is a URL path without a host: skipped"
    if ":" in tok:
        if tok.count(":") >= 2 and not tok.startswith("["):
            v6 = _v6(tok)
            if v6:
                return IP, v6
        if tok.startswith("["):  # [v6]:port
            inner, _, rest = tok[1:].partition("]")
            v6 = _v6(inner)
            if v6 and (not rest or rest[0] == ":" and rest[1:].isdigit()):
                return IP, v6
            return _BAD, f"'{shown}' is not an IP address, CIDR or domain"
        host, _, ports = tok.partition(":")
        if ports and all(p.isdigit() for p in ports.split(":")):  # ip:port, ip:port:port (maltrail)
            found = _host(host)
            if found:
                return found
        return _BAD, f"'{shown}' is not an IP address, CIDR or domain"
    found = _host(tok)
    return found if found else (_BAD, f"'{shown}' is not an IP address, CIDR or domain")


# -- collecting -------------------------------------------------------------------------------

Vet = Callable[[str, str], str | None]  # (kind, canonical value) -> why the entry is refused, or None


class _Collector:
    def __init__(self, path: str, vet: Vet | None = None) -> None:
        self.path = path
        self.vet = vet
        self.refused = 0
        self.found: dict[str, list[Any]] = {}  # value -> [kind, names]
        self.problems: list[Problem] = []
        self.problem_count = 0
        self.skipped = 0
        self.fatal = False

    def problem(self, message: str, line: int | None = None, record: int | None = None) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.path, message, line=line, record=record))

    def fail(self, message: str) -> None:
        self.fatal = True
        self.problem(message)

    def skip(self, message: str, line: int | None = None, record: int | None = None) -> None:
        self.skipped += 1
        self.problem(message, line, record)

    def add(self, kind: str, value: str, names: tuple[str, ...] = ()) -> None:
        slot = self.found.get(value)
        if slot is None:
            self.found[value] = [kind, names]
        elif names:
            old = slot[1]
            slot[1] = old + tuple(n for n in names if n not in old)

    def token(self, token: str, names: tuple[str, ...] = (), line: int | None = None, record: int | None = None) -> bool:
        kind, value = classify(token)
        if kind is _BAD:
            self.problem(value, line, record)
            return False
        if kind is _SKIP:
            self.skip(value, line, record)
            return False
        if self.vet is not None:
            why = self.vet(kind, value)
            if why:
                self.refused += 1
                self.problem(why, line, record)
                return False
        self.add(kind, value, names)
        return True

    def result(self, name: str, path: Path | str, fmt: str) -> ListLoad:
        indicators = [Indicator(v, k, n) for v, (k, n) in self.found.items()]
        counts = {IP: 0, NET: 0, DOMAIN: 0}
        for ind in indicators:
            counts[ind.kind] += 1
        problems = self.problems
        if self.problem_count > len(problems):
            problems.append(Problem(self.path, f"{self.problem_count - len(problems)} more problems not listed"))
        return ListLoad(name, path, len(indicators), problems, fmt, indicators, counts[IP], counts[NET],
                        counts[DOMAIN], self.skipped, self.refused, self.problem_count, self.fatal)


def _names(*values: Any) -> tuple[str, ...]:
    """Distinct non-empty strings, in order, from strings and lists of strings."""
    out: list[str] = []
    for v in values:
        for s in (v if isinstance(v, (list, tuple)) else (v,)):
            if isinstance(s, str):
                s = s.strip()
                if s and s not in out:
                    out.append(s)
    return tuple(out)


# -- TXT --------------------------------------------------------------------------------------

# First token of a hosts-file line that points a name at nowhere: the name is the indicator.
_HOSTS_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1", "0"})
# Names a hosts file points at itself: the boilerplate head of hosts-format block lists.
_HOSTS_SELF = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback",
                         "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts"})
# A one-word first line naming the column is a header, not a bad entry.
_TXT_HEADERS = frozenset({"ip", "ips", "ip_address", "ipaddress", "address", "cidr", "network", "domain", "domains",
                          "hostname", "host", "indicator", "url"})


def _parse_txt(text: str, col: _Collector) -> None:
    first = True
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "#" in line:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
        tokens = line.split()
        tok = tokens[0]
        if len(tokens) > 1 and tok in _HOSTS_SINKS:
            tok = tokens[1]
            if tok in _HOSTS_SELF:
                continue
        if "," in tok:
            tok = tok.split(",", 1)[0]
        tok = tok.rstrip(";")
        if first:
            first = False
            if tok.lower() in _TXT_HEADERS and len(tokens) == 1:
                continue
        col.token(tok, line=lineno)


# -- STIX 2.x JSON ----------------------------------------------------------------------------

_STIX_CMP = re.compile(
    r"(ipv4-addr|ipv6-addr|domain-name|url|network-traffic)\s*:\s*([A-Za-z0-9_.\-\[\]*]+)\s*"
    r"(NOT\s+)?(=|!=|<>|IN|ISSUBSET|ISSUPERSET|LIKE|MATCHES|>=|<=|>|<)\s*"
    r"(\((?:\s*'(?:[^'\\]|\\.)*'\s*,?)*\s*\)|'(?:[^'\\]|\\.)*')",
    re.IGNORECASE,
)
_STIX_STR = re.compile(r"'((?:[^'\\]|\\.)*)'")
_HOST_SCOS = frozenset({"ipv4-addr", "ipv6-addr", "domain-name", "url"})


def _unescape(s: str) -> str:
    return s.replace("\\'", "'").replace("\\\\", "\\")


def stix_pattern_hosts(pattern: str) -> tuple[list[str], int]:
    """The host values a STIX 2 pattern compares for equality (``=``, ``IN``, ``ISSUBSET``), and how
    many host comparisons were inexact (``!=``, ``NOT``, ``LIKE``, ``MATCHES``...) and so ignored.
    Comparisons joined by AND are taken too: a lookup sees only the address, so an AND-ed
    pattern is treated as its address parts."""
    values: list[str] = []
    inexact = 0
    for m in _STIX_CMP.finditer(pattern):
        obj, path, negated, op, literal = m.group(1).lower(), m.group(2).lower(), m.group(3), m.group(4).upper(), m.group(5)
        if obj == "network-traffic":
            if path not in ("dst_ref.value", "src_ref.value"):
                continue
        elif path != "value":
            continue
        if negated or op not in ("=", "IN", "ISSUBSET"):
            inexact += 1
            continue
        values.extend(_unescape(s) for s in _STIX_STR.findall(literal))
    return values, inexact


def _stix2_objects(doc: Any) -> list[Any] | None:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if isinstance(doc.get("objects"), list):
            return doc["objects"]
        if "type" in doc:
            return [doc]
    return None


def _parse_stix2(data: bytes, col: _Collector) -> None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        col.fail(f"not STIX 2 JSON: {exc}")
        return
    objects = _stix2_objects(doc)
    if objects is None:
        col.fail("not STIX 2 JSON: no 'objects' list and no 'type'")
        return
    by_id = {o["id"]: o for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)}

    def names_of(ref: Any) -> tuple[str, ...]:
        o = by_id.get(ref) if isinstance(ref, str) else None
        if o is None:
            return ()
        return _names(o.get("name"), o.get("malware_types"), o.get("infrastructure_types"), o.get("labels"))

    related: dict[str, tuple[str, ...]] = {}  # indicator / SCO id -> names from related objects
    infra_malware: dict[str, tuple[str, ...]] = {}
    rels = [o for o in objects if isinstance(o, dict) and o.get("type") == "relationship"]
    for r in rels:
        kind, src, dst = r.get("relationship_type"), r.get("source_ref"), r.get("target_ref")
        if not isinstance(src, str) or not isinstance(dst, str):
            continue
        if kind == "controls" and src.startswith("infrastructure--"):
            infra_malware[src] = infra_malware.get(src, ()) + names_of(dst)
        elif kind == "uses" and dst.startswith("infrastructure--"):
            infra_malware[dst] = infra_malware.get(dst, ()) + names_of(src)
    for r in rels:
        kind, src, dst = r.get("relationship_type"), r.get("source_ref"), r.get("target_ref")
        if not isinstance(src, str) or not isinstance(dst, str):
            continue
        if kind == "indicates" and src.startswith("indicator--"):
            related[src] = _names(related.get(src, ()), names_of(dst))
        elif kind == "consists-of" and src.startswith("infrastructure--"):
            related[dst] = _names(related.get(dst, ()), names_of(src), infra_malware.get(src, ()))

    for i, o in enumerate(objects):
        if not isinstance(o, dict) or not isinstance(o.get("type"), str):
            col.problem("not a STIX object (no 'type')", record=i)
            continue
        typ = o["type"]
        if typ == "indicator":
            if o.get("revoked") is True:
                col.skipped += 1  # withdrawn by its producer: silently not an indicator any more
                continue
            ptype = o.get("pattern_type", "stix")
            if ptype != "stix":
                col.skip(f"indicator pattern_type '{ptype}' is not supported: skipped", record=i)
                continue
            pattern = o.get("pattern")
            if not isinstance(pattern, str):
                col.problem("indicator without a 'pattern' string", record=i)
                continue
            names = _names(o.get("name"), o.get("indicator_types"), o.get("labels"), related.get(o.get("id", ""), ()))
            values, inexact = stix_pattern_hosts(pattern)
            if not values:
                why = "only inexact host comparisons" if inexact else "no IP, domain or URL equality"
                col.skip(f"pattern has {why}: skipped ({pattern[:80]})", record=i)
                continue
            for v in values:
                col.token(v, names, record=i)
        elif typ in _HOST_SCOS:
            value = o.get("value")
            if not isinstance(value, str):
                col.problem(f"{typ} object without a 'value'", record=i)
                continue
            col.token(value, related.get(o.get("id", ""), ()), record=i)


# -- STIX 1.x XML -----------------------------------------------------------------------------

def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


_STIX1_EXACT = (None, "", "equals")


def _parse_stix1(data: bytes, col: _Collector) -> None:
    import xml.etree.ElementTree as ET

    if b"<!ENTITY" in data[:4096]:
        col.fail("not accepted: XML with entity declarations")
        return
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        col.fail(f"not STIX 1 XML: {exc}")
        return
    # Names of the indicators that reference each observable by idref.
    ref_names: dict[str, tuple[str, ...]] = {}

    def indicator_names(el: ET.Element) -> tuple[str, ...]:
        """An Indicator's Title, then its Types (``IP Watchlist``, ``C2``...)."""
        titles = [c.text for c in el if _local(c.tag)[1] == "Title"]
        types = [c.text for c in el if _local(c.tag)[1] == "Type"]
        return _names(titles, types)

    for ind in root.iter():
        if _local(ind.tag)[1] != "Indicator":
            continue
        names = indicator_names(ind)
        for sub in ind.iter():
            ref = sub.get("idref")
            if ref and _local(sub.tag)[1] == "Observable":
                ref_names[ref] = _names(ref_names.get(ref, ()), names)

    counter = [0]

    def value(el: ET.Element, names: tuple[str, ...], category: str | None) -> None:
        rec = counter[0]
        counter[0] += 1
        text = (el.text or "").strip()
        if not text:
            return
        if (el.get("condition") or "").lower() not in _STIX1_EXACT:
            col.skip(f"'{text[:60]}' has condition '{el.get('condition')}', not Equals: skipped", record=rec)
            return
        if category and category.lower() in ("e-mail", "mac", "asn"):
            col.skipped += 1
            return
        for part in text.split("##comma##"):
            if part.strip():
                col.token(part, names, record=rec)

    def walk(el: ET.Element, names: tuple[str, ...], category: str | None) -> None:
        ns, local = _local(el.tag)
        if local == "Indicator":
            names = _names(names, indicator_names(el))
        elif local == "Observable" and el.get("id") in ref_names:
            names = _names(names, ref_names[el.get("id", "")])
        elif local == "Properties":
            category = el.get("category")
        if (local == "Address_Value" and "AddressObject" in ns) or (local == "Hostname_Value" and "HostnameObject" in ns) \
                or (local == "Value" and ("DomainNameObject" in ns or "URIObject" in ns)):
            value(el, names, category)
            return
        for child in el:
            walk(child, names, category)

    walk(root, (), None)


# -- CSV formats ------------------------------------------------------------------------------

def _rows(text: str, col: _Collector) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank, non-comment CSV row; a row csv refuses (a field past
    its 128 kB limit) is a problem on its line, and the rows after it are read."""
    out = []
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            col.problem(f"unreadable CSV row: {exc}", line=reader.line_num)
            continue
        lineno = reader.line_num
        if not fields or not any(f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
            continue
        out.append((lineno, [f.strip() for f in fields]))
    return out


def _col(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_OTX_HOST_TYPES = {"ipv4": "ip", "ipv6": "ip", "cidr": "ip", "domain": "domain", "hostname": "domain", "url": "url", "uri": "url"}


def _parse_otx(text: str, col: _Collector) -> None:
    rows = _rows(text, col)
    if not rows:
        col.fail("empty OTX CSV")
        return
    header = [_col(f) for f in rows[0][1]]
    if "indicatortype" not in header or "indicator" not in header:
        col.fail("not an OTX CSV export: the header needs 'Indicator type' and 'Indicator'")
        return
    ti, vi = header.index("indicatortype"), header.index("indicator")
    di = header.index("description") if "description" in header else None
    for lineno, fields in rows[1:]:
        if len(fields) <= max(ti, vi):
            col.problem(f"expected at least {max(ti, vi) + 1} fields, found {len(fields)}", line=lineno)
            continue
        typ = fields[ti].lower()
        if typ not in _OTX_HOST_TYPES:
            col.skipped += 1  # hashes, e-mail, mutexes, CVEs, YARA...: valid intel, not hosts
            continue
        names = _names(fields[di]) if di is not None and di < len(fields) else ()
        col.token(fields[vi], names, line=lineno)


def _parse_alienvault(text: str, col: _Collector) -> None:
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split("#")
        if len(fields) < 4:
            col.problem(f"expected ip#risk#reliability#activity#..., found {len(fields)} fields", line=lineno)
            continue
        col.token(fields[0], _names([a for a in fields[3].split(";")]), line=lineno)


# Emerging Threats (Proofpoint ET Intelligence) reputation category ids. From the public ET
# IQRisk category list as quoted by integrations; an id not in this table is kept as "ET category <id>".
ET_CATEGORIES = {
    1: "CnC", 2: "Bot", 3: "Spam", 4: "Drop", 5: "SpywareCnC", 6: "OnlineGaming", 7: "DriveBySrc", 8: "ChatServer",
    9: "TorNode", 10: "Compromised", 11: "P2P", 12: "Proxy", 13: "IPCheck", 14: "Utility", 15: "DDoSTarget",
    16: "Scanner", 17: "Brute_Forcer", 18: "FakeAV", 19: "DynDNS", 20: "Undesirable", 21: "AbusedTLD",
    22: "SelfSignedSSL", 23: "Blackhole", 24: "RemoteAccessService", 25: "P2PCnC", 26: "Parking", 27: "VPN",
    28: "EXE_Source", 30: "Mobile_CnC", 31: "Mobile_Spyware_CnC", 32: "Skype_SuperNode", 33: "Bitcoin_Related",
    34: "DDoSAttacker",
}


def _et_category(field_: str) -> str:
    if field_.isdigit():
        return ET_CATEGORIES.get(int(field_), f"ET category {field_}")
    return field_


def _parse_proofpoint(text: str, col: _Collector) -> None:
    rows = _rows(text, col)
    start = 0
    if rows and "category" in [_col(f) for f in rows[0][1]]:
        start = 1  # header row
    for lineno, fields in rows[start:]:
        if len(fields) < 2:
            col.problem(f"expected ip-or-domain,category,score[,...], found {len(fields)} field", line=lineno)
            continue
        col.token(fields[0], _names(_et_category(fields[1])), line=lineno)


# iSIGHT CSV columns (normalised: lower case, letters and digits only) that hold hosts, and
# those that name the threat.
_FIREEYE_HOSTS = ("ip", "ipaddress", "ipv4", "ipv6", "sourceip", "srcip", "destinationip", "dstip", "cidr", "domain",
                  "domainname", "sourcedomain", "hostname", "host", "fqdn", "url", "uri", "networkurl")
_FIREEYE_NAMES = ("malwarefamily", "malware", "actor", "threatname", "threatscape", "title")


def _parse_fireeye(text: str, col: _Collector) -> None:
    rows = _rows(text, col)
    if not rows:
        col.fail("empty CSV")
        return
    header = [_col(f) for f in rows[0][1]]
    hosts = [i for i, h in enumerate(header) if h in _FIREEYE_HOSTS]
    # threat-name columns, most specific first (family, actor, ..., report title)
    names = sorted((i for i, h in enumerate(header) if h in _FIREEYE_NAMES), key=lambda i: _FIREEYE_NAMES.index(header[i]))
    if not hosts:
        col.fail("no IP, CIDR, domain, hostname or URL column in the CSV header")
        return
    for lineno, fields in rows[1:]:
        row_names = _names([fields[i] for i in names if i < len(fields)])
        any_host = False
        for i in hosts:
            if i < len(fields) and fields[i]:
                any_host = True
                col.token(fields[i], row_names, line=lineno)
        if not any_host:
            col.skipped += 1  # a hash- or e-mail-only row


# -- sniffing and entry points ----------------------------------------------------------------

_AV_LINE = re.compile(r"^[0-9a-fA-F.:]+#\d+#\d+#")
_ET_ROW = re.compile(r"^[^,\s]+,\s*\d+\s*,\s*\d+\s*(,|$)")


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text[1:] if text.startswith("\ufeff") else text


def sniff(data: bytes) -> str:
    """The GuardDuty format name of a list's content."""
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"[", b"<"):
        return "STIX"
    lines = []
    for raw in _decode(head).splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
            if len(lines) >= 20:
                break
    if not lines:
        return "TXT"
    first = lines[0]
    try:
        header = [_col(f) for f in next(csv.reader([first]))]
    except (csv.Error, StopIteration):
        header = []
    if "indicatortype" in header and "indicator" in header:
        return "OTX_CSV"
    if any(_AV_LINE.match(line) for line in lines):  # (not the first line alone: a bad one would make the list TXT)
        return "ALIEN_VAULT"
    if "category" in header and "score" in header:
        return "PROOF_POINT"
    if len(header) >= 2 and any(h in _FIREEYE_HOSTS for h in header):
        return "FIRE_EYE"
    if all(_ET_ROW.match(line) for line in lines):
        return "PROOF_POINT"
    return "TXT"


def split_spec(spec: str | Path) -> tuple[str | None, str]:
    """``"STIX:/x/feed.json"`` -> ``("STIX", "/x/feed.json")``; a plain path -> ``(None, path)``."""
    text = str(spec)
    head, sep, rest = text.partition(":")
    if sep and head.upper() in FORMATS and rest:
        return head.upper(), rest
    return None, text


_LIST_SUFFIXES = (".txt", ".csv", ".json", ".xml", ".lst", ".list", ".ipset", ".netset", ".tsv", ".stix", ".dat", ".data")


def list_name(path: str | Path) -> str:
    """A list's default name: the file name without compression and list extensions."""
    name = Path(str(path)).name
    for suffix in (".gz", ".gzip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    lower = name.lower()
    for suffix in _LIST_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def parse(data: bytes, *, name: str, path: Path | str = "", format: str | None = None, vet: Vet | None = None) -> ListLoad:
    """Parse list content (gzip is undone here). `format` forces a GuardDuty format name; `vet` refuses
    entries (a problem on their line, ``ListLoad.refused``) that parse but must not be listed. A vetted
    list (an operator's) is judged whole too: one covering too much of the Internet is warned about or
    refused (``intel.guard.vet_coverage``)."""
    where = str(path) or name
    col = _Collector(where, vet)
    if data[:2] == GZIP_MAGIC:
        data, err = gunzip(data)
        if err:
            col.problem(f"damaged gzip ({err}): the readable part was loaded")
    fmt = (format or "").upper() or sniff(data)
    if fmt not in FORMATS:
        col.fail(f"unknown list format '{format}' (one of {', '.join(FORMATS)})")
        return col.result(name, path, fmt)
    if fmt == "STIX":
        head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:1] == b"<":
            _parse_stix1(data, col)
        else:
            _parse_stix2(data, col)
    elif fmt == "TXT":
        _parse_txt(_decode(data), col)
    elif fmt == "OTX_CSV":
        _parse_otx(_decode(data), col)
    elif fmt == "ALIEN_VAULT":
        _parse_alienvault(_decode(data), col)
    elif fmt == "PROOF_POINT":
        _parse_proofpoint(_decode(data), col)
    else:
        _parse_fireeye(_decode(data), col)
    load = col.result(name, path, fmt)
    if vet is not None:
        from trailhound.intel.guard import vet_coverage  # guard reads intel.index, which reads this module

        vet_coverage(load)
    return load


def load_list(spec: str | Path, name: str | None = None, format: str | None = None, vet: Vet | None = None) -> ListLoad:
    """Read and parse one list file. `spec` is a path, optionally ``FORMAT:``-prefixed; the list is
    named after the file (``ipsum.txt.gz`` -> ``ipsum``) unless `name` is given. A missing file
    raises FileNotFoundError; a damaged gzip loads its readable part with a problem."""
    forced, location = split_spec(spec)
    path = Path(location)
    raw = read(path)
    load = parse(raw.data, name=name or list_name(path), path=path, format=format or forced, vet=vet)
    if raw.error:
        load.problems.insert(0, Problem(str(path), raw.error))
        load.problem_count += 1
    return load
