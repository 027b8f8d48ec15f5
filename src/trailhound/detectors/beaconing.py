"""Backdoor:EC2/Trailhound.Beaconing — an instance calls one remote host on a clock.

A Trailhound extension type (GuardDuty has none for beaconing; named ``<Purpose>:<Resource>/Trailhound.<Name>``
so it cannot be taken for one of AWS's). Malware checks in with its controller at a fixed interval, with a
little jitter, sending about the same few bytes each time, day and night. Scored as RITA scores beacons
(``beacon_score``: interval skew and MAD, data-size skew and MAD, connections per hour across the span,
duration), per (instance, remote address, port, protocol), over the last 24 hours.

What a connection is in a flow log. Records are aggregated per direction over 1 to 10 minutes, so one
long-lived session is a record every aggregation interval: its regularity is the logger's, not the
program's. Only the record that *opens* a connection counts: the instance's egress half with SYN (TCP
flags logged), or — no flags (v2 logs, UDP) — a new source port, or the same one after more than
``CONTINUES`` seconds of silence. A beacon that reuses one kept-alive connection (or one UDP source port)
is therefore invisible: its check-ins are packets inside records that carry only per-interval totals. Each
new connection has its own record and start second, so short intervals between connections are seen. A
connection's bytes are those of its opening record (its first interval), which is what a check-in sends.

Judged every ``JUDGE_EVERY`` of event time (timer) and at the end of a bounded scan, over the last
``WINDOW``: a series needs ``MIN_CONNECTIONS`` connections, a score of ``MIN_SCORE`` (RITA's weights) and,
since timing is what makes a beacon, a timestamp score of ``MIN_TIMING``. One finding per series a day.

What stays silent, and why:

* Fleet software (monitoring and log shippers, package mirrors, SaaS APIs): keyed by *destination*, a state
  holds every instance that talks to it; once ``PREVALENT`` instances did within the window it is fleet-wide,
  the per-instance series are dropped and it is not judged until a window passes with fewer. Autoscaling
  siblings doing the same work count as many. The price: malware on that many instances with one controller
  is silent here (C&C lists still catch listed controllers).
* Known-benign infrastructure: addresses in the shipped benign sets (``intel.benign``: OS mirrors, CDN front
  ends, public resolvers) and AWS service endpoints (the operator's ip-ranges.json: any service but EC2,
  whose addresses anyone can rent) — CloudWatch, SSM and S3 agents poll those on a clock.
* Everyday clockwork protocols: DNS (53, 853), NTP (123), DHCP, NetBIOS/mDNS; ICMP (pings) is not read.
* Private, link-local and VPC-internal destinations (the resolver, the metadata service, health checks),
  except a forward proxy on 3128: through a proxy, a beacon is a series to the proxy's port.
* Too few connections (a nightly backup, a beacon seen for minutes), irregular timing (people, CI builds
  fetching from many mirrors).

Not silenced: one lone instance's vendor check-ins to addresses in no benign set — Stratosphere's capture 008
has a Windows host calling two Microsoft addresses every 15 minutes, which is a beacon by every measure. In an
estate its siblings reaching the same addresses silence it; otherwise a trusted IP list does.

Severity Medium; High when the destination is also on a threat list. State per destination: for each of at
most ``PREVALENT - 1`` instances, its connection times and sizes of the window (at most ``MAX_CONNECTIONS``,
the newest): about 140 bytes for a destination seen once, 2.4 KB for a 5-minute beacon's day, 8.3 KB at the
cap (a 60-second beacon), 40 bytes once fleet-wide; deleted a window after its last row (300 bytes on average
in bench/bench_pipeline.py's estate). Only a series long enough to judge sets a timer.

Speed: every outbound connection reaches the detector, so ``compact`` merges a file's rows per (destination,
instance) in Polars before they become Python objects; ``update`` then extends lists.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import polars as pl

from trailhound.detectors import beacon_score
from trailhound.detectors.flows import ACCEPTED, LOGGED_AT_SOURCE, OPENS, OUTBOUND_TO_INTERNET, SOURCE_IS_LOCAL, SYN
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.baseline import DAY
from trailhound.enrich.geo import is_private
from trailhound.events import Source
from trailhound.findings.build import instance_key, instance_resource, network_connection
from trailhound.findings.model import HIGH, MEDIUM, Occurrence
from trailhound.intel.benign import shipped_ip_set

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Backdoor:EC2/Trailhound.Beaconing"
WINDOW = DAY
JUDGE_EVERY = 6 * 3600.0
MIN_CONNECTIONS = 12
MIN_SCORE = 0.8
MIN_TIMING = 0.75
PREVALENT = 3  # instances talking to one destination within the window: fleet software
MAX_CONNECTIONS = 1024  # per instance and destination: the newest (17 hours of a 60-second beacon)
OPEN_PORTS = 16  # open connections remembered per instance and destination (a pool's, a keep-alive client's)
CONTINUES = 660.0  # seconds: the same 5-tuple again within this is the same flow (10-minute aggregation, and slack)
QUIET_PORTS = (53, 853, 123, 67, 68, 137, 138, 5353)
PROXY_PORTS = (3128,)

_FLAGS = pl.col("tcp_flags")
_TCP_FLAGGED = (pl.col("protocol") == 6) & _FLAGS.is_not_null()
_OPENING = ~_TCP_FLAGGED | ((_FLAGS & SYN) != 0)
_TO_PROXY = SOURCE_IS_LOCAL & ACCEPTED & OPENS & pl.col("dstport").is_in(PROXY_PORTS)
# Each connection once, as the instance's own interface logged it (a v2 log without a direction logs
# traffic between two of our interfaces at both).
WHERE = (pl.col("protocol").is_in((6, 17)) & ~pl.col("dstport").is_in(QUIET_PORTS) & _OPENING & LOGGED_AT_SOURCE
         & (OUTBOUND_TO_INTERNET | _TO_PROXY))
# Few columns, since every outbound connection reaches the detector: the destination is in the key, whether a
# row certainly opens its connection (SYN) is worked out here, and where it was logged is one string.
COLUMNS = ("srcaddr", "srcport", _TCP_FLAGGED.alias("syn"), pl.col("bytes").fill_null(0), "start",
           pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in ("instance_id", "interface_id", "account_id", "region")],
                         separator=" ").alias("context"))


def _compact(frame: pl.DataFrame, key: str, row: str) -> pl.DataFrame:
    """One row per (destination, instance) of a file (``KeyedDetector.compact``): its records' source ports, SYN
    marks, bytes and start times as lists. Plain aggregations: Polars' fast path (a filter inside one is not)."""
    return (frame.lazy().group_by(key, "srcaddr")  # the order that matters is the rows' within a group, kept, and ``row``
            .agg(pl.col("srcport"), pl.col("syn"), pl.col("bytes"), pl.col("start").max(), pl.col("context").last(),
                 pl.col("start").alias("starts"), pl.col(row).max())
            .sort(row).collect())


