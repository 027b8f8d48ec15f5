"""Verify AWS Signature Version 4 (header form), as GuardDuty's endpoint does, without any web framework.

The canonical request is rebuilt from what arrived on the wire, the way AWS does for non-S3 services (and as
botocore's SigV4Auth signs it): the raw, still percent-encoded path is encoded once more; the query is decoded and
re-encoded per RFC 3986, sorted by key then value; the signed headers are lower-cased with runs of blanks folded;
the payload hash is always computed from the body.

Decisions, each checked by tests/test_sigv4.py:
- Every failure is an AuthError with HTTP status 403 and a one-line message naming the reason; messages name the
  access key id, dates and header names, never the secret or the expected signature.
- X-Amz-Security-Token is rejected: Trailhound issues long-term keys only, so a session token means the client is
  using credentials it did not get from us (UnrecognizedClientException).
- Replay: a request replayed within the skew window verifies again, as on AWS. Nothing here keeps a nonce cache;
  TLS is what keeps a captured request from being replayed.
- Callers must pass the raw path (ASGI scope["raw_path"]), not the decoded one: `%2F` inside an ARN is signed as
  `%252F` and decoding would lose it. Paths with empty, "." or ".." segments are refused rather than normalised, so
  the path the router sees is always the path that was signed (no GuardDuty client sends them).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 +Credential=([^,\s]+), *SignedHeaders=([^,\s]+), *Signature=([0-9a-f]{64})")
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")  # IAM's AccessKeyId shape; keeps junk out of the key lookup
_REGION = re.compile(r"[a-z0-9-]{1,32}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")  # an RFC 9110 token, lower-case
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SIGV4_TIME = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class KeyRecord:
    account_id: str
    admin: bool
    secret: str = field(repr=False)  # kept out of repr so a logged record never shows it


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    account_id: str
    admin: bool
    region: str  # from the credential scope: the region the client addressed


class AuthError(Exception):
    status = 403  # AWS answers every authentication failure with 403

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _shown(value: str) -> str:
    """An attacker-sent value quoted for a message: repr escapes newlines, the cut keeps the message short."""
    return repr(value[:64])


def _incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", message)


def _invalid(message: str) -> AuthError:
    return AuthError("InvalidSignatureException", message)


def canonical_path(raw_path: str) -> str:
    path = raw_path or "/"
    inner = path[1:-1] if path.endswith("/") else path[1:]
    if not path.startswith("/") or (path != "/" and any(s in ("", ".", "..") for s in inner.split("/"))):
        raise _invalid(f"path {_shown(path)} has an empty, '.' or '..' segment; send the normalised path")
    return quote(path, safe="/~")  # the second encoding AWS applies to non-S3 paths


def canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        key, _, value = part.partition("=")
        # through bytes so that an escape of a byte that is not UTF-8 comes back as it went in
        pairs.append((quote(unquote_to_bytes(key), safe="-_.~"), quote(unquote_to_bytes(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _headers_by_name(headers: Mapping[str, str]) -> dict[str, list[str]]:
    # items() of a multi-valued mapping (Starlette's Headers, http.client's) yields every repeat; SigV4 joins them
    by_name: dict[str, list[str]] = {}
    for name, value in headers.items():
        by_name.setdefault(name.lower(), []).append(value)
    return by_name


def _request_time(by_name: dict[str, list[str]], signed: list[str]) -> tuple[str, float]:
    """The request's SigV4 timestamp and epoch seconds, from X-Amz-Date or else Date (as botocore chooses)."""
    for name in ("x-amz-date", "date"):
        if name in by_name:
            break
    else:
        raise _incomplete("the request has neither X-Amz-Date nor Date")
    if name not in signed:
        raise _incomplete(f"the {name} header is not in SignedHeaders")
    value = by_name[name][0].strip()
    try:
        if name == "x-amz-date":
            if not _AMZ_DATE.fullmatch(value):
                raise ValueError
            moment = datetime.strptime(value, _SIGV4_TIME).replace(tzinfo=timezone.utc)
        else:
            moment = parsedate_to_datetime(value)
            if moment.tzinfo is None:  # "-0000", which botocore's formatdate writes, is UTC
                moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)  # inside the try: 31 Dec 9999 23:30 -0100 overflows here
        return moment.strftime(_SIGV4_TIME), moment.timestamp()
    except (ValueError, TypeError, OverflowError):
        raise _incomplete(f"the {name} header {_shown(value)} is not a valid date") from None


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup: Callable[[str], KeyRecord | None],
    *,
    service: str = "guardduty",
    now: float | None = None,
    skew_s: float = 900,
) -> Caller:
    """The caller whose key signed this request, or AuthError saying why the request is refused."""
    by_name = _headers_by_name(headers)
    if "authorization" not in by_name:
        raise AuthError("MissingAuthenticationTokenException", "the request has no Authorization header")
    if len(by_name["authorization"]) > 1:
        raise _incomplete("the request has more than one Authorization header")
    authorization = by_name["authorization"][0].strip()
    match = _AUTH.fullmatch(authorization)
    if not match:
        if not authorization.startswith(ALGORITHM + " "):
            raise _incomplete(f"Authorization must use {ALGORITHM}")
        raise _incomplete("Authorization must be 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=<64 hex>'")
    credential, signed_list, signature = match.groups()
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete("Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request")
    key_id, scope_date, region, scope_service, _ = scope
    if not _KEY_ID.fullmatch(key_id):
        raise AuthError("UnrecognizedClientException", f"access key id {_shown(key_id)} is malformed")
    if not _REGION.fullmatch(region):
        raise _incomplete(f"credential scope region {_shown(region)} is malformed")
    if scope_service != service:
        raise _invalid(f"credential should be scoped to correct service: {service!r}, not {_shown(scope_service)}")

    signed = signed_list.split(";")
    if signed != sorted(set(signed)) or not all(_HEADER_NAME.fullmatch(h) for h in signed):
        raise _incomplete("SignedHeaders must be lower-case header names, sorted, each once")
    if "host" not in signed:
        raise _incomplete("SignedHeaders must include host")
    absent = [h for h in signed if h not in by_name]
    if absent:
        raise _incomplete(f"signed header {absent[0]} is not in the request")
    if "x-amz-security-token" in by_name:
        raise AuthError("UnrecognizedClientException", "session tokens are not accepted: Trailhound issues long-term keys only")

    timestamp, at = _request_time(by_name, signed)
    if scope_date != timestamp[:8]:
        raise _invalid(f"credential scope date {_shown(scope_date)} does not match the request date {timestamp[:8]}")
    clock = time.time() if now is None else now
    if abs(at - clock) > skew_s:
        raise _invalid(f"signature expired or not yet valid: request time {timestamp} is more than {skew_s:g} s from the server's")

    payload_hash = hashlib.sha256(body).hexdigest()
    claimed = by_name.get("x-amz-content-sha256", [payload_hash])[0].strip()
    if claimed != payload_hash:  # UNSIGNED-PAYLOAD included: GuardDuty always signs the body
        raise _invalid("x-amz-content-sha256 does not match the SHA-256 of the body")

    canonical_headers = "".join(f"{h}:{','.join(' '.join(v.split()) for v in by_name[h])}\n" for h in signed)
    canonical_request = "\n".join(
        [method.upper(), canonical_path(raw_path), canonical_query(raw_query), canonical_headers, signed_list, payload_hash]
    )
    scope_text = f"{scope_date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, timestamp, scope_text, hashlib.sha256(canonical_request.encode()).hexdigest()])

    record = lookup(key_id)
    if record is None:
        raise AuthError("UnrecognizedClientException", f"access key id {key_id} is not known")
    expected = hmac.new(_signing_key(record.secret, scope_date, region, service), string_to_sign.encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature):
        raise _invalid(f"the signature does not match the request signed with the secret of {key_id}")
    return Caller(access_key_id=key_id, account_id=record.account_id, admin=record.admin, region=region)
