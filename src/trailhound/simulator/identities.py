"""Who a CloudTrail record says made the call (``userIdentity``) and how the call arrived: source address,
user agent, TLS details and console session. Both are stable per actor, so an actor looks the same from
record to record the way a real client does."""

from __future__ import annotations

import random
import re
from typing import Any

from trailhound.simulator.actors import Actor, Op, pick, stable
from trailhound.simulator.estate import Estate
from trailhound.simulator.spec import awsid, iso

# user agents of the estate's clients, as their real versions write them
_UA_CLI = ("aws-cli/2.17.50 md/awscrt#0.21.2 ua/2.0 os/{os} md/arch#{arch} lang/python#3.12.6 md/pyimpl#CPython "
           "cfg/retry-mode#standard md/installer#{inst} md/prompt#off md/command#{cmd}")
_UA_CLI_HOSTS = (("macos#23.6.0", "arm64", "source"), ("linux#6.8.0-48-generic", "x86_64", "exe"), ("macos#24.1.0", "arm64", "source"))
_UA_BROWSERS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
)
_UA_BOTO = ("Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.8.0-1016-aws md/arch#x86_64 lang/python#3.12.3 "
            "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36")
_UA_BOTO_AL = ("Boto3/1.34.162 md/Botocore#1.34.162 ua/2.0 os/linux#6.1.112-122.189.amzn2023.x86_64 md/arch#x86_64 "
               "lang/python#3.9.16 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.162")
_UA_JAVA = ("aws-sdk-java/2.28.16 Linux/6.1.112-122.189.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 "
            "vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy cfg/auth-source#imds")
_UA_SSM = "aws-sdk-go/1.44.260 (go1.22.8; linux; amd64) amazon-ssm-agent/3.3.987.0"
_UA_SSM_WIN = "aws-sdk-go/1.44.260 (go1.22.8; windows; amd64) amazon-ssm-agent/3.3.987.0"
_UA_CWAGENT = "aws-sdk-go/1.48.6 (go1.22.7; linux; amd64) CWAgent/1.300045.1"
_UA_ECR = "aws-sdk-go-v2/1.30.4 os/linux lang/go#1.22.6 md/GOOS#linux md/GOARCH#amd64 api/ecr#1.32.2 docker-credential-ecr-login/0.8.0"
_UA_PWSH = "AWSPowerShell.Common/4.1.680.0 .NET_Runtime/4.0 .NET_Framework/4.0 OS/Microsoft_Windows_NT_10.0.20348.0 WindowsPowerShell/5.0 ClientSync"
_UA_TF = ("APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.74.0 "
          "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.3 ua/2.1 os/linux lang/go#1.23.2 "
          "md/GOOS#linux md/GOARCH#amd64 api/{api}#1.0.0")
_UA_GRAFANA = "aws-sdk-go/1.51.21 (go1.22.5; linux; amd64) Grafana/11.3.0"

_CLI_SERVICE = {
    "ec2": "ec2", "iam": "iam", "sts": "sts", "s3": "s3api", "ssm": "ssm", "kms": "kms", "secretsmanager": "secretsmanager",
    "logs": "logs", "monitoring": "cloudwatch", "ecr": "ecr", "ecs": "ecs", "cloudformation": "cloudformation",
    "lambda": "lambda", "dynamodb": "dynamodb", "sqs": "sqs", "autoscaling": "autoscaling",
    "elasticloadbalancing": "elbv2", "cloudtrail": "cloudtrail", "rds": "rds",
}
# the TLS details of every call made over the internet
TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}


