"""API calls from a known-bad address: CloudTrail management events and S3 data events.

Which type an indicator raises depends on what the address is (its list ``Category``) and what
the call does:

* management events — Recon:IAMUser/* for read-only discovery APIs, UnauthorizedAccess:IAMUser/*
  for everything else; MaliciousIPCaller (packaged lists), .Custom (the operator's lists),
  TorIPCaller (Tor exit nodes);
* S3 data events — Discovery:S3 for listing and ACL reads, Exfiltration:S3 for object reads and
  copies, Impact:S3 for writes and deletes (packaged lists); .Custom and Tor split into Discovery:S3
  and UnauthorizedAccess:S3.

One finding per kind of list the caller is on, aggregated per type, principal (or bucket) and address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence, bucket_resource, evidence, threat_info
from trailhound.findings.model import HIGH, MEDIUM, Occurrence
from trailhound.intel.index import Category, ThreatHit

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

RECON_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet", "Scan")
S3_DISCOVERY = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions", "GetObjectAcl", "GetBucketAcl", "GetBucketPolicy",
                          "GetBucketLocation", "HeadBucket", "ListMultipartUploads", "ListParts", "GetObjectTagging", "GetBucketTagging",
                          "GetObjectAttributes", "HeadObject"})
S3_COLLECTION = frozenset({"GetObject", "CopyObject", "UploadPartCopy", "SelectObjectContent", "GetObjectTorrent", "RestoreObject"})

_KIND = {Category.CUSTOM: "custom", Category.TOR_EXIT: "tor", Category.MALICIOUS: "malicious", Category.C2: "malicious"}
_RECON = ("TA0007 Discovery", "T1580 Cloud Infrastructure Discovery")
_ACCESS = ("TA0001 Initial Access", "T1078.004 Valid Accounts: Cloud Accounts")
_S3_DISCOVERY = ("TA0007 Discovery", "T1619 Cloud Storage Object Discovery")
_S3_READ = ("TA0010 Exfiltration", "T1530 Data from Cloud Storage")
_S3_WRITE = ("TA0040 Impact", "T1485 Data Destruction")


def _types() -> tuple[FindingType, ...]:
    out = []
    for purpose, mitre, what in (("Recon", _RECON, "a Describe/List/Get… API"), ("UnauthorizedAccess", _ACCESS, "any other API")):
        for suffix, who in (("MaliciousIPCaller", "an address on the packaged lists"), ("MaliciousIPCaller.Custom", "an address on your threat list"),
                            ("TorIPCaller", "a Tor exit node")):
            out.append(FindingType(f"{purpose}:IAMUser/{suffix}", severity(MEDIUM), *mitre, f"{what} called from {who}"))
    s3 = (("Discovery:S3/MaliciousIPCaller", HIGH, _S3_DISCOVERY, "S3 listing or ACL read from a listed address"),
          ("Discovery:S3/MaliciousIPCaller.Custom", HIGH, _S3_DISCOVERY, "S3 listing or ACL read from an address on your threat list"),
          ("Discovery:S3/TorIPCaller", MEDIUM, _S3_DISCOVERY, "S3 listing or ACL read from a Tor exit node"),
          ("Exfiltration:S3/MaliciousIPCaller", HIGH, _S3_READ, "GetObject, CopyObject… from a listed address"),
          ("Impact:S3/MaliciousIPCaller", HIGH, _S3_WRITE, "S3 writes and deletes from a listed address"),
          ("UnauthorizedAccess:S3/MaliciousIPCaller.Custom", HIGH, _S3_READ, "other S3 data calls from an address on your threat list"),
          ("UnauthorizedAccess:S3/TorIPCaller", HIGH, _S3_READ, "other S3 data calls from a Tor exit node"))
    out += [FindingType(name, severity(level), *mitre, trigger, sources=("S3DataEvents",)) for name, level, mitre, trigger in s3]
    return tuple(out)


def finding_type_of(e: ApiCall, category: Category) -> str:
    kind = _KIND[category]
    if e.is_s3_data_event:
        discovery = e.event_name in S3_DISCOVERY
        if kind == "custom":
            return "Discovery:S3/MaliciousIPCaller.Custom" if discovery else "UnauthorizedAccess:S3/MaliciousIPCaller.Custom"
        if kind == "tor":
            return "Discovery:S3/TorIPCaller" if discovery else "UnauthorizedAccess:S3/TorIPCaller"
        if discovery:
            return "Discovery:S3/MaliciousIPCaller"
        return "Exfiltration:S3/MaliciousIPCaller" if e.event_name in S3_COLLECTION else "Impact:S3/MaliciousIPCaller"
    recon = e.event_name.startswith(RECON_PREFIXES)
    suffix = {"custom": "MaliciousIPCaller.Custom", "tor": "TorIPCaller", "malicious": "MaliciousIPCaller"}[kind]
    return f"{'Recon' if recon else 'UnauthorizedAccess'}:IAMUser/{suffix}"


def _pick(hits: Sequence[ThreatHit], categories: Mapping[Category, Any]) -> tuple[Category, list[ThreatHit]] | None:
    """The most specific category present (mapping order = priority) and its hits."""
    for category in categories:
        chosen = [h for h in hits if h.category is category]
        if chosen:
            return category, chosen
    return None


class ApiCallerThreatIntel(Rule):
    name = "api-caller-threat-intel"
    method = "threat intel"
    consumes = Source.CLOUDTRAIL
    findings = _types()

    def match(self, e: ApiCall) -> list[Occurrence] | None:
        hits = self.intel.ip(e.source_ip)
        if not hits:
            return None
        out = []
        # One finding per kind of list the caller is on (custom and built-in lists both report).
        for group in ({Category.CUSTOM: 0}, {Category.TOR_EXIT: 0}, {Category.C2: 0, Category.MALICIOUS: 0}):
            picked = _pick(hits, group)
            if picked:
                out.append(self._occurrence(e, *picked))
        return out

    def _occurrence(self, e: ApiCall, category: Category, hits: list[ThreatHit]) -> Occurrence:
        ftype = finding_type_of(e, category)
        source = "a Tor exit node" if category is Category.TOR_EXIT else f"an IP address on the threat list {hits[0].list_name}"
        bucket = str(e.params().get("bucketName") or "") if e.is_s3_data_event else ""
        if bucket:
            return api_occurrence(
                e, ftype, self.severity(ftype),
                f"The S3 API {e.event_name} was invoked from {source}.",
                f"The S3 API {e.event_name} on bucket {bucket} was invoked by {e.user_identity.name} from {e.source_ip}, {source}.",
                resource=bucket_resource(e, bucket), resource_key=bucket, affected={"AWS::S3::Bucket": bucket},
                additional_info=threat_info(hits), aggregation_key=e.source_ip or "", evidence=evidence(hits),
            )
        return api_occurrence(
            e, ftype, self.severity(ftype),
            f"The API {e.event_name} was invoked from {source}.",
            f"The API {e.event_name} was invoked by {e.user_identity.name} from {e.source_ip}, {source}.",
            additional_info=threat_info(hits), aggregation_key=e.source_ip or "", evidence=evidence(hits),
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import ATTACKER_IP, BENIGN_IP, Case, example_indicator, iam_user, record

    c2, tor_exit = example_indicator(Category.C2), example_indicator(Category.TOR_EXIT)
    t = iter(start + timedelta(minutes=2 * i) for i in range(1000))
    s3, iam = "s3.amazonaws.com", "iam.amazonaws.com"
    mallory = iam_user(account, "mallory")
    obj = {"bucketName": "finance-reports", "key": "q3.xlsx", "Host": "finance-reports.s3.amazonaws.com"}

    def api(name: str, expect: str | None, event: str, ip: str, *, data: bool = False, custom: bool = False, src: str = iam,
            params: dict[str, Any] | None = None) -> Case:
        return Case(name, expect, record(event, s3 if data else src, time=next(t), account=account, identity=mallory, ip=ip,
                                         params=obj if data else params, data_event=data), needs_custom_list=custom,
                    also=sequences if expect else frozenset())

    # mallory's calls from listed addresses, read together (a simulated estate holds them all), are an attack sequence
    from trailhound.detectors.attack_sequence import IAM_SEQ, S3_SEQ

    sequences = frozenset({IAM_SEQ, S3_SEQ})

    return [
        api("threat-ip-recon", "Recon:IAMUser/MaliciousIPCaller.Custom", "ListAccessKeys", ATTACKER_IP, custom=True),
        api("threat-ip-write", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", "CreateUser", ATTACKER_IP, custom=True,
            params={"userName": "backdoor"}),
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
    ]
