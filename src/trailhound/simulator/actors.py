"""Who makes API calls in the estate and what they call: the catalogue of operations (event source, name,
request parameters), the actors (instance roles, IAM users by habit, SSO people, Auto Scaling) and the
weighted mix of operations each kind of actor calls.

The catalogue is benign on purpose: no defense-evasion or policy-weakening calls (``FORBIDDEN_EVENT_NAMES``).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from trailhound.simulator.estate import Account, Estate, Instance, User
from trailhound.simulator.spec import ALNUM, hexid, region_short, uuid_from_hex

# Event names the benign background must never contain (they are what detectors look for).
FORBIDDEN_EVENT_NAMES = frozenset({
    "StopLogging", "DeleteTrail", "UpdateTrail", "UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy",
    "PutBucketPolicy", "PutBucketAcl", "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
    "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock", "PutBucketLogging",
})

ERROR_RATE = 0.07  # of failable calls; ~3% of all records end up with an errorCode


@dataclass
class Actor:
    """One caller: its operation mix (cumulative weights), share of the account's records, and how long
    each of its credentials lasts (``bucket_len`` seconds)."""

    key: int
    kind: str  # user | instance | sso | autoscaling | ec2svc
    acct: Account
    ops: list[Op]
    cum: list[float]
    weight: float
    bucket_len: int
    data_p: float = 0.0
    buckets: tuple[int, ...] = ()
    region: str = "us-east-1"
    user: User | None = None
    inst: Instance | None = None
    person: str = ""


@dataclass
class Op:
    """One API operation; ``req`` and ``resources`` draw its requestParameters and resources for an actor."""

    idx: int
    source: str
    name: str
    read_only: bool
    req: Callable[[Actor, random.Random], Any] | None = None  # requestParameters (None: null)
    resources: Callable[[Actor, random.Random], Any] | None = None
    special: str = ""  # ops built per record: run | terminate | assume_ec2 | assume_user | write
    variants: int = 4
    can_fail: bool = True

    @property
    def svc(self) -> str:
        return self.source.split(".", 1)[0]


def pick(seq: Sequence[Any], r: random.Random) -> Any:
    """A random element of ``seq`` (one ``randrange`` draw, cheaper than ``random.choice``)."""
    return seq[r.randrange(len(seq))]


def stable(seq: Sequence[Any], key: str) -> Any:
    """The same element of ``seq`` for the same ``key`` on every run (unlike ``hash``)."""
    return seq[zlib.crc32(key.encode()) % len(seq)]


def _inst_ids(a: Actor) -> list[str]:
    return [i.instance_id for i in a.acct.instances] or ["i-0" + "0" * 16]


def own_or_any(a: Actor, r: random.Random) -> str:
    return a.inst.instance_id if a.inst else pick(_inst_ids(a), r)


def _bucket_params(a: Actor, r: random.Random, **extra: Any) -> dict:
    b = pick(a.acct.buckets, r)
    return {**extra, "bucketName": b, "Host": f"{b}.s3.{a.region}.amazonaws.com"}


def _role_name(a: Actor) -> str:
    return a.inst.role_name if a.inst else f"{a.acct.env}-api-instance-role"


def ops_catalogue() -> dict[str, Op]:
    """Every operation the background makes, keyed ``service:EventName`` (``#special`` where one name has two shapes)."""
    ops: list[Op] = []

    def op(source: str, name: str, ro: bool, req: Callable | None = None, resources: Callable | None = None,
           special: str = "", variants: int = 4, can_fail: bool = True) -> None:
        ops.append(Op(len(ops), source, name, ro, req, resources, special, variants, can_fail))

    e = "ec2.amazonaws.com"
    op(e, "DescribeInstances", True, lambda a, r: {"instancesSet": {}, "filterSet": {}} if r.random() < 0.5 else
       {"instancesSet": {"items": [{"instanceId": own_or_any(a, r)}]}, "filterSet": {}})
    op(e, "DescribeInstanceStatus", True, lambda a, r: {"instancesSet": {}, "filterSet": {}, "includeAllInstances": r.random() < 0.5})
    op(e, "DescribeSecurityGroups", True, lambda a, r: {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}})
    op(e, "DescribeVolumes", True, lambda a, r: {"volumeSet": {}, "filterSet": {"items": [
        {"name": "attachment.instance-id", "valueSet": {"items": [{"value": own_or_any(a, r)}]}}]}})
    op(e, "DescribeSubnets", True, lambda a, r: {"subnetSet": {}, "filterSet": {}})
    op(e, "DescribeVpcs", True, lambda a, r: {"vpcSet": {}, "filterSet": {}})
    op(e, "DescribeImages", True, lambda a, r: {
        "executableBySet": {}, "imagesSet": {"items": [{"imageId": a.inst.image_id if a.inst else f"ami-{hexid(r)}"}]},
        "ownersSet": {}, "filterSet": {}})
    op(e, "DescribeRegions", True, lambda a, r: {"regionSet": {}})
    op(e, "DescribeTags", True, lambda a, r: {"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": own_or_any(a, r)}]}}]}})
    op(e, "DescribeSnapshots", True, lambda a, r: {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "sharedUsersSet": {}, "filterSet": {}})
    op(e, "DescribeNetworkInterfaces", True, lambda a, r: {"networkInterfaceIdSet": {}, "filterSet": {}})
    op(e, "DescribeAddresses", True, lambda a, r: {"publicIpsSet": {}, "allocationIdsSet": {}, "filterSet": {}})
    op(e, "DescribeLaunchTemplates", True, lambda a, r: {"DescribeLaunchTemplatesRequest": {"MaxResults": 200}})
    op(e, "DescribeAvailabilityZones", True, lambda a, r: {"availabilityZoneSet": {}, "availabilityZoneIdSet": {}})
    op(e, "DescribeAccountAttributes", True, lambda a, r: {"accountAttributeNameSet": {"items": [{"attributeName": "supported-platforms"}]}, "filterSet": {}})
    op(e, "CreateTags", False, special="write")
    op(e, "CreateSnapshot", False, special="write")
    op(e, "RunInstances", False, special="run")
    op(e, "TerminateInstances", False, special="terminate")

    i = "iam.amazonaws.com"
    users = lambda a: [u.name for u in a.acct.users] or ["ci-deploy"]
    op(i, "ListUsers", True)
    op(i, "ListRoles", True)
    op(i, "ListPolicies", True, lambda a, r: {"scope": "Local", "onlyAttached": False, "policyUsageFilter": "PermissionsPolicy"})
    op(i, "GetUser", True, lambda a, r: {"userName": pick(users(a), r)})
    op(i, "GetRole", True, lambda a, r: {"roleName": _role_name(a)})
    op(i, "ListAttachedRolePolicies", True, lambda a, r: {"roleName": _role_name(a)})
    op(i, "ListAccessKeys", True, lambda a, r: {"userName": pick(users(a), r)})
    op(i, "ListMFADevices", True, lambda a, r: {"userName": pick(users(a), r)})
    op(i, "ListGroupsForUser", True, lambda a, r: {"userName": pick(users(a), r)})
    op(i, "GetAccountSummary", True)
    op(i, "ListInstanceProfiles", True)

    s = "sts.amazonaws.com"
    op(s, "GetCallerIdentity", True)
    op(s, "AssumeRole", True, special="assume_user", variants=6)
    op(s, "AssumeRole", True, special="assume_ec2")

    s3 = "s3.amazonaws.com"
    op(s3, "ListBuckets", True, lambda a, r: {"Host": "s3.amazonaws.com"})
    op(s3, "GetBucketLocation", True, lambda a, r: _bucket_params(a, r, location=""))
    op(s3, "GetBucketEncryption", True, lambda a, r: _bucket_params(a, r, encryption=""))
    op(s3, "GetBucketVersioning", True, lambda a, r: _bucket_params(a, r, versioning=""))
    op(s3, "GetBucketTagging", True, lambda a, r: _bucket_params(a, r, tagging=""))

    m = "ssm.amazonaws.com"
    op(m, "UpdateInstanceInformation", False, lambda a, r: _ssm_info(a), variants=1, can_fail=False)
    op(m, "ListInstanceAssociations", True, lambda a, r: {"instanceId": own_or_any(a, r), "maxResults": 20}, variants=1, can_fail=False)
    params = ("app/db_host", "app/feature_flags", "app/redis_url", "cloudwatch-agent/config")
    op(m, "GetParameter", True, lambda a, r: {"name": f"/{a.acct.env}/{pick(params, r)}", "withDecryption": r.random() < 0.5})
    op(m, "GetParameters", True, lambda a, r: {"names": [f"/{a.acct.env}/app/db_user", f"/{a.acct.env}/app/db_password"], "withDecryption": True})
    op(m, "GetParametersByPath", True, lambda a, r: {"path": f"/{a.acct.env}/app/", "recursive": True, "withDecryption": True})
    op(m, "DescribeInstanceInformation", True, lambda a, r: {"maxResults": 50})

    k = "kms.amazonaws.com"
    kres = lambda a, r: [{"accountId": a.acct.account_id, "type": "AWS::KMS::Key", "ARN": a.acct.kms_key}]
    op(k, "Decrypt", True, lambda a, r: {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"SecretARN": _secret_arn(a, r), "SecretVersionId": uuid_from_hex(hexid(r, 32))}}, resources=kres)
    op(k, "GenerateDataKey", True, lambda a, r: {"keyId": f"alias/{a.acct.env}-app", "keySpec": "AES_256"}, resources=kres)
    op(k, "ListAliases", True)

    sm = "secretsmanager.amazonaws.com"
    op(sm, "GetSecretValue", True, lambda a, r: {"secretId": _secret_arn(a, r)})
    op(sm, "DescribeSecret", True, lambda a, r: {"secretId": _secret_arn(a, r)})
    op(sm, "ListSecrets", True, lambda a, r: {"maxResults": 100})

    lg = "logs.amazonaws.com"
    op(lg, "CreateLogStream", False, special="write")
    op(lg, "DescribeLogStreams", True, lambda a, r: {
        "logGroupName": f"/{a.acct.env}/{a.inst.kind if a.inst else 'api'}/app", "logStreamNamePrefix": own_or_any(a, r)}, can_fail=False)
    op(lg, "DescribeLogGroups", True, lambda a, r: {"limit": 50})
    op(lg, "FilterLogEvents", True, lambda a, r: {
        "logGroupName": f"/{a.acct.env}/api/app", "filterPattern": pick(("ERROR", "timeout", '"status=500"'), r),
        "startTime": 0, "interleaved": True})

    cw = "monitoring.amazonaws.com"
    op(cw, "DescribeAlarms", True, lambda a, r: {"maxRecords": 100})
    op(cw, "GetMetricData", True, lambda a, r: {"metricDataQueries": [{"id": "m1", "metricStat": {
        "metric": {"namespace": "AWS/EC2", "metricName": "CPUUtilization", "dimensions": [{"name": "InstanceId", "value": own_or_any(a, r)}]},
        "period": 300, "stat": "Average"}}], "scanBy": "TimestampAscending"})
    op(cw, "ListMetrics", True, lambda a, r: {"namespace": pick(("AWS/EC2", "AWS/ApplicationELB", "CWAgent", "AWS/RDS"), r)})

    ecr = "ecr.amazonaws.com"
    op(ecr, "GetAuthorizationToken", True, variants=1)
    op(ecr, "DescribeRepositories", True, lambda a, r: {"maxResults": 100})
    op(ecr, "DescribeImages", True, lambda a, r: {"repositoryName": pick(("api", "web", "worker"), r), "maxResults": 100})
    op(ecr, "BatchCheckLayerAvailability", True, lambda a, r: {"repositoryName": pick(("api", "web", "worker"), r), "layerDigests": [f"sha256:{hexid(r, 64)}"]})

    ecs = "ecs.amazonaws.com"
    op(ecs, "DescribeServices", True, lambda a, r: {"cluster": f"{a.acct.env}-cluster", "services": [pick(("api", "web", "worker"), r)]})
    op(ecs, "ListTasks", True, lambda a, r: {"cluster": f"{a.acct.env}-cluster"})
    op(ecs, "DescribeTaskDefinition", True, lambda a, r: {"taskDefinition": f"{a.acct.env}-{pick(('api', 'web', 'worker'), r)}"})

    cf = "cloudformation.amazonaws.com"
    op(cf, "DescribeStacks", True, lambda a, r: {"stackName": f"{a.acct.env}-{pick(('network', 'app', 'data', 'CDKToolkit'), r)}"})
    op(cf, "ListStacks", True, lambda a, r: {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]})
    op(cf, "DescribeStackEvents", True, lambda a, r: {"stackName": f"{a.acct.env}-app"})

    op("lambda.amazonaws.com", "ListFunctions20150331", True)
    op("lambda.amazonaws.com", "GetFunction20150331v2", True, lambda a, r: {"functionName": f"{a.acct.env}-{pick(('thumbnailer', 'webhook-relay', 'nightly-report'), r)}"})
    op("dynamodb.amazonaws.com", "DescribeTable", True, lambda a, r: {"tableName": f"{a.acct.env}-{pick(('sessions', 'orders', 'jobs'), r)}"})
    op("dynamodb.amazonaws.com", "ListTables", True)
    op("sqs.amazonaws.com", "GetQueueAttributes", True, lambda a, r: {
        "queueUrl": f"https://sqs.{a.region}.amazonaws.com/{a.acct.account_id}/{a.acct.env}-{pick(('jobs', 'emails', 'events'), r)}",
        "attributeNames": ["ApproximateNumberOfMessages"]})
    op("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", True, lambda a, r: {"maxRecords": 100})
    op("autoscaling.amazonaws.com", "DescribeAutoScalingInstances", True, lambda a, r: {"instanceIds": [own_or_any(a, r)]})
    op("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", True)
    op("elasticloadbalancing.amazonaws.com", "DescribeTargetHealth", True, lambda a, r: {
        "targetGroupArn": f"arn:aws:elasticloadbalancing:{a.region}:{a.acct.account_id}:targetgroup/{a.acct.env}-web/{hexid(r, 16)}"})
    op("cloudtrail.amazonaws.com", "DescribeTrails", True, lambda a, r: {"includeShadowTrails": True})
    op("cloudtrail.amazonaws.com", "LookupEvents", True, lambda a, r: {"maxResults": 50})
    op("rds.amazonaws.com", "DescribeDBInstances", True)
    op("rds.amazonaws.com", "DescribeDBClusters", True)

    assert not {o.name for o in ops} & FORBIDDEN_EVENT_NAMES
    out: dict[str, Op] = {}
    for o in ops:
        key = f"{o.svc}:{o.name}" + (f"#{o.special}" if o.special in ("assume_ec2",) else "")
        out[key] = o
    return out


