"""SSH, RDP and WinRM brute force: UnauthorizedAccess:EC2/SSHBruteForce, UnauthorizedAccess:EC2/RDPBruteForce,
Impact:EC2/WinRMBruteForce — with the instance as TARGET (Low) or as ACTOR (High).

Password guessing has a shape flow logs show without seeing a password: many short sessions to the
login service, each one a complete handshake and a failed authentication — a few kilobytes, nearly
the same size every time — and few or no long sessions among them. So, within ten minutes:

* ≥ 20 attempt-shaped sessions (distinct client ports; 800 B – 16 KB sent by the client, and when
  the log has TCP flags, opened and closed within the record);
* in ≤ 4 size classes (kilobyte-wide): automated guessing repeats itself, people and deployment
  tools do not;
* with long sessions (real work) at most a quarter of the attempts.

A banner check or a TCP health check sends a few hundred bytes and is no attempt; a developer's
few failed logins stay far under the count; a busy SFTP server's sessions are long. TARGET: one
remote source against one instance's service (GuardDuty names the attacker). ACTOR: one instance's
attempts against ≥ 3 Internet hosts (one is more likely a Git server it polls) or against our own.

Between private addresses the same shape is mostly automation, so it takes more: a session of more than 6 KB
from the client over SSH or WinRM did work (an Ansible task ships its module; a failed login is 2-4 KB), ≥ 10 sessions in one
minute (a CI runner polling the company's Git server, monitoring's check_by_ssh: a few a minute), and
for an ACTOR over SSH or WinRM — how fleets are automated — ≥ 5 sessions a host on average (Ansible
opens a few per host; guessing takes tries) and no such fan-out by the instance on an earlier day (a
nightly playbook is its habit; its first night fires). Nobody automates RDP: a fan-out over it is a
spray however few the tries. Git over SSH to GitHub's, GitLab.com's or Bitbucket's own networks (``intel.benign``'s
code-hosting set) is never an attempt: a pipeline fetches many repositories from several addresses.

A slow tier (TARGET, Internet sources) catches what never bursts: >= 50 such sessions within an
hour from a source that did not log in on an earlier day (an uptime monitor that logs in every
minute did, yesterday). State per key: its minute (slow tier: five-minute) buckets, ~200-600 bytes
typically and up to ~3 KB mid-attack, deleted when the window has passed; the slow tier then keeps
only the days the source logged in (~40 bytes) for 31 days, and the actor the days it fanned out to
our own hosts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from trailhound.detectors.flows import ACCEPTED, DEST_IS_LOCAL, LOGGED_AT_DEST, LOGGED_AT_SOURCE, SOURCE_IS_LOCAL, TCP
from trailhound.engine import Distinct, FindingType, Last, Profile, ProfileState, Sliding, Window, WindowedDetector, severity
from trailhound.engine.baseline import DAY
from trailhound.enrich.geo import is_private
from trailhound.events import Source
from trailhound.findings.build import instance_key, instance_resource, network_connection
from trailhound.findings.model import HIGH, LOW, Occurrence
from trailhound.intel.benign import shipped_ip_set

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

SERVICES = {22: "SSH", 3389: "RDP", 5985: "WinRM", 5986: "WinRM"}
TYPES = {"SSH": "UnauthorizedAccess:EC2/SSHBruteForce", "RDP": "UnauthorizedAccess:EC2/RDPBruteForce", "WinRM": "Impact:EC2/WinRMBruteForce"}
MIN_ATTEMPTS, MAX_SIZE_CLASSES = 20, 4
SLOW_ATTEMPTS = 50  # within an hour: about one a minute, kept up
MIN_ACTOR_PEERS = 3  # an instance hammering one Internet host is more likely polling it (Git over SSH) than guessing
TRIES_PER_HOST = 5  # between private addresses over SSH/WinRM: sessions per host, on average, that guessing takes
LATERAL_PER_MINUTE = 10  # between private addresses: sessions in the window's busiest minute (hydra's defaults make hundreds)
LOGINS = "logins"  # what the slow tier's baseline remembers of a source: the days it logged in
FANOUT = "fanout"  # what the actor's baseline remembers: the days it opened login sessions to our own hosts at this rate
ATTEMPT_BYTES = (800, 16_000)
# Between our own hosts over SSH or WinRM, a session whose client sent more than this did work: a failed login is a key
# exchange and a few tries (2-4 KB; with post-quantum key shares under 6), an Ansible task ships its module (6-12 KB)
LATERAL_ATTEMPT_MAX = 6_000
_FIN_OR_RST, _SYN = 1 | 4, 2
_COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "bytes", "tcp_flags", "start", "instance_id", "interface_id", "account_id", "region")


# Why a fan-out to our own hosts over the service is not a spray, as the types' text says (RDP: nobody automates it).
_FLEET = {"SSH": "(Ansible, monitoring); Git over SSH to GitHub/GitLab/Bitbucket is not counted", "WinRM": "(Ansible, SCCM)"}


def _fleet(svc: str) -> str:
    why = _FLEET.get(svc)
    return "" if why is None else f", ≥{TRIES_PER_HOST} a host, and no such fan-out by the instance on an earlier day {why}"


def _findings() -> tuple[FindingType, ...]:
    mitre = ("TA0006 Credential Access", "T1110.001 Brute Force: Password Guessing")
    return tuple(FindingType(t, severity(LOW, ACTOR=HIGH), *mitre,
                             f"≥{MIN_ATTEMPTS} short, uniform {svc} login sessions within 10 minutes (TARGET: from one source; ACTOR: by the "
                             f"instance, to ≥{MIN_ACTOR_PEERS} Internet hosts or to our own); between private addresses also ≥{LATERAL_PER_MINUTE} in "
                             f"one minute{_fleet(svc)}; or ≥{SLOW_ATTEMPTS} within an hour from an Internet source never seen logging in on an earlier day")
                 for svc, t in TYPES.items())


SERVICE = pl.col("dstport").replace_strict(SERVICES, default=None, return_dtype=pl.Utf8)


# The client-to-server records of accepted TCP sessions to a login service.
CLIENT_HALVES = (TCP & ACCEPTED & pl.col("dstport").is_in(sorted(SERVICES)) & (pl.col("srcport") >= 1024)
                 & (pl.col("bytes") > ATTEMPT_BYTES[0]))  # a banner check or a health check sends less: no login was tried


def _session(nbytes: int | None, flags: int | None) -> tuple[bool, bool]:
    """(attempt-shaped, long) for one client record."""
    lo, hi = ATTEMPT_BYTES
    nbytes = nbytes or 0
    if flags:
        whole = bool(flags & _SYN) and bool(flags & _FIN_OR_RST)  # opened and closed within this record
        return whole and lo <= nbytes <= hi, not whole and nbytes > lo or nbytes > hi
    return lo <= nbytes <= hi, nbytes > hi


def _lateral(w: Window) -> bool:
    """Every host of the window's sessions is of our own network."""
    return all(is_private(p) for p in w["peers"].items)


