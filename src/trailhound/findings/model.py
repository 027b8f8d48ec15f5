"""Findings in GuardDuty's wire form, typed.

Every part of a finding is a msgspec Struct whose encoded JSON *is* GuardDuty's wire form
(camelCase, as GetFindings and the EventBridge/S3 export carry it). ``action`` and ``resource``
are tagged unions on ``actionType`` and ``resourceType``, so a decoder knows which details a
finding carries. ``encode``/``decode`` here are the one codec for the store, the CLI, the API
and the exports.

A detector emits ``Occurrence``s: one sighting of a finding type on a resource. The first
occurrence creates the finding; later ones with the same identity update it — ``service.count``,
``updatedAt``, ``eventFirstSeen``/``eventLastSeen`` and the details of the latest occurrence — as
GuardDuty does (reference §4a). Aggregation is order-independent (the latest occurrence wins, ties
broken by content), so the same occurrences in any order give the same finding: a replayed or
re-partitioned batch changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
import orjson

LOW, MEDIUM, HIGH = 2.0, 5.0, 8.0
CRITICAL = 9.0  # attack sequences only
SCHEMA_VERSION = "2.0"


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Wire-form parts: camelCase names, absent values left out (as GuardDuty's API does)."""


# ---- addresses and ports ------------------------------------------------------------------

class City(_Wire):
    city_name: str | None = None


class Country(_Wire):
    country_code: str | None = None
    country_name: str | None = None


class GeoLocation(_Wire):
    lat: float | None = None
    lon: float | None = None


class Organization(_Wire):
    asn: str | None = None
    asn_org: str | None = None
    isp: str | None = None
    org: str | None = None


class RemoteIpDetails(_Wire):
    ip_address_v4: str | None = None
    ip_address_v6: str | None = None
    city: City | None = None
    country: Country | None = None
    geo_location: GeoLocation | None = None
    organization: Organization | None = None

    @property
    def ip(self) -> str | None:
        return self.ip_address_v4 or self.ip_address_v6


class LocalIpDetails(_Wire):
    ip_address_v4: str | None = None
    ip_address_v6: str | None = None


class PortDetails(msgspec.Struct, rename="camel", kw_only=True):
    port: int | None
    port_name: str


class DomainDetails(_Wire):
    domain: str | None = None


# ---- actions (tagged on actionType) -------------------------------------------------------

class AwsApiCallAction(_Wire):
    api: str
    service_name: str | None = None
    caller_type: str | None = None
    user_agent: str | None = None
    error_code: str | None = None
    remote_ip_details: RemoteIpDetails | None = None
    domain_details: DomainDetails | None = None
    affected_resources: dict[str, str] | None = None


class NetworkConnectionAction(msgspec.Struct, rename="camel", kw_only=True):
    connection_direction: str
    protocol: str
    blocked: bool
    local_network_interface: str | None
    local_ip_details: LocalIpDetails
    local_port_details: PortDetails
    remote_ip_details: RemoteIpDetails
    remote_port_details: PortDetails | None = None


class PortProbeDetail(_Wire):
    local_port_details: PortDetails
    local_ip_details: LocalIpDetails
    remote_ip_details: RemoteIpDetails


class PortProbeAction(_Wire):
    blocked: bool
    port_probe_details: list[PortProbeDetail]


class DnsRequestAction(_Wire):
    domain: str
    blocked: bool
    protocol: str | None = None
    domain_with_suffix: str | None = None
    vpc_owner_account_id: str | None = None


class AwsApiCall(_Wire, tag_field="actionType", tag="AWS_API_CALL"):
    aws_api_call_action: AwsApiCallAction


class NetworkConnection(_Wire, tag_field="actionType", tag="NETWORK_CONNECTION"):
    network_connection_action: NetworkConnectionAction


class PortProbe(_Wire, tag_field="actionType", tag="PORT_PROBE"):
    port_probe_action: PortProbeAction


class DnsRequest(_Wire, tag_field="actionType", tag="DNS_REQUEST"):
    dns_request_action: DnsRequestAction


