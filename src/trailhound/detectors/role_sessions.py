"""Whose credentials a role session's call carries, for the credential-exfiltration detectors: an EC2
instance's, a Lambda function's, an ECS task's. One key function for both detectors (``credential_key``):
the engine goes over a batch once for them, and each ``owns`` its keys.

* An instance's session is named after the instance (``assumed-role/<role>/i-...``, an ``ASIA`` key):
  its key is "<role>|<instance id>".
* A Lambda function's session is named after the function, an ECS task's after the task id (32 hex
  digits). Known by the ``AssumeRole`` records in which ``lambda.amazonaws.com`` or
  ``ecs-tasks.amazonaws.com`` issues them, by the runtime an SDK names in the user agent
  (``exec-env/AWS_Lambda_...``, ``exec-env/AWS_ECS_...``), or by a task-id session name; the first two
  are remembered in this process (bounded), so after a restart a function's session is known again at
  its next issuance or call. ``resource_key`` is "<Lambda|ECS>|<role>|<function or task>".

Only calls from a public address have a key (private ones come through VPC endpoints).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from trailhound.enrich.geo import is_public
from trailhound.events import ApiCall
from trailhound.findings.build import is_ip, principal_key

_MISS = object()
_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$", re.I)  # anonymised corpora mix the case
LAMBDA, ECS = "Lambda", "ECS"
ISSUERS = {"lambda.amazonaws.com": LAMBDA, "ecs-tasks.amazonaws.com": ECS}
RUNTIMES = (("exec-env/AWS_Lambda", LAMBDA), ("exec-env/AWS_ECS", ECS))  # what an SDK adds from AWS_EXECUTION_ENV
_KINDS = (f"{LAMBDA}|", f"{ECS}|")  # how a resource's key starts (an instance's is its role's arn)
_TASK = re.compile(r"[0-9a-f]{32}$")  # matched from the session name's start (a pattern's ^ would mean the arn's)


def is_resource_key(key: str) -> bool:
    return key.startswith(_KINDS)


def is_instance_key(key: str) -> bool:
    return not key.startswith(_KINDS)


def instance_session(e: ApiCall) -> str | None:
    """The instance id of an instance-role session's call, or None."""
    ident = e.user_identity
    if ident.type != "AssumedRole" or not (ident.access_key_id or "").startswith("ASIA") or not ident.arn:
        return None
    return _instance_of(ident.arn)


@functools.lru_cache(maxsize=8192)  # an instance session makes many calls: its arn is worked out once
def _instance_of(arn: str) -> str | None:
    session = arn.rsplit("/", 1)[-1]
    return session if _INSTANCE.match(session) else None


_keys: dict[tuple[Any, ...], str | None] = {}


def credential_key(e: ApiCall) -> str | None:
    """"<role>|<instance id>" of an instance-role session's call from a public address, else its
    ``resource_key`` (one function, one pass over a batch's calls for both detectors: a pass of its own
    would cost more than the work the Lambda/ECS detector does)."""
    ident = e.user_identity
    arn = ident.arn
    if ident.type != "AssumedRole" or not arn or ("/i-" not in arn and "/I-" not in arn):  # (most calls: no need to look further)
        return resource_key(e)
    # an instance session makes many calls from few addresses: its key is worked out once per session and address
    ctx = ident.session_context
    issuer = ctx.session_issuer if ctx is not None else None
    shape = (arn, (ident.access_key_id or "").startswith("ASIA"), issuer.arn if issuer is not None else None, e.source_ip)
    key = _keys.get(shape, _MISS)
    if key is _MISS:
        if len(_keys) >= 50_000:
            _keys.clear()
        instance = instance_session(e)
        key = _keys[shape] = f"{principal_key(e)}|{instance}" if instance and is_ip(e.source_ip) and _public(e.source_ip) else None
    return key  # type: ignore[return-value]


@functools.lru_cache(maxsize=8192)
def _public(ip: str) -> bool:
    return is_public(ip)


_REMEMBER = 50_000
_sessions: dict[str, str] = {}  # session arn -> LAMBDA or ECS, from issuance records and runtime user agents


def _remember(arn: str, kind: str) -> None:
    if len(_sessions) >= _REMEMBER:
        _sessions.clear()
    _sessions[arn] = kind


def _issued(e: ApiCall) -> None:
    """Remember the session a Lambda or ECS ``AssumeRole`` record issues."""
    kind = ISSUERS.get(e.user_identity.invoked_by or "") or ISSUERS.get(e.source_ip or "")
    params = e.params() if kind else {}
    role, session = params.get("roleArn"), params.get("roleSessionName")
    if kind and isinstance(role, str) and isinstance(session, str) and role.count(":") >= 5:
        _, partition, _, _, account, resource = role.split(":", 5)
        _remember(f"arn:{partition}:sts::{account}:assumed-role/{resource.rsplit('/', 1)[-1]}/{session}", kind)


def resource_key(e: ApiCall) -> str | None:
    """"<kind>|<role arn>|<function or task>" of a Lambda's or ECS task's session calling from a public
    address, else None (an issuance record is remembered, and keyed for nothing)."""
    ident = e.user_identity
    if ident.type != "AssumedRole":
        if e.event_name == "AssumeRole" and ident.type == "AWSService":
            _issued(e)
        return None
    arn = ident.arn
    kind = _sessions.get(arn) if arn else None  # (asked of every role session's call: the cheap tests first)
    if kind is None:
        ua = e.user_agent
        if ua is not None and "exec-env/AWS_" in ua:
            kind = next((k for marker, k in RUNTIMES if marker in ua), None)
            if kind is not None:
                _remember(arn, kind)  # type: ignore[arg-type]
        if kind is None:
            if not arn or len(arn) < 34 or arn[-33] != "/" or not _TASK.match(arn, len(arn) - 32):
                return None
            kind = ECS
    ip = e.source_ip
    if not ip or not (ident.access_key_id or "").startswith("ASIA") or not is_ip(ip) or not _public(ip):
        return None
    ctx = ident.session_context
    issuer = ctx.session_issuer if ctx is not None else None
    return f"{kind}|{issuer.arn if issuer is not None and issuer.arn else arn.rsplit('/', 1)[0]}|{arn.rsplit('/', 1)[-1]}"  # type: ignore[union-attr]
