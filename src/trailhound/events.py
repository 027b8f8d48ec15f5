"""The normalized event types every detector sees.

Three kinds of event flow through Trailhound:

* ``ApiCall`` — one CloudTrail record (management event or S3 data event). The struct *is* the
  decoding schema: msgspec fills it straight from the JSON bytes and skips every field not
  declared here, which is what makes CloudTrail decoding ~5x faster than dicts.
  ``requestParameters``/``responseElements`` stay ``msgspec.Raw`` until a detector asks for them.
* ``DnsQuery`` — one Route 53 Resolver query log line.
* Flow records — too many for one Python object each, so they travel as columnar
  ``FlowBatch``es (a Polars DataFrame with the ``FLOW_COLUMNS`` schema below).

Detectors never see file formats: everything format-specific lives in ``trailhound.formats``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import msgspec
import polars as pl

_json_decode = msgspec.json.decode


class Source(str, enum.Enum):
    """A log source as GuardDuty meters and names it."""

    CLOUDTRAIL = "cloudtrail"  # management events
    S3_DATA = "s3data"  # CloudTrail S3 data events
    FLOW = "flow"
    DNS = "dns"


class SessionIssuer(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    type: str | None = None
    principal_id: str | None = None
    arn: str | None = None
    account_id: str | None = None
    user_name: str | None = None


class SessionAttributes(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    creation_date: str | None = None
    mfa_authenticated: str | None = None


class SessionContext(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    session_issuer: SessionIssuer | None = None
    attributes: SessionAttributes | None = None
    source_identity: str | None = None
    ec2_role_delivery: str | None = None
    assumed_root: str | None = None  # "true" on sts:AssumeRoot sessions (short-term, task-scoped root credentials)


class UserIdentity(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    type: str | None = None
    principal_id: str | None = None
    arn: str | None = None
    account_id: str | None = None
    access_key_id: str | None = None
    user_name: str | None = None
    invoked_by: str | None = None
    session_context: SessionContext | None = None

    @property
    def name(self) -> str:
        """The human name GuardDuty shows: user name, role name, or 'Root'."""
        if self.user_name:
            return self.user_name
        if self.type == "Root":
            return "Root"
        issuer = self.session_context.session_issuer if self.session_context else None
        if issuer and issuer.user_name:
            return issuer.user_name
        if self.arn:
            return self.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return self.principal_id or "unknown"


_API_CALL_RENAME = {
    "event_time": "eventTime",
    "event_source": "eventSource",
    "event_name": "eventName",
    "aws_region": "awsRegion",
    "source_ip": "sourceIPAddress",
    "user_agent": "userAgent",
    "error_code": "errorCode",
    "error_message": "errorMessage",
    "request_parameters": "requestParameters",
    "response_elements": "responseElements",
    "additional_event_data": "additionalEventData",
    "event_id": "eventID",
    "event_type": "eventType",
    "read_only": "readOnly",
    "resources": "resources",
    "recipient_account_id": "recipientAccountId",
    "event_category": "eventCategory",
    "management_event": "managementEvent",
    "vpc_endpoint_id": "vpcEndpointId",
    "user_identity": "userIdentity",
}


class ApiCall(msgspec.Struct, rename=_API_CALL_RENAME, omit_defaults=True, gc=False):
    """One CloudTrail record. Field names follow Python; the wire names are CloudTrail's."""

    event_time: datetime
    event_name: str
    event_source: str = ""
    aws_region: str = ""
    source_ip: str | None = None
    user_agent: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_parameters: msgspec.Raw = msgspec.Raw(b"null")
    response_elements: msgspec.Raw = msgspec.Raw(b"null")
    additional_event_data: msgspec.Raw = msgspec.Raw(b"null")
    event_id: str | None = None
    event_type: str | None = None
    read_only: bool | str | None = None
    resources: msgspec.Raw = msgspec.Raw(b"null")
    recipient_account_id: str | None = None
    event_category: str | None = None
    management_event: bool | str | None = None
    vpc_endpoint_id: str | None = None
    user_identity: UserIdentity = msgspec.field(default_factory=UserIdentity)

    # -- conveniences for detectors (decoded lazily: most events never need them) --
    def params(self) -> dict[str, Any]:
        value = _json_decode(self.request_parameters)
        return value if isinstance(value, dict) else {}

    def response(self) -> dict[str, Any]:
        value = _json_decode(self.response_elements)
        return value if isinstance(value, dict) else {}

    @property
    def succeeded(self) -> bool:
        # a failed console sign-in has no errorCode, only errorMessage "Failed authentication"
        return not self.error_code and not self.error_message

    @property
    def account_id(self) -> str:
        return self.recipient_account_id or self.user_identity.account_id or "000000000000"

    @property
    def presigned(self) -> bool:
        """An S3 request made with a presigned URL (``AuthenticationMethod: QueryString``): CloudTrail names the
        identity that signed it, but whoever held the URL — a customer's browser, a partner's script — sent it, from
        wherever they are."""
        return self.event_category == "Data" and b"QueryString" in memoryview(self.additional_event_data).tobytes()

    @property
    def is_s3_data_event(self) -> bool:
        return self.event_category == "Data" and self.event_source == "s3.amazonaws.com"

    @property
    def source(self) -> Source:
        return Source.S3_DATA if self.event_category == "Data" else Source.CLOUDTRAIL