Action = AwsApiCall | NetworkConnection | PortProbe | DnsRequest


def remote_ips(action: Action) -> list[RemoteIpDetails]:
    """Every remote address an action names (enrichment fills each with geo and ASN)."""
    if isinstance(action, NetworkConnection):
        return [action.network_connection_action.remote_ip_details]
    if isinstance(action, PortProbe):
        return [d.remote_ip_details for d in action.port_probe_action.port_probe_details]
    if isinstance(action, AwsApiCall) and action.aws_api_call_action.remote_ip_details is not None:
        return [action.aws_api_call_action.remote_ip_details]
    return []


# ---- resources (tagged on resourceType) ---------------------------------------------------

class Tag(msgspec.Struct, kw_only=True):
    key: str | None = None
    value: str | None = None


class PrivateIpAddress(msgspec.Struct, rename="camel", kw_only=True):
    private_dns_name: str | None = None
    private_ip_address: str | None = None


class SecurityGroup(msgspec.Struct, rename="camel", kw_only=True):
    group_id: str | None = None
    group_name: str | None = None


class NetworkInterface(msgspec.Struct, rename="camel", kw_only=True):
    """As GuardDuty shows an interface: unknown attributes are null, not absent."""

    network_interface_id: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    private_dns_name: str | None = None
    private_ip_address: str | None = None
    private_ip_addresses: list[PrivateIpAddress] = msgspec.field(default_factory=list)
    public_dns_name: str | None = None
    public_ip: str | None = None
    ipv6_addresses: list[str | None] = msgspec.field(default_factory=list)
    security_groups: list[SecurityGroup] = msgspec.field(default_factory=list)


class IamInstanceProfile(msgspec.Struct, kw_only=True):
    arn: str | None = None
    id: str | None = None


class ProductCode(msgspec.Struct, rename="camel", kw_only=True):
    product_code_id: str | None = None
    product_code_type: str | None = None


class InstanceDetails(msgspec.Struct, rename="camel", kw_only=True):
    """As GuardDuty shows an instance: unknown attributes are null, not absent."""

    instance_id: str | None = None
    instance_type: str | None = None
    instance_state: str | None = None
    availability_zone: str | None = None
    image_id: str | None = None
    image_description: str | None = None
    launch_time: str | None = None
    platform: str | None = None
    iam_instance_profile: IamInstanceProfile | None = None
    network_interfaces: list[NetworkInterface] = msgspec.field(default_factory=list)
    product_codes: list[ProductCode] = msgspec.field(default_factory=list)
    tags: list[Tag] = msgspec.field(default_factory=list)


class AccessKeyDetails(msgspec.Struct, rename="camel", kw_only=True):
    access_key_id: str | None = None
    principal_id: str | None = None
    user_name: str | None = None
    user_type: str | None = None


class S3BucketDetail(_Wire):
    arn: str
    name: str
    type: str  # "Destination"
    tags: list[Tag]
    public_access: dict[str, Any] | None = None


class InstanceResource(_Wire, tag_field="resourceType", tag="Instance"):
    instance_details: InstanceDetails


class AccessKeyResource(_Wire, tag_field="resourceType", tag="AccessKey"):
    access_key_details: AccessKeyDetails


class S3BucketResource(_Wire, tag_field="resourceType", tag="S3Bucket"):
    access_key_details: AccessKeyDetails | None = None
    s3_bucket_details: list[S3BucketDetail] = msgspec.field(default_factory=list)


Resource = InstanceResource | AccessKeyResource | S3BucketResource


# ---- evidence, service, finding -----------------------------------------------------------

class ThreatIntelligenceDetail(_Wire):
    threat_list_name: str
    threat_names: list[str]
    threat_file_sha256: str | None = None


class Evidence(_Wire):
    threat_intelligence_details: list[ThreatIntelligenceDetail] = msgspec.field(default_factory=list)


class AnomalyObservations(_Wire):
    text: list[str] = msgspec.field(default_factory=list)


