"""Enrichment never touches the network: geo/ASN tables, an operator MMDB, AWS ranges, the PSL,
importing the pipeline and scanning a CloudTrail file.

The work runs in a fresh interpreter (so every import happens under the spy) whose socket entry
points — ``socket.connect``/``connect_ex``/``sendto``/``sendmsg``, ``create_connection``,
``getaddrinfo``, ``gethostbyname`` — record the attempt and raise. A positive control proves the
spy sees what ``requests`` (tldextract's fetcher) would do. The same script then runs in a new
network namespace (``unshare -n``: no interfaces but a down loopback) and must give the same answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from conftest import write_cloudtrail

SCRIPT = r"""
import json, socket, sys

attempts = []

def _spy(kind):
    def blocked(*args, **kwargs):
        attempts.append([kind, repr(args)[:200]])
        raise OSError(f"network disabled by test: {kind}")
    return blocked

for name in ("connect", "connect_ex", "sendto", "sendmsg"):
    setattr(socket.socket, name, _spy("socket." + name))
for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
    setattr(socket, name, _spy(name))

ct_file, ranges_file, mmdb_file = sys.argv[1:4]
out = {}

import trailhound.pipeline  # the whole pipeline's imports
from trailhound.config import ScanSettings
from trailhound.enrich import aws_ranges, domains, geo
from trailhound.pipeline import Scanner
from trailhound.store.database import Store

provider = geo.default_provider()
out["geo"] = provider.remote_ip_details("8.8.8.8")
out["geo6"] = provider.lookup("2a02:6b8::1").asn
out["private"] = provider.remote_ip_details("10.1.2.3")
chain = geo.open_provider([mmdb_file])
out["mmdb"] = chain.remote_ip_details("81.2.69.142")
out["default_aws"] = aws_ranges.default_ranges() is None
ranges = aws_ranges.load_ranges(ranges_file)
hit = ranges.lookup("3.5.140.2")
out["aws"] = [hit.region, list(hit.services)]
out["psl"] = [domains.registrable_domain("a.b.Example.CO.UK."), domains.domain_with_suffix("x.s3.amazonaws.com"),
              domains.registrable_domain("x.github.io", private=True)]
report = Scanner(Store(":memory:"), ScanSettings()).scan([ct_file])
out["events"] = report.events_total
out["findings"] = report.findings_new
before = len(attempts)

# positive control: the spy sees a library-level HTTP attempt (loopback only)
import requests
try:
    requests.get("http://127.0.0.1:9/", timeout=1)
except Exception:
    pass
out["control_attempts"] = len(attempts) - before
print(json.dumps({"attempts": attempts[:before], "out": out}))
"""

EXPECTED = {
    "geo": {"ipAddressV4": "8.8.8.8", "country": {"countryCode": "US", "countryName": "United States"}},
    "geo6": 13238,
    "private": {"ipAddressV4": "10.1.2.3"},
    "mmdb": {
        "ipAddressV4": "81.2.69.142",
        "country": {"countryCode": "GB", "countryName": "United Kingdom"},
        "city": {"cityName": "London"},
        "geoLocation": {"lat": 51.5142, "lon": -0.0931},
    },
    "default_aws": True,
    "aws": ["ap-northeast-2", ["AMAZON", "EC2", "S3"]],
    "psl": ["example.co.uk", "amazonaws.com", "x.github.io"],
    "events": 2,
    "findings": 1,
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, shared_data) -> list[str]:
    tmp = tmp_path_factory.mktemp("offline")
    ident = {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333",
             "userName": "alice", "principalId": "AIDAEXAMPLE", "accessKeyId": "AKIAEXAMPLE"}
    base = {"eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z", "awsRegion": "us-east-1",
            "sourceIPAddress": "8.8.8.8", "userAgent": "aws-cli/2.15.0", "userIdentity": ident,
            "recipientAccountId": "111122223333", "eventType": "AwsApiCall", "managementEvent": True,
            "eventCategory": "Management"}
    ct = write_cloudtrail(tmp / "AWSLogs" / "trail.json.gz", [
        dict(base, eventID="e1", eventSource="cloudtrail.amazonaws.com", eventName="StopLogging",
             requestParameters={"name": "main"}),
        dict(base, eventID="e2", eventTime="2026-01-01T00:01:00Z", eventSource="s3.amazonaws.com", eventName="ListBuckets"),
    ])
    w = MMDBWriter(ip_version=6, database_type="GeoLite2-City", languages=["en"], ipv4_compatible=True)
    w.insert_network(IPSet(["81.2.69.0/24"]), {
        "city": {"names": {"en": "London"}}, "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "location": {"latitude": 51.5142, "longitude": -0.0931}})
    w.to_db_file(str(tmp / "City.mmdb"))
    return [str(ct), str(shared_data / "aws-ip-ranges" / "ip-ranges_2026-08-22.json.gz"), str(tmp / "City.mmdb")]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TLDEXTRACT", "TRAILHOUND_"))}
    env["HOME"] = str(tmp_path)  # no user cache to hide a fetch behind
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


def _check(result: dict) -> None:
    out = result["out"]
    assert result["attempts"] == []
    geo_ = out.pop("geo")
    assert {k: geo_[k] for k in ("ipAddressV4", "country")} == EXPECTED["geo"]
    assert geo_["organization"]["asn"] == "15169"
    mmdb = out.pop("mmdb")
    assert mmdb.pop("organization")["asn"] == "20712"  # the chain filled ASN from the bundled table
    assert mmdb == EXPECTED["mmdb"]
    control = out.pop("control_attempts")
    assert control >= 1  # the spy works: requests' attempt was seen and stopped
    assert out == {k: v for k, v in EXPECTED.items() if k not in ("geo", "mmdb")}


def test_enrichment_and_scan_open_no_socket(inputs, tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *inputs], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_same_results_without_any_network(inputs, tmp_path):
    unshare = shutil.which("unshare")
    assert unshare, "util-linux unshare is needed for the no-network-namespace check"
    proc = subprocess.run([unshare, "-n", sys.executable, "-c", SCRIPT, *inputs], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check(json.loads(proc.stdout.strip().splitlines()[-1]))