def _kebab(name: str) -> str:
    name = re.sub(r"\d{8}(v\d)?$", "", name)  # ListFunctions20150331 -> list-functions
    return "".join("-" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


class TrailPart:
    """A part of the CloudTrail writer: the estate, and the settings of it every record reads."""

    def __init__(self, est: Estate) -> None:
        self.est = est
        self.spec = est.spec
        self.region = est.spec.region
        self.start = est.start


class Identities(TrailPart):
    """The identity of each actor per credential period (cached), and the channel of each of its calls."""

    def __init__(self, est: Estate) -> None:
        super().__init__(est)
        self.cache: dict[tuple[int, int], dict] = {}
        self.ec2_keys: dict[tuple[int, int], str] = {}

    def ident(self, a: Actor, bucket: int) -> dict:
        """The ``userIdentity`` of ``a`` in its credential period ``bucket`` (new keys and session each period)."""
        key = (a.key, bucket)
        got = self.cache.get(key)
        if got is not None:
            return got
        r = random.Random(f"{self.spec.seed}:ident:{a.key}:{bucket}")
        acct = a.acct.account_id
        created = iso(self.start + bucket * a.bucket_len - r.randint(60, 3000))
        if a.kind == "instance":
            inst = a.inst
            assert inst is not None
            ident = {
                "type": "AssumedRole",
                "principalId": f"{inst.role_id}:{inst.instance_id}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{inst.role_name}/{inst.instance_id}",
                "accountId": acct,
                "accessKeyId": self.ec2_key(a, bucket),
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": inst.role_id, "arn": f"arn:aws:iam::{acct}:role/{inst.role_name}",
                                      "accountId": acct, "userName": inst.role_name},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
                    "ec2RoleDelivery": "2.0",
                },
            }
        elif a.kind == "user":
            user = a.user
            assert user is not None
            ident = {"type": "IAMUser", "principalId": user.user_id, "arn": f"arn:aws:iam::{acct}:user/{user.name}",
                     "accountId": acct, "accessKeyId": pick(user.access_keys, r), "userName": user.name}
            if user.style == "console":
                ident["accessKeyId"] = awsid(r, "ASIA", 16)
                ident["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                                           "attributes": {"creationDate": created, "mfaAuthenticated": "true"}}
        elif a.kind == "sso":
            role = f"AWSReservedSSO_AdministratorAccess_{a.acct.sso_suffix}"
            role_id = a.acct.sso_role_id
            ident = {
                "type": "AssumedRole", "principalId": f"{role_id}:{a.person}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{a.person}", "accountId": acct,
                "accessKeyId": awsid(r, "ASIA", 16),
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": role_id,
                                      "arn": f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{role}",
                                      "accountId": acct, "userName": role},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
                },
            }
        else:  # autoscaling service-linked role
            role = "AWSServiceRoleForAutoScaling"
            rid = a.acct.autoscaling_role_id
            ident = {
                "type": "AssumedRole", "principalId": f"{rid}:AutoScaling",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/AutoScaling", "accountId": acct,
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": rid,
                                      "arn": f"arn:aws:iam::{acct}:role/aws-service-role/autoscaling.amazonaws.com/{role}",
                                      "accountId": acct, "userName": role},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
                },
                "invokedBy": "autoscaling.amazonaws.com",
            }
        self.cache[key] = ident
        return ident

    def ec2_key(self, a: Actor, bucket: int) -> str:
        key = (a.key, bucket)
        if key not in self.ec2_keys:
            self.ec2_keys[key] = awsid(random.Random(f"{self.spec.seed}:asia:{a.key}:{bucket}"), "ASIA", 16)
        return self.ec2_keys[key]

    def channel(self, a: Actor, o: Op, r: random.Random, data: bool = False) -> tuple[str, str, bool, bool]:
        """(sourceIPAddress, userAgent, has tlsDetails, sessionCredentialFromConsole); ``data``: an S3 data event."""
        cmd = f"{_CLI_SERVICE.get(o.svc, o.svc)}.{_kebab(o.name)}"
        if a.kind == "instance":
            inst = a.inst
            assert inst is not None
            if o.svc == "ssm" and o.name in ("UpdateInstanceInformation", "ListInstanceAssociations"):
                ua = _UA_SSM_WIN if inst.os == "windows" else _UA_SSM
            elif o.svc == "logs":
                ua = _UA_PWSH if inst.os == "windows" else _UA_CWAGENT
            elif o.svc == "ecr":
                ua = _UA_ECR
            elif inst.os == "windows":
                ua = _UA_PWSH
            elif inst.kind == "worker":
                ua = _UA_JAVA if o.svc in ("dynamodb", "sqs", "kms") else _UA_BOTO_AL
            elif inst.os == "al2023":
                ua = _UA_BOTO_AL
            else:
                ua = _UA_BOTO
            return inst.public_ip, ua, True, False
        if a.kind == "user":
            user = a.user
            assert user is not None
            ip = user.ips[0]  # replaced per record by the address of the user's current session
            if user.style == "console":
                if not data and r.random() < 0.25:
                    return "AWS Internal", "AWS Internal", False, True
                return ip, stable(_UA_BROWSERS, user.name), True, True
            if user.style == "cli":
                os_, arch, inst_ = stable(_UA_CLI_HOSTS, user.name)
                return ip, _UA_CLI.format(os=os_, arch=arch, inst=inst_, cmd=cmd), True, False
            if user.style == "ci":
                return ip, _UA_CLI.format(os="linux#6.5.0-1025-azure", arch="x86_64", inst="exe", cmd=cmd), True, False
            if user.style == "terraform":
                return ip, _UA_TF.format(api=_CLI_SERVICE.get(o.svc, o.svc).replace("s3api", "s3")), True, False
            return ip, _UA_GRAFANA if user.name.startswith("grafana") else _UA_BOTO, True, False
        if a.kind == "sso":
            ip = self._sso_ip(a)
            if r.random() < 0.3:
                return "AWS Internal", "AWS Internal", False, True
            if r.random() < 0.6:
                return ip, stable(_UA_BROWSERS, a.person), True, True
            return ip, _UA_CLI.format(os="macos#24.1.0", arch="arm64", inst="source", cmd=cmd), True, False
        return "autoscaling.amazonaws.com", "autoscaling.amazonaws.com", False, False

    def _sso_ip(self, a: Actor) -> str:
        # a stable home address per SSO person, drawn from the residential pool
        return str(stable(self.est.clients, f"{a.person}:{a.acct.idx}"))

    def host(self, a: Actor, o: Op, params: Any) -> str:
        """The endpoint the client named (``clientProvidedHostHeader``)."""
        svc = o.svc
        if svc == "iam":
            return "iam.amazonaws.com"
        if svc == "s3":
            return params.get("Host", "s3.amazonaws.com") if isinstance(params, dict) else "s3.amazonaws.com"
        if svc == "ecr":
            return f"api.ecr.{self.region}.amazonaws.com"
        if svc == "sts" and a.kind == "user" and a.user is not None and a.user.style == "console":
            return "sts.amazonaws.com"
        return f"{svc}.{self.region}.amazonaws.com"
