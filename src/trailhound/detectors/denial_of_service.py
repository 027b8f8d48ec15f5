"""Backdoor:EC2/DenialOfService.{Tcp,Udp,UdpOnTcpPorts,Dns,UnusualProtocol} — an instance flooding a public address.

A flood is judged on sums, not records: a flood from random source ports is thousands of small
records. The records that can make one — heavy ones (a packet a second or more over their span), lone
SYNs, UDP of small datagrams (short exchanges, or a few dozen a record from a tool cycling its source port),
any record of an unusual protocol, and coming back, heavy records and short UDP answers — are summed
in Polars per instance, remote address, protocol and minute (``compact``); the instance's state adds up
the sums of a minute however the records were batched, and judges the minute once the watermark has
passed it (a timer), so the same records give the same findings in any batches or partitions. Per minute:
packets per second (each record's packets over its span, at least a minute), bytes, and what came back.
What makes a minute a flood:

* at least ``MIN_PPS`` packets per second to one public address (AWS's own tester sends 400,000
  datagrams in seconds), and ``FACTOR`` times the instance's busiest flood-shaped minute of its own
  to any one address, per type, on earlier days within 30 days: a DNS forwarder's or a media relay's
  daily habit raises its own bar. A new instance has no history, and is judged on the floor alone:
  attackers flood from instances they have just launched.
* flood-shaped: small packets (≤ ``MAX_PACKET`` bytes on average: a bulk upload to S3, a backup or a
  video push fills its packets) and little coming back (TCP: at most ``TCP_ECHO``
  times the bytes sent, UDP and the rest: at most ``UDP_ECHO``; and, from flows the remote keeps up, fewer
  than ``PACKETS_BACK`` of the packets sent). A download's outbound half is a stream of small ACKs, but
  the data comes back; a DNS client gets answers larger than its queries; a voice relay receives as much as it sends; a game server's snapshots, an
  authoritative DNS server's answers and a client's small requests to a cache are answered packet for
  packet, however small the answers.
* never: DNS to a public resolver (a busy resolver client is no flood), ICMP (GuardDuty has no type for
  it), one-way telemetry over UDP (syslog 514, statsd 8125, NetFlow/IPFIX/sFlow, GELF 12201).

Type by protocol and port (the port of the minute's heaviest record): 53 is ``.Dns``; UDP to a port only
TCP services use is ``.UdpOnTcpPorts`` (80 and 443 carry QUIC, so UDP there is ``.Udp``, as AWS's tester
expects of its port-80 flood); other UDP ``.Udp``; TCP ``.Tcp``; a protocol other than TCP, UDP, ICMP,
IPsec and GRE ``.UnusualProtocol``. Each (type, address) is reported once a day; a reported minute is not
learned. A flood of records that are each light and no lone SYN or short UDP (many TCP connections that
each complete) is not seen: that is an application-layer flood, not this type's.

State per instance: per type, the busiest flood-shaped minute of each of the last 30 days (≤ 5 × 31
numbers), what was reported today, and the minutes still open (those within the allowed lateness, at
most ``OPEN`` of them): typically under 200 bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import polars as pl

from trailhound.detectors.flows import DEST_IS_LOCAL, PUBLIC_DEST, PUBLIC_SRC, SOURCE_IS_LOCAL
from trailhound.detectors.unusual_resolver import public_resolvers
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.baseline import DAY
from trailhound.enrich.geo import is_private
from trailhound.events import Source
from trailhound.findings.build import instance_key, instance_resource, network_connection
from trailhound.findings.build import port as port_details
from trailhound.findings.model import HIGH, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TCP, UDP, DNS, UDP_ON_TCP, UNUSUAL = (f"Backdoor:EC2/DenialOfService.{k}" for k in ("Tcp", "Udp", "Dns", "UdpOnTcpPorts", "UnusualProtocol"))
MIN_PPS = 1000.0
FACTOR = 10.0
FLOOR = MIN_PPS / FACTOR  # below this nothing can matter: not judged, not learned (history under it never raises a bar above MIN_PPS)
MAX_PACKET = 600.0
TCP_ECHO, UDP_ECHO = 2.0, 0.5
RECENT_DAYS = 30
# Services reached only over TCP: UDP to them is no protocol's traffic (80 and 443 are not here: QUIC)
TCP_ONLY_PORTS = frozenset({21, 22, 23, 25, 110, 143, 445, 465, 587, 993, 995, 1433, 1521, 3306, 5432, 5900, 6379, 8080, 8443, 9200,
                            27017})
TELEMETRY_PORTS = frozenset({514, 8125, 2055, 4739, 6343, 12201})  # one-way by design: syslog, statsd, NetFlow, IPFIX, sFlow, GELF
USUAL_PROTOCOLS = frozenset({1, 6, 17, 47, 50, 51, 58})  # ICMP, TCP, UDP, GRE, ESP, AH, ICMPv6: everything else is unusual

_OUT = SOURCE_IS_LOCAL & PUBLIC_DEST
_IN = DEST_IS_LOCAL & PUBLIC_SRC
_SPAN = pl.max_horizontal((pl.col("end") - pl.col("start")).fill_null(0), pl.lit(60)).cast(pl.Float64)
_PROTO = pl.col("protocol")
# Records that can be part of a flood, each judged alone (so the choice does not depend on batching)
_HEAVY = pl.col("packets") >= _SPAN
_LONE = (((_PROTO == 6) & (pl.col("tcp_flags").fill_null(0) == 2))
         | ((_PROTO == 17) & (pl.col("packets") <= 3) & (pl.col("dstport") != 123))
         | ~_PROTO.is_in(sorted(USUAL_PROTOCOLS)))
# small datagrams, however many a record holds: a flood tool cycling its source port (hping3) leaves a record of a few dozen
# packets per port and aggregation window, neither lone nor heavy
_SMALL_UDP = (_PROTO == 17) & (pl.col("bytes") <= MAX_PACKET * pl.col("packets")) & (pl.col("dstport") != 123)
# what comes back: the remote's heavy records, and its short UDP ones (a resolver's answers, one record a query)
_LONE_BACK = (_PROTO == 17) & (pl.col("packets") <= 3)
WHERE = (_OUT & (_HEAVY | _LONE | _SMALL_UDP)) | (_IN & (_HEAVY | _LONE_BACK))
LOCAL = pl.when(_OUT.fill_null(False)).then(pl.col("srcaddr")).otherwise(pl.col("dstaddr"))  # the instance's side of a record
_SENT = pl.when(_OUT.fill_null(False))
# What each picked record adds to its minute: sent (packets over its span, bytes, the heaviest record as
# packets × 65536 + 65535 − its port, a maximum so partial sums merge to the same answer) or come back.
COLUMNS = (pl.when(_OUT.fill_null(False)).then(pl.col("dstaddr")).otherwise(pl.col("srcaddr")).alias("remote"), "protocol",
           (pl.col("start") // 60).alias("minute"),
           _SENT.then(pl.col("packets") / _SPAN).otherwise(0.0).alias("pps"), _SENT.then(pl.col("bytes") / _SPAN).otherwise(0.0).alias("bps"),
           _SENT.then(pl.col("packets")).otherwise(0).alias("packets"), _SENT.then(pl.col("bytes")).otherwise(0).alias("bytes"),
           pl.when(_OUT.fill_null(False)).then(0).otherwise(pl.col("bytes")).alias("back"), _OUT.fill_null(False).cast(pl.Int64).alias("records"),
           _SENT.then(pl.col("packets").cast(pl.Int64) * 65536 + 65535 - pl.col("dstport").fill_null(0)).alias("heaviest"),
           "instance_id", "interface_id", "account_id", "region", "start",
           pl.when(_OUT.fill_null(False)).then(0).otherwise(pl.col("packets")).alias("back_packets"))
(REMOTE, PROTO, MINUTE, PPS, BPS, PACKETS, BYTES, BACK, RECORDS, HEAVIEST, IID, ENI, ACCOUNT, REGION, START, BACK_PACKETS) = range(16)
_CONTEXT = tuple(enumerate((IID, ENI, ACCOUNT, REGION)))  # (slot in FloodState.context, column of a row)
_SUMS = ("pps", "bps", "packets", "bytes", "back", "records", "back_packets")


def compact(frame: pl.DataFrame, key: str, row: str) -> pl.DataFrame:
    """One row per (instance, remote, protocol, minute) of a file's picked records: their sums."""
    names = [c if isinstance(c, str) else c.meta.output_name() for c in COLUMNS]
    return (frame.group_by([key, "remote", "protocol", "minute"])
            .agg(*(pl.col(c).sum() for c in _SUMS), pl.col("heaviest").max(),
                 *(pl.col(c).min() for c in ("instance_id", "interface_id", "account_id", "region")), pl.col("start").max(), pl.col(row).max())
            .sort(row).select(key, *names, row))


