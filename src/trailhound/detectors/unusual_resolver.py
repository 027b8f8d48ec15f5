"""DefenseEvasion:EC2/UnusualDNSResolver, UnusualDoHActivity, UnusualDoTActivity — an instance starts
resolving names somewhere its defenders cannot see.

An instance that sends its DNS to the VPC resolver leaves a query log and meets its DNS firewall;
one that switches to a public resolver (53), to DNS over HTTPS (443 to a resolver's address) or over
TLS (853) leaves neither. Judged per instance against its own baseline (``habits``): the resolvers it
used, by operator and kind, in the last 35 days. A settled instance (watched for a week, active on
four days) that uses one it has no recent history with raises the kind's type, once a day, and
learns it.

* DNS: port 53 to an address on the packaged list of public resolvers (``data/public-dns.txt.gz``,
  MISP warninglists public-dns-v4/v6, CC0; see ``data/SOURCE.md``). The VPC resolver (169.254.169.253,
  the VPC's .2) is private and never read.
* DoH: 443 to an address of ``habits.DOH_RESOLVERS`` (each operator's documented resolver
  addresses, which serve nothing else: 1.1.1.1 is DoH, Cloudflare's CDN addresses are web sites).
* DoT: 853 (IANA's domain-s) to any public address.

State per instance: its resolvers (about 30 bytes each, usually one or two), deleted after 31 quiet days.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailhound.detectors.habits import DOH_RESOLVERS, DPORT, DST, RECENT_DAYS, Habits, InstanceBaseline, case_host, history
from trailhound.engine import FindingType, severity
from trailhound.findings.model import MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

DNS_TYPE = "DefenseEvasion:EC2/UnusualDNSResolver"
DOH_TYPE = "DefenseEvasion:EC2/UnusualDoHActivity"
DOT_TYPE = "DefenseEvasion:EC2/UnusualDoTActivity"
KINDS = {"DNS": (DNS_TYPE, "DNS"), "DoH": (DOH_TYPE, "DNS over HTTPS"), "DoT": (DOT_TYPE, "DNS over TLS")}
RESOLVER_LIST = Path(__file__).with_name("data") / "public-dns.txt.gz"


@cache
def public_resolvers() -> frozenset[str]:
    """The packaged public resolvers (read on the first DNS row to a public address)."""
    text = gzip.decompress(RESOLVER_LIST.read_bytes()).decode()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#")) | frozenset(DOH_RESOLVERS)


def resolver(dport: int | None, address: str) -> tuple[str, str] | None:
    """(kind, operator or address) of a connection to a public resolver, or None."""
    if dport == 53:
        return ("DNS", DOH_RESOLVERS.get(address, address)) if address in public_resolvers() else None
    if dport == 853:
        return "DoT", DOH_RESOLVERS.get(address, address)
    if dport == 443 and address in DOH_RESOLVERS:
        return "DoH", DOH_RESOLVERS[address]
    return None


def _mitre(kind: str) -> tuple[str, str]:
    return ("TA0005 Defense Evasion", "T1562 Impair Defenses") if kind == "DNS" else ("TA0005 Defense Evasion", "T1572 Protocol Tunneling")


class UnusualResolver(InstanceBaseline):
    name = "unusual-resolver"
    findings = (
        FindingType(DNS_TYPE, severity(MEDIUM), *_mitre("DNS"),
                    f"an instance with a week of history sends DNS (53) to a public resolver it has not used in {RECENT_DAYS} days"),
        FindingType(DOH_TYPE, severity(MEDIUM), *_mitre("DoH"),
                    f"an instance with a week of history connects to a DoH resolver's address on 443, new in {RECENT_DAYS} days"),
        FindingType(DOT_TYPE, severity(MEDIUM), *_mitre("DoT"),
                    f"an instance with a week of history connects to port 853 (DNS over TLS) of a server new in {RECENT_DAYS} days"),
    )

    def judge(self, key: str, row: tuple[Any, ...], st: Habits, t: float, day: int) -> Iterable[Occurrence]:
        found = resolver(row[DPORT], row[DST])
        if found is None:
            return ()
        kind, operator = found
        value = f"{kind}|{operator}"
        out: list[Occurrence] = []
        if not self.known(st.seen, value, day) and self.settled(st, t):
            ftype, label = KINDS[kind]
            usual = [v.replace("|", " ") for v in self.usual(st.seen, day, t)]
            remote = row[DST]
            named = remote if operator == remote else f"{operator} ({remote})"
            out.append(self.occurrence(
                ftype, self.severity(ftype), row, st,
                f"EC2 instance {{instance}} is using an unusual {label} resolver, {named}.",
                f"EC2 instance {{instance}} sent {label} to {named}, a public resolver it has not used in the last {RECENT_DAYS} days. "
                "Resolving names outside the VPC resolver escapes DNS query logging and DNS firewall rules.",
                {"baseline": f"resolvers in the last {RECENT_DAYS} days: {', '.join(usual) or 'none (the VPC resolver only)'}; now {kind} {named}",
                 "usualResolvers": usual, "resolver": remote, "operator": operator, "protocol": kind},
                aggregation_key=value))
        self.profile.learn(st.seen, value, t)
        return out


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, flow_row, internet_addresses

    web, db = internet_addresses(2, seed=85)
    usual = [(web, 443), (db, 5432)]

    def now(host: Any, dst: str, dport: int, n: int = 3, protocol: int = 6) -> list[dict[str, Any]]:
        udp = protocol == 17
        return [flow_row(start + timedelta(minutes=2 * i), src=host.ip, dst=dst, sport=43000 + 11 * i, dport=dport, at=host, protocol=protocol,
                         flags=None if udp else 3, nbytes=160 if udp else 2600, packets=2 if udp else 12) for i in range(n)]

    hosts = {name: case_host(40 + n, name) for n, name in enumerate(
        ("app-4", "app-5", "app-6", "app-7", "ci-2", "app-8", "app-9", "fresh-3", "app-10"))}
    h = hosts
    open_resolver = sorted(public_resolvers() - set(DOH_RESOLVERS))[1000]  # one of the list's many open resolvers
    return [
        Case("switches-to-cloudflare-dns", DNS_TYPE, history(h["app-4"], start, 10, usual) + now(h["app-4"], "1.1.1.1", 53, protocol=17),
             source="flow", role="ACTOR"),
        Case("uses-an-open-resolver", DNS_TYPE, history(h["app-5"], start, 10, usual) + now(h["app-5"], open_resolver, 53, protocol=17),
             source="flow", role="ACTOR"),
        Case("starts-dns-over-https", DOH_TYPE, history(h["app-6"], start, 10, usual) + now(h["app-6"], "1.1.1.1", 443), source="flow",
             role="ACTOR"),
        Case("starts-dns-over-tls", DOT_TYPE, history(h["app-7"], start, 10, usual) + now(h["app-7"], "9.9.9.9", 853), source="flow",
             role="ACTOR"),
        # a CI host whose containers always resolved through Google
        Case("always-used-google-dns", None, history(h["ci-2"], start, 10, usual + [("8.8.8.8", 53)]) + now(h["ci-2"], "8.8.8.8", 53, protocol=17),
             source="flow"),
        Case("vpc-resolver", None, history(h["app-8"], start, 10, usual) + now(h["app-8"], "169.254.169.253", 53, protocol=17)
             + now(h["app-8"], "10.0.0.2", 53, protocol=17), source="flow"),
        # HTTPS to a site on Cloudflare's CDN, and to Google's web front ends: web traffic, not DoH
        Case("https-to-cdn-of-a-doh-operator", None, history(h["app-9"], start, 10, usual) + now(h["app-9"], "104.16.132.229", 443)
             + now(h["app-9"], "142.250.72.14", 443), source="flow"),
        Case("fresh-instance-uses-public-dns", None, history(h["fresh-3"], start, 2, usual) + now(h["fresh-3"], "1.1.1.1", 53, protocol=17),
             source="flow"),
        Case("always-used-doh", None, history(h["app-10"], start, 10, usual + [("8.8.8.8", 443)]) + now(h["app-10"], "8.8.8.8", 443),
             source="flow"),
    ]
