"""AttackSequence:IAM/CompromisedCredentials and AttackSequence:S3/CompromisedData — one identity's calls
over a day that together read as an attack, though each alone may be no finding.

Per identity (``principals.identity_key``), a settled one (a week, four active days), the engine keeps
the **signals** of the last ``WINDOW``: each first use of a classed API (``api_classes.classify``: the
tactic classes and Trailhound's extensions) and each first touch of an S3 bucket's objects or permissions,
with whether it came from a network, country or client the identity never used. A sequence is raised
when the signals of the window

* span ≥ ``TACTICS`` distinct tactics, one of them beyond discovery and initial access (credential
  access, persistence, privilege escalation, defense evasion, exfiltration, impact, execution...), and
* at least one came from an unseen place (one person's busy day from the usual laptop is no attack).

CompromisedData when the signals reach S3 data or bucket permissions, else CompromisedCredentials. The
finding explains itself: its description tells the story in order, and ``service.detection.sequence``
carries GuardDuty's shape — signals (each API with first/last seen and count), actors (the identity and
its addresses), resources (buckets, keys) and indicators (ATTACK_TACTIC, HIGH_RISK_API,
UNUSUAL_API_FOR_USER, UNUSUAL_ASN_FOR_USER). One finding per identity and window; a longer attack
updates it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors import identity_profile as ip
from trailhound.detectors.api_classes import classify
from trailhound.detectors.principals import call_sig, identity_key, place_memo, place_of
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.runner import timed
from trailhound.engine.baseline import DAY, Profile, ProfileState
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import CRITICAL, Detection, Occurrence
from trailhound.findings.model import Sequence as Seq

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

IAM_SEQ, S3_SEQ = "AttackSequence:IAM/CompromisedCredentials", "AttackSequence:S3/CompromisedData"
WINDOW = DAY
TACTICS = 3
MAX_SIGNALS = 40
WEAK = frozenset({"Discovery", "InitialAccess"})
_S3_DATA = {"GetObject": "read", "PutObject": "write", "CopyObject": "write", "DeleteObject": "delete", "DeleteObjects": "delete"}
_S3_PERMISSION = frozenset({"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutObjectAcl", "DeletePublicAccessBlock",
                            "DeleteBucketPublicAccessBlock", "PutBucketPublicAccessBlock"})
_APIS, _PLACES = Profile(capacity=48), Profile(capacity=12)


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
        return "S3Permission", f"s3:permission:{bucket}", bucket
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
                    f"within a day, one identity's first uses of APIs span ≥{TACTICS} tactics (one beyond discovery), some from a "
                    "network, country or client it never used"),
        FindingType(S3_SEQ, severity(CRITICAL), "TA0010 Exfiltration",
                    "T1530 Data from Cloud Storage", "the same, reaching S3 objects or bucket permissions the identity never touched",
                    sources=("CloudTrail", "S3DataEvents")),
    )

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.event_category != "Data" or e.event_name in _S3_DATA]

    key_by = staticmethod(identity_key)  # shared: computed once per call for every identity detector
    facts_by = staticmethod(call_sig)

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
            place = place_of(e, self.places, memo).values
            odd = sorted(v for v in place if not _PLACES.seen_before(st.places, v, t))
            if not (sig is not None and ip.settled(st, t) and not _APIS.seen_before(st.apis, sig[1], t)):
                learned.add(like)  # (profiles learn once per day: the same call again the same day changes nothing)
            else:
                st.signals = [s for s in st.signals if t - s[0] <= WINDOW][-(MAX_SIGNALS - 1):]
                st.signals.append([t, sig[0], sig[1], e.succeeded, ", ".join(odd), e.source_ip or "", sig[2]])
                occ = self._judge(key, e, st, t)
                if occ is not None:
                    out.append(occ)
            for v in place:
                _PLACES.learn(st.places, v, t)
            if sig is not None and e.succeeded:
                _APIS.learn(st.apis, sig[1], t)
        return out, st

    def _judge(self, key: str, e: ApiCall, st: Signals, t: float) -> Occurrence | None:
        tactics = {s[1] for s in st.signals}
        if len(tactics) < TACTICS or not tactics - WEAK or not any(s[4] for s in st.signals):
            return None
        if st.reported >= 0 and t - st.reported <= WINDOW and len(tactics) == len({s[1] for s in st.signals[:-1]}):
            return None  # reported in this window; a new tactic updates it
        if st.reported < 0 or t - st.reported > WINDOW:
            st.reported = st.signals[0][0]
        s3 = bool(tactics & {"S3DataAccess", "S3Permission"})
        ftype = S3_SEQ if s3 else IAM_SEQ
        story = self._story(e, st)
        occ = api_occurrence(
            e, ftype, self.severity(ftype),
            f"{'Potential data compromise of S3' if s3 else 'Potential misuse of credentials'}: {e.user_identity.name} "
            f"performed a sequence spanning {len(tactics)} tactics.", story, aggregation_key=f"seq|{st.reported:.0f}",
            additional_info={"tactics": sorted(tactics), "signals": len(st.signals)},
        )
        occ.detection = Detection(sequence=self._sequence(key, e, st, story))
        return occ

    def _story(self, e: ApiCall, st: Signals) -> str:
        steps = []
        for tactic in dict.fromkeys(s[1] for s in st.signals):
            mine = [s for s in st.signals if s[1] == tactic]
            apis = ", ".join(dict.fromkeys(s[2] for s in mine))
            where = next((s[4] for s in mine if s[4]), "")
            steps.append(f"{tactic}: {apis}" + (f" (from {where}, unseen for it)" if where else ""))
        start = datetime.fromtimestamp(st.signals[0][0], UTC).strftime("%Y-%m-%d %H:%M")
        return (f"Since {start} UTC, {e.user_identity.type} {e.user_identity.name} used, for the first time in its history: "
                + "; then ".join(steps) + ". Together these read as an attacker using its credentials: each step alone may be "
                "ordinary, their order and the unfamiliar origin are not.")

    def _sequence(self, key: str, e: ApiCall, st: Signals, story: str) -> Seq:
        from trailhound.findings.model import SequenceIndicator, SequenceSignal

        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

        grouped: dict[str, list[list[Any]]] = {}
        for s in st.signals:
            grouped.setdefault(s[2], []).append(s)
        signals = [SequenceSignal(uid=hashlib.sha256(f"{key}|{v}".encode()).hexdigest()[:32], type="CLOUD_TRAIL", name=v,
                                  description=f"first use ({ss[0][1]})", first_seen_at=iso(ss[0][0]), last_seen_at=iso(ss[-1][0]),
                                  count=len(ss), actor_ids=[key], endpoint_ids=sorted({s[5] for s in ss if s[5]}),
                                  resource_uids=sorted({f"arn:aws:s3:::{s[6]}" for s in ss if s[6]}))
                   for v, ss in grouped.items()]
        buckets = sorted({s[6] for s in st.signals if s[6]})
        odd = sorted({p for s in st.signals if s[4] for p in s[4].split(", ")})
        return Seq(uid=hashlib.sha256(f"{key}|{st.reported}".encode()).hexdigest()[:32], description=story,
                   actors=[{"id": key, "session": {"uid": e.user_identity.access_key_id or ""}}],
                   resources=[{"uid": f"arn:aws:s3:::{b}", "type": "AWS::S3::Bucket"} for b in buckets],
                   endpoints=[{"id": a} for a in sorted({s[5] for s in st.signals if s[5]})], signals=signals,
                   sequence_indicators=[SequenceIndicator(key="ATTACK_TACTIC", values=sorted({s[1] for s in st.signals}), title="Tactics"),
                                        SequenceIndicator(key="UNUSUAL_API_FOR_USER", values=sorted(grouped), title="APIs new to the identity"),
                                        SequenceIndicator(key="UNUSUAL_ASN_FOR_USER", values=odd, title="Origins new to the identity")])


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.anomalous_behavior import BOTO, HOME, OFFICE, VPS
    from trailhound.simulator.records import CLI_UA, Case, iam_user, record

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
    return [
        Case("stolen-keys-discover-steal-persist", IAM_SEQ, dev_days + takeover, also=signals),
        Case("stolen-keys-open-and-drain-finance-bucket", S3_SEQ, fin_days + data, also=signals),
        Case("busy-admin-new-tasks-from-the-desk", None, admin_days + busy),
        Case("new-hire-first-week-from-a-hotel", None, hire_days + first_week),
    ]