def _secret_arn(a: Actor, r: random.Random) -> str:
    name = pick(("app/db", "app/stripe", "app/jwt-signing-key", "app/datadog-api-key"), r)
    return f"arn:aws:secretsmanager:{a.region}:{a.acct.account_id}:secret:{a.acct.env}/{name}-{''.join(r.choices(ALNUM, k=6))}"


def _ssm_info(a: Actor) -> dict:
    inst = a.inst
    assert inst is not None
    windows = inst.os == "windows"
    return {
        "instanceId": inst.instance_id, "agentVersion": "3.3.987.0", "agentStatus": "Active",
        "platformType": "Windows" if windows else "Linux",
        "platformName": {"ubuntu": "Ubuntu", "al2023": "Amazon Linux", "windows": "Microsoft Windows Server 2022 Datacenter"}[inst.os],
        "platformVersion": {"ubuntu": "22.04", "al2023": "2023", "windows": "10.0.20348"}[inst.os],
        "iPAddress": inst.private_ip, "computerName": inst.private_dns if not windows else "EC2AMAZ-" + inst.instance_id[2:9].upper(),
        "agentName": "amazon-ssm-agent", "availabilityZone": inst.az, "availabilityZoneId": f"{region_short(a.region)}-az{2 + 'abcdef'.index(inst.az[-1])}",
    }