class _BruteForce(WindowedDetector):
    consumes = Source.FLOW
    findings = _findings()
    window = Sliding(length=600, step=60)
    # counts matter here, not the values: small exact sets, then sketches (state stays under ~2 KB mid-attack)
    reducers = {"attempts": Distinct(exact=24, sample=0), "long": Distinct(exact=24, sample=0), "sizes": Distinct(exact=16, sample=0),
                "peers": Distinct(exact=16, sample=4), "context": Last(), "own": Last()}
    role: str

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        actor = self.role == "ACTOR"
        for src, dst, sport, dport, nbytes, flags, start, iid, eni, account, region, ours_logged in rows:
            attempt, long = _session(nbytes, flags)
            if attempt and nbytes > LATERAL_ATTEMPT_MAX and dport != 3389 and is_private(src) and is_private(dst):
                attempt, long = False, True  # automation at work between our own hosts, not a guess
            if not (attempt or long):
                continue  # a banner check, a health check, a keepalive: no login was tried
            session = f"{dst}|{sport}" if actor else sport
            ours, peer = (src, dst) if actor else (dst, src)
            # the context once per row: as "own" when logged at our interface (it names the instance), else as "any"
            ctx = [iid, eni, ours, peer, sport, dport, account, region] if ours_logged else [None, None, ours, peer, sport, dport, account, region]
            yield float(start), (session if attempt else None, session if long else None, nbytes // 1024 if attempt else None, peer,
                                 None if ours_logged else ctx, ctx if ours_logged else None)

    def threshold(self, key: str, w: Window) -> bool:
        attempts = w["attempts"].count
        if not (attempts >= MIN_ATTEMPTS and w["sizes"].count <= MAX_SIZE_CLASSES and w["long"].count * 4 <= attempts):
            return False
        # Inside the network the same shape is mostly automation on a schedule (Git polled over SSH, monitoring's
        # check_by_ssh: a few sessions a minute); guessing runs flat out, so between our own hosts it takes a rate.
        return not _lateral(w) or max(r.count for _, r in w.per_bucket("attempts")) >= LATERAL_PER_MINUTE

    def report(self, key: str, w: Window) -> list[Occurrence]:
        iid, eni, ours, peer, sport, dport, account, region = w["own"] or w["context"]
        service = SERVICES[dport]
        ftype = TYPES[service]
        name = iid or eni or ours
        attempts, peers = w["attempts"].count, w["peers"].count
        within = f"within {int(self.window.length // 60)} minutes"
        if self.role == "ACTOR":
            title = f"EC2 instance {name} is performing {service} brute force attacks against {peer}."
            detail = f"EC2 instance {name} opened {attempts} short {service} sessions to {peers} host(s) {within}"
        else:
            title = f"{peer} is performing {service} brute force attacks against {name}."
            detail = f"{peer} opened {attempts} short {service} sessions to EC2 instance {name} {within}"
        return [Occurrence(
            type=ftype, severity=self.severity(ftype, self.role), time=w.last, first_seen=w.first, account_id=account or "", region=region or "",
            resource=instance_resource(iid, eni, ours), resource_key=instance_key(iid, eni, ours),
            action=network_connection(direction="OUTBOUND" if self.role == "ACTOR" else "INBOUND", protocol=6, local=ours,
                                      local_port=sport if self.role == "ACTOR" else dport, remote=peer,
                                      remote_port=dport if self.role == "ACTOR" else sport, blocked=False, eni=eni),
            title=title,
            description=f"{title} {detail}, each a failed login's worth of traffic. Brute force attacks are used to gain unauthorized "
            f"access by guessing passwords.",
            resource_role=self.role, feature_name="FlowLogs", remote_ip=peer,
            additional_info={"sessions": attempts, "hosts": peers, "service": service},
        )]


