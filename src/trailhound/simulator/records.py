"""Log records written the way AWS writes them: the building blocks of attack cases and estates.

``record`` builds a CloudTrail record, ``flow_row`` a VPC flow log row (v5 field names), and
``dns_record`` a Route 53 Resolver query log record. A ``Case`` is a labelled piece of an attack
(or of the benign activity that looks like one): the records, and the finding type they must raise,
or None for a near miss that must raise nothing. Detector modules keep their cases beside them
(``cases(start)``); the simulator writes them into estates and ``sample-findings`` scans them.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

ATTACKER_IP = "89.160.20.112"  # a public address on no packaged list; the demo puts it on a threat list
CUSTOM_DOMAIN = "exfil-staging.example.org"  # the demo puts it on a threat (entity) list
BENIGN_IP = "52.94.236.248"  # an AWS service address: public, on no list
TRUSTED_IP = "81.2.69.160"  # the operator's office (a public address); the demo puts it on a trusted list
KALI_UA = "aws-cli/2.23.6 md/awscrt#0.23.4 ua/2.0 os/linux#6.11.2-amd64 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython md/distrib#kali.2025 cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#iam.get-user"
CLI_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-18-amd64 exe/x86_64.debian.12 prompt/off command/s3api"


def iam_user(account: str, name: str = "alice") -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:16].upper(),
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": "AKIA" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:16].upper(),
        "userName": name,
    }


def failed_sign_in(account: str, name: str, *, time: datetime, ip: str, ua: str) -> dict[str, Any]:
    """A failed console sign-in of an existing IAM user as CloudTrail writes it: no errorCode, the error in
    errorMessage, and a userIdentity without ARN or access key."""
    who = iam_user(account, name)
    rec = record("ConsoleLogin", "signin.amazonaws.com", time=time, account=account, ip=ip, ua=ua, response={"ConsoleLogin": "Failure"},
                 identity={"type": "IAMUser", "principalId": who["principalId"], "accountId": account, "accessKeyId": "", "userName": name})
    rec.update(eventType="AwsConsoleSignIn", errorMessage="Failed authentication", readOnly=False,
               additionalEventData={"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"})
    return rec


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

@dataclass(frozen=True)
class Case:
    name: str
    expect: str | None  # finding type it must raise; None = near miss
    record: Any  # a CloudTrail record, a flow-log row (FLOW_FIELDS names) or a list of them, or a Route 53 query log record
    source: str = "cloudtrail"  # "cloudtrail" | "flow" | "dns"
    needs_custom_list: bool = False  # fires only with ATTACKER_IP / CUSTOM_DOMAIN on an operator threat list
    role: str | None = None  # the resourceRole the finding must carry (ACTOR / TARGET), when it matters
    # other types its records justifiably raise: an attack sequence is made of them; a near miss of one type may be a fair case of another
    also: frozenset[str] = frozenset()

    @property
    def records(self) -> list[Any]:
        return self.record if isinstance(self.record, list) else [self.record]


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


@dataclass(frozen=True)
class Host:
    """An instance of the attack cases: flow records are logged at its network interface."""

    instance: str
    eni: str
    ip: str
    name: str = "web-app-1"
    platform: str | None = None  # "windows" for Windows hosts
    group: str | None = None  # the Auto Scaling group it was launched by


VPC = "vpc-0a1b2c3d"
HOST = Host("i-0a1b2c3d4e5f60718", "eni-0a1b2c3d4e5f60718", "10.0.1.25")
BASTION = Host("i-0b5a57104b5a57104", "eni-0b5a57104b5a57104", "10.0.1.40", "bastion-1")
WINDOWS_HOST = Host("i-0d3e57d3e57d3e57d", "eni-0d3e57d3e57d3e57d", "10.0.2.33", "win-app-1", "windows")
BUILD_HOST = Host("i-0c0b1d0c0b1d0c0b1", "eni-0c0b1d0c0b1d0c0b1", "10.0.3.17", "build-1")
MONITOR_HOST = Host("i-0e0e1e0e0e1e0e0e1", "eni-0e0e1e0e0e1e0e0e1", "10.0.3.50", "monitoring-1")
# Instances of one baseline case each (detectors/habits.py): cases that run together never lend each other
# history. 10.0.200.x: no simulated estate uses that subnet.
BASELINE_HOSTS = {n: Host(f"i-0ba5e1{n:011x}", f"eni-0ba5e1{n:011x}", f"10.0.200.{n}", f"baseline-{n}") for n in range(1, 64)}
# members of two Auto Scaling groups (their baselines are their fleet's)
FLEET_HOSTS = {n: Host(f"i-0f1ee7{n:011x}", f"eni-0f1ee7{n:011x}", f"10.0.210.{n}", f"fleet-{n}", group="web-fleet" if n < 5 else "api-fleet")
               for n in range(1, 9)}
HOSTS = (HOST, BASTION, WINDOWS_HOST, BUILD_HOST, MONITOR_HOST, *BASELINE_HOSTS.values(), *FLEET_HOSTS.values())
INSTANCE, ENI, LOCAL_IP = HOST.instance, HOST.eni, HOST.ip


def public_ip(host: Host) -> str:
    """The public address the cases' inventory gives an instance (Amazon's, us-east-1)."""
    return f"54.90.199.{21 + HOSTS.index(host)}"


def flow_row(t: datetime, *, src: str, dst: str, sport: int, dport: int, action: str = "ACCEPT", direction: str | None = None,
             protocol: int = 6, packets: int = 4, nbytes: int = 320, account: str = "111122223333", flags: int | None = 2,
             at: Host = HOST, duration: int = 50) -> dict[str, Any]:
    """One flow record, logged at ``at``'s interface (egress when ``at`` is the source)."""
    start = int(t.timestamp())
    return {
        "version": 5, "account-id": account, "interface-id": at.eni, "srcaddr": src, "dstaddr": dst, "srcport": sport, "dstport": dport,
        "protocol": protocol, "packets": packets, "bytes": nbytes, "start": start, "end": start + duration, "action": action, "log-status": "OK",
        "vpc-id": VPC, "subnet-id": "subnet-0a1b2c3d", "instance-id": at.instance, "tcp-flags": flags, "type": "IPv4", "pkt-srcaddr": src,
        "pkt-dstaddr": dst, "region": "us-east-1", "az-id": "use1-az1", "flow-direction": direction or ("egress" if src == at.ip else "ingress"),
    }


