"""Zeek conn.log / dns.log -> VPC Flow Logs (v5, with header) and Route 53 Resolver query logs.

    .venv/bin/python bench/zeek2aws.py -o OUT [--local IP[=PRIVATE_IP] ...] [--base-time EPOCH] LOG [LOG ...]

Zeek logs are TSV (with ``#fields``) or JSON lines, plain or gzipped; the kind (conn or dns) is
read from ``#path`` or the fields. Output goes under ``OUT/AWSLogs/<account>/`` as AWS delivers it.

How a Zeek connection becomes flow records:

* The monitored hosts ("local", each with an ENI and an instance) are the ``--local`` addresses,
  else Zeek's ``local_orig``/``local_resp``, else the private (RFC 1918 / ULA) addresses. A VPC
  flow log shows an instance's private address even for traffic to its public one, so a public
  local host is given a private address (``--local PUBLIC=PRIVATE``, or a derived 10.x address).
* Flow logs are one-directional and logged per ENI: each local end gets a record for the
  originator's packets (orig_pkts, orig_ip_bytes) and, when the responder answered, one for the
  responder's (resp_pkts, resp_ip_bytes), with flow-direction from that ENI's point of view.
  Connections with no local end, and multicast, broadcast, link-local or loopback traffic,
  never reach a VPC flow log and are skipped.
* action: an inbound connection the local host never answered (conn_state S0) is REJECT — in a
  VPC the usual reason a SYN goes unanswered is a security group or network ACL drop. REJ
  (answered by a RST) is ACCEPT: the packet reached the host, whose closed port refused it.
  Everything else is ACCEPT.
* tcp-flags: the OR of the flags in Zeek's ``history`` for that direction (SYN 2, FIN 1, RST 4,
  SYN-ACK 18 for the responder), as flow logs aggregate them.
* Relative timestamps (anonymised captures starting near 0) are shifted to the log's ``#open``
  time, else to ``--base-time``.

DNS: queries a local host sent to port 53 become Route 53 Resolver records (as if the VPC
resolver had answered them); multicast name resolution (mDNS, LLMNR, NetBIOS) and
retransmissions are skipped. An answer's type is A/AAAA for addresses, else CNAME (PTR for PTR
queries); a query Zeek saw no reply to is logged with rcode SERVFAIL.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import ipaddress
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FLOW_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status "
    "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id "
    "pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"
)
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1}
ORIG_FLAGS = {"S": 2, "F": 1, "R": 4}
RESP_FLAGS = {"H": 18, "F": 1, "R": 4}  # Zeek writes the responder's letters in lower case: h = SYN-ACK
MULTICAST_NAME_PORTS = {5353, 5355, 137}
DEFAULT_BASE = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def read_zeek(path: Path) -> tuple[str, float | None, Iterator[dict[str, Any]]]:
    """(kind, #open time, records) of a Zeek log in TSV or JSON form."""
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8", "replace")
    lines = [line.lstrip() if line.lstrip().startswith("#") else line for line in text.splitlines()]
    if lines and lines[0].startswith("{"):
        records = [json.loads(line) for line in lines if line.startswith("{")]
        kind = "dns" if records and "query" in records[0] else "conn"
        return kind, None, iter(records)
    fields: list[str] = []
    kind, opened = "", None
    unset, empty = "-", "(empty)"
    for line in lines:
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition("\t" if "\t" in line else " ")
        if key == "fields":
            fields = value.split("\t")
        elif key == "path":
            kind = value.strip()
        elif key == "unset_field":
            unset = value.strip()
        elif key == "empty_field":
            empty = value.strip()
        elif key == "open":
            opened = datetime.strptime(value.strip(), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC).timestamp()

    def records() -> Iterator[dict[str, Any]]:
        for line in lines:
            if line and not line.startswith("#"):
                values = line.split("\t")
                yield {f: (None if v in (unset, empty) else v) for f, v in zip(fields, values, strict=False)}

    return kind or ("dns" if "query" in fields else "conn"), opened, records()


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return default


def _flags(history: str | None, responder: bool) -> int:
    out = 0
    for ch in history or "":
        if ch.islower() == responder:
            out |= (RESP_FLAGS if responder else ORIG_FLAGS).get(ch.upper(), 0)
    return out


def _routable(ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (a.is_multicast or a.is_link_local or a.is_loopback or a.is_unspecified or ip.endswith(".255"))


def _is_private(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return a.is_private and not a.is_link_local and not a.is_loopback


def _hex(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


@dataclass
class Converted:
    flow_lines: list[str] = field(default_factory=list)
    dns_records: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    labels_by_address: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # remote address -> labels
    labels_by_domain: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


class Converter:
    def __init__(self, local: dict[str, str] | None = None, *, account: str = "123456789012", region: str = "us-east-1",
                 base_time: float = DEFAULT_BASE) -> None:
        self.monitored = set(local) if local else None  # None: decide from Zeek's flags / the address
        self.private = dict(local or {})  # monitored address -> its private (VPC) address
        self.account, self.region, self.base_time = account, region, base_time
        self.out = Converted()

    # -- addresses ---------------------------------------------------------------------------
    def _is_local(self, ip: str, zeek_flag: Any) -> bool:
        if self.monitored is not None:
            return ip in self.monitored
        if zeek_flag in ("T", True):
            return True
        if zeek_flag in ("F", False):
            return False
        return _is_private(ip)

    def _private(self, ip: str) -> str:
        if ip not in self.private:
            h = int(_hex(ip, 6), 16)
            self.private[ip] = ip if _is_private(ip) else f"10.{h >> 16 & 255}.{h >> 8 & 255}.{max(4, h & 255)}"
        return self.private[ip]

    def _ids(self, private_ip: str) -> tuple[str, str]:
        return f"eni-{_hex(private_ip, 17)}", f"i-{_hex('i' + private_ip, 17)}"

    def _time(self, ts: Any, opened: float | None) -> float:
        t = float(ts)
        return t + (opened or self.base_time) if t < 1e8 else t

    # -- conn.log ----------------------------------------------------------------------------
    def conn(self, rec: dict[str, Any], opened: float | None) -> None:
        out = self.out
        orig, resp, proto = rec.get("id.orig_h") or "", rec.get("id.resp_h") or "", PROTOCOLS.get(str(rec.get("proto")))
        if proto is None:
            out.skipped["not TCP/UDP/ICMP"] += 1
            return
        if not (_routable(orig) and _routable(resp)):
            out.skipped["multicast, broadcast, link-local or loopback"] += 1
            return
        local_orig, local_resp = self._is_local(orig, rec.get("local_orig")), self._is_local(resp, rec.get("local_resp"))
        if not (local_orig or local_resp):
            out.skipped["no monitored end"] += 1
            return
        out.connections += 1
        if ":" in orig and proto == 1:
            proto = 58
        start = self._time(rec["ts"], opened)
        end = start + float(rec.get("duration") or 0)
        o_pkts, r_pkts = max(1, _int(rec.get("orig_pkts"), 1)), _int(rec.get("resp_pkts"))
        o_bytes = _int(rec.get("orig_ip_bytes")) or _int(rec.get("orig_bytes")) + 40 * o_pkts
        r_bytes = _int(rec.get("resp_ip_bytes")) or _int(rec.get("resp_bytes")) + 40 * r_pkts
        sport, dport = (0, 0) if proto in (1, 58) else (_int(rec.get("id.orig_p")), _int(rec.get("id.resp_p")))
        history, state = rec.get("history"), rec.get("conn_state")
        o_addr = self._private(orig) if local_orig else orig
        r_addr = self._private(resp) if local_resp else resp
        for eni_ip, is_orig in ((o_addr, True), (r_addr, False)):
            if not (local_orig if is_orig else local_resp):
                continue
            inbound_unanswered = not is_orig and state == "S0"
            action = "REJECT" if inbound_unanswered else "ACCEPT"
            records = [(o_addr, r_addr, sport, dport, o_pkts, o_bytes, _flags(history, False), is_orig)]
            if r_pkts:
                records.append((r_addr, o_addr, dport, sport, r_pkts, r_bytes, _flags(history, True), not is_orig))
            for src, dst, sp, dp, pkts, nbytes, flags, egress in records:
                out.flow_lines.append(self._flow_line(eni_ip, src, dst, sp, dp, proto, pkts, nbytes, start, end, action, flags, egress))
        label = rec.get("label")
        if label:
            for addr, is_local in ((orig, local_orig), (resp, local_resp)):
                if not is_local:
                    out.labels_by_address[addr][label] += 1
                elif local_orig and local_resp:
                    out.labels_by_address[self._private(addr)][label] += 1

    def _flow_line(self, eni_ip: str, src: str, dst: str, sport: int, dport: int, proto: int, pkts: int, nbytes: int,
                   start: float, end: float, action: str, flags: int, egress: bool) -> str:
        eni, instance = self._ids(eni_ip)
        remote = dst if egress else src
        path = ("1" if _is_private(remote) else "8") if egress else "-"
        kind = "IPv6" if ":" in src else "IPv4"
        fields = [5, self.account, eni, src, dst, sport, dport, proto, pkts, nbytes, int(start), int(end) + 1, action, "OK",
                  "vpc-0a11ce5e0zeek", "subnet-0a11ce5e0zeek", instance, flags, kind, src, dst, self.region, "use1-az1", "-", "-",
                  "-", "-", "egress" if egress else "ingress", path]
        return " ".join(str(f) for f in fields)

    # -- dns.log -----------------------------------------------------------------------------
    def dns(self, rec: dict[str, Any], opened: float | None, seen: set[tuple[Any, ...]]) -> None:
        out = self.out
        src, query = rec.get("id.orig_h") or "", rec.get("query")
        if _int(rec.get("id.resp_p")) != 53 or _int(rec.get("id.orig_p")) in MULTICAST_NAME_PORTS or not query:
            out.skipped["dns: not a unicast query to port 53"] += 1
            return
        if not (_routable(src) and self._is_local(src, rec.get("local_orig"))):
            out.skipped["dns: not from a monitored host"] += 1
            return
        key = (rec.get("uid"), rec.get("trans_id"), query, rec.get("qtype_name"))
        if key in seen:
            out.skipped["dns: retransmission"] += 1
            return
        seen.add(key)
        qtype = rec.get("qtype_name") or "A"
        answers = rec.get("answers") or []
        if isinstance(answers, str):
            answers = answers.split(",")
        private = self._private(src)
        _, instance = self._ids(private)
        out.dns_records.append({
            "version": "1.100000", "account_id": self.account, "region": self.region, "vpc_id": "vpc-0a11ce5e0zeek",
            "query_timestamp": datetime.fromtimestamp(self._time(rec["ts"], opened), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "query_name": query.rstrip(".") + ".", "query_type": qtype, "query_class": "IN",
            "rcode": rec.get("rcode_name") or "SERVFAIL",
            "answers": [{"Rdata": a, "Type": _answer_type(a, qtype), "Class": "IN"} for a in answers if a and a != "-"],
            "srcaddr": private, "srcport": str(_int(rec.get("id.orig_p"))), "transport": str(rec.get("proto") or "udp").upper(),
            "srcids": {"instance": instance},
        })
        if rec.get("label"):
            out.labels_by_domain[query.rstrip(".").lower()][rec["label"]] += 1


def _answer_type(answer: str, qtype: str) -> str:
    try:
        return "AAAA" if ipaddress.ip_address(answer).version == 6 else "A"
    except ValueError:
        return "PTR" if qtype == "PTR" else "CNAME"


def convert(paths: list[Path], local: dict[str, str] | None = None, *, base_time: float = DEFAULT_BASE,
            account: str = "123456789012", region: str = "us-east-1") -> Converted:
    conv = Converter(local, account=account, region=region, base_time=base_time)
    seen: set[tuple[Any, ...]] = set()
    for path in paths:
        kind, opened, records = read_zeek(path)
        for rec in records:
            if kind == "dns":
                conv.dns(rec, opened, seen)
            elif kind == "conn":
                conv.conn(rec, opened)
    return conv.out


def write(converted: Converted, out: Path, name: str, account: str = "123456789012", region: str = "us-east-1") -> list[Path]:
    """Write the flow and DNS records under OUT/AWSLogs/<account>/ with AWS's key layout; returns the files."""
    written = []
    base = out / "AWSLogs" / account
    if converted.flow_lines:
        p = base / "vpcflowlogs" / region / f"{account}_vpcflowlogs_{region}_fl-0zeek_{name}.log.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(("\n".join([FLOW_HEADER, *converted.flow_lines]) + "\n").encode(), mtime=0))
        written.append(p)
    if converted.dns_records:
        p = base / "vpcdnsquerylogs" / "vpc-0a11ce5e0zeek" / f"{account}_vpcdnsquerylogs_{name}.log.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in converted.dns_records) + "\n").encode(), mtime=0))
        written.append(p)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+", type=Path, help="Zeek conn.log / dns.log files (TSV or JSON, optionally gzipped)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output folder (AWSLogs/... is written inside)")
    ap.add_argument("--local", action="append", default=[], metavar="IP[=PRIVATE_IP]",
                    help="a monitored host (repeatable); default: Zeek's local_orig/local_resp, else private addresses")
    ap.add_argument("--base-time", type=float, default=DEFAULT_BASE, help="epoch added to relative timestamps when a log has no #open")
    ap.add_argument("--name", default="zeek", help="tag in the output file names")
    args = ap.parse_args(argv)
    local = {}
    for spec in args.local:
        ip, _, private = spec.partition("=")
        local[ip] = private or ip
    converted = convert(args.logs, local or None, base_time=args.base_time)
    for p in write(converted, args.out, args.name):
        print(p)
    print(f"{converted.connections} connections -> {len(converted.flow_lines)} flow records, {len(converted.dns_records)} DNS queries; "
          f"skipped: {dict(converted.skipped)}")


if __name__ == "__main__":
    main()