OPEN = 64  # open minutes kept per instance: past this the lightest go (a sweep's lone SYNs, never a flood)
# an open minute: [packets/s, bytes/s, packets, bytes, bytes back, records, heaviest record, packets back], keyed "remote|protocol|minute"
O_PPS, O_BPS, O_PACKETS, O_BYTES, O_BACK, O_RECORDS, O_HEAVIEST, O_BACK_PACKETS = range(8)
PACKETS_BACK = 0.5  # a conversation: the remote sends at least half as many packets (a game's inputs, DNS queries, requests)


def kind(protocol: int | None, dport: int | None, remote: str) -> str | None:
    """The DoS type traffic of this protocol and port would raise, or None for traffic never judged."""
    if dport == 53 and protocol in (6, 17):
        return None if remote in public_resolvers() else DNS
    if protocol == 6:
        return TCP
    if protocol == 17:
        if dport in TELEMETRY_PORTS:
            return None
        return UDP_ON_TCP if dport in TCP_ONLY_PORTS else UDP
    if protocol is None or protocol in USUAL_PROTOCOLS:
        return None
    return UNUSUAL


def flood_shaped(m: list[Any], ftype: str) -> bool:
    """Small packets, and little coming back — neither in bytes nor, from flows the remote keeps up, in packets."""
    packets, nbytes = m[O_PACKETS], m[O_BYTES]
    back, back_packets = m[O_BACK], m[O_BACK_PACKETS] if len(m) > O_BACK_PACKETS else 0
    if ftype != UNUSUAL and nbytes > MAX_PACKET * max(packets, 1):
        return False  # full packets: a transfer, not a flood
    return back <= (TCP_ECHO if ftype == TCP else UDP_ECHO) * nbytes and back_packets < PACKETS_BACK * packets


