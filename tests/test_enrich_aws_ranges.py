"""AWS ip-ranges.json: loading (file, gzip, URL), flattening nested prefixes, lookups."""

from __future__ import annotations

import gzip
import http.server
import ipaddress
import json
import random
import threading
from pathlib import Path

import pytest

from trailhound.enrich import aws_ranges
from trailhound.enrich.aws_ranges import AwsRange, AwsRanges, default_ranges, load_ranges


def _doc(prefixes, v6=(), create="2026-01-01-00-00-00"):
    return {
        "syncToken": "1", "createDate": create,
        "prefixes": [{"ip_prefix": p, "region": r, "service": s, "network_border_group": r} for p, r, s in prefixes],
        "ipv6_prefixes": [{"ipv6_prefix": p, "region": r, "service": s, "network_border_group": r} for p, r, s in v6],
    }


@pytest.fixture(scope="module")
def latest(shared_data) -> AwsRanges:
    return load_ranges(shared_data / "aws-ip-ranges" / "ip-ranges_2026-08-22.json.gz")


def test_real_snapshot_lookups(latest):
    assert latest.create_date == "2026-08-22-21-17-05" and len(latest) == 16826 and latest.skipped == 0
    r = latest.lookup("3.5.140.2")
    assert r == AwsRange("3.5.140.0/22", "ap-northeast-2", "ap-northeast-2", ("AMAZON", "EC2", "S3"))
    assert latest.lookup("13.32.0.1").region == "GLOBAL" and "CLOUDFRONT" in latest.lookup("13.32.0.1").services
    v6 = latest.lookup("2600:1f18::1")
    assert (v6.prefix, v6.region, v6.service) == ("2600:1f18::/33", "us-east-1", "EC2")
    assert latest.lookup("::ffff:3.5.140.2") == r
    for outside in ("8.8.8.8", "1.1.1.1", "10.0.0.1", "2001:4860:4860::8888", "not an ip", ""):
        assert latest.lookup(outside) is None and not latest.is_aws(outside)
    assert "3.5.140.2" in latest and "8.8.8.8" not in latest and not latest.is_aws(None)


def test_nested_prefixes_most_specific_wins_services_accumulate():
    r = AwsRanges(_doc([
        ("52.0.0.0/8", "GLOBAL", "AMAZON"),
        ("52.1.0.0/16", "us-east-1", "AMAZON"),
        ("52.1.0.0/16", "us-east-1", "EC2"),
        ("52.1.2.0/24", "us-east-1", "S3"),
        ("54.0.0.1/32", "eu-west-1", "ROUTE53_HEALTHCHECKS"),
    ]))
    assert r.lookup("52.1.2.3") == AwsRange("52.1.2.0/24", "us-east-1", "us-east-1", ("AMAZON", "EC2", "S3"))
    assert r.lookup("52.1.3.1") == AwsRange("52.1.0.0/16", "us-east-1", "us-east-1", ("AMAZON", "EC2"))
    assert r.lookup("52.1.3.1").service == "EC2"
    assert r.lookup("52.200.0.1") == AwsRange("52.0.0.0/8", "GLOBAL", "GLOBAL", ("AMAZON",))
    assert r.lookup("52.200.0.1").service == "AMAZON"
    assert r.lookup("52.255.255.255").prefix == "52.0.0.0/8" and r.lookup("52.0.0.0").prefix == "52.0.0.0/8"
    assert r.lookup("51.255.255.255") is None and r.lookup("53.0.0.0") is None
    assert r.lookup("54.0.0.1").prefix == "54.0.0.1/32" and r.lookup("54.0.0.2") is None and r.lookup("54.0.0.0") is None


def test_lookup_agrees_with_brute_force_longest_prefix(shared_data):
    """Every answer equals the longest published prefix containing the address (2023 snapshot)."""
    path = shared_data / "aws-ip-ranges" / "ip-ranges_2023-07-10.json.gz"
    doc = json.loads(gzip.decompress(path.read_bytes()))
    ranges = load_ranges(path)
    services: dict = {}
    for p in doc["prefixes"] + doc["ipv6_prefixes"]:
        net = ipaddress.ip_network(p.get("ip_prefix") or p["ipv6_prefix"])
        services.setdefault(net, set()).add(p["service"])
    spans = {4: [], 6: []}
    for net in services:
        spans[net.version].append((int(net.network_address), int(net.broadcast_address), net))
    rng = random.Random(11)
    probes = []
    for n in rng.sample(sorted(services, key=str), 250):
        probes += [n.network_address, n.broadcast_address, n.network_address - 1, n.broadcast_address + 1]
    probes += [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(300)]
    for addr in probes:
        a = int(addr)
        containing = [net for first, last, net in spans[addr.version] if first <= a <= last]
        got = ranges.lookup(str(addr))
        if not containing:
            assert got is None, addr
            continue
        best = max(containing, key=lambda n: n.prefixlen)
        assert got is not None and got.prefix == str(best), addr
        assert set(got.services) == set().union(*(services[n] for n in containing)), addr


