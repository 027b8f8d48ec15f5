"""Impact:EC2/{Abused,Bitcoin,Malicious,Suspicious}DomainRequest.Reputation — a query for a domain of low reputation.

GuardDuty scores a domain's reputation and raises one of four types by what the score rests on. Here
the score is what can be known offline, per query name's *owner* (``enrich.reputation``: the
registrable domain, or the name registered under a dynamic-DNS zone or an abused service):

* from the name, once per distinct name (memoised): free dynamic-DNS, tunnel, paste/file-drop, out-of-band
  callback and free-hosting services; the DGA model's score of the owner's label; names on the
  threat lists under the same owner, or its label listed under another TLD; mining-pool vocabulary;
* from the estate, kept per owner by the engine (estate-wide: every account and instance of the scan):
  NXDOMAIN answers (``nxdomainHistory``; repeated: ≥ 3 names or ≥ 2 instances), and whether the owner was
  first asked for within the last day (``newlySeen``; a key is forgotten after 30 quiet days).

Each signal carries a weight; they combine as independent evidence, ``1 - prod(1 - w)``. The type is
chosen by the evidence, then the band:

* **Bitcoin** (High) — mining vocabulary, score ≥ 0.55 (``xmr``/``stratum``/``nicehash``… alone; a pool
  word with a coin and one more signal);
* **Malicious** (High) — score ≥ 0.75 resting on a threat list (names listed under the same owner,
  the label listed under another TLD) or on three signals or more;
* **Abused** (Medium) — a dynamic-DNS name, tunnel, paste or callback service or free hosting, score ≥ 0.55:
  the service's weight and at least one more signal (a name first seen today, a random-looking label,
  NXDOMAIN answers);
* **Suspicious** (Low) — anything else with score ≥ 0.7 on two signals or more: a random-looking name
  answered NXDOMAIN again and again across the estate, for instance. One generated name answered
  NXDOMAIN once is not enough (0.68): a burst of them is Trojan:EC2/DGADomainRequest.B's.

Precision first: no name that is, or lies under, a popular (top-10k) or known-benign name is judged, nor
one a packaged list names (its own type fires), nor internal, reverse or provider-answered names. Only
names with a static signal reach the engine, so an estate's ordinary lookups cost one memo probe and
keep no state. A finding is raised at most once an hour per (owner, instance); its ``additionalInfo``
lists every signal with its weight and value, and the score.

GuardDuty's tester triggers these types with ``{abused,crypto,malicious,suspicious}-rep.guarddutyc2activityb.com``;
those four names raise their type here too (``amazon-guardduty-tester``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors.dns_exfiltration import quiet_zone
from trailhound.detectors.dns_intel import REPUTATION_TESTER, asker, dns_occurrence
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.enrich.domains import memoised, normalize
from trailhound.enrich.reputation import WEIGHTS, Facts, Reputation, combine, reputation_for
from trailhound.events import DnsQuery, Source
from trailhound.findings.model import HIGH, LOW, MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

ABUSED = "Impact:EC2/AbusedDomainRequest.Reputation"
BITCOIN = "Impact:EC2/BitcoinDomainRequest.Reputation"
MALICIOUS = "Impact:EC2/MaliciousDomainRequest.Reputation"
SUSPICIOUS = "Impact:EC2/SuspiciousDomainRequest.Reputation"
BITCOIN_AT, MALICIOUS_AT, ABUSED_AT, SUSPICIOUS_AT = 0.55, 0.75, 0.55, 0.7
NEW_FOR = 86_400.0  # an owner first asked for within a day is newly seen
REPORT_EVERY = 3_600.0  # one occurrence per (owner, instance) an hour at most
MAX_TRACKED = 16  # instances, NXDOMAIN names and reports remembered per owner
_IMPACT = ("TA0011 Command and Control", "T1071.004 Application Layer Protocol: DNS")
_LISTED = frozenset({"listedUnderSameDomain", "listedNeighbourhood", "listedOtherTld"})
_TESTER = REPUTATION_TESTER
_MEMO_LIMIT = 500_000
_MISS = object()
_WHAT = {ABUSED: "a legitimate service commonly abused by malware (dynamic DNS, tunnels, paste sites, free hosting)",
         BITCOIN: "cryptocurrency mining", MALICIOUS: "known malicious domains", SUSPICIOUS: "no known threat, but a low reputation"}


class DomainState(msgspec.Struct, array_like=True):
    first: float  # event time the owner was first asked for in this estate
    nx: int = 0  # NXDOMAIN answers
    nx_names: list[int] = msgspec.field(default_factory=list)  # hashes of distinct NXDOMAIN names (up to MAX_TRACKED)
    nx_sources: list[int] = msgspec.field(default_factory=list)  # hashes of instances answered NXDOMAIN
    reported: list[tuple[int, float]] = msgspec.field(default_factory=list)  # (instance hash, last reported)


def _h(text: str) -> int:
    return zlib.crc32(text.encode())


def verdict(facts: Facts, dynamic: list[tuple[str, float, Any]]) -> tuple[str | None, float, list[tuple[str, float, Any]]]:
    """(type or None, score, signals) for a name's static facts and what the estate adds."""
    signals = sorted([*facts.signals, *dynamic], key=lambda s: -s[1])
    score = combine([w for _, w, _ in signals])
    names = {s for s, _, _ in signals}
    if facts.mining and score >= BITCOIN_AT and (len(signals) >= 2 or "miningStrong" in names):
        return BITCOIN, score, signals
    # three signals besides being new: every name is newly seen on its first lookup (a preview deployment, a new SaaS tenant)
    if score >= MALICIOUS_AT and (names & _LISTED or len(names - {"newlySeen"}) >= 3):
        return MALICIOUS, score, signals
    if facts.abused and score >= ABUSED_AT and len(signals) >= 2:
        return ABUSED, score, signals
    if score >= SUSPICIOUS_AT and len(signals) >= 2:
        return SUSPICIOUS, score, signals
    return None, score, signals


