"""An instance's network habits: what it has talked to on the Internet lately, learned from its own
outbound connections. Shared by the per-instance baseline detectors (NetworkPortUnusual, Spambot, the
DefenseEvasion resolver types, TrafficVolumeUnusual).

What reaches them (``WHERE``, one Polars pass per file, shared by all three so the router turns each
row into a tuple once): connections an instance opened (``OPENS``: our reply from a service port to a
client's high port is no connection to that port), that were accepted, to a public address, and
either to a port below the ephemeral range other than the everyday web and time ports (80, 443,
123), or to 443 of a known DoH resolver, or — a 1-in-32 sample by the client's ephemeral port — any
of the rest, and the records of bulk transfers (``BIG_RECORD`` bytes or more). The sample is the instance's heartbeat: it tells the days the instance was active and
puts its everyday ports in its baseline ("443, 5432"), at a thirty-second of the cost of reading its
HTTPS traffic, which is most of a flow log.

A baseline's state is an ``engine.baseline.Profile`` of the values it has seen (decayed, capped) and
the instance's history: when it was first seen and on how many days. Until an instance has been
watched for ``WARMUP`` and was active on ``MIN_ACTIVE_DAYS`` days it judges nothing (a freshly
launched instance has no habits to deviate from); a value counts as known when the instance used
it within the last ``RECENT_DAYS`` days.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import msgspec
import polars as pl

from trailhound.detectors.flows import EPHEMERAL_MIN, LOGGED_AT_SOURCE, OUTBOUND_TO_INTERNET
from trailhound.engine import KeyedDetector
from trailhound.engine.baseline import DAY, Profile, ProfileState
from trailhound.enrich.geo import is_private
from trailhound.enrich.inventory import GROUP_PREFIXES
from trailhound.events import Source
from trailhound.findings.build import instance_key, instance_resource, network_connection
from trailhound.findings.model import Occurrence

WARMUP = 7 * DAY
MIN_ACTIVE_DAYS = 4
RECENT_DAYS = 35  # a month-end job's last run was 28 to 31 days ago: a month's memory would forget it the day before
EVERYDAY_PORTS = (80, 443, 123)  # web and time: every instance's; a new one of them is no news
SAMPLE = 32  # 1 in SAMPLE of the other connections (by ephemeral port) is the heartbeat
BIG_RECORD = 1 << 18  # bytes in one flow record that make it part of a bulk transfer (an upload a file per connection: a few hundred KB each)

# Addresses of public resolvers that answer DNS over HTTPS on 443, by operator, from each operator's
# documentation of its service addresses. Only addresses that serve nothing but DNS: Cloudflare's CDN
# addresses (where cloudflare-dns.com and a million web sites live) are not here, so ordinary HTTPS to
# them is not DoH. The same operators answer DNS over TLS on 853 at these addresses.
DOH_RESOLVERS: dict[str, str] = {
    # Cloudflare 1.1.1.1, for Families (developers.cloudflare.com/1.1.1.1/ip-addresses/)
    **dict.fromkeys(("1.1.1.1", "1.0.0.1", "1.1.1.2", "1.0.0.2", "1.1.1.3", "1.0.0.3", "2606:4700:4700::1111", "2606:4700:4700::1001",
                     "2606:4700:4700::1112", "2606:4700:4700::1002", "2606:4700:4700::1113", "2606:4700:4700::1003"), "Cloudflare"),
    # Google Public DNS, dns.google (developers.google.com/speed/public-dns/docs/using)
    **dict.fromkeys(("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"), "Google"),
    # Quad9, dns.quad9.net (quad9.net/service/service-addresses-and-features)
    **dict.fromkeys(("9.9.9.9", "149.112.112.112", "9.9.9.10", "149.112.112.10", "9.9.9.11", "149.112.112.11", "2620:fe::fe", "2620:fe::9",
                     "2620:fe::10", "2620:fe::fe:10", "2620:fe::11", "2620:fe::fe:11"), "Quad9"),
    # Cisco OpenDNS (www.opendns.com/setupguide/)
    **dict.fromkeys(("208.67.222.222", "208.67.220.220", "208.67.222.123", "208.67.220.123", "2620:119:35::35", "2620:119:53::53"), "OpenDNS"),
    # AdGuard DNS (adguard-dns.io/kb/general/dns-providers/)
    **dict.fromkeys(("94.140.14.14", "94.140.15.15", "94.140.14.15", "94.140.15.16", "94.140.14.140", "94.140.14.141",
                     "2a10:50c0::ad1:ff", "2a10:50c0::ad2:ff"), "AdGuard"),
    # CleanBrowsing (cleanbrowsing.org/filters/)
    **dict.fromkeys(("185.228.168.9", "185.228.169.9", "185.228.168.168", "185.228.169.168", "185.228.168.10", "185.228.169.11"), "CleanBrowsing"),
    # Mullvad DNS (mullvad.net/en/help/dns-over-https-and-dns-over-tls)
    **dict.fromkeys(("194.242.2.2", "194.242.2.3", "194.242.2.4", "194.242.2.5", "194.242.2.6", "194.242.2.9"), "Mullvad"),
    # DNS.SB (dns.sb/guide/)
    **dict.fromkeys(("185.222.222.222", "45.11.45.11"), "DNS.SB"),
}

_DPORT = pl.col("dstport")
WHERE = OUTBOUND_TO_INTERNET & (
    ((_DPORT < EPHEMERAL_MIN) & ~_DPORT.is_in(EVERYDAY_PORTS))
    | ((_DPORT == 443) & pl.col("dstaddr").is_in(sorted(DOH_RESOLVERS)))
    | ((pl.col("srcport") % SAMPLE) == 0)
    | (pl.col("bytes") >= BIG_RECORD)  # a connection-minute of a bulk transfer: TrafficVolumeUnusual's rows
)
# The instance's fleet (Auto Scaling or EKS node group: ``Inventory.groups``) where it has one, else its
# address (ours, by WHERE): a fleet's members share one baseline, so a member launched today is judged
# by its fleet's habits, and one that does what its siblings do is no news.
KEY = pl.coalesce(pl.col("instance_group"), pl.col("srcaddr"))
COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start", "instance_id", "interface_id", "account_id", "region",
           LOGGED_AT_SOURCE.alias("at_source"), "bytes", "tcp_flags")
SRC, DST, SPORT, DPORT, PROTO, START, BYTES, FLAGS = 0, 1, 2, 3, 4, 5, 11, 12


class Habits(msgspec.Struct, array_like=True):
    seen: ProfileState = msgspec.field(default_factory=ProfileState)  # values used, in active days, decayed, capped
    first: float = 0.0  # event time of the instance's first row
    last_day: int = -1
    days: int = 0  # days with a row


class InstanceBaseline(KeyedDetector[Any]):
    """A per-instance baseline over ``WHERE``'s rows: ``judge`` each row of a settled instance against
    what it knew before, then learn. One state per instance; nothing else."""

    consumes = Source.FLOW
    method = "behaviour"
    where = WHERE
    key = KEY
    columns = COLUMNS
    ttl = (RECENT_DAYS + 1) * DAY
    warmup = WARMUP  # the engine's guard; ``settled`` is the same rule, row by row
    State: ClassVar[type[msgspec.Struct]] = Habits
    profile: ClassVar[Profile] = Profile(half_life=30 * DAY, period=DAY, capacity=24)

    def judge(self, key: str, row: tuple[Any, ...], st: Any, t: float, day: int) -> Iterable[Occurrence]:
        raise NotImplementedError

    def replies(self, rows: list[tuple[Any, ...]], st: Any) -> set[int] | None:
        """Source ports whose rows of the batch are replies however their ports read (none by default)."""
        return None

    def new_day(self, st: Any, previous: int) -> None:
        """A row of a later day than ``previous`` (the last active one) has come: close that day."""

    def update(self, key: str, rows: list[tuple[Any, ...]], state: Any, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state if state is not None else self.State()
        out: list[Occurrence] = []
        replies = self.replies(rows, st)
        for row in rows:
            if is_private(row[DST]) or (replies and row[SPORT] in replies):
                continue  # the expression's quick test let through what the careful one catches
            t = float(row[START])
            day = int(t // DAY)
            if st.last_day < 0:
                st.first = t
            if day > st.last_day:
                if st.last_day >= 0:
                    self.new_day(st, st.last_day)
                st.days += 1
                st.last_day = day
            out.extend(self.judge(key, row, st, t, day))
        if out and key.startswith(GROUP_PREFIXES):  # a fleet's baseline, not the instance's own
            for o in out:
                o.additional_info["baselineOf"] = key
        return out, st

    # -- helpers for ``judge`` -----------------------------------------------------------------
    @staticmethod
    def settled(st: Habits, t: float) -> bool:
        """Watched long enough, and active on enough days, to have habits."""
        return t - st.first >= WARMUP and st.days >= MIN_ACTIVE_DAYS

    @staticmethod
    def known(seen: ProfileState, value: str, day: int) -> bool:
        """Used within the last RECENT_DAYS days (today included: a new value is reported once a day)."""
        entry = seen.values.get(value)
        return entry is not None and entry[1] >= day - RECENT_DAYS

    def usual(self, seen: ProfileState, day: int, t: float, limit: int = 10) -> list[str]:
        """The values used in the last RECENT_DAYS days before today, most used first."""
        recent = [v for v, e in seen.values.items() if day - RECENT_DAYS <= e[1] and (e[2] if len(e) > 2 else e[1]) < day]
        return sorted(recent, key=lambda v: (-self.profile.frequency(seen, v, t), v))[:limit]

    def occurrence(self, ftype: str, severity: float, row: tuple[Any, ...], st: Habits, title: str, description: str,
                   info: dict[str, Any], aggregation_key: str = "") -> Occurrence:
        src, dst, sport, dport, proto, start, iid, eni, account, region, at_source = row[:11]
        iid, eni = (iid, eni) if at_source else (None, None)
        name = iid or eni or src
        return Occurrence(
            type=ftype, severity=severity, time=float(start), account_id=account or "", region=region or "",
            resource=instance_resource(iid, eni, src), resource_key=instance_key(iid, eni, src),
            action=network_connection(direction="OUTBOUND", protocol=proto, local=src, local_port=sport, remote=dst, remote_port=dport,
                                      blocked=False, eni=eni),
            title=title.format(instance=name), description=description.format(instance=name), resource_role="ACTOR",
            feature_name="FlowLogs", remote_ip=dst,
            additional_info={**info, "historyDays": st.days, "watchedSince": _iso(st.first)}, aggregation_key=aggregation_key,
        )


MAX_SERVING = 8


def serving_ports(rows: list[tuple[Any, ...]], st: Any) -> set[int]:
    """High ports the instance serves on (WireGuard's 51820, a TURN relay's or media server's range, passive FTP's): one
    that sends to two or more remote addresses in a batch, remembered in ``st``. Without TCP flags (UDP, v2 logs) a
    record's side is guessed from its ports, and a reply from 51820 to a user's translated port 20000 reads as a
    connection to 20000. ``st.serving``: the ports, the latest last."""
    peers: dict[int, str] = {}
    for r in rows:
        sport = r[SPORT]
        if sport is not None and sport >= EPHEMERAL_MIN and sport not in st.serving:
            first = peers.setdefault(sport, r[DST])
            if first != r[DST]:
                st.serving = [p for p in st.serving if p != sport][-(MAX_SERVING - 1):] + [sport]
    return set(st.serving)


def _iso(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ---- cases: instances with weeks of history, written compactly -------------------------------------

def case_host(n: int, name: str = "") -> Any:
    """The instance of one case (``records.BASELINE_HOSTS``, in the attack day's inventory); ``name`` says
    what it plays."""
    from trailhound.simulator.records import BASELINE_HOSTS

    return BASELINE_HOSTS[n]


def history(host: Any, end: Any, days: int, peers: Iterable[tuple[str, int]], per_day: int = 2, protocol: int = 6) -> list[dict[str, Any]]:
    """``days`` days of an instance's ordinary connections before ``end``: each (address, port) ``per_day``
    times a day, from ephemeral ports the heartbeat samples (multiples of SAMPLE)."""
    from datetime import timedelta

    from trailhound.simulator.records import flow_row

    peers = list(peers)
    rows = []
    for d in range(days, 0, -1):
        for i in range(per_day):
            for j, (addr, port) in enumerate(peers):
                at = end - timedelta(days=d) + timedelta(hours=2 + 7 * i, minutes=3 * j)
                udp = protocol == 17 or port in (53, 123)
                rows.append(flow_row(at, src=host.ip, dst=addr, sport=SAMPLE * (1100 + 37 * j + i + d), dport=port, at=host,
                                     flags=None if udp else 3, protocol=17 if udp else 6, nbytes=1800, packets=12))
    return rows