def test_refresh_replaces_the_data(shared_data):
    old = load_ranges(shared_data / "aws-ip-ranges" / "ip-ranges_2020-09-14.json.gz")
    new = load_ranges(shared_data / "aws-ip-ranges" / "ip-ranges_2026-08-22.json.gz")
    assert len(old) == 3901 and len(new) > 4 * len(old)
    assert old.lookup("15.190.244.1") is None and new.lookup("15.190.244.1").region == "ap-east-2"


def test_plain_json_file_url_and_http_url(tmp_path):
    body = json.dumps(_doc([("3.5.140.0/22", "ap-northeast-2", "EC2")], v6=[("2600:1f18::/33", "us-east-1", "EC2")])).encode()
    plain = tmp_path / "ip-ranges.json"
    plain.write_bytes(body)
    assert load_ranges(plain).lookup("3.5.141.1").region == "ap-northeast-2"
    assert load_ranges(str(plain)).lookup("2600:1f18::5").region == "us-east-1"
    assert load_ranges(plain.as_uri()).lookup("3.5.141.1").prefix == "3.5.140.0/22"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = gzip.compress(body)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        r = load_ranges(f"http://127.0.0.1:{server.server_port}/ip-ranges.json", timeout=10)
    finally:
        thread.join(10)
        server.server_close()
    assert r.lookup("3.5.140.9").service == "EC2" and r.source.startswith("http://127.0.0.1:")


def test_bad_input(tmp_path):
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_ranges(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text('{"Records": []}')
    with pytest.raises(ValueError, match="not an AWS ip-ranges"):
        load_ranges(tmp_path / "other.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError):
        load_ranges(tmp_path / "list.json")
    with pytest.raises(OSError):
        load_ranges(tmp_path / "missing.json")
    doc = _doc([("3.5.140.0/22", "r", "EC2"), ("999.1.1.0/24", "r", "EC2"), ("3.5.0.0/40", "r", "EC2"), ("3.6.0.0/x", "r", "x")])
    doc["prefixes"].append({"region": "r"})
    partly = AwsRanges(doc)
    assert partly.skipped == 4 and len(partly) == 1 and partly.is_aws("3.5.140.1")
    with pytest.raises(ValueError, match="no valid prefixes"):
        AwsRanges(_doc([("bad", "r", "EC2")]))


def test_default_ranges_sources(tmp_path, monkeypatch, shared_data):
    monkeypatch.delenv(aws_ranges.ENV_VAR, raising=False)
    monkeypatch.setattr(aws_ranges, "_BUNDLED", (tmp_path / "none.json.gz",))
    assert default_ranges() is None  # nothing configured: no data, and no network
    snap = shared_data / "aws-ip-ranges" / "ip-ranges_2023-07-10.json.gz"
    assert default_ranges(snap).create_date.startswith("2023-07-10")
    monkeypatch.setenv(aws_ranges.ENV_VAR, str(snap))
    assert default_ranges().create_date.startswith("2023-07-10")
    monkeypatch.delenv(aws_ranges.ENV_VAR)
    packaged = tmp_path / "ip-ranges.json.gz"
    packaged.write_bytes(gzip.compress(json.dumps(_doc([("3.5.140.0/22", "x", "EC2")])).encode()))
    monkeypatch.setattr(aws_ranges, "_BUNDLED", (packaged,))
    assert default_ranges().is_aws("3.5.140.1")


def test_no_snapshot_is_shipped():
    """ip-ranges.json carries no licence statement, so the package must not redistribute it."""
    assert not any(p.exists() for p in aws_ranges._BUNDLED)
    assert not list(Path(aws_ranges.__file__).parent.joinpath("data").glob("ip-ranges*"))