def dns_record(t: datetime, name: str, *, answers: list[str] | None = None, account: str = "111122223333", rcode: str = "NOERROR",
               query_type: str = "A") -> dict[str, Any]:
    return {
        "version": "1.100000", "account_id": account, "region": "us-east-1", "vpc_id": VPC,
        "query_timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "query_name": name.rstrip(".") + ".", "query_type": query_type, "query_class": "IN",
        "rcode": rcode, "answers": [{"Rdata": a, "Type": "A", "Class": "IN"} for a in (answers or ["93.184.215.14"])],
        "srcaddr": LOCAL_IP, "srcport": "53124", "transport": "UDP", "srcids": {"instance": INSTANCE},
    }


def every(start: datetime, minutes: float) -> Iterator[datetime]:
    """start, start + minutes, start + 2 * minutes, ... (one time per case record)."""
    i = 0
    while True:
        yield start + timedelta(minutes=minutes * i)
        i += 1


def bucket_params(bucket: str = "finance-reports", **extra: Any) -> dict[str, Any]:
    """requestParameters of an S3 call on a bucket, as CloudTrail logs them."""
    return {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", **extra}


_PUBLIC_FIRST_OCTETS = (23, 31, 37, 45, 46, 62, 77, 78, 80, 81, 82, 83, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 109, 176, 178, 185, 188,
                        193, 194, 195, 212, 213, 217)


def internet_addresses(n: int, seed: int) -> list[str]:
    """n distinct public addresses spread over many networks, none on a packaged threat list."""
    from trailhound.simulator.spec import unlisted_ip

    rnd = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < n:
        out[unlisted_ip(rnd, f"{_PUBLIC_FIRST_OCTETS[len(out) % len(_PUBLIC_FIRST_OCTETS)]}.")] = None
    return list(out)


def case_time(rec: Any) -> datetime:
    rec = rec[0] if isinstance(rec, list) else rec
    if "eventTime" in rec:
        return datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00"))
    if "query_timestamp" in rec:
        return datetime.fromisoformat(rec["query_timestamp"].replace("Z", "+00:00"))
    return datetime.fromtimestamp(rec["start"], UTC)