class BruteForceTarget(_BruteForce):
    """Keyed by (instance address, remote source, service)."""

    name = "brute-force-target"
    role = "TARGET"
    key = pl.concat_str([pl.col("dstaddr"), pl.col("srcaddr"), SERVICE], separator="|")
    where = CLIENT_HALVES & DEST_IS_LOCAL
    columns = (*_COLUMNS, LOGGED_AT_DEST.alias("ours_logged"))


class BruteForceTargetSlow(BruteForceTarget):
    """Low and slow, from the Internet: a source that never logged in to this instance on an earlier day
    keeps up >= 50 uniform login sessions within an hour. Rate alone cannot tell it from an uptime monitor
    that logs in every minute; the baseline can: the monitor was there yesterday. State per (instance,
    source): the hour's twelve buckets while it is active (~2 KB at most), then only the days it logged
    in (~40 bytes), kept 31 days."""

    name = "brute-force-target-slow"
    window = Sliding(length=3600, step=300)
    baseline = Profile(half_life=30 * DAY, period=DAY, capacity=1)
    ttl = 31 * DAY

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        return super().observe([r for r in rows if not is_private(r[0])])  # Internet sources only

    def threshold(self, key: str, w: Window) -> bool:
        attempts = w["attempts"].count
        counts = {start: r.count for start, r in w.per_bucket("attempts")}
        step = self.window.step
        # ten minutes (two adjacent buckets) with a burst are the fast tier's to report
        burst = any(n + counts.get(start + step, 0) >= MIN_ATTEMPTS for start, n in counts.items())
        return (attempts >= SLOW_ATTEMPTS and not burst and w["sizes"].count <= MAX_SIZE_CLASSES and w["long"].count * 4 <= attempts
                and not w.seen_before(LOGINS))

    def learn(self, key: str, w: Window, usual: ProfileState) -> None:
        if w["attempts"].count >= 5:
            self.baseline.learn(usual, LOGINS, w.last)  # type: ignore[union-attr]