# Per actor style: (op key, weight).
_USER_OPS: dict[str, tuple[tuple[str, float], ...]] = {
    "cli": (
        ("ec2:DescribeInstances", 8), ("ec2:DescribeSecurityGroups", 2), ("ec2:DescribeVolumes", 1), ("ec2:DescribeSubnets", 1),
        ("ec2:DescribeVpcs", 1), ("ec2:DescribeImages", 1), ("ec2:DescribeInstanceStatus", 1), ("ec2:DescribeTags", 1),
        ("iam:GetUser", 1), ("iam:ListRoles", 1), ("iam:GetRole", 1), ("iam:ListAttachedRolePolicies", 0.5),
        ("sts:GetCallerIdentity", 3), ("s3:ListBuckets", 2), ("s3:GetBucketLocation", 1), ("logs:DescribeLogGroups", 1),
        ("logs:FilterLogEvents", 2), ("monitoring:DescribeAlarms", 1), ("monitoring:GetMetricData", 1),
        ("ssm:DescribeInstanceInformation", 1), ("ssm:GetParameter", 1), ("cloudformation:DescribeStacks", 1),
        ("lambda:ListFunctions20150331", 1), ("ecr:DescribeRepositories", 0.5), ("ecs:DescribeServices", 1),
        ("secretsmanager:ListSecrets", 0.3), ("dynamodb:ListTables", 0.5), ("rds:DescribeDBInstances", 0.5),
        ("ec2:CreateTags", 0.3), ("ec2:CreateSnapshot", 0.1), ("kms:ListAliases", 0.3), ("cloudtrail:LookupEvents", 0.2),
    ),
    "console": (
        ("ec2:DescribeInstances", 6), ("ec2:DescribeInstanceStatus", 3), ("ec2:DescribeSecurityGroups", 2), ("ec2:DescribeVolumes", 1),
        ("ec2:DescribeAvailabilityZones", 1), ("ec2:DescribeAccountAttributes", 1), ("ec2:DescribeAddresses", 0.5),
        ("ec2:DescribeSnapshots", 0.5), ("ec2:DescribeLaunchTemplates", 0.5), ("ec2:DescribeNetworkInterfaces", 0.5),
        ("iam:ListUsers", 1), ("iam:ListRoles", 1), ("iam:GetAccountSummary", 1), ("iam:ListPolicies", 0.5), ("iam:ListMFADevices", 0.5),
        ("iam:ListAccessKeys", 0.5), ("iam:ListGroupsForUser", 0.5), ("s3:ListBuckets", 2), ("s3:GetBucketLocation", 1),
        ("s3:GetBucketEncryption", 0.5), ("s3:GetBucketVersioning", 0.5), ("s3:GetBucketTagging", 0.5),
        ("monitoring:DescribeAlarms", 2), ("monitoring:GetMetricData", 3), ("logs:DescribeLogGroups", 1), ("logs:FilterLogEvents", 1),
        ("cloudformation:ListStacks", 1), ("cloudformation:DescribeStackEvents", 0.5), ("lambda:ListFunctions20150331", 1),
        ("elasticloadbalancing:DescribeLoadBalancers", 1), ("elasticloadbalancing:DescribeTargetHealth", 1),
        ("rds:DescribeDBClusters", 0.5), ("kms:ListAliases", 0.5), ("cloudtrail:DescribeTrails", 0.3), ("ec2:CreateTags", 0.2),
    ),
    "ci": (
        ("ecr:GetAuthorizationToken", 4), ("ecr:DescribeImages", 2), ("ecr:BatchCheckLayerAvailability", 3), ("ecr:DescribeRepositories", 1),
        ("ecs:DescribeServices", 3), ("ecs:DescribeTaskDefinition", 2), ("ecs:ListTasks", 1), ("sts:GetCallerIdentity", 2),
        ("sts:AssumeRole", 1), ("cloudformation:DescribeStacks", 2), ("cloudformation:DescribeStackEvents", 1),
        ("lambda:GetFunction20150331v2", 1), ("s3:GetBucketLocation", 1),
    ),
    "terraform": (
        ("ec2:DescribeInstances", 3), ("ec2:DescribeSecurityGroups", 3), ("ec2:DescribeSubnets", 2), ("ec2:DescribeVpcs", 2),
        ("ec2:DescribeImages", 1), ("ec2:DescribeTags", 1), ("ec2:DescribeVolumes", 1), ("ec2:DescribeLaunchTemplates", 1),
        ("ec2:DescribeAvailabilityZones", 1), ("ec2:DescribeNetworkInterfaces", 1), ("ec2:DescribeAccountAttributes", 0.5),
        ("iam:GetRole", 2), ("iam:ListAttachedRolePolicies", 2), ("iam:ListInstanceProfiles", 1), ("iam:ListPolicies", 0.5),
        ("s3:GetBucketEncryption", 1), ("s3:GetBucketVersioning", 1), ("s3:GetBucketTagging", 1), ("s3:GetBucketLocation", 1),
        ("sts:GetCallerIdentity", 2), ("sts:AssumeRole", 0.5), ("kms:ListAliases", 0.5), ("rds:DescribeDBClusters", 0.5),
        ("autoscaling:DescribeAutoScalingGroups", 1), ("elasticloadbalancing:DescribeLoadBalancers", 1),
        ("ec2:CreateTags", 0.3), ("ec2:RunInstances", 0.15), ("ec2:TerminateInstances", 0.1),
    ),
    "sdk": (
        ("monitoring:GetMetricData", 8), ("monitoring:ListMetrics", 2), ("monitoring:DescribeAlarms", 1), ("ec2:DescribeInstances", 2),
        ("ec2:DescribeTags", 1), ("ec2:DescribeRegions", 0.5), ("ec2:DescribeSnapshots", 1), ("ec2:DescribeVolumes", 1),
        ("ec2:CreateSnapshot", 0.3), ("rds:DescribeDBInstances", 0.5),
    ),
}
_SSO_OPS = _USER_OPS["console"]
_INSTANCE_BASE = (
    ("ssm:UpdateInstanceInformation", 10), ("ssm:ListInstanceAssociations", 4), ("logs:CreateLogStream", 0.5),
    ("logs:DescribeLogStreams", 1.5), ("ec2:DescribeTags", 1.5), ("sts:GetCallerIdentity", 0.5),
)
_INSTANCE_OPS: dict[str, tuple[tuple[str, float], ...]] = {
    "web": (("kms:Decrypt", 2), ("secretsmanager:GetSecretValue", 2), ("ssm:GetParameter", 2), ("ssm:GetParameters", 1)),
    "api": (("kms:Decrypt", 2), ("secretsmanager:GetSecretValue", 2), ("ssm:GetParametersByPath", 1), ("kms:GenerateDataKey", 1),
            ("dynamodb:DescribeTable", 1)),
    "worker": (("dynamodb:DescribeTable", 2), ("sqs:GetQueueAttributes", 3), ("kms:GenerateDataKey", 2), ("kms:Decrypt", 1),
               ("secretsmanager:GetSecretValue", 1)),
    "db": (("ec2:DescribeVolumes", 1), ("ec2:CreateSnapshot", 0.1), ("secretsmanager:GetSecretValue", 0.5)),
    "ci-runner": (("ecr:GetAuthorizationToken", 4), ("ecr:BatchCheckLayerAvailability", 2), ("ecr:DescribeRepositories", 1),
                  ("sts:GetCallerIdentity", 1), ("ec2:DescribeInstances", 0.5)),
    "bastion": (("ec2:DescribeInstances", 1), ("ssm:GetParameter", 0.5)),
    "win": (("ssm:GetParameter", 1), ("ec2:DescribeInstances", 0.5)),
}
_DATA_BUCKETS = {  # which account buckets (by index) each kind of actor reads and writes
    "web": (0, 1), "api": (0, 1, 4), "worker": (4, 1), "db": (2,), "ci-runner": (5, 0), "bastion": (1,), "win": (2,),
    "cli": (0, 1, 4), "console": (0, 1), "ci": (5, 0), "terraform": (3,), "sdk": (2,),
}
# people who sign in through IAM Identity Center (two per account, as an AdministratorAccess permission set)
_SSO_PEOPLE = ("priya.shah", "tom.becker", "li.wei", "maria.gomez", "sam.okafor", "nina.petrova")


