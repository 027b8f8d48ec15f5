"""Behavior:EC2/TrafficVolumeUnusual — an instance sends far more to a remote host than it ever has.

Judged per instance against its own baseline (``habits``): of each remote host it sent bulk data to
(records of ``BIG_RECORD`` bytes or more, on connections it opened), the largest day's total in the
last 35 days; and the same per owner of such hosts — the network's owner (AWS, or the ASN
organisation), else its /24 (/48) — because S3 or a CDN answers from ever new addresses: an encoder
uploading to S3 every day has a habit with S3, whatever today's address. A settled instance (watched
for a week, active on four days) that sends a host ``MIN_BYTES`` or more in a day, and ``FACTOR``
times more than its largest day with that host and with its owner, raises it, once that day.
A nightly backup or replication has its habit; a build host that pushes gigabytes to a host it sends
kilobytes to does not. Trickles in small connections (under ``BIG_RECORD``, a quarter mebibyte, per record) are not
counted: this is about volume, not trickles. A reported day is learned like any other: once it has
happened, it is history (GuardDuty: "no prior history of sending this much traffic to this host").

State per instance: up to 24 hosts and 12 owners, four numbers each (~1-2 KB for a busy instance),
deleted after 31 quiet days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from trailhound.detectors.habits import BIG_RECORD, BYTES, DST, RECENT_DAYS, Habits, InstanceBaseline, case_host, history
from trailhound.engine import FindingType, severity
from trailhound.findings.model import MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Behavior:EC2/TrafficVolumeUnusual"
MIN_BYTES = 1 << 30
FACTOR = 10.0
HOSTS, OWNERS = 24, 12
TODAY, DAY_OF, USUAL, USUAL_DAY = range(4)  # an entry: [bytes today, today's day, largest earlier day's bytes, its day]


class VolumeState(Habits, array_like=True):
    hosts: dict[str, list[float]] = msgspec.field(default_factory=dict)
    owners: dict[str, list[float]] = msgspec.field(default_factory=dict)
    reported: list[str] = msgspec.field(default_factory=list)  # hosts reported today


def _add(entries: dict[str, list[float]], name: str, nbytes: float, day: int, capacity: int) -> list[float]:
    """``name``'s entry with ``nbytes`` more today; an earlier day's total becomes its usual when larger
    (or when the usual is older than RECENT_DAYS)."""
    e = entries.get(name)
    if e is None:
        if len(entries) >= capacity:  # forget the host with the least to remember
            del entries[min(entries, key=lambda k: max(entries[k][TODAY], entries[k][USUAL]))]
        e = entries[name] = [0.0, day, 0.0, day]
    elif e[DAY_OF] != day:
        if e[TODAY] >= e[USUAL] or day - e[USUAL_DAY] > RECENT_DAYS:
            e[USUAL], e[USUAL_DAY] = e[TODAY], e[DAY_OF]
        e[TODAY], e[DAY_OF] = 0.0, day
    e[TODAY] += nbytes
    return e


def _usual(e: list[float], day: int) -> float:
    return e[USUAL] if day - e[USUAL_DAY] <= RECENT_DAYS else 0.0


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} bytes"


class TrafficVolumeUnusual(InstanceBaseline):
    name = "traffic-volume-unusual"
    State = VolumeState
    findings = (FindingType(TYPE, severity(MEDIUM), "TA0010 Exfiltration", "T1048 Exfiltration Over Alternative Protocol",
                            f"an instance with a week of history sends ≥1 GiB in a day to a remote host, {FACTOR:.0f}× its largest day "
                            f"with that host and with the host's network owner in {RECENT_DAYS} days"),)

    def new_day(self, st: VolumeState, previous: int) -> None:  # type: ignore[override]
        st.reported = []

    def owner(self, address: str) -> str:
        """Who runs the address, for hosts like it: AWS, the ASN's organisation, else the /24 (/48)."""
        if self.places.inside_aws(address):
            return "AWS"
        info = self.places.lookup(address)
        if info is not None and info.asn:
            return f"AS{info.asn} {info.asn_org or ''}".strip()
        return ":".join(address.split(":")[:3]) + "::/48" if ":" in address else address.rsplit(".", 1)[0] + ".0/24"

    def judge(self, key: str, row: tuple[Any, ...], st: VolumeState, t: float, day: int) -> Iterable[Occurrence]:  # type: ignore[override]
        nbytes = row[BYTES]
        if nbytes is None or nbytes < BIG_RECORD:
            return ()  # the heartbeat's rows
        remote = row[DST]
        owner = self.owner(remote)
        host, group = _add(st.hosts, remote, nbytes, day, HOSTS), _add(st.owners, owner, nbytes, day, OWNERS)
        usual_host, usual_owner = _usual(host, day), _usual(group, day)
        if host[TODAY] < max(MIN_BYTES, FACTOR * max(usual_host, usual_owner)) or remote in st.reported or not self.settled(st, t):
            return ()
        st.reported.append(remote)
        info = {"baseline": f"largest day to this host in the last {RECENT_DAYS} days: {_size(usual_host) if usual_host else 'none over 1 MB'}"
                            f", to {owner}: {_size(usual_owner) if usual_owner else 'none over 1 MB'}; now {_size(host[TODAY])}",
                "bytesToday": int(host[TODAY]), "usualBytesToHost": int(usual_host), "usualBytesToOwner": int(usual_owner),
                "remoteOwner": owner}
        return [self.occurrence(
            TYPE, self.severity(TYPE), row, st,
            "Unusually large amount of network traffic from EC2 instance {instance} to a remote host.",
            f"EC2 instance {{instance}} sent {_size(host[TODAY])} to {remote} ({owner}) today. Its largest day with this host in the last "
            f"{RECENT_DAYS} days was {_size(usual_host) if usual_host else 'under a megabyte'}. Data leaving for a host that has never "
            "received that much is how exfiltration looks.", info, aggregation_key=remote)]


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, flow_row, internet_addresses

    web, repo, drop, backup, *_ = internet_addresses(8, seed=97)
    s3 = [f"52.216.{40 + d}.{10 + d}" for d in range(12)]  # S3 us-east-1 answers from ever new addresses (AWS's ranges)
    build, nightly, encoder, fresh, modest, server = (case_host(n, name) for n, name in (
        (58, "build-10"), (59, "backup-1"), (60, "encoder-2"), (61, "fresh-4"), (62, "build-11"), (63, "web-9")))

    def push(host: Any, dst: str, total: float, at: datetime, dport: int = 443, chunk: float = 64e6) -> list[dict[str, Any]]:
        """``total`` bytes over connection-minutes of ``chunk`` bytes each, on one connection the instance opened."""
        n = max(int(total // chunk), 1)
        return [flow_row(at + timedelta(minutes=i), src=host.ip, dst=dst, sport=45123, dport=dport, at=host, flags=3 if i == 0 else 0,
                         nbytes=int(total / n), packets=int(total / n / 1400)) for i in range(n)]

    def daily(host: Any, dst: Any, total: float, days: int = 10) -> list[dict[str, Any]]:
        return [r for d in range(days, 0, -1) for r in push(host, dst(d) if callable(dst) else dst, total, start - timedelta(days=d, hours=-3))]

    chunked = case_host(49, "etl-7")
    # 1.2 GB to a new host as 3,000 HTTPS uploads of 400 KB each (one connection per file): bulk, however it is cut up
    many_uploads = [flow_row(start + timedelta(seconds=2 * i), src=chunked.ip, dst=drop, sport=33000 + i % 28000, dport=443, at=chunked, flags=3,
                             nbytes=400_000, packets=290) for i in range(3000)]
    usual = [(web, 443), (repo, 443)]
    sends_kilobytes = [flow_row(start - timedelta(days=d, hours=2), src=build.ip, dst=drop, sport=32 * 1500 + d, dport=443, at=build,
                                flags=3, nbytes=90_000, packets=80) for d in range(10, 0, -1)]
    replies = [flow_row(start + timedelta(minutes=i), src=server.ip, dst=drop, sport=443, dport=51234, at=server, flags=0,
                        nbytes=int(64e6), packets=45_000) for i in range(60)]
    return [
        Case("build-host-pushes-gigabytes", TYPE, sorted(history(build, start, 10, usual) + sends_kilobytes, key=lambda r: r["start"])
             + push(build, drop, 3.5e9, start), source="flow", role="ACTOR"),
        Case("etl-host-uploads-in-many-small-connections", TYPE, history(chunked, start, 10, usual) + many_uploads, source="flow", role="ACTOR"),
        # near misses
        Case("nightly-backup", None, sorted(history(nightly, start, 10, usual) + daily(nightly, backup, 5e9), key=lambda r: r["start"])
             + push(nightly, backup, 5.5e9, start), source="flow"),
        Case("encoder-uploads-to-s3-daily", None, sorted(history(encoder, start, 10, usual) + daily(encoder, lambda d: s3[d], 8e9),
                                                         key=lambda r: r["start"]) + push(encoder, s3[11], 9e9, start), source="flow"),
        Case("fresh-instance-pushes-gigabytes", None, history(fresh, start, 1, usual) + push(fresh, drop, 3.5e9, start), source="flow"),
        Case("under-a-gigabyte", None, history(modest, start, 10, usual) + push(modest, drop, 0.8e9, start), source="flow"),
        # a web server serving a large download to a client: it answered, it did not open the connection
        Case("server-serves-a-download", None, history(server, start, 10, usual) + replies, source="flow"),
    ]
