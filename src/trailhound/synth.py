"""Seeded synthetic AWS estate: CloudTrail, VPC Flow Logs and Route 53 Resolver query logs.

Files are laid out exactly as AWS delivers them to S3 (key structure, file naming, gzip, header
lines), so ingestion runs the same code paths on synthetic and real data. Everything derives from
``EstateSpec.seed``: one spec always yields byte-identical files.

The estate is one VPC per account with a few subnets and ``spec.instances`` EC2 instances of a
handful of kinds (web, api, worker, db, ci-runner, bastion, windows). The inventory, the instance
role sessions in CloudTrail, the ENIs in the flow logs and the sources of DNS queries all refer to
the same instances, and flow-log peers are the addresses the DNS answers gave out.

The background is benign on purpose: no defense-evasion or policy-weakening API calls, no Root
identity, no pentest user agents, no address taken from a threat list. Detectors add attacks on
top of it, so anything they find in the background alone is a false positive.

Speed: records are shallow copies of cached, pre-built templates with a few fields replaced,
serialised with orjson; flow and DNS lines are drawn with numpy and joined from pre-built string
pieces; files are compressed with ISA-L at level 1.
"""

from __future__ import annotations

import base64
import gzip
import math
import random
import re
import string
import time
import zlib
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np
import orjson

try:
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - isal is a declared dependency
    _igzip = None

__all__ = [
    "FLOW_HEADER_V2", "FLOW_HEADER_V5", "FORBIDDEN_EVENT_NAMES", "EstateFiles", "EstateSpec", "instances_inventory", "write_estate",
]

FLOW_HEADER_V2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
FLOW_HEADER_V5 = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport "
    "pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path"
)

# Event names the benign background must never contain (they are what detectors look for).
FORBIDDEN_EVENT_NAMES = frozenset({
    "StopLogging", "DeleteTrail", "UpdateTrail", "UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy",
    "PutBucketPolicy", "PutBucketAcl", "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
    "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock", "PutBucketLogging",
})

_ERROR_RATE = 0.07  # of failable calls; ~3% of all records end up with an errorCode
CT_WINDOW = 300  # CloudTrail delivers a file per account and region about every 5 minutes
FLOW_WINDOW = 600  # default flow-log aggregation/delivery interval
DNS_WINDOW = 300
LINES_PER_FILE = 10_000  # flow and DNS lines per file


@dataclass(frozen=True)
class EstateSpec:
    account_ids: tuple[str, ...] = ("111122223333", "444455556666")
    region: str = "us-east-1"
    start: datetime = datetime(2026, 11, 1, tzinfo=timezone.utc)
    days: int = 3
    cloudtrail_events: int = 20_000
    flow_lines: int = 50_000
    dns_lines: int = 20_000
    instances: int = 20
    users: int = 8
    events_per_file: int = 2000
    seed: int = 7


@dataclass
class EstateFiles:
    root: Path
    cloudtrail: list[Path]
    flow: list[Path]
    dns: list[Path]
    inventory: Path
    cloudtrail_events: int
    flow_lines: int
    dns_lines: int
    raw_bytes: dict[str, int]


# ---------------------------------------------------------------------------------------------
# small helpers

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # alphabet of IAM unique ids and access keys
_ALNUM = string.ascii_letters + string.digits
_UUID_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _gzip(data: bytes) -> bytes:
    # mtime=0 keeps the output byte-identical from run to run.
    if _igzip is not None:
        return _igzip.compress(data, compresslevel=1, mtime=0)
    return gzip.compress(data, compresslevel=1, mtime=0)


def _hexid(rnd: random.Random, n: int = 17) -> str:
    return f"{rnd.getrandbits(4 * n):0{n}x}"


def _awsid(rnd: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rnd.choices(_B32, k=n))


def _uuid(h: str) -> str:
    """A uuid4-formatted string from 32 random hex digits."""
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_UUID_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _stamp(t: int) -> str:
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))


def _day_dir(t: int) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(t))


def _expiry(t: int) -> str:
    """STS credential expiration as CloudTrail renders it, e.g. ``Nov 1, 2026, 6:00:00 AM``."""
    g = time.gmtime(t)
    hour = g.tm_hour % 12 or 12
    return f"{time.strftime('%b', g)} {g.tm_mday}, {g.tm_year}, {hour}:{g.tm_min:02d}:{g.tm_sec:02d} {'AM' if g.tm_hour < 12 else 'PM'}"