class AnomalyObject(_Wire, kw_only=True):
    profile_type: str = "FREQUENCY"
    profile_subtype: str  # FREQUENT | INFREQUENT | RARE | UNSEEN
    observations: AnomalyObservations


class AnomalyUnusual(_Wire):
    behavior: dict[str, dict[str, AnomalyObject]] = msgspec.field(default_factory=dict)


class Anomaly(_Wire):
    """What a profile held (``profiles``: profile -> feature -> values by frequency class) and what was unusual."""

    profiles: dict[str, dict[str, list[AnomalyObject]]] = msgspec.field(default_factory=dict)
    unusual: AnomalyUnusual = msgspec.field(default_factory=AnomalyUnusual)


class SequenceSignal(_Wire):
    """One signal of an attack sequence: a finding, or a weaker observation that is no finding on its own."""

    uid: str
    type: str  # FINDING | CLOUD_TRAIL
    name: str  # a finding type, or the API
    description: str = ""
    first_seen_at: str = ""
    last_seen_at: str = ""
    count: int = 1
    severity: float = 0.0
    actor_ids: list[str] = msgspec.field(default_factory=list)
    endpoint_ids: list[str] = msgspec.field(default_factory=list)
    resource_uids: list[str] = msgspec.field(default_factory=list)


class SequenceIndicator(_Wire):
    key: str  # ATTACK_TACTIC | HIGH_RISK_API | UNUSUAL_API_FOR_ACCOUNT | UNUSUAL_ASN_FOR_USER | ...
    values: list[str] = msgspec.field(default_factory=list)
    title: str = ""


class Sequence(_Wire):
    """GuardDuty's ``service.detection.sequence``: what an attack sequence correlated and why."""

    uid: str
    description: str
    actors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    resources: list[dict[str, Any]] = msgspec.field(default_factory=list)
    endpoints: list[dict[str, Any]] = msgspec.field(default_factory=list)
    signals: list[SequenceSignal] = msgspec.field(default_factory=list)
    sequence_indicators: list[SequenceIndicator] = msgspec.field(default_factory=list)


class Detection(_Wire):
    anomaly: Anomaly | None = None
    sequence: Sequence | None = None


class AdditionalInfo(msgspec.Struct, kw_only=True):
    value: str  # a JSON document, as GuardDuty carries it
    type: str = "default"


