"""How to read a VPC flow record: which side is ours, which half opened the connection, did it fail.

Flow logs record each direction of a connection separately, per network interface, aggregated over
one to ten minutes, without saying who started it. These helpers answer that once, per row
(``orient``, ``opener``) or as Polars expressions over a whole batch (``*_expr``), for every flow
detector.

TCP flags are AWS's: FIN 1, SYN 2, RST 4 and SYN-ACK 18 — ACK alone is never logged. A record
with SYN and no SYN-ACK is the half that opened its connection; if it also shows no payload-sized
exchange, the handshake never completed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from trailhound.enrich.flows import mark_addresses
from trailhound.enrich.geo import is_private
from trailhound.findings.build import PORT_NAMES
from trailhound.intel.index import ThreatHit

EPHEMERAL_MIN = 32768  # Linux's ephemeral range starts here, Windows' at 49152
SYN, SYN_ACK = 2, 18
# A record whose only flag is RST is a refusal: a closed port answering a probe (Zeek's REJ), which AWS logs
# as the prober's SYN on one side and the bare RST on the other. (A client aborting a session in a later
# capture window logs the same; its opening window showed SYN and was judged there.)
RST = 4
_CLOSING = SYN | RST | 1  # SYN, RST, FIN
EMR_PORTS = frozenset({8088, 8042, 8890, 8998, 9870, 50070, 18080, 20888, 16010, 8888, 10000})
ELASTICSEARCH_PORTS = frozenset({9200, 9300})
SERVICE_PORTS = EMR_PORTS | ELASTICSEARCH_PORTS | frozenset(PORT_NAMES)


def opener(srcport: int | None, dstport: int | None, tcp_flags: int | None = None, service_ports: frozenset[int] = frozenset()) -> bool | None:
    """Whether a flow record is the half that opened its connection (True), the reply (False),
    or cannot tell (None). TCP flags decide when the log has them (SYN without SYN-ACK opens,
    SYN-ACK replies, a bare RST refuses); otherwise the service side is the well-known or known service
    port, else the non-ephemeral one. Port-less protocols (ICMP) count as opening."""
    if tcp_flags:
        if tcp_flags & SYN and not tcp_flags & 16:
            return True
        if tcp_flags & SYN_ACK == SYN_ACK or tcp_flags & _CLOSING == RST:
            return False
    if srcport is None or dstport is None or srcport == dstport:
        return True
    for s_is_service, d_is_service in ((srcport < 1024, dstport < 1024), (srcport in service_ports, dstport in service_ports),
                                       (srcport < EPHEMERAL_MIN, dstport < EPHEMERAL_MIN)):
        if s_is_service != d_is_service:
            return d_is_service
    return None


def orient(src: str, dst: str, flow_direction: str | None, listed: Callable[[str], Any] | None = None) -> tuple[str, str, str] | None:
    """(direction, local ip, remote ip) of a flow record, or None when neither side is remote.

    Without a logged direction (v2-v4 formats) the private side is ours. Both sides are public in
    IPv6 (a VPC's IPv6 addresses are global) and behind some public IPv4 interfaces: then, given
    `listed`, the one side on a list is the remote one."""
    if flow_direction == "ingress":
        return "INBOUND", dst, src
    if flow_direction == "egress":
        return "OUTBOUND", src, dst
    src_private, dst_private = is_private(src), is_private(dst)
    if src_private and not dst_private:
        return "OUTBOUND", src, dst
    if dst_private and not src_private:
        return "INBOUND", dst, src
    if listed is not None and not src_private:
        src_listed, dst_listed = bool(listed(src)), bool(listed(dst))
        if src_listed != dst_listed:
            return ("INBOUND", dst, src) if src_listed else ("OUTBOUND", src, dst)
    return None


def flagged_rows(df: pl.DataFrame, lookup: Callable[[str], Any]) -> tuple[pl.DataFrame, dict[str, tuple[ThreatHit, ...]]]:
    """The rows whose source or destination is on a list, and those addresses' hits.

    Uses the ``listed`` column the enrichment stage adds to every flow batch, so a batch without any
    listed address costs one `any()`; without that column, marks the batch itself."""
    if "listed" not in df.columns:
        df = mark_addresses(df, lookup)
    if not df["listed"].any():
        return df.clear(), {}
    rows = df.filter(pl.col("listed"))
    addresses = set(rows["srcaddr"].to_list()) | set(rows["dstaddr"].to_list())
    return rows, {ip: h for ip in addresses if (h := lookup(ip))}


# ---- the same judgements over whole batches: expressions built once, evaluated once per file -----

_FDIR = pl.col("flow_direction")

TCP = pl.col("protocol") == 6
ACCEPTED = pl.col("action") == "ACCEPT"

# A TCP connection attempt that never completed: rejected by the network, or a lone SYN (the record
# of the opening half shows SYN, no FIN and no SYN-ACK, and at most a retry's worth of packets and no
# payload). Without TCP flags (v2 logs) only a REJECT is certain: a tiny record may be a quiet minute of
# a live session.
_LONE_SYN = ((pl.col("tcp_flags") & (SYN_ACK | 1)) == SYN) & (pl.col("packets") <= 2) & (pl.col("bytes") <= 160)
UNANSWERED = TCP & ((pl.col("action") == "REJECT") | _LONE_SYN.fill_null(False))
# ...and what a log without flags cannot tell from a lone SYN: an accepted record of a packet or two and no payload (a probe
# the remote refused, or a quiet minute of a live session; only many of them say which)
MAYBE_UNANSWERED = TCP & ACCEPTED & pl.col("tcp_flags").is_null() & (pl.col("packets") <= 2) & (pl.col("bytes") <= 120)

# Which side is ours: the record was logged leaving (entering) our interface, or — no direction
# logged — that side's address is private. Uses the columns ``enrich.flows.mark_addresses`` adds.
SOURCE_IS_LOCAL = (_FDIR == "egress") | (_FDIR.is_null() & pl.col("src_private"))
DEST_IS_LOCAL = (_FDIR == "ingress") | (_FDIR.is_null() & pl.col("dst_private"))
# The interface and instance id on the row are the source's (destination's), not the other side's.
LOGGED_AT_SOURCE = (_FDIR == "egress") | (_FDIR.is_null() & ~pl.col("dst_private"))
LOGGED_AT_DEST = (_FDIR == "ingress") | (_FDIR.is_null() & ~pl.col("src_private"))

# The half that opened its connection, over a batch (``opener`` as an expression, minus its service-port
# tier: what it cannot tell counts as a reply). TCP flags decide when the row has them (SYN without the
# ACK of a SYN-ACK opens; a SYN-ACK or a bare RST replies); otherwise the side with the well-known port, or the one
# below the ephemeral range, is the server's. A reply from our service port to a client's high port is
# never taken for a connection to that port.
_FLAGS = pl.col("tcp_flags").fill_null(0)
_SPORT, _DPORT = pl.col("srcport"), pl.col("dstport")
OPENS = (pl.when(((_FLAGS & SYN) != 0) & ((_FLAGS & 16) == 0)).then(True)
         .when(((_FLAGS & SYN_ACK) == SYN_ACK) | ((_FLAGS & _CLOSING) == RST)).then(False)
         .otherwise(((_DPORT < 1024) & (_SPORT >= 1024)) | ((_DPORT < EPHEMERAL_MIN) & (_SPORT >= EPHEMERAL_MIN))))
# The destination (source) is not a private, shared, link-local or loopback address (IPv4) nor a unique-local
# or link-local one (IPv6): the quick test on the text that enrichment runs once per row (``enrich.flows.public``),
# where the ``dst_private`` column is only there for logs without a direction. ``geo.is_private`` stays the
# judge of the few rows that get through.
PUBLIC_DEST = pl.col("dst_public")
PUBLIC_SRC = pl.col("src_public")
# Connections our instances opened, that were let through, to the Internet.
OUTBOUND_TO_INTERNET = SOURCE_IS_LOCAL & ACCEPTED & OPENS & PUBLIC_DEST
