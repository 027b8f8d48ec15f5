"""Behavior:EC2/NetworkPortUnusual — an instance connects to a remote port it has no history of.

Judged per instance against its own baseline (``habits``): the remote ports of the Internet hosts it
opened connections to, in active days over the last 35 days (a month-end job's is remembered; capped at the 24
most used, decayed).
An instance watched for a week and active on four days that opens a connection to a port below the
ephemeral range it has not used in 35 days raises it — Medium, High for LDAP 389/1389 (the callback
of a log4j exploit). Never judged: the everyday ports (80, 443, 123: a CI host fetching from a new
mirror is no news), and the ports other baseline types own (SMTP: Spambot; 53 and 853: the
DefenseEvasion resolver types), nor replies from a high port the instance serves on (``habits.serving_ports``:
WireGuard, TURN, passive FTP answering users' translated ports), active FTP's data connections from port 20, or a
high port of a host the instance opened an FTP, SQL Server, SIP or RTSP control connection to within six hours (the data
port it was handed: passive FTP's, Azure SQL Database's redirect to its node);
and without TCP flags (v2 logs, UDP), a record from a high port to a lower high one counts once the instance
opened a second connection to that port, from another source port (a reply stream is one) — at once for a mining
pool's stratum ports (3333, 4444, 14444...), which a miner holds open on one connection.
A new port is reported once a day, and learned.

State per instance: its ports (about 30 bytes each, ~0.3-0.8 KB), deleted after 31 quiet days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors.flows import EPHEMERAL_MIN
from trailhound.detectors.habits import (
    DPORT,
    EVERYDAY_PORTS,
    FLAGS,
    RECENT_DAYS,
    SPORT,
    Habits,
    InstanceBaseline,
    case_host,
    history,
    serving_ports,
)
from trailhound.engine import FindingType, severity
from trailhound.findings.build import port as port_details
from trailhound.findings.model import HIGH, MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Behavior:EC2/NetworkPortUnusual"
LOG4J_PORTS = frozenset({389, 1389})
# Mining pools' stratum ports: a miner holds one connection for hours (one source port), and no client's translated port
# is one of these, so a flagless record to them is the instance's own connection, judged at once
STRATUM_PORTS = frozenset({3333, 4444, 5555, 7777, 14433, 14444, 45560, 45700})
OWNED_ELSEWHERE = frozenset({25, 465, 587, 53, 853})  # Spambot's and the resolver types' ports
LOG4J = "Possible log4j callback"
MAX_UNSURE = 16
# Control connections that hand the client a new high port to connect to: FTP's passive data port, Azure SQL Database's
# redirect to its node (11000-11999), SIP's and RTSP's media. A high port to a host the instance opened one of these to
# within DATA_WINDOW is that channel's data, not a new service.
CONTROL_PORTS = frozenset({21, 990, 1433, 5060, 5061, 554})
DATA_WINDOW = 6 * 3600.0
MAX_CONTROLS = 16


class PortHabits(Habits, array_like=True):
    serving: list[int] = msgspec.field(default_factory=list)  # high ports it serves on (``habits.serving_ports``)
    unsure: dict[str, int] = msgspec.field(default_factory=dict)  # port -> the source port of the one flagless record to it
    control: dict[str, float] = msgspec.field(default_factory=dict)  # remote host -> when the instance last opened a CONTROL_PORTS one


class NetworkPortUnusual(InstanceBaseline):
    name = "network-port-unusual"
    State: ClassVar[type[msgspec.Struct]] = PortHabits
    findings = (FindingType(TYPE, severity(MEDIUM, LOG4J=HIGH), "TA0011 Command and Control", "T1571 Non-Standard Port",
                            f"an instance with a week of history opens a connection to a remote port it has not used in {RECENT_DAYS} days "
                            "(not 80/443/123); High for LDAP 389/1389 (log4j callback)"),)

    def replies(self, rows: list[tuple[Any, ...]], st: PortHabits) -> set[int]:
        # and active FTP's data connections, which the server opens from port 20 to a port the client picked
        return serving_ports(rows, st) | {20}

    def judge(self, key: str, row: tuple[Any, ...], st: Habits, t: float, day: int) -> Iterable[Occurrence]:
        dport = row[DPORT]
        if dport is None or dport >= EPHEMERAL_MIN:
            return ()  # a dynamic port (passive FTP, media): neither judged nor worth a place in the baseline
        value = str(dport)
        sport = row[SPORT]
        remote = row[1]
        if dport in CONTROL_PORTS:
            st.control.pop(remote, None)
            st.control[remote] = t  # (most recent last: the oldest goes first)
            if len(st.control) > MAX_CONTROLS:
                del st.control[next(iter(st.control))]
        elif dport >= 1024 and t - st.control.get(remote, -DATA_WINDOW - 1) <= DATA_WINDOW:
            return ()  # the data channel a control connection to this host handed out: neither judged nor learned
        if not row[FLAGS] and dport >= 1024 and dport not in STRATUM_PORTS and sport is not None and sport >= EPHEMERAL_MIN \
                and not self.known(st.seen, value, day):
            # Without TCP flags (v2 logs, UDP) a record from a high port to a lower high one may be a reply to a client's
            # translated port (passive FTP's data, a media relay's): a connection to that port once the instance opened a
            # second one, from another source port (a C&C client reconnects; a reply stream is one)
            if st.unsure.setdefault(value, sport) == sport:
                if len(st.unsure) > MAX_UNSURE:
                    del st.unsure[next(iter(st.unsure))]
                return ()
        out: list[Occurrence] = []
        if dport not in EVERYDAY_PORTS and dport not in OWNED_ELSEWHERE and not self.known(st.seen, value, day) and self.settled(st, t):
            out.append(self._report(row, st, t, day))
        self.profile.learn(st.seen, value, t)
        return out

    def _report(self, row: tuple[Any, ...], st: Habits, t: float, day: int) -> Occurrence:
        dport, remote = row[DPORT], row[1]
        usual = self.usual(st.seen, day, t)
        shown = ", ".join(usual) if usual else "none"
        log4j = dport in LOG4J_PORTS
        info: dict[str, Any] = {"baseline": f"remote ports in the last {RECENT_DAYS} days: {shown}; now {dport}",
                                "usualRemotePorts": [int(p) for p in usual], "unusualRemotePort": dport}
        if log4j:
            info["context"] = LOG4J
        name = port_details(dport).port_name
        return self.occurrence(
            TYPE, self.severity(TYPE, "LOG4J" if log4j else None), row, st,
            f"Unusual outbound communication seen from EC2 instance {{instance}} on port {dport}.",
            f"EC2 instance {{instance}} is communicating with a remote host {remote} on an unusual server port {dport} ({name}). In the "
            f"last {RECENT_DAYS} days it used {shown}."
            + (" LDAP to an Internet host from a server is how a log4j (CVE-2021-44228) exploit fetches its payload." if log4j else ""),
            info, aggregation_key=str(dport))


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, flow_row, internet_addresses

    mirror, db, attacker, ldap, *others = internet_addresses(48, seed=81)

    def now(host: Any, dst: str, dport: int, n: int = 3, minutes: float = 0, protocol: int = 6, flags: int | None = 3) -> list[dict[str, Any]]:
        return [flow_row(start + timedelta(minutes=minutes + i), src=host.ip, dst=dst, sport=41000 + 7 * i, dport=dport, at=host,
                         protocol=protocol, flags=flags, nbytes=900, packets=8) for i in range(n)]

    app, log4j, fresh, ci, ntp, server, rare = (case_host(n, name) for n, name in (
        (1, "app-1"), (2, "app-2"), (3, "fresh-1"), (4, "ci-1"), (5, "worker-1"), (6, "api-1"), (7, "reporting-1")))
    usual = [(mirror, 443), (db, 5432)]

    replies = []  # clients connecting to the API on 8443; its replies go from 8443 to their high ports
    for i, client in enumerate(others[:20]):
        t = start + timedelta(minutes=i / 2)
        replies += [flow_row(t, src=client, dst=server.ip, sport=50000 + 31 * i, dport=8443, at=server, flags=3, nbytes=700),
                    flow_row(t, src=server.ip, dst=client, sport=8443, dport=50000 + 31 * i, at=server, flags=19 if i % 2 else None,
                             nbytes=4200)]
    miner = case_host(12, "batch-7")  # v2 logs: one connection to a pool's stratum port, held for an hour
    vpn = case_host(8, "vpn-1")  # WireGuard on UDP 51820: its replies go to users' translated ports, below 32768, no flags logged
    tunnels = [flow_row(start + timedelta(minutes=i / 3), src=vpn.ip, dst=client, sport=51820, dport=4000 + 977 * i, at=vpn, protocol=17,
                        flags=None, nbytes=1400, packets=12) for i, client in enumerate(others[20:35])]
    ftp = case_host(9, "ftp-1")  # passive FTP, v2 logs: each transfer's data port (50000+) answers a client's translated port
    transfers = [flow_row(start + timedelta(minutes=i), src=ftp.ip, dst=client, sport=50000 + i, dport=2000 + 1499 * i, at=ftp, flags=None,
                          nbytes=1_100_000, packets=800) for i, client in enumerate(others[35:45])]
    legacy = case_host(10, "app-legacy")  # v2 logs too: a client reconnecting to 4444 from new source ports each time
    from trailhound.simulator.records import FLEET_HOSTS

    web_fleet, api_fleet = [FLEET_HOSTS[n] for n in (1, 2)], [FLEET_HOSTS[n] for n in (5, 6)]
    fleet_history = sorted(history(web_fleet[0], start, 10, usual) + history(web_fleet[1], start, 8, usual) + history(api_fleet[0], start, 10, usual)
                           + history(api_fleet[1], start, 6, usual + [(mirror, 6379)]), key=lambda r: r["start"])
    web_history = [r for r in fleet_history if r["srcaddr"] in {h.ip for h in web_fleet}]
    api_history = [r for r in fleet_history if r["srcaddr"] in {h.ip for h in api_fleet}]
    seen_once = history(rare, start, 25, [(mirror, 443)])
    seen_once.append(flow_row(start - timedelta(days=20), src=rare.ip, dst=db, sport=40123, dport=5900, at=rare, flags=3))
    etl = case_host(11, "etl-azure")  # reads Azure SQL Database every day (1433); its redirect policy hands a node port each time
    azure_sql = internet_addresses(1, seed=83)[0]
    redirected = [r for i in range(12) for r in (now(etl, azure_sql, 1433, n=1, minutes=5 * i) + now(etl, azure_sql, 11000 + 83 * i, n=1, minutes=5 * i))]
    return [
        Case("azure-sql-redirect-to-node-ports", None, history(etl, start, 10, usual + [(azure_sql, 1433)]) + redirected, source="flow"),
        # launched by its Auto Scaling group an hour ago: judged by its fleet's month, not left in a warm-up of its own
        Case("new-fleet-member-connects-to-4444", TYPE, web_history + now(FLEET_HOSTS[3], attacker, 4444), source="flow", role="ACTOR"),
        # a new member doing what its siblings do, 6379 included (only one sibling used it, days ago)
        Case("new-fleet-member-does-what-its-fleet-does", None, api_history + now(FLEET_HOSTS[7], db, 5432) + now(FLEET_HOSTS[7], mirror, 6379),
             source="flow"),
        Case("app-server-connects-to-4444", TYPE, history(app, start, 10, usual) + now(app, attacker, 4444), source="flow", role="ACTOR"),
        Case("log4j-ldap-callback", TYPE, history(log4j, start, 10, usual) + now(log4j, ldap, 1389, n=1), source="flow", role="ACTOR"),
        # launched yesterday: no habits to deviate from
        Case("fresh-instance-new-port", None, history(fresh, start, 1, usual) + now(fresh, attacker, 4444), source="flow"),
        # a CI host fetching packages from many mirrors: new hosts, everyday ports
        Case("ci-host-many-mirrors", None, history(ci, start, 10, [(mirror, 443), (mirror, 80)])
             + [r for i, m in enumerate(others[:40]) for r in now(ci, m, 443 if i % 3 else 80, n=1, minutes=i / 4)], source="flow"),
        # NTP to the pool and DNS to the VPC resolver, never seen before in its history
        Case("ntp-and-vpc-resolver", None, history(ntp, start, 10, usual) + now(ntp, others[0], 123, protocol=17, flags=None)
             + now(ntp, "169.254.169.253", 53, protocol=17, flags=None) + now(ntp, "10.0.0.2", 53, protocol=17, flags=None), source="flow"),
        Case("server-replies-to-client-ports", None, history(server, start, 10, usual) + replies, source="flow"),
        Case("wireguard-replies-to-translated-ports", None, history(vpn, start, 10, usual) + tunnels, source="flow"),
        Case("passive-ftp-replies-without-flags", None, history(ftp, start, 10, usual) + transfers, source="flow"),
        Case("v2-log-client-reconnects-to-4444", TYPE, history(legacy, start, 10, usual) + now(legacy, attacker, 4444, flags=None), source="flow",
             role="ACTOR"),
        # VNC to the reporting box's partner, used once three weeks ago: within the 35 days
        Case("v2-log-miner-holds-one-stratum-connection", TYPE, history(miner, start, 10, usual) + [
            flow_row(start + timedelta(minutes=10 * i), src=miner.ip, dst=attacker, sport=48211, dport=14444, at=miner, flags=None, nbytes=2600,
                     packets=30) for i in range(6)], source="flow", role="ACTOR"),
        Case("port-seen-once-weeks-ago", None, sorted(seen_once, key=lambda r: r["start"]) + now(rare, db, 5900), source="flow"),
    ]
