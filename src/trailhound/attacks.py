"""Labelled attack and near-miss CloudTrail records, written the way AWS logs them.

Used by ``trailhound demo`` and by the tests: each ``Case`` is one record and the finding type
it must raise (``expect``), or ``None`` for a near miss that must raise nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ATTACKER_IP = "198.51.100.77"  # documentation range; the demo puts it on a threat list
TRUSTED_IP = "81.2.69.160"  # the operator's office (a public address); the demo puts it on a trusted list
KALI_UA = "aws-cli/2.23.6 md/awscrt#0.23.4 ua/2.0 os/linux#6.11.2-amd64 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython md/distrib#kali.2025 cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#iam.get-user"
CLI_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3api"


@dataclass(frozen=True)
class Case:
    name: str
    expect: str | None  # finding type it must raise; None = near miss
    record: dict[str, Any]


def iam_user(account: str, name: str = "alice") -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:16].upper(),
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": "AKIA" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:16].upper(),
        "userName": name,
    }


def root_user(account: str) -> dict[str, Any]:
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account, "accessKeyId": "ASIAROOTSESSIONKEY01"}


def record(
    event_name: str,
    event_source: str,
    *,
    time: datetime,
    account: str = "111122223333",
    region: str = "us-east-1",
    identity: dict[str, Any] | None = None,
    ip: str = "192.0.2.44",
    ua: str = CLI_UA,
    params: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    error_code: str | None = None,
    data_event: bool = False,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity or iam_user(account),
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": event_name.startswith(("Get", "List", "Describe")),
        "eventType": "AwsApiCall",
        "managementEvent": not data_event,
        "recipientAccountId": account,
        "eventCategory": "Data" if data_event else "Management",
    }
    if error_code:
        rec["errorCode"] = error_code
        rec["errorMessage"] = f"{error_code} (simulated)"
    return rec


def _bpa(value: bool) -> dict[str, Any]:
    return {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": value, "IgnorePublicAcls": value, "BlockPublicPolicy": value, "RestrictPublicBuckets": value}


def _policy(principal: Any, condition: dict[str, Any] | None = None, bucket: str = "finance-reports") -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": "s", "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    if condition:
        stmt["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [stmt]}


def rule_cases(start: datetime, account: str = "111122223333") -> list[Case]:
    """One record per rule finding type, and the near miss of each."""
    t = iter(start + timedelta(minutes=3 * i) for i in range(1000))
    ct, iam, s3 = "cloudtrail.amazonaws.com", "iam.amazonaws.com", "s3.amazonaws.com"
    mallory = iam_user(account, "mallory")
    bucket = "finance-reports"
    s3p = lambda **kw: {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", **kw}  # noqa: E731
    return [
        Case("stop-logging", "Stealth:IAMUser/CloudTrailLoggingDisabled", record("StopLogging", ct, time=next(t), account=account, identity=mallory, params={"name": f"arn:aws:cloudtrail:us-east-1:{account}:trail/org-trail"})),
        Case("start-logging", None, record("StartLogging", ct, time=next(t), account=account, params={"name": "org-trail"})),
        Case("stop-logging-failed", None, record("StopLogging", ct, time=next(t), account=account, params={"name": "org-trail"}, error_code="TrailNotFoundException")),
        Case("password-policy-strengthened", None, record("UpdateAccountPasswordPolicy", iam, time=next(t), account=account, params={"minimumPasswordLength": 14, "requireSymbols": True, "requireNumbers": True, "requireUppercaseCharacters": True, "requireLowercaseCharacters": True, "allowUsersToChangePassword": True, "maxPasswordAge": 90, "passwordReusePrevention": 24})),
        Case("password-policy-weakened", "Stealth:IAMUser/PasswordPolicyChange", record("UpdateAccountPasswordPolicy", iam, time=next(t), account=account, identity=mallory, params={"minimumPasswordLength": 6, "requireSymbols": False, "requireNumbers": False, "requireUppercaseCharacters": False, "requireLowercaseCharacters": False, "allowUsersToChangePassword": True})),
        Case("root-api-call", "Policy:IAMUser/RootCredentialUsage", record("ListBuckets", s3, time=next(t), account=account, identity=root_user(account), params={"Host": "s3.amazonaws.com"})),
        Case("root-service-event", None, {**record("ListBuckets", s3, time=next(t), account=account, identity={**root_user(account), "invokedBy": "config.amazonaws.com"}), "sourceIPAddress": "config.amazonaws.com"}),
        Case("kali-api-call", "PenTest:IAMUser/KaliLinux", record("GetUser", iam, time=next(t), account=account, identity=mallory, ua=KALI_UA, params={"userName": "admin"})),
        Case("parrot-api-call", "PenTest:IAMUser/ParrotLinux", record("ListUsers", iam, time=next(t), account=account, identity=mallory, ua="Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0-13parrot1-amd64 md/distrib#parrot.6 lang/python#3.11.2")),
        Case("pentoo-api-call", "PenTest:IAMUser/PentooLinux", record("ListRoles", iam, time=next(t), account=account, identity=mallory, ua="aws-cli/2.13.0 Python/3.11.6 Linux/6.6.1-pentoo exe/x86_64.pentoo")),
        Case("kalimba-not-kali", None, record("ListRoles", iam, time=next(t), account=account, ua="kalimba-sdk/1.0 aws-cli/2.13.0 Python/3.11.6 Linux/6.6.1 exe/x86_64.ubuntu.22")),
        Case("kali-s3-data-event", "PenTest:S3/KaliLinux", record("GetObject", s3, time=next(t), account=account, identity=mallory, ua=KALI_UA, params=s3p(key="q3.xlsx"), data_event=True)),
        Case("account-bpa-disabled", "Policy:S3/AccountBlockPublicAccessDisabled", record("PutAccountPublicAccessBlock", s3, time=next(t), account=account, identity=mallory, params={"PublicAccessBlockConfiguration": _bpa(False), "Host": f"{account}.s3-control.us-east-1.amazonaws.com"})),
        Case("account-bpa-enabled", None, record("PutAccountPublicAccessBlock", s3, time=next(t), account=account, params={"PublicAccessBlockConfiguration": _bpa(True), "Host": f"{account}.s3-control.us-east-1.amazonaws.com"})),
        Case("bucket-bpa-disabled", "Policy:S3/BucketBlockPublicAccessDisabled", record("PutBucketPublicAccessBlock", s3, time=next(t), account=account, identity=mallory, params=s3p(publicAccessBlock="", PublicAccessBlockConfiguration=_bpa(False)))),
        Case("bucket-bpa-enabled", None, record("PutBucketPublicAccessBlock", s3, time=next(t), account=account, params=s3p(publicAccessBlock="", PublicAccessBlockConfiguration=_bpa(True)))),
        Case("bucket-policy-anonymous", "Policy:S3/BucketAnonymousAccessGranted", record("PutBucketPolicy", s3, time=next(t), account=account, identity=mallory, params=s3p(policy="", bucketPolicy=_policy("*")))),
        Case("bucket-policy-authenticated", "Policy:S3/BucketPublicAccessGranted", record("PutBucketPolicy", s3, time=next(t), account=account, identity=mallory, params=s3p(policy="", bucketPolicy=_policy({"AWS": "*"}, {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*"}})))),
        Case("bucket-policy-one-account", None, record("PutBucketPolicy", s3, time=next(t), account=account, params=s3p(policy="", bucketPolicy=_policy({"AWS": "arn:aws:iam::444455556666:root"})))),
        Case("bucket-policy-wildcard-in-org", None, record("PutBucketPolicy", s3, time=next(t), account=account, params=s3p(policy="", bucketPolicy=_policy("*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}})))),
        Case("bucket-acl-all-users", "Policy:S3/BucketAnonymousAccessGranted", record("PutBucketAcl", s3, time=next(t), account=account, identity=mallory, params=s3p(acl="", AccessControlPolicy={"AccessControlList": {"Grant": [{"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}, "Owner": {"ID": "abc"}}))),
        Case("bucket-acl-private", None, record("PutBucketAcl", s3, time=next(t), account=account, params=s3p(acl="", **{"x-amz-acl": ["private"]}))),
        Case("bucket-logging-disabled", "Stealth:S3/ServerAccessLoggingDisabled", record("PutBucketLogging", s3, time=next(t), account=account, identity=mallory, params=s3p(logging="", BucketLoggingStatus={"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}))),
        Case("bucket-logging-enabled", None, record("PutBucketLogging", s3, time=next(t), account=account, params=s3p(logging="", BucketLoggingStatus={"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": f"{bucket}/"}}))),
    ]


def threat_list_cases(start: datetime, account: str = "111122223333") -> list[Case]:
    """API calls from the threat-listed attacker IP, and the same calls from the trusted office IP."""
    mallory = iam_user(account, "mallory")
    iam = "iam.amazonaws.com"
    return [
        Case("threat-ip-recon", "Recon:IAMUser/MaliciousIPCaller.Custom", record("ListAccessKeys", iam, time=start, account=account, identity=mallory, ip=ATTACKER_IP)),
        Case("threat-ip-write", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", record("CreateUser", iam, time=start + timedelta(minutes=1), account=account, identity=mallory, ip=ATTACKER_IP, params={"userName": "backdoor"})),
        Case("trusted-ip-stop-logging", None, record("StopLogging", "cloudtrail.amazonaws.com", time=start + timedelta(minutes=2), account=account, ip=TRUSTED_IP, params={"name": "scratch-trail"})),
    ]