class DnsAnswer(msgspec.Struct, rename={"rdata": "Rdata", "type": "Type", "klass": "Class"}, gc=False):
    rdata: str = ""
    type: str = ""
    klass: str = ""


class DnsSourceIds(msgspec.Struct, omit_defaults=True, gc=False):
    instance: str | None = None
    resolver_endpoint: str | None = None


# A DNS name is at most 253 characters (255 octets), four times that with every byte escaped (\032): a longer one is no
# query but a hostile record, and would cost every name scorer its length over and over
QueryName = Annotated[str, msgspec.Meta(max_length=1024)]


class DnsQuery(msgspec.Struct, omit_defaults=True, gc=False):
    """One Route 53 Resolver query log record (field names are the log's own)."""

    query_timestamp: datetime
    query_name: QueryName
    account_id: str = "000000000000"
    region: str = ""
    vpc_id: str | None = None
    query_type: str = ""
    query_class: str = "IN"
    rcode: str = ""
    answers: list[DnsAnswer] = msgspec.field(default_factory=list)
    srcaddr: str | None = None
    srcport: str | None = None
    transport: str | None = None
    srcids: DnsSourceIds = msgspec.field(default_factory=DnsSourceIds)
    firewall_rule_action: str | None = None

    @property
    def seeks_address(self) -> bool:
        """Whether the query looks for somewhere to connect to (A, AAAA, CNAME, HTTPS, ANY, or a type not logged), not
        for facts about a name it was given: a mail server asks for a sender's SPF (TXT), DMARC (``_dmarc.``) and MX
        records, a directory client for SRV and PTR records, whatever those names look like."""
        return self.query_type.upper() in _ADDRESS_TYPES and "._" not in "." + self.query_name


_ADDRESS_TYPES = frozenset({"", "A", "AAAA", "CNAME", "ANY", "HTTPS", "SVCB"})


# Every VPC flow log field of versions 2-8, by its header name, with its column dtype.
# A FlowBatch always carries all of them (null where the log format did not include the field),
# so a detector can rely on the schema whatever the source format was.
FLOW_FIELDS: dict[str, pl.DataType] = {
    "version": pl.Int32,
    "account-id": pl.Utf8,
    "interface-id": pl.Utf8,
    "srcaddr": pl.Utf8,
    "dstaddr": pl.Utf8,
    "srcport": pl.Int32,
    "dstport": pl.Int32,
    "protocol": pl.Int32,
    "packets": pl.Int64,
    "bytes": pl.Int64,
    "start": pl.Int64,
    "end": pl.Int64,
    "action": pl.Utf8,
    "log-status": pl.Utf8,
    # v3
    "vpc-id": pl.Utf8,
    "subnet-id": pl.Utf8,
    "instance-id": pl.Utf8,
    "tcp-flags": pl.Int32,
    "type": pl.Utf8,
    "pkt-srcaddr": pl.Utf8,
    "pkt-dstaddr": pl.Utf8,
    # v4
    "region": pl.Utf8,
    "az-id": pl.Utf8,
    "sublocation-type": pl.Utf8,
    "sublocation-id": pl.Utf8,
    # v5
    "pkt-src-aws-service": pl.Utf8,
    "pkt-dst-aws-service": pl.Utf8,
    "flow-direction": pl.Utf8,
    "traffic-path": pl.Int32,
    # v7
    "ecs-cluster-arn": pl.Utf8,
    "ecs-cluster-name": pl.Utf8,
    "ecs-container-instance-arn": pl.Utf8,
    "ecs-container-instance-id": pl.Utf8,
    "ecs-container-id": pl.Utf8,
    "ecs-second-container-id": pl.Utf8,
    "ecs-service-name": pl.Utf8,
    "ecs-task-definition-arn": pl.Utf8,
    "ecs-task-arn": pl.Utf8,
    "ecs-task-id": pl.Utf8,
    # v8
    "reject-reason": pl.Utf8,
}

# Column names inside a FlowBatch: the header names with '-' turned into '_'.
FLOW_COLUMNS: dict[str, pl.DataType] = {k.replace("-", "_"): v for k, v in FLOW_FIELDS.items()}

FlowBatch = pl.DataFrame  # rows sorted by `start`, schema FLOW_COLUMNS
