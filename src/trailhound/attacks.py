"""Labelled attack and near-miss CloudTrail records, written the way AWS logs them.

Used by ``trailhound demo`` and by the tests: each ``Case`` is one record and the finding type
it must raise (``expect``), or ``None`` for a near miss that must raise nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ATTACKER_IP = "89.160.20.112"  # a public address on no packaged list; the demo puts it on a threat list
CUSTOM_DOMAIN = "exfil-staging.example.org"  # the demo puts it on a threat (entity) list
BENIGN_IP = "52.94.236.248"  # an AWS service address: public, on no list
TRUSTED_IP = "81.2.69.160"  # the operator's office (a public address); the demo puts it on a trusted list
KALI_UA = "aws-cli/2.23.6 md/awscrt#0.23.4 ua/2.0 os/linux#6.11.2-amd64 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython md/distrib#kali.2025 cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#iam.get-user"
CLI_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3api"


@dataclass(frozen=True)
class Case:
    name: str
    expect: str | None  # finding type it must raise; None = near miss
    record: Any  # a CloudTrail record, a flow-log row (FLOW_FIELDS names) or a list of them, or a Route 53 query log record
    source: str = "cloudtrail"  # "cloudtrail" | "flow" | "dns"
    needs_custom_list: bool = False  # fires only with ATTACKER_IP / CUSTOM_DOMAIN on an operator threat list


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
        # ids derived from the content: the same case is the same record on every run (reproducible estates)
        "requestID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"req|{event_name}|{time.isoformat()}|{ip}|{json.dumps(params, sort_keys=True)}")),
        "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"evt|{event_name}|{time.isoformat()}|{ip}|{json.dumps(params, sort_keys=True)}")),
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
        Case("root-console-call", "Policy:IAMUser/RootCredentialUsage", {**record("CreateAccessKey", iam, time=next(t), account=account, identity={**root_user(account), "invokedBy": "signin.amazonaws.com"}, ua="AWS Internal", params={})}),
        Case("root-service-event", None, {**record("ListBuckets", s3, time=next(t), account=account, identity={**root_user(account), "invokedBy": "config.amazonaws.com"}), "sourceIPAddress": "config.amazonaws.com"}),
        Case("kali-api-call", "PenTest:IAMUser/KaliLinux", record("GetUser", iam, time=next(t), account=account, identity=mallory, ua=KALI_UA, params={"userName": "admin"})),
        Case("parrot-api-call", "PenTest:IAMUser/ParrotLinux", record("ListUsers", iam, time=next(t), account=account, identity=mallory, ua="Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0-13parrot1-amd64 md/distrib#parrot.6 lang/python#3.11.2")),
        Case("pentoo-api-call", "PenTest:IAMUser/PentooLinux", record("ListRoles", iam, time=next(t), account=account, identity=mallory, ua="aws-cli/2.13.0 Python/3.11.6 Linux/6.6.1-pentoo exe/x86_64.pentoo")),
        Case("parrot-s3-data-event", "PenTest:S3/ParrotLinux", record("ListObjects", s3, time=next(t), account=account, identity=mallory, ua="aws-cli/2.15.0 Python/3.11.2 Linux/6.5.0-13parrot1-amd64 exe/x86_64.parrot.6", params=s3p(), data_event=True)),
        Case("pentoo-s3-data-event", "PenTest:S3/PentooLinux", record("PutObject", s3, time=next(t), account=account, identity=mallory, ua="Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#6.6.1-pentoo md/distrib#pentoo lang/python#3.11.6", params=s3p(key="x.txt"), data_event=True)),
        Case("kalimba-not-kali", None, record("ListRoles", iam, time=next(t), account=account, ua="kalimba-sdk/1.0 aws-cli/2.13.0 Python/3.11.6 Linux/6.6.1 exe/x86_64.ubuntu.22")),
        Case("kali-s3-data-event", "PenTest:S3/KaliLinux", record("GetObject", s3, time=next(t), account=account, identity=mallory, ua=KALI_UA, params=s3p(key="q3.xlsx"), data_event=True)),
        Case("account-bpa-disabled", "Policy:S3/AccountBlockPublicAccessDisabled", record("PutAccountPublicAccessBlock", s3, time=next(t), account=account, identity=mallory, params={"PublicAccessBlockConfiguration": _bpa(False), "Host": f"{account}.s3-control.us-east-1.amazonaws.com"})),
        Case("account-bpa-enabled", None, record("PutAccountPublicAccessBlock", s3, time=next(t), account=account, params={"PublicAccessBlockConfiguration": _bpa(True), "Host": f"{account}.s3-control.us-east-1.amazonaws.com"})),
        Case("bucket-bpa-disabled", "Policy:S3/BucketBlockPublicAccessDisabled", record("PutBucketPublicAccessBlock", s3, time=next(t), account=account, identity=mallory, params=s3p(publicAccessBlock="", PublicAccessBlockConfiguration=_bpa(False)))),
        Case("bpa-delete-not-s3", None, record("DeleteBucketPublicAccessBlock", "ec2.amazonaws.com", time=next(t), account=account, params={})),
        Case("bucket-bpa-enabled", None, record("PutBucketPublicAccessBlock", s3, time=next(t), account=account, params=s3p(publicAccessBlock="", PublicAccessBlockConfiguration=_bpa(True)))),
        Case("bucket-policy-anonymous", "Policy:S3/BucketAnonymousAccessGranted", record("PutBucketPolicy", s3, time=next(t), account=account, identity=mallory, params=s3p(policy="", bucketPolicy=_policy("*")))),
        Case("bucket-policy-authenticated", "Policy:S3/BucketPublicAccessGranted", record("PutBucketPolicy", s3, time=next(t), account=account, identity=mallory, params=s3p(policy="", bucketPolicy=_policy({"AWS": "*"}, {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*"}})))),
        Case("bucket-policy-one-account", None, record("PutBucketPolicy", s3, time=next(t), account=account, params=s3p(policy="", bucketPolicy=_policy({"AWS": "arn:aws:iam::444455556666:root"})))),
        Case("bucket-policy-wildcard-in-org", None, record("PutBucketPolicy", s3, time=next(t), account=account, params=s3p(policy="", bucketPolicy=_policy("*", {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}})))),
        Case("bucket-acl-all-users", "Policy:S3/BucketAnonymousAccessGranted", record("PutBucketAcl", s3, time=next(t), account=account, identity=mallory, params=s3p(acl="", AccessControlPolicy={"AccessControlList": {"Grant": [{"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}, "Owner": {"ID": "abc"}}))),
        Case("bucket-acl-private", None, record("PutBucketAcl", s3, time=next(t), account=account, params=s3p(acl="", **{"x-amz-acl": ["private"]}))),
        Case("bucket-logging-disabled", "Stealth:S3/ServerAccessLoggingDisabled", record("PutBucketLogging", s3, time=next(t), account=account, identity=mallory, params=s3p(logging="", BucketLoggingStatus={"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}))),
        Case("bucket-logging-unstated", None, record("PutBucketLogging", s3, time=next(t), account=account, params=s3p())),
        Case("bucket-logging-enabled", None, record("PutBucketLogging", s3, time=next(t), account=account, params=s3p(logging="", BucketLoggingStatus={"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": f"{bucket}/"}}))),
    ]


def threat_list_cases(start: datetime, account: str = "111122223333") -> list[Case]:
    """API calls from the threat-listed attacker IP, and the same calls from the trusted office IP."""
    mallory = iam_user(account, "mallory")
    iam = "iam.amazonaws.com"
    return [
        Case("threat-ip-recon", "Recon:IAMUser/MaliciousIPCaller.Custom", record("ListAccessKeys", iam, time=start, account=account, identity=mallory, ip=ATTACKER_IP), needs_custom_list=True),
        Case("threat-ip-write", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", record("CreateUser", iam, time=start + timedelta(minutes=1), account=account, identity=mallory, ip=ATTACKER_IP, params={"userName": "backdoor"}), needs_custom_list=True),
        Case("trusted-ip-stop-logging", None, record("StopLogging", "cloudtrail.amazonaws.com", time=start + timedelta(minutes=2), account=account, ip=TRUSTED_IP, params={"name": "scratch-trail"})),
    ]


# ---- threat intelligence: API callers, flows, DNS ---------------------------------------------

def _also() -> dict[Any, set[Any]]:
    from trailhound.intel.index import Category

    return {Category.TOR_EXIT: {Category.TOR_RELAY}}


def example_indicator(category: Any, kind: str = "ip") -> str:
    """A packaged indicator of exactly this category (and no other), to build realistic attacks."""
    return packaged_indicators(category, 1, kind)[0]


def packaged_indicators(category: Any, n: int, kind: str = "ip") -> list[str]:
    """n distinct packaged IPs (or domains) that are on lists of this category only (every Tor exit
    is a Tor relay as well, so exits may be on both)."""
    import gzip as _gzip

    from trailhound.intel.builtin import DATA_DIR
    from trailhound.intel.builtin import builtin_index

    index, found, _ALSO = builtin_index(), [], _also()
    for path in sorted(DATA_DIR.glob("*.tsv*")):
        raw = path.read_bytes()
        for line in (_gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode().splitlines():
            value = line.split("\t", 1)[0]
            if not value or value.startswith("#") or "/" in value:
                continue
            is_ip = value.count(".") == 3 and value.replace(".", "").isdigit()
            if (kind == "ip") != is_ip:
                continue
            hits = index.ip(value) if is_ip else index.domain(value)
            cats = {h.category for h in hits}
            if category in cats and cats <= {category} | _ALSO.get(category, set()) and value not in found:
                found.append(value)
                if len(found) == n:
                    return found
    raise LookupError(f"fewer than {n} packaged {kind} indicators of category {category}")


INSTANCE = "i-0a1b2c3d4e5f60718"
ENI = "eni-0a1b2c3d4e5f60718"
LOCAL_IP = "10.0.1.25"
VPC = "vpc-0a1b2c3d"


def flow_row(t: datetime, *, src: str, dst: str, sport: int, dport: int, action: str = "ACCEPT", direction: str | None = None,
             protocol: int = 6, packets: int = 4, nbytes: int = 320, account: str = "111122223333", flags: int | None = 2) -> dict[str, Any]:
    start = int(t.timestamp())
    return {
        "version": 5, "account-id": account, "interface-id": ENI, "srcaddr": src, "dstaddr": dst, "srcport": sport, "dstport": dport,
        "protocol": protocol, "packets": packets, "bytes": nbytes, "start": start, "end": start + 50, "action": action, "log-status": "OK",
        "vpc-id": VPC, "subnet-id": "subnet-0a1b2c3d", "instance-id": INSTANCE, "tcp-flags": flags, "type": "IPv4", "pkt-srcaddr": src,
        "pkt-dstaddr": dst, "region": "us-east-1", "az-id": "use1-az1", "flow-direction": direction or ("egress" if src == LOCAL_IP else "ingress"),
    }


def dns_record(t: datetime, name: str, *, answers: list[str] | None = None, account: str = "111122223333", rcode: str = "NOERROR") -> dict[str, Any]:
    return {
        "version": "1.100000", "account_id": account, "region": "us-east-1", "vpc_id": VPC,
        "query_timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": name.rstrip(".") + ".", "query_type": "A", "query_class": "IN",
        "rcode": rcode, "answers": [{"Rdata": a, "Type": "A", "Class": "IN"} for a in (answers or ["93.184.215.14"])],
        "srcaddr": LOCAL_IP, "srcport": "53124", "transport": "UDP", "srcids": {"instance": INSTANCE},
    }


def intel_cases(start: datetime, account: str = "111122223333") -> list[Case]:
    """Every threat-intelligence finding type, from the packaged intel or the demo's custom lists, with near misses."""
    from trailhound.intel.index import Category as C

    c2, crypto, sink = example_indicator(C.C2), example_indicator(C.CRYPTO), example_indicator(C.BLACKHOLE)
    tor_exit, tor_relay, scanner = example_indicator(C.TOR_EXIT), example_indicator(C.TOR_RELAY), example_indicator(C.SCANNER)
    relays = packaged_indicators(C.TOR_RELAY, 3)
    t = iter(start + timedelta(minutes=2 * i) for i in range(1000))
    s3, iam = "s3.amazonaws.com", "iam.amazonaws.com"
    mallory = iam_user(account, "mallory")
    obj = {"bucketName": "finance-reports", "key": "q3.xlsx", "Host": "finance-reports.s3.amazonaws.com"}

    def api(name: str, expect: str | None, event: str, ip: str, *, data: bool = False, custom: bool = False, src: str = iam) -> Case:
        return Case(name, expect, record(event, s3 if data else src, time=next(t), account=account, identity=mallory, ip=ip,
                                         params=obj if data else None, data_event=data), needs_custom_list=custom)

    def flow(name: str, expect: str | None, custom: bool = False, **kw: Any) -> Case:
        return Case(name, expect, flow_row(next(t), account=account, **kw), source="flow", needs_custom_list=custom)

    def dns(name: str, expect: str | None, query: str, custom: bool = False, **kw: Any) -> Case:
        return Case(name, expect, dns_record(next(t), query, account=account, **kw), source="dns", needs_custom_list=custom)

    out = LOCAL_IP
    return [
        api("tor-exit-recon", "Recon:IAMUser/TorIPCaller", "ListBuckets", tor_exit, src=s3),
        api("tor-exit-console-login", "UnauthorizedAccess:IAMUser/TorIPCaller", "ConsoleLogin", tor_exit, src="signin.amazonaws.com"),
        api("c2-ip-recon", "Recon:IAMUser/MaliciousIPCaller", "DescribeInstances", c2, src="ec2.amazonaws.com"),
        api("c2-ip-run-instances", "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "RunInstances", c2, src="ec2.amazonaws.com"),
        api("benign-ip-recon", None, "DescribeInstances", BENIGN_IP, src="ec2.amazonaws.com"),
        api("s3-discovery-malicious", "Discovery:S3/MaliciousIPCaller", "ListObjects", c2, data=True),
        api("s3-exfiltration-malicious", "Exfiltration:S3/MaliciousIPCaller", "GetObject", c2, data=True),
        api("s3-impact-malicious", "Impact:S3/MaliciousIPCaller", "PutObject", c2, data=True),
        api("s3-discovery-custom", "Discovery:S3/MaliciousIPCaller.Custom", "ListObjects", ATTACKER_IP, data=True, custom=True),
        api("s3-write-custom", "UnauthorizedAccess:S3/MaliciousIPCaller.Custom", "PutObject", ATTACKER_IP, data=True, custom=True),
        api("s3-discovery-tor", "Discovery:S3/TorIPCaller", "ListObjects", tor_exit, data=True),
        api("s3-read-tor", "UnauthorizedAccess:S3/TorIPCaller", "GetObject", tor_exit, data=True),
        api("s3-read-benign", None, "GetObject", BENIGN_IP, data=True),
        flow("flow-c2", "Backdoor:EC2/C&CActivity.B", src=out, dst=c2, sport=49152, dport=443),
        flow("flow-crypto", "CryptoCurrency:EC2/BitcoinTool.B", src=out, dst=crypto, sport=49153, dport=3333),
        flow("flow-sinkhole", "Trojan:EC2/BlackholeTraffic", src=out, dst=sink, sport=49154, dport=80),
        flow("flow-custom", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", custom=True, src=out, dst=ATTACKER_IP, sport=49155, dport=8009),
        flow("flow-tor-client", "UnauthorizedAccess:EC2/TorClient", src=out, dst=tor_relay, sport=49156, dport=9001),
        flow("flow-benign", None, src=out, dst=BENIGN_IP, sport=49157, dport=443),
        flow("flow-c2-connects-in-rejected", None, src=c2, dst=out, sport=48328, dport=17000, action="REJECT"),
        flow("flow-reply-to-c2", None, src=out, dst=c2, sport=80, dport=41016, flags=18),
        flow("flow-reply-to-c2-no-flags", None, src=out, dst=c2, sport=80, dport=41016, flags=None),
        flow("flow-c2-high-port-no-flags", "Backdoor:EC2/C&CActivity.B", src=out, dst=c2, sport=40000, dport=50050, flags=None),
        flow("probe-emr-from-low-ephemeral", "Recon:EC2/PortProbeEMRUnprotectedPort", src=scanner, dst=out, sport=40000, dport=50070, flags=None),
        flow("flow-custom-connects-in", "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", custom=True, src=ATTACKER_IP, dst=out, sport=51515, dport=22, action="REJECT"),
        flow("probe-ssh", "Recon:EC2/PortProbeUnprotectedPort", src=scanner, dst=out, sport=61000, dport=22),
        flow("probe-elasticsearch", "Recon:EC2/PortProbeUnprotectedPort", src=scanner, dst=out, sport=61001, dport=9200),
        flow("probe-emr-yarn", "Recon:EC2/PortProbeEMRUnprotectedPort", src=scanner, dst=out, sport=61002, dport=8088),
        flow("probe-rejected", None, src=scanner, dst=out, sport=61003, dport=23, action="REJECT"),
        Case("tor-relay", "UnauthorizedAccess:EC2/TorRelay", [flow_row(next(t), account=account, src=r, dst=out, sport=40000 + i, dport=9001)
                                                            for i, r in enumerate(relays)], source="flow"),
        flow("tor-relay-one-peer", None, src=relays[0], dst=out, sport=40100, dport=9001),
        dns("dns-c2", "Backdoor:EC2/C&CActivity.B!DNS", "c2.guarddutyc2activityb.com"),
        dns("dns-crypto", "CryptoCurrency:EC2/BitcoinTool.B!DNS", "xmr.pool.minergate.com"),
        dns("dns-blackhole", "Trojan:EC2/BlackholeTraffic!DNS", "guarddutyblackholeactivity.com"),
        dns("dns-sinkholed-answer", "Trojan:EC2/BlackholeTraffic!DNS", "updates.example-cdn.net", answers=[sink]),
        dns("dns-drop-point", "Trojan:EC2/DropPoint!DNS", "guarddutydroppointactivity.com"),
        dns("dns-phishing", "Trojan:EC2/PhishingDomainRequest!DNS", "login.guarddutyphishingactivity.com"),
        dns("dns-drive-by", "Trojan:EC2/DriveBySourceTraffic!DNS", "guarddutydrivebyactivity.com"),
        dns("dns-dga", "Trojan:EC2/DGADomainRequest.C!DNS", "guarddutydgaactivity.com"),
        dns("dns-custom-domain", "Impact:EC2/MaliciousDomainRequest.Custom", "files." + CUSTOM_DOMAIN, custom=True),
        dns("dns-metadata-rebind", "UnauthorizedAccess:EC2/MetadataDNSRebind", "169.254.169.254.nip.io", answers=["169.254.169.254"]),
        dns("dns-imds-own-name", None, "instance-data.ec2.internal", answers=["169.254.169.254"]),
        dns("dns-shares-suffix-only", None, "notguarddutyc2activityb.com"),
        dns("dns-listed-name-as-label", None, "guarddutyc2activityb.com.attacker-lookalike.net"),
    ]


def all_cases(start: datetime, account: str = "111122223333") -> list[Case]:
    return rule_cases(start, account) + threat_list_cases(start + timedelta(hours=3), account) + intel_cases(start + timedelta(hours=4), account)


def write_case_logs(root: Path, cases: list[Case], account: str = "111122223333", region: str = "us-east-1") -> list[Path]:
    """Write cases as AWS delivers logs to S3: one CloudTrail object, one flow-log object, one DNS-log object."""
    import gzip as _gzip

    ct = [c.record for c in cases if c.source == "cloudtrail"]
    flows = [r for c in cases if c.source == "flow" for r in (c.record if isinstance(c.record, list) else [c.record])]
    dns = [c.record for c in cases if c.source == "dns"]
    stamp_t = min(case_time(c.record) for c in cases) if cases else datetime.now(UTC)
    stamp, day = stamp_t.strftime("%Y%m%dT%H%MZ"), stamp_t.strftime("%Y/%m/%d")
    base = root / "AWSLogs" / account
    written = []
    if ct:
        p = base / "CloudTrail" / region / day / f"{account}_CloudTrail_{region}_{stamp}_attack0000000001.json.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_gzip.compress(json.dumps({"Records": ct}).encode(), mtime=0))
        written.append(p)
    if flows:
        header = list(flows[0])
        lines = [" ".join(header)] + [" ".join("-" if r.get(f) is None else str(r[f]) for f in header) for r in flows]
        p = base / "vpcflowlogs" / region / day / f"{account}_vpcflowlogs_{region}_fl-0attack00000000001_{stamp}_0000a77a.log.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        written.append(p)
    if dns:
        p = base / "vpcdnsquerylogs" / VPC / day / f"{account}_vpcdnsquerylogs_{VPC}_{stamp}_0000a77a.log.gz"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_gzip.compress(("\n".join(json.dumps(r) for r in dns) + "\n").encode(), mtime=0))
        written.append(p)
    return written


def case_time(rec: Any) -> datetime:
    rec = rec[0] if isinstance(rec, list) else rec
    if "eventTime" in rec:
        return datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00"))
    if "query_timestamp" in rec:
        return datetime.fromisoformat(rec["query_timestamp"].replace("Z", "+00:00"))
    return datetime.fromtimestamp(rec["start"], UTC)


def add_attack_instance(inventory: Path) -> None:
    """Put the instance the network attack cases run on into a describe-instances file."""
    doc = json.loads(inventory.read_text()) if inventory.exists() else {"Reservations": []}
    doc["Reservations"].append({"ReservationId": "r-0a77ac4c0a77ac4c0", "OwnerId": "111122223333", "Instances": [{
        "InstanceId": INSTANCE, "InstanceType": "t3.medium", "ImageId": "ami-0c7217cdde317cfec", "LaunchTime": "2026-10-20T08:00:00+00:00",
        "Placement": {"AvailabilityZone": "us-east-1a"}, "PrivateIpAddress": LOCAL_IP, "State": {"Name": "running"},
        "SubnetId": "subnet-0a1b2c3d", "VpcId": VPC,
        "IamInstanceProfile": {"Arn": "arn:aws:iam::111122223333:instance-profile/web-app", "Id": "AIPAEXAMPLEWEBAPP0001"},
        "Tags": [{"Key": "Name", "Value": "web-app-1"}, {"Key": "team", "Value": "payments"}],
        "NetworkInterfaces": [{"NetworkInterfaceId": ENI, "PrivateIpAddress": LOCAL_IP, "SubnetId": "subnet-0a1b2c3d", "VpcId": VPC,
                               "PrivateIpAddresses": [{"PrivateIpAddress": LOCAL_IP, "Primary": True}],
                               "Association": {"PublicIp": "54.90.199.21", "PublicDnsName": "ec2-54-90-199-21.compute-1.amazonaws.com"},
                               "Groups": [{"GroupId": "sg-0a1b2c3d4e5f60718", "GroupName": "web-app"}]}],
    }]})
    inventory.write_text(json.dumps(doc, indent=1))


def write_custom_lists(root: Path) -> tuple[Path, Path]:
    """The operator's lists the cases assume: a threat list (an IP and a domain) and a trusted list."""
    root.mkdir(parents=True, exist_ok=True)
    threat = root / "attacker-infrastructure.txt"
    threat.write_text(f"# indicators from the incident\n{ATTACKER_IP}\n{CUSTOM_DOMAIN}\n")
    trusted = root / "office.txt"
    trusted.write_text(f"{TRUSTED_IP}\n")
    return threat, trusted
