"""UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS / .InsideAWS — an instance's
role credentials used from an address that is not the instance's.

An EC2 instance's role session is named after the instance (``assumed-role/<role>/i-...``, an ``ASIA``
key); its calls come from the instance's own egress — its public address or Elastic IP, a NAT gateway's,
or a private address through a VPC endpoint — and every one of those public addresses is AWS's. Judged
per role and instance:

* the instance's public addresses from the inventory (``describe-instances``: public IPs and EIPs of its
  interfaces, IPv6 addresses) are its egress from the start, and then nothing else is learned in the
  first hour: a stolen key used elsewhere at once still fires;
* without them, the AWS addresses the pair calls from in its first ``SETTLE`` are its egress (up to
  ``MAX_SOURCES``: a NAT gateway per zone). An address outside AWS is never learned that way: the
  instance cannot have it, and a key stolen through the metadata service is often used before the
  instance itself calls at all (OTRF's EC2-proxy breach: the first call of the session is the
  attacker's, twelve minutes after EC2 issued the credentials);
* an address seen on ``LEARNED_DAYS`` days becomes an expected source, as GuardDuty learns recurring
  ones (egress through an on-premises proxy fires on its first days, as in GuardDuty);
* an instance that moves: a new AWS address taking over while its own go quiet (a NAT gateway replaced, a
  stop and start that gave it a new public IP), where the inventory does not name its addresses. A new AWS
  address of a pair that called from its own within the last ``MOVE`` (or three of its usual gaps between
  calls, up to ``MOVE_MAX``) is held back as long: if the own address calls again meanwhile, two parties use
  the credentials and it is reported (as of its first call); if not, the instance moved and the address is
  its egress (or, when the logs end first, reported). A key stolen from a busy instance is still used while
  the instance goes on; from a quiet one it is reported at once, as before.

Any other public address raises OutsideAWS, or InsideAWS when it is AWS's (another account's EC2, a
Lambda) (``Places.inside_aws``: the operator's ip-ranges.json, else Amazon's ASNs). Calls AWS makes
with the credentials (``ec2.amazonaws.com``, ``AWS Internal``) and private addresses never judge; nor does the instance's own
IPv6 address, which a dual-stack endpoint sees instead of its NAT gateway's IPv4 one (an address in the estate's own /64s, as
its interfaces' flow logs and the inventory name them, or in the /64 of one the pair calls from).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors.role_sessions import credential_key, is_instance_key
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.runner import timed
from trailhound.enrich.flows import net64
from trailhound.engine.baseline import DAY
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import HIGH, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

OUTSIDE = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
INSIDE = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"
SETTLE = 3600.0  # seconds from the pair's first call in which its egress addresses are learned
MAX_SOURCES = 6
LEARNED_DAYS = 3
REPORT_EVERY = 3600.0  # seconds: a stranger calling on is reported again (its finding's count) at most this often
MOVE = 1800.0  # seconds: how long a new AWS address is held back while the instance's own addresses are watched, at least
MOVE_MAX = 6 * 3600.0  # (longer for an instance that calls seldom: three of its usual gaps, at most this)
MAX_HELD = 4


def recurring(strangers: dict[str, list[int]], src: str, t: float) -> bool:
    """Count ``t``'s day for the address ``src`` among ``strangers`` (address -> days it called on): whether
    it has now called on ``LEARNED_DAYS`` days (then the caller learns it as an expected source)."""
    days = strangers.setdefault(src, [])
    day = int(t // DAY)
    if day not in days:
        days.append(day)
    return len(days) >= LEARNED_DAYS


def report_due(reported: dict[str, float], src: str, t: float) -> bool:
    """Whether a stranger calling at ``t`` is reported (again): once per ``REPORT_EVERY``, remembered in the
    state (``reported``: address -> when), so the reports are the same however the calls were batched."""
    if t - reported.get(src, -REPORT_EVERY) < REPORT_EVERY:
        return False
    reported[src] = t
    for old in [s for s, at in reported.items() if t - at >= REPORT_EVERY]:  # (bounded: only the last hour's)
        del reported[old]
    return True


def _hold(st: Egress) -> float:
    return min(max(MOVE, 3 * st.gap), MOVE_MAX)


def _moved(st: Egress, now: float) -> None:
    """Held addresses whose time (``_hold``) passed with the instance's own addresses quiet: the instance moved there."""
    for h in [h for h in st.held if now - h.at >= _hold(st)]:
        st.held.remove(h)
        if len(st.sources) >= MAX_SOURCES:
            st.sources.pop(0)  # (the oldest: an address given up)
        st.sources.append(h.src)
        st.strangers.pop(h.src, None)