class Service(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    service_name: str  # "guardduty"
    detector_id: str
    feature_name: str
    action: Action
    resource_role: str
    additional_info: AdditionalInfo
    event_first_seen: str
    event_last_seen: str
    archived: bool  # no default: always on the wire, as GuardDuty's
    count: int
    evidence: Evidence | None = None
    user_feedback: str | None = None
    detection: Detection | None = None


class Finding(msgspec.Struct, rename="camel", kw_only=True):
    schema_version: str
    account_id: str
    region: str
    partition: str
    id: str
    arn: str
    type: str
    resource: Resource
    service: Service
    severity: float
    created_at: str
    updated_at: str
    title: str
    description: str


class Occurrence(msgspec.Struct, kw_only=True):
    """One sighting of a finding type on a resource, as a detector reports it."""

    type: str
    severity: float
    time: float  # event time, epoch seconds (of the latest event, for an occurrence that gathers several)
    account_id: str
    region: str
    resource: Resource
    resource_key: str  # stable id of the affected resource: principal, instance id, bucket
    action: Action
    title: str
    description: str
    resource_role: str = "TARGET"
    feature_name: str = "CloudTrail"
    additional_info: dict[str, Any] = msgspec.field(default_factory=dict)
    evidence: Evidence | None = None
    remote_ip: str | None = None  # the public IP the activity came from or went to (trusted-list check)
    aggregation_key: str = ""  # extra identity, e.g. the indicator for threat-intel types
    first_seen: float | None = None  # the earliest event, for an occurrence that gathers several
    detection: Detection | None = None  # anomaly evidence of behaviour types (service.detection)
    actor: str | None = None  # the identity whose calls raised it (``principals.identity_key``): what correlation keys on


class Raised(NamedTuple):
    """A finding as the detectors that correlate findings read it: the occurrence, and the finding it went into."""

    occurrence: Occurrence
    finding_id: str


# ---- the codec ----------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Finding)


def encode(finding: Finding) -> bytes:
    return _encoder.encode(finding)


def decode(doc: bytes | str) -> Finding:
    return _decoder.decode(doc)


def to_wire(value: Any) -> Any:
    """Any finding part as plain JSON data (dicts and lists), e.g. for printing or tests."""
    return msgspec.to_builtins(value)


# ---- identity and aggregation --------------------------------------------------------------

def iso(ts: float) -> str:
    """GuardDuty's timestamp strings: ISO-8601 with milliseconds and 'Z' (rounded once, to the millisecond)."""
    ms = round(ts * 1000)
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def finding_id(occ: Occurrence) -> str:
    """Same activity pattern -> same id, on every machine and every replay (32 hex chars like GuardDuty's)."""
    key = "\x1f".join((occ.account_id, occ.region, occ.type, occ.resource_key, occ.resource_role, occ.aggregation_key))
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _first(occ: Occurrence) -> float:
    return min(occ.first_seen, occ.time) if occ.first_seen is not None else occ.time


def _additional_info(info: dict[str, Any]) -> AdditionalInfo:
    return AdditionalInfo(value=orjson.dumps(info, option=orjson.OPT_SORT_KEYS).decode())


def new_finding(occ: Occurrence, detector_id: str, now: float) -> Finding:
    fid = finding_id(occ)
    stamp = iso(now)
    return Finding(
        schema_version=SCHEMA_VERSION, account_id=occ.account_id, region=occ.region, partition="aws", id=fid,
        arn=f"arn:aws:guardduty:{occ.region}:{occ.account_id}:detector/{detector_id}/finding/{fid}",
        type=occ.type, resource=occ.resource, severity=occ.severity, created_at=stamp, updated_at=stamp,
        title=occ.title, description=occ.description,
        service=Service(
            service_name="guardduty", detector_id=detector_id, feature_name=occ.feature_name, action=occ.action, resource_role=occ.resource_role,
            additional_info=_additional_info(occ.additional_info), event_first_seen=iso(_first(occ)), event_last_seen=iso(occ.time),
            archived=False, count=1, evidence=occ.evidence, detection=occ.detection,
        ),
    )


def _details_key(action: Any, resource: Any, title: str, description: str, info: Any, evidence: Any) -> bytes:
    return _encoder.encode((action, resource, title, description, info, evidence))


def aggregate(finding: Finding, occ: Occurrence, now: float) -> Finding:
    """Fold a recurring occurrence into its finding (mutates and returns it).

    The details shown are the latest occurrence's; of two at the same instant, the one whose
    content sorts last — so the result never depends on the order occurrences arrive in."""
    service = finding.service
    service.count += 1
    stamp = iso(occ.time)
    first = iso(_first(occ))
    if first < service.event_first_seen:
        service.event_first_seen = first
    later = stamp > service.event_last_seen or (
        stamp == service.event_last_seen
        and _details_key(occ.action, occ.resource, occ.title, occ.description, _additional_info(occ.additional_info).value, occ.evidence)
        > _details_key(service.action, finding.resource, finding.title, finding.description, service.additional_info.value, service.evidence))
    if later:
        service.event_last_seen = stamp
        service.action = occ.action
        service.additional_info = _additional_info(occ.additional_info)
        service.evidence = occ.evidence
        service.detection = occ.detection
        finding.resource = occ.resource
        finding.title = occ.title
        finding.description = occ.description
    # A recurring issue never becomes less severe than it has been.
    finding.severity = max(finding.severity, occ.severity)
    finding.updated_at = iso(now)
    return finding


def severity_label(severity: float) -> str:
    if severity >= 9.0:
        return "Critical"
    if severity >= 7.0:
        return "High"
    if severity >= 4.0:
        return "Medium"
    return "Low"
