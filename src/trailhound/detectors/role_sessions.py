"""Whose credentials a role session's call carries, for the credential-exfiltration detectors: an EC2
instance's, a Lambda function's, an ECS task's. One key function for both detectors (``credential_key``):
the engine goes over a batch once for them, and each ``owns`` its keys.

* An instance's session is named after the instance (``assumed-role/<role>/i-...``, an ``ASIA`` key):
  its key is "<role>|<instance id>".
* Any other role session may be a Lambda function's (named after the function) or an ECS task's
  (named after the task id, 32 hex digits): its key is "S|<session arn>". The ``AssumeRole`` record in
  which ``lambda.amazonaws.com`` or ``ecs-tasks.amazonaws.com`` issues a session gets the same key (the
  arn worked out from its roleArn and roleSessionName), and so does a call whose SDK names the runtime
  in its user agent (``exec-env/AWS_Lambda_...``, ``exec-env/AWS_ECS_...``) from any address: what a
  session is, is learned from its own records, as the detector's keyed state (nothing is remembered
  here, so the key of a record never depends on the records seen before it, nor on the process).

Other calls have a key only from a public address with an ``ASIA`` key (private ones come through VPC
endpoints). The memos below are of pure functions.
"""

from __future__ import annotations

import functools
import re

from trailhound.enrich.geo import is_public
from trailhound.events import ApiCall
from trailhound.findings.build import is_ip

_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$", re.I)  # anonymised corpora mix the case
LAMBDA, ECS = "Lambda", "ECS"
ISSUERS = {"lambda.amazonaws.com": LAMBDA, "ecs-tasks.amazonaws.com": ECS}
RUNTIMES = (("exec-env/AWS_Lambda", LAMBDA), ("exec-env/AWS_ECS", ECS))  # what an SDK adds from AWS_EXECUTION_ENV
SESSION = "S|"  # how a resource session's key starts (an instance's is its role's arn)
_TASK = re.compile(r"[0-9a-f]{32}$")  # matched from the session name's start (a pattern's ^ would mean the arn's)


def is_resource_key(key: str) -> bool:
    return key.startswith(SESSION)


def is_instance_key(key: str) -> bool:
    return not key.startswith(SESSION)


@functools.lru_cache(maxsize=8192)
def _instance_of(arn: str) -> str | None:
    session = arn.rsplit("/", 1)[-1]
    return session if _INSTANCE.match(session) else None


def credential_key(e: ApiCall) -> str | None:
    """"<role>|<instance id>" of an instance-role session's call from a public address, else
    "S|<session arn>" of a session that may be a Lambda's or an ECS task's (one function, one pass over a
    batch's calls for both detectors: a pass of its own would cost more than the work the Lambda/ECS
    detector does)."""
    ident = e.user_identity
    if e.event_category == "Data" and e.presigned:
        return None  # a presigned URL used by whoever it was handed to: the session's credentials never left it
    if ident.type != "AssumedRole":
        if e.event_name == "AssumeRole" and ident.type == "AWSService":
            arn = issued_session(e)
            return SESSION + arn if arn is not None else None
        return None
    arn = ident.arn
    if not arn:
        return None
    asia = (ident.access_key_id or "").startswith("ASIA")
    if "/i-" in arn or "/I-" in arn:
        # an instance session makes many calls from few addresses: its key is worked out once per session and address
        ctx = ident.session_context
        issuer = ctx.session_issuer if ctx is not None else None
        key = _instance_key(arn, asia, issuer.arn if issuer is not None else None, e.source_ip)
        if key != "":
            return key
    ua = e.user_agent
    if ua is not None and "exec-env/AWS_" in ua and runtime_kind(ua) is not None:
        return SESSION + arn  # evidence of what the session is, from whatever address
    ip = e.source_ip
    return SESSION + arn if asia and ip and _public(ip) else None


@functools.lru_cache(maxsize=65_536)
def _instance_key(arn: str, asia: bool, issuer: str | None, ip: str | None) -> str | None:
    """An instance session's key, None when not judged, "" when the session is not an instance's."""
    instance = _instance_of(arn)
    if instance is None:
        return ""
    return f"{issuer or arn}|{instance}" if asia and ip and _public(ip) else None


@functools.lru_cache(maxsize=8192)
def _public(ip: str) -> bool:
    return is_ip(ip) and is_public(ip)


def runtime_kind(ua: str | None) -> str | None:
    """LAMBDA or ECS when an SDK names that runtime in the user agent, else None. ECS Anywhere (``AWS_ECS_EXTERNAL``)
    runs tasks on the customer's own servers: their calls come from the customer's sites, by design."""
    if ua is None or "exec-env/AWS_" not in ua or "exec-env/AWS_ECS_EXTERNAL" in ua:
        return None
    return next((k for marker, k in RUNTIMES if marker in ua), None)


def issuer_kind(e: ApiCall) -> str | None:
    """LAMBDA or ECS when the record is that service's (an ``AssumeRole`` record's issuer), else None."""
    return ISSUERS.get(e.user_identity.invoked_by or "") or ISSUERS.get(e.source_ip or "")


def is_task_session(arn: str) -> bool:
    """Whether the session is named like an ECS task id."""
    return len(arn) >= 34 and arn[-33] == "/" and _TASK.match(arn, len(arn) - 32) is not None


def judged(e: ApiCall) -> bool:
    """A role session's call whose use of the credentials can be judged: an ``ASIA`` key, a public address."""
    ip = e.source_ip
    return bool(ip) and (e.user_identity.access_key_id or "").startswith("ASIA") and _public(ip)  # type: ignore[arg-type]


def issued_session(e: ApiCall) -> str | None:
    """The arn of the session a Lambda or ECS ``AssumeRole`` record issues, else None."""
    if issuer_kind(e) is None:
        return None
    params = e.params()
    role, session = params.get("roleArn"), params.get("roleSessionName")
    if not isinstance(role, str) or not isinstance(session, str) or role.count(":") < 5:
        return None
    _, partition, _, _, account, resource = role.split(":", 5)
    return f"arn:{partition}:sts::{account}:assumed-role/{resource.rsplit('/', 1)[-1]}/{session}"