def _kebab(name: str) -> str:
    name = re.sub(r"\d{8}(v\d)?$", "", name)  # ListFunctions20150331 -> list-functions
    return "".join("-" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _ip(rnd: random.Random, prefix: str) -> str:
    """A random address in `prefix` that is on none of the packaged threat lists (redrawn if it is:
    the background must never match a list by accident; the draw stays deterministic)."""
    listed = _listed()
    while True:
        parts = prefix.rstrip(".").split(".")
        while len(parts) < 3:
            parts.append(str(rnd.randint(1, 254)))
        parts.append(str(rnd.randint(2, 253)))
        ip = ".".join(parts)
        if not listed(ip):
            return ip


@lru_cache(maxsize=1)
def _listed() -> Callable[[str], bool]:
    from trailhound.intel.builtin import DATA_DIR
    from trailhound.intel.index import builtin_index

    # The packaged lists only (a folder with no refreshed copies), so that output depends on the seed alone.
    index = builtin_index(DATA_DIR / "packaged-only")
    return lambda ip: bool(index.ip(ip))


def _region_short(region: str) -> str:
    """us-east-1 -> use1, eu-west-2 -> euw2 (the short form AZ ids and ElastiCache endpoints use)."""
    geo, direction, n = region.split("-")
    return f"{geo}{direction[0]}{n}"


def _spread(count: int, slots: int) -> list[int]:
    """Slot index for each of ``count`` files spread evenly over ``slots`` delivery windows."""
    return [k * slots // count for k in range(count)]


def _file_sizes(total: int, n_files: int) -> list[int]:
    base, extra = divmod(total, n_files)
    return [base + (1 if k < extra else 0) for k in range(n_files)]


# ---------------------------------------------------------------------------------------------
# address pools: real, ordinary ranges (AWS, CDNs, big US ISPs, clouds). Prefixes are /24s or /16s
# with no address on the FireHOL level 1, IPsum, ET, DShield, blocklist.de or Tor lists, so the
# background never matches a threat list by accident.

_EC2_PREFIXES = (
    "54.243.232.", "54.243.67.", "52.71.211.", "52.71.37.", "3.219.235.", "3.219.143.", "34.226.10.", "34.226.87.", "44.207.223.",
    "44.207.139.", "18.208.98.", "18.208.47.", "54.90.199.", "54.90.185.", "3.91.11.", "3.91.117.", "34.203.243.", "34.203.83.",
    "52.5.200.", "52.5.178.",
)
_HOME_PREFIXES = (
    "73.15.211.", "73.15.76.", "73.222.3.", "73.222.121.", "98.207.139.", "98.207.44.", "71.202.47.", "71.202.187.", "108.28.125.",
    "108.28.175.", "24.5.37.", "24.5.171.", "67.180.22.", "67.180.88.", "76.102.178.", "76.102.21.", "96.241.144.", "96.241.33.",
    "68.134.16.", "68.134.134.",
)
_CI_PREFIXES = (  # GitHub-hosted runners (Azure)
    "20.42.67.", "20.42.123.", "20.57.216.", "20.57.230.", "40.84.151.", "40.84.208.", "52.234.176.", "52.234.99.", "20.172.9.",
    "20.172.122.",
)
_CLIENT_PREFIXES = _HOME_PREFIXES + (
    "174.63.238.", "174.63.12.", "99.110.220.", "99.110.82.", "70.181.168.", "70.181.210.", "72.229.162.", "72.229.200.",
    "75.172.220.", "75.172.7.", "107.77.247.", "107.77.236.", "172.58.175.", "172.58.192.", "100.34.160.", "100.34.204.",
)
_SCANNER_PREFIXES = (  # hosting ranges internet-wide SSH/RDP sweeps come from
    "159.203.101.", "159.203.97.", "167.99.26.", "167.99.61.", "142.93.198.", "142.93.107.", "137.184.253.", "137.184.103.",
    "164.92.52.", "164.92.194.", "146.190.2.", "146.190.107.", "143.244.44.", "143.244.104.", "170.187.253.", "170.187.208.",
    "172.105.96.", "172.105.188.", "65.21.153.", "65.21.61.",
)
_MONITOR_PREFIXES = ("50.18.114.", "50.18.132.", "13.56.54.", "13.56.27.")

_IP_GROUPS: dict[str, tuple[str, ...]] = {
    "aws": ("52.94.", "52.46.", "54.239.", "209.54.180."),
    "s3": ("52.216.", "52.217.", "54.231.", "3.5.", "16.182.", "16.15."),
    "ec2": ("54.243.59.", "54.243.150.", "52.71.93.", "52.71.214.", "3.219.63.", "3.219.99.", "34.226.55.", "34.226.105.",
            "44.207.106.", "44.207.231.", "18.208.157.", "18.208.162."),
    "canonical": ("91.189.91.", "185.125.190."),
    "github": ("140.82.112.", "140.82.113.", "140.82.114."),
    "ghcontent": ("185.199.108.", "185.199.109.", "185.199.110.", "185.199.111."),
    "fastly": ("151.101.0.", "151.101.64.", "151.101.128.", "151.101.192."),
    "cloudflare": ("104.16.", "104.17.", "104.18.", "172.64.", "172.66."),
    "google": ("142.250.", "142.251.", "172.217.", "216.58.", "172.253."),
    "cloudfront": ("13.32.", "13.33.", "18.160.", "18.161.", "108.138.", "108.156.", "65.8.", "52.84."),
    "akamai": ("23.32.", "23.45.", "23.55.", "104.85.", "184.25."),
    "msft": ("13.107.", "20.190.", "40.126.", "52.109."),
    "datadog": ("3.233.247.", "3.233.215.", "3.233.194.", "3.214.12.", "3.214.58.", "3.214.8."),
    "saas": ("52.1.183.", "52.1.200.", "54.147.254.", "54.147.157.", "34.194.64.", "34.194.34.", "35.169.120.", "35.169.182.",
             "18.214.234.", "18.214.240.", "44.195.161.", "44.195.22."),
    "sentry": ("34.120.195.",),
    "ntp": ("162.159.200.", "216.239.35."),
}
_V6_GROUPS = {
    "s3": "2600:1fa0:", "cloudfront": "2600:9000:", "fastly": "2a04:4e42:", "cloudflare": "2606:4700:",
    "google": "2607:f8b0:4004:", "canonical": "2620:2d:4000:1::", "msft": "2603:1036:",
}

# ---------------------------------------------------------------------------------------------
# DNS catalogue: (name, answer group, flow port [0: none], CNAME target or "", relative weight)
# Names use {r} for the region.

_DomainRow = tuple[str, str, int, str, float]
_DOMAINS: dict[str, tuple[_DomainRow, ...]] = {
    "aws": (
        ("ssm.{r}.amazonaws.com.", "aws", 443, "", 14),
        ("ec2messages.{r}.amazonaws.com.", "aws", 443, "", 14),
        ("ssmmessages.{r}.amazonaws.com.", "aws", 443, "", 12),
        ("logs.{r}.amazonaws.com.", "aws", 443, "", 8),
        ("monitoring.{r}.amazonaws.com.", "aws", 443, "", 4),
        ("sts.{r}.amazonaws.com.", "aws", 443, "", 3),
        ("sts.amazonaws.com.", "aws", 443, "", 1),
        ("ec2.{r}.amazonaws.com.", "aws", 443, "", 2),
        ("kms.{r}.amazonaws.com.", "aws", 443, "", 2),
        ("secretsmanager.{r}.amazonaws.com.", "aws", 443, "", 2),
        ("s3.amazonaws.com.", "s3", 443, "", 2),
        ("s3.{r}.amazonaws.com.", "s3", 443, "s3-1-w.amazonaws.com.", 3),
        ("amazon-ssm-{r}.s3.{r}.amazonaws.com.", "s3", 443, "s3-1-w.amazonaws.com.", 0.3),
        ("ssm.{r}.api.aws.", "aws", 443, "", 0.2),
    ),
    "aws_data": (
        ("dynamodb.{r}.amazonaws.com.", "aws", 443, "", 6),
        ("sqs.{r}.amazonaws.com.", "aws", 443, "", 6),
        ("sns.{r}.amazonaws.com.", "aws", 443, "", 2),
        ("kinesis.{r}.amazonaws.com.", "aws", 443, "", 1),
        ("firehose.{r}.amazonaws.com.", "aws", 443, "", 1),
        ("events.{r}.amazonaws.com.", "aws", 443, "", 1),
        ("lambda.{r}.amazonaws.com.", "aws", 443, "", 0.5),
        ("xray.{r}.amazonaws.com.", "aws", 443, "", 1),
        ("athena.{r}.amazonaws.com.", "aws", 443, "", 0.5),
        ("glue.{r}.amazonaws.com.", "aws", 443, "", 0.5),
        ("elasticache.{r}.amazonaws.com.", "aws", 443, "", 0.2),
        ("rds.{r}.amazonaws.com.", "aws", 443, "", 0.2),
        ("email.{r}.amazonaws.com.", "aws", 443, "", 0.5),
        ("cognito-idp.{r}.amazonaws.com.", "aws", 443, "", 0.5),
    ),
    "ubuntu": (
        ("{r}.ec2.archive.ubuntu.com.", "ec2", 80, "", 2),
        ("security.ubuntu.com.", "canonical", 80, "", 1.5),
        ("esm.ubuntu.com.", "canonical", 443, "", 0.5),
        ("motd.ubuntu.com.", "canonical", 443, "", 0.3),
        ("api.snapcraft.io.", "canonical", 443, "", 1),
        ("changelogs.ubuntu.com.", "canonical", 443, "", 0.2),
        ("ntp.ubuntu.com.", "canonical", 123, "", 1),
        ("entropy.ubuntu.com.", "canonical", 443, "", 0.1),
        ("livepatch.canonical.com.", "canonical", 443, "", 0.3),
        ("contracts.canonical.com.", "canonical", 443, "", 0.2),
        ("connectivity-check.ubuntu.com.", "canonical", 80, "", 0.5),
        ("keyserver.ubuntu.com.", "canonical", 443, "", 0.1),
        ("ppa.launchpadcontent.net.", "canonical", 443, "", 0.2),
    ),
    "al2023": (
        ("al2023-repos-{r}-de612dc2.s3.dualstack.{r}.amazonaws.com.", "s3", 443, "s3-r-w.dualstack.{r}.amazonaws.com.", 2),
        ("amazonlinux-2-repos-{r}.s3.dualstack.{r}.amazonaws.com.", "s3", 443, "s3-r-w.dualstack.{r}.amazonaws.com.", 1),
        ("cdn.amazonlinux.com.", "cloudfront", 443, "d2lzkl7pfhq30w.cloudfront.net.", 0.5),
        ("time.aws.com.", "aws", 123, "", 0.5),
    ),
    "windows": (
        ("ctldl.windowsupdate.com.", "akamai", 80, "ctldl.windowsupdate.com.edgesuite.net.", 2),
        ("settings-win.data.microsoft.com.", "msft", 443, "atm-settingsfe-prod-geo2.trafficmanager.net.", 2),
        ("v10.events.data.microsoft.com.", "msft", 443, "global.asimov.events.data.trafficmanager.net.", 3),
        ("time.windows.com.", "msft", 123, "twc.trafficmanager.net.", 1),
        ("login.microsoftonline.com.", "msft", 443, "login.mso.msidentity.com.", 1),
        ("go.microsoft.com.", "akamai", 443, "go.microsoft.com.edgekey.net.", 0.5),
        ("fe2cr.update.microsoft.com.", "msft", 443, "", 1),
        ("slscr.update.microsoft.com.", "msft", 443, "", 1),
        ("www.msftconnecttest.com.", "akamai", 80, "www.msftconnecttest.com.edgesuite.net.", 1),
        ("crl.microsoft.com.", "akamai", 80, "crl.microsoft.com.edgesuite.net.", 0.5),
        ("oneocsp.microsoft.com.", "akamai", 80, "ocsp.edge.digicert.com.", 0.5),
        ("download.windowsupdate.com.", "akamai", 80, "download.windowsupdate.com.edgesuite.net.", 0.5),
        ("ec2-windows-launch.s3.amazonaws.com.", "s3", 443, "", 0.1),
    ),
    "pki": (
        ("ocsp.rootca1.amazontrust.com.", "cloudfront", 80, "d2dpz1jgd3u4ld.cloudfront.net.", 0.5),
        ("crl.rootca1.amazontrust.com.", "cloudfront", 80, "d1fqexgh8r2bki.cloudfront.net.", 0.2),
        ("ocsp.digicert.com.", "fastly", 80, "ocsp.edge.digicert.com.", 0.4),
        ("r11.o.lencr.org.", "akamai", 80, "o.lencr.edgesuite.net.", 0.4),
        ("x1.c.lencr.org.", "akamai", 80, "crl.root-x1.letsencrypt.org.edgekey.net.", 0.1),
        ("ocsp.pki.goog.", "google", 80, "pki-goog.l.google.com.", 0.3),
    ),
    "web": (
        ("api.datadoghq.com.", "datadog", 443, "", 2),
        ("http-intake.logs.datadoghq.com.", "datadog", 443, "alb-logs-http-shard0-1234567890.us-east-1.elb.amazonaws.com.", 3),
        ("trace.agent.datadoghq.com.", "datadog", 443, "", 2),
        ("7-58-0-app.agent.datadoghq.com.", "datadog", 443, "", 2),
        ("process.datadoghq.com.", "datadog", 443, "", 1),
        ("o450123.ingest.sentry.io.", "sentry", 443, "", 1),
        ("api.stripe.com.", "saas", 443, "", 1),
        ("hooks.slack.com.", "saas", 443, "", 0.3),
        ("api.sendgrid.com.", "saas", 443, "", 0.5),
        ("smtp.sendgrid.net.", "saas", 587, "", 0.3),
        ("api.twilio.com.", "saas", 443, "", 0.3),
        ("api.segment.io.", "saas", 443, "", 0.5),
        ("api.intercom.io.", "saas", 443, "", 0.2),
        ("events.pagerduty.com.", "saas", 443, "", 0.1),
        ("www.googleapis.com.", "google", 443, "", 0.5),
        ("oauth2.googleapis.com.", "google", 443, "", 0.4),
        ("maps.googleapis.com.", "google", 443, "", 0.3),
        ("acme-prod.us.auth0.com.", "cloudflare", 443, "", 0.5),
        ("api.github.com.", "github", 443, "", 0.2),
        ("fonts.gstatic.com.", "google", 443, "", 0.1),
        ("api.mailgun.net.", "saas", 443, "", 0.2),
        ("api.hubapi.com.", "cloudflare", 443, "", 0.1),
    ),
    "data": (
        ("acme-prod.snowflakecomputing.com.", "saas", 443, "", 1),
        ("bigquery.googleapis.com.", "google", 443, "", 0.3),
        ("storage.googleapis.com.", "google", 443, "", 0.3),
        ("api.segment.io.", "saas", 443, "", 0.3),
        ("o450123.ingest.sentry.io.", "sentry", 443, "", 0.5),
        ("api.datadoghq.com.", "datadog", 443, "", 1),
        ("http-intake.logs.datadoghq.com.", "datadog", 443, "alb-logs-http-shard0-1234567890.us-east-1.elb.amazonaws.com.", 1),
    ),
    "db": (
        ("apt.postgresql.org.", "fastly", 80, "", 0.3),
        ("download.postgresql.org.", "fastly", 443, "", 0.1),
        ("api.datadoghq.com.", "datadog", 443, "", 1),
        ("7-58-0-app.agent.datadoghq.com.", "datadog", 443, "", 1),
    ),
    "bastion": (
        ("github.com.", "github", 443, "", 0.3),
        ("api.github.com.", "github", 443, "", 0.3),
        ("duo-api.example-tenant.duosecurity.com.", "saas", 443, "", 0.3),
    ),
    "ci": (
        ("github.com.", "github", 443, "", 4),
        ("api.github.com.", "github", 443, "", 4),
        ("codeload.github.com.", "github", 443, "", 1),
        ("objects.githubusercontent.com.", "ghcontent", 443, "", 2),
        ("raw.githubusercontent.com.", "ghcontent", 443, "", 1),
        ("pkg-containers.githubusercontent.com.", "ghcontent", 443, "", 1),
        ("ghcr.io.", "github", 443, "", 1),
        ("pipelines.actions.githubusercontent.com.", "msft", 443, "", 2),
        ("results-receiver.actions.githubusercontent.com.", "msft", 443, "", 1),
        ("registry-1.docker.io.", "ec2", 443, "", 2),
        ("auth.docker.io.", "ec2", 443, "", 1),
        ("production.cloudflare.docker.com.", "cloudflare", 443, "", 2),
        ("index.docker.io.", "ec2", 443, "", 0.3),
        ("download.docker.com.", "cloudfront", 443, "d2g6u4gh6d9rq0.cloudfront.net.", 0.2),
        ("pypi.org.", "fastly", 443, "", 2),
        ("files.pythonhosted.org.", "fastly", 443, "dualstack.python.map.fastly.net.", 2),
        ("registry.npmjs.org.", "cloudflare", 443, "", 2),
        ("registry.yarnpkg.com.", "cloudflare", 443, "", 0.5),
        ("repo.maven.apache.org.", "fastly", 443, "repo.maven.apache.org.cdn.cloudflare.net.", 0.5),
        ("repo1.maven.org.", "fastly", 443, "", 0.3),
        ("services.gradle.org.", "cloudflare", 443, "", 0.2),
        ("plugins.gradle.org.", "cloudflare", 443, "", 0.2),
        ("proxy.golang.org.", "google", 443, "", 1),
        ("sum.golang.org.", "google", 443, "", 0.5),
        ("storage.googleapis.com.", "google", 443, "", 0.5),
        ("dl.google.com.", "google", 443, "", 0.2),
        ("rubygems.org.", "fastly", 443, "", 0.2),
        ("index.rubygems.org.", "fastly", 443, "", 0.2),
        ("index.crates.io.", "cloudfront", 443, "d19xqa3lc3clo8.cloudfront.net.", 0.2),
        ("static.crates.io.", "cloudfront", 443, "", 0.2),
        ("releases.hashicorp.com.", "cloudfront", 443, "", 0.3),
        ("checkpoint-api.hashicorp.com.", "saas", 443, "", 0.3),
        ("registry.terraform.io.", "cloudfront", 443, "", 0.3),
        ("get.helm.sh.", "akamai", 443, "", 0.1),
        ("dl.k8s.io.", "google", 443, "", 0.1),
        ("cdn.dl.k8s.io.", "fastly", 443, "", 0.1),
        ("quay.io.", "saas", 443, "", 0.2),
        ("cdn01.quay.io.", "cloudfront", 443, "", 0.2),
        ("deb.nodesource.com.", "cloudfront", 443, "", 0.1),
        ("nodejs.org.", "cloudflare", 443, "", 0.2),
        ("packages.microsoft.com.", "akamai", 443, "", 0.1),
        ("api.nuget.org.", "akamai", 443, "", 0.1),
        ("deb.debian.org.", "fastly", 80, "debian.map.fastly.net.", 0.5),
        ("security.debian.org.", "fastly", 80, "debian.map.fastly.net.", 0.2),
        ("dl-cdn.alpinelinux.org.", "fastly", 443, "dualstack.d.sni.global.fastly.net.", 0.5),
        ("archive.apache.org.", "saas", 443, "", 0.05),
        ("gitlab.com.", "cloudflare", 443, "", 0.1),
        ("codecov.io.", "google", 443, "", 0.1),
        ("uploader.codecov.io.", "google", 443, "", 0.1),
        ("sonarcloud.io.", "saas", 443, "", 0.1),
        ("api.snyk.io.", "saas", 443, "", 0.1),
    ),
}

# Which catalogue sections each instance kind uses (a random subset of each, stable per instance).
_KIND_DNS = {
    "web": ("aws", "ubuntu", "pki", "web", "cdn"),
    "api": ("aws", "aws_data", "ubuntu", "pki", "web", "cdn"),
    "worker": ("aws", "aws_data", "al2023", "pki", "data"),
    "db": ("aws", "ubuntu", "pki", "db"),
    "ci-runner": ("aws", "ubuntu", "pki", "ci", "cdn"),
    "bastion": ("aws", "al2023", "pki", "bastion"),
    "win": ("aws", "windows", "pki"),
}
_KIND_CYCLE = ("web", "api", "worker", "db", "web", "api", "worker", "ci-runner", "bastion", "win")
_KIND_TYPE = {
    "web": "t3.medium", "api": "m6i.large", "worker": "c6i.xlarge", "db": "r6i.large",
    "ci-runner": "c6i.2xlarge", "bastion": "t3.micro", "win": "m5.xlarge",
}
_KIND_OS = {"web": "ubuntu", "api": "ubuntu", "worker": "al2023", "db": "ubuntu", "ci-runner": "ubuntu", "bastion": "al2023", "win": "windows"}
_ENVS = ("prod", "staging", "dev", "sandbox")

# ---------------------------------------------------------------------------------------------
# estate model


@dataclass
class _Instance:
    idx: int
    acct: _Account
    kind: str
    name: str
    instance_id: str
    eni: str
    private_ip: str
    public_ip: str
    subnet_id: str
    az: str
    instance_type: str
    image_id: str
    launch_time: int
    os: str
    role_name: str
    role_id: str
    profile_name: str
    profile_id: str
    sg_id: str
    sg_name: str
    reservation_id: str
    mac: str
    private_dns: str
    public_dns: str


@dataclass
class _Account:
    idx: int
    account_id: str
    env: str
    vpc_id: str
    subnets: list[tuple[str, str, int]]  # subnet id, AZ, third octet of its 10.0.x.0/24
    flow_log_ids: dict[int, str]
    buckets: list[str]
    kms_key: str
    sso_suffix: str
    sso_role_id: str
    autoscaling_role_id: str
    deploy_role_id: str
    instances: list[_Instance] = field(default_factory=list)
    users: list[_User] = field(default_factory=list)


@dataclass
class _User:
    name: str
    style: str  # cli | console | ci | terraform | sdk
    acct: _Account
    user_id: str
    access_keys: list[str]
    ips: list[str]


_USER_POOL = (
    ("alice", "console"), ("bob", "cli"), ("ci-deploy", "ci"), ("terraform", "terraform"), ("carol", "cli"),
    ("grafana-reader", "sdk"), ("dave", "console"), ("backup-svc", "sdk"), ("erin", "cli"), ("frank", "console"),
    ("grace", "cli"), ("heidi", "console"),
)
_SSO_PEOPLE = ("priya.shah", "tom.becker", "li.wei", "maria.gomez", "sam.okafor", "nina.petrova")


@dataclass
class _Estate:
    spec: EstateSpec
    accounts: list[_Account]
    instances: list[_Instance]
    scanners: np.ndarray  # object array of scanner source addresses (inbound noise)
    clients: np.ndarray  # object array of residential client addresses (web traffic, console users)
    internal_suffix: str


def _build_estate(spec: EstateSpec) -> _Estate:
    if spec.days < 1:
        raise ValueError("days must be at least 1")
    if spec.start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    # each account gets up to 16 /24 subnets in 10.0.0.0/16 and 150 instances per subnet
    if not 1 <= len(spec.account_ids) <= 15:
        raise ValueError("between 1 and 15 accounts are supported")
    if spec.instances > min(4000, 2400 * len(spec.account_ids)):
        raise ValueError("too many instances for the estate's address plan")
    rnd = random.Random(f"{spec.seed}:estate")
    region = spec.region
    internal = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    used_ips: set[str] = set()

    def fresh_ip(prefixes: tuple[str, ...]) -> str:
        while True:
            ip = _ip(rnd, rnd.choice(prefixes))
            if ip not in used_ips:
                used_ips.add(ip)
                return ip

    accounts: list[_Account] = []
    n_inst_per_acct = [len(range(a, spec.instances, len(spec.account_ids))) for a in range(len(spec.account_ids))]
    for a, acct_id in enumerate(spec.account_ids):
        n_sub = max(3, math.ceil(n_inst_per_acct[a] / 150))
        subnets = [(f"subnet-{_hexid(rnd)}", f"{region}{'abcdef'[s % 6]}", 1 + a * 16 + s) for s in range(n_sub)]
        env = _ENVS[a % len(_ENVS)] if a < len(_ENVS) else f"env{a}"
        tail = acct_id[-4:]
        buckets = [
            f"acme-{env}-app-assets-{tail}", f"acme-{env}-app-logs-{acct_id}", f"acme-{env}-backups-{tail}",
            f"acme-terraform-state-{acct_id}", f"acme-{env}-data-lake-raw-{tail}", f"cdk-hnb659fds-assets-{acct_id}-{region}",
        ]
        accounts.append(_Account(
            idx=a, account_id=acct_id, env=env, vpc_id=f"vpc-{_hexid(rnd)}", subnets=subnets,
            flow_log_ids={2: f"fl-{_hexid(rnd)}", 5: f"fl-{_hexid(rnd)}"}, buckets=buckets,
            kms_key=f"arn:aws:kms:{region}:{acct_id}:key/{_uuid(_hexid(rnd, 32))}", sso_suffix=_hexid(rnd, 16), sso_role_id=_awsid(rnd, "AROA", 17),
            autoscaling_role_id=_awsid(rnd, "AROA", 17), deploy_role_id=_awsid(rnd, "AROA", 17),
        ))

    start = int(spec.start.timestamp())
    amis = {(a.idx, os): f"ami-{_hexid(rnd)}" for a in accounts for os in ("ubuntu", "al2023", "windows")}
    profiles: dict[tuple[int, str], tuple[str, str, str]] = {}
    sgs: dict[tuple[int, str], str] = {}
    hosts_used: set[tuple[int, int]] = set()
    kind_counts: dict[tuple[int, str], int] = {}
    instances: list[_Instance] = []
    n_acct = len(accounts)
    for i in range(spec.instances):
        acct = accounts[i % n_acct]
        kind = _KIND_CYCLE[(i // n_acct) % len(_KIND_CYCLE)]
        kind_counts[(acct.idx, kind)] = kind_counts.get((acct.idx, kind), 0) + 1
        subnet_id, az, octet = acct.subnets[(i // n_acct) % len(acct.subnets)]
        while True:
            host = rnd.randint(4, 199)
            if (octet, host) not in hosts_used:
                hosts_used.add((octet, host))
                break
        private_ip = f"10.0.{octet}.{host}"
        public_ip = fresh_ip(_EC2_PREFIXES)
        if (acct.idx, kind) not in profiles:
            profiles[(acct.idx, kind)] = (_awsid(rnd, "AROA", 17), _awsid(rnd, "AIPA", 17), f"sg-{_hexid(rnd)}")
        role_id, profile_id, sg_id = profiles[(acct.idx, kind)]
        sgs[(acct.idx, kind)] = sg_id
        dash_pub = public_ip.replace(".", "-")
        public_dns = f"ec2-{dash_pub}.compute-1.amazonaws.com" if region == "us-east-1" else f"ec2-{dash_pub}.{region}.compute.amazonaws.com"
        os_name = _KIND_OS[kind]
        inst = _Instance(
            idx=i, acct=acct, kind=kind, name=f"{acct.env}-{kind}-{kind_counts[(acct.idx, kind)]:02d}",
            instance_id=f"i-{_hexid(rnd)}", eni=f"eni-{_hexid(rnd)}", private_ip=private_ip, public_ip=public_ip,
            subnet_id=subnet_id, az=az, instance_type=_KIND_TYPE[kind], image_id=amis[(acct.idx, os_name)],
            launch_time=start - rnd.randint(2 * 86400, 200 * 86400), os=os_name,
            role_name=f"{acct.env}-{kind}-instance-role", role_id=role_id,
            profile_name=f"{acct.env}-{kind}-instance-profile", profile_id=profile_id,
            sg_id=sg_id, sg_name=f"{acct.env}-{kind}-sg", reservation_id=f"r-{_hexid(rnd)}",
            mac="02:" + ":".join(f"{rnd.randint(0, 255):02x}" for _ in range(5)),
            private_dns=f"ip-{private_ip.replace('.', '-')}.{internal}", public_dns=public_dns,
        )
        acct.instances.append(inst)
        instances.append(inst)

    for u in range(spec.users):
        name, style = _USER_POOL[u % len(_USER_POOL)]
        if u >= len(_USER_POOL):
            name = f"{name}{u // len(_USER_POOL) + 1}"
        acct = accounts[u % n_acct]
        if style == "ci":
            ips = [fresh_ip(_CI_PREFIXES) for _ in range(6)]
        elif style == "sdk":
            ips = [fresh_ip(_MONITOR_PREFIXES)]
        else:
            ips = [fresh_ip(_HOME_PREFIXES) for _ in range(rnd.randint(1, 3))]
        user = _User(name=name, style=style, acct=acct, user_id=_awsid(rnd, "AIDA", 17),
                     access_keys=[_awsid(rnd, "AKIA", 16) for _ in range(rnd.randint(1, 2))], ips=ips)
        acct.users.append(user)

    scanners = np.array(sorted({_ip(rnd, rnd.choice(_SCANNER_PREFIXES)) for _ in range(1500)} - used_ips), dtype=object)
    clients = np.array(sorted({_ip(rnd, rnd.choice(_CLIENT_PREFIXES)) for _ in range(4000)} - used_ips), dtype=object)
    return _Estate(spec=spec, accounts=accounts, instances=instances, scanners=scanners, clients=clients,
                   internal_suffix=internal)


# ---------------------------------------------------------------------------------------------
# inventory


def _inventory(est: _Estate) -> dict:
    reservations = []
    for inst in est.instances:
        acct = inst.acct.account_id
        groups = [{"GroupId": inst.sg_id, "GroupName": inst.sg_name}]
        desc: dict[str, Any] = {
            "AmiLaunchIndex": 0,
            "ImageId": inst.image_id,
            "InstanceId": inst.instance_id,
            "InstanceType": inst.instance_type,
            "LaunchTime": datetime.fromtimestamp(inst.launch_time, timezone.utc).isoformat(),
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": inst.az, "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": inst.private_dns,
            "PrivateIpAddress": inst.private_ip,
            "ProductCodes": [],
            "PublicDnsName": inst.public_dns,
            "PublicIpAddress": inst.public_ip,
            "State": {"Code": 16, "Name": "running"},
            "SubnetId": inst.subnet_id,
            "VpcId": inst.acct.vpc_id,
            "Architecture": "x86_64",
            "IamInstanceProfile": {"Arn": f"arn:aws:iam::{acct}:instance-profile/{inst.profile_name}", "Id": inst.profile_id},
            "NetworkInterfaces": [{
                "Association": {"IpOwnerId": "amazon", "PublicDnsName": inst.public_dns, "PublicIp": inst.public_ip},
                "Attachment": {"AttachTime": datetime.fromtimestamp(inst.launch_time, timezone.utc).isoformat(),
                               "AttachmentId": "eni-attach-" + inst.eni[4:], "DeleteOnTermination": True,
                               "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
                "Description": "",
                "Groups": groups,
                "Ipv6Addresses": [],
                "MacAddress": inst.mac,
                "NetworkInterfaceId": inst.eni,
                "OwnerId": acct,
                "PrivateDnsName": inst.private_dns,
                "PrivateIpAddress": inst.private_ip,
                "PrivateIpAddresses": [{
                    "Association": {"IpOwnerId": "amazon", "PublicDnsName": inst.public_dns, "PublicIp": inst.public_ip},
                    "Primary": True, "PrivateDnsName": inst.private_dns, "PrivateIpAddress": inst.private_ip,
                }],
                "SourceDestCheck": True,
                "Status": "in-use",
                "SubnetId": inst.subnet_id,
                "VpcId": inst.acct.vpc_id,
                "InterfaceType": "interface",
            }],
            "SecurityGroups": groups,
            "Tags": [{"Key": "Name", "Value": inst.name}, {"Key": "Environment", "Value": inst.acct.env},
                     {"Key": "Role", "Value": inst.kind}],
            "VirtualizationType": "hvm",
            "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        }
        if inst.os == "windows":
            desc["Platform"] = "windows"
            desc["PlatformDetails"] = "Windows"
        else:
            desc["PlatformDetails"] = "Linux/UNIX"
        reservations.append({"ReservationId": inst.reservation_id, "OwnerId": acct, "Groups": [], "Instances": [desc]})
    return {"Reservations": reservations}


def instances_inventory(spec: EstateSpec) -> dict:
    """The ``aws ec2 describe-instances`` output for the estate (what ``write_estate`` saves)."""
    return _inventory(_build_estate(spec))


# ---------------------------------------------------------------------------------------------
# CloudTrail

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
_TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}


@dataclass
class _Actor:
    key: int
    kind: str  # user | instance | sso | autoscaling | ec2svc
    acct: _Account
    ops: list[_Op]
    cum: list[float]
    weight: float
    bucket_len: int
    data_p: float = 0.0
    buckets: tuple[int, ...] = ()
    region: str = "us-east-1"
    user: _User | None = None
    inst: _Instance | None = None
    person: str = ""


@dataclass
class _Op:
    idx: int
    source: str
    name: str
    read_only: bool
    req: Callable[[_Actor, random.Random], Any] | None = None  # requestParameters (None: null)
    resources: Callable[[_Actor, random.Random], Any] | None = None
    special: str = ""  # ops built per record: run | terminate | assume_ec2 | assume_user | write
    variants: int = 4
    can_fail: bool = True

    @property
    def svc(self) -> str:
        return self.source.split(".", 1)[0]


def _pick(seq: Sequence[Any], r: random.Random) -> Any:
    return seq[r.randrange(len(seq))]


def _stable(seq: Sequence[Any], key: str) -> Any:
    """The same element of ``seq`` for the same ``key`` on every run (unlike ``hash``)."""
    return seq[zlib.crc32(key.encode()) % len(seq)]


def _inst_ids(a: _Actor) -> list[str]:
    return [i.instance_id for i in a.acct.instances] or ["i-0" + "0" * 16]


def _own_or_any(a: _Actor, r: random.Random) -> str:
    return a.inst.instance_id if a.inst else _pick(_inst_ids(a), r)


def _bucket_params(a: _Actor, r: random.Random, **extra: Any) -> dict:
    b = _pick(a.acct.buckets, r)
    return {**extra, "bucketName": b, "Host": f"{b}.s3.{a.region}.amazonaws.com"}


def _role_name(a: _Actor) -> str:
    return a.inst.role_name if a.inst else f"{a.acct.env}-api-instance-role"


def _ops_catalogue() -> dict[str, _Op]:
    ops: list[_Op] = []

    def op(source: str, name: str, ro: bool, req: Callable | None = None, resources: Callable | None = None,
           special: str = "", variants: int = 4, can_fail: bool = True) -> None:
        ops.append(_Op(len(ops), source, name, ro, req, resources, special, variants, can_fail))

    e = "ec2.amazonaws.com"
    op(e, "DescribeInstances", True, lambda a, r: {"instancesSet": {}, "filterSet": {}} if r.random() < 0.5 else
       {"instancesSet": {"items": [{"instanceId": _own_or_any(a, r)}]}, "filterSet": {}})
    op(e, "DescribeInstanceStatus", True, lambda a, r: {"instancesSet": {}, "filterSet": {}, "includeAllInstances": r.random() < 0.5})
    op(e, "DescribeSecurityGroups", True, lambda a, r: {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}})
    op(e, "DescribeVolumes", True, lambda a, r: {"volumeSet": {}, "filterSet": {"items": [
        {"name": "attachment.instance-id", "valueSet": {"items": [{"value": _own_or_any(a, r)}]}}]}})
    op(e, "DescribeSubnets", True, lambda a, r: {"subnetSet": {}, "filterSet": {}})
    op(e, "DescribeVpcs", True, lambda a, r: {"vpcSet": {}, "filterSet": {}})
    op(e, "DescribeImages", True, lambda a, r: {
        "executableBySet": {}, "imagesSet": {"items": [{"imageId": a.inst.image_id if a.inst else f"ami-{_hexid(r)}"}]},
        "ownersSet": {}, "filterSet": {}})
    op(e, "DescribeRegions", True, lambda a, r: {"regionSet": {}})
    op(e, "DescribeTags", True, lambda a, r: {"filterSet": {"items": [{"name": "resource-id", "valueSet": {"items": [{"value": _own_or_any(a, r)}]}}]}})
    op(e, "DescribeSnapshots", True, lambda a, r: {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}, "sharedUsersSet": {}, "filterSet": {}})
    op(e, "DescribeNetworkInterfaces", True, lambda a, r: {"networkInterfaceIdSet": {}, "filterSet": {}})
    op(e, "DescribeAddresses", True, lambda a, r: {"publicIpsSet": {}, "allocationIdsSet": {}, "filterSet": {}})
    op(e, "DescribeLaunchTemplates", True, lambda a, r: {"DescribeLaunchTemplatesRequest": {"MaxResults": 200}})
    op(e, "DescribeAvailabilityZones", True, lambda a, r: {"availabilityZoneSet": {}, "availabilityZoneIdSet": {}})
    op(e, "DescribeAccountAttributes", True, lambda a, r: {"accountAttributeNameSet": {"items": [{"attributeName": "supported-platforms"}]}, "filterSet": {}})
    op(e, "CreateTags", False, special="write")
    op(e, "CreateSnapshot", False, special="write")
    op(e, "RunInstances", False, special="run")
    op(e, "TerminateInstances", False, special="terminate")

    i = "iam.amazonaws.com"
    users = lambda a: [u.name for u in a.acct.users] or ["ci-deploy"]  # noqa: E731
    op(i, "ListUsers", True)
    op(i, "ListRoles", True)
    op(i, "ListPolicies", True, lambda a, r: {"scope": "Local", "onlyAttached": False, "policyUsageFilter": "PermissionsPolicy"})
    op(i, "GetUser", True, lambda a, r: {"userName": _pick(users(a), r)})
    op(i, "GetRole", True, lambda a, r: {"roleName": _role_name(a)})
    op(i, "ListAttachedRolePolicies", True, lambda a, r: {"roleName": _role_name(a)})
    op(i, "ListAccessKeys", True, lambda a, r: {"userName": _pick(users(a), r)})
    op(i, "ListMFADevices", True, lambda a, r: {"userName": _pick(users(a), r)})
    op(i, "ListGroupsForUser", True, lambda a, r: {"userName": _pick(users(a), r)})
    op(i, "GetAccountSummary", True)
    op(i, "ListInstanceProfiles", True)

    s = "sts.amazonaws.com"
    op(s, "GetCallerIdentity", True)
    op(s, "AssumeRole", True, special="assume_user", variants=6)
    op(s, "AssumeRole", True, special="assume_ec2")

    s3 = "s3.amazonaws.com"
    op(s3, "ListBuckets", True, lambda a, r: {"Host": "s3.amazonaws.com"})
    op(s3, "GetBucketLocation", True, lambda a, r: _bucket_params(a, r, location=""))
    op(s3, "GetBucketEncryption", True, lambda a, r: _bucket_params(a, r, encryption=""))
    op(s3, "GetBucketVersioning", True, lambda a, r: _bucket_params(a, r, versioning=""))
    op(s3, "GetBucketTagging", True, lambda a, r: _bucket_params(a, r, tagging=""))

    m = "ssm.amazonaws.com"
    op(m, "UpdateInstanceInformation", False, lambda a, r: _ssm_info(a), variants=1, can_fail=False)
    op(m, "ListInstanceAssociations", True, lambda a, r: {"instanceId": _own_or_any(a, r), "maxResults": 20}, variants=1, can_fail=False)
    params = ("app/db_host", "app/feature_flags", "app/redis_url", "cloudwatch-agent/config")
    op(m, "GetParameter", True, lambda a, r: {"name": f"/{a.acct.env}/{_pick(params, r)}", "withDecryption": r.random() < 0.5})
    op(m, "GetParameters", True, lambda a, r: {"names": [f"/{a.acct.env}/app/db_user", f"/{a.acct.env}/app/db_password"], "withDecryption": True})
    op(m, "GetParametersByPath", True, lambda a, r: {"path": f"/{a.acct.env}/app/", "recursive": True, "withDecryption": True})
    op(m, "DescribeInstanceInformation", True, lambda a, r: {"maxResults": 50})

    k = "kms.amazonaws.com"
    kres = lambda a, r: [{"accountId": a.acct.account_id, "type": "AWS::KMS::Key", "ARN": a.acct.kms_key}]  # noqa: E731
    op(k, "Decrypt", True, lambda a, r: {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "encryptionContext": {"SecretARN": _secret_arn(a, r), "SecretVersionId": _uuid(_hexid(r, 32))}}, resources=kres)
    op(k, "GenerateDataKey", True, lambda a, r: {"keyId": f"alias/{a.acct.env}-app", "keySpec": "AES_256"}, resources=kres)
    op(k, "ListAliases", True)

    sm = "secretsmanager.amazonaws.com"
    op(sm, "GetSecretValue", True, lambda a, r: {"secretId": _secret_arn(a, r)})
    op(sm, "DescribeSecret", True, lambda a, r: {"secretId": _secret_arn(a, r)})
    op(sm, "ListSecrets", True, lambda a, r: {"maxResults": 100})

    lg = "logs.amazonaws.com"
    op(lg, "CreateLogStream", False, special="write")
    op(lg, "DescribeLogStreams", True, lambda a, r: {
        "logGroupName": f"/{a.acct.env}/{a.inst.kind if a.inst else 'api'}/app", "logStreamNamePrefix": _own_or_any(a, r)}, can_fail=False)
    op(lg, "DescribeLogGroups", True, lambda a, r: {"limit": 50})
    op(lg, "FilterLogEvents", True, lambda a, r: {
        "logGroupName": f"/{a.acct.env}/api/app", "filterPattern": _pick(("ERROR", "timeout", '"status=500"'), r),
        "startTime": 0, "interleaved": True})

    cw = "monitoring.amazonaws.com"
    op(cw, "DescribeAlarms", True, lambda a, r: {"maxRecords": 100})
    op(cw, "GetMetricData", True, lambda a, r: {"metricDataQueries": [{"id": "m1", "metricStat": {
        "metric": {"namespace": "AWS/EC2", "metricName": "CPUUtilization", "dimensions": [{"name": "InstanceId", "value": _own_or_any(a, r)}]},
        "period": 300, "stat": "Average"}}], "scanBy": "TimestampAscending"})
    op(cw, "ListMetrics", True, lambda a, r: {"namespace": _pick(("AWS/EC2", "AWS/ApplicationELB", "CWAgent", "AWS/RDS"), r)})

    ecr = "ecr.amazonaws.com"
    op(ecr, "GetAuthorizationToken", True, variants=1)
    op(ecr, "DescribeRepositories", True, lambda a, r: {"maxResults": 100})
    op(ecr, "DescribeImages", True, lambda a, r: {"repositoryName": _pick(("api", "web", "worker"), r), "maxResults": 100})
    op(ecr, "BatchCheckLayerAvailability", True, lambda a, r: {"repositoryName": _pick(("api", "web", "worker"), r), "layerDigests": [f"sha256:{_hexid(r, 64)}"]})

    ecs = "ecs.amazonaws.com"
    op(ecs, "DescribeServices", True, lambda a, r: {"cluster": f"{a.acct.env}-cluster", "services": [_pick(("api", "web", "worker"), r)]})
    op(ecs, "ListTasks", True, lambda a, r: {"cluster": f"{a.acct.env}-cluster"})
    op(ecs, "DescribeTaskDefinition", True, lambda a, r: {"taskDefinition": f"{a.acct.env}-{_pick(('api', 'web', 'worker'), r)}"})

    cf = "cloudformation.amazonaws.com"
    op(cf, "DescribeStacks", True, lambda a, r: {"stackName": f"{a.acct.env}-{_pick(('network', 'app', 'data', 'CDKToolkit'), r)}"})
    op(cf, "ListStacks", True, lambda a, r: {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]})
    op(cf, "DescribeStackEvents", True, lambda a, r: {"stackName": f"{a.acct.env}-app"})

    op("lambda.amazonaws.com", "ListFunctions20150331", True)
    op("lambda.amazonaws.com", "GetFunction20150331v2", True, lambda a, r: {"functionName": f"{a.acct.env}-{_pick(('thumbnailer', 'webhook-relay', 'nightly-report'), r)}"})
    op("dynamodb.amazonaws.com", "DescribeTable", True, lambda a, r: {"tableName": f"{a.acct.env}-{_pick(('sessions', 'orders', 'jobs'), r)}"})
    op("dynamodb.amazonaws.com", "ListTables", True)
    op("sqs.amazonaws.com", "GetQueueAttributes", True, lambda a, r: {
        "queueUrl": f"https://sqs.{a.region}.amazonaws.com/{a.acct.account_id}/{a.acct.env}-{_pick(('jobs', 'emails', 'events'), r)}",
        "attributeNames": ["ApproximateNumberOfMessages"]})
    op("autoscaling.amazonaws.com", "DescribeAutoScalingGroups", True, lambda a, r: {"maxRecords": 100})
    op("autoscaling.amazonaws.com", "DescribeAutoScalingInstances", True, lambda a, r: {"instanceIds": [_own_or_any(a, r)]})
    op("elasticloadbalancing.amazonaws.com", "DescribeLoadBalancers", True)
    op("elasticloadbalancing.amazonaws.com", "DescribeTargetHealth", True, lambda a, r: {
        "targetGroupArn": f"arn:aws:elasticloadbalancing:{a.region}:{a.acct.account_id}:targetgroup/{a.acct.env}-web/{_hexid(r, 16)}"})
    op("cloudtrail.amazonaws.com", "DescribeTrails", True, lambda a, r: {"includeShadowTrails": True})
    op("cloudtrail.amazonaws.com", "LookupEvents", True, lambda a, r: {"maxResults": 50})
    op("rds.amazonaws.com", "DescribeDBInstances", True)
    op("rds.amazonaws.com", "DescribeDBClusters", True)

    assert not {o.name for o in ops} & FORBIDDEN_EVENT_NAMES
    out: dict[str, _Op] = {}
    for o in ops:
        key = f"{o.svc}:{o.name}" + (f"#{o.special}" if o.special in ("assume_ec2",) else "")
        out[key] = o
    return out


def _secret_arn(a: _Actor, r: random.Random) -> str:
    name = _pick(("app/db", "app/stripe", "app/jwt-signing-key", "app/datadog-api-key"), r)
    return f"arn:aws:secretsmanager:{a.region}:{a.acct.account_id}:secret:{a.acct.env}/{name}-{''.join(r.choices(_ALNUM, k=6))}"


def _ssm_info(a: _Actor) -> dict:
    inst = a.inst
    assert inst is not None
    windows = inst.os == "windows"
    return {
        "instanceId": inst.instance_id, "agentVersion": "3.3.987.0", "agentStatus": "Active",
        "platformType": "Windows" if windows else "Linux",
        "platformName": {"ubuntu": "Ubuntu", "al2023": "Amazon Linux", "windows": "Microsoft Windows Server 2022 Datacenter"}[inst.os],
        "platformVersion": {"ubuntu": "22.04", "al2023": "2023", "windows": "10.0.20348"}[inst.os],
        "iPAddress": inst.private_ip, "computerName": inst.private_dns if not windows else "EC2AMAZ-" + inst.instance_id[2:9].upper(),
        "agentName": "amazon-ssm-agent", "availabilityZone": inst.az, "availabilityZoneId": f"{_region_short(a.region)}-az{2 + 'abcdef'.index(inst.az[-1])}",
    }


# Per actor style: (op key, weight).
_USER_OPS: dict[str, tuple[tuple[str, float], ...]] = {
    "cli": (
        ("ec2:DescribeInstances", 8), ("ec2:DescribeSecurityGroups", 2), ("ec2:DescribeVolumes", 1), ("ec2:DescribeSubnets", 1),
        ("ec2:DescribeVpcs", 1), ("ec2:DescribeImages", 1), ("ec2:DescribeInstanceStatus", 1), ("ec2:DescribeTags", 1),
        ("iam:GetUser", 1), ("iam:ListRoles", 1), ("iam:GetRole", 1), ("iam:ListAttachedRolePolicies", 0.5),
        ("sts:GetCallerIdentity", 3), ("s3:ListBuckets", 2), ("s3:GetBucketLocation", 1), ("logs:DescribeLogGroups", 1),
        ("logs:FilterLogEvents", 2), ("monitoring:DescribeAlarms", 1), ("monitoring:GetMetricData", 1),
        ("ssm:DescribeInstanceInformation", 1), ("ssm:GetParameter", 1), ("cloudformation:DescribeStacks", 1),
        ("lambda:ListFunctions20150331", 1), ("ecr:DescribeRepositories", 0.5), ("ecs:DescribeServices", 1),
        ("secretsmanager:ListSecrets", 0.3), ("dynamodb:ListTables", 0.5), ("rds:DescribeDBInstances", 0.5),
        ("ec2:CreateTags", 0.3), ("ec2:CreateSnapshot", 0.1), ("kms:ListAliases", 0.3), ("cloudtrail:LookupEvents", 0.2),
    ),
    "console": (
        ("ec2:DescribeInstances", 6), ("ec2:DescribeInstanceStatus", 3), ("ec2:DescribeSecurityGroups", 2), ("ec2:DescribeVolumes", 1),
        ("ec2:DescribeAvailabilityZones", 1), ("ec2:DescribeAccountAttributes", 1), ("ec2:DescribeAddresses", 0.5),
        ("ec2:DescribeSnapshots", 0.5), ("ec2:DescribeLaunchTemplates", 0.5), ("ec2:DescribeNetworkInterfaces", 0.5),
        ("iam:ListUsers", 1), ("iam:ListRoles", 1), ("iam:GetAccountSummary", 1), ("iam:ListPolicies", 0.5), ("iam:ListMFADevices", 0.5),
        ("iam:ListAccessKeys", 0.5), ("iam:ListGroupsForUser", 0.5), ("s3:ListBuckets", 2), ("s3:GetBucketLocation", 1),
        ("s3:GetBucketEncryption", 0.5), ("s3:GetBucketVersioning", 0.5), ("s3:GetBucketTagging", 0.5),
        ("monitoring:DescribeAlarms", 2), ("monitoring:GetMetricData", 3), ("logs:DescribeLogGroups", 1), ("logs:FilterLogEvents", 1),
        ("cloudformation:ListStacks", 1), ("cloudformation:DescribeStackEvents", 0.5), ("lambda:ListFunctions20150331", 1),
        ("elasticloadbalancing:DescribeLoadBalancers", 1), ("elasticloadbalancing:DescribeTargetHealth", 1),
        ("rds:DescribeDBClusters", 0.5), ("kms:ListAliases", 0.5), ("cloudtrail:DescribeTrails", 0.3), ("ec2:CreateTags", 0.2),
    ),
    "ci": (
        ("ecr:GetAuthorizationToken", 4), ("ecr:DescribeImages", 2), ("ecr:BatchCheckLayerAvailability", 3), ("ecr:DescribeRepositories", 1),
        ("ecs:DescribeServices", 3), ("ecs:DescribeTaskDefinition", 2), ("ecs:ListTasks", 1), ("sts:GetCallerIdentity", 2),
        ("sts:AssumeRole", 1), ("cloudformation:DescribeStacks", 2), ("cloudformation:DescribeStackEvents", 1),
        ("lambda:GetFunction20150331v2", 1), ("s3:GetBucketLocation", 1),
    ),
    "terraform": (
        ("ec2:DescribeInstances", 3), ("ec2:DescribeSecurityGroups", 3), ("ec2:DescribeSubnets", 2), ("ec2:DescribeVpcs", 2),
        ("ec2:DescribeImages", 1), ("ec2:DescribeTags", 1), ("ec2:DescribeVolumes", 1), ("ec2:DescribeLaunchTemplates", 1),
        ("ec2:DescribeAvailabilityZones", 1), ("ec2:DescribeNetworkInterfaces", 1), ("ec2:DescribeAccountAttributes", 0.5),
        ("iam:GetRole", 2), ("iam:ListAttachedRolePolicies", 2), ("iam:ListInstanceProfiles", 1), ("iam:ListPolicies", 0.5),
        ("s3:GetBucketEncryption", 1), ("s3:GetBucketVersioning", 1), ("s3:GetBucketTagging", 1), ("s3:GetBucketLocation", 1),
        ("sts:GetCallerIdentity", 2), ("sts:AssumeRole", 0.5), ("kms:ListAliases", 0.5), ("rds:DescribeDBClusters", 0.5),
        ("autoscaling:DescribeAutoScalingGroups", 1), ("elasticloadbalancing:DescribeLoadBalancers", 1),
        ("ec2:CreateTags", 0.3), ("ec2:RunInstances", 0.15), ("ec2:TerminateInstances", 0.1),
    ),
    "sdk": (
        ("monitoring:GetMetricData", 8), ("monitoring:ListMetrics", 2), ("monitoring:DescribeAlarms", 1), ("ec2:DescribeInstances", 2),
        ("ec2:DescribeTags", 1), ("ec2:DescribeRegions", 0.5), ("ec2:DescribeSnapshots", 1), ("ec2:DescribeVolumes", 1),
        ("ec2:CreateSnapshot", 0.3), ("rds:DescribeDBInstances", 0.5),
    ),
}
_SSO_OPS = _USER_OPS["console"]
_INSTANCE_BASE = (
    ("ssm:UpdateInstanceInformation", 10), ("ssm:ListInstanceAssociations", 4), ("logs:CreateLogStream", 0.5),
    ("logs:DescribeLogStreams", 1.5), ("ec2:DescribeTags", 1.5), ("sts:GetCallerIdentity", 0.5),
)
_INSTANCE_OPS: dict[str, tuple[tuple[str, float], ...]] = {
    "web": (("kms:Decrypt", 2), ("secretsmanager:GetSecretValue", 2), ("ssm:GetParameter", 2), ("ssm:GetParameters", 1)),
    "api": (("kms:Decrypt", 2), ("secretsmanager:GetSecretValue", 2), ("ssm:GetParametersByPath", 1), ("kms:GenerateDataKey", 1),
            ("dynamodb:DescribeTable", 1)),
    "worker": (("dynamodb:DescribeTable", 2), ("sqs:GetQueueAttributes", 3), ("kms:GenerateDataKey", 2), ("kms:Decrypt", 1),
               ("secretsmanager:GetSecretValue", 1)),
    "db": (("ec2:DescribeVolumes", 1), ("ec2:CreateSnapshot", 0.1), ("secretsmanager:GetSecretValue", 0.5)),
    "ci-runner": (("ecr:GetAuthorizationToken", 4), ("ecr:BatchCheckLayerAvailability", 2), ("ecr:DescribeRepositories", 1),
                  ("sts:GetCallerIdentity", 1), ("ec2:DescribeInstances", 0.5)),
    "bastion": (("ec2:DescribeInstances", 1), ("ssm:GetParameter", 0.5)),
    "win": (("ssm:GetParameter", 1), ("ec2:DescribeInstances", 0.5)),
}
_DATA_BUCKETS = {  # which account buckets (by index) each kind of actor reads and writes
    "web": (0, 1), "api": (0, 1, 4), "worker": (4, 1), "db": (2,), "ci-runner": (5, 0), "bastion": (1,), "win": (2,),
    "cli": (0, 1, 4), "console": (0, 1), "ci": (5, 0), "terraform": (3,), "sdk": (2,),
}
_KEY_SHAPES = (
    "static/js/app.{h8}.js", "app/{date}/{host}-{h8}.log.gz", "pg/{date}/base-{h8}.tar.zst", "env/{env}/terraform.tfstate",
    "events/dt={date}/part-{n5}-{uuid}.snappy.parquet", "assets/{h64}.zip",
)


class _CloudTrail:
    """Builds CloudTrail files; caches the invariant parts of records per actor and operation."""

    def __init__(self, est: _Estate) -> None:
        self.est = est
        self.spec = est.spec
        self.region = est.spec.region
        self.start = int(est.spec.start.timestamp())
        self.ops = _ops_catalogue()
        self.base_cache: dict[tuple[int, int, int, bool], dict] = {}
        self.assume_cache: dict[tuple[int, int], dict] = {}
        self.ident_cache: dict[tuple[int, int], dict] = {}
        self.keys_cache: dict[str, list[tuple[str, int]]] = {}
        self.ec2_keys: dict[tuple[int, int], str] = {}
        self.data_ops = {name: _Op(-1, "s3.amazonaws.com", name, name != "PutObject") for name in ("GetObject", "PutObject", "ListObjects")}
        r = random.Random(f"{self.spec.seed}:id2")
        self.id2_pool = [self._amz_id2(r) for _ in range(64)]
        self.actor_index: list[_Actor] = []
        self.actors: dict[int, list[_Actor]] = {}
        for acct in est.accounts:
            self.actors[acct.idx] = self._actors_for(acct)

    # -- actors -------------------------------------------------------------------------------

    def _actors_for(self, acct: _Account) -> list[_Actor]:
        actors: list[_Actor] = []

        def add(kind: str, table: tuple[tuple[str, float], ...], weight: float, bucket_len: int, **kw: Any) -> _Actor:
            ops = [self.ops[k] for k, _ in table]
            a = _Actor(key=len(self.actor_index), kind=kind, acct=acct, ops=ops, cum=list(accumulate(w for _, w in table)),
                       weight=weight, bucket_len=bucket_len, region=self.region, **kw)
            self.actor_index.append(a)
            actors.append(a)
            return a

        for inst in acct.instances:
            table = _INSTANCE_BASE + _INSTANCE_OPS[inst.kind] + (("sts:AssumeRole#assume_ec2", 0.3),)
            add("instance", table, 3.0, 21600, inst=inst, buckets=_DATA_BUCKETS[inst.kind])
        for user in acct.users:
            w = {"cli": 2.0, "console": 1.5, "ci": 3.0, "terraform": 2.5, "sdk": 2.0}[user.style]
            add("user", _USER_OPS[user.style], w, 43200, user=user, buckets=_DATA_BUCKETS[user.style])
        for person in _SSO_PEOPLE[acct.idx % 3:acct.idx % 3 + 2]:
            add("sso", _SSO_OPS, 1.2, 28800, person=f"{person}@example.com")
        add("autoscaling", (("ec2:RunInstances", 3), ("ec2:TerminateInstances", 2), ("ec2:DescribeInstances", 1)), 0.06, 3600)
        # data events come from instances and IAM users; scale their share so ~10% of all records are data events
        eligible = sum(a.weight for a in actors if a.buckets)
        total = sum(a.weight for a in actors)
        for a in actors:
            if a.buckets and eligible:
                a.data_p = min(0.9, 0.10 * total / eligible)
        return actors

    # -- identities ---------------------------------------------------------------------------

    def _ident(self, a: _Actor, bucket: int) -> dict:
        key = (a.key, bucket)
        got = self.ident_cache.get(key)
        if got is not None:
            return got
        r = random.Random(f"{self.spec.seed}:ident:{a.key}:{bucket}")
        acct = a.acct.account_id
        created = _iso(self.start + bucket * a.bucket_len - r.randint(60, 3000))
        if a.kind == "instance":
            inst = a.inst
            assert inst is not None
            ident = {
                "type": "AssumedRole",
                "principalId": f"{inst.role_id}:{inst.instance_id}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{inst.role_name}/{inst.instance_id}",
                "accountId": acct,
                "accessKeyId": self._ec2_key(a, bucket),
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
                     "accountId": acct, "accessKeyId": _pick(user.access_keys, r), "userName": user.name}
            if user.style == "console":
                ident["accessKeyId"] = _awsid(r, "ASIA", 16)
                ident["sessionContext"] = {"sessionIssuer": {}, "webIdFederationData": {},
                                           "attributes": {"creationDate": created, "mfaAuthenticated": "true"}}
        elif a.kind == "sso":
            role = f"AWSReservedSSO_AdministratorAccess_{a.acct.sso_suffix}"
            role_id = a.acct.sso_role_id
            ident = {
                "type": "AssumedRole", "principalId": f"{role_id}:{a.person}",
                "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{a.person}", "accountId": acct,
                "accessKeyId": _awsid(r, "ASIA", 16),
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
        self.ident_cache[key] = ident
        return ident

    def _ec2_key(self, a: _Actor, bucket: int) -> str:
        key = (a.key, bucket)
        if key not in self.ec2_keys:
            self.ec2_keys[key] = _awsid(random.Random(f"{self.spec.seed}:asia:{a.key}:{bucket}"), "ASIA", 16)
        return self.ec2_keys[key]

    # -- per-actor channel: source address, user agent, TLS ------------------------------------

    def _channel(self, a: _Actor, o: _Op, r: random.Random, data: bool = False) -> tuple[str, str, bool, bool]:
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
                return ip, _stable(_UA_BROWSERS, user.name), True, True
            if user.style == "cli":
                os_, arch, inst_ = _stable(_UA_CLI_HOSTS, user.name)
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
                return ip, _stable(_UA_BROWSERS, a.person), True, True
            return ip, _UA_CLI.format(os="macos#24.1.0", arch="arm64", inst="source", cmd=cmd), True, False
        return "autoscaling.amazonaws.com", "autoscaling.amazonaws.com", False, False

    def _sso_ip(self, a: _Actor) -> str:
        # a stable home address per SSO person, drawn from the residential pool
        return str(_stable(self.est.clients, f"{a.person}:{a.acct.idx}"))

    def _host(self, a: _Actor, o: _Op, params: Any) -> str:
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

    # -- record construction ------------------------------------------------------------------

    def _head(self, a: _Actor, o: _Op, ip: str, ua: str) -> dict:
        return {
            "eventVersion": "1.08", "userIdentity": None, "eventTime": "", "eventSource": o.source, "eventName": o.name,
            "awsRegion": "us-east-1" if o.svc == "iam" else self.region, "sourceIPAddress": ip, "userAgent": ua,
        }

    def _tail(self, rec: dict, a: _Actor, o: _Op, params: Any, tls: bool, console: bool, resources: Any = None) -> dict:
        """The fields after responseElements of a management event; IDs are filled in per record."""
        rec["requestID"] = ""
        rec["eventID"] = ""
        rec["readOnly"] = o.read_only
        if resources:
            rec["resources"] = resources
        rec["eventType"] = "AwsApiCall"
        rec["managementEvent"] = True
        rec["recipientAccountId"] = a.acct.account_id
        rec["eventCategory"] = "Management"
        if tls:
            rec["tlsDetails"] = {**_TLS, "clientProvidedHostHeader": self._host(a, o, params)}
        if console:
            rec["sessionCredentialFromConsole"] = "true"
        return rec

    def _base(self, a: _Actor, o: _Op, v: int, err: bool) -> dict:
        r = random.Random(f"{self.spec.seed}:base:{a.key}:{o.idx}:{v}")
        ip, ua, tls, console = self._channel(a, o, r)
        params = o.req(a, r) if o.req else None
        rec = self._head(a, o, ip, ua)
        if err:
            arn = self._ident(a, 0)["arn"]
            if o.svc == "ec2":
                rec["errorCode"] = "Client.UnauthorizedOperation"
                rec["errorMessage"] = (f"You are not authorized to perform this operation. User: {arn} is not authorized to perform: "
                                       f"ec2:{o.name} because no identity-based policy allows the ec2:{o.name} action")
            else:
                rec["errorCode"] = "AccessDenied"
                rec["errorMessage"] = (f"User: {arn} is not authorized to perform: {o.svc}:{o.name} on resource: "
                                       f"arn:aws:{o.svc}:{self.region}:{a.acct.account_id}:* because no identity-based policy "
                                       f"allows the {o.svc}:{o.name} action")
        rec["requestParameters"] = params
        rec["responseElements"] = None  # Describe/List/Get calls log no response
        resources = o.resources(a, r) if o.resources else None
        if o.svc == "s3" and isinstance(params, dict) and "bucketName" in params:
            rec["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                                          "AuthenticationMethod": "AuthHeader", "x-amz-id-2": self._amz_id2(r), "bytesTransferredOut": 0}
            resources = [{"accountId": a.acct.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{params['bucketName']}"}]
        return self._tail(rec, a, o, params, tls, console, resources=resources)

    @staticmethod
    def _amz_id2(r: random.Random) -> str:
        return base64.b64encode(r.randbytes(57)).decode()

    def _write_op(self, a: _Actor, o: _Op, r: random.Random, rid: str, t: int) -> dict:
        ip, ua, tls, console = self._channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        acct = a.acct.account_id
        if o.name == "CreateTags":
            target = _own_or_any(a, r)
            key, value = _pick((("Owner", "platform"), ("CostCenter", "cc-1042"), ("Backup", "daily"), ("Patch Group", a.acct.env)), r)
            params = {"resourcesSet": {"items": [{"resourceId": target}]}, "tagSet": {"items": [{"key": key, "value": value}]}}
            resp: Any = {"requestId": rid, "_return": True}
        elif o.name == "CreateSnapshot":
            vol = f"vol-{_hexid(r)}"
            params = {"volumeId": vol, "description": f"nightly backup {_iso(t)[:10]}"}
            resp = {"requestId": rid, "snapshotId": f"snap-{_hexid(r)}", "volumeId": vol, "status": "pending",
                    "startTime": (t + 1) * 1000, "progress": "", "ownerId": acct, "volumeSize": _pick((30, 50, 100, 500), r),
                    "description": params["description"], "encrypted": True}
        else:  # CreateLogStream
            inst = a.inst
            group = f"/{a.acct.env}/{inst.kind if inst else 'api'}/app"
            params = {"logGroupName": group, "logStreamName": f"{inst.instance_id if inst else 'api'}/{_iso(t)[:10]}"}
            resp = None
        rec["requestParameters"] = params
        rec["responseElements"] = resp
        return self._tail(rec, a, o, params, tls, console)

    def _run_instances(self, a: _Actor, o: _Op, r: random.Random, rid: str, t: int) -> dict:
        ip, ua, tls, console = self._channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        acct = a.acct
        tmpl = _pick(acct.instances, r) if acct.instances else None
        kind = tmpl.kind if tmpl else "worker"
        subnet_id, az, octet = _pick(acct.subnets, r)
        private_ip = f"10.0.{octet}.{r.randint(251, 254)}"  # never an inventory (.4-.199) or managed (.200-.249) address
        iid, eni = f"i-{_hexid(r)}", f"eni-{_hexid(r)}"
        sg_id, sg_name = (tmpl.sg_id, tmpl.sg_name) if tmpl else (f"sg-{_hexid(r)}", "default")
        image = tmpl.image_id if tmpl else f"ami-{_hexid(r)}"
        itype = tmpl.instance_type if tmpl else "c6i.xlarge"
        profile_arn = f"arn:aws:iam::{acct.account_id}:instance-profile/{acct.env}-{kind}-instance-profile"
        profile_id = tmpl.profile_id if tmpl else _awsid(r, "AIPA", 17)
        name = f"{acct.env}-{kind}-asg"
        launch_ms = t * 1000
        private_dns = f"ip-{private_ip.replace('.', '-')}.{self.est.internal_suffix}"
        groups = {"items": [{"groupId": sg_id, "groupName": sg_name}]}
        tags = {"items": [{"key": "Name", "value": name}, {"key": "aws:autoscaling:groupName", "value": name}]}
        rec["requestParameters"] = {
            "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
            "blockDeviceMapping": {}, "monitoring": {"enabled": False}, "disableApiTermination": False, "disableApiStop": False,
            "clientToken": _uuid(_hexid(r, 32)),
            "launchTemplate": {"launchTemplateId": f"lt-{_hexid(r)}", "version": str(r.randint(3, 40))},
            "networkInterfaceSet": {"items": [{"deviceIndex": 0, "subnetId": subnet_id, "groupSet": {"items": [{"groupId": sg_id}]}}]},
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": name}]}]},
        }
        rec["responseElements"] = {
            "requestId": rid, "reservationId": f"r-{_hexid(r)}", "ownerId": acct.account_id, "groupSet": {},
            "instancesSet": {"items": [{
                "instanceId": iid, "imageId": image, "currentInstanceBootMode": "legacy-bios",
                "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": private_dns, "amiLaunchIndex": 0,
                "productCodes": {}, "instanceType": itype, "launchTime": launch_ms,
                "placement": {"availabilityZone": az, "tenancy": "default"}, "monitoring": {"state": "disabled"},
                "subnetId": subnet_id, "vpcId": acct.vpc_id, "privateIpAddress": private_ip,
                "stateReason": {"code": "pending", "message": "pending"}, "architecture": "x86_64", "rootDeviceType": "ebs",
                "rootDeviceName": "/dev/sda1", "blockDeviceMapping": {}, "virtualizationType": "hvm", "hypervisor": "xen",
                "tagSet": tags, "groupSet": groups, "sourceDestCheck": True,
                "networkInterfaceSet": {"items": [{
                    "networkInterfaceId": eni, "subnetId": subnet_id, "vpcId": acct.vpc_id, "ownerId": acct.account_id,
                    "status": "in-use", "macAddress": "02:" + ":".join(f"{r.randint(0, 255):02x}" for _ in range(5)),
                    "privateIpAddress": private_ip, "privateDnsName": private_dns, "sourceDestCheck": True,
                    "interfaceType": "interface", "groupSet": groups,
                    "attachment": {"attachmentId": f"eni-attach-{_hexid(r)}", "deviceIndex": 0, "networkCardIndex": 0,
                                   "status": "attaching", "attachTime": launch_ms, "deleteOnTermination": True},
                    "privateIpAddressesSet": {"item": [{"privateIpAddress": private_ip, "privateDnsName": private_dns, "primary": True}]},
                    "ipv6AddressesSet": {}, "tagSet": {},
                }]},
                "iamInstanceProfile": {"arn": profile_arn, "id": profile_id},
                "ebsOptimized": False, "enaSupport": True, "cpuOptions": {"coreCount": 2, "threadsPerCore": 2},
                "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                "hibernationOptions": {"configured": False}, "enclaveOptions": {"enabled": False},
                "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"},
                "maintenanceOptions": {"autoRecovery": "default"},
                "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": False},
            }]},
            **({"requesterId": "940372691376"} if a.kind == "autoscaling" else {}),
        }
        return self._tail(rec, a, o, rec["requestParameters"], tls, console)

    def _terminate(self, a: _Actor, o: _Op, r: random.Random, rid: str) -> dict:
        ip, ua, tls, console = self._channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        iid = f"i-{_hexid(r)}"  # an autoscaled instance launched before the window, never one of the inventory's
        rec["requestParameters"] = {"instancesSet": {"items": [{"instanceId": iid}]}}
        rec["responseElements"] = {"requestId": rid, "instancesSet": {"items": [{
            "instanceId": iid, "currentState": {"code": 32, "name": "shutting-down"}, "previousState": {"code": 16, "name": "running"}}]}}
        return self._tail(rec, a, o, rec["requestParameters"], tls, console)

    def _assume_ec2(self, a: _Actor, bucket: int) -> dict:
        """The AssumeRole that EC2 makes to deliver an instance's role credentials (one per credential period)."""
        key = (a.key, bucket)
        got = self.assume_cache.get(key)
        if got is not None:
            return got
        inst = a.inst
        assert inst is not None
        r = random.Random(f"{self.spec.seed}:assume:{a.key}:{bucket}")
        acct = a.acct.account_id
        role_arn = f"arn:aws:iam::{acct}:role/{inst.role_name}"
        rec = {
            "eventVersion": "1.08", "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, "eventTime": "",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": self.region,
            "sourceIPAddress": "ec2.amazonaws.com", "userAgent": "ec2.amazonaws.com",
            "requestParameters": {"roleArn": role_arn, "roleSessionName": inst.instance_id},
            "responseElements": {"credentials": {"accessKeyId": self._ec2_key(a, bucket),
                                                 "sessionToken": base64.b64encode(r.randbytes(300)).decode(),
                                                 "expiration": _expiry(self.start + (bucket + 1) * a.bucket_len + 3600)}},
            "requestID": "", "eventID": "", "readOnly": True,
            "resources": [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role_arn}],
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": acct,
            "sharedEventID": _uuid(_hexid(r, 32)), "eventCategory": "Management",
        }
        self.assume_cache[key] = rec
        return rec

    def _assume_user(self, a: _Actor, o: _Op, v: int, err: bool) -> dict:
        key = (a.key, o.idx, v, err)
        got = self.base_cache.get(key)
        if got is not None:
            return got
        r = random.Random(f"{self.spec.seed}:assumeu:{a.key}:{v}")
        acct = a.acct.account_id
        role = f"{a.acct.env}-deploy-role"
        session = f"{a.user.name if a.user else 'session'}-{r.randint(10 ** 9, 10 ** 10 - 1)}"
        role_arn = f"arn:aws:iam::{acct}:role/{role}"
        ip, ua, tls, console = self._channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        if err:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = f"User: {self._ident(a, 0)['arn']} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        rec["requestParameters"] = {"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600}
        rec["responseElements"] = None if err else {
            "credentials": {"accessKeyId": _awsid(r, "ASIA", 16), "sessionToken": base64.b64encode(r.randbytes(300)).decode(),
                            "expiration": _expiry(self.start + r.randint(3600, 86400 * self.spec.days))},
            "assumedRoleUser": {"assumedRoleId": f"{a.acct.deploy_role_id}:{session}", "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}"},
        }
        out = self._tail(rec, a, o, None, tls, console, resources=[{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role_arn}])
        self.base_cache[key] = out
        return out

    def _object_keys(self, bucket: str, b_idx: int, env: str) -> list[tuple[str, int]]:
        got = self.keys_cache.get(bucket)
        if got is not None:
            return got
        r = random.Random(f"{self.spec.seed}:keys:{bucket}")
        shape = _KEY_SHAPES[b_idx]
        days = [_iso(self.start + d * 86400)[:10] for d in range(max(1, self.spec.days))]
        keys = []
        for _ in range(1 if b_idx == 3 else 300):
            k = shape.format(h8=_hexid(r, 8), date=_pick(days, r).replace("-", "/") if b_idx == 1 else _pick(days, r),
                             host=f"{env}-{_pick(('web', 'api', 'worker'), r)}-0{r.randint(1, 4)}", env=env,
                             n5=f"{r.randint(0, 199):05d}", uuid=_uuid(_hexid(r, 32)), h64=_hexid(r, 64))
            keys.append((k, int(r.lognormvariate(10, 1.5))))
        self.keys_cache[bucket] = keys
        return keys

    def _s3_data(self, a: _Actor, r: random.Random) -> dict:
        acct = a.acct
        b_idx = a.buckets[r.randrange(len(a.buckets))]
        bucket = acct.buckets[b_idx]
        key, size = _pick(self._object_keys(bucket, b_idx, acct.env), r)
        roll = r.random()
        name = "GetObject" if roll < 0.6 else ("PutObject" if roll < 0.85 else "ListObjects")
        if b_idx == 2 and name == "GetObject":
            name = "PutObject"  # backups are written, rarely read
        o = self.data_ops[name]
        ip, ua, _, _ = self._channel(a, o, r, data=True)
        host = f"{bucket}.s3.{self.region}.amazonaws.com"
        if name == "ListObjects":
            params: dict[str, Any] = {"list-type": "2", "bucketName": bucket, "encoding-type": "url", "max-keys": "1000",
                                      "prefix": key.rsplit("/", 1)[0] + "/", "Host": host}
            resources = [{"accountId": acct.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
            size_in, size_out = 0, 1800 + size % 40000
        else:
            params = {"bucketName": bucket, "Host": host, "key": key}
            if name == "GetObject":
                params["x-id"] = "GetObject"
            resources = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                         {"accountId": acct.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
            size_in, size_out = (size, 0) if name == "PutObject" else (0, size)
        return {
            "eventVersion": "1.08", "userIdentity": None, "eventTime": "", "eventSource": "s3.amazonaws.com", "eventName": name,
            "awsRegion": self.region, "sourceIPAddress": ip, "userAgent": f"[{ua}]", "requestParameters": params,
            "responseElements": {"x-amz-server-side-encryption": "AES256"} if name == "PutObject" else None,
            "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": size_in,
                                    "SSEApplied": "Default_SSE_S3", "AuthenticationMethod": "AuthHeader",
                                    "x-amz-id-2": _pick(self.id2_pool, r), "bytesTransferredOut": size_out},
            "requestID": "", "eventID": "", "readOnly": name != "PutObject", "resources": resources, "eventType": "AwsApiCall",
            "managementEvent": False, "recipientAccountId": acct.account_id, "eventCategory": "Data",
            "tlsDetails": {**_TLS, "clientProvidedHostHeader": host},
        }

    # -- files --------------------------------------------------------------------------------

    def file_bytes(self, j: int, acct: _Account, ws: int, n: int, force_run: bool = False) -> bytes:
        """One CloudTrail file of ``n`` records from ``acct`` in the window starting at ``ws``.

        ``force_run`` makes the first record an Auto Scaling RunInstances, so small estates have one.
        """
        seed = self.spec.seed
        rnd = random.Random(f"{seed}:ct:{j}")
        npr = np.random.default_rng([seed, 1, j])
        offs = np.sort(npr.integers(0, CT_WINDOW, n))
        # real deliveries are only roughly ordered: let each record drift a few places
        order = np.argsort(np.arange(n) + npr.random(n) * max(4.0, n * 0.02), kind="stable")
        offs_l = offs[order].tolist()
        ts = [_iso(ws + k) for k in range(CT_WINDOW)]
        actors = self.actors[acct.idx]
        picks = rnd.choices(range(len(actors)), cum_weights=list(accumulate(a.weight for a in actors)), k=n)
        u = npr.random((n, 4)).tolist()
        if force_run and n:
            picks[0] = next(k for k, a in enumerate(actors) if a.kind == "autoscaling")
            u[0] = [1.0, 0.0, 1.0, 0.0]  # not a data event, first op (RunInstances), no error
        hexes = rnd.randbytes(32 * n).hex()
        start = self.start
        base_cache = self.base_cache
        ident_cache = self.ident_cache
        recs: list[dict] = []
        for i in range(n):
            a = actors[picks[i]]
            u0, u1, u2, u3 = u[i]
            off = offs_l[i]
            t = ws + off
            bucket = (t - start) // a.bucket_len
            ident = ident_cache.get((a.key, bucket)) or self._ident(a, bucket)
            h = hexes[64 * i:64 * i + 64]
            eid = _uuid(h[:32])
            if u0 < a.data_p:
                rec = self._s3_data(a, rnd)
                rid = h[32:48].upper()
                sp = "data"
            else:
                o = a.ops[bisect_right(a.cum, u1 * a.cum[-1])]
                rid = h[32:48].upper() if o.svc == "s3" else _uuid(h[32:])
                sp = o.special
            if sp == "data":
                pass
            elif not sp:
                err = u2 < _ERROR_RATE and o.can_fail
                key = (a.key, o.idx, int(u3 * o.variants), err)
                base = base_cache.get(key)
                if base is None:
                    base = base_cache[key] = self._base(a, o, key[2], err)
                rec = base.copy()
            elif sp == "assume_ec2":
                rec = self._assume_ec2(a, bucket).copy()
                rec["eventTime"] = ts[off]
                rec["requestID"] = rid
                rec["eventID"] = eid
                recs.append(rec)
                continue
            elif sp == "assume_user":
                rec = self._assume_user(a, o, int(u3 * o.variants), u2 < _ERROR_RATE).copy()
            else:
                r = random.Random(f"{seed}:w:{j}:{i}")
                if sp == "run":
                    rec = self._run_instances(a, o, r, rid, t)
                elif sp == "terminate":
                    rec = self._terminate(a, o, r, rid)
                else:
                    rec = self._write_op(a, o, r, rid, t)
            rec["userIdentity"] = ident
            rec["eventTime"] = ts[off]
            rec["requestID"] = rid
            rec["eventID"] = eid
            if a.user is not None and rec["sourceIPAddress"] != "AWS Internal":
                rec["sourceIPAddress"] = a.user.ips[bucket % len(a.user.ips)]
            recs.append(rec)
        return orjson.dumps({"Records": recs})


# ---------------------------------------------------------------------------------------------
# DNS zone: answers per name, serialised query pieces, and the peers each instance talks to


@dataclass
class _Zone:
    pieces: list[str] = field(default_factory=list)
    piece_index: dict[tuple[str, str], int] = field(default_factory=dict)
    a_records: dict[str, list[str]] = field(default_factory=dict)
    v6: dict[str, list[str]] = field(default_factory=dict)

    def piece(self, name: str, qtype: str, rcode: str, answers: list[dict]) -> int:
        key = (name, qtype)
        got = self.piece_index.get(key)
        if got is not None:
            return got
        body = orjson.dumps({"query_name": name, "query_type": qtype, "query_class": "IN", "rcode": rcode, "answers": answers})
        # the line is head + timestamp + piece + srcaddr + srcport + tail; the piece closes the timestamp
        # string and opens the srcaddr one
        self.pieces.append('",' + body[1:-1].decode() + ',"srcaddr":"')
        self.piece_index[key] = len(self.pieces) - 1
        return len(self.pieces) - 1


def _v6(r: random.Random, prefix: str) -> str:
    if prefix.endswith("::"):
        return prefix + f"{r.randint(1, 0xfff):x}"
    missing = 8 - len(prefix.rstrip(":").split(":"))
    return prefix + ":".join(f"{r.randint(0, 0xffff):x}" for _ in range(missing))


def _managed_ip(acct: _Account, k: int) -> str:
    """Private address of the account's k-th managed endpoint (.200-.249; instances use .4-.199)."""
    return f"10.0.{acct.subnets[k % len(acct.subnets)][2]}.{200 + (k * 7 + acct.idx) % 50}"


def _answer(rdata: str, rtype: str) -> dict:
    return {"Rdata": rdata, "Type": rtype, "Class": "IN"}


def _rev(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."


class _Network:
    """Per-instance DNS query mixes and flow-peer templates, both built from one zone."""

    def __init__(self, est: _Estate) -> None:
        self.est = est
        spec = est.spec
        self.rnd = random.Random(f"{spec.seed}:network")
        self.zone = _Zone()
        self.region = spec.region
        self.queries: dict[int, list[tuple[int, float]]] = {}
        self.peers: dict[int, list[tuple[str, int, int, int, int, float]]] = {}  # ip, port, proto, pattern, profile, weight
        self._cdn_names = self._make_cdn_names()
        for inst in est.instances:
            self._build_instance(inst)

    def _make_cdn_names(self) -> list[tuple[str, str]]:
        r = self.rnd
        low = string.ascii_lowercase + string.digits
        names = [(f"d{''.join(r.choices(low, k=13))}.cloudfront.net.", "cloudfront") for _ in range(40)]
        names += [(f"{_hexid(r, 32)}.s3.amazonaws.com.", "s3") for _ in range(12)]
        names += [(f"a{_hexid(r, 31)}-{r.randint(10 ** 8, 10 ** 9 - 1)}.{self.region}.elb.amazonaws.com.", "ec2") for _ in range(8)]
        names += [(f"{''.join(r.choices(low, k=10))}.execute-api.{self.region}.amazonaws.com.", "aws") for _ in range(8)]
        names += [(f"e{r.randint(1000, 99999)}.a.akamaiedge.net.", "akamai") for _ in range(10)]
        names += [(f"{_hexid(r, 16)}.global.ssl.fastly.net.", "fastly") for _ in range(6)]
        return names

    def _resolve(self, name: str, group: str, cname: str = "") -> list[str]:
        if name not in self.zone.a_records:
            r = random.Random(f"{self.est.spec.seed}:dns:{name}")
            prefixes = _IP_GROUPS[group]
            n = r.randint(1, 4) if group in ("fastly", "cloudflare", "cloudfront", "akamai", "s3", "msft") else r.randint(1, 2)
            self.zone.a_records[name] = sorted({_ip(r, r.choice(prefixes)) for _ in range(n)})
            v6p = _V6_GROUPS.get(group)
            # most AWS endpoints are IPv4-only; S3 answers AAAA only on its dualstack names
            if v6p and (group != "s3" or "dualstack" in name) and (cname or r.random() < 0.6):
                self.zone.v6[name] = [_v6(r, v6p) for _ in range(min(2, n))]
        return self.zone.a_records[name]

    def _lookup_pieces(self, name: str, group: str, cname: str) -> tuple[int, int]:
        ips = self._resolve(name, group, cname)
        chain = [_answer(cname, "CNAME")] if cname else []
        a_piece = self.zone.piece(name, "A", "NOERROR", chain + [_answer(ip, "A") for ip in ips])
        aaaa = [_answer(ip, "AAAA") for ip in self.zone.v6.get(name, [])]
        aaaa_piece = self.zone.piece(name, "AAAA", "NOERROR", chain + aaaa)
        return a_piece, aaaa_piece

    def _build_instance(self, inst: _Instance) -> None:
        r = random.Random(f"{self.est.spec.seed}:inst-net:{inst.instance_id}")
        est = self.est
        reg = self.region
        q: list[tuple[int, float]] = []
        peers: list[tuple[str, int, int, int, int, float]] = []
        linux = inst.os != "windows"

        def add_domain(name: str, group: str, port: int, cname: str, w: float) -> None:
            name = name.format(r=reg)
            cname = cname.format(r=reg)
            w *= r.uniform(0.5, 2.0)
            a_p, aaaa_p = self._lookup_pieces(name, group, cname)
            q.append((a_p, w))
            if linux or r.random() < 0.3:
                q.append((aaaa_p, w * 0.45))
            if r.random() < 0.08:  # resolv.conf search-domain expansion before the real lookup
                bogus = f"{name}{est.internal_suffix}."
                q.append((self.zone.piece(bogus, "A", "NXDOMAIN", []), w * 0.1))
            ips = self.zone.a_records[name]
            if port:
                proto = 17 if port == 123 else 6
                profile = 2 if port == 123 else (1 if port == 80 else 0)
                for ip in ips:
                    peers.append((ip, port, proto, 0, profile, w / len(ips)))

        for section in _KIND_DNS[inst.kind]:
            if section == "cdn":
                for name, group in r.sample(self._cdn_names, k=min(12, len(self._cdn_names))):
                    add_domain(name, group, 443, "", r.uniform(0.05, 0.6))
                continue
            rows = _DOMAINS[section]
            keep = rows if section == "aws" else [row for row in rows if r.random() < 0.8] or list(rows[:1])
            for name, group, port, cname, w in keep:
                add_domain(name, group, port, cname, w)

        acct = inst.acct
        kind = inst.kind
        svc_hash = _hexid(random.Random(f"{self.est.spec.seed}:svc:{acct.account_id}"), 12)
        # the account's own registry and ECR layer bucket: public AWS addresses
        aws_names = (
            (f"{acct.account_id}.dkr.ecr.{reg}.amazonaws.com.", "aws", 2.0 if kind in ("ci-runner", "api", "worker", "web") else 0.0),
            (f"prod-{reg}-starport-layer-bucket.s3.{reg}.amazonaws.com.", "s3", 1.0 if kind == "ci-runner" else 0.0),
        )
        for name, group, w in aws_names:
            if w:
                add_domain(name, group, 443, "", w)
        # managed services inside the VPC (RDS, ElastiCache, internal ALB) resolve to private addresses
        managed = (
            (f"{acct.env}-db.cluster-{svc_hash}.{reg}.rds.amazonaws.com.", 0, 5432, 3.0 if kind in ("api", "worker", "web") else 0.0),
            (f"{acct.env}-db.cluster-ro-{svc_hash}.{reg}.rds.amazonaws.com.", 1, 5432, 1.0 if kind in ("api", "web") else 0.0),
            (f"{acct.env}-redis.{svc_hash[:6]}.ng.0001.{_region_short(reg)}.cache.amazonaws.com.", 2, 6379, 2.0 if kind in ("api", "web") else 0.0),
            (f"internal-{acct.env}-api-{int(svc_hash[:7], 16) % 10 ** 9}.{reg}.elb.amazonaws.com.", 3, 443, 2.0 if kind == "web" else 0.0),
        )
        for name, k, port, w in managed:
            if not w:
                continue
            ip = _managed_ip(acct, k)
            q.append((self.zone.piece(name, "A", "NOERROR", [_answer(ip, "A")]), w))
            q.append((self.zone.piece(name, "AAAA", "NOERROR", []), w * 0.4))
            peers.append((ip, port, 6, 0, 4, w * 3))

        # instance-to-instance traffic inside the account
        others = [o for o in acct.instances if o is not inst]
        if inst.kind == "web":
            for o in [o for o in others if o.kind == "api"][:3]:
                q.append((self.zone.piece(o.private_dns + ".", "A", "NOERROR", [_answer(o.private_ip, "A")]), 0.5))
                peers.append((o.private_ip, 8080, 6, 0, 4, 2.0))
        if inst.kind == "db":
            for o in [o for o in others if o.kind in ("api", "worker")][:4]:
                peers.append((o.private_ip, 5432, 6, 1, 4, 2.0))
        if inst.kind == "api":
            for o in [o for o in others if o.kind == "web"][:3]:
                peers.append((o.private_ip, 8080, 6, 1, 4, 2.0))

        # reverse lookups: a peer or two, and the instance's own name (cloud-init, sshd, ...)
        q.append((self.zone.piece(_rev(inst.private_ip), "PTR", "NOERROR", [_answer(inst.private_dns + ".", "PTR")]), 0.3))
        for ip, *_ in r.sample(peers, k=min(3, len(peers))):
            if ip.startswith("10."):
                continue
            if ip.startswith(_IP_GROUPS["ec2"]):
                ptr = f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com." if reg == "us-east-1" else f"ec2-{ip.replace('.', '-')}.{reg}.compute.amazonaws.com."
                q.append((self.zone.piece(_rev(ip), "PTR", "NOERROR", [_answer(ptr, "PTR")]), 0.05))
            else:
                q.append((self.zone.piece(_rev(ip), "PTR", "NXDOMAIN", []), 0.05))

        # a little background noise every Linux/Windows host makes
        noise = [f"instance-data.{est.internal_suffix}.", "metadata.google.internal.", f"wpad.{est.internal_suffix}.",
                 f"localhost.{est.internal_suffix}."] if linux else [f"wpad.{est.internal_suffix}.", f"isatap.{est.internal_suffix}.", "wpad."]
        for name in noise:
            q.append((self.zone.piece(name, "A", "NXDOMAIN", []), 0.15))
        if linux:
            q.append((self.zone.piece("__cloud_init_expected_not_found__.", "AAAA", "NXDOMAIN", []), 0.01))
        if r.random() < 0.25:
            q.append((self.zone.piece(f"{acct.env}-api.acme-{acct.env}.internal.", "A", "SERVFAIL", []), 0.02))

        # public resolvers for hosts that run their own DNS (CI containers) - visible in flow logs only
        if inst.kind == "ci-runner":
            peers.append(("8.8.8.8", 53, 17, 0, 3, 3.0))
            peers.append(("1.1.1.1", 53, 17, 0, 3, 1.5))
        # inbound: load-balanced web traffic, admins on the bastion, and internet scanners (rejected)
        if inst.kind == "web":
            peers.append(("", 443, 6, 1, 6, 15.0))
            peers.append(("", 80, 6, 1, 6, 2.0))
        if inst.kind == "bastion":
            for user in acct.users:
                if user.style in ("cli", "console", "terraform"):
                    for ip in user.ips:
                        peers.append((ip, 22, 6, 1, 4, 0.5))
        scan_w = 6.0 if linux else 4.0
        peers.append(("", 22, 6, 2, 5, scan_w))
        peers.append(("", 3389, 6, 2, 5, scan_w * (0.4 if linux else 1.5)))
        peers.append(("", 23, 6, 2, 5, scan_w * 0.1))
        peers.append(("", 445, 6, 2, 5, scan_w * 0.1))
        self.queries[inst.idx] = q
        self.peers[inst.idx] = peers


# ---------------------------------------------------------------------------------------------
# VPC flow logs

# Traffic profiles: initiator packets ~ lognormal(mu, sigma); bytes per packet each way; responder
# packet ratio.
_PROFILES = np.array([
    # mu,   sigma, req_lo, req_hi, resp_lo, resp_hi, ratio_lo, ratio_hi
    [2.3, 0.8, 80, 400, 150, 1200, 0.8, 1.6],     # 0 HTTPS API call
    [3.7, 1.0, 52, 120, 1200, 1448, 1.5, 2.5],    # 1 package download
    [0.0, 0.0, 76, 76, 76, 76, 1.0, 1.0],         # 2 NTP
    [0.2, 0.4, 60, 90, 90, 300, 1.0, 1.0],        # 3 DNS
    [3.4, 1.0, 100, 600, 200, 1400, 0.8, 1.5],    # 4 internal service
    [0.3, 0.4, 40, 60, 40, 60, 1.0, 1.0],         # 5 rejected probe
    [2.5, 0.9, 100, 600, 500, 1400, 1.0, 2.0],    # 6 web client
])


@dataclass
class _FlowGroup:
    inst: np.ndarray  # global instance index per template
    peer: np.ndarray  # object: fixed peer address, "" when drawn from a pool
    pool: np.ndarray  # -1 fixed, 0 scanners, 1 clients
    port: np.ndarray
    proto: np.ndarray
    pattern: np.ndarray  # 0 outbound, 1 inbound accepted, 2 inbound rejected
    profile: np.ndarray
    public: np.ndarray
    p: np.ndarray
    rejects: np.ndarray  # template indices of rejected probes
    members: list[int]


class _Flows:
    def __init__(self, est: _Estate, net: _Network) -> None:
        self.est = est
        self.net = net
        self.groups: dict[tuple[int, int], _FlowGroup] = {}
        insts = est.instances
        self.ip = np.array([i.private_ip for i in insts], dtype=object)
        self.windows = np.array([i.os == "windows" for i in insts])
        self.prefix2 = np.array([f"2 {i.acct.account_id} {i.eni} " for i in insts], dtype=object)
        self.prefix5 = np.array([f"5 {i.acct.vpc_id} {i.subnet_id} {i.instance_id} {i.eni} {i.acct.account_id} " for i in insts], dtype=object)

    def group(self, acct: _Account, fmt: int) -> _FlowGroup:
        """Templates of one flow log: the v2 log covers half the account's instances, the v5 log the other half."""
        key = (acct.idx, fmt)
        if key in self.groups:
            return self.groups[key]
        members = [i.idx for k, i in enumerate(acct.instances) if (k % 2 == 0) == (fmt == 2)] or [i.idx for i in acct.instances]
        rows = [(idx, *t) for idx in members for t in self.net.peers[idx]]
        inst, peer, port, proto, pattern, profile, w = zip(*rows)
        peer_a = np.array(peer, dtype=object)
        pool = np.where(peer_a == "", np.where(np.array(pattern) == 2, 0, 1), -1)
        public = np.array([not (p.startswith("10.") or p == "") for p in peer]) | (pool >= 0)
        w_a = np.array(w, dtype=float)
        g = _FlowGroup(inst=np.array(inst), peer=peer_a, pool=pool, port=np.array(port), proto=np.array(proto),
                       pattern=np.array(pattern), profile=np.array(profile), public=public, p=w_a / w_a.sum(),
                       rejects=np.flatnonzero(np.array(pattern) == 2), members=members)
        self.groups[key] = g
        return g

    def file_text(self, j: int, acct: _Account, fmt: int, ws: int, n: int) -> str:
        est = self.est
        npr = np.random.default_rng([est.spec.seed, 2, j])
        g = self.group(acct, fmt)
        n_nodata = int(round(n * 0.01))
        r = n - n_nodata
        idx = npr.choice(len(g.p), size=max(r, 1), p=g.p)
        lines_per = np.where(g.pattern[idx] == 2, 1, 2)
        cs = np.cumsum(lines_per)
        k = int(np.searchsorted(cs, r, side="right"))
        idx = idx[:k]
        if (int(cs[k - 1]) if k else 0) < r:
            idx = np.append(idx, g.rejects[npr.integers(0, len(g.rejects))])
        k = len(idx)

        inst = g.inst[idx]
        peer = g.peer[idx].copy()
        pool = g.pool[idx]
        for pool_id, addrs in ((0, est.scanners), (1, est.clients)):
            m = pool == pool_id
            if m.any():
                peer[m] = addrs[npr.integers(0, len(addrs), int(m.sum()))]
        pattern = g.pattern[idx]
        port = g.port[idx]
        proto = g.proto[idx]
        ip = self.ip[inst]
        eph = np.where(self.windows[inst], npr.integers(49152, 65536, k), npr.integers(32768, 61000, k))
        eph = np.where(pattern == 0, eph, npr.integers(1024, 65536, k))
        st = ws + npr.integers(0, FLOW_WINDOW - 30, k)
        en = np.minimum(st + npr.integers(0, 60, k), ws + FLOW_WINDOW - 1)

        prof = _PROFILES[g.profile[idx]]
        pk1 = np.maximum(1, np.rint(np.exp(prof[:, 0] + prof[:, 1] * npr.standard_normal(k)))).astype(np.int64)
        by1 = (pk1 * npr.uniform(prof[:, 2], prof[:, 3])).astype(np.int64)
        pk2 = np.maximum(1, np.rint(pk1 * npr.uniform(prof[:, 6], prof[:, 7]))).astype(np.int64)
        by2 = (pk2 * npr.uniform(prof[:, 4], prof[:, 5])).astype(np.int64)

        out = pattern == 0
        two = pattern != 2
        tcp = proto == 6
        src_a = np.where(out, ip, peer)
        dst_a = np.where(out, peer, ip)
        # line A is the initiator's packets, line B the responder's (absent for rejected probes)
        src = np.concatenate([src_a, dst_a[two]])
        dst = np.concatenate([dst_a, src_a[two]])
        sp = np.concatenate([eph, port[two]])
        dp = np.concatenate([port, eph[two]])
        pr = np.concatenate([proto, proto[two]])
        pk = np.concatenate([pk1, pk2[two]])
        by = np.concatenate([by1, by2[two]])
        st_l = np.concatenate([st, st[two]])
        en_l = np.concatenate([en, en[two]])
        who = np.concatenate([inst, inst[two]])
        action = np.where(np.concatenate([pattern, pattern[two]]) == 2, "REJECT", "ACCEPT").astype(object)

        nd_inst = np.array(g.members)[npr.integers(0, len(g.members), n_nodata)]
        nd_st = ws + npr.integers(0, FLOW_WINDOW - 60, n_nodata)
        nd_en = nd_st + npr.integers(30, 60, n_nodata)

        if fmt == 2:
            pre = self.prefix2[who]
            data = [f"{p}{s} {d} {a} {b} {c} {e} {f} {t0} {t1} {x} OK" for p, s, d, a, b, c, e, f, t0, t1, x in zip(
                pre.tolist(), src.tolist(), dst.tolist(), sp.tolist(), dp.tolist(), pr.tolist(), pk.tolist(), by.tolist(),
                st_l.tolist(), en_l.tolist(), action.tolist())]
            nodata = [f"{p}- - - - - - - {t0} {t1} - NODATA" for p, t0, t1 in zip(self.prefix2[nd_inst].tolist(), nd_st.tolist(), nd_en.tolist())]
        else:
            egress_a = out
            direction = np.concatenate([np.where(egress_a, "egress", "ingress"), np.where(egress_a[two], "ingress", "egress")]).astype(object)
            pub = g.public[idx]
            path_a = np.where(egress_a, np.where(pub, "8", "1"), "-")
            path_b = np.where(egress_a[two], "-", np.where(pub[two], "8", "1"))
            path = np.concatenate([path_a, path_b]).astype(object)
            flags_a = np.where(tcp, np.where(pattern == 2, 2, 3), 0)
            flags_b = np.where(tcp[two], 19, 0)
            flags = np.concatenate([flags_a, flags_b])
            pre = self.prefix5[who]
            data = [f"{p}IPv4 {s} {d} {a} {b} {s} {d} {c} {f} {e} {t0} {t1} {x} {fl} OK {dr} {pa}" for p, s, d, a, b, c, e, f, t0, t1, x, fl, dr, pa in zip(
                pre.tolist(), src.tolist(), dst.tolist(), sp.tolist(), dp.tolist(), pr.tolist(), pk.tolist(), by.tolist(),
                st_l.tolist(), en_l.tolist(), action.tolist(), flags.tolist(), direction.tolist(), path.tolist())]
            nodata = [f"{p}- - - - - - - - - - {t0} {t1} - - NODATA - -" for p, t0, t1 in zip(self.prefix5[nd_inst].tolist(), nd_st.tolist(), nd_en.tolist())]

        lines = data + nodata
        order = np.argsort(np.concatenate([st_l, nd_st]), kind="stable").tolist()
        header = FLOW_HEADER_V2 if fmt == 2 else FLOW_HEADER_V5
        return header + "\n" + "\n".join([lines[i] for i in order]) + "\n"


# ---------------------------------------------------------------------------------------------
# Route 53 Resolver query logs


class _Dns:
    def __init__(self, est: _Estate, net: _Network) -> None:
        self.est = est
        self.net = net
        self.pieces = np.array(net.zone.pieces, dtype=object)
        self.by_acct: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def _account_tables(self, acct: _Account) -> tuple[np.ndarray, ...]:
        got = self.by_acct.get(acct.idx)
        if got is not None:
            return got
        insts = acct.instances
        rows = [(k, piece, w) for k, inst in enumerate(insts) for piece, w in self.net.queries[inst.idx]]
        who, piece, w = (np.array(c) for c in zip(*rows))
        w = w.astype(float)
        mids = np.array([f'{i.private_ip}","srcport":"' for i in insts], dtype=object)
        udp = np.array([f'","transport":"UDP","srcids":{{"instance":"{i.instance_id}"}}}}' for i in insts], dtype=object)
        tcp = np.array([f'","transport":"TCP","srcids":{{"instance":"{i.instance_id}"}}}}' for i in insts], dtype=object)
        windows = np.array([i.os == "windows" for i in insts])
        got = (who, piece, w / w.sum(), mids, udp, tcp, windows)
        self.by_acct[acct.idx] = got
        return got

    def file_text(self, j: int, acct: _Account, ws: int, n: int) -> str:
        spec = self.est.spec
        npr = np.random.default_rng([spec.seed, 3, j])
        who, piece, p, mids, udp, tcp, windows = self._account_tables(acct)
        pick = npr.choice(len(p), size=n, p=p)
        secs = np.sort(npr.integers(0, DNS_WINDOW, n)).tolist()
        inst = who[pick]
        ports = np.where(windows[inst], npr.integers(49152, 65536, n), npr.integers(32768, 61000, n)).tolist()
        tails = np.where(npr.random(n) < 0.02, tcp[inst], udp[inst]).tolist()
        head = ('{"version":"1.100000","account_id":"' + acct.account_id + '","region":"' + spec.region + '","vpc_id":"'
                + acct.vpc_id + '","query_timestamp":"')
        ts = [head + _iso(ws + s) for s in range(DNS_WINDOW)]
        lines = [f"{ts[s]}{q}{m}{pt}{tl}" for s, q, m, pt, tl in zip(
            secs, self.pieces[piece[pick]].tolist(), mids[inst].tolist(), ports, tails)]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# the estate on disk


def _stream_slots(n_files: int, n_streams: int, slots: int) -> list[int]:
    """Delivery slot of each file when file j belongs to stream j % n_streams."""
    per = [len(range(s, n_files, n_streams)) for s in range(n_streams)]
    spread = [_spread(c, slots) for c in per]
    return [spread[j % n_streams][j // n_streams] for j in range(n_files)]


def write_estate(root: Path, spec: EstateSpec) -> EstateFiles:
    """Write the estate's logs under ``root/AWSLogs/...`` and its inventory under ``root/inventory``."""
    root = Path(root)
    est = _build_estate(spec)
    start = int(spec.start.timestamp())
    span_end = start + spec.days * 86400
    region = spec.region

    inventory = root / "inventory" / "describe-instances.json"
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_bytes(orjson.dumps(_inventory(est), option=orjson.OPT_INDENT_2) + b"\n")

    made_dirs: set[Path] = set()

    def put(path: Path, data: bytes) -> None:
        if path.parent not in made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(path.parent)
        path.write_bytes(_gzip(data))

    def name_time(ws: int, window: int) -> int:
        # files are named for their delivery time (window end), kept inside the estate's days
        return min(ws + window, span_end - 60)

    raw = {"cloudtrail": 0, "flow": 0, "dns": 0}

    # CloudTrail
    ct_paths: list[Path] = []
    n_ct = spec.cloudtrail_events
    accounts = est.accounts
    if n_ct > 0:
        n_files = max(min(n_ct, len(accounts)), math.ceil(n_ct / max(1, spec.events_per_file)))
        sizes = _file_sizes(n_ct, n_files)
        slots = _stream_slots(n_files, len(accounts), spec.days * 86400 // CT_WINDOW)
        ct = _CloudTrail(est)
        for j in range(n_files):
            acct = accounts[j % len(accounts)]
            ws = start + slots[j] * CT_WINDOW
            data = ct.file_bytes(j, acct, ws, sizes[j], force_run=(j == 0 and sizes[j] >= 50))
            raw["cloudtrail"] += len(data)
            t = name_time(ws, CT_WINDOW)
            suffix = "".join(random.Random(f"{spec.seed}:ctname:{j}").choices(_ALNUM, k=16))
            path = (root / "AWSLogs" / acct.account_id / "CloudTrail" / region / _day_dir(t)
                    / f"{acct.account_id}_CloudTrail_{region}_{_stamp(t)}_{suffix}.json.gz")
            put(path, data)
            ct_paths.append(path)

    with_instances = [a for a in accounts if a.instances]
    net = _Network(est) if with_instances and (spec.flow_lines > 0 or spec.dns_lines > 0) else None

    # VPC flow logs: file j is format v2 when j is even, v5 when odd; accounts take turns
    flow_paths: list[Path] = []
    n_fl = spec.flow_lines if net else 0
    if n_fl > 0:
        n_files = max(min(n_fl, 2 * len(with_instances)), math.ceil(n_fl / LINES_PER_FILE))
        sizes = _file_sizes(n_fl, n_files)
        n_streams = 2 * len(with_instances)
        slots = _stream_slots(n_files, n_streams, spec.days * 86400 // FLOW_WINDOW)
        flows = _Flows(est, net)  # type: ignore[arg-type]
        for j in range(n_files):
            fmt = 2 if j % 2 == 0 else 5
            acct = with_instances[(j // 2) % len(with_instances)]
            ws = start + slots[j] * FLOW_WINDOW
            data = flows.file_text(j, acct, fmt, ws, sizes[j]).encode()
            raw["flow"] += len(data)
            t = name_time(ws, FLOW_WINDOW)
            suffix = _hexid(random.Random(f"{spec.seed}:flname:{j}"), 8)
            fl_id = acct.flow_log_ids[fmt]
            path = (root / "AWSLogs" / acct.account_id / "vpcflowlogs" / region / _day_dir(t)
                    / f"{acct.account_id}_vpcflowlogs_{region}_{fl_id}_{_stamp(t)}_{suffix}.log.gz")
            put(path, data)
            flow_paths.append(path)

    # Route 53 Resolver query logs
    dns_paths: list[Path] = []
    n_dns = spec.dns_lines if net else 0
    if n_dns > 0:
        n_files = max(min(n_dns, len(with_instances)), math.ceil(n_dns / LINES_PER_FILE))
        sizes = _file_sizes(n_dns, n_files)
        slots = _stream_slots(n_files, len(with_instances), spec.days * 86400 // DNS_WINDOW)
        dns = _Dns(est, net)  # type: ignore[arg-type]
        for j in range(n_files):
            acct = with_instances[j % len(with_instances)]
            ws = start + slots[j] * DNS_WINDOW
            data = dns.file_text(j, acct, ws, sizes[j]).encode()
            raw["dns"] += len(data)
            t = name_time(ws, DNS_WINDOW)
            suffix = _hexid(random.Random(f"{spec.seed}:dnsname:{j}"), 8)
            path = (root / "AWSLogs" / acct.account_id / "vpcdnsquerylogs" / acct.vpc_id / _day_dir(t)
                    / f"{acct.account_id}_vpcdnsquerylogs_{acct.vpc_id}_{_stamp(t)}_{suffix}.log.gz")
            put(path, data)
            dns_paths.append(path)

    return EstateFiles(
        root=root, cloudtrail=ct_paths, flow=flow_paths, dns=dns_paths, inventory=inventory,
        cloudtrail_events=n_ct if ct_paths else 0, flow_lines=n_fl if flow_paths else 0, dns_lines=n_dns if dns_paths else 0,
        raw_bytes=raw,
    )