def build_actors(est: Estate) -> dict[int, list[Actor]]:
    """Each account's actors, by account index; ``Actor.key`` numbers them across the estate."""
    ops = ops_catalogue()
    out: dict[int, list[Actor]] = {}
    n = 0
    for acct in est.accounts:
        out[acct.idx] = _account_actors(acct, ops, est.spec.region, n)
        n += len(out[acct.idx])
    return out


def _account_actors(acct: Account, ops: dict[str, Op], region: str, first_key: int) -> list[Actor]:
    actors: list[Actor] = []

    def add(kind: str, table: tuple[tuple[str, float], ...], weight: float, bucket_len: int, **kw: Any) -> None:
        actors.append(Actor(key=first_key + len(actors), kind=kind, acct=acct, ops=[ops[k] for k, _ in table],
                            cum=list(accumulate(w for _, w in table)), weight=weight, bucket_len=bucket_len, region=region, **kw))

    for inst in acct.instances:
        table = _INSTANCE_BASE + _INSTANCE_OPS[inst.kind] + (("sts:AssumeRole#assume_ec2", 0.3),)
        add("instance", table, 3.0, 21600, inst=inst, buckets=_DATA_BUCKETS[inst.kind])
    for user in acct.users:
        w = {"cli": 2.0, "console": 1.5, "ci": 3.0, "terraform": 2.5, "sdk": 2.0}[user.style]
        add("user", _USER_OPS[user.style], w, 43200, user=user, buckets=_DATA_BUCKETS[user.style])
    for person in _SSO_PEOPLE[acct.idx % 3:acct.idx % 3 + 2]:
        add("sso", _SSO_OPS, 1.2, 28800, person=f"{person}@example.com")
    add("autoscaling", (("ec2:RunInstances", 3), ("ec2:TerminateInstances", 2), ("ec2:DescribeInstances", 1)), 0.06, 3600)
    # data events come from instances and IAM users; scale their share so ~10% of all records are data events
    eligible = sum(a.weight for a in actors if a.buckets)
    total = sum(a.weight for a in actors)
    for a in actors:
        if a.buckets and eligible:
            a.data_p = min(0.9, 0.10 * total / eligible)
    return actors
