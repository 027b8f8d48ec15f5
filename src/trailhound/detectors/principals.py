"""Who called, and from where, as the identity detectors see a CloudTrail record.

* ``identity_key`` — the identity a profile belongs to: an IAM user, the role (not its rotating
  sessions; an IAM Identity Center role per person, since many people share it), a federated user,
  root. None for what is no one's behaviour: AWS services and service-linked roles, and calls AWS
  makes on an identity's behalf (from a service's name, not an address).
* ``agent_family`` — the client family of a user agent (aws-cli, Boto3, a browser, Terraform...),
  not its version: an upgrade is no new client.
* ``origin`` — the network a call came from: its ASN organisation, else (no geo data) its /16.
* ``HOSTING_ASNS`` — hosting and VPN-egress networks an office or home never calls from.
* ``anonymizing`` — what hides a caller: a Tor exit, a hosting network, a commercial VPN's range.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Any, NamedTuple

from trailhound.detectors.api_classes import PARAMETRIC
from trailhound.engine.runner import memo_of
from trailhound.events import ApiCall
from trailhound.intel.index import Category

_SERVICE_ROLE = re.compile(r":role/aws-service-role/|:role/(?:aws-reserved/[^/]+/)?AWSServiceRoleFor", re.I)

# Hosting networks whose addresses attackers rent and commercial VPNs exit from (each operator's own
# ASN registration): DigitalOcean 14061, OVH 16276, Hetzner 24940, Linode/Akamai 63949, Vultr 20473,
# M247 9009, Leaseweb 60781 and 28753, Contabo 51167, Datacamp (CDN77) 60068, Psychz 40676, Choopa 46407,
# Scaleway 12876, Alibaba 45102, Tencent 132203, HostRoyale 203020, Tor exit operators' Stiftung Erneuerbare Freiheit 60729.
HOSTING_ASNS = frozenset({14061, 16276, 24940, 63949, 20473, 9009, 60781, 28753, 51167, 60068, 40676, 46407, 12876, 45102, 132203,
                          203020, 60729})

_FAMILIES = ("terraform", "pulumi", "aws-cli", "boto3", "botocore", "aws-sdk-java", "aws-sdk-go-v2", "aws-sdk-go", "aws-sdk-js",
             "aws-sdk-dotnet", "awspowershell", "aws-sdk-ruby", "aws-sdk-php", "aws-sdk-rust", "aws-sdk-cpp", "stratus-red-team", "pacu",
             "cloudfox", "python-requests", "curl", "aws internal")


def identity_key(e: ApiCall) -> str | None:
    ident = e.user_identity
    kind = ident.type
    if e.event_type == "AwsServiceEvent" or kind is None or kind == "AWSService" or kind == "AWSAccount":
        return None
    if e.event_category == "Data" and e.presigned:
        return None  # a presigned URL's holder, not the identity that signed it, sent it: no behaviour of the identity
    ip = e.source_ip
    if not ip or not (ip[0].isdigit() or ":" in ip):  # findings.build.is_ip, inlined: asked of every call
        return None  # an AWS service calling for it ("ec2.amazonaws.com", "AWS Internal")
    # findings.build.principal_key, inlined, but a failed sign-in keyed as its user is
    ctx = ident.session_context
    issuer = ctx.session_issuer if ctx is not None else None
    if kind == "AssumedRole" and issuer is not None and issuer.arn:
        key = issuer.arn
    elif ident.arn:
        key = ident.arn
    elif kind == "IAMUser" and ident.user_name:
        # a failed console sign-in names the user but carries no ARN: keyed as the user's successful calls are
        # (an IAM path cannot be known here); a name that does not exist is hidden by AWS and is no one's profile
        if ident.user_name == "HIDDEN_DUE_TO_SECURITY_REASONS":
            return None
        key = f"arn:aws:iam::{ident.account_id or e.recipient_account_id}:user/{ident.user_name}"
    else:
        key = ident.principal_id or ident.access_key_id or "unknown"
    if _service_role(key):
        return None
    if kind == "AssumedRole" and ident.arn and ident.arn.endswith("/CognitoIdentityCredentials"):
        return None  # a Cognito identity pool's role: the app's end users, each from their own network and browser
    if kind == "AssumedRole" and ":role/aws-reserved/sso.amazonaws.com/" in key and ident.arn:
        return f"{key}/{ident.arn.rsplit('/', 1)[-1]}"  # Identity Center: the person behind the shared role
    return key


@functools.lru_cache(maxsize=8192)  # every identity detector asks about every call, and an estate's principals are few
def _service_role(key: str) -> bool:
    return bool(_SERVICE_ROLE.search(key))


# What the identity detectors read of a call besides its time and identity, for calls whose parameters do not
# matter to them: two calls with the same number are alike in all of it (address, agent, region, service,
# API, category, error). Numbers are never reused, so a forgotten call only costs a new number.
_calls: dict[tuple[Any, ...], int] = {}
_numbers = itertools.count()


def call_sig(e: ApiCall) -> int | None:
    """A number for what the identity detectors read of ``e`` besides its time and identity (equal numbers,
    equal readings), so a detector works a call out once per batch; None where parameters matter (S3 and
    the calls ``classify`` refines)."""
    source, name = e.event_source, e.event_name
    if source == "s3.amazonaws.com" or name in PARAMETRIC:
        return None
    sig = (e.source_ip, e.user_agent, e.aws_region, source, name, e.event_category, e.error_code or e.error_message)
    n = _calls.get(sig)
    if n is None:
        if len(_calls) >= 100_000:
            _calls.clear()
        n = _calls[sig] = next(_numbers)
    return n


# a major version of the same SDK (an add-on's upgrade) is no new client; boto3 is botocore with resources on top (pandas,
# s3fs and dask sign through aiobotocore as "botocore")
_SAME_FAMILY = {"aws-sdk-go-v2": "aws-sdk-go", "botocore": "boto3"}
_CONSOLE = re.compile(r"console(\.[a-z0-9-]+)*\.amazonaws\.com|console\.aws\.amazon\.com|console/")


@functools.lru_cache(maxsize=4096)
def agent_family(ua: str | None) -> str:
    if not ua:
        return "none"
    low = ua.lower()
    # (the consoles' own backends sign as "console.ec2.amazonaws.com" or "[S3Console/0.4, aws-internal/3 aws-sdk-java/...]":
    # a browser session, not an SDK)
    # ("AWS Signin, aws-internal/3 ...": the sign-in service switching a console user's role; aws-internal/: a console backend)
    if low.startswith(("mozilla/", "aws signin")) or "signin.amazonaws.com" in low or "aws-internal/" in low or _CONSOLE.search(low):
        return "browser"
    # a function or task runs where AWS puts it, in whatever language it was last written in: its platform is its client
    if "exec-env/aws_lambda" in low:
        return "lambda"
    if "exec-env/aws_ecs" in low:
        return "ecs"
    for family in _FAMILIES:
        if family in low:
            return _SAME_FAMILY.get(family, family)
    head = re.split(r"[/ (]", low, maxsplit=1)[0]
    return re.sub(r"[\d.]+$", "", head)[:24] or "other"


AWS, PRIVATE = "AWS", "private"  # the places no geolocation describes (``origin``)
# RFC 1918, shared address space (RFC 6598) and IPv6 unique local addresses: where a VPC endpoint's caller is
_VPC_ADDRESS = re.compile(r"10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|f[cd][0-9a-f]{2}:", re.IGNORECASE)


def origin(e: ApiCall, info: Any, places: Any = None) -> tuple[str, str | None]:
    """(the network, the country code) of the call's address. AWS's own addresses are one place, "AWS": a job, a
    function or a hosted desktop runs where AWS puts it, and AWS's networks differ by region (AMAZON-AES in
    us-east-1, AMAZON-02 elsewhere) and geolocate to the region's country, so a first run in another region would
    be a new network in a new country. A private address (a VPC endpoint, Direct Connect) is the estate's own
    network, whatever its range."""
    ip = e.source_ip or ""
    if places is not None and places.inside_aws(ip):
        return AWS, AWS
    if info is not None and (info.asn_org or info.asn):
        return (info.asn_org or f"AS{info.asn}")[:32], info.country_code
    if _VPC_ADDRESS.match(ip):
        return PRIVATE, None
    net = ".".join(ip.split(".")[:2]) if "." in ip else ":".join(ip.split(":")[:2])
    return f"net {net}", info.country_code if info is not None else None


def travelled(country: str | None) -> bool:
    """Whether a profile's country value is one a person travels to: not AWS's regions (``origin``: "AWS"), not an
    address without geolocation (None, "None" as a profile value)."""
    return country not in (AWS, None, "None")


def anonymizing(ip: str | None, info: Any, intel: Any, places: Any) -> str | None:
    """What anonymizes a call from ``ip`` ("Tor": an exit on ``intel``'s lists, "hosting", "VPN"), or None. Asked only
    of anomalous calls (the VPN ranges load on the first one; ``places.vpn_egress`` remembers each address)."""
    if intel is not None and any(h.category is Category.TOR_EXIT for h in intel.ip(ip)):
        return "Tor"
    if info is not None and info.asn in HOSTING_ASNS:
        return "hosting"
    return "VPN" if places.vpn_egress(ip) else None


def shown_value(value: Any) -> str:
    """A profile value as a person reads it: an address without geolocation data has no country (None), and its
    network is named by its first two parts (``origin``: "net 192.0")."""
    if value is None or value == "None":
        return "unknown"
    text = str(value)
    if text.startswith("net "):
        return f"{text[4:]}.* (no ASN data)" if "." in text else f"{text[4:]}:* (no ASN data)"
    return text


def shown_place(value: str) -> str:
    """A ``place_values`` value ("network net 192.0", "country None") as a person reads it."""
    what, _, rest = value.partition(" ")
    return f"{what} {shown_value(rest)}"


def place_values(network: str | None, country: str | None, agent: str) -> set[str]:
    """A call's network, country and client family as profile values ("network …", "country …", "client …")."""
    return {f"network {network}", f"country {country}", f"client {agent}"}


class Place(NamedTuple):
    """Where a call came from, as every identity detector reads it."""

    info: Any  # the address's ``geo.IpInfo``, or None
    network: str | None  # None: not the person's (CloudShell's address is AWS's)
    country: str | None
    agent: str  # the client family
    values: set[str]  # ``place_values``: read only, shared by the detectors


def place_memo(rows: Any) -> dict[Any, Any]:
    """Where ``place_of`` remembers the places of a batch's calls: shared by the identity detectors reading it."""
    return memo_of(rows).setdefault(place_of, {})  # type: ignore[no-any-return]


def place_of(e: ApiCall, places: Any, memo: dict[Any, Any]) -> Place:
    """The call's ``Place``, worked out once per address and user agent in ``memo`` (``place_memo``)."""
    k = (e.source_ip, e.user_agent)
    found = memo.get(k)
    if found is None:
        info = places.lookup(e.source_ip)
        if e.user_agent is not None and "exec-env/CloudShell" in e.user_agent and places.inside_aws(e.source_ip):
            # CloudShell is a console session's shell in AWS: its address is AWS's in the shell's region, not where the
            # person is (their sign-in is judged from there), and its client is the console (an agent claiming it from
            # outside AWS is judged as what it is)
            found = memo[k] = Place(info, None, None, "browser", {"client browser"})
        else:
            network, country = origin(e, info, places)
            agent = agent_family(e.user_agent)
            found = memo[k] = Place(info, network, country, agent, place_values(network, country, agent))
    return found  # type: ignore[no-any-return]
