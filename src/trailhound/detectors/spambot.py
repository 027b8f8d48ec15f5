"""Backdoor:EC2/Spambot — an instance with no history of SMTP starts delivering mail to many servers.

Judged per instance against its own baseline (``habits``): the SMTP ports (25, and the submission
ports 465 and 587) it used on earlier days within 35 days. On a day when a settled instance (watched
for a week, active on four days) connects to ``MIN_SERVERS`` distinct public addresses on SMTP ports
it has no history of, it is sending mail the way spam bots do: straight to many recipients' mail
servers. Reported once that day, when the count is reached. A mail relay that delivers every day has
the history; submission (465/587) to an AWS address is SES's SMTP endpoint, which answers many
addresses over a long run, and is not counted.
A day's SMTP ports are learned when the day is over, unless that day was reported: an attack does
not become a habit.

State per instance: its SMTP ports (≤ 3) and today's new-port servers (≤ ``MIN_SERVERS``): ~0.2-0.6 KB,
deleted after 31 quiet days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from trailhound.detectors.habits import DAY, DPORT, DST, RECENT_DAYS, InstanceBaseline, case_host, history
from trailhound.engine import FindingType, severity
from trailhound.engine.baseline import ProfileState
from trailhound.findings.model import MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Backdoor:EC2/Spambot"
SMTP_PORTS = frozenset({25, 465, 587})
MIN_SERVERS = 10


class SpamState(msgspec.Struct, array_like=True):
    seen: ProfileState = msgspec.field(default_factory=ProfileState)  # SMTP ports used on earlier days
    first: float = 0.0
    last_day: int = -1
    days: int = 0
    ports_today: list[int] = msgspec.field(default_factory=list)
    servers_today: list[str] = msgspec.field(default_factory=list)  # distinct servers on ports without history, today
    fired_today: bool = False


class Spambot(InstanceBaseline):
    name = "spambot"
    State = SpamState
    findings = (FindingType(TYPE, severity(MEDIUM), "TA0040 Impact", "T1496 Resource Hijacking",
                            f"an instance with a week of history and no SMTP in {RECENT_DAYS} days connects to ≥{MIN_SERVERS} distinct "
                            "public mail servers (25/465/587) in a day; submission to AWS addresses (SES) not counted"),)

    def new_day(self, st: SpamState, previous: int) -> None:  # type: ignore[override]
        """Yesterday's SMTP ports become history, unless yesterday was reported."""
        if not st.fired_today:
            for p in st.ports_today:
                self.profile.learn(st.seen, str(p), previous * DAY)
        st.ports_today, st.servers_today, st.fired_today = [], [], False

    def judge(self, key: str, row: tuple[Any, ...], st: SpamState, t: float, day: int) -> Iterable[Occurrence]:
        if day != st.last_day:
            return ()
        dport = row[DPORT]
        if dport not in SMTP_PORTS:
            return ()
        if dport not in st.ports_today:
            st.ports_today.append(dport)
        if self.known(st.seen, str(dport), day - 1):
            return ()
        server = row[DST]
        if dport != 25 and self.places.inside_aws(server):
            return ()  # submission to an AWS address is SES's SMTP endpoint (many addresses behind one name): a relay, not delivery
        if server not in st.servers_today and len(st.servers_today) < MIN_SERVERS:
            st.servers_today.append(server)
        if st.fired_today or len(st.servers_today) < MIN_SERVERS or not self.settled(st, t):  # type: ignore[arg-type]
            return ()
        st.fired_today = True
        usual = self.usual(st.seen, day, t)
        ports = sorted(st.ports_today)
        info = {"baseline": f"SMTP ports in the last {RECENT_DAYS} days: {', '.join(usual) or 'none'}; now {len(st.servers_today)} mail "
                            f"servers on {', '.join(map(str, ports))}",
                "usualSmtpPorts": [int(p) for p in usual], "mailServers": len(st.servers_today), "sampledMailServers": list(st.servers_today)}
        return [self.occurrence(
            TYPE, self.severity(TYPE), row, st,  # type: ignore[arg-type]
            f"EC2 instance {{instance}} is sending mail to many servers on port {dport}.",
            f"EC2 instance {{instance}} connected to {len(st.servers_today)} distinct mail servers on SMTP port(s) "
            f"{', '.join(map(str, ports))} today and had not used SMTP in the last {RECENT_DAYS} days. A compromised instance "
            "sending spam delivers straight to its recipients' mail servers.", info)]


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, flow_row, internet_addresses

    web, db, *mx = internet_addresses(60, seed=83)
    ses = ["54.240.8.21", "54.240.8.87", "54.240.9.30"]  # email-smtp.us-east-1.amazonaws.com answers a few addresses
    ses_many = [f"52.0.{n}.{10 + n}" for n in range(14)] + [f"44.192.{n}.9" for n in range(6)]  # ...or, over a long run, many (EC2 ranges)

    def smtp(host: Any, servers: list[str], dport: int = 25, minutes: float = 0, every: float = 0.5) -> list[dict[str, Any]]:
        return [flow_row(start + timedelta(minutes=minutes + every * i), src=host.ip, dst=s, sport=42000 + 13 * i, dport=dport, at=host,
                         flags=3, nbytes=3800, packets=14) for i, s in enumerate(servers)]

    news = case_host(25, "news-1")
    bot, relay, app, fresh, few = (case_host(n, name) for n, name in ((20, "web-2"), (21, "mail-relay-1"), (22, "app-3"), (23, "fresh-2"),
                                                                        (24, "web-3")))
    usual = [(web, 443), (db, 5432)]
    relay_history = history(relay, start, 10, usual + [(mx[0], 25), (mx[1], 25), (mx[2], 25)])
    return [
        Case("instance-starts-spamming", TYPE, history(bot, start, 10, usual) + smtp(bot, mx[:40]), source="flow", role="ACTOR"),
        # a relay that delivers every day to many servers: today's many servers are its habit
        Case("mail-relay-with-history", None, relay_history + smtp(relay, mx[3:43]), source="flow"),
        # an application sending its notifications through SES: a handful of addresses
        Case("app-sends-through-ses", None, history(app, start, 10, usual) + smtp(app, ses * 10, dport=587), source="flow"),
        # a newsletter server's first campaign through SES's SMTP endpoint, which answered 20 addresses over the run
        Case("newsletter-through-ses-many-addresses", None, history(news, start, 10, usual) + smtp(news, ses_many * 2, dport=587, every=2),
             source="flow"),
        # launched yesterday: no baseline to judge by
        Case("fresh-instance-sends-mail", None, history(fresh, start, 1, usual) + smtp(fresh, mx[:40]), source="flow"),
        Case("few-mail-servers", None, history(few, start, 10, usual) + smtp(few, mx[:MIN_SERVERS - 1]), source="flow"),
    ]