def bounded(strangers: dict[str, list[int]], keep: int = 16) -> dict[str, list[int]]:
    """The ``keep`` strangers that called last (a state stays small whoever calls)."""
    return strangers if len(strangers) <= keep else dict(sorted(strangers.items(), key=lambda kv: kv[1][-1])[-keep:])


class Held(msgspec.Struct, array_like=True):
    """A new AWS address held back (``_hold``): its first call, as JSON (its report shows that call)."""

    src: str
    at: float
    call: bytes


_CALL = msgspec.json.Decoder(ApiCall)


class Egress(msgspec.Struct, array_like=True):
    first: float = -1.0  # the pair's first call (event time), -1 before it
    sources: list[str] = msgspec.field(default_factory=list)  # the instance's own egress addresses
    strangers: dict[str, list[int]] = msgspec.field(default_factory=dict)  # other address -> days it called on (≤ LEARNED_DAYS)
    pinned: bool = False  # the egress came from the inventory: nothing is learned in the first hour
    reported: dict[str, float] = msgspec.field(default_factory=dict)  # stranger -> when it was last reported (within REPORT_EVERY)
    last_own: float = -1.0  # the latest call from one of its own addresses
    gap: float = 0.0  # its usual gap between calls from its own addresses (the longest, decaying)
    held: list[Held] = msgspec.field(default_factory=list)


