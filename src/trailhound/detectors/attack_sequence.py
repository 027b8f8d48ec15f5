"""AttackSequence:IAM/CompromisedCredentials and AttackSequence:S3/CompromisedData — one identity's calls
over a day that together read as an attack, though each alone may be no finding.

Per identity (``principals.identity_key``), a settled one (a week, four active days), the engine keeps
the **signals** of the last ``WINDOW``: each first use of a classed API (``api_classes.classify``: the
tactic classes and Trailhound's extensions) and each first touch of an S3 bucket's objects or permissions,
with whether it came from a network, country or client the identity never used — and, as a correlator
(``engine.keyed``), the findings the other detectors raise on the identity from Medium up (not Policy
types: configuration is no one acting), each type once per window, with the unfamiliar origin its type
stands for (a Tor exit, a listed address, credentials away from their instance). A finding needs no
settled identity: a key stolen in its first week is still used by someone else. A sequence is raised
when the signals of the window

* span ≥ ``TACTICS`` distinct tactics, one of them beyond discovery and initial access (credential
  access, persistence, privilege escalation, defense evasion, exfiltration, impact, execution...), and
* at least one came from somewhere the identity never was: a country it never used, a new network that
  anonymizes (Tor, hosting, a commercial VPN's range), or the origin a finding stands for. One person's
  busy day from the usual laptop is no attack, nor is a new tool on it (an administrator's first Terraform
  apply) or a night on call from home (a new network in a known country): stolen keys are used from abroad,
  a rented server, a VPN or Tor.

CompromisedData when the signals reach S3 data or bucket permissions, else CompromisedCredentials. The
finding explains itself: its description tells the story in order, and ``service.detection.sequence``
carries GuardDuty's shape — signals (each API with first/last seen and count; each finding as a FINDING
signal whose uid is the finding's id), actors (the identity and
its addresses), resources (buckets, keys) and indicators (ATTACK_TACTIC, HIGH_RISK_API,
UNUSUAL_API_FOR_USER, UNUSUAL_ASN_FOR_USER). One finding per identity and window; a longer attack
updates it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors import identity_profile as ip
from trailhound.detectors.api_classes import classify
from trailhound.detectors.principals import anonymizing, call_sig, identity_key, place_memo, place_of, travelled
from trailhound.detectors.s3_anomalous import restricts
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.runner import timed
from trailhound.engine.baseline import DAY, Profile, ProfileState
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import CRITICAL, AccessKeyResource, Detection, Occurrence, Raised
from trailhound.findings.model import Sequence as Seq

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

IAM_SEQ, S3_SEQ = "AttackSequence:IAM/CompromisedCredentials", "AttackSequence:S3/CompromisedData"
WINDOW = DAY
TACTICS = 3
MAX_SIGNALS = 40
WEAK = frozenset({"Discovery", "InitialAccess"})
SIGNAL_SEVERITY = 4.0  # another detector's finding is a signal from Medium up (GuardDuty's Medium is 4.0-6.9)
_S3_DATA = {"GetObject": "read", "PutObject": "write", "CopyObject": "write", "DeleteObject": "delete", "DeleteObjects": "delete"}
_S3_PERMISSION = frozenset({"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutObjectAcl", "DeletePublicAccessBlock",
                            "DeleteBucketPublicAccessBlock", "PutBucketPublicAccessBlock"})
_APIS, _PLACES = Profile(capacity=160), Profile(capacity=12)  # (as many APIs as the identity profile keeps: see identity_profile.API)


class Signals(msgspec.Struct, array_like=True):
    apis: ProfileState = msgspec.field(default_factory=ProfileState)  # classed APIs and S3 bucket actions it used
    places: ProfileState = msgspec.field(default_factory=ProfileState)  # networks, countries, clients
    first: float = 0.0
    last_day: int = -1
    days: int = 0
    # [time, tactic, value, succeeded, unseen place ("" or what), address, bucket]
    signals: list[list[Any]] = msgspec.field(default_factory=list)
    reported: float = -1.0  # start of the window already reported


def _signal_of(e: ApiCall) -> tuple[str, str, str] | None:
    """(tactic, value learned, bucket) of a call that can be a signal."""
    bucket = str(e.params().get("bucketName") or "") if e.event_source == "s3.amazonaws.com" else ""
    if e.event_name in _S3_DATA and bucket and e.event_category == "Data":
        return "S3DataAccess", f"s3:{_S3_DATA[e.event_name]}:{bucket}", bucket
    if e.event_name in _S3_PERMISSION and bucket:
        # locking a bucket down (Block Public Access on, a private ACL, a policy for no one new) lets no one in: no signal
        return None if restricts(e) else ("S3Permission", f"s3:permission:{bucket}", bucket)
    if e.event_category == "Data":
        return None
    cls, value = classify(e)
    return (cls, value, "") if cls is not None else None


class AttackSequence(KeyedDetector[Signals]):
    name = "attack-sequence"
    consumes = Source.CLOUDTRAIL
    method = "correlation"
    State: ClassVar[type[msgspec.Struct]] = Signals
    ttl = ip.TTL
    findings = (
        FindingType(IAM_SEQ, severity(CRITICAL), "TA0001 Initial Access", "T1078.004 Valid Accounts: Cloud Accounts",
                    f"within a day, one identity's first uses of APIs and the findings on it (Medium and up) span ≥{TACTICS} tactics "
                    "(one beyond discovery), some from a country it never used, anonymizing egress (Tor, hosting, VPN) or an origin a finding "
                    "names (a new client, or a new network in a known country, is not enough)"),
        FindingType(S3_SEQ, severity(CRITICAL), "TA0010 Exfiltration",
                    "T1530 Data from Cloud Storage", "the same, reaching S3 objects or bucket permissions the identity never touched",
                    sources=("CloudTrail", "S3DataEvents")),
    )

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.event_category != "Data" or e.event_name in _S3_DATA]

    key_by = staticmethod(identity_key)  # shared: computed once per call for every identity detector
    facts_by = staticmethod(call_sig)
    correlates = True  # the identity's findings are signals too

    def update(self, key: str, rows: list[ApiCall], state: Signals | None, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state if state is not None else Signals()
        out: list[Occurrence] = []
        learned: set[tuple[Any, ...]] = set()  # calls that were no signal: their like again the same day teaches nothing
        parts: dict[int, tuple[Any, ...]] = {}  # call_sig -> (signal, number of what the like is made of): once per alike call
        numbers: dict[tuple[Any, ...], int] = {}  # what a like is made of -> its number (a small int hashes faster than the tuple)
        memo = place_memo(rows)
        for t, e, same in timed(rows):
            ready = t - st.first >= ip.WARMUP and st.days >= ip.MIN_ACTIVE_DAYS  # ip.settled, inlined: it is asked of every call
            part = parts.get(same) if same is not None else None
            if part is None:
                signal = _signal_of(e)
                part = (signal, numbers.setdefault((e.source_ip, e.user_agent, signal, e.succeeded), len(numbers)))
                if same is not None:
                    parts[same] = part
            sig, number = part
            like = (int(t // ip.DAY), ready, number)
            if like in learned:
                continue
            ip.observe_day(st, t)
            where = place_of(e, self.places, memo)
            place = where.values
            odd = sorted(v for v in place if not _PLACES.seen_before(st.places, v, t))
            if not (sig is not None and ip.settled(st, t) and not _APIS.seen_before(st.apis, sig[1], t)):
                learned.add(like)  # (profiles learn once per day: the same call again the same day changes nothing)
            else:
                st.signals = [s for s in st.signals if t - s[0] <= WINDOW][-(MAX_SIGNALS - 1):]
                st.signals.append([t, sig[0], sig[1], e.succeeded, self._unseen(e, where.info, odd), e.source_ip or "", sig[2]])
                occ = self._judge(key, e, st, st.signals[-1])
                if occ is not None:
                    out.append(occ)
            teaches = ip.teaches_places(e)
            for v in place:
                _PLACES.learn(st.places, v, t, add=teaches)
            if sig is not None and e.succeeded:
                _APIS.learn(st.apis, sig[1], t)
        return out, st

    def _unseen(self, e: ApiCall, info: Any, odd: list[str]) -> str:
        """A signal's unseen place (``_place``), asking whether a new network anonymizes (Tor, hosting, a VPN's range)."""
        new_network = any(v.startswith("network ") for v in odd)
        return _place(odd, anonymizing(e.source_ip, info, self.intel, self.places) if new_network else None)

    def _judge(self, key: str, e: ApiCall, st: Signals, signal: list[Any]) -> Occurrence | None:
        ident = e.user_identity

        def make(ftype: str, title: str, story: str, info: dict[str, Any], aggregation: str) -> Occurrence:
            return api_occurrence(e, ftype, self.severity(ftype), title, story, resource_key=key, additional_info=info, aggregation_key=aggregation)

        return self._sequence_of(key, (ident.type or "", ident.name, ident.access_key_id or ""), st, signal, make)

    # -- findings as signals ---------------------------------------------------------------------
    def finding_key(self, raised: Raised) -> str | None:
        o = raised.occurrence
        # its own findings are no signal; configuration findings (Policy) and Low ones are no one acting against the account
        if o.actor is None or o.severity < SIGNAL_SEVERITY or o.type.startswith(("AttackSequence:", "Policy:")):
            return None
        return o.actor

    def on_findings(self, key: str, raised: list[Raised], state: Signals | None, watermark: float) -> tuple[list[Occurrence], Any]:
        """Another detector's finding on this identity is a signal: its tactic, and the unfamiliar origin its
        type stands for (a Tor exit, a listed address, credentials away from their instance...). The identity
        need not be settled: the finding is evidence of its own. Each type once per window."""
        st = state if state is not None else Signals()
        out: list[Occurrence] = []
        for r in raised:
            o, t = r.occurrence, r.occurrence.time
            value = f"finding:{o.type}"
            if any(s[2] == value and t - s[0] <= WINDOW for s in st.signals):
                continue
            # a finding on a call that is a signal already (its first use) is that step, not another: it takes the step's tactic
            step = next((s for s in st.signals if s[0] == t and not s[2].startswith("finding:")), None)
            tactic = step[1] if step is not None else tactic_of(o.type)
            if tactic is None:
                continue
            origin = _anomaly_origin(o, step) if "AnomalousBehavior" in o.type else _origin_of(o.type)
            bucket = next((d.name for d in getattr(o.resource, "s3_bucket_details", None) or ()), "")
            signal = [t, tactic, value, True, origin, o.remote_ip or "", bucket, r.finding_id]
            st.signals = sorted([s for s in st.signals if t - s[0] <= WINDOW] + [signal], key=lambda s: s[0])[-MAX_SIGNALS:]
            details = getattr(o.resource, "access_key_details", None)
            who = (details.user_type or "", details.user_name or "", details.access_key_id or "") if details else ("", key, "")

            def make(ftype: str, title: str, story: str, info: dict[str, Any], aggregation: str) -> Occurrence:  # (called at once)
                return Occurrence(type=ftype, severity=self.severity(ftype), time=o.time, account_id=o.account_id, region=o.region,
                                  resource=AccessKeyResource(access_key_details=details) if details else o.resource, resource_key=key,
                                  action=o.action, title=title, description=story, additional_info=info, remote_ip=o.remote_ip,
                                  aggregation_key=aggregation, actor=key)

            occ = self._sequence_of(key, who, st, signal, make)
            if occ is not None:
                out.append(occ)
        return out, st

    def _sequence_of(self, key: str, who: tuple[str, str, str], st: Signals, signal: list[Any], make: Any) -> Occurrence | None:
        """Judge the window now that ``signal`` (one of its signals, wherever its time put it) has joined it."""
        t = signal[0]
        tactics = {s[1] for s in st.signals}
        if len(tactics) < TACTICS or not tactics - WEAK or not any(_elsewhere(s[4]) for s in st.signals):
            return None
        if st.reported >= 0 and t - st.reported <= WINDOW and any(s[1] == signal[1] for s in st.signals if s is not signal):
            return None  # reported in this window; a new tactic updates it
        if st.reported < 0 or t - st.reported > WINDOW:
            st.reported = st.signals[0][0]
        s3 = any(s[6] for s in st.signals)  # a bucket's objects or permissions, first touched or in a finding
        ftype = S3_SEQ if s3 else IAM_SEQ
        story = self._story(who, st)
        occ = make(ftype, f"{'Potential data compromise of S3' if s3 else 'Potential misuse of credentials'}: {who[1]} "
                          f"performed a sequence spanning {len(tactics)} tactics.", story,
                   {"tactics": sorted(tactics), "signals": len(st.signals)}, f"seq|{st.reported:.0f}")
        occ.detection = Detection(sequence=self._sequence(key, who, st, story))
        return occ  # type: ignore[no-any-return]

    def _story(self, who: tuple[str, str, str], st: Signals) -> str:
        steps = []
        for tactic in dict.fromkeys(s[1] for s in st.signals):
            mine = [s for s in st.signals if s[1] == tactic]
            first_uses = ", ".join(dict.fromkeys(s[2] for s in mine if not s[2].startswith("finding:")))
            findings = ", ".join(dict.fromkeys(s[2].removeprefix("finding:") for s in mine if s[2].startswith("finding:")))
            what = "; ".join(filter(None, (f"first used {first_uses}" if first_uses else "", f"raised {findings}" if findings else "")))
            where = next((_shown(s[4]) for s in mine if s[4]), "")
            steps.append(f"{tactic}: {what}" + (f" (from {where})" if where else ""))
        start = datetime.fromtimestamp(st.signals[0][0], UTC).strftime("%Y-%m-%d %H:%M")
        return (f"Since {start} UTC, {who[0]} {who[1]}: " + "; then ".join(steps) + ". Together these read as an attacker using its "
                "credentials: each step alone may be ordinary, their order and the unfamiliar origin are not.")

    def _sequence(self, key: str, who: tuple[str, str, str], st: Signals, story: str) -> Seq:
        from trailhound.findings.model import SequenceIndicator, SequenceSignal

        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        grouped: dict[str, list[list[Any]]] = {}
        for s in st.signals:
            grouped.setdefault(s[2], []).append(s)
        signals = []
        for v, ss in grouped.items():
            finding = v.startswith("finding:")
            signals.append(SequenceSignal(
                uid=ss[0][7] if finding else hashlib.sha256(f"{key}|{v}".encode()).hexdigest()[:32], type="FINDING" if finding else "CLOUD_TRAIL",
                name=v.removeprefix("finding:"), description=f"{'finding' if finding else 'first use'} ({ss[0][1]})", first_seen_at=iso(ss[0][0]),
                last_seen_at=iso(ss[-1][0]), count=len(ss), actor_ids=[key], endpoint_ids=sorted({s[5] for s in ss if s[5]}),
                resource_uids=sorted({f"arn:aws:s3:::{s[6]}" for s in ss if s[6]})))
        buckets = sorted({s[6] for s in st.signals if s[6]})
        odd = sorted({p for s in st.signals if s[4] for p in _shown(s[4]).split(_SEP)})
        return Seq(uid=hashlib.sha256(f"{key}|{st.reported}".encode()).hexdigest()[:32], description=story,
                   actors=[{"id": key, "session": {"uid": who[2]}}],
                   resources=[{"uid": f"arn:aws:s3:::{b}", "type": "AWS::S3::Bucket"} for b in buckets],
                   endpoints=[{"id": a} for a in sorted({s[5] for s in st.signals if s[5]})], signals=signals,
                   sequence_indicators=[SequenceIndicator(key="ATTACK_TACTIC", values=sorted({s[1] for s in st.signals}), title="Tactics"),
                                        SequenceIndicator(key="UNUSUAL_API_FOR_USER", values=sorted(v for v in grouped if not v.startswith("finding:")),
                                                          title="APIs new to the identity"),
                                        SequenceIndicator(key="UNUSUAL_ASN_FOR_USER", values=odd, title="Origins new to the identity")])


_ORIGINS = (("TorIPCaller", "a Tor exit node"), ("MaliciousIPCaller", "an address on a threat list"),
            ("CredentialExfiltration", "credentials used away from where they were issued"), ("ConsoleLoginSuccess.B", "an impossible journey"))


_SEP = "; "  # between a signal's unseen values (a network's name may hold a comma)
_ELSEWHERE = "!"  # leads a signal's unseen place when that is somewhere the identity never was (one byte a signal)


def _place(odd: list[str], anonymizer: str | None) -> str:
    """A signal's unseen place as the story tells it ("client …; network …; country …"), led by ``_ELSEWHERE`` when it is
    somewhere the identity never was: a country new to it, or a new network that anonymizes. A new client is a new
    tool and a new network in a known country is a home or a hotel (an on-call night from home is no attack); stolen
    keys are used from abroad, a rented server, a VPN or Tor."""
    # (AWS's addresses are no country one travels to: a self-hosted runner in a new region, a job moved behind a NAT gateway)
    elsewhere = anonymizer is not None or any(v.startswith("country ") and travelled(v[len("country "):]) for v in odd)
    return (_ELSEWHERE if elsewhere else "") + _SEP.join(odd)


def _elsewhere(origin: str) -> bool:
    return origin.startswith(_ELSEWHERE)


def _shown(origin: str) -> str:
    return origin.removeprefix(_ELSEWHERE)


def _anomaly_origin(o: Occurrence, step: list[Any] | None) -> str:
    """Where an AnomalousBehavior finding's call came from, as a step's unseen place: the step's own where there is one
    (the finding says no more), else what the finding found unusual."""
    if step is not None:
        return str(step[4])
    info = o.additional_info or {}
    unusual = info.get("unusual") or {}
    words = {ip.NETWORK: "network", ip.COUNTRY: "country", ip.AGENT: "client"}
    return _place([f"{words[d]} {v}" for d, v in unusual.items() if d in words], info.get("anonymizer"))


def _origin_of(ftype: str) -> str:
    """The unfamiliar origin a finding type stands for, or "" (most types say nothing of where the caller was)."""
    what = next((what for part, what in _ORIGINS if part in ftype), "")
    return _ELSEWHERE + what if what else ""  # (each stands for somewhere the identity never was)


@functools.cache
def _tactics() -> dict[str, str]:
    from trailhound.detectors.catalogue import rows

    # "TA0006 Credential Access" -> "CredentialAccess": the names ``api_classes`` gives its classes
    return {f.name: "".join(w[:1].upper() + w[1:] for w in f.tactic.split(" ", 1)[1].split()) for f, _, _ in rows()}


def tactic_of(ftype: str) -> str | None:
    """The ATT&CK tactic a finding type is catalogued under, as a signal's tactic."""
    return _tactics().get(ftype)


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.anomalous_behavior import BOTO, HOME, OFFICE, VPS
    from trailhound.simulator.records import ATTACKER_IP, CLI_UA, Case, iam_user, record

    ec2, iam, sts, s3, sm = "ec2.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com", "s3.amazonaws.com", "secretsmanager.amazonaws.com"
    t = iter(start + timedelta(minutes=3 * i) for i in range(400))

    def now(api: str, service: str, who: dict[str, Any], ip_: str, ua: str, **kw: Any) -> dict[str, Any]:
        return record(api, service, time=next(t), account=account, identity=who, ip=ip_, ua=ua, **kw)

    def obj(api: str, who: dict[str, Any], bucket: str, ip_: str, ua: str) -> dict[str, Any]:
        return {**now(api, s3, who, ip_, ua, params={"bucketName": bucket, "key": "q3/ledger.csv"}), "eventCategory": "Data", "managementEvent": False}

    dev = iam_user(account, "pat-developer")
    dev_days = ip.daily(start, 14, dev, [("DescribeInstances", ec2), ("GetCallerIdentity", sts)], [HOME], CLI_UA, account)
    takeover = [now("ListUsers", iam, dev, VPS, BOTO), now("ListRoles", iam, dev, VPS, BOTO), now("GetSecretValue", sm, dev, VPS, BOTO),
                now("CreateAccessKey", iam, dev, VPS, BOTO, params={"userName": "svc-backup"})]
    fin = iam_user(account, "quinn-finance")
    fin_days = ip.daily(start, 14, fin, [("ListBuckets", s3), ("GetCallerIdentity", sts)], [OFFICE], CLI_UA, account)
    data = [now("ListBuckets", s3, fin, VPS, BOTO), now("GetBucketAcl", s3, fin, VPS, BOTO, params={"bucketName": "finance-reports"}),
            now("PutBucketPolicy", s3, fin, VPS, BOTO, params={"bucketName": "finance-reports"}),
            obj("GetObject", fin, "finance-reports", VPS, BOTO), obj("DeleteObject", fin, "finance-reports", VPS, BOTO)]
    admin = iam_user(account, "root-of-ops")  # a busy administrator's new tasks, from the usual desk and CLI
    admin_days = ip.daily(start, 14, admin, [("DescribeInstances", ec2), ("ListUsers", iam)], [OFFICE], CLI_UA, account)
    busy = [now(api, svc, admin, OFFICE, CLI_UA) for api, svc in (("CreateUser", iam), ("AttachUserPolicy", iam), ("GetSecretValue", sm),
                                                                   ("DeleteFlowLogs", ec2), ("ModifySnapshotAttribute", ec2))]
    hire = iam_user(account, "ria-new-hire")  # her first week: setting up, from a hotel, through a new script
    hire_days = ip.daily(start, 3, hire, [("DescribeInstances", ec2)], [HOME], CLI_UA, account)
    first_week = [now(api, svc, hire, VPS, BOTO) for api, svc in (("ListRoles", iam), ("GetSecretValue", sm), ("CreateAccessKey", iam),
                                                                  ("DeleteFlowLogs", ec2))]
    # the sequences are made of findings of their own: the calls' AnomalousBehavior types and the rules they trip
    signals = frozenset(f"{c}:IAMUser/AnomalousBehavior" for c in ("Discovery", "CredentialAccess", "Persistence", "DefenseEvasion", "Impact",
                                                                  "Exfiltration"))
    # a contractor's key in its second day, used from an address on the operator's threat list: no habits to
    # judge by, the findings on it are the signals (recon, a new key, the bucket drained)
    contractor = iam_user(account, "sam-contractor")
    contractor_days = ip.daily(start, 2, contractor, [("DescribeInstances", ec2)], [HOME], CLI_UA, account)
    listed = [now("ListBuckets", s3, contractor, ATTACKER_IP, BOTO), now("CreateAccessKey", iam, contractor, ATTACKER_IP, BOTO),
              obj("GetObject", contractor, "vendor-invoices", ATTACKER_IP, BOTO)]
    intel = frozenset({"Recon:IAMUser/MaliciousIPCaller.Custom", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
                       "UnauthorizedAccess:S3/MaliciousIPCaller.Custom"})
    return [
        Case("stolen-keys-discover-steal-persist", IAM_SEQ, dev_days + takeover, also=signals),
        Case("stolen-keys-open-and-drain-finance-bucket", S3_SEQ, fin_days + data, also=signals),
        Case("busy-admin-new-tasks-from-the-desk", None, admin_days + busy),
        Case("new-hire-first-week-from-a-hotel", None, hire_days + first_week),
        # (after the others: the sample finding of each type is its first case's)
        Case("new-key-from-a-listed-address-recon-persist-exfiltrate", S3_SEQ, contractor_days + listed, needs_custom_list=True, also=intel),
    ]