class BruteForceActor(_BruteForce):
    """Keyed by (instance address, service). Against a single Internet host it takes more than shape:
    a CI runner polling a Git server over SSH every few seconds makes the same uniform short sessions.
    So: several hosts (spraying), or hosts of our own network (lateral movement)."""

    name = "brute-force-actor"
    role = "ACTOR"
    key = pl.concat_str([pl.col("srcaddr"), SERVICE], separator="|")
    where = CLIENT_HALVES & SOURCE_IS_LOCAL
    columns = (*_COLUMNS, LOGGED_AT_SOURCE.alias("ours_logged"))
    # the days the instance fanned out to our own hosts (Ansible's forks, a monitor): on a later day that is its habit
    baseline = Profile(half_life=30 * DAY, period=DAY, capacity=1)
    ttl = 31 * DAY

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        # Git over SSH to a code host (GitHub's git ranges, GitLab.com, Bitbucket): a pipeline's fetches of many repositories
        return super().observe([r for r in rows if r[3] != 22 or shipped_ip_set(r[1]) != "code-hosting"])

    def threshold(self, key: str, w: Window) -> bool:
        if not super().threshold(key, w):
            return False
        peers = w["peers"]
        if _lateral(w):
            # SSH and WinRM are how fleets are automated (Ansible, SCCM): a few sessions a host; guessing a password takes
            # tries on a host. Nobody automates RDP: a fan-out over it is a spray however few the tries.
            if key.rsplit("|", 1)[-1] != "RDP" and w["attempts"].count < TRIES_PER_HOST * peers.count:
                return False
            return not w.seen_before(FANOUT)
        return peers.count >= MIN_ACTOR_PEERS

    def learn(self, key: str, w: Window, usual: ProfileState) -> None:
        if w["attempts"].count >= MIN_ATTEMPTS and _lateral(w):
            self.baseline.learn(usual, FANOUT, w.last)  # type: ignore[union-attr]


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import (
        BASTION,
        BUILD_HOST,
        HOST,
        MONITOR_HOST,
        TRUSTED_IP,
        WINDOWS_HOST,
        Case,
        Host,
        flow_row,
        internet_addresses,
    )

    attacker, developer, partner, slow, monitor, git_server, *victims = internet_addresses(9, seed=22)
    slot = iter(start + timedelta(minutes=20 * i) for i in range(1000))  # each case in a window of its own

    def sessions(n: int, src: str, dst: str | None, dport: int, at: Host, every: float, nbytes: Any, packets: int = 16,
                 action: str = "ACCEPT", t0: datetime | None = None) -> list[dict[str, Any]]:
        t0 = t0 or next(slot)
        return [flow_row(t0 + timedelta(seconds=every * i), src=src, dst=dst or f"10.0.{20 + i // 50}.{10 + i % 50}", sport=40000 + i,
                         dport=dport, packets=packets, nbytes=nbytes(i) if callable(nbytes) else nbytes, flags=3, action=action, at=at,
                         duration=5) for i in range(n)]

    t_sftp = next(slot)  # a busy SFTP endpoint: one partner's long transfer sessions, logged minute by minute
    sftp = [flow_row(t_sftp + timedelta(minutes=2 * i + m), src=partner, dst=BASTION.ip, sport=45000 + i, dport=22, packets=900,
                     nbytes=1_200_000, flags=(2 if m == 0 else 0) | (1 if m == 4 else 0), at=BASTION, duration=60)
            for i in range(8) for m in range(5)]
    t_monitor, t_spray, t_checks, t_fetch, t_ansible = (next(slot) for _ in range(5))
    monitor_yesterday = sessions(20, monitor, BASTION.ip, 22, BASTION, 60, 2400, t0=t_monitor)
    return [
        Case("bastion-ssh-hammered", TYPES["SSH"], sessions(200, attacker, BASTION.ip, 22, BASTION, 2, lambda i: 2024 + 52 * (i % 4)),
             source="flow", role="TARGET"),
        Case("instance-sprays-rdp", TYPES["RDP"], sessions(120, HOST.ip, None, 3389, HOST, 3, 3100, packets=20), source="flow", role="ACTOR"),
        Case("winrm-guessing", TYPES["WinRM"], sessions(40, attacker, WINDOWS_HOST.ip, 5985, WINDOWS_HOST, 10, 1450), source="flow",
             role="TARGET"),
        Case("developer-few-failed-ssh", None, sessions(4, developer, BASTION.ip, 22, BASTION, 20, 2100), source="flow"),
        Case("health-checks-port-22", None, sessions(120, "10.0.0.12", BASTION.ip, 22, BASTION, 5, 180, packets=4), source="flow"),
        Case("sftp-long-sessions", None, sftp, source="flow"),
        # a deployment tool without connection reuse: one SSH session per task, of every size
        Case("ansible-many-tasks", None, sessions(60, BUILD_HOST.ip, HOST.ip, 22, BUILD_HOST, 5, lambda i: 2600 + 977 * (i % 11)), source="flow"),
        # a CI runner polling a Git server over SSH every 15 seconds: uniform short sessions, to one Internet host
        Case("ci-polls-git-over-ssh", None, sessions(80, BUILD_HOST.ip, git_server, 22, BUILD_HOST, 15, 3300), source="flow"),
        # the same cadence against three Internet hosts is no polling: a spray
        Case("instance-sprays-ssh-on-the-internet", TYPES["SSH"], [r for n, peer in enumerate(victims) for r in sessions(
            30, HOST.ip, peer, 22, HOST, 5, 2100, t0=t_spray + timedelta(seconds=n))], source="flow", role="ACTOR"),
        Case("ssh-blocked-by-security-group", None, sessions(100, attacker, BASTION.ip, 22, BASTION, 3, 120, packets=2, action="REJECT"),
             source="flow"),
        Case("trusted-scanner-ssh-audit", None, sessions(60, TRUSTED_IP, BASTION.ip, 22, BASTION, 5, 2200), source="flow"),
        # one failed login a minute for 70 minutes, from an address never seen before: never 20 in ten minutes
        Case("slow-guesser-new-source", TYPES["SSH"], sessions(70, slow, BASTION.ip, 22, BASTION, 60, lambda i: 1882 + 52 * (i % 2)),
             source="flow", role="TARGET"),
        # a CI pipeline fetching two dozen repositories and submodules from GitHub over SSH: GitHub's several addresses
        Case("ci-fetches-repositories-from-github-over-ssh", None, [r for n, gh in enumerate(("140.82.112.3", "140.82.113.3", "140.82.114.4",
             "140.82.121.4")) for r in sessions(8, BUILD_HOST.ip, gh, 22, BUILD_HOST, 12, 3300, t0=t_fetch + timedelta(seconds=3 * n))],
             source="flow"),
        # a GitOps controller polling thirty repositories on GitLab.com, Azure DevOps and CodeCommit over SSH every three minutes:
        # GitLab.com's address is a code host's, the two others too few to be a spray
        Case("gitops-polls-three-code-hosts-over-ssh", None, [r for n, host in enumerate(("172.65.251.78", "20.37.158.9", "52.94.226.180"))
                                                             for r in sessions(12, BUILD_HOST.ip, host, 22, BUILD_HOST, 15, 3300,
                                                                               t0=t_fetch + timedelta(hours=2, seconds=5 * n))], source="flow"),
        # a freshly built Ansible controller's first night (no earlier day to know it by): one SSH connection per task, ten tasks
        # on each of fifteen hosts, five at a time, each task shipping its module (6-9 KB from the controller)
        Case("new-ansible-controller-first-playbook", None, [r for h in range(15) for r in sessions(
            10, BUILD_HOST.ip, f"10.0.7.{10 + h}", 22, BUILD_HOST, 4, lambda i: 6400 + 300 * (i % 4), t0=t_ansible + timedelta(hours=1, seconds=40 * (h // 5)))],
             source="flow"),
        # Ansible's win_ping (forks=10) across forty Windows servers: three quick sessions each
        Case("ansible-pings-the-windows-fleet", None, [r for h in range(40) for r in sessions(
            3, BUILD_HOST.ip, f"10.0.6.{10 + h}", 5985, BUILD_HOST, 1, 6100, t0=t_ansible + timedelta(seconds=2 * h))], source="flow"),
        # a compromised instance guessing SSH on a neighbour, flat out: lateral movement, one private peer
        Case("instance-guesses-ssh-on-a-neighbour", TYPES["SSH"], sessions(90, HOST.ip, BASTION.ip, 22, HOST, 3, lambda i: 2024 + 52 * (i % 3)),
             source="flow", role="ACTOR"),
        # internal automation on a schedule, the same uniform short sessions: a CI runner polling the company's own
        # Git server every 20 seconds, and a monitor's check_by_ssh on six hosts every few minutes (~5 a minute)
        Case("ci-polls-internal-git-over-ssh", None, sessions(40, BUILD_HOST.ip, BASTION.ip, 22, BUILD_HOST, 20, 3300), source="flow"),
        Case("monitoring-checks-by-ssh", None, [r for n in range(6) for r in sessions(
            8, MONITOR_HOST.ip, f"10.0.4.{10 + n}", 22, MONITOR_HOST, 75, 2900, t0=t_checks + timedelta(seconds=12 * n))], source="flow"),
        # an uptime monitor that logs in every minute: the same rate, but it logged in yesterday too
        Case("monitor-logs-in-every-minute", None, monitor_yesterday + sessions(70, monitor, BASTION.ip, 22, BASTION, 60, 2400,
                                                                                 t0=t_monitor + timedelta(days=1)), source="flow"),
    ]