class InstanceCredentialExfiltration(KeyedDetector[Egress]):
    name = "instance-credential-exfiltration"
    consumes = Source.CLOUDTRAIL
    method = "behaviour"
    State: ClassVar[type[msgspec.Struct]] = Egress
    ttl = 7 * DAY
    state_version = 2
    findings = (
        FindingType(OUTSIDE, severity(HIGH), "TA0006 Credential Access", "T1552.005 Unsecured Credentials: Cloud Instance Metadata API",
                    "an instance's role session (`ASIA` key, session `i-…`) used from a public address outside AWS that is not the "
                    "instance's egress (its inventory addresses, else AWS addresses of its first hour, else seen on 3 days)", sources=("CloudTrail", "S3DataEvents")),
        FindingType(INSIDE, severity(HIGH), "TA0006 Credential Access", "T1552.005 Unsecured Credentials: Cloud Instance Metadata API",
                    "the same, from an AWS address that is not the instance's (another account's EC2, a Lambda)",
                    sources=("CloudTrail", "S3DataEvents")),
    )

    # an instance session's calls, keyed by role and instance: a key function shared with the Lambda/ECS credential
    # detector, so the engine groups a batch by it once (``runner.Shared``) for both; this detector owns the instances'
    key_by = staticmethod(credential_key)
    owns = staticmethod(is_instance_key)

    def update(self, key: str, rows: list[ApiCall], state: Egress | None, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state if state is not None else Egress()
        out: list[Occurrence] = []
        instance = key.rsplit("|", 1)[1]
        for t, e, _ in timed(rows):
            src = str(e.source_ip)
            if st.held:
                _moved(st, t)
            if st.first < 0:
                st.first = t
                known = self.places.instance_addresses(instance)
                st.sources.extend(known[:MAX_SOURCES])
                st.pinned = bool(known)
            if src in st.sources or self._own_v6(src, st):
                if st.last_own >= 0:
                    st.gap = max(t - st.last_own, st.gap * 0.9)
                st.last_own = t
                for h in st.held:  # the instance goes on while the new address calls: someone else has its credentials
                    if report_due(st.reported, h.src, h.at):
                        out.append(self._report(_CALL.decode(h.call), instance, st))
                st.held = []
                continue
            if any(h.src == src for h in st.held):
                continue
            if t - st.first <= SETTLE and not st.pinned and len(st.sources) < MAX_SOURCES and self._could_be_instance(src):
                st.sources.append(src)
                continue
            if recurring(st.strangers, src, t) and len(st.sources) < MAX_SOURCES:  # a recurring source is expected
                st.sources.append(src)
                del st.strangers[src]
                continue
            if (not st.pinned and 0 <= t - st.last_own <= _hold(st) and src not in st.reported and len(st.held) < MAX_HELD and self.places.inside_aws(src)):
                st.held.append(Held(src, t, msgspec.json.encode(e)))  # a move, or a second user: the time held tells
                continue
            if report_due(st.reported, src, t):
                out.append(self._report(e, instance, st))
        st.strangers = bounded(st.strangers)
        return out, st

    def timer(self, state: Egress) -> float | None:
        return min(h.at for h in state.held) + _hold(state) if state.held else None

    def on_timer(self, key: str, state: Egress, watermark: float) -> tuple[list[Occurrence], Egress | None]:
        _moved(state, watermark)
        return [], state

    def on_flush(self, key: str, state: Egress) -> tuple[list[Occurrence], Egress | None]:
        """The logs end while an address is held: nothing showed a move, so it is reported (a scan of what
        there is must say so)."""
        out = [self._report(_CALL.decode(h.call), key.rsplit("|", 1)[1], state) for h in state.held if report_due(state.reported, h.src, h.at)]
        state.held = []
        return out, state

    def _own_v6(self, ip: str, st: Egress) -> bool:
        """A dual-stack instance calls a dual-stack endpoint from its own IPv6 address (no NAT gateway in between): an address
        in the estate's own /64s (its interfaces' logs, the inventory), or in the /64 of one the pair already calls from, is
        the instance's side, not a second party."""
        if ":" not in ip:
            return False
        if self.places.estate_v6(ip):
            return True
        net = net64(ip)
        return net is not None and any(":" in s and net64(s) == net for s in st.sources)

    def _could_be_instance(self, ip: str) -> bool:
        """An instance's public egress is AWS's; where the address is unknown to the geo data, it may be."""
        return self.places.inside_aws(ip) or self.places.lookup(ip) is None

    def _report(self, e: ApiCall, instance: str, st: Egress) -> Occurrence:
        inside = self.places.inside_aws(e.source_ip)
        ftype = INSIDE if inside else OUTSIDE
        where = "another AWS address" if inside else "outside AWS"
        return api_occurrence(
            e, ftype, self.severity(ftype),
            f"Credentials for instance {instance} were used from {where}.",
            f"Role credentials delivered to EC2 instance {instance} ({e.user_identity.name}) called {e.event_name} from {e.source_ip}, "
            f"{where}; " + (f"the instance calls from {', '.join(st.sources)}" if st.sources else "the instance has called from no public address")
            + ". Instance credentials are only meant to be used on the instance.",
            additional_info={"instanceId": instance, "instanceSources": list(st.sources)}, aggregation_key=instance,
        )


def instance_role(account: str, instance: str, role: str = "web-app") -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLEWEBAPP0001:{instance}", "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{instance}",
            "accountId": account, "accessKeyId": f"ASIA{instance[2:14].upper()}EX1",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{role}", "accountId": account, "userName": role},
                               "attributes": {"creationDate": "2026-11-02T06:00:00Z", "mfaAuthenticated": "false"}, "ec2RoleDelivery": "2.0"}}


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.anomalous_behavior import RUNNERS, VPS
    from trailhound.simulator.records import BASELINE_HOSTS, Case, Host, public_ip, record

    sdk = "aws-sdk-java/2.28.16 Linux/6.1.112 OpenJDK_64-Bit_Server_VM/21.0.5 Java/21.0.5 cfg/auth-source#imds"
    hosts = [BASELINE_HOSTS[n] for n in (50, 51, 52, 53, 54)]  # no other case's instances
    own = [public_ip(h) for h in hosts]  # each instance's public address, as the inventory gives it
    # instances the inventory does not know (launched since it was taken): a private subnet behind NAT gateways,
    # and one whose key is stolen before the instance calls at all
    private, unseen = Host("i-0a7e0000000000c01", "eni-0a7e0000000000c01", "10.0.201.1"), Host("i-0a7e0000000000c02", "eni-0a7e0000000000c02", "10.0.201.2")
    other_ec2 = "3.5.140.2"  # EC2 in another account

    def calls(host: Host, ip_: str, at: datetime, count: int = 4, api: str = "GetSecretValue", service: str = "secretsmanager.amazonaws.com",
              **extra: Any) -> list[dict[str, Any]]:
        who = instance_role(account, host.instance)
        return [{**record(api, service, time=at + timedelta(minutes=5 * i), account=account, identity=who, ip=ip_, ua=sdk), **extra}
                for i in range(count)]

    early = start - timedelta(hours=3)
    moved, busy = Host("i-0a7e0000000000c03", "eni-0a7e0000000000c03", "10.0.201.3"), Host("i-0a7e0000000000c04", "eni-0a7e0000000000c04", "10.0.201.4")
    return [
        # a web app's presigned upload URLs, used by customers from their own networks: CloudTrail names the instance's session
        Case("customers-upload-through-presigned-urls", None, calls(hosts[3], own[3], early, 3) + calls(
            hosts[3], VPS, start, 3, "PutObject", "s3.amazonaws.com", eventCategory="Data", managementEvent=False,
            additionalEventData={"SignatureVersion": "SigV4", "AuthenticationMethod": "QueryString", "bytesTransferredIn": 52311})),
        # the NAT gateway replaced (a new Elastic IP): the instance's calls move to it, the old address goes quiet
        Case("instance-behind-a-replaced-nat-gateway", None, calls(moved, "54.90.185.12", early, 36) + calls(moved, "54.90.187.99", start, 24)),
        # a busy instance goes on from its own address while another EC2 uses its key: held half an hour, then reported
        Case("busy-instance-key-used-from-other-ec2", INSIDE, calls(busy, "54.90.185.12", early, 60)
             + calls(busy, other_ec2, start, 2, "ListBuckets", "s3.amazonaws.com")),
        # the stolen key used from a rented server while the instance goes on using it
        Case("instance-key-used-from-vps", OUTSIDE, calls(hosts[0], own[0], early, 8) + calls(hosts[0], VPS, start, 3, "ListBuckets", "s3.amazonaws.com")
             + calls(hosts[0], own[0], start + timedelta(minutes=1))),
        Case("instance-key-used-from-other-ec2", INSIDE, calls(hosts[1], own[1], early, 6)
             + calls(hosts[1], other_ec2, start, 2, "DescribeInstances", "ec2.amazonaws.com")),
        # within the session's first hour: the inventory names the instance's address, so the other EC2 is no egress
        Case("instance-key-used-from-other-ec2-in-first-hour", INSIDE, calls(hosts[4], own[4], start - timedelta(minutes=30), 2)
             + calls(hosts[4], other_ec2, start - timedelta(minutes=20), 2, "ListBuckets", "s3.amazonaws.com")),
        # the key's first use is the thief's, from outside AWS, before the instance calls (OTRF's proxy breach)
        Case("instance-key-first-used-outside-aws", OUTSIDE, calls(unseen, VPS, start, 3, "ListBuckets", "s3.amazonaws.com")),
        # AWS acting with the instance's credentials: from the service's name
        Case("ec2-service-on-instance-behalf", None, calls(hosts[2], own[2], early, 4)
             + [{**r, "sourceIPAddress": "ec2.amazonaws.com"} for r in calls(hosts[2], own[2], start, 2, "CreateNetworkInterface", "ec2.amazonaws.com")]),
        # two egress addresses (NAT gateways in two zones) from the start, and calls through a VPC endpoint
        Case("instance-with-two-nat-gateways", None, calls(private, "54.90.185.12", early, 3) + calls(private, "54.90.186.40", early + timedelta(minutes=20), 3)
             + calls(private, "10.0.200.43", start, 2, vpcEndpointId="vpce-0a1b2c3d") + calls(private, "54.90.185.12", start, 2)),
        # the instance on its own address all along
        Case("instance-on-its-own-address", None, calls(hosts[3], own[3], early, 3) + calls(hosts[3], own[3], start, 3, "ListBuckets", "s3.amazonaws.com")),
        # a CI role's sessions (not an instance's) from many runners
        Case("ci-sessions-from-many-runners", None, [{**r, "userIdentity": {**r["userIdentity"], "arn": r["userIdentity"]["arn"].replace(hosts[2].instance, "gh-run-7")}}
                                                     for n, ip_ in enumerate(RUNNERS) for r in calls(hosts[2], ip_, early + timedelta(hours=n), 2)]),
    ]