def _merge(into: list[Any], row: tuple[Any, ...]) -> None:
    # (spelled out: a loop over the six sums cost more than the sums, once per compacted row)
    into[O_PPS] += row[PPS] or 0
    into[O_BPS] += row[BPS] or 0
    into[O_PACKETS] += row[PACKETS] or 0
    into[O_BYTES] += row[BYTES] or 0
    into[O_BACK] += row[BACK] or 0
    into[O_RECORDS] += row[RECORDS] or 0
    if len(into) == O_BACK_PACKETS:  # (a minute left open by a version without the count)
        into.append(0)
    into[O_BACK_PACKETS] += row[BACK_PACKETS] or 0
    heaviest = row[HEAVIEST]
    if heaviest is not None and (into[O_HEAVIEST] is None or heaviest > into[O_HEAVIEST]):
        into[O_HEAVIEST] = heaviest


class FloodState(msgspec.Struct, array_like=True):
    peaks: dict[str, list[list[float]]] = msgspec.field(default_factory=dict)  # type -> [[day, busiest flood-shaped pps], ...]
    reported: dict[str, int] = msgspec.field(default_factory=dict)  # "type|remote" -> day reported
    open: dict[str, list[Any]] = msgspec.field(default_factory=dict)  # "remote|protocol|minute" -> the minute's sums so far
    soonest: int = 0  # the earliest open minute (when any is open): the timer, without a pass over them
    context: list[Any] = msgspec.field(default_factory=lambda: [None, None, None, None])  # instance, interface, account, region


