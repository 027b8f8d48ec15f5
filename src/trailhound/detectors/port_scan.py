"""Recon:EC2/Portscan and Impact:EC2/PortSweep — an instance probing ports that do not answer.

A scan is judged by its shape, not by a count of connections: only *failed* attempts count (the
network REJECTed them, or the opening half shows a lone SYN and no payload), so a monitoring host
that checks the open service ports of every host every few minutes, a load balancer's health
checks, or a busy client talking to many servers, never adds up to one.

* Portscan (Medium, the instance is the ACTOR): failed attempts to ≥ 20 distinct ports below the
  ephemeral range on one host within five minutes (Zeek's scan.zeek uses 15), at most 4 tries a
  port unless the ports are ≥ 100: a scan tries each port about once, while a load balancer's
  health checks of a host's many target ports fail over and over while it reboots. Replies that a
  stateless network ACL rejects go to ephemeral ports and never count.
* PortSweep (High, ACTOR): failed attempts to one port on ≥ 100 distinct public addresses in ≥ 16
  distinct /16 networks within ten minutes: internet-wide scanning, not a client retrying one
  provider's addresses (an S3 or CDN endpoint rotates through a few networks only); or packed ≥ 50 to a
  /24 on average: a network's whole range tried address by address. Without TCP flags (v2), tiny accepted
  attempts count too, at ≥ 500 addresses in ≥ 32 /16s: no client's quiet sessions reach that in ten minutes.

State, per (scanner, target) and per (scanner, port): the failed attempts of the last minutes in
one-minute buckets, about 200 bytes for a typical key, up to ~3 KB while a scan fills its window;
deleted once the window has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from trailhound.detectors.flows import EPHEMERAL_MIN, LOGGED_AT_SOURCE, MAYBE_UNANSWERED, SERVICE_PORTS, SOURCE_IS_LOCAL, UNANSWERED, opener
from trailhound.enrich.geo import is_private
from trailhound.engine import Count, Distinct, FindingType, Last, Profile, ProfileState, Sliding, Window, WindowedDetector, severity
from trailhound.events import Source
from trailhound.findings.build import instance_key, instance_resource, network_connection, port
from trailhound.findings.model import HIGH, MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

PORTSCAN = "Recon:EC2/Portscan"
RETRIES = "retries"  # (a Portscan baseline value: the pair retried many ports over and over)
PORTSWEEP = "Impact:EC2/PortSweep"
MIN_PORTS = 20
# Without TCP flags (v2, AWS's default format) only a REJECT is certain; an accepted record of a packet or two and no
# payload may be a quiet minute of a live session, or a probe the remote answered with RST. One host's quiet sessions
# on a hundred distinct service ports within five minutes is no one's traffic: a scan of one host is that many.
FLAGLESS_PORTS = 100
TRIES_PER_PORT, MANY_PORTS = 4, 100  # more tries per port than this is a retry loop, not a scan (unless the ports are many)
MIN_HOSTS, MIN_NETWORKS = 100, 16
PACKED = 50  # certain failures per /24 on average: a sweep of a network's whole range (a /24 holds 254 hosts)
# without TCP flags, what only an internet-wide sweep reaches in ten minutes (a crawler's completed sessions carry payload)
FLAGLESS_HOSTS, FLAGLESS_NETWORKS = 500, 32
_COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "tcp_flags", "start", "instance_id", "interface_id", "account_id", "region",
            LOGGED_AT_SOURCE.alias("at_source"))


# Connection attempts from our instances that never completed, to ports below the ephemeral range
# (which half opened the connection is judged per row in ``observe``: few rows get that far).
FAILED_ATTEMPTS = UNANSWERED & SOURCE_IS_LOCAL & (pl.col("dstport") < EPHEMERAL_MIN)
# ...and, for a scan of one host, what a v2 log cannot tell from one (``FLAGLESS_PORTS``)
MAYBE_FAILED = MAYBE_UNANSWERED & SOURCE_IS_LOCAL & (pl.col("dstport") < EPHEMERAL_MIN)


def _rows(rows: list[tuple[Any, ...]]) -> Iterator[tuple[str, str, int, float, list[Any], list[Any] | None, tuple[Any, ...]]]:
    """(scanner, target, port, time, context of any row, context of a row logged at the scanner's own interface, the row's
    further columns)."""
    for src, dst, sport, dport, flags, start, iid, eni, account, region, at_source, *more in rows:
        if not opener(sport, dport, flags, SERVICE_PORTS):
            continue  # a refused reply (a stateless ACL rejecting return traffic), or nothing tells
        ctx = [None, None, src, account, region, sport]
        yield src, dst, dport, float(start), ctx, [iid, eni, src, account, region, sport] if at_source else None, more


def _scan_occurrence(det: WindowedDetector, ftype: str, w: Window, title: str, description: str, info: dict[str, Any],
                     aggregation_key: str = "") -> Occurrence:
    """The scanning instance as well as the rows name it (its own interface's record when there is one) as ACTOR."""
    iid, eni, local, account, region, local_port, remote, remote_port = w["own"] or w["any"]
    name = iid or eni or local
    return Occurrence(
        type=ftype, severity=det.severity(ftype), time=w.last, first_seen=w.first, account_id=account or "", region=region or "",
        resource=instance_resource(iid, eni, local), resource_key=instance_key(iid, eni, local),
        action=network_connection(direction="OUTBOUND", protocol=6, local=local, local_port=local_port, remote=remote, remote_port=remote_port,
                                  blocked=False, eni=eni),
        title=title.format(instance=name, remote=remote, port=remote_port), description=description.format(instance=name, remote=remote),
        resource_role="ACTOR", feature_name="FlowLogs", remote_ip=remote, additional_info=info, aggregation_key=aggregation_key,
    )


def _retried(w: Window) -> bool:
    """More than ``TRIES_PER_PORT`` tries a port (unless the ports are ``MANY_PORTS``): checks retried on a schedule."""
    ports = w["ports"].count
    return w["attempts"] > TRIES_PER_PORT * ports and ports < MANY_PORTS


class Portscan(WindowedDetector):
    name = "port-scan"
    consumes = Source.FLOW
    findings = (FindingType(PORTSCAN, severity(MEDIUM), "TA0007 Discovery", "T1046 Network Service Discovery",
                            f"failed connection attempts to ≥{MIN_PORTS} distinct ports on one host within 5 minutes, at most "
                            f"{TRIES_PER_PORT} a port unless ≥{MANY_PORTS} ports (a load balancer's health checks of a rebooting host retry); "
                            f"where the log has no TCP flags, also ≥{FLAGLESS_PORTS} ports of single-packet, payload-less attempts"),)
    key = pl.concat_str(["srcaddr", "dstaddr"], separator="|")
    window = Sliding(length=300, step=60)
    reducers = {"ports": Distinct(), "certain": Distinct(), "attempts": Count(), "any": Last(), "own": Last()}
    state_version = 2  # (the "certain" reducer)
    # retries of a host's ports (health checks while it reboots), remembered while the pair stays active: the episode
    # that ends such a storm holds only its last seconds, one try a port
    baseline = Profile(half_life=3600.0, period=60.0, capacity=1)
    where = FAILED_ATTEMPTS | MAYBE_FAILED
    columns = (*_COLUMNS, UNANSWERED.alias("certain"))

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        for _, dst, dport, t, ctx, own, (certain,) in _rows(rows):
            yield t, (dport, dport if certain else None, 1, None if own else ctx + [dst, dport], own + [dst, dport] if own else None)

    def threshold(self, key: str, w: Window) -> bool:
        # a scan tries each port about once (nmap retries twice at most); a load balancer's health checks of a host's
        # many target ports fail over and over while it reboots: dozens of tries per port
        return _scanned(w) and not _retried(w)

    def learn(self, key: str, w: Window, usual: ProfileState) -> None:
        if _scanned(w) and _retried(w):
            self.baseline.learn(usual, RETRIES, w.last)  # type: ignore[union-attr]

    def report(self, key: str, w: Window) -> list[Occurrence]:
        ports = w["ports"]
        if _retried(w) or w.seen_before(RETRIES):
            # the whole episode, not the window that armed it: health checks at a rebooting host's ports armed it in their
            # first seconds (one or two tries a port), and then went on trying every port every ten seconds
            return []
        shown = ", ".join(str(p) for p in sorted(ports.items)[:10])
        return [_scan_occurrence(
            self, PORTSCAN, w, "EC2 instance {instance} is performing outbound port scans against remote host {remote}.",
            f"EC2 instance {{instance}} tried {ports.count} distinct ports on {{remote}} ({shown}...) within five minutes, {w['attempts']} "
            "connection attempts that were refused or never answered"
            + ("" if w["certain"].count >= MIN_PORTS else " (as far as a log without TCP flags tells: a packet or two each, no payload)")
            + ". This is how a compromised host maps a network.",
            {"distinctPorts": ports.count, "attempts": w["attempts"], "sampledPorts": sorted(ports.items)},
        )]


def _scanned(w: Window) -> bool:
    """Enough distinct ports: certainly failed ones, or many that a log without TCP flags cannot tell from failed."""
    return w["certain"].count >= MIN_PORTS or w["ports"].count >= FLAGLESS_PORTS


class PortSweep(WindowedDetector):
    name = "port-sweep"
    consumes = Source.FLOW
    findings = (FindingType(PORTSWEEP, severity(HIGH), "TA0007 Discovery", "T1046 Network Service Discovery",
                            f"failed attempts to one port on ≥{MIN_HOSTS} public addresses in ≥{MIN_NETWORKS} /16 networks (or packed into a "
                            f"few /24s: a network's whole range) within 10 minutes; where the log has no TCP flags, ≥{FLAGLESS_HOSTS} addresses "
                            f"in ≥{FLAGLESS_NETWORKS} /16s of single-packet, payload-less attempts"),)
    key = pl.concat_str([pl.col("srcaddr"), pl.col("dstport").cast(pl.Utf8)], separator="|")
    window = Sliding(length=600, step=60)
    # the certain failures' (refused, or a lone SYN) addresses, /16s and /24s; the flagless attempts' addresses and /16s
    reducers = {"sure": Distinct(exact=32, sample=8), "sure_networks": Distinct(exact=32, sample=0), "sure_blocks": Distinct(exact=8, sample=0),
                "maybe": Distinct(exact=16, sample=8), "maybe_networks": Distinct(exact=16, sample=0), "any": Last(), "own": Last()}
    state_version = 2  # (certain and flagless attempts apart)
    where = FAILED_ATTEMPTS | MAYBE_FAILED
    columns = (*_COLUMNS, UNANSWERED.alias("certain"))

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        for _, dst, dport, t, ctx, own, (certain,) in _rows(rows):
            if is_private(dst):
                continue  # a sweep of the Internet, not of our own network
            v6 = ":" in dst
            network = "|".join(dst.split(":", 3)[:3] if v6 else dst.split(".", 2)[:2])
            ends = (None if own else ctx + [dst, dport], own + [dst, dport] if own else None)
            if certain:
                yield t, (dst, network, dst.rsplit(":", 1)[0] if v6 else dst.rsplit(".", 1)[0], None, None, *ends)
            else:
                yield t, (None, None, None, dst, network, *ends)

    def threshold(self, key: str, w: Window) -> bool:
        sure = w["sure"].count
        if sure >= MIN_HOSTS and (w["sure_networks"].count >= MIN_NETWORKS or sure >= PACKED * w["sure_blocks"].count):
            return True
        return w["maybe"].count >= FLAGLESS_HOSTS and w["maybe_networks"].count >= FLAGLESS_NETWORKS

    def report(self, key: str, w: Window) -> list[Occurrence]:
        certain = w["sure"].count >= MIN_HOSTS
        hosts, networks, dport = w["sure" if certain else "maybe"], w["sure_networks" if certain else "maybe_networks"], int(key.rsplit("|", 1)[1])
        return [_scan_occurrence(
            self, PORTSWEEP, w, f"EC2 instance {{instance}} is probing port {dport} ({port(dport).port_name}) on a large number of IP addresses.",
            f"EC2 instance {{instance}} tried port {dport} on {hosts.count}{'' if hosts.exact else ' (estimated)'} public addresses in "
            f"{networks.count} networks within ten minutes, and most never answered"
            + ("" if certain else " (as far as a log without TCP flags tells: a packet or two each, no payload)")
            + ": it is sweeping for that service, as worms and scanning malware do.",
            {"port": dport, "distinctHosts": hosts.count, "networks": networks.count, "sampledHosts": list(hosts.items)},
            aggregation_key=str(dport),
        )]


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import BUILD_HOST, HOST, MONITOR_HOST, Case, Host, flow_row, internet_addresses

    t0 = start
    scanner, target, monitor = BUILD_HOST, HOST, MONITOR_HOST

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    nmap = []  # nmap -sT: closed ports answer RST (the opening half shows a lone SYN), the target's SG rejects some
    for i, p in enumerate(list(range(1, 1025))[:300]):
        nmap.append(flow_row(at(i / 120), src=scanner.ip, dst=target.ip, sport=50000 + i, dport=p, packets=1, nbytes=60, flags=2, at=scanner))
        if i % 3 == 0:
            nmap.append(flow_row(at(i / 120), src=scanner.ip, dst=target.ip, sport=50000 + i, dport=p, packets=1, nbytes=60, flags=2,
                                 action="REJECT", at=target))
    monitoring = []  # checks six service ports on twenty hosts every ten minutes; two are closed on each host
    for rnd in range(3):
        for h in range(20):
            for j, p in enumerate((22, 80, 443, 5432, 9100, 9090)):
                closed = j >= 4
                monitoring.append(flow_row(at(30 + 10 * rnd + h / 60), src=monitor.ip, dst=f"10.0.{8 + h // 10}.{10 + h}", sport=40000 + h * 10 + j,
                                           dport=p, packets=1 if closed else 6, nbytes=60 if closed else 520, flags=2 if closed else 3, at=monitor))
    sweep = []  # port 22 on random internet addresses: nearly all unanswered
    for i, dst in enumerate(internet_addresses(160, seed=7)):
        sweep.append(flow_row(at(70 + i / 30), src=scanner.ip, dst=dst, sport=51000 + i, dport=22, packets=2, nbytes=120, flags=2, at=scanner))
    # AWS's default (v2) format has no TCP flags: masscan on port 22 across the internet, a packet each, all accepted
    v2_sweep = [flow_row(at(200 + i / 90), src=scanner.ip, dst=dst, sport=41000 + i, dport=22, packets=1, nbytes=44, flags=None, at=scanner)
                for i, dst in enumerate(internet_addresses(600, seed=11))]
    # ...and a crawler's 700 completed sessions in ten minutes, in the same format: payload each way
    crawl = [flow_row(at(215 + i / 80), src=monitor.ip, dst=dst, sport=42000 + i, dport=443, packets=12, nbytes=5400, flags=None, at=monitor)
             for i, dst in enumerate(internet_addresses(700, seed=12))]
    # RDP tried on every address of one company's /24, refused or unanswered
    range_sweep = [flow_row(at(230 + i / 60), src=scanner.ip, dst=f"62.112.40.{i + 1}", sport=45000 + i, dport=3389, packets=1, nbytes=60,
                            flags=2, at=scanner) for i in range(200)]
    s3_retries = []  # a locked-down instance retrying S3 over many of its addresses: egress rejected, but only a few networks
    for i in range(150):
        dst = f"52.216.{(i * 13) % 250}.{(i * 7) % 250 + 1}" if i % 2 else f"3.5.{(i * 5) % 30}.{(i * 11) % 250 + 1}"
        s3_retries.append(flow_row(at(90 + i / 30), src=target.ip, dst=dst, sport=52000 + i, dport=443, packets=2, nbytes=120, flags=2,
                                   action="REJECT", at=target))
    # a load balancer's node (its interface in our VPC, no instance behind it) health-checking 24 target ports of one host
    # every 10 s while the host reboots for 5 minutes: every check a lone SYN
    elb = Host("-", "eni-0e1b0e1b0e1b0e1b0", "10.0.1.200", "alb-node-1")
    reboot = [flow_row(at(130 + k / 6), src=elb.ip, dst=target.ip, sport=30000 + k * 24 + p, dport=8001 + p, packets=1,
                       nbytes=60, flags=2, at=elb) for k in range(30) for p in range(24)]
    # the same, the reboot starting 50 seconds into a minute: the first window holds one round of checks, the episode thirty
    reboot_late = [flow_row(at(150 + 50 / 60 + k / 6), src=elb.ip, dst=target.ip, sport=31000 + k * 24 + p, dport=8101 + p, packets=1,
                            nbytes=60, flags=2, at=elb) for k in range(30) for p in range(24)]
    nacl_replies = [flow_row(at(110 + i / 60), src=target.ip, dst="10.0.9.77", sport=443, dport=33000 + 17 * i, packets=3, nbytes=180,
                             flags=1, action="REJECT", at=target) for i in range(200)]
    # AWS's default (v2) format has no TCP flags: a connect scan of one Internet host's first 150 ports, each refused with a
    # RST (one packet out, no payload), all accepted by the security group
    far = internet_addresses(1, seed=77)[0]
    v2_scan = [flow_row(at(170 + i / 90), src=target.ip, dst=far, sport=43000 + i, dport=p, packets=1, nbytes=44, flags=None, at=target)
               for i, p in enumerate(range(1, 151))]
    # ...and a client's quiet minutes on thirty live sessions to one host's services: tiny records, nothing tells them apart
    v2_quiet = [flow_row(at(180 + i / 30), src=monitor.ip, dst="10.0.30.40", sport=44000 + i, dport=7000 + i, packets=1, nbytes=52,
                         flags=None, at=monitor) for i in range(30)]
    return [
        Case("nmap-connect-scan", PORTSCAN, nmap, source="flow", role="ACTOR"),
        Case("connect-scan-in-a-log-without-flags", PORTSCAN, v2_scan, source="flow", role="ACTOR"),
        Case("quiet-sessions-in-a-log-without-flags", None, v2_quiet, source="flow"),
        Case("monitoring-checks-service-ports", None, monitoring, source="flow"),
        Case("sweep-ssh-internet", PORTSWEEP, sweep, source="flow", role="ACTOR"),
        Case("sweep-ssh-internet-in-a-log-without-flags", PORTSWEEP, v2_sweep, source="flow", role="ACTOR"),
        Case("crawler-sessions-in-a-log-without-flags", None, crawl, source="flow"),
        Case("sweep-of-one-network-range", PORTSWEEP, range_sweep, source="flow", role="ACTOR"),
        Case("s3-retries-rejected-egress", None, s3_retries, source="flow"),
        Case("nacl-rejects-replies", None, nacl_replies, source="flow"),
        Case("health-checks-while-the-target-reboots", None, reboot, source="flow"),
        Case("health-checks-start-late-in-a-minute", None, reboot_late, source="flow"),
    ]
