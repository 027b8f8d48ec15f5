"""S3 buckets opened to the world.

* Policy:S3/AccountBlockPublicAccessDisabled, Policy:S3/BucketBlockPublicAccessDisabled —
  S3 Block Public Access, the guard that overrides public policies and ACLs, was switched off
  (deleted, or any of its four settings set to false) for the account or a bucket.
* Policy:S3/BucketAnonymousAccessGranted — a bucket policy or ACL now grants access to
  everyone on the internet (``Principal: "*"``/``{"AWS": "*"}`` with no condition that narrows it,
  the AllUsers group, ``public-read`` canned ACLs).
* Policy:S3/BucketPublicAccessGranted — it grants access to every authenticated AWS principal
  of any account (a wildcard principal narrowed only to "some IAM principal", the
  AuthenticatedUsers group, ``authenticated-read``).

Public-ness is decided from the policy / ACL document itself (GuardDuty uses automated
reasoning; this is the same judgement over the common condition keys).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence, bucket_resource
from trailhound.findings.model import HIGH, LOW, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_BPA_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

# Condition keys that pin the caller to a bounded set of accounts, networks or principals.
_NARROWING_KEYS = {
    "aws:sourceip", "aws:vpcsourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:principalorgid", "aws:principalorgpaths",
    "aws:principalaccount", "aws:sourceaccount", "aws:sourceowner", "aws:sourcearn", "aws:principalarn", "aws:userid",
    "aws:username", "aws:principalservicename", "aws:sourceorgid", "aws:sourceorgpaths", "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn", "aws:resourceaccount", "aws:resourceorgid",
}
# Condition keys that only exist for signed requests: narrowing to them still admits any AWS account.
_AUTHENTICATED_KEYS = {"aws:principalarn", "aws:principalaccount", "aws:userid", "aws:username", "aws:principaltype", "aws:principalorgid"}
_WRITE_PREFIXES = ("s3:put", "s3:delete", "s3:restore", "s3:abort", "s3:replicate", "s3:create", "s3:bypass")


class Exposure(enum.IntEnum):
    NOT_PUBLIC = 0
    AUTHENTICATED = 1  # any authenticated AWS principal
    ANONYMOUS = 2  # anyone on the internet


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(v == "*" or (isinstance(v, list) and "*" in v) for k, v in principal.items() if k in ("AWS", "CanonicalUser"))
    return False


def _is_open_value(key: str, value: str) -> bool:
    """A condition value that does not narrow anything (e.g. 0.0.0.0/0, an all-accounts ARN pattern)."""
    v = value.strip().lower()
    if v in ("*", "0.0.0.0/0", "::/0"):
        return True
    if key == "aws:principalarn" or key == "aws:sourcearn":
        parts = v.split(":")
        return len(parts) >= 5 and parts[4] in ("*", "") or v.startswith("arn:aws:iam::*")
    if key in ("aws:principalaccount", "aws:sourceaccount", "aws:userid", "aws:username"):
        return "*" in v
    return False


def statement_exposure(stmt: Mapping[str, Any]) -> Exposure:
    if stmt.get("Effect") != "Allow":
        return Exposure.NOT_PUBLIC
    if "NotPrincipal" in stmt:
        wildcard = True  # Allow + NotPrincipal admits everyone not listed
    else:
        wildcard = _wildcard_principal(stmt.get("Principal"))
    if not wildcard:
        return Exposure.NOT_PUBLIC
    authenticated_only = False
    condition = stmt.get("Condition") or {}
    if not isinstance(condition, dict):
        return Exposure.NOT_PUBLIC  # not a condition block AWS would accept: no claim about it
    for operator, clauses in condition.items():
        if not isinstance(clauses, dict):
            continue
        if operator.lower().endswith("ifexists"):
            continue  # true when the key is absent, and an anonymous request from the internet has none: narrows nothing
        negated = operator.lower().startswith(("stringnot", "arnnot", "notipaddress"))
        for key, values in clauses.items():
            k = key.lower()
            if k not in _NARROWING_KEYS and k != "aws:principaltype":
                continue
            vals = [str(v) for v in as_list(values)]
            if k == "aws:principaltype" or (vals and all(_is_open_value(k, v) for v in vals)) or negated:
                if k in _AUTHENTICATED_KEYS:
                    authenticated_only = True
                continue
            return Exposure.NOT_PUBLIC  # pinned to specific accounts, networks or principals
    return Exposure.AUTHENTICATED if authenticated_only else Exposure.ANONYMOUS


def _access(statements: Iterable[Mapping[str, Any]], level: Exposure) -> tuple[bool, bool]:
    read = write = False
    for stmt in statements:
        if statement_exposure(stmt) < level:
            continue
        for action in as_list(stmt.get("Action")) or ["*"]:
            a = str(action).lower()
            if a in ("*", "s3:*"):
                read = write = True
            elif a.startswith(_WRITE_PREFIXES):
                write = True
            else:
                read = True
    return read, write


def policy_exposure(policy: Any) -> tuple[Exposure, bool, bool]:
    """(exposure, allows read, allows write) of a bucket policy document (dict or JSON string)."""
    if isinstance(policy, str):
        try:
            policy = msgspec.json.decode(policy)
        except msgspec.DecodeError:
            return Exposure.NOT_PUBLIC, False, False
    if not isinstance(policy, dict):
        return Exposure.NOT_PUBLIC, False, False
    statements = [s for s in as_list(policy.get("Statement")) if isinstance(s, dict)]
    exposure = max((statement_exposure(s) for s in statements), default=Exposure.NOT_PUBLIC)
    read, write = _access(statements, exposure) if exposure else (False, False)
    return exposure, read, write


def acl_exposure(params: Mapping[str, Any]) -> tuple[Exposure, bool, bool]:
    """Exposure granted by a PutBucketAcl/CreateBucket request: canned ACL header or grant list."""
    exposure, read, write = Exposure.NOT_PUBLIC, False, False
    for canned in as_list(params.get("x-amz-acl")):
        canned = str(canned).lower()
        if canned in ("public-read", "public-read-write"):
            exposure, read, write = Exposure.ANONYMOUS, True, write or canned == "public-read-write"
        elif canned == "authenticated-read" and exposure < Exposure.AUTHENTICATED:
            exposure, read = Exposure.AUTHENTICATED, True
    acp = params.get("AccessControlPolicy") or {}
    acl = acp.get("AccessControlList") if isinstance(acp, dict) else None
    grants = as_list(acl.get("Grant")) if isinstance(acl, dict) else []
    for header, perm in (("x-amz-grant-read", "READ"), ("x-amz-grant-write", "WRITE"), ("x-amz-grant-full-control", "FULL_CONTROL")):
        for value in as_list(params.get(header)):
            grants.append({"Grantee": {"URI": _ALL_USERS if _ALL_USERS in str(value) else _AUTH_USERS if _AUTH_USERS in str(value) else ""}, "Permission": perm})
    for grant in grants:
        if not isinstance(grant, dict):
            continue
        uri = str((grant.get("Grantee") or {}).get("URI") or "")
        level = Exposure.ANONYMOUS if uri == _ALL_USERS else Exposure.AUTHENTICATED if uri == _AUTH_USERS else Exposure.NOT_PUBLIC
        if not level:
            continue
        if level > exposure:
            exposure, read, write = level, False, False
        if level == exposure:
            perm = str(grant.get("Permission", "")).upper()
            read = read or perm in ("READ", "READ_ACP", "FULL_CONTROL")
            write = write or perm in ("WRITE", "WRITE_ACP", "FULL_CONTROL")
    return exposure, read, write


def _bucket(params: Mapping[str, Any]) -> str:
    return str(params.get("bucketName") or "unknown")


def _permission(read: bool, write: bool) -> dict[str, bool]:
    return {"allowsPublicReadAccess": read, "allowsPublicWriteAccess": write}


class BlockPublicAccessDisabled(Rule):
    name = "s3-block-public-access-disabled"
    consumes = Source.CLOUDTRAIL
    findings = (
        FindingType("Policy:S3/AccountBlockPublicAccessDisabled", severity(LOW), "TA0005 Defense Evasion", "T1562.007 Disable or Modify Cloud Firewall",
                    "account Block Public Access deleted or any setting false"),
        FindingType("Policy:S3/BucketBlockPublicAccessDisabled", severity(LOW), "TA0005 Defense Evasion", "T1562.007 Disable or Modify Cloud Firewall",
                    "bucket Block Public Access deleted or any setting false"),
    )
    event_names = frozenset({"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock", "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock"})

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_source != "s3.amazonaws.com":
            return None
        params = e.params()
        if e.event_name.startswith("Delete"):
            disabled = list(_BPA_FLAGS)
            config = {f: False for f in _BPA_FLAGS}
        else:
            config = params.get("PublicAccessBlockConfiguration")
            if not isinstance(config, dict):
                return None
            disabled = [f for f in _BPA_FLAGS if str(config.get(f, False)).lower() != "true"]
        if not disabled:
            return None
        bpa = {f[0].lower() + f[1:]: str(config.get(f, False)).lower() == "true" for f in _BPA_FLAGS}
        what = ", ".join(disabled)
        if "Account" in e.event_name:
            return api_occurrence(
                e,
                "Policy:S3/AccountBlockPublicAccessDisabled",
                self.severity("Policy:S3/AccountBlockPublicAccessDisabled"),
                "S3 Block Public Access was disabled for the account.",
                f"{e.user_identity.name} disabled S3 Block Public Access settings ({what}) for account {e.account_id}. "
                "Bucket policies and ACLs can now make buckets public.",
                resource_key=f"account:{e.account_id}",
                additional_info={"disabledSettings": disabled},
            )
        bucket = _bucket(params)
        public_access = {
            "permissionConfiguration": {"bucketLevelPermissions": {"blockPublicAccess": bpa}},
            "effectivePermission": "UNKNOWN",
        }
        return api_occurrence(
            e,
            "Policy:S3/BucketBlockPublicAccessDisabled",
            self.severity("Policy:S3/BucketBlockPublicAccessDisabled"),
            f"S3 Block Public Access was disabled for bucket {bucket}.",
            f"{e.user_identity.name} disabled S3 Block Public Access settings ({what}) for the bucket {bucket}. "
            "Its policy and ACLs can now make it public.",
            resource=bucket_resource(e, bucket, public_access),
            resource_key=bucket,
            affected={"AWS::S3::Bucket": bucket},
            additional_info={"disabledSettings": disabled},
        )


class BucketPublicAccessGranted(Rule):
    name = "s3-bucket-public-access-granted"
    consumes = Source.CLOUDTRAIL
    findings = (
        FindingType("Policy:S3/BucketAnonymousAccessGranted", severity(HIGH), "TA0010 Exfiltration", "T1530 Data from Cloud Storage",
                    "the bucket policy or ACL itself grants everyone: wildcard principal with no narrowing condition, AllUsers, `public-read`"),
        FindingType("Policy:S3/BucketPublicAccessGranted", severity(HIGH), "TA0010 Exfiltration", "T1530 Data from Cloud Storage",
                    "it grants every authenticated AWS principal: a wildcard narrowed only to \"any IAM principal\", AuthenticatedUsers"),
    )
    event_names = frozenset({"PutBucketPolicy", "PutBucketAcl", "CreateBucket"})

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_source != "s3.amazonaws.com":
            return None
        params = e.params()
        if e.event_name == "PutBucketPolicy":
            exposure, read, write = policy_exposure(params.get("bucketPolicy"))
            via, config_key = "bucket policy", "bucketPolicy"
        else:
            exposure, read, write = acl_exposure(params)
            via, config_key = "access control list", "accessControlList"
        if exposure is Exposure.NOT_PUBLIC:
            return None
        bucket = _bucket(params)
        public_access = {
            "permissionConfiguration": {"bucketLevelPermissions": {config_key: _permission(read, write)}},
            "effectivePermission": "PUBLIC",
        }
        kinds = " and ".join(k for k, on in (("read", read), ("write", write)) if on) or "some"
        if exposure is Exposure.ANONYMOUS:
            ftype, audience = "Policy:S3/BucketAnonymousAccessGranted", "anyone on the internet"
        else:
            ftype, audience = "Policy:S3/BucketPublicAccessGranted", "all authenticated AWS users"
        return api_occurrence(
            e,
            ftype,
            self.severity(ftype),
            f"Amazon S3 bucket {bucket} was made public to {audience}.",
            f"{e.user_identity.name} changed the {via} of the S3 bucket {bucket} with {e.event_name} so that it grants "
            f"{kinds} access to {audience}.",
            resource=bucket_resource(e, bucket, public_access),
            resource_key=bucket,
            affected={"AWS::S3::Bucket": bucket},
        )


def _bpa(value: bool) -> dict[str, Any]:
    return {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": value, "IgnorePublicAcls": value, "BlockPublicPolicy": value,
            "RestrictPublicBuckets": value}


def _policy(principal: Any, condition: dict[str, Any] | None = None, bucket: str = "finance-reports") -> dict[str, Any]:
    stmt: dict[str, Any] = {"Sid": "s", "Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    if condition:
        stmt["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [stmt]}


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, bucket_params, every, iam_user, record

    s3, bucket, s3p = "s3.amazonaws.com", "finance-reports", bucket_params
    mallory = iam_user(account, "mallory")
    t = every(start, 3)
    control = {"Host": f"{account}.s3-control.us-east-1.amazonaws.com"}
    all_users = {"AccessControlList": {"Grant": [{"Grantee": {"xsi:type": "Group", "URI": _ALL_USERS}, "Permission": "READ"}]}, "Owner": {"ID": "abc"}}

    def call(name: str, params: dict[str, Any], who: dict[str, Any] | None = None, source: str = s3) -> dict[str, Any]:
        return record(name, source, time=next(t), account=account, identity=who, params=params)

    return [
        Case("account-bpa-disabled", "Policy:S3/AccountBlockPublicAccessDisabled",
             call("PutAccountPublicAccessBlock", {"PublicAccessBlockConfiguration": _bpa(False), **control}, mallory)),
        Case("account-bpa-enabled", None, call("PutAccountPublicAccessBlock", {"PublicAccessBlockConfiguration": _bpa(True), **control})),
        Case("bucket-bpa-disabled", "Policy:S3/BucketBlockPublicAccessDisabled",
             call("PutBucketPublicAccessBlock", s3p(publicAccessBlock="", PublicAccessBlockConfiguration=_bpa(False)), mallory)),
        Case("bpa-delete-not-s3", None, call("DeleteBucketPublicAccessBlock", {}, source="ec2.amazonaws.com")),
        Case("bucket-bpa-enabled", None, call("PutBucketPublicAccessBlock", s3p(publicAccessBlock="", PublicAccessBlockConfiguration=_bpa(True)))),
        Case("bucket-policy-anonymous", "Policy:S3/BucketAnonymousAccessGranted", call("PutBucketPolicy", s3p(policy="", bucketPolicy=_policy("*")), mallory)),
        Case("bucket-policy-authenticated", "Policy:S3/BucketPublicAccessGranted", call("PutBucketPolicy", s3p(policy="", bucketPolicy=_policy(
            {"AWS": "*"}, {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*"}})), mallory)),
        # Not public: no Policy finding. In an estate, the identity that makes it has never changed a permission, and makes it from
        # a place unseen for it: the bucket-backdoor pattern Impact:S3/AnomalousBehavior.Permission is there for.
        Case("bucket-policy-one-account", None, call("PutBucketPolicy", s3p(policy="", bucketPolicy=_policy({"AWS": "arn:aws:iam::444455556666:root"}))),
             also=frozenset({"Impact:S3/AnomalousBehavior.Permission"})),
        Case("bucket-policy-wildcard-in-org", None, call("PutBucketPolicy", s3p(policy="", bucketPolicy=_policy(
            "*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}})))),
        # StringEqualsIfExists on the VPC endpoint: a request from the internet has no endpoint, so it is let in
        Case("bucket-policy-vpce-ifexists", "Policy:S3/BucketAnonymousAccessGranted", call("PutBucketPolicy", s3p(policy="", bucketPolicy=_policy(
            "*", {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}})), mallory)),
        Case("bucket-policy-vpce", None, call("PutBucketPolicy", s3p(policy="", bucketPolicy=_policy("*", {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})))),
        Case("bucket-acl-all-users", "Policy:S3/BucketAnonymousAccessGranted", call("PutBucketAcl", s3p(acl="", AccessControlPolicy=all_users), mallory)),
        Case("bucket-acl-private", None, call("PutBucketAcl", s3p(acl="", **{"x-amz-acl": ["private"]}))),
    ]