class Series(msgspec.Struct, array_like=True):
    """One instance's connections to the destination: start times (s) and bytes, oldest first."""

    times: list[int] = msgspec.field(default_factory=list)
    sizes: list[int] = msgspec.field(default_factory=list)
    seen: int = 0  # its last record
    context: str = ""  # "instance-id ENI account region", as its own interface logged it
    reported: float = -DAY  # when it was last reported
    ports: dict[int, int] = msgspec.field(default_factory=dict)  # source port -> its last record, of the connections still open


class Destination(msgspec.Struct, array_like=True):
    series: dict[str, Series] = msgspec.field(default_factory=dict)  # by instance address
    first: float = 0.0  # its first row
    last: float = 0.0
    due: float = 0.0  # the next judgement
    fleet_until: float = 0.0  # fleet-wide until then
    benign: str = ""  # a known-benign set or AWS service it belongs to: never judged


class Beaconing(KeyedDetector[Destination]):
    name = "beaconing"
    consumes = Source.FLOW
    method = "behaviour"
    findings = (FindingType(TYPE, severity(MEDIUM, LISTED=HIGH), "TA0011 Command and Control", "T1071 Application Layer Protocol",
                            f"≥{MIN_CONNECTIONS} connections from an instance to one remote host on a clock: RITA's beacon score "
                            f"≥{MIN_SCORE} over 24 h (interval and size regularity, hourly spread, duration); not to a destination "
                            f"{PREVALENT}+ instances reach, known-benign infrastructure, DNS or NTP; High if the host is on a threat list",
                            extension=True),)
    State: ClassVar[type[msgspec.Struct]] = Destination
    state_version = 2  # 2: the open connections' source ports, not the last one's
    key = pl.concat_str([pl.col("dstaddr"), pl.col("dstport").cast(pl.Utf8), pl.col("protocol").cast(pl.Utf8)], separator="|")
    where = WHERE
    columns = COLUMNS
    compact = staticmethod(_compact)
    ttl = WINDOW + JUDGE_EVERY

    def _benign(self, dst: str, dport: int) -> str:
        if is_private(dst):
            return "" if dport in PROXY_PORTS else "private"  # the expression's quick test let through what the careful one catches
        known = shipped_ip_set(dst)
        if known:
            return known
        ranges = getattr(self.places, "ranges", None)
        hit = ranges.lookup(dst) if ranges is not None else None
        services = [s for s in hit.services if s != "AMAZON"] if hit is not None else []
        return f"AWS {','.join(services)}" if services and "EC2" not in services else ""

    def update(self, key: str, rows: list[tuple[Any, ...]], state: Destination | None, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state
        if st is None:
            dst, dport, _ = key.rsplit("|", 2)
            t0 = float(min(r[6][0] for r in rows))  # merged rows (``_compact``): their start times are r[6]
            st = Destination(first=t0, last=t0, due=t0 + JUDGE_EVERY, benign=self._benign(dst, int(dport)))
        st.last = max(st.last, float(max(r[4] for r in rows)))
        if st.benign:
            return [], st
        series = st.series
        for src, ports, syns, sizes, last, context, starts in rows:
            first = int(starts[0])
            if st.fleet_until >= first:
                st.fleet_until = max(st.fleet_until, int(last) + WINDOW)
                continue
            s = series.get(src)
            if s is None:
                for other in [a for a, o in series.items() if o.seen < first - WINDOW]:
                    del series[other]
                if len(series) + 1 >= PREVALENT:
                    series.clear()
                    st.fleet_until = int(last) + WINDOW
                    continue
                s = series[src] = Series()
            times, kept, opened = s.times, s.sizes, s.ports
            if None in ports:  # (ICMP and other protocols without ports)
                ports = [p if p is not None else -1 for p in ports]
            if opened:  # (connections quiet for longer are closed)
                for port in [p for p, t in opened.items() if t < first - CONTINUES]:
                    del opened[port]
            if all(syns) or (len(set(ports)) == len(ports) and opened.keys().isdisjoint(ports)):
                times.extend(starts)  # every record opens a connection (the usual case): no loop
                kept.extend(sizes)
                opened.update(zip(ports, starts))
            else:
                for port, syn, nbytes, t in zip(ports, syns, sizes, starts):
                    # without TCP flags, a source port no open connection has, or one quiet for longer, opens a connection: a
                    # pool's few long-lived connections, their records interleaved, are those few connections
                    was = opened.get(port)
                    if syn or was is None or t - was > CONTINUES:
                        times.append(t)
                        kept.append(nbytes)
                    opened[port] = t
            if len(opened) > OPEN_PORTS:  # the most recently active only
                s.ports = dict(sorted(opened.items(), key=lambda kv: kv[1])[-OPEN_PORTS:])
            if len(times) > MAX_CONNECTIONS:
                del times[:-MAX_CONNECTIONS], kept[:-MAX_CONNECTIONS]
            s.seen, s.context = int(starts[-1]), context
        return [], st

    def timer(self, state: Destination) -> float | None:
        # only a series long enough to judge needs the clock; the rest expire with the key (ttl)
        return state.due if any(len(s.times) >= MIN_CONNECTIONS for s in state.series.values()) else None

    def on_timer(self, key: str, state: Destination, watermark: float) -> tuple[list[Occurrence], Destination | None]:
        at = state.due
        out = self._judge(key, state, at)
        state.due = at + JUDGE_EVERY * (int(max(0.0, watermark - at) // JUDGE_EVERY) + 1)  # after a gap: the next slot to come
        if not state.series and state.fleet_until < at and state.last < at - WINDOW:
            return out, None
        return out, state

    def on_flush(self, key: str, state: Destination) -> tuple[list[Occurrence], Destination | None]:
        return self._judge(key, state, state.last), state

    def _judge(self, key: str, st: Destination, at: float) -> list[Occurrence]:
        out: list[Occurrence] = []
        begin = at - WINDOW
        for src in list(st.series):
            s = st.series[src]
            keep = next((i for i, t in enumerate(s.times) if t >= begin), len(s.times))
            if keep:
                del s.times[:keep], s.sizes[:keep]
            if not s.times and s.seen < begin:
                del st.series[src]
                continue
            if len(s.times) < MIN_CONNECTIONS or at - s.reported < DAY or st.benign or st.fleet_until >= at:
                continue
            ordered = sorted(p for p in zip(s.times, s.sizes) if p[0] <= at)  # late rows may have come out of order
            if len(ordered) < MIN_CONNECTIONS:
                continue
            times, sizes = [float(t) for t, _ in ordered], [b for _, b in ordered]
            result = beacon_score.score(times, sizes, max(begin, st.first), at, MIN_TIMING)
            if result is None or result.score < MIN_SCORE:
                continue
            s.reported = at
            out.append(self._report(key, src, s, times, sizes, result, len(st.series)))
        return out

    def _report(self, key: str, src: str, s: Series, times: list[float], sizes: list[int], r: beacon_score.BeaconScore,
                sources: int) -> Occurrence:
        dst, dport, proto = key.rsplit("|", 2)
        iid, eni, account, region = (v or None for v in (s.context.split(" ") + ["", "", "", ""])[:4])
        name = iid or eni or src
        listed = bool(self.intel.ip(dst))
        interval = round(r.median_interval)
        info: dict[str, Any] = {
            "beaconScore": round(r.score, 3), "scoreComponents": r.components(), "connections": len(times),
            "observedSpanSeconds": int(times[-1] - times[0]), "typicalIntervalSeconds": interval,
            "typicalBytesPerConnection": int(r.median_bytes), "sampleTimestamps": [_iso(t) for t in times[-10:]],
            "sampleBytes": sizes[-10:],
            "instancesReachingDestination": sources, "scoring": "RITA beacon score (activecm/rita analysis/beacons.go), equal weights",
        }
        return Occurrence(
            type=TYPE, severity=self.severity(TYPE, "LISTED" if listed else None), time=times[-1], first_seen=times[0],
            account_id=account or "", region=region or "", resource=instance_resource(iid, eni, src),
            resource_key=instance_key(iid, eni, src),
            action=network_connection(direction="OUTBOUND", protocol=int(proto), local=src,
                                      local_port=None,  # a new one each connection
                                      remote=dst, remote_port=int(dport), blocked=False, eni=eni),
            title=f"EC2 instance {name} is beaconing to {dst} on port {dport}.",
            description=f"EC2 instance {name} connected to {dst}:{dport} {len(times)} times over {_hours(times[-1] - times[0])}, "
                        f"about every {interval} s with {int(r.median_bytes)} bytes each, as regularly as malware checking in with "
                        f"its controller (beacon score {r.score:.2f}; {sources} instance{'s' if sources > 1 else ''} reach this address)"
                        + (". The address is on a threat list." if listed else "."),
            resource_role="ACTOR", feature_name="FlowLogs", remote_ip=dst, additional_info=info, aggregation_key=key,
        )


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} hours" if seconds >= 5400 else f"{seconds / 60:.0f} minutes"


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.habits import case_host
    from trailhound.simulator.records import Case, flow_row, internet_addresses, public_ip

    c2, c2b, metrics, site, backup, short, session, *mirrors = internet_addresses(48, seed=808)
    rnd = random.Random(8)
    hosts = [case_host(n) for n in range(55, 63)]  # no other case's instances

    # Every series ends by ``start``: hours of history before it, so the modules after this one are not pushed back.
    def series(host: Any, dst: str, dport: int, gaps: list[float], sizes: list[int] | int, end: datetime = start, protocol: int = 6,
               sport: int | None = None) -> list[dict[str, Any]]:
        rows, t = [], end - timedelta(seconds=sum(gaps[:-1]))
        for i, gap in enumerate(gaps):
            nbytes = sizes if isinstance(sizes, int) else sizes[i % len(sizes)]
            rows.append(flow_row(t, src=host.ip, dst=dst, sport=sport or 33000 + (7 * i) % 28000, dport=dport, at=host, protocol=protocol,
                                 flags=None if protocol == 17 else 3, nbytes=nbytes, packets=6))
            t += timedelta(seconds=gap)
        return rows

    def jittered(every: float, jitter: float, hours: float) -> list[float]:
        return [every + rnd.uniform(-jitter, jitter) for _ in range(int(hours * 3600 / every))]

    fleet = [r for i, h in enumerate(hosts[2:6])
             for r in series(h, metrics, 443, jittered(60, 2, 8), [2400, 2600, 2500], start - timedelta(seconds=7 * i))]
    browsing = series(hosts[6], site, 443, [rnd.expovariate(1 / 40) + (rnd.random() < 0.1) * rnd.uniform(600, 5400) for _ in range(260)],
                      [rnd.randint(900, 90000) for _ in range(50)])
    ci = [r for i, m in enumerate(mirrors)
          for r in series(hosts[7], m, 443 if i % 3 else 80, [rnd.uniform(1, 30) for _ in range(rnd.randint(1, 4))],
                          [rnd.randint(20000, 4_000_000) for _ in range(5)], start - timedelta(minutes=rnd.choice((0, 90, 240, 400)) + i))]
    ntp = series(hosts[1], "129.6.15.28", 123, [64 * 2 ** min(4, i // 8) for i in range(80)], 76, protocol=17, sport=123)
    nightly = series(case_host(63), backup, 443, [DAY + rnd.uniform(-120, 120) for _ in range(9)],
                     [rnd.randint(4_000_000_000, 4_200_000_000) for _ in range(9)])
    persistent = [flow_row(start - timedelta(minutes=599 - m), src=hosts[0].ip, dst=session, sport=41234, dport=443, at=hosts[0],
                           flags=3 if m == 0 else 0, nbytes=1800, packets=12) for m in range(0, 600)]
    # an app's pool of four long-lived connections to a managed database outside AWS, each logged every ten minutes for a day
    pool_host = case_host(14)
    pool = [flow_row(start - timedelta(seconds=600 * (143 - w)), src=pool_host.ip, dst="91.14.247.219", sport=40000 + c, dport=5432,
                     at=pool_host, flags=None, nbytes=540_000, packets=1800, duration=599)
            for w in range(144) for c in range(4)]
    return [
        Case("c2-beacon-60s-with-jitter", TYPE, series(hosts[0], c2, 443, jittered(60, 9, 9), [1150, 1160, 1148, 1152]), source="flow",
             role="ACTOR"),
        Case("c2-beacon-5min-fixed-size", TYPE, series(hosts[1], c2b, 8443, jittered(300, 25, 10), 412), source="flow", role="ACTOR"),
        # near misses
        Case("ntp-polling-64-to-1024s", None, ntp, source="flow"),
        Case("monitoring-agent-on-every-instance", None, fleet, source="flow"),
        Case("human-browsing", None, browsing, source="flow"),
        Case("ci-host-many-mirrors", None, ci, source="flow"),
        Case("nightly-backup", None, nightly, source="flow"),
        Case("beacon-too-few-connections", None, series(hosts[2], short, 443, jittered(60, 5, 10 / 60), 600), source="flow"),
        # an OS vendor's agent checking in (Canonical's range, in the shipped benign sets)
        Case("os-vendor-agent-polling", None, series(hosts[3], "185.125.190.58", 443, jittered(300, 10, 10), 900), source="flow"),
        # a blackbox probe of the company's own site, at another instance's public address (the inventory's): our own estate
        Case("probe-of-our-own-public-address", None, series(hosts[4], public_ip(case_host(63)), 443, jittered(60, 1, 9), 5120), source="flow"),
        # one kept-alive session logged every minute: the logger's clock, not a beacon
        Case("long-session-logged-every-minute", None, persistent, source="flow"),
        Case("connection-pool-logged-every-ten-minutes", None, pool, source="flow"),
    ]