class DomainReputation(KeyedDetector[DomainState]):
    name = "domain-reputation"
    method = "reputation"
    consumes = Source.DNS
    State: ClassVar[type[msgspec.Struct]] = DomainState
    ttl = 30 * 86_400.0
    findings = (
        FindingType(BITCOIN, severity(HIGH), "TA0040 Impact", "T1496 Resource Hijacking",
                    f"a domain outside the top lists with mining-pool names (xmr, stratum, a pool word with a coin), reputation score ≥{BITCOIN_AT}"),
        FindingType(MALICIOUS, severity(HIGH), *_IMPACT,
                    f"a domain outside the top lists close to listed ones (a listed name under the same domain, its label listed under another "
                    f"TLD) or with three risk signals besides being newly seen, reputation score ≥{MALICIOUS_AT}"),
        FindingType(ABUSED, severity(MEDIUM), *_IMPACT,
                    f"a name under a free dynamic-DNS zone, a tunnel, paste or callback service or free hosting, with one more risk signal "
                    f"(first seen today, random-looking, NXDOMAIN history), reputation score ≥{ABUSED_AT}"),
        FindingType(SUSPICIOUS, severity(LOW), *_IMPACT,
                    f"a domain outside the top lists with two risk signals or more (random-looking label, NXDOMAIN history across the "
                    f"estate, first seen today), reputation score ≥{SUSPICIOUS_AT}"),
    )

    def __init__(self, intel: Any = None, places: Any = None, reputation: Reputation | None = None) -> None:
        super().__init__(intel, places)
        self.reputation = reputation or reputation_for(self.intel)
        self._judged: dict[str, Facts | str | None] = {}  # query name -> its facts, a tester type, or None

    def _facts(self, name: str) -> Facts | str | None:
        return memoised(self._judged, name, _MEMO_LIMIT, self._judge)

    def _judge(self, name: str) -> Facts | str | None:
        host = normalize(name)
        return _TESTER.get(host) or (None if quiet_zone(host) else self.reputation.facts(host))

    def candidates(self, events: Sequence[DnsQuery]) -> list[DnsQuery]:
        get, facts, miss = self._judged.get, self._facts, _MISS  # one memo probe per event
        # (only lookups of somewhere to connect to: a mail server's checks of the senders it is given are not its own contacts)
        return [q for q in events if (f := get(q.query_name, miss)) is not None and (f is not miss or facts(q.query_name) is not None)
                and q.seeks_address]

    def key_of(self, q: DnsQuery) -> str | None:
        got = self._facts(q.query_name)
        if got is None:
            return None
        return f"tester|{normalize(q.query_name)}" if isinstance(got, str) else got.owner

    def update(self, key: str, rows: list[DnsQuery], state: DomainState | None, watermark: float) -> tuple[list[Occurrence], DomainState | None]:
        out: list[Occurrence] = []
        for q in sorted(rows, key=lambda r: r.query_timestamp):
            t = q.query_timestamp.timestamp()
            if state is None:
                state = DomainState(first=t)
            source = q.srcids.instance or q.srcaddr or ""
            got = self._facts(q.query_name)
            if q.rcode == "NXDOMAIN":
                state.nx += 1
                for seen, item in ((state.nx_names, _h(normalize(q.query_name))), (state.nx_sources, _h(source))):
                    if item not in seen and len(seen) < MAX_TRACKED:
                        seen.append(item)
            if isinstance(got, str):
                ftype, score, signals = got, 1.0, [("amazon-guardduty-tester", 1.0, normalize(q.query_name))]
            elif got is None:
                continue
            else:
                ftype, score, signals = verdict(got, self.estate_signals(state, t))
            if ftype is None or not self._due(state, _h(source), t):
                continue
            out.append(self._report(q, ftype, score, signals, key, got if isinstance(got, Facts) else None, state))
        return out, state

    @staticmethod
    def estate_signals(state: DomainState, t: float) -> list[tuple[str, float, Any]]:
        dynamic: list[tuple[str, float, Any]] = []
        if state.nx:
            repeated = len(state.nx_names) >= 3 or len(state.nx_sources) >= 2
            signal = "nxdomainHistoryRepeated" if repeated else "nxdomainHistory"
            dynamic.append((signal, WEIGHTS[signal], {"answers": state.nx, "names": len(state.nx_names), "instances": len(state.nx_sources)}))
        if t - state.first < NEW_FOR:
            dynamic.append(("newlySeen", WEIGHTS["newlySeen"], datetime.fromtimestamp(state.first, UTC).isoformat(timespec="seconds")))
        return dynamic

    @staticmethod
    def _due(state: DomainState, source: int, t: float) -> bool:
        reported = state.reported
        for i, (s, at) in enumerate(reported):
            if s == source:
                if t - at < REPORT_EVERY:
                    return False
                reported[i] = (s, t)
                return True
        if len(reported) >= MAX_TRACKED:
            reported.pop(0)
        reported.append((source, t))
        return True

    def _report(self, q: DnsQuery, ftype: str, score: float, signals: list[tuple[str, float, Any]], key: str, facts: Facts | None,
                state: DomainState) -> Occurrence:
        name = normalize(q.query_name)
        owner = facts.owner if facts else name
        info: dict[str, Any] = {
            "domain": name, "reputationDomain": owner, "reputationScore": round(score, 3),
            "signals": [{"signal": s, "weight": w, "value": v} for s, w, v in signals],
            "popularity": "not on the packaged top lists" if facts else None,
        }
        if facts:
            info["lexical"] = facts.lexical
        info = {k: v for k, v in info.items() if v is not None}
        because = ", ".join(f"{s} ({v})" if not isinstance(v, dict) else s for s, _, v in signals[:4])
        return dns_occurrence(
            q, ftype, self.severity(ftype), f"EC2 instance {asker(q)} is querying {name}, a low-reputation domain associated with {_WHAT[ftype]}.",
            f"EC2 instance {asker(q)} queried {name}: reputation score {score:.2f} from {because}.",
            info=info, key=owner,
        )


