"""Trojan:EC2/DNSDataExfiltration — an instance encoding data into the names it looks up (DNS tunnelling).

A tunnel (iodine, dns2tcp, dnscapy, dnscat2, the GuardDuty tester) has to put its bytes in the query
names of a zone whose name server the attacker runs, so it shows as a stream of *unique* names with
long, random-looking labels under one registrable domain, often with TXT, NULL or CNAME queries (the
record types that carry data back). Judged per (instance, registrable domain — the PSL's private
section too, so each customer of a dynamic-DNS or hosting suffix is its own owner):

* per distinct query name, once (memoised): the labels left of the registrable domain that look
  encoded — base64 or raw bytes (characters outside a hostname's), mixed case, digits and letters
  interleaved, hex strings, too few vowels or long consonant runs for words — and their length, the
  *encoded bytes* of the name. Names with fewer than 16 such characters never reach the engine: an
  ordinary lookup costs one dict probe, and only a key with suspicious names has state.
* within ten minutes: ≥ 40 distinct encoded names carrying ≥ 2,400 encoded bytes; half that when
  most of them ask for a data-carrying record type (TXT, NULL, CNAME, MX, SRV, ANY...).
* slow and low, within an hour: ≥ 120 distinct encoded names and ≥ 6,000 encoded bytes (two names a
  minute, kept up). Below that — a name every few minutes — a trickle is not told apart from the
  random nonces of ordinary clients, and is not reported.

Known encoders stay silent by construction rather than by count:

* zones answered inside (RFC 6761 special-use names, ``.internal``, ``cluster.local``: Kubernetes
  and ECS service discovery, EC2 host names) and zones the cloud or CDN provider answers itself
  (``amazonaws.com``, ``on.aws``, CloudFront, Akamai, Fastly, Azure, Google): a name there reaches
  no one else's name server, so it cannot carry data out;
* DNS reputation services that read the name by design — antivirus file and URL reputation
  (McAfee GTI ``avts``/``avqs.mcafee.com``, Sophos ``sophosxl.net``, ESET ``e5.sk``), malware hash
  registries (Team Cymru) and mail block lists (Spamhaus, SURBL, URIBL, SpamCop, Barracuda, SORBS);
* the registrable domains of the shipped popular list (Majestic top 10k), except zones whose names their
  customers answer (dynamic DNS, tunnels, free hosting): Dropbox's hashed download hosts, ad frames;
* everything else by shape: CDN and load-balancer host names repeat (few distinct names), DKIM
  selectors and ACME challenges are a few names per domain, resolver and client-subnet probes carry
  short nonces at a low rate, and ordinary host names are words and numbers.

State per key: the window's minute (slow tier: five-minute) buckets with a distinct count of name
hashes (exact to 12, then a ~100-byte sketch), sums, counts and one example name (cut to 72
characters): ~150 bytes for a key that saw a stray name, ~3-4 KB at most mid-tunnel, deleted when
its window has passed.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from trailhound.engine import Count, Distinct, FindingType, Last, Sliding, Sum, Window, WindowedDetector, severity
from trailhound.enrich.domains import domain_with_suffix, split_name
from trailhound.enrich.reputation import shared_zones
from trailhound.events import DnsQuery, Source
from trailhound.findings.build import dns_request, instance_key, instance_resource
from trailhound.findings.model import HIGH, Occurrence
from trailhound.intel.benign import shipped_sets

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

DNS_EXFILTRATION = "Trojan:EC2/DNSDataExfiltration"
MIN_LABEL = 10  # shorter labels are counters, sequence numbers and words: never counted as encoded
MIN_NAME_BYTES = 16  # encoded characters a name needs to count at all (tunnel polls carry fewer)
FAST_NAMES, FAST_BYTES = 40, 2_400  # within ten minutes
SLOW_NAMES, SLOW_BYTES = 120, 6_000  # within an hour
# within six hours, of names that each carry a tunnel's long labels: a tunnel pacing itself under two names a minute
PACED_NAMES, PACED_BYTES, PACED_NAME_BYTES = 300, 15_000, 40
DATA_TYPES = frozenset({"TXT", "NULL", "CNAME", "MX", "SRV", "ANY", "KEY", "PRIVATE", "DNAME", "HINFO", "NAPTR", "10", "16", "65399"})
EXAMPLE_CHARS = 72
_MEMO_LIMIT = 500_000

# Zones whose names reach no third party's name server: answered inside the VPC or the cluster
# (RFC 6761 / 6762 / 8375 special-use names, ICANN's reserved .internal), or by the provider itself.
ANSWERED_INSIDE = ("local", "internal", "localhost", "invalid", "test", "home.arpa", "in-addr.arpa", "ip6.arpa")
PROVIDER_ZONES = (
    "amazonaws.com", "amazonaws.com.cn", "aws", "on.aws", "api.aws", "cloudfront.net", "awsglobalaccelerator.com", "amazontrust.com",
    "akamai.net", "akamaiedge.net", "akamaihd.net", "edgekey.net", "edgesuite.net", "fastly.net", "fastlylb.net",
    "azureedge.net", "azurefd.net", "trafficmanager.net", "cloudapp.azure.com", "windows.net", "googleusercontent.com", "gvt1.com",
)
# DNS reputation services: the name is the question, read by the vendor by design.
REPUTATION_ZONES = (
    "avts.mcafee.com", "avqs.mcafee.com", "gti.mcafee.com",  # McAfee (Trellix) GTI file and URL reputation
    "sophosxl.net",  # Sophos Live Protection (SXL)
    "e5.sk",  # ESET LiveGrid
    "hash.cymru.com", "asn.cymru.com",  # Team Cymru malware hash registry, IP-to-ASN
    "spamhaus.org", "spamhaus.net", "surbl.org", "uribl.com", "spamcop.net", "barracudacentral.org", "sorbs.net",
    "senderbase.org", "mailspike.net", "dnswl.org",
    "rspamd.com",  # rspamd's hashed-address (email.) and URL (uribl.) blocklists: 32-character base32 labels by design
    "msbl.org",  # the Invaluement/MSBL email blocklist, asked with hashed addresses
    "abusix.zone",  # Abusix Mail Intelligence: <md5 of the sender>.<account key>.shorthash.mail.abusix.zone, one name a message
    "nordspam.com", "spameatingmonkey.net", "junkemailfilter.com", "uceprotect.net", "manitu.net", "senderscore.com",
    "surriel.com", "blocklist.de", "dronebl.org", "interserver.net", "0spam.org",  # other mail blocklists (hashed domains, addresses)
)
QUIET_ZONES = frozenset(ANSWERED_INSIDE + PROVIDER_ZONES + REPUTATION_ZONES)
_HOSTNAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_HEX = frozenset("0123456789abcdef")
_VOWELS = frozenset("aeiouy")


def quiet_zone(name: str) -> str | None:
    """The known zone a (normalised) name falls in, if any: its names cannot carry data out, or are read by design."""
    at = 0
    while True:
        if name[at:] in QUIET_ZONES:
            return name[at:]
        at = name.find(".", at) + 1
        if not at:
            return None


@functools.lru_cache(maxsize=65_536)
def popular(domain: str) -> bool:
    """A registrable domain on the shipped popular list (Majestic top 10k) that hands no one else its names (not a
    dynamic-DNS, tunnel or hosting zone): its name servers are its company's, so its hashed host names (Dropbox's
    download hosts, ad frames) carry nothing out."""
    return shipped_sets().domain(domain) == "popular-domain" and domain not in shared_zones() and domain not in _EXAMPLE


_EXAMPLE = frozenset({"example.com", "example.net", "example.org"})  # RFC 2606's: no one's service, the zones of lab captures


def encoded_label(label: str) -> bool:
    """Whether one label looks like encoded bytes rather than a word, a host name or a counter."""
    n = len(label)
    if n < MIN_LABEL:
        return False
    low = label.lower()
    if len(set(low)) < min(8, n // 2):
        return False  # repetition is not randomness
    if not _HOSTNAME.issuperset(low[1:] if low[0] == "_" else low):
        return True  # base64's + / = _, raw bytes, escapes: no host name has them (a service label may lead with _)
    if low != label:
        upper = sum(c.isupper() for c in label[1:])
        if upper >= 2 and n - upper - 1 >= 2 and label.upper() != label:
            return True  # mixed case beyond a capital: base64
    letters = [c for c in low if "a" <= c <= "z"]
    digits = sum(c.isdigit() for c in low)
    if digits >= 2 and len(letters) >= 2:
        if n >= 16 and _HEX.issuperset(low):
            return True  # a hex string (dnscat2, hashes)
        switches = sum(1 for a, b in zip(low, low[1:]) if a.isdigit() != b.isdigit() and a != "-" and b != "-")
        if switches >= 4:
            return True  # letters and digits interleaved: base32, random tokens
    if len(letters) >= 10:
        vowels = sum(c in _VOWELS for c in letters)
        if vowels < 0.2 * len(letters):
            return True
        run = best = 0
        for c in letters:
            run = 0 if c in _VOWELS else run + 1
            best = max(best, run)
        if best >= 6:
            return True  # no word has six consonants in a row; random letters often do
    return False


def _carried(label: str) -> int:
    """Bytes a label can carry: a hex character holds half a byte, any other encoding more (a 16-hex
    client-subnet probe every 20 s is 8 bytes a name, not a tunnel's 40-150)."""
    return len(label) // 2 if len(label) >= 16 and _HEX.issuperset(label.lower()) else len(label)


def analyse(query_name: str) -> tuple[str, int, int] | None:
    """(registrable domain, encoded bytes, a hash of its encoded labels) of a name that carries enough encoded-looking
    labels, else None. Names count as distinct by their encoded labels: a reputation service's subscriber key asked
    with a thousand addresses (``<reversed ip>.<key>.r.example-rbl.com``) is one key, carrying nothing new."""
    name = query_name.rstrip(".")
    if len(name) < MIN_NAME_BYTES + 4:
        return None
    labels = name.split(".")
    if sum(_carried(label) for label in labels[:-1] if encoded_label(label)) < MIN_NAME_BYTES:
        return None  # most names end here, before any suffix list is consulted
    low = name.lower()
    if quiet_zone(low) is not None:
        return None
    sub, domain, _ = split_name(low, True)
    if not domain or not sub or popular(domain):
        return None
    # the labels left of the registrable domain, case kept (base64 needs it)
    carrying = [label for label in labels[: sub.count(".") + 1] if encoded_label(label)]
    encoded = sum(map(_carried, carrying))
    return (domain, encoded, zlib.crc32(".".join(carrying).encode("utf-8", "surrogatepass"))) if encoded >= MIN_NAME_BYTES else None


# per distinct query name (shared by both tiers): names repeat heavily, a tunnel's never do; cleared when full
_MEMO: dict[str, tuple[str, int, int] | None] = {}


def _analysed(name: str) -> tuple[str, int, int] | None:
    try:
        return _MEMO[name]
    except KeyError:
        found = _MEMO[name] = analyse(name)
        return found


class _Picked:
    events: Any = None  # the last batch a tier picked from (held until the next one), its length and its pick
    size = 0
    picked: Any = None


_PICKED = _Picked()


def _meets(names: int, nbytes: float, encoded: int, data: int, need_names: int, need_bytes: int) -> bool:
    """The threshold both tiers share: distinct encoded names and the bytes they carry (halved when most
    of the queries ask for record types that carry data back)."""
    if data * 2 >= encoded > 0:
        need_names, need_bytes = need_names // 2, need_bytes // 2
    unique_bytes = nbytes * names / encoded if encoded else 0.0  # repeats of a name carry nothing new
    return names >= need_names and unique_bytes >= need_bytes


def _zone(names: Sequence[str], domain: str) -> str:
    """The tunnel's zone: the labels every example name ends with (at least the registrable domain)."""
    tails = [n.lower().rstrip(".").split(".") for n in names]
    common: list[str] = []
    for parts in zip(*(reversed(t) for t in tails)):
        if len(set(parts)) != 1 or encoded_label(parts[0]):
            break
        common.append(parts[0])
    zone = ".".join(reversed(common))
    return zone if zone.endswith(domain) and len(common) < min(len(t) for t in tails) else domain


class _DnsExfiltration(WindowedDetector):
    consumes = Source.DNS
    findings = (FindingType(
        DNS_EXFILTRATION, severity(HIGH), "TA0010 Exfiltration", "T1048 Exfiltration Over Alternative Protocol",
        f"≥{FAST_NAMES} unique names with encoded-looking labels carrying ≥{FAST_BYTES:,} bytes under one domain within 10 minutes "
        f"(half with TXT/NULL/CNAME queries), ≥{SLOW_NAMES} and ≥{SLOW_BYTES:,} bytes within an hour, or ≥{PACED_NAMES} names of "
        f"≥{PACED_NAME_BYTES} encoded bytes each, ≥{PACED_BYTES:,} bytes, within six hours"),)
    reducers = {"names": Distinct(exact=12, sample=0), "bytes": Sum(), "encoded": Count(), "data": Count(),
                "types": Distinct(exact=6, sample=6), "example": Last()}

    def candidates(self, events: Sequence[DnsQuery]) -> Sequence[DnsQuery]:
        """The queries whose name may carry encoded data (or was not seen before): one dict probe each.
        Both tiers read the same batch in a row; the second gets the first's pick."""
        if events is _PICKED.events and len(events) == _PICKED.size:
            return _PICKED.picked
        if len(_MEMO) > _MEMO_LIMIT:
            _MEMO.clear()
        get = _MEMO.get
        picked = [q for q in events if get(q.query_name, q) is not None]
        _PICKED.events, _PICKED.size, _PICKED.picked = events, len(events), picked
        return picked

    min_name_bytes = 0  # encoded bytes a name needs to count in this tier

    def key_of(self, q: DnsQuery) -> str | None:
        found = _analysed(q.query_name)
        if found is None or found[1] < self.min_name_bytes:
            return None
        return f"{q.srcids.instance or q.srcaddr or 'unknown'}|{found[0]}"

    def observe(self, rows: list[DnsQuery]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        for q in rows:
            found = _analysed(q.query_name)
            if found is None:
                continue
            name, qtype = q.query_name.rstrip("."), q.query_type.upper()
            # one example name a bucket (its middle cut: the zone is at its end), with what the finding names
            example = name if len(name) <= EXAMPLE_CHARS else f"{name[: EXAMPLE_CHARS // 2]}…{name[-EXAMPLE_CHARS // 2 :]}"
            context = [example, q.srcids.instance, q.srcaddr, q.account_id, q.region, q.transport or "UDP",
                       q.firewall_rule_action == "BLOCK"]
            yield q.query_timestamp.timestamp(), (found[2], found[1], 1,
                                                  1 if qtype in DATA_TYPES else None, qtype, context)

    def _window_meets(self, w: Window, need_names: int, need_bytes: int) -> bool:
        return _meets(w["names"].count, w["bytes"], w["encoded"], w["data"], need_names, need_bytes)

    def _pair_meets(self, w: Window, need_names: int, need_bytes: int) -> bool:
        """Whether some two adjacent buckets of the window (or one) meet a faster tier's threshold: that tier reports them."""
        names, nbytes, encoded, data = (dict(w.per_bucket(r)) for r in ("names", "bytes", "encoded", "data"))
        step = self.window.step
        for t in names:
            pair = [u for u in (t, t + step) if u in names]
            if _meets(sum(names[u].count for u in pair), sum(nbytes[u] for u in pair), sum(encoded[u] for u in pair),
                      sum(data[u] for u in pair), need_names, need_bytes):
                return True
        return False

    def report(self, key: str, w: Window) -> list[Occurrence]:
        _, iid, ip, account, region, transport, blocked = w["example"]
        domain = key.rsplit("|", 1)[1]
        examples = list(dict.fromkeys(e[0] for _, e in w.per_bucket("example")))[-5:]
        zone = _zone(examples, domain)
        names, encoded = w["names"], w["encoded"]
        nbytes = round(w["bytes"] * names.count / encoded) if encoded else 0
        types = sorted(w["types"].items)
        who = iid or ip or "unknown"
        minutes = max(1, round((w.last - w.first) / 60))
        title = f"EC2 instance {who} is exfiltrating data through DNS queries to {zone}."
        return [Occurrence(
            type=DNS_EXFILTRATION, severity=self.severity(DNS_EXFILTRATION), time=w.last, first_seen=w.first, account_id=account or "",
            region=region or "", resource=instance_resource(iid, None, ip), resource_key=instance_key(iid, None, ip),
            action=dns_request(zone, transport, bool(blocked), domain_with_suffix(zone)),
            title=title,
            description=f"{title} It sent {encoded} queries with {names.count}{'' if names.exact else ' (estimated)'} distinct names under "
            f"{zone} in {minutes} minute(s), about {nbytes:,} bytes of encoded labels ({', '.join(types)} queries), e.g. {examples[-1]}. "
            "Encoding data into the names of a domain whose name server an attacker runs (DNS tunnelling) moves it past firewalls "
            "that let DNS out.",
            resource_role="ACTOR", feature_name="DnsLogs", aggregation_key=domain,
            additional_info={"domain": zone, "queries": encoded, "distinctNames": names.count, "encodedBytes": nbytes,
                             "queryTypes": types, "sampleNames": examples},
        )]


class DnsExfiltration(_DnsExfiltration):
    """Within ten minutes: a tunnel moving data."""

    name = "dns-exfiltration"
    window = Sliding(length=600, step=60)
    state_version = 2  # 2: names distinct by their encoded labels

    def threshold(self, key: str, w: Window) -> bool:
        return self._window_meets(w, FAST_NAMES, FAST_BYTES)


class DnsExfiltrationSlow(_DnsExfiltration):
    """Within an hour: a tunnel that paces itself under the ten-minute threshold. An hour in which some
    ten minutes (two adjacent buckets) meet the fast threshold is the fast tier's to report."""

    name = "dns-exfiltration-slow"
    window = Sliding(length=3600, step=300)
    state_version = 2  # 2: names distinct by their encoded labels

    def threshold(self, key: str, w: Window) -> bool:  # (ten minutes: one bucket, or two adjacent ones)
        return self._window_meets(w, SLOW_NAMES, SLOW_BYTES) and not self._pair_meets(w, FAST_NAMES, FAST_BYTES)


class DnsExfiltrationPaced(_DnsExfiltration):
    """Within six hours: a tunnel pacing itself under two names a minute, each name carrying a tunnel's long labels
    (``PACED_NAME_BYTES``: a probe's or an agent's short ids never count). An hour that meets the slow threshold (two
    adjacent buckets) is the faster tiers' to report."""

    name = "dns-exfiltration-paced"
    window = Sliding(length=6 * 3600, step=1800)
    min_name_bytes = PACED_NAME_BYTES

    def threshold(self, key: str, w: Window) -> bool:  # (an hour: two adjacent buckets)
        return self._window_meets(w, PACED_NAMES, PACED_BYTES) and not self._pair_meets(w, SLOW_NAMES, SLOW_BYTES)


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, dns_record

    rnd = random.Random(53)
    slot = iter(start + timedelta(hours=3 * i) for i in range(100))  # each case clear of the others' hour-long windows

    def b32(n: int) -> str:
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(n))

    def b64(n: int) -> str:
        return "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(n))

    def hexs(n: int) -> str:
        return "".join(rnd.choice("0123456789abcdef") for _ in range(n))

    def chunks(text: str, size: int = 63) -> str:
        return ".".join(text[i : i + size] for i in range(0, len(text), size))

    def queries(names: list[str], every: float, qtype: str = "A", rcode: str = "NOERROR", t0: datetime | None = None,
                answers: list[str] | None = None) -> list[dict[str, Any]]:
        t0 = t0 or next(slot)
        out = []
        for i, name in enumerate(names):
            r = dns_record(t0 + timedelta(seconds=every * i), name, account=account, rcode=rcode, answers=answers)
            r["query_type"] = qtype
            if qtype != "A":
                r["answers"] = [] if rcode != "NOERROR" else [{"Rdata": b32(24), "Type": qtype, "Class": "IN"}]
            out.append(r)
        return out

    def dns(name: str, expect: str | None, records: list[dict[str, Any]]) -> Case:
        return Case(name, expect, records, source="dns", role="ACTOR" if expect else None)

    # tunnels, each with its own encoding
    dnscat2 = [f"{chunks(hexs(rnd.randint(60, 120)))}.c2.update-check.net" for _ in range(150)]  # hex, TXT, every 2 s
    iodine = [f"{rnd.choice('pqrs')}{b32(rnd.randint(90, 180))[:62]}.{b32(50)}.t.hidemyself.org" for _ in range(120)]  # base32, NULL
    dns2tcp = [f"{b64(63)}.{b64(63)}.{b64(rnd.randint(20, 60))}.dns.telemetry-sync.io" for _ in range(100)]  # base64, TXT
    tester = [f"0{b64(61).replace('+', '-').replace('/', '_')}.{b64(rnd.randint(30, 60))}.loganding123test.com" for _ in range(900)]
    slow = [f"{b32(56)}.{b32(rnd.randint(4, 20))}0.cdn-metrics.org" for _ in range(210)]  # a name every 20 s for 70 minutes
    # benign encoders
    mcafee = [f"0.{b32(52)}.{rnd.choice(['avts', 'avqs'])}.mcafee.com" for _ in range(300)]
    sophos = [f"{hexs(40)}.{hexs(24)}.4.sxl.sophosxl.net" for _ in range(300)]
    eset = [f"{b32(63)}.{b32(20)}.a.e5.sk" for _ in range(300)]
    # a mail gateway's rspamd asking its hashed-sender and hashed-URL blocklists (zbase32, 32 characters)
    rspamd = [f"{''.join(rnd.choice('ybndrfg8ejkmcpqxot1uwisza345h769') for _ in range(32))}.{rnd.choice(['email', 'uribl'])}.rspamd.com"
              for _ in range(300)]
    # a small mail relay's Abusix lookups: the sender's hashed address under the subscriber's key, a new name a message
    abusix = [f"{hexs(32)}.k3n8p2x7q9w4r6t1y5u0i8o3a2s7d9f4.shorthash.mail.abusix.zone" for _ in range(300)]
    cdn = ([f"d{hexs(12)}.cloudfront.net" for _ in range(80)]
           + [f"k8s-ingress-{hexs(10)}-{rnd.randint(10**9, 10**10)}.us-east-1.elb.amazonaws.com" for _ in range(80)]
           + [f"{b32(32)}.lambda-url.us-east-1.on.aws" for _ in range(80)])
    dkim_acme = ([f"{rnd.choice(['s1', 'selector1', 'google', 'k1', '20230601'])}._domainkey.{b32(8)}-mail.com" for _ in range(150)]
                 + [f"_acme-challenge.svc-{i:03d}.internal-apps.example.com" for i in range(60)])
    ecs_probes = [f"{hexs(16)}.ecs-probe.cdn-mapping.net" for _ in range(150)]  # a client-subnet probe every 30 s for 75 minutes
    service_discovery = ([f"web-{hexs(10)}-{b32(5)}.{rnd.choice(['payments', 'orders'])}.svc.cluster.local" for _ in range(150)]
                         + [f"{b32(12)}{hexs(20)}.tasks.prod.ecs.internal" for _ in range(150)])
    # a popular service's hashed host names: Dropbox's download hosts, ad-verification frames (their owners' name servers)
    popular_hashes = ([f"uc{hexs(26)}{b32(14)}.dl.dropboxusercontent.com" for _ in range(200)]
                      + [f"{hexs(32)}.safeframe.googlesyndication.com" for _ in range(200)])
    ordinary = [f"{rnd.choice(['img', 'static', 'api', 'shop', 'media'])}-{rnd.choice(['eu', 'us', 'ap'])}-{i:04d}.assets.example-shop.com"
                for i in range(400)]
    return [
        dns("dnscat2-hex-txt", DNS_EXFILTRATION, queries(dnscat2, 2, "TXT")),
        dns("iodine-base32-null", DNS_EXFILTRATION, queries(iodine, 1, "NULL")),
        dns("dns2tcp-base64-txt", DNS_EXFILTRATION, queries(dns2tcp, 3, "TXT")),
        dns("guardduty-tester-long-labels", DNS_EXFILTRATION, queries(tester, 0.2)),
        dns("slow-and-low-base32", DNS_EXFILTRATION, queries(slow, 20)),
        # a name every 40 seconds (1.5 a minute) for six hours, and TXT every two minutes: under the hour's threshold
        dns("paced-base32-over-hours", DNS_EXFILTRATION, queries([f"{b32(56)}.{b32(8)}.sync.metrics-relay.net" for _ in range(540)], 40)),
        dns("paced-txt-over-hours", DNS_EXFILTRATION, queries([f"{b32(60)}.{b32(30)}.k.relay-notes.org" for _ in range(180)], 120, "TXT")),
        # an agent checking in every 30 seconds all day with its 32-hex id and a nonce: short ids, no tunnel's labels
        dns("agent-check-ins-all-day", None, queries([f"{hexs(32)}.{hexs(32)}.checkin.vendor-agent.net" for _ in range(1440)], 30)),
        dns("av-mcafee-gti-lookups", None, queries(mcafee, 1, rcode="NOERROR", answers=["127.0.0.1"])),
        dns("av-sophos-live-protection", None, queries(sophos, 1, answers=["127.0.0.2"])),
        dns("av-eset-livegrid", None, queries(eset, 1, "TXT")),
        dns("mail-gateway-rspamd-hash-lists", None, queries(rspamd, 4, rcode="NXDOMAIN")),
        dns("mail-relay-abusix-hashed-senders", None, queries(abusix, 10, rcode="NXDOMAIN")),
        dns("cdn-elb-lambda-url-hashes", None, queries(cdn, 2)),
        dns("dkim-and-acme-lookups", None, queries(dkim_acme, 2, "TXT")),
        dns("client-subnet-probes", None, queries(ecs_probes, 30, "TXT")),
        dns("kubernetes-and-ecs-service-discovery", None, queries(service_discovery, 1)),
        dns("many-ordinary-names-under-one-domain", None, queries(ordinary, 1)),
        dns("popular-services-hashed-host-names", None, queries(popular_hashes, 3)),
        dns("single-long-label", None, queries([f"{b64(63)}.{b64(63)}.once.example-files.net"], 1, "TXT")),
        # a mail server asking an IP reputation service no list here names: a thousand senders' reversed addresses under its
        # subscriber key, the key the only encoded-looking label
        dns("ip-reputation-lookups-under-a-subscriber-key", None, queries(
            [f"{rnd.randint(1, 254)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 223)}.q7v2k9x4m8p3z6w1.r.rbl-example.net"
             for _ in range(600)], 0.5, answers=["127.0.0.2"])),
    ]
