"""S3 AnomalousBehavior — an identity does to a bucket, in bulk, what it has never done to it.

Judged per identity (``principals.identity_key``: a user, a role not its sessions) against its own S3
history, bucket by bucket: for each bucket it touched, the day it first read, wrote, deleted, listed or
changed permissions there (``BucketHabit``), and the networks and clients it calls S3 from. A settled
identity (a week of history on four days, as the IAM profiles) raises

* **Exfiltration:S3/AnomalousBehavior** — ≥ ``READS`` objects read from one bucket within an hour (or
  ``DAY_READS`` within a day: a script pacing itself), a bucket it has not read on an earlier day (a user
  with no history syncing the finance bucket);
* **Impact:S3/AnomalousBehavior.Delete** — ≥ ``DELETES`` objects deleted from a bucket within an hour (or
  ``DAY_DELETES`` within a day) where it never deleted on an earlier day (a DeleteObjects batch, which
  names none of its up to 1,000 keys, counts by its request body's size, else as ``BATCH``);
* **Impact:S3/AnomalousBehavior.Write** — ≥ ``WRITES`` objects written or overwritten in a bucket within
  an hour (or ``DAY_WRITES`` within a day) where it never wrote on an earlier day; and, wherever from and
  whatever the bucket, as many written with a customer-supplied key (SSE-C) by an identity that never
  used one: ransomware re-encrypting in place with a key only the attacker holds (Codefinger);

  each of the first three, when the identity already does it elsewhere (reads, writes or deletes objects of
  other buckets on earlier days; deletes in a bucket it writes: its own data's lifecycle), only from a
  network, country or client unseen for its S3 calls — a data role reading a newly shared dataset, an ETL
  role onboarding a feed or purging its old partitions is work, the same from a rented server is not;
  and ≥ ``READS`` objects read within an hour from a bucket it reads habitually, from a network its S3 calls never
  came from in a new country or through anonymizing infrastructure (Tor, hosting, a commercial VPN): its key in
  someone else's hands, syncing what it knows is there (a new ISP at home, or a few objects from abroad, is not);
* **Discovery:S3/AnomalousBehavior** — ≥ ``LISTED`` buckets listed within an hour that it never touched;
* **Impact:S3/AnomalousBehavior.Permission** — a bucket policy, ACL or ownership change on a bucket where
  it never changed permissions, from a network, country or client unseen for its S3 calls.

What an identity does every night stays quiet: a backup role reading ten thousand objects from the bucket
it reads every night, a pipeline overwriting its own outputs, a cleanup job deleting what it always
deletes. A bucket it created (``CreateBucket``) is its own: Terraform reading back what it just made, a loader
filling its new bucket. A multipart upload is one object (``CompleteMultipartUpload``), not one per part. Bounded: 256 buckets per identity (the least recently used go; a backup tool reads dozens every week, and a
bucket it forgot was "new" at its next full read), one counter per bucket and class.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors import identity_profile as ip
from trailhound.detectors import s3_public
from trailhound.detectors.api_classes import names_only_own_account
from trailhound.detectors.principals import anonymizing, call_sig, identity_key, place_memo, place_of, shown_place, travelled
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.runner import timed
from trailhound.engine.baseline import DAY, Profile, ProfileState
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence, bucket_resource
from trailhound.findings.model import HIGH, LOW, MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

HOUR = 3600.0
READS, DELETES, WRITES, LISTED = 100, 50, 100, 5
# the same, kept up all day below the hour's counts (a script pacing itself): five to six hours' worth
DAY_READS, DAY_DELETES, DAY_WRITES = 500, 300, 500
# DeleteObjects removes up to 1,000 objects in one call and CloudTrail names none of them (`aws s3 rm --recursive`,
# boto3's objects.delete(), the console even for one object): its request body's size tells how many, about one per
# PER_OBJECT_BYTES of XML (`<Object><Key>...</Key></Object>`, keys of a few dozen characters); without it, a call counts as BATCH.
PER_OBJECT_BYTES, BATCH = 120, 10
MAX_BUCKETS = 256  # (a backup tool reads dozens every week: forgetting one made its next full read "new")
READ, WRITE, DELETE, LIST, PERMISSION = "read", "write", "delete", "list", "permission"
CREATE = "CreateBucket"
AWAY = READ + "/away"  # reads of a bucket it reads habitually, from where it never works (``_away``)
ENCRYPT = "customer-key"  # writes with a customer-supplied key (SSE-C): ransomware re-encrypting objects in place
_CLASS_OF = {
    "GetObject": READ, "GetObjectVersion": READ, "SelectObjectContent": READ, "RestoreObject": READ,
    # (a multipart upload is one object, written when it completes: its parts are no objects)
    "PutObject": WRITE, "CopyObject": WRITE, "CompleteMultipartUpload": WRITE,
    "DeleteObject": DELETE, "DeleteObjects": DELETE, "DeleteObjectVersion": DELETE,
    "ListObjects": LIST, "ListObjectsV2": LIST, "ListObjectVersions": LIST, "ListBucket": LIST, "GetBucketAcl": LIST,
    "PutBucketPolicy": PERMISSION, "DeleteBucketPolicy": PERMISSION, "PutBucketAcl": PERMISSION, "PutObjectAcl": PERMISSION,
    "PutBucketOwnershipControls": PERMISSION, "PutBucketPublicAccessBlock": PERMISSION, "DeleteBucketPublicAccessBlock": PERMISSION,
}
_PRIVATE_ACLS = frozenset({"private", "bucket-owner-read", "bucket-owner-full-control"})
_BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def restricts(e: ApiCall) -> bool:
    """A permission change that lets no one new in: Block Public Access switched on, a private canned ACL,
    or a bucket policy that is not public and names no other account. Locking a bucket down from a new
    place is an administrator's day, not an Impact; opening it (public, another account, protections
    removed, or a grant this cannot read) is judged."""
    params = e.params()
    if e.event_name in ("PutBucketPublicAccessBlock", "PutPublicAccessBlock"):
        config = params.get("PublicAccessBlockConfiguration")
        flags = [config[k] for k in _BPA_FLAGS if k in config] if isinstance(config, dict) else []
        return bool(flags) and all(v is True or str(v).lower() == "true" for v in flags)  # (CloudTrail also carries an xmlns)
    if e.event_name in ("PutBucketAcl", "PutObjectAcl"):
        canned = [str(v).lower() for v in s3_public.as_list(params.get("x-amz-acl"))]
        grants = any(k.startswith("x-amz-grant-") for k in params) or bool(params.get("AccessControlPolicy"))
        return bool(canned) and set(canned) <= _PRIVATE_ACLS and not grants
    if e.event_name == "PutBucketPolicy":
        policy = params.get("bucketPolicy") or params.get("policy")
        if not policy or s3_public.policy_exposure(policy)[0] is not s3_public.Exposure.NOT_PUBLIC:
            return False
        text = policy if isinstance(policy, str) else msgspec.json.encode(policy).decode()
        return names_only_own_account(text, e.recipient_account_id or e.account_id)
    return False


EXFIL, DISCOVERY = "Exfiltration:S3/AnomalousBehavior", "Discovery:S3/AnomalousBehavior"
DELETE_T, WRITE_T, PERMISSION_T = "Impact:S3/AnomalousBehavior.Delete", "Impact:S3/AnomalousBehavior.Write", "Impact:S3/AnomalousBehavior.Permission"
_BULK = {READ: (EXFIL, "read"), DELETE: (DELETE_T, "deleted"), WRITE: (WRITE_T, "wrote"), ENCRYPT: (WRITE_T, "wrote")}
# (span, objects per class, window key suffix): the hour, and the day for what paces itself below the hour's counts
_TIERS = ((HOUR, {READ: READS, DELETE: DELETES, WRITE: WRITES, ENCRYPT: WRITES}, ""),
          (DAY, {READ: DAY_READS, DELETE: DAY_DELETES, WRITE: DAY_WRITES, ENCRYPT: DAY_WRITES}, "/day"))
_PLACES = Profile(capacity=8)
# management events (bucket configuration); the rest are S3 data events
BUCKET_LEVEL = frozenset({"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "GetBucketAcl", "PutBucketOwnershipControls",
                          "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock"})


class BucketHabit(msgspec.Struct, array_like=True):
    first: dict[str, int] = msgspec.field(default_factory=dict)  # class -> the first day (epoch day) the identity did it here
    last_used: float = 0.0
    # class (its hour), class + "/day" (its day) -> [window start, objects, reported 0/1, DeleteObjects calls]
    hour: dict[str, list[float]] = msgspec.field(default_factory=dict)
    created: bool = False  # the identity created the bucket: its own, nothing it does there is new


class S3Profile(msgspec.Struct, array_like=True):
    buckets: dict[str, BucketHabit] = msgspec.field(default_factory=dict)
    places: ProfileState = msgspec.field(default_factory=ProfileState)  # networks, countries and clients of its S3 calls
    first: float = 0.0
    last_day: int = -1
    days: int = 0
    listed: list[list[Any]] = msgspec.field(default_factory=list)  # [time, bucket] of listings of buckets new to it, last hour


def _habitual(st: S3Profile, bucket: str, cls: str, day: int) -> bool:
    """The identity did ``cls`` to objects on an earlier day in another bucket (or, deleting, wrote this one's objects:
    clearing its own data): doing it to a new bucket is more of its work, unless from somewhere new."""
    if cls == DELETE and st.buckets[bucket].first.get(WRITE, day) < day:
        return True
    return any(name != bucket and habit.first.get(cls, day) < day for name, habit in st.buckets.items())


_SSE_C = "x-amz-server-side-encryption-customer-algorithm"
_SSE_C_BYTES = _SSE_C.encode()


def customer_key(e: ApiCall) -> bool:
    """Whether a write encrypts with a key the caller supplies (SSE-C): AWS keeps no copy, so only the caller can read it back."""
    return _SSE_C_BYTES in bytes(e.request_parameters) and _SSE_C in e.params()  # (the bytes first: most writes have no such key)


def objects_in(e: ApiCall) -> int:
    """How many objects a call acts on: one, or a DeleteObjects batch's estimate (``PER_OBJECT_BYTES``, ``BATCH``)."""
    if e.event_name != "DeleteObjects":
        return 1
    try:
        extra = msgspec.json.decode(e.additional_event_data)
    except msgspec.DecodeError:
        extra = None
    sent = extra.get("bytesTransferredIn") if isinstance(extra, dict) else None
    if isinstance(sent, (int, float)) and not isinstance(sent, bool) and sent > 0:
        return max(1, int(sent) // PER_OBJECT_BYTES)
    return BATCH


def bucket_of(e: ApiCall) -> str | None:
    name = e.params().get("bucketName")
    return name if isinstance(name, str) and name else None


class S3AnomalousBehavior(KeyedDetector[S3Profile]):
    name = "s3-anomalous-behavior"
    consumes = Source.CLOUDTRAIL
    method = "behaviour"
    State: ClassVar[type[msgspec.Struct]] = S3Profile
    ttl = ip.TTL
    event_names = frozenset(_CLASS_OF) | {CREATE}
    findings = (
        FindingType(DISCOVERY, severity(LOW), "TA0007 Discovery", "T1619 Cloud Storage Object Discovery",
                    f"≥{LISTED} buckets the identity never touched listed within an hour, after a week of history", sources=("S3DataEvents",)),
        FindingType(EXFIL, severity(HIGH), "TA0010 Exfiltration", "T1530 Data from Cloud Storage",
                    f"≥{READS} objects read within an hour (≥{DAY_READS} within a day) from a bucket the identity has not read on an "
                    "earlier day (if it reads other buckets, from a network, country or client unseen for its S3 calls); as many from a bucket it "
                    "reads habitually, from an unseen network in an unseen country or on anonymizing infrastructure", sources=("S3DataEvents",)),
        FindingType(DELETE_T, severity(HIGH), "TA0040 Impact", "T1485 Data Destruction",
                    f"≥{DELETES} objects deleted within an hour (≥{DAY_DELETES} within a day) from a bucket where the identity never deleted "
                    "(if it deletes elsewhere or "
                    "writes this bucket, from a network, country or client unseen for its S3 calls); a DeleteObjects batch counts by its "
                    f"request's size (~{PER_OBJECT_BYTES} bytes an object), else as {BATCH}", sources=("S3DataEvents",)),
        FindingType(WRITE_T, severity(MEDIUM), "TA0040 Impact", "T1486 Data Encrypted for Impact",
                    f"≥{WRITES} objects written within an hour (≥{DAY_WRITES} within a day) to a bucket where the identity never wrote (if it "
                    "writes other buckets, from a network, country or client unseen for its S3 calls); as many with a customer-supplied key "
                    "(SSE-C) by an identity that never used one, anywhere", sources=("S3DataEvents",)),
        FindingType(PERMISSION_T, severity(HIGH), "TA0040 Impact", "T1222 File and Directory Permissions Modification",
                    "a bucket policy, ACL or ownership change where the identity never changed permissions, from a network, country or "
                    "client unseen for its S3 calls", sources=("CloudTrail", "S3DataEvents")),
    )

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.event_source == "s3.amazonaws.com" and (e.event_name in _CLASS_OF or e.event_name == CREATE) and bucket_of(e)]

    key_by = staticmethod(identity_key)  # of the candidates, which name a bucket; shared with the other identity detectors
    facts_by = staticmethod(call_sig)

    def key_of(self, e: ApiCall) -> str | None:
        return identity_key(e) if bucket_of(e) else None

    def update(self, key: str, rows: list[ApiCall], state: S3Profile | None, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state if state is not None else S3Profile()
        out: list[Occurrence] = []
        memo = place_memo(rows)
        for t, e, _ in timed(rows):
            day = int(t // DAY)
            ip.observe_day(st, t)
            settled = ip.settled(st, t)
            bucket, cls = bucket_of(e) or "", _CLASS_OF.get(e.event_name)
            habit = st.buckets.get(bucket)
            new_bucket = habit is None
            if habit is None:
                habit = st.buckets[bucket] = BucketHabit()
            habit.last_used = t
            if cls is None:  # CreateBucket: Terraform reading back, a pipeline filling the bucket it just made
                habit.created = habit.created or e.succeeded
                continue
            where = place_of(e, self.places, memo)
            place = where.values
            odd_place = sorted(v for v in place if not _PLACES.seen_before(st.places, v, t))
            for c in (cls, ENCRYPT) if cls == WRITE and customer_key(e) else (cls,):
                # done here on an earlier day (a customer-supplied key: in any bucket)
                known_before = (habit.first.get(c, day) < day if c != ENCRYPT else
                                any(h.first.get(ENCRYPT, day) < day for h in st.buckets.values()))
                occ = None
                if settled and not known_before and not habit.created:
                    occ = self._judge(e, st, habit, bucket, c, new_bucket, odd_place, t)
                elif settled and c == READ and not habit.created and self._away(e, where, odd_place):
                    occ = self._read_away(e, habit, bucket, odd_place, t)
                if occ is not None:
                    out.append(occ)
                if e.succeeded:
                    habit.first.setdefault(c, day)
            if e.succeeded:
                for v in place:
                    _PLACES.learn(st.places, v, t)
        if len(st.buckets) > MAX_BUCKETS:
            st.buckets = dict(sorted(st.buckets.items(), key=lambda kv: kv[1].last_used)[-MAX_BUCKETS:])
        return out, st

    def _judge(self, e: ApiCall, st: S3Profile, habit: BucketHabit, bucket: str, cls: str, new_bucket: bool, odd_place: list[str],
               t: float) -> Occurrence | None:
        if cls == PERMISSION:
            if odd_place and e.succeeded and not restricts(e):
                return self._report(e, PERMISSION_T, bucket, 1, f"changed permissions ({e.event_name}) on {bucket} for the first time, from "
                                    + ", ".join(map(shown_place, odd_place)) + ", unseen for its S3 calls")
            return None
        if cls == LIST:
            if new_bucket or not any(c != LIST for c in habit.first):
                st.listed = [x for x in st.listed if t - x[0] <= HOUR and x[1] != bucket] + [[t, bucket]]
                if len(st.listed) == LISTED:
                    return self._report(e, DISCOVERY, bucket, LISTED, f"listed {LISTED} buckets it never touched within an hour: "
                                        + ", ".join(x[1] for x in st.listed))
            return None
        objects = objects_in(e)
        batch = e.event_name == "DeleteObjects"
        ftype, verb = _BULK[cls]
        windows = []
        for span, limits, tier in _TIERS:
            window = habit.hour.get(cls + tier)
            if window is None or t - window[0] > span:
                window = habit.hour[cls + tier] = [t, 0.0, 0.0, 0.0]
            window[1] += objects
            if batch:
                window[3:] = [(window[3] if len(window) > 3 else 0.0) + 1]  # batch calls in the window (their count is an estimate)
            windows.append((span, limits[cls], window))
        for span, limit, window in windows:
            if window[1] < limit or window[2]:
                continue
            # a customer-supplied key the identity never used is judged wherever it is used from: Codefinger's re-encryption
            if cls != ENCRYPT and not odd_place and _habitual(st, bucket, cls, int(t // DAY)):
                continue
            for _, _, w in windows:
                w[2] = 1.0  # one report a bucket and class: the day's tier does not repeat the hour's
            batches = int(window[3]) if len(window) > 3 else 0
            count = f"about {int(window[1])} objects (estimated for {batches} DeleteObjects batch call{'s' * (batches != 1)}, which name no keys)" \
                if batches else f"{int(window[1])} objects"
            within = "within an hour" if span == HOUR else "within a day"
            where = ("with a customer-supplied encryption key (SSE-C), which it had never used" if cls == ENCRYPT else
                     f"a bucket where it had not {verb.replace('wrote', 'written')} before")
            return self._report(e, ftype, bucket, int(window[1]), f"{verb} {count} in {bucket} {within}, {where}")
        return None

    def _away(self, e: ApiCall, where: Any, odd_place: list[str]) -> bool:
        """Whether the call comes from a network the identity's S3 calls never came from, in a country they never came from
        or through anonymizing infrastructure (Tor, hosting, a commercial VPN): a new office or home network at home is
        neither."""
        if not any(v.startswith("network ") for v in odd_place):
            return False
        if any(v.startswith("country ") and travelled(v[len("country "):]) for v in odd_place):
            return True  # (AWS's addresses are no country: a job's traffic moving from a VPC endpoint to a NAT gateway)
        return anonymizing(e.source_ip, where.info, self.intel, self.places) is not None

    def _read_away(self, e: ApiCall, habit: BucketHabit, bucket: str, odd_place: list[str], t: float) -> Occurrence | None:
        """Bulk reads of a bucket the identity reads habitually, from where it never works (``_away``): its key in someone
        else's hands, syncing what it knows is there. Counted apart from its usual reads, once an hour's worth."""
        window = habit.hour.get(AWAY)
        if window is None or t - window[0] > HOUR:
            window = habit.hour[AWAY] = [t, 0.0, 0.0]
        window[1] += 1
        if window[1] < READS or window[2]:
            return None
        window[2] = 1.0
        return self._report(e, EXFIL, bucket, int(window[1]), f"read {int(window[1])} objects in {bucket} within an hour from "
                            + ", ".join(map(shown_place, odd_place)) + ", where its S3 calls never came from (it reads this bucket from elsewhere)")

    def _report(self, e: ApiCall, ftype: str, bucket: str, count: int, what: str) -> Occurrence:
        name = e.user_identity.name
        return api_occurrence(
            e, ftype, self.severity(ftype), f"{e.user_identity.type} {name} is invoking S3 APIs on {bucket} in an unusual way.",
            f"{name} {what}. Judged against its own S3 history, bucket by bucket.",
            resource=bucket_resource(e, bucket), resource_key=f"{bucket}|{identity_key(e)}", affected={"AWS::S3::Bucket": bucket},
            additional_info={"bucket": bucket, "count": count}, aggregation_key=bucket,
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.anomalous_behavior import AWS_US, BOTO, FAR, HOME, OFFICE, VPS, role_session
    from trailhound.simulator.records import CLI_UA, Case, iam_user, record

    s3 = "s3.amazonaws.com"

    def data(api: str, who: dict[str, Any], bucket: str, at: datetime, ip_: str, ua: str, n: int = 1, every: float = 2.0,
             **params: Any) -> list[dict[str, Any]]:
        return [{**record(api, s3, time=at + timedelta(seconds=every * i), account=account, identity=who, ip=ip_, ua=ua,
                          params={"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "key": f"data/{i:05d}.parquet", **params}),
                 **({"eventCategory": "Data", "managementEvent": False} if api not in BUCKET_LEVEL else {}),
                 "readOnly": api.startswith(("Get", "List"))} for i in range(n)]

    def days(who: dict[str, Any], bucket: str, api: str, ip_: str, ua: str, n: int = 3, hour: int = 10, count: int = 14) -> list[dict[str, Any]]:
        return [r for d in range(count, 0, -1) for r in data(api, who, bucket, start - timedelta(days=d) + timedelta(hours=hour - start.hour), ip_, ua, n)]

    analyst = iam_user(account, "lena-analyst")  # reads the marketing bucket from the office every day
    analyst_days = days(analyst, "marketing-assets", "GetObject", OFFICE, CLI_UA)
    backup = role_session(account, "nightly-backup", "backup-run")  # reads the finance bucket every night, in bulk
    backup_days = days(backup, "finance-reports", "GetObject", OFFICE, BOTO, n=150, hour=2)
    cleaner = role_session(account, "log-cleanup", "cleanup")  # deletes expired logs every day
    cleaner_days = days(cleaner, "app-logs", "DeleteObject", OFFICE, BOTO, n=60, hour=4)
    writer = role_session(account, "etl-writer", "etl")  # overwrites its own outputs every day
    writer_days = days(writer, "etl-output", "PutObject", OFFICE, BOTO, n=120, hour=5)
    admin = iam_user(account, "ops-admin")  # manages bucket policies from home with the CLI
    admin_days = days(admin, "shared-docs", "GetObject", HOME, CLI_UA) + days(admin, "shared-docs", "PutBucketPolicy", HOME, CLI_UA, n=1, count=5)
    hire = iam_user(account, "new-hire-2")  # three days of history
    hire_days = days(hire, "team-bucket", "GetObject", HOME, CLI_UA, count=3)
    clerk = iam_user(account, "tom-finance")  # uploads the day's invoices from the office; never read an object
    clerk_days = days(clerk, "finance-uploads", "PutObject", OFFICE, CLI_UA)
    science = role_session(account, "sagemaker-exec", "training")  # reads its datasets every day
    science_days = days(science, "dataset-images", "GetObject", OFFICE, BOTO, n=20, hour=6)
    def batch_deletes(who: dict[str, Any], bucket: str, at: datetime, ip_: str, ua: str, n: int, body: int | None) -> list[dict[str, Any]]:
        """DeleteObjects as CloudTrail logs it: no key, no count; the request body's size, when the trail gives it."""
        rows = data("DeleteObjects", who, bucket, at, ip_, ua, n, every=20.0)
        for r in rows:
            r["requestParameters"] = {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "delete": "", "x-id": "DeleteObjects"}
            if body is not None:
                r["additionalEventData"] = {"SignatureVersion": "SigV4", "bytesTransferredIn": body, "bytesTransferredOut": 120}
        return rows

    def user(name: str) -> dict[str, Any]:
        return iam_user(account, f"{name}-media")

    def reader(name: str) -> list[dict[str, Any]]:
        """A fortnight of reading its own bucket from the office (each of these cases has its own person and buckets)."""
        return days(user(name), f"{name}-media", "GetObject", OFFICE, CLI_UA)

    def paced(api: str, who: dict[str, Any], bucket: str, ip_: str, per_hour: int, ua: str = BOTO) -> list[dict[str, Any]]:
        return [r for h in range(8) for r in data(api, who, bucket, start + timedelta(hours=h), ip_, ua, per_hour, every=3600 / per_hour)]

    glue = role_session(account, "glue-curate", "nightly")
    courier = role_session(account, "report-courier", "nightly")  # reads its exports bucket every night
    sse_writer = role_session(account, "vault-export", "export")
    sse_days = days(sse_writer, "vault-archive", "PutObject", OFFICE, BOTO, n=120, hour=5)
    for r in sse_days:
        r["requestParameters"]["x-amz-server-side-encryption-customer-algorithm"] = "AES256"
    now = start

    def created(who: dict[str, Any], bucket: str, at: datetime) -> list[dict[str, Any]]:
        return [record(CREATE, s3, time=at, account=account, identity=who, ip=OFFICE, ua=CLI_UA, params={"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com"})]

    def multipart(who: dict[str, Any], bucket: str, parts: int) -> list[dict[str, Any]]:
        """One large file: its upload's start, its parts, its completion (the object)."""
        return (data("CreateMultipartUpload", who, bucket, now, OFFICE, CLI_UA) + data("UploadPart", who, bucket, now + timedelta(seconds=5), OFFICE,
                                                                                            CLI_UA, parts, every=6.0, partNumber=1)
                + data("CompleteMultipartUpload", who, bucket, now + timedelta(seconds=10 + 6 * parts), OFFICE, CLI_UA))
    fresh = [f"fay-stack-{name}" for name in ("logs", "assets", "backups", "exports", "audit", "tmp")]
    S3_CONSOLE = "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.750 Linux/5.10.226 OpenJDK_64-Bit_Server_VM/25.412-b08 java/1.8.0_412]"
    buckets = ("finance-reports", "hr-payroll", "legal-contracts", "customer-exports", "backups-db", "audit-trail")
    return [
        Case("user-syncs-finance-bucket-without-history", EXFIL, clerk_days + data("GetObject", clerk, "finance-reports", now, OFFICE, CLI_UA, 140)),
        Case("reader-syncs-a-new-bucket-from-a-vps", EXFIL, analyst_days + data("GetObject", analyst, "finance-reports", now, VPS, BOTO, 140)),
        Case("data-role-reads-a-newly-shared-dataset", None, science_days + data("GetObject", science, "dataset-partner-scans", now, OFFICE, BOTO, 220)),
        Case("etl-purges-its-own-old-outputs", None, writer_days + data("DeleteObject", writer, "etl-output", now, OFFICE, BOTO, 80)),
        Case("etl-writes-a-new-pipelines-output", None, writer_days + data("PutObject", writer, "etl-curated", now, OFFICE, BOTO, 150)),
        Case("mass-delete-where-never-deleted", DELETE_T, analyst_days + data("DeleteObject", analyst, "marketing-assets", now, VPS, BOTO, 60)),
        # `aws s3 rm --recursive`: a dozen DeleteObjects calls of up to 1,000 keys each, from a rented server
        Case("batch-deletes-where-never-deleted", DELETE_T, reader("ana") + batch_deletes(user("ana"), "ana-media", now, VPS, BOTO, 12, None)),
        Case("two-full-batches-where-never-deleted", DELETE_T, reader("ben") + batch_deletes(user("ben"), "ben-media", now, VPS, BOTO, 2, 95_000)),
        # the console deletes through DeleteObjects even one file at a time: eight small requests are eight objects
        Case("console-deletes-a-few-files", None, reader("cai") + batch_deletes(user("cai"), "cai-media", now, OFFICE, S3_CONSOLE, 8, 190)),
        # paced below the hour's counts, all day, from a rented server: 90 reads, or 45 deletes, an hour for eight hours
        Case("slow-sync-of-a-new-bucket-from-a-vps", EXFIL, reader("dov") + paced("GetObject", user("dov"), "payroll-archive", VPS, 90)),
        Case("slow-purge-where-never-deleted", DELETE_T, reader("eli") + paced("DeleteObject", user("eli"), "eli-media", VPS, 45)),
        # a data role reading a newly shared dataset at its own pace all day, from where it always works
        Case("data-role-reads-a-new-dataset-all-day", None, science_days + paced("GetObject", science, "dataset-partner-audio", OFFICE, 80, BOTO)),
        # ransomware re-encrypting a bucket the identity writes every day, with a key only it holds (Codefinger)
        Case("bucket-rewritten-with-a-customer-key", WRITE_T, clerk_days + data("CopyObject", clerk, "finance-uploads", now, OFFICE, CLI_UA, 150,
                                                                                   **{"x-amz-server-side-encryption-customer-algorithm": "AES256"})),
        # a pipeline that has always encrypted its outputs with its own key (SSE-C) writes a new bucket as usual
        Case("pipeline-uses-its-customer-key-as-always", None, sse_days + data("PutObject", sse_writer, "vault-exports", now, OFFICE, BOTO, 150,
                                                                                **{"x-amz-server-side-encryption-customer-algorithm": "AES256"})),
        Case("mass-overwrite-where-never-wrote", WRITE_T, analyst_days
             + data("PutObject", analyst, "marketing-assets", now, VPS, BOTO, 120, **{"x-amz-server-side-encryption-customer-algorithm": "AES256"})),
        Case("bucket-enumeration-from-far-away", DISCOVERY, analyst_days + [r for b in buckets for r in data("ListObjects", analyst, b, now, FAR, BOTO)]),
        Case("object-acl-opened-from-vps", PERMISSION_T, analyst_days + data("PutObjectAcl", analyst, "marketing-assets", now, VPS, BOTO,
                                                                           **{"x-amz-acl": "public-read"})),
        Case("nightly-backup-reads", None, backup_days + data("GetObject", backup, "finance-reports", now - timedelta(hours=start.hour - 2), OFFICE, BOTO, 150)),
        Case("daily-log-cleanup", None, cleaner_days + data("DeleteObject", cleaner, "app-logs", now, OFFICE, BOTO, 60)),
        Case("etl-overwrites-its-outputs", None, writer_days + data("PutObject", writer, "etl-output", now, OFFICE, BOTO, 120)),
        Case("analyst-blocks-public-access-from-vps", None, analyst_days + data("PutBucketPublicAccessBlock", analyst, "marketing-assets", now, VPS,
                                                                              BOTO, PublicAccessBlockConfiguration={
                                                                                  "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", **dict.fromkeys(_BPA_FLAGS, True)})),
        Case("analyst-locks-a-bucket-down-from-vps", None, analyst_days + data("PutBucketAcl", analyst, "marketing-assets", now, VPS, BOTO,
                                                                             **{"x-amz-acl": "private"})),
        Case("admin-policy-change-as-usual", None, admin_days + data("PutBucketPolicy", admin, "shared-docs", now, HOME, CLI_UA)),
        Case("analyst-reads-a-few-new-objects", None, analyst_days + data("GetObject", analyst, "finance-reports", now, OFFICE, CLI_UA, 20)),
        Case("new-hire-bulk-read", None, hire_days + data("GetObject", hire, "finance-reports", now, HOME, CLI_UA, 140)),
        # a bucket the identity created is its own: Terraform reading back the six it just made, a loader filling a new one
        Case("terraform-reads-back-the-buckets-it-created", None, reader("fay") + [
            r for i, b in enumerate(fresh) for r in created(user("fay"), b, now + timedelta(seconds=30 * i))
            + data("GetBucketAcl", user("fay"), b, now + timedelta(seconds=30 * i + 10), OFFICE, CLI_UA)]),
        Case("loader-fills-the-bucket-it-just-created", None, reader("gus") + created(user("gus"), "gus-curated", now)
             + data("PutObject", user("gus"), "gus-curated", now + timedelta(minutes=2), OFFICE, CLI_UA, 150)),
        # one 8 GB file uploaded in 120 parts to a bucket the identity never wrote: one object
        Case("one-large-multipart-upload", None, reader("hal") + multipart(user("hal"), "hal-archive", 120)),
        # a nightly reader's key, stolen, syncing the bucket it reads every night, from a rented server (and from abroad)
        Case("backup-key-syncs-its-own-bucket-from-a-vps", EXFIL, days(courier, "finance-exports", "GetObject", OFFICE, BOTO, n=10, hour=2)
             + data("GetObject", courier, "finance-exports", now, VPS, BOTO, 150)),
        Case("reader-key-syncs-its-own-bucket-from-abroad", EXFIL, reader("ivy") + data("GetObject", user("ivy"), "ivy-media", now, FAR, CLI_UA, 120)),
        # its own bucket from another network in the same country (a home line, a new office), or a few objects from abroad
        Case("reader-syncs-its-own-bucket-from-another-isp-at-home", None, reader("jon") + data("GetObject", user("jon"), "jon-media", now, "84.105.1.1",
                                                                                                CLI_UA, 150)),
        Case("reader-reads-a-few-of-its-objects-from-abroad", None, reader("kim") + data("GetObject", user("kim"), "kim-media", now, FAR, CLI_UA, 40)),
        # a Glue job reading its bucket every night through a VPC endpoint; its endpoint removed, tonight through a NAT gateway
        # (AWS's address: no country one travels to)
        Case("etl-reads-its-bucket-through-a-nat-gateway-now", None, days(glue, "lake-curated", "GetObject", "10.0.1.5", BOTO, n=10, hour=2)
             + data("GetObject", glue, "lake-curated", now, AWS_US, BOTO, 150)),
    ]
