"""The detector interface.

A detector declares what it consumes and what it raises, and is a pure function of
(events, state) -> (occurrences, state). No globals, no I/O: the pipeline loads the state for
the entity keys in a batch, calls ``run``, and persists what comes back. The same call works
in this process and, later, inside a Spark ``applyInPandasWithState``-style grouping by
``key`` (principal, instance, bucket, IP).

Most rules are stateless: subclass ``Rule`` and write ``match(event)``, which returns
occurrences or nothing. ``event_names`` lets the pipeline route only the CloudTrail events a
rule can match to it, so a rule costs nothing on the other 99% of the traffic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from trailhound.events import ApiCall, Source
from trailhound.findings.model import Occurrence

State = Any  # a msgspec-serialisable value (dict, list, struct)


class Detector(ABC):
    name: ClassVar[str]
    consumes: ClassVar[Source]  # which events it reads (CLOUDTRAIL covers S3 data events too)
    finding_types: ClassVar[tuple[str, ...]]
    event_names: ClassVar[frozenset[str] | None] = None  # CloudTrail routing; None = every event
    stateful: ClassVar[bool] = False

    def key(self, event: Any) -> str:
        """The entity whose state this event touches (only used when ``stateful``)."""
        return "*"

    def keys(self, events: Any) -> set[str]:
        """The entities a batch touches; columnar detectors compute them from their frame."""
        return {self.key(e) for e in events}

    @abstractmethod
    def run(self, events: Sequence[Any], state: Mapping[str, State]) -> tuple[list[Occurrence], dict[str, State]]:
        """Judge a time-ordered batch; return occurrences and the updated state of touched keys."""


class Rule(Detector):
    """A stateless per-event rule."""

    @abstractmethod
    def match(self, event: Any) -> Iterable[Occurrence] | Occurrence | None: ...

    def candidates(self, events: Sequence[Any]) -> Sequence[Any]:
        """Optional cheap pre-filter (a list comprehension beats a method call per event)."""
        return events

    def run(self, events: Sequence[Any], state: Mapping[str, State]) -> tuple[list[Occurrence], dict[str, State]]:
        out: list[Occurrence] = []
        match = self.match
        for e in self.candidates(events):
            hit = match(e)
            if hit is None:
                continue
            if isinstance(hit, Occurrence):
                out.append(hit)
            else:
                out.extend(hit)
        return out, {}


# ---- wire-form builders shared by the CloudTrail-based detectors -------------------------

def access_key_details(e: ApiCall) -> dict[str, Any]:
    ident = e.user_identity
    return {
        "accessKeyId": ident.access_key_id,
        "principalId": ident.principal_id,
        "userName": ident.name,
        "userType": ident.type,
    }


def principal_key(e: ApiCall) -> str:
    """Aggregation id for IAM findings: the principal, stable across rotating session keys."""
    ident = e.user_identity
    issuer = ident.session_context.session_issuer if ident.session_context else None
    if ident.type == "AssumedRole" and issuer and issuer.arn:
        return issuer.arn
    return ident.arn or ident.principal_id or ident.access_key_id or "unknown"


def remote_ip_details(ip: str | None) -> dict[str, Any] | None:
    if not ip:
        return None
    return {"ipAddressV6": ip} if ":" in ip else {"ipAddressV4": ip}


def api_call_action(e: ApiCall, affected: Mapping[str, str] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "api": e.event_name,
        "serviceName": e.event_source,
        "callerType": "Remote IP" if e.source_ip and e.source_ip[:1].isdigit() or (e.source_ip and ":" in e.source_ip) else "AWS Service",
        "userAgent": e.user_agent,
    }
    if e.error_code:
        action["errorCode"] = e.error_code
    ip = remote_ip_details(e.source_ip) if action["callerType"] == "Remote IP" else None
    if ip:
        action["remoteIpDetails"] = ip
    elif e.source_ip:
        action["domainDetails"] = {"domain": e.source_ip}
    if affected:
        action["affectedResources"] = dict(affected)
    return {"actionType": "AWS_API_CALL", "awsApiCallAction": action}


def access_key_resource(e: ApiCall) -> dict[str, Any]:
    return {"resourceType": "AccessKey", "accessKeyDetails": access_key_details(e)}


def bucket_resource(e: ApiCall, bucket: str, public_access: dict[str, Any] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"arn": f"arn:aws:s3:::{bucket}", "name": bucket, "type": "Destination", "tags": []}
    if public_access is not None:
        detail["publicAccess"] = public_access
    return {"resourceType": "S3Bucket", "accessKeyDetails": access_key_details(e), "s3BucketDetails": [detail]}


def api_occurrence(
    e: ApiCall,
    type: str,
    severity: float,
    title: str,
    description: str,
    *,
    resource: dict[str, Any] | None = None,
    resource_key: str | None = None,
    affected: Mapping[str, str] | None = None,
    additional_info: dict[str, Any] | None = None,
    aggregation_key: str = "",
) -> Occurrence:
    """An occurrence raised by one CloudTrail event."""
    info = {"userAgent": {"fullUserAgent": e.user_agent}} if e.user_agent else {}
    if additional_info:
        info.update(additional_info)
    return Occurrence(
        type=type,
        severity=severity,
        time=e.event_time.timestamp(),
        account_id=e.account_id,
        region=e.aws_region,
        resource=resource or access_key_resource(e),
        resource_key=resource_key or principal_key(e),
        action=api_call_action(e, affected),
        title=title,
        description=description,
        feature_name="S3DataEvents" if e.event_category == "Data" else "CloudTrail",
        additional_info=info,
        remote_ip=e.source_ip,
        aggregation_key=aggregation_key,
    )