class DenialOfService(KeyedDetector[FloodState]):
    name = "denial-of-service"
    consumes = Source.FLOW
    method = "behaviour"
    State: ClassVar[type[msgspec.Struct]] = FloodState
    ttl = (RECENT_DAYS + 1) * DAY
    drops_late = True  # a minute is judged once: a record arriving after its verdict would open a second one
    where = WHERE
    key = LOCAL
    columns = COLUMNS
    compact = staticmethod(compact)
    _why = (f"≥{MIN_PPS:,.0f} packets/s to one public address in a minute (and {FACTOR:.0f}× the instance's busiest such minute in "
            f"{RECENT_DAYS} days), small packets, little coming back")
    findings = (
        FindingType(TCP, severity(HIGH), "TA0040 Impact", "T1498.001 Network Denial of Service: Direct Network Flood", f"TCP: {_why}"),
        FindingType(UDP, severity(HIGH), "TA0040 Impact", "T1498.001 Network Denial of Service: Direct Network Flood", f"UDP: {_why}"),
        FindingType(UDP_ON_TCP, severity(HIGH), "TA0040 Impact", "T1498.001 Network Denial of Service: Direct Network Flood",
                    f"UDP to a TCP-only service port (22, 3306, 8080...): {_why}"),
        FindingType(DNS, severity(HIGH), "TA0040 Impact", "T1498.001 Network Denial of Service: Direct Network Flood",
                    f"port 53 of an address that is no public resolver: {_why}"),
        FindingType(UNUSUAL, severity(HIGH), "TA0040 Impact", "T1498.001 Network Denial of Service: Direct Network Flood",
                    f"a protocol other than TCP, UDP, ICMP, IPsec or GRE (IGMP...): {_why}"),
    )

    def update(self, key: str, rows: list[tuple[Any, ...]], state: FloodState | None, watermark: float) -> tuple[list[Occurrence], FloodState | None]:
        st = state if state is not None else FloodState()
        context, opened = st.context, st.open
        for row in rows:
            for i, j in _CONTEXT:
                v = row[j]
                if v is not None and (context[i] is None or v < context[i]):
                    context[i] = v
            slot = f"{row[REMOTE]}|{row[PROTO]}|{row[MINUTE]}"
            into = opened.get(slot)
            if into is None:
                if len(opened) >= OPEN:
                    del opened[min(opened, key=lambda k: (opened[k][O_PPS], k))]
                if not opened or row[MINUTE] < st.soonest:
                    st.soonest = row[MINUTE]
                into = opened[slot] = [0.0, 0.0, 0, 0, 0, 0, None, 0]
            _merge(into, row)
        return self._close(key, st, watermark)

    def timer(self, state: FloodState) -> float | None:
        return (state.soonest + 1) * 60.0 if state.open else None

    def on_timer(self, key: str, state: FloodState, watermark: float) -> tuple[list[Occurrence], FloodState | None]:
        return self._close(key, state, watermark)

    def _close(self, key: str, st: FloodState, watermark: float) -> tuple[list[Occurrence], FloodState | None]:
        """Judge the minutes the watermark has passed, oldest first, and forget them."""
        out: list[Occurrence] = []
        if not st.open or (st.soonest + 1) * 60.0 > watermark:
            return out, st if st.peaks or st.reported or st.open else None
        # each open minute's number read once: the ones left open give the next soonest
        minutes = [(_minute(k), k) for k in st.open]
        done = sorted(mk for mk in minutes if (mk[0] + 1) * 60.0 <= watermark)
        for minute, slot in done:
            remote, proto, _ = slot.rsplit("|", 2)
            found = self._judge(key, remote, int(proto), minute, st.open.pop(slot), st)
            if found is not None:
                out.append(found)
        st.soonest = min((m for m, _ in minutes if (m + 1) * 60.0 > watermark), default=0)
        if st.reported:
            today = max(st.reported.values())
            st.reported = {k: d for k, d in st.reported.items() if d == today}
        return out, st if st.peaks or st.reported or st.open else None

    def _judge(self, key: str, remote: str, proto: int, minute: int, m: list[Any], st: FloodState) -> Occurrence | None:
        heaviest = m[O_HEAVIEST]
        if m[O_PPS] < FLOOR or heaviest is None or is_private(remote):
            return None
        dport = 65535 - heaviest % 65536
        ftype = kind(proto, dport, remote)
        if ftype is None or not flood_shaped(m, ftype):
            return None
        day = int(minute * 60 // DAY)
        peaks = st.peaks.setdefault(ftype, [])
        usual = max((p for d, p in peaks if day - RECENT_DAYS <= d < day), default=0.0)
        if m[O_PPS] >= max(MIN_PPS, FACTOR * usual):
            if st.reported.get(f"{ftype}|{remote}") == day:
                return None
            st.reported[f"{ftype}|{remote}"] = day
            return self._report(ftype, key, remote, proto, minute, m, dport, st.context, usual)  # a flood is not learned: the next one is judged by the same bar
        if peaks and peaks[-1][0] == day:
            peaks[-1][1] = max(peaks[-1][1], m[O_PPS])
        else:
            peaks.append([day, m[O_PPS]])
            del peaks[: max(0, len(peaks) - RECENT_DAYS - 1)]
        return None

    def _report(self, ftype: str, local: str, remote: str, protocol: int, minute: int, m: list[Any], dport: int, context: list[Any],
                usual: float) -> Occurrence:
        iid, eni, account, region = context
        name = iid or eni or local
        pps, packet, port = m[O_PPS], m[O_BYTES] / max(m[O_PACKETS], 1), dport or None
        proto = {6: "TCP", 17: "UDP"}.get(protocol, f"protocol {protocol}")
        info = {"baseline": (f"busiest minute of this kind to one address in the last {RECENT_DAYS} days: "
                             + (f"{usual:,.0f} packets/s" if usual else f"none over {FLOOR:,.0f} packets/s") + f"; now {pps:,.0f} packets/s"),
                "packetsPerSecond": round(pps, 1), "bytesPerSecond": round(m[O_BPS], 1), "packets": m[O_PACKETS], "bytes": m[O_BYTES],
                "averagePacketBytes": round(packet, 1), "bytesReturned": m[O_BACK], "flowRecords": m[O_RECORDS],
                "usualPacketsPerSecond": round(usual, 1), "minute": time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(minute * 60))}
        return Occurrence(
            type=ftype, severity=self.severity(ftype), time=minute * 60.0, account_id=account or "", region=region or "",
            resource=instance_resource(iid, eni, local), resource_key=instance_key(iid, eni, local),
            action=network_connection(direction="OUTBOUND", protocol=protocol, local=local, local_port=None, remote=remote,
                                      remote_port=port, blocked=False, eni=eni),
            title=f"EC2 instance {name} is behaving in a manner that may indicate it is being used to perform a Denial of Service (DoS) "
                  f"attack using the {proto} protocol.",
            description=(f"EC2 instance {name} sent {m[O_PACKETS]:,} {proto} packets ({packet:,.0f} bytes on average) to {remote}"
                         + (f" port {port} ({port_details(port).port_name})" if port else "")
                         + f" within a minute, {pps:,.0f} per second, and got {m[O_BACK]:,} bytes back. " + info["baseline"].capitalize()
                         + ". A compromised instance is often made to flood a victim."),
            resource_role="ACTOR", feature_name="FlowLogs", remote_ip=remote, additional_info=info, aggregation_key=remote,
        )


