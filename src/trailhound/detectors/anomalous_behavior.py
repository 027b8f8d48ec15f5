"""*:IAMUser/AnomalousBehavior — an identity calls an API of a tactic class in a way it never has.

Judged per identity against its own profile (``identity_profile``): a call fires when its API, of one
of the eight classes (``api_classes``), is unseen for this identity *and* so is at least one of where it
came from (ASN organisation or country) and the client it came through (user-agent family). One unusual
dimension is everyday life: a CI role deploying something new from its usual runners, an engineer on
the usual laptop abroad. Anonymizing egress (Tor, hosting and VPN networks), an unseen region, an hour
of the week the identity never works in and a burst of refused calls it never had are reported with it,
not on their own. A settled profile only (``identity_profile.settled``); AWS services,
service-linked roles and calls AWS makes for an identity are no one's behaviour (``principals``). S3 data
events are no API of a class but the identity at work: they count its active days and teach its places,
so a pipeline role that only reads and writes objects settles. AWS's own addresses are one place, "AWS",
and private ones another: a job's first run in another region, or through a new VPC endpoint, is no news.
Two things need somewhere the identity never was (a new country, AWS's regions being none, or an anonymizing network)
rather than a new network or client: a deployment's builds (``api_classes.BUILDS``: a key, a stack, a cluster), and
anything of a young identity (``identity_profile.young``: settled, but under ten days or seven active days old).

One finding per identity and class; its evidence is GuardDuty's ``service.detection.anomaly`` (the
profile's usual values by frequency, the unusual ones) and ``additionalInfo.anomalies.anomalousAPIs``:
every anomalous call of the identity in the hour up to it, by success and error.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors import identity_profile as ip
from trailhound.detectors.api_classes import BUILDS, classify
from trailhound.detectors.principals import anonymizing, call_sig, identity_key, place_memo, place_of, shown_value, travelled
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.runner import timed
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import HIGH, LOW, MEDIUM, Detection, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

NEARBY = 3600.0  # seconds: anomalous calls this close are one series
# Discovery is reading: one new read from a new place is a console page or a script run once, not
# enumeration, which is a series. Other classes change something, and one call is enough.
DISCOVERY_SERIES = 2
_CLASSES = {  # class: (severity, MITRE tactic, technique, what GuardDuty names)
    "CredentialAccess": (MEDIUM, "TA0006 Credential Access", "T1555.006 Credentials from Password Stores: Cloud Secrets Management Stores",
                         "secrets and passwords read (GetSecretValue, GetPasswordData...)"),
    "DefenseEvasion": (MEDIUM, "TA0005 Defense Evasion", "T1562 Impair Defenses", "logging, alarms or detectors deleted or stopped"),
    "Discovery": (LOW, "TA0007 Discovery", "T1580 Cloud Infrastructure Discovery", "identities, policies and resources enumerated"),
    "Exfiltration": (HIGH, "TA0010 Exfiltration", "T1537 Transfer Data to Cloud Account", "snapshots, images or replication shared out"),
    "Impact": (HIGH, "TA0040 Impact", "T1485 Data Destruction", "resources deleted, policies replaced"),
    "InitialAccess": (MEDIUM, "TA0001 Initial Access", "T1078.004 Valid Accounts: Cloud Accounts", "sessions and tokens obtained"),
    "Persistence": (MEDIUM, "TA0003 Persistence", "T1098.001 Account Manipulation: Additional Cloud Credentials",
                    "users, keys or login profiles created"),
    "PrivilegeEscalation": (MEDIUM, "TA0004 Privilege Escalation", "T1098.003 Account Manipulation: Additional Cloud Roles",
                            "policies attached, roles or profiles changed"),
}


# Trailhound extension classes (GuardDuty has no type for them; ``api_classes.classify``): class -> (type, severity,
# MITRE tactic, technique, what)
EXTENSIONS = {
    "InstanceLaunch": ("Impact:IAMUser/Trailhound.UnusualInstanceLaunch", MEDIUM, "TA0040 Impact", "T1496 Resource Hijacking",
                       ("GPU, accelerated, bare-metal or ≥24xlarge instances launched, or ten or more of ≥8xlarge in one call (RunInstances "
                        "of a family new to the identity)")),
    "RunCommand": ("Execution:IAMUser/Trailhound.UnusualRunCommand", MEDIUM, "TA0002 Execution", "T1651 Cloud Administration Command",
                   "commands run on instances through SSM (SendCommand)"),
    "InstanceConnect": ("LateralMovement:IAMUser/Trailhound.UnusualInstanceConnect", MEDIUM, "TA0008 Lateral Movement",
                        "T1021.004 Remote Services: SSH", "an SSH key pushed to an instance through EC2 Instance Connect (SendSSHPublicKey)"),
    "SerialConsole": ("LateralMovement:IAMUser/Trailhound.UnusualSerialConsoleAccess", MEDIUM, "TA0008 Lateral Movement",
                      "T1021.004 Remote Services: SSH", "serial console access enabled or an SSH key pushed to an instance's serial console"),
}
_EGRESS = {"Tor": "a Tor exit node", "hosting": "a hosting network", "VPN": "a commercial VPN or datacenter range"}
_RULE = "unseen for the identity, from an unseen network or country or through an unseen client, after a week of history"


def type_of(cls: str) -> str:
    return EXTENSIONS[cls][0] if cls in EXTENSIONS else f"{cls}:IAMUser/AnomalousBehavior"


class AnomalousBehavior(KeyedDetector[ip.IdentityProfile]):
    name = "iam-anomalous-behavior"
    consumes = Source.CLOUDTRAIL
    method = "behaviour"
    State: ClassVar[type[msgspec.Struct]] = ip.IdentityProfile
    ttl = ip.TTL
    findings = tuple(FindingType(type_of(c), severity(level), tactic, technique, f"{what}: an API of the class {_RULE}")
                     for c, (level, tactic, technique, what) in _CLASSES.items()) + tuple(
        FindingType(name, severity(level), tactic, technique, f"{what}: {_RULE}", extension=True)
        for name, level, tactic, technique, what in EXTENSIONS.values())

    key_by = staticmethod(identity_key)  # shared: computed once per call for every identity detector
    facts_by = staticmethod(call_sig)

    def update(self, key: str, rows: list[ApiCall], state: ip.IdentityProfile | None, watermark: float) -> tuple[list[Occurrence], Any]:
        st = state if state is not None else ip.IdentityProfile()
        hits: list[tuple[str, ApiCall, dict[str, str], str | None]] = []  # (class, its first anomalous call of a series)
        learned: set[tuple[Any, ...]] = set()  # calls that only taught the profile: their like again the same day teaches nothing
        parts: dict[int, tuple[Any, ...]] = {}  # call_sig -> (class, api, number of what the like is made of, refusal family): once per alike call
        numbers: dict[tuple[Any, ...], int] = {}  # what a like is made of -> its number (a small int hashes faster than the tuple)
        memo = place_memo(rows)
        data_seen: set[tuple[Any, ...]] = set()  # (day, address, agent) of S3 data events already learned
        next_block = -1.0  # the hour-of-week profile learns once per block of the day: a call past this starts one
        for t, e, sig in timed(rows):
            if t >= next_block:
                next_block = t - t % ip.BLOCK + ip.BLOCK
                ip.learn(st, {ip.HOUR: ip.hour_of_week(t)}, t)
            if e.event_category == "Data":
                # an S3 data event is no API of a class, but the identity at work: its days and places (a pipeline role
                # that only reads and writes objects settles, and a stolen key's first management call is judged)
                seen = (int(t // ip.DAY), e.source_ip, e.user_agent)
                if seen not in data_seen:
                    data_seen.add(seen)
                    ip.observe_day(st, t)
                    place = place_of(e, self.places, memo)
                    ip.learn(st, {ip.NETWORK: place.network, ip.COUNTRY: place.country, ip.AGENT: place.agent, ip.REGION: e.aws_region or None}, t)
                continue
            ready = t - st.first >= ip.WARMUP and st.days >= ip.MIN_ACTIVE_DAYS  # ip.settled, inlined: it is asked of every call
            part = parts.get(sig) if sig is not None else None
            if part is None:
                cls, api = classify(e)
                made = (e.source_ip, e.user_agent, e.aws_region, cls, api, e.succeeded)
                part = (cls, api, numbers.setdefault(made, len(numbers)), ip.refused(e))
                if sig is not None:
                    parts[sig] = part
            cls, api, number, denied = part
            if denied:  # (before the skip below: a burst is the same refused call again; the call's number knows its error)
                ip.observe_refusal(st, t, denied)
            like = (int(t // ip.DAY), ready, number)
            if like in learned:
                continue
            anomalous = False
            ip.observe_day(st, t)
            place = place_of(e, self.places, memo)
            info = place.info
            values = {ip.NETWORK: place.network, ip.COUNTRY: place.country, ip.AGENT: place.agent, ip.REGION: e.aws_region or None}
            # a failed sign-in is no access, only evidence (its burst) for what the identity does next
            if cls is not None and denied != ip.FAILED_SIGN_IN and ip.settled(st, t) and ip.unseen(st, ip.API, api, t):
                odd = {d: str(v) for d, v in values.items() if ip.unseen(st, d, v, t)}
                if ip.REGION in odd and ip.saturated(st, ip.REGION):
                    del odd[ip.REGION]  # a scanner calling every region keeps the last few: today's is no news (evidence only)
                where = odd.keys() & {ip.NETWORK, ip.COUNTRY, ip.AGENT}
                # the console, from a network and country the identity works from, is the person (its password, its MFA):
                # a CLI user rotating its own key in the console at the office is no new client
                if where == {ip.AGENT} and values[ip.AGENT] == "browser":
                    where = set()
                # a deployment's builds (a key, a stack, a cluster) are judged only from somewhere the identity never was: a
                # new country (AWS's regions are no country), or a network that anonymizes
                # (and, of a young identity, anything: ``ip.young``)
                if where and (api in BUILDS or ip.young(st, t)) \
                        and not (ip.COUNTRY in where and travelled(values[ip.COUNTRY])) \
                        and anonymizing(e.source_ip, info, self.intel, self.places) is None:
                    where = set()
                if where:
                    hour = ip.hour_of_week(t)  # like the region, evidence only: everyone works late some day
                    if ip.unseen(st, ip.HOUR, hour, t):
                        odd[ip.HOUR] = hour
                    st.recent = [r for r in st.recent if t - r[0] <= NEARBY][-15:] + [[t, api, cls, e.succeeded]]
                    anomalous = True
                    if (cls != "Discovery" or sum(1 for r in st.recent if r[2] == "Discovery") >= DISCOVERY_SERIES) and \
                            t - st.reported.get(cls, -NEARBY) >= NEARBY:  # (kept in the state: the same reports whatever the batches)
                        st.reported[cls] = t
                        hits.append((cls, e, {ip.API: api, **odd}, anonymizing(e.source_ip, info, self.intel, self.places)))
            ip.learn(st, values, t, new=ip.teaches_places(e))
            if cls is not None and e.succeeded:  # a refused call is no habit
                ip.learn(st, {ip.API: api}, t)
            if not anomalous:
                learned.add(like)  # (a profile learns once per day: the same call again the same day changes nothing)
        return [self._report(key, st, *hit) for hit in hits], st

    def _report(self, key: str, st: ip.IdentityProfile, cls: str, e: ApiCall, unusual: dict[str, str], anon: str | None) -> Occurrence:
        t = e.event_time.timestamp()
        series = [r for r in st.recent if abs(r[0] - t) <= NEARBY]
        burst = ip.burst_near(st, t, NEARBY)  # refused calls around it, never seen from this identity: evidence only
        if burst:
            unusual = {**unusual, ip.ERRORS: burst}
        apis = {"success": sorted({f"{r[1]} ({r[2]})" for r in series if r[3]}), "error": sorted({f"{r[1]} ({r[2]})" for r in series if not r[3]})}
        ftype = type_of(cls)
        what = ", ".join(f"{d.lower().replace('_', ' ')} {shown_value(v)}" for d, v in unusual.items() if d != ip.API)
        tactic = EXTENSIONS[cls][2].split(" ", 1)[1] if cls in EXTENSIONS else cls
        occ = api_occurrence(
            e, ftype, self.severity(ftype),
            f"APIs commonly used in {tactic} tactics were invoked by {e.user_identity.type} {e.user_identity.name} under unusual circumstances.",
            f"{unusual[ip.API]}, an API of the {cls} class that {e.user_identity.name} has not called before, was invoked from {e.source_ip} "
            f"with {what}, all unseen for this identity" + (f", through anonymizing infrastructure ({_EGRESS[anon]})" if anon else "") + ".",
            additional_info={"anomalies": {"anomalousAPIs": apis}, "unusual": unusual, "anonymizingEgress": anon is not None,
                             **({"anonymizer": anon} if anon else {}),
                             "profileDays": st.days},
        )
        occ.detection = Detection(anomaly=ip.anomaly(key, st, unusual, t))
        return occ


# Public addresses of the cases (none on a packaged list): an office and a home network, a rented server,
# a far-away network
OFFICE, HOME, VPS, FAR = "77.60.50.185", "80.141.122.103", "46.4.233.216", "45.149.17.157"
AWS_US, AWS_IE, AWS_DE = "3.238.166.21", "52.16.0.10", "18.184.0.10"  # AWS's addresses in us-east-1, eu-west-1, eu-central-1
VPN = "185.161.202.37"  # a commercial VPN's exit (PacketHub S.A., NordVPN's network), on the shipped vpn-ipv4 list
RUNNERS = ("20.42.67.31", "20.57.216.90", "20.42.123.77")  # hosted CI runners, one cloud's network
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
BOTO = "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.12.3 md/pyimpl#CPython Botocore/1.35.36"
TF = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.74.0 aws-sdk-go-v2/1.32.3"


def role_session(account: str, role: str, session: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROA{role.upper()[:12]:X<12}77:{session}", "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account, "accessKeyId": f"ASIA{session.upper().replace('-', '')[:12]:X<12}0001",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{role}", "accountId": account, "userName": role},
                               "attributes": {"creationDate": "2026-11-01T08:00:00Z", "mfaAuthenticated": "false"}}}


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import CLI_UA, Case, failed_sign_in, iam_user, record

    s3, athena, iam, ec2, sts, cfn, lam = ("s3.amazonaws.com", "athena.amazonaws.com", "iam.amazonaws.com", "ec2.amazonaws.com",
                                           "sts.amazonaws.com", "cloudformation.amazonaws.com", "lambda.amazonaws.com")
    t = iter(start + timedelta(minutes=2 * i) for i in range(200))

    def now(api: str, service: str, who: dict[str, Any], ip_: str, ua: str, **kw: Any) -> dict[str, Any]:
        return record(api, service, time=next(t), account=account, identity=who, ip=ip_, ua=ua, **kw)

    analyst = iam_user(account, "nora-analyst")  # S3 and Athena from the office, every day
    analyst_days = ip.daily(start, 14, analyst, [("ListBuckets", s3), ("GetBucketLocation", s3), ("StartQueryExecution", athena),
                                                 ("GetQueryResults", athena)], [OFFICE], CLI_UA, account)
    persistence = [now("CreateUser", iam, analyst, VPS, BOTO, params={"userName": "svc-sync"}),
                   now("CreateAccessKey", iam, analyst, VPS, BOTO, params={"userName": "svc-sync"}),
                   now("AttachUserPolicy", iam, analyst, VPS, BOTO, params={"userName": "svc-sync", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})]
    checked = [record("GetCallerIdentity", sts, time=start - timedelta(days=2, hours=3), account=account, identity=analyst, ip=VPS, ua=BOTO)]
    sam, new_home = iam_user(account, "sam-ops"), "88.70.12.34"  # (ops below) a day at a new home network: it checks who it is, then works
    moved = [record(api, svc, time=start - timedelta(days=1, minutes=60 - 5 * i), account=account, identity=sam, ip=new_home, ua=CLI_UA)
             for i, (api, svc) in enumerate((("GetCallerIdentity", sts), ("DescribeInstances", ec2), ("DescribeSecurityGroups", ec2)))]
    moved_work = [now("CreateAccessKey", iam, sam, new_home, CLI_UA, params={"userName": "sam-ops"})]
    frank = iam_user(account, "frank-cli")  # the CLI from the office every day; today the console, from the office, to rotate his key
    frank_days = ip.daily(start, 14, frank, [("DescribeInstances", ec2), ("ListBuckets", s3)], [OFFICE], CLI_UA, account)
    rotation = [now("ConsoleLogin", "signin.amazonaws.com", frank, OFFICE, BROWSER, response={"ConsoleLogin": "Success"}),
                now("CreateAccessKey", iam, frank, OFFICE, BROWSER),
                now("UpdateAccessKey", iam, frank, OFFICE, BROWSER, params={"accessKeyId": "AKIAFRANKOLDKEY00001", "status": "Inactive"}),
                now("DeleteAccessKey", iam, frank, OFFICE, BROWSER, params={"accessKeyId": "AKIAFRANKOLDKEY00001"})]
    # another analyst's key created through a commercial VPN with a new client: anonymizing egress in the finding
    vera = iam_user(account, "vera-analyst")
    vera_days = ip.daily(start, 14, vera, [("ListBuckets", s3), ("StartQueryExecution", athena)], [OFFICE], CLI_UA, account)
    vpn_key = [now("CreateAccessKey", iam, vera, VPN, BOTO, params={"userName": "vera-analyst"})]
    ops = iam_user(account, "sam-ops")
    ops_days = ip.daily(start, 14, ops, [("DescribeInstances", ec2), ("GetCallerIdentity", sts), ("DescribeSecurityGroups", ec2)], [HOME], CLI_UA, account)
    recon = [now(api, iam, ops, FAR, "python-requests/2.32.3") for api in ("ListUsers", "ListRoles", "GetAccountAuthorizationDetails", "ListAttachedUserPolicies")]
    # a role: a new session every day, one profile (keyed on the role)
    backup_days = [r for d in range(14, 0, -1) for r in ip.daily(start - timedelta(days=d - 1), 1, role_session(account, "backup-operator", f"nightly-{d}"),
                                                                   [("CreateSnapshot", ec2), ("DescribeSnapshots", ec2)], [OFFICE], BOTO, account, hour=2)]
    exfil = [now("ModifySnapshotAttribute", ec2, role_session(account, "backup-operator", "nightly-0"), VPS, "aws-cli/2.17.50 ua/2.0 os/linux",
                 params={"snapshotId": "snap-0feed", "createVolumePermission": {"add": {"items": [{"userId": "999988887777"}]}}})]
    # the CI role deploys every day from the hosted runners; today it also updates a function, as deployments do
    ci = [("DescribeStacks", cfn), ("CreateChangeSet", cfn), ("ExecuteChangeSet", cfn), ("GetCallerIdentity", sts)]
    ci_days = [r for d in range(14, 0, -1) for r in ip.daily(start - timedelta(days=d - 1), 1, role_session(account, "ci-release", f"gh-run-{d}"), ci,
                                                               list(RUNNERS), TF, account, hour=8)]
    ci_today = [now(api, svc, role_session(account, "ci-release", "gh-run-0"), RUNNERS[1], TF) for api, svc in ci + [("UpdateFunctionCode20150331v2", lam)]]
    hire = iam_user(account, "omar-new-hire")  # started three days ago
    hire_days = ip.daily(start, 3, hire, [("DescribeInstances", ec2), ("ListBuckets", s3)], [HOME], CLI_UA, account)
    hire_today = [now("CreateAccessKey", iam, hire, VPS, BOTO, params={"userName": "omar-new-hire"})]
    traveller = iam_user(account, "ines-console")
    travel_days = ip.daily(start, 14, traveller, [("ConsoleLogin", "signin.amazonaws.com"), ("DescribeInstances", ec2), ("ListBuckets", s3)],
                           [HOME], BROWSER, account)
    abroad = [now("ConsoleLogin", "signin.amazonaws.com", traveller, FAR, BROWSER, response={"ConsoleLogin": "Success"}),
              now("DescribeInstances", ec2, traveller, FAR, BROWSER), now("ListBuckets", s3, traveller, FAR, BROWSER)]
    linked = role_session(account, "aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", "ecs-service-scheduler")
    service = [{**now("DeleteNetworkInterface", ec2, linked, VPS, "ecs.amazonaws.com"), "sourceIPAddress": "ecs.amazonaws.com"}]
    # one developer per remaining class: a fortnight from home with the CLI, then the class's API from far away through a script
    others = []
    ssm, connect = "ssm.amazonaws.com", "ec2-instance-connect.amazonaws.com"
    gpu = {"instanceType": "p3.8xlarge", "instancesSet": {"items": [{"imageId": "ami-0c7217cdde317cfec", "minCount": 1, "maxCount": 8}]}}
    for cls, (api, svc, params) in {"CredentialAccess": ("GetSecretValue", "secretsmanager.amazonaws.com", None), "DefenseEvasion": ("DeleteFlowLogs", ec2, None),
                                    "Impact": ("DeleteSecurityGroup", ec2, None), "InitialAccess": ("StartSession", ssm, None),
                                    "PrivilegeEscalation": ("PutUserPolicy", iam, None), "InstanceLaunch": ("RunInstances", ec2, gpu),
                                    "RunCommand": ("SendCommand", ssm, {"documentName": "AWS-RunShellScript", "instanceIds": ["i-0a1b2c3d4e5f60718"]}),
                                    "InstanceConnect": ("SendSSHPublicKey", connect, {"instanceId": "i-0a1b2c3d4e5f60718", "instanceOSUser": "ec2-user"}),
                                    "SerialConsole": ("SendSerialConsoleSSHPublicKey", connect, {"instanceId": "i-0a1b2c3d4e5f60718", "serialPort": 0})}.items():
        dev = iam_user(account, f"dev-{cls.lower()}")
        days = ip.daily(start, 14, dev, [("DescribeInstances", ec2), ("GetCallerIdentity", sts)], [HOME], CLI_UA, account)
        others.append(Case(f"{cls.lower()}-api-from-far-away", type_of(cls), days + [now(api, svc, dev, FAR, "python-requests/2.32.3", params=params)]))
    # a developer opens SSH to the whole internet from far away (Stratus's exfiltration technique); the same rule for
    # one address is an access path kept open: Persistence, as the API is listed
    netdev = iam_user(account, "dev-network")
    netdev_days = ip.daily(start, 14, netdev, [("DescribeInstances", ec2), ("DescribeSecurityGroups", ec2)], [HOME], CLI_UA, account)
    ssh = {"groupId": "sg-0a1b2c3d4e5f60718", "ipProtocol": "tcp", "fromPort": 22, "toPort": 22}
    world_ssh = [now("AuthorizeSecurityGroupIngress", ec2, netdev, FAR, "python-requests/2.32.3", params={**ssh, "cidrIp": "0.0.0.0/0"})]
    netops = iam_user(account, "ops-network")  # another identity: in one estate, the first call would teach the second's API
    netops_days = ip.daily(start, 14, netops, [("DescribeInstances", ec2), ("DescribeSecurityGroups", ec2)], [HOME], CLI_UA, account)
    one_ssh = [now("AuthorizeSecurityGroupIngress", ec2, netops, FAR, "python-requests/2.32.3",
                   params={"groupId": ssh["groupId"], "ipPermissions": {"items": [
                       {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": f"{FAR}/32"}]}}]}})]
    # GPU training launched every day by the ML pipeline: today from a new runner network, the family is its habit
    ml = role_session(account, "ml-training", "pipeline")
    ml_days = ip.daily(start, 14, ml, [("RunInstances", ec2), ("DescribeInstances", ec2)], list(RUNNERS), BOTO, account)
    ml_days = [{**r, "requestParameters": gpu} if r["eventName"] == "RunInstances" else r for r in ml_days]
    ml_today = [now("RunInstances", ec2, ml, VPS, BOTO, params={**gpu, "instanceType": "p3.2xlarge"})]
    # a data scientist's first GPU instance, from home through the usual CLI: one new thing is daily life
    scientist = iam_user(account, "dana-data-science")
    scientist_days = ip.daily(start, 14, scientist, [("DescribeInstances", ec2), ("ListBuckets", s3)], [HOME], CLI_UA, account)
    first_gpu = [now("RunInstances", ec2, scientist, HOME, CLI_UA, params=gpu)]
    # a CPU miner's fleet: twenty 32-core instances in one call, from far away, by a developer who never launched any
    fleet = {"instanceType": "c6i.8xlarge", "instancesSet": {"items": [{"imageId": "ami-0c7217cdde317cfec", "minCount": 20, "maxCount": 20}]}}
    miner = iam_user(account, "dev-builds")
    miner_days = ip.daily(start, 14, miner, [("DescribeInstances", ec2), ("GetCallerIdentity", sts)], [HOME], CLI_UA, account)
    miner_today = [now("RunInstances", ec2, miner, FAR, "python-requests/2.32.3", params=fleet)]
    # a render farm's role launching its twelve 32-core workers every night, as tonight
    farm = role_session(account, "render-farm", "nightly")
    render = {**fleet, "instancesSet": {"items": [{"imageId": "ami-0c7217cdde317cfec", "minCount": 12, "maxCount": 12}]}}
    farm_days = [r for d in range(14, 0, -1) for r in [record("RunInstances", ec2, time=start - timedelta(days=d, hours=6), account=account,
                                                              identity=farm, ip=OFFICE, ua=BOTO, params=render)]]
    farm_today = [now("RunInstances", ec2, farm, OFFICE, BOTO, params=render)]
    # an operator who runs SSM commands daily, today from a hotel (the API is a habit)
    sre = iam_user(account, "sre-oncall")
    sre_days = ip.daily(start, 14, sre, [("SendCommand", ssm), ("DescribeInstanceInformation", ssm)], [HOME], CLI_UA, account)
    sre_today = [now("SendCommand", ssm, sre, FAR, CLI_UA, params={"documentName": "AWS-RunShellScript"})]
    # a CLI user's console password guessed from far away, then the sign-in that works; a console user's typo
    guessed = iam_user(account, "theo-cli")
    guessed_days = ip.daily(start, 14, guessed, [("DescribeInstances", ec2), ("ListBuckets", s3)], [HOME], CLI_UA, account)
    at = next(t)
    guesses = [failed_sign_in(account, "theo-cli", time=at + timedelta(seconds=20 * i), ip=FAR, ua=BROWSER) for i in range(14)]
    in_ = [record("ConsoleLogin", "signin.amazonaws.com", time=at + timedelta(minutes=6), account=account, identity=guessed, ip=FAR, ua=BROWSER,
                  response={"ConsoleLogin": "Success"})]
    clerk = iam_user(account, "uma-console")
    clerk_days = ip.daily(start, 14, clerk, [("ConsoleLogin", "signin.amazonaws.com"), ("DescribeInstances", ec2)], [OFFICE], BROWSER, account)
    typo = [failed_sign_in(account, "uma-console", time=at, ip=OFFICE, ua=BROWSER),
            record("ConsoleLogin", "signin.amazonaws.com", time=at + timedelta(seconds=30), account=account, identity=clerk, ip=OFFICE,
                   ua=BROWSER, response={"ConsoleLogin": "Success"})]
    # a console user's first CloudShell session, in a region far from her desk: the shell's address is AWS's there
    shell_user = iam_user(account, "lea-console")
    shell_days = ip.daily(start, 14, shell_user, [("ConsoleLogin", "signin.amazonaws.com"), ("DescribeInstances", ec2)], [OFFICE], BROWSER, account)
    shell = "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.1.115-126.197.amzn2023.x86_64 md/arch#x86_64 lang/python#3.12.6 " \
            "md/pyimpl#CPython exec-env/CloudShell cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off " \
            "md/command#ec2.terminate-instances"
    first_shell = [now("TerminateInstances", ec2, shell_user, "3.238.166.21", shell, params={"instancesSet": {"items": [{"instanceId": "i-0f1e2d"}]}})]
    spoofer = iam_user(account, "max-console")  # the shell's agent, claimed from a rented server: judged as where it is
    spoof_days = ip.daily(start, 14, spoofer, [("ConsoleLogin", "signin.amazonaws.com"), ("DescribeInstances", ec2)], [OFFICE], BROWSER, account)
    spoof = [now("TerminateInstances", ec2, spoofer, VPS, shell, params={"instancesSet": {"items": [{"instanceId": "i-0f1e2d"}]}})]
    # where AWS runs a job is no one's country: an ETL role's first run in another region (AWS's addresses there), a function's
    # first call through a new VPC's endpoint (another private range); a developer's key from an EC2 address is a new place
    sm = "secretsmanager.amazonaws.com"
    etl = role_session(account, "etl-nightly", "glue-run")
    etl_days = ip.daily(start, 14, etl, [("GetTable", "glue.amazonaws.com"), ("GetDatabase", "glue.amazonaws.com")], [AWS_US], BOTO, account, hour=3)
    etl_today = [now("GetSecretValue", sm, etl, AWS_IE, BOTO)]
    fn = role_session(account, "orders-function", "orders-function")
    fn_days = ip.daily(start, 14, fn, [("GetItem", "dynamodb.amazonaws.com"), ("PutItem", "dynamodb.amazonaws.com")], ["10.0.1.5"], BOTO, account)
    fn_today = [now("GetSecretValue", sm, fn, "10.20.3.4", BOTO)]
    stolen_dev = iam_user(account, "dev-secrets")
    stolen_days = ip.daily(start, 14, stolen_dev, [("DescribeInstances", ec2), ("ListBuckets", s3)], [HOME], CLI_UA, account)
    from_ec2 = [now("GetSecretValue", sm, stolen_dev, AWS_DE, CLI_UA)]
    # a boto3 user's first secret read, from a notebook whose pandas signs through aiobotocore: the same SDK
    pandas = iam_user(account, "pia-notebooks")
    pandas_days = ip.daily(start, 14, pandas, [("DescribeInstances", ec2), ("ListBuckets", s3)], [OFFICE], BOTO, account)
    pandas_today = [now("GetSecretValue", sm, pandas, OFFICE, "aiobotocore/2.15.2 md/Botocore#1.35.36 ua/2.0 os/linux#6.8.0 lang/python#3.12.3 "
                                                               "Botocore/1.35.36")]
    # a pipeline role that only reads and writes objects (S3 data events), from AWS, every night: its key, stolen, suspends
    # versioning from a rented server; its own first management call, from where it always runs, is work
    def objects(who: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
        return [{**r, "eventCategory": "Data", "managementEvent": False, "readOnly": False,
                 "requestParameters": {"bucketName": bucket, "key": f"part-{i}.parquet"}}
                for i, r in enumerate(ip.daily(start, 14, who, [("PutObject", s3), ("GetObject", s3)], [AWS_US], BOTO, account, hour=2))]
    loader, compactor = role_session(account, "lake-loader", "run"), role_session(account, "lake-compactor", "run")
    versioning = {"bucketName": "lake-raw", "VersioningConfiguration": {"Status": "Suspended"}}
    loader_stolen = [now("PutBucketVersioning", s3, loader, VPS, BOTO, params=versioning)]
    compactor_own = [now("PutBucketVersioning", s3, compactor, AWS_US, BOTO, params={**versioning, "bucketName": "lake-tmp"})]
    deployer, thief_role = role_session(account, "platform-deploy", "tf-apply"), role_session(account, "edge-deploy", "tf-apply")
    deploy_days = [r for d in range(14, 0, -1) for r in ip.daily(start - timedelta(days=d - 1), 1, role_session(account, "platform-deploy", f"tf-{d}"),
                                                                   ci, list(RUNNERS), TF, account, hour=9)]
    thief_days = [r for d in range(14, 0, -1) for r in ip.daily(start - timedelta(days=d - 1), 1, role_session(account, "edge-deploy", f"tf-{d}"),
                                                                  ci, list(RUNNERS), TF, account, hour=9)]
    kms = "kms.amazonaws.com"
    key_policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                                                     "Action": "kms:*", "Resource": "*"}]})
    builds = [("CreateKey", kms, {"description": "app data", "keyUsage": "ENCRYPT_DECRYPT"}),
              ("PutKeyPolicy", kms, {"keyId": "mrk-1", "policyName": "default", "policy": key_policy}),
              ("AuthorizeSecurityGroupEgress", ec2, {"groupId": "sg-0app", "ipPermissions": {"items": [
                  {"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
              ("CreateStack", cfn, {"stackName": "app-eu", "templateURL": "https://s3.amazonaws.com/tpl/app.json"})]
    webdev = iam_user(account, "dev-web")
    webdev_days = ip.daily(start, 14, webdev, [("DescribeInstances", ec2), ("DescribeSecurityGroups", ec2)], [HOME], CLI_UA, account)
    hire2, hire3 = iam_user(account, "pim-new-hire"), iam_user(account, "roos-new-hire")  # nine working days at the office
    hire2_days, hire3_days = (ip.daily(start, 9, who, [("DescribeInstances", ec2), ("ListBuckets", s3)], [OFFICE], CLI_UA, account)
                              for who in (hire2, hire3))
    hire_firsts = [("CreateAccessKey", iam, {"userName": "self"}), ("GetAuthorizationToken", "ecr.amazonaws.com", None),
                   ("AttachRolePolicy", iam, {"roleName": "app", "policyArn": f"arn:aws:iam::{account}:policy/app-read"})]
    cdk_dev = iam_user(account, "dev-cdk")
    cdk_days = ip.daily(start, 14, cdk_dev, [("DescribeStacks", cfn), ("GetCallerIdentity", sts)], [HOME], CLI_UA, account)
    return others + [
        Case("console-user-first-cloudshell-far-from-her-desk", None, shell_days + first_shell),
        Case("etl-role-first-run-in-another-region", None, etl_days + etl_today),
        Case("function-first-call-through-a-new-vpc-endpoint", None, fn_days + fn_today),
        Case("developer-key-reads-a-secret-from-an-ec2-address", type_of("CredentialAccess"), stolen_days + from_ec2),
        Case("boto3-user-reads-a-secret-through-pandas", None, pandas_days + pandas_today),
        Case("cloudshell-agent-claimed-from-outside-aws", type_of("DefenseEvasion"), spoof_days + spoof),
        Case("console-password-guessed-then-sign-in-from-far-away", type_of("InitialAccess"), guessed_days + guesses + in_),
        Case("console-user-mistypes-then-signs-in", None, clerk_days + typo),
        Case("ml-pipeline-launches-gpus-as-every-day", None, ml_days + ml_today),
        Case("data-scientist-first-gpu-from-home", None, scientist_days + first_gpu),
        Case("developer-launches-twenty-large-cpus-from-far-away", EXTENSIONS["InstanceLaunch"][0], miner_days + miner_today),
        Case("render-farm-launches-its-nightly-workers", None, farm_days + farm_today),
        Case("sre-runs-commands-from-a-hotel", None, sre_days + sre_today),
        # (and grants the new user AdministratorAccess: privilege escalation too)
        Case("analyst-creates-user-and-key-from-vps", type_of("Persistence"), analyst_days + persistence,
             also=frozenset({type_of("PrivilegeEscalation")})),
        Case("analyst-creates-key-through-a-commercial-vpn", type_of("Persistence"), vera_days + vpn_key),
        Case("operator-enumerates-iam-from-far-away", type_of("Discovery"), ops_days + recon),
        Case("cli-user-rotates-its-key-in-the-console-at-the-office", None, frank_days + rotation),
        # a leaked key checked from a rented server two days before it is used from there: asking who it is taught no place
        Case("key-checked-from-vps-then-used-from-it", type_of("Persistence"), analyst_days + checked + persistence,
             also=frozenset({type_of("PrivilegeEscalation")})),
        # the operator worked from a new home network yesterday (not only asked who it is): today's new key from there is no anomaly
        Case("operator-rotates-its-key-from-yesterdays-new-home", None, ops_days + moved + moved_work),
        # one new read from a new place (a console page, a script run once) is no enumeration
        Case("operator-reads-one-new-config-from-far-away", None, ops_days + recon[:1]),
        Case("backup-role-shares-snapshot-from-vps", type_of("Exfiltration"), backup_days + exfil),
        Case("developer-opens-ssh-to-the-world-from-far-away", type_of("Exfiltration"), netdev_days + world_ssh),
        Case("operator-opens-ssh-to-one-address-from-far-away", type_of("Persistence"), netops_days + one_ssh),
        Case("ci-role-deploys-as-every-day", None, ci_days + ci_today),
        Case("new-hire-first-week", None, hire_days + hire_today),
        Case("traveller-signs-in-abroad", None, travel_days + abroad),
        Case("service-linked-role", None, service),
        # (after the snapshot case: the first case of a type is its sample finding)
        Case("data-only-role-key-suspends-versioning-from-a-vps", type_of("Exfiltration"), objects(loader, "lake-raw") + loader_stolen),
        Case("data-only-role-first-management-call-where-it-runs", None, objects(compactor, "lake-tmp") + compactor_own),
        # a deploy role's first stack in a new region, from a self-hosted runner there (AWS's address): its builds are work;
        # the same builds from a rented server are the key in someone else's hands
        Case("deploy-role-builds-a-stack-from-a-runner-in-a-new-region", None, deploy_days + [
            now(api, svc, deployer, AWS_IE, TF, params=params) for api, svc, params in builds]),
        Case("deploy-key-builds-from-a-rented-server", type_of("Impact"), thief_days + [
            now(api, svc, thief_role, VPS, TF, params=params) for api, svc, params in builds], also=frozenset({type_of("Exfiltration")})),
        # a web service's load balancer opened to the world on 443, from far away: an access path kept open (Persistence), not
        # an exfiltration path as SSH or a database would be
        Case("developer-opens-https-to-the-world-from-far-away", type_of("Persistence"), webdev_days + [
            now("AuthorizeSecurityGroupIngress", ec2, webdev, FAR, "python-requests/2.32.3", params={**ssh, "fromPort": 443, "toPort": 443,
                                                                                                     "cidrIp": "0.0.0.0/0"})]),
        # a new employee's second week, settled but young: the first day from home (another network in the same country) is
        # no news; the same first calls from a rented server are
        Case("new-hire-second-week-first-day-from-home", None, hire2_days + [
            now(api, svc, hire2, "84.105.1.1", CLI_UA, params=params) for api, svc, params in hire_firsts]),
        Case("new-hire-second-week-key-from-a-rented-server", type_of("Persistence"), hire3_days + [
            now(api, svc, hire3, VPS, CLI_UA, params=params) for api, svc, params in hire_firsts],
             also=frozenset({type_of("InitialAccess"), type_of("PrivilegeEscalation"), "AttackSequence:IAM/CompromisedCredentials"})),
        # a developer's first `cdk deploy`: a new client assuming the account's own deploy role
        Case("developer-assumes-its-accounts-deploy-role-with-a-new-tool", None, cdk_days + [
            now("AssumeRole", sts, cdk_dev, HOME, "aws-cdk/2.170.0 aws-sdk-js/3.699.0 ua/2.1 os/linux lang/js md/nodejs#20.18.0",
                params={"roleArn": f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-us-east-1", "roleSessionName": "aws-cdk-dev"})]),
    ]