# -- cases --------------------------------------------------------------------------------------------


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, dns_record

    t = iter(start + timedelta(minutes=3 * i) for i in range(1000))

    def dns(name: str, expect: str | None, *queries: tuple[str, str]) -> Case:
        """A case of one or more lookups (name, rcode), a minute apart."""
        at = next(t)
        recs = []
        for i, (qname, rcode) in enumerate(queries):
            rec = dns_record(at + timedelta(seconds=20 * i), qname, account=account, rcode=rcode)
            if rcode != "NOERROR":
                rec["answers"] = []
            recs.append(rec)
        return Case(name, expect, recs, source="dns", role="ACTOR")

    ok = "NOERROR"
    return [
        dns("rep-tester-abused", ABUSED, ("abused-rep.guarddutyc2activityb.com", ok)),
        dns("rep-tester-crypto", BITCOIN, ("crypto-rep.guarddutyc2activityb.com", ok)),
        dns("rep-tester-malicious", MALICIOUS, ("malicious-rep.guarddutyc2activityb.com", ok)),
        dns("rep-tester-suspicious", SUSPICIOUS, ("suspicious-rep.guarddutyc2activityb.com", ok)),
        # a random-looking name on a dynamic-DNS zone, first seen
        dns("rep-ddns-random-label", ABUSED, ("x7kq2vz9pw4m.duckdns.org", ok)),
        # a random-looking app name on free hosting (no chosen name beside a hash)
        dns("rep-free-hosting-random-app", ABUSED, ("x7kq2vz9pw4mq3.herokuapp.com", ok)),
        # a Cloudflare Quick Tunnel first seen in the estate
        dns("rep-quick-tunnel", ABUSED, ("plates-arrival-hungry-expo.trycloudflare.com", ok)),
        # an anonymous file drop
        dns("rep-file-drop", ABUSED, ("temp.sh", ok)),
        # a stratum endpoint of a pool no list names
        dns("rep-mining-pool-name", BITCOIN, ("xmr-eu1.hashpool-unlisted.net", ok)),
        # a pool word and a coin in the labels, first seen
        dns("rep-pool-and-coin", BITCOIN, ("eth.pool.coinhashers-example.org", ok)),
        # a random-looking dynamic-DNS name answered NXDOMAIN: four signals
        dns("rep-ddns-random-nxdomain", MALICIOUS, ("q9x2kv7tzm4w.ddns.net", "NXDOMAIN")),
        # a random-looking domain answered NXDOMAIN for three names under it
        dns("rep-random-label-nxdomain", SUSPICIOUS, *((f"{h}.qxkzvbtrwplmn.com", "NXDOMAIN") for h in ("www", "api", "cdn"))),
        # near misses
        dns("rep-popular-domain", None, ("www.wikipedia.org", ok)),
        dns("rep-ddns-home-name", None, ("myhomelab.duckdns.org", ok)),
        dns("rep-word-with-pool", None, ("www.liverpoolfc-tickets.com", ok)),
        dns("rep-random-label-answered", None, ("jgrqyxupl-store.com", ok)),
        dns("rep-provider-hash", None, ("d1x9k2pq7zv3lm.cloudfront.net", ok)),
        dns("rep-internal-name", None, ("ip-10-0-1-17.ec2.internal", "NXDOMAIN")),
        dns("rep-ddns-zone-itself", None, ("duckdns.org", ok)),
        # a host of the same domain as a name on the packaged lists (rippled.cleverpondky.com, maltrail elf_coinminer), once, answered
        dns("rep-listed-neighbour-alone", None, ("www.cleverpondky.com", ok)),
        # a listed domain's label under another TLD, and nothing else
        dns("rep-other-tld-only", None, ("guarddutyc2activityb.net", ok)),
        # a backend calling its own app by the platform's default names: a chosen name and a deployment hash
        dns("rep-platform-default-app-names", None, ("billing-api-3f9c2a7d1e4b.herokuapp.com", ok),
            ("6512f0c3a9b4e70008d1c2e3--acme-docs.netlify.app", ok)),
        # preview deployments of a web app: Vercel's hash and branch names (one torn down: NXDOMAIN), a Firebase channel
        # random ids that hold a coin's three letters somewhere: an Amplify branch host, a SaaS tenant
        dns("rep-random-ids-holding-xmr", None, ("main.dvt4s37xmr9pfp.amplifyapp.com", ok), ("k16xmr6gwk.api.example-saas.io", ok)),
        dns("rep-preview-deployments", None, ("acme-web-1js5oz4ny-acme-team.vercel.app", "NXDOMAIN"),
            ("acme-web-git-feat-stone-river-acme-team.vercel.app", "NXDOMAIN"), ("acme-web--pr584-7j5lyka6.web.app", "NXDOMAIN"),
            ("deploy-preview-647--acme-docs.netlify.app", ok)),
        # generated words joined by a hyphen on free hosting: judged word by word, still random
        dns("rep-free-hosting-random-words", ABUSED, ("xjqzkpwvah-ahskdjfqwe.herokuapp.com", ok)),
        # chrony's public NTP servers: "stratum" in NTP's sense, not a pool's
        dns("rep-ntp-stratum-server", None, ("ntp1.stratum2.ru", ok), ("stratum1.net", ok)),
        # a hash lookup (an anti-virus or mail reputation service) whose random label holds "xmr" between digits
        dns("rep-hash-label-with-coin-letters", None, ("8z3zdcoumoe39g8w9xmr3kjcqeu8runk.hashes.filecheck-example.net", "NXDOMAIN")),
        # one generated name answered NXDOMAIN once (a burst of them is DGADomainRequest.B's)
        dns("rep-one-generated-nxdomain", None, ("vkq3x9zt1mwp7rj.net", "NXDOMAIN")),
        # Vercel previews whose nine-character hash happens to hold no digit or one, torn down (NXDOMAIN) on their first lookup
        dns("rep-preview-hashes-without-digits", None, ("acme-web-kqzvtpwxa-acme-team.vercel.app", "NXDOMAIN"),
            ("shop-front-x7qjzvbkm-acme-team.vercel.app", "NXDOMAIN"), ("docs-hzqwkvtyr-acme.vercel.app", "NXDOMAIN")),
        # a dynamic-DNS provider's own web site and mail host, once unreachable
        dns("rep-ddns-providers-own-site", None, ("www.dyndns.tv", "NXDOMAIN"), ("www.from-mt.com", "NXDOMAIN"), ("mail.duckdns.org", ok)),
    ]