def _minute(slot: str) -> int:
    return int(slot.rsplit("|", 1)[1])


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.habits import case_host
    from trailhound.simulator.records import Case, flow_row, internet_addresses

    victim, carrier, s3, mirror, forwarder, *_ = internet_addresses(8, seed=91)
    hosts = {name: case_host(n, name) for n, name in zip((*range(30, 40), 55, 56, 57, 58, 13, 15), (
        "batch-1", "batch-2", "batch-3", "batch-4", "batch-5", "batch-6", "sbc-1", "encoder-1", "dns-fwd-1", "build-9", "dns-client-1",
        "load-test-1", "dns-fwd-2", "game-1", "dns-fwd-3", "batch-7"))}
    h = hosts

    def burst(host: Any, dst: str, dport: int, packets: int, size: int, *, protocol: int = 17, at: datetime | None = None,
              sources: int = 1, flags: int | None = None, inbound: int = 0, in_size: int = 0) -> list[dict[str, Any]]:
        """``packets`` packets of ``size`` bytes sent within a minute from ``sources`` source ports, and ``inbound`` back."""
        t, per = at or start, max(packets // sources, 1)
        rows = [flow_row(t + timedelta(seconds=i * 50 / sources), src=host.ip, dst=dst, sport=40000 + i, dport=dport, at=host,
                         protocol=protocol, flags=flags, packets=per, nbytes=per * size, duration=8) for i in range(sources)]
        if inbound:
            rows += [flow_row(t + timedelta(seconds=i * 50 / sources), src=dst, dst=host.ip, sport=dport, dport=40000 + i, at=host,
                              protocol=protocol, flags=None if protocol != 6 else 18, packets=max(inbound // sources, 1),
                              nbytes=max(inbound // sources, 1) * in_size, duration=8) for i in range(sources)]
        return rows

    def daily(host: Any, days: int, make: Any) -> list[dict[str, Any]]:
        return [r for d in range(days, 0, -1) for r in make(start - timedelta(days=d))]

    return [
        # AWS's tester: 400,000 datagrams of 256 bytes to port 80, and of 64 bytes to port 53 of a host that is no resolver
        Case("udp-flood-to-port-80", UDP, burst(h["batch-1"], victim, 80, 400_000, 256), source="flow", role="ACTOR"),
        Case("dns-flood-to-a-non-resolver", DNS, burst(h["batch-2"], victim, 53, 400_000, 64), source="flow", role="ACTOR"),
        # a SYN flood from 600 source ports: a sum of small records; the victim answers some SYNs
        Case("syn-flood-from-many-ports", TCP, burst(h["batch-3"], victim, 443, 150_000, 60, protocol=6, sources=600, flags=2,
                                                      inbound=60_000, in_size=40), source="flow", role="ACTOR"),
        # hping3 with its source port counting up at 1,200 datagrams a second for ten minutes, logged in 600-second records: a
        # few dozen packets a port, each record neither lone nor heavy
        Case("udp-flood-cycling-source-ports", UDP, [
            flow_row(start + timedelta(seconds=i % 30), src=h["batch-7"].ip, dst=victim, sport=1024 + i, dport=9999, at=h["batch-7"],
                     protocol=17, flags=None, packets=60, nbytes=60 * 120, duration=570) for i in range(12_000)], source="flow", role="ACTOR"),
        Case("udp-flood-to-mysql-port", UDP_ON_TCP, burst(h["batch-4"], victim, 3306, 300_000, 512), source="flow", role="ACTOR"),
        Case("igmp-flood", UNUSUAL, [{**r, "srcport": 0, "dstport": 0} for r in burst(h["batch-5"], victim, 0, 200_000, 60, protocol=2)],
             source="flow", role="ACTOR"),
        # the same habit, and then ten times more: a flood above its own bar
        Case("flood-above-its-habit", DNS, daily(h["dns-fwd-2"], 10, lambda t: burst(h["dns-fwd-2"], forwarder, 53, 54_000, 70,
                                                                                      at=t + timedelta(hours=12)))
             + burst(h["dns-fwd-2"], forwarder, 53, 600_000, 70), source="flow", role="ACTOR"),
        # near misses
        Case("too-slow-to-be-a-flood", None, burst(h["batch-6"], victim, 80, 50_000, 256), source="flow"),  # 833 packets/s
        # a busy client of Google's resolver: its answers come back, and it is a public resolver anyway
        Case("busy-client-of-a-public-resolver", None, burst(h["dns-client-1"], "8.8.8.8", 53, 300_000, 70, inbound=300_000, in_size=180),
             source="flow"),
        # a DNS forwarder to its company's resolvers (no answers logged: they come over the VPN), every day at ~900
        # queries/s at its peak: today's 3,000 is within ten times its habit
        Case("dns-forwarder-with-history", None, daily(h["dns-fwd-1"], 10, lambda t: burst(h["dns-fwd-1"], forwarder, 53, 54_000, 70,
                                                                                           at=t + timedelta(hours=12)))
             + burst(h["dns-fwd-1"], forwarder, 53, 180_000, 70), source="flow"),
        # a DNS forwarder with no history of busy minutes: a cache flush sends 66,000 queries in a minute, each from its own
        # source port, and every answer is logged (one short record a query)
        Case("dns-forwarder-cache-flush-answered", None, burst(h["dns-fwd-3"], forwarder, 53, 66_000, 70, sources=22_000, inbound=66_000,
                                                               in_size=160), source="flow"),
        # a voice relay: as many RTP packets come back as go out
        Case("voice-relay-rtp", None, burst(h["sbc-1"], carrier, 16384, 600_000, 214, sources=50, inbound=600_000, in_size=214),
             source="flow"),
        # an encoder uploading to S3: full packets; a build host downloading: small ACKs out, the data back
        Case("encoder-uploads-to-s3", None, burst(h["encoder-1"], s3, 443, 2_000_000, 1400, protocol=6, sources=8, flags=3,
                                                  inbound=700_000, in_size=52), source="flow"),
        Case("large-download", None, burst(h["build-9"], mirror, 443, 400_000, 52, protocol=6, sources=4, flags=3, inbound=800_000,
                                           in_size=1448), source="flow"),
        # a game server launched today, its snapshots to a relay (1,140 a second): the players' inputs come back as often
        Case("new-game-server-snapshots-to-a-relay", None, burst(h["game-1"], carrier, 27015, 68_400, 260, inbound=68_400, in_size=70),
             source="flow"),
        # a load test against our own load balancer's private address: not a public victim
        Case("load-test-on-a-private-address", None, burst(h["load-test-1"], "10.0.3.17", 80, 400_000, 256), source="flow"),
    ]
