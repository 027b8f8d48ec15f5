"""An operator's list judged whole, by how much of the Internet it covers (``intel.guard.vet_coverage``):
every public /8 on a line of its own passes the per-entry limit, yet trusts or flags the whole IPv4
Internet. Such a list is refused with one line naming the file and its coverage; a big but real list
(all of AWS) loads with a warning; an ordinary one loads without a word."""

from __future__ import annotations

import gzip
import ipaddress
import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import scan

from trailhound.intel import stored
from trailhound.intel.formats import load_list
from trailhound.intel.guard import COVERAGE_LIMITS, coverage, refusal
from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import Case, flow_row

T0 = datetime(2026, 11, 6, 10, 0, tzinfo=UTC)
OURS = "10.0.1.25"
CUSTOM = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
EVERY_PUBLIC_8 = [f"{i}.0.0.0/8" for i in range(1, 224) if i not in (10, 127)]  # 221 lines: the whole public IPv4 Internet


def _list(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _flows(root: Path, remotes: list[str]) -> list[Path]:
    """The instance opens a connection to each remote (v5 records, egress, SYN)."""
    recs = [flow_row(T0, src=OURS, dst=r, sport=50000 + i, dport=443, direction="egress", flags=2) for i, r in enumerate(remotes)]
    return write_case_logs(root, [Case("flows", None, recs, source="flow")])


def _custom_remotes(store) -> list[str]:
    return sorted(f["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["ipAddressV4"]
                  for f in store.findings() if f["type"] == CUSTOM)


def _aws(shared_data: Path, region: str | None = None) -> list[str]:
    doc = json.loads(gzip.decompress((shared_data / "aws-ip-ranges" / "ip-ranges_2026-08-22.json.gz").read_bytes()))
    return [p["ip_prefix"] for p in doc["prefixes"] if region is None or p["region"] == region]


# -- through the scanner ---------------------------------------------------------------------------

def test_every_public_8_as_a_trusted_list_is_refused_and_hides_nothing(tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", ["89.160.21.7"])
    trusted = _list(tmp_path / "trusted.txt", EVERY_PUBLIC_8)
    report, store = scan(_flows(tmp_path / "logs", ["89.160.21.7"]), threat_lists=[threat], trusted_lists=[trusted])
    [problem] = report.problems
    assert problem.path == str(trusted) and "\n" not in problem.message
    assert problem.message.startswith("list refused: it covers 3.70 billion public IPv4 addresses (100.0% of the public space)")
    assert "nothing from it is used" in problem.message
    assert report.list_entries_refused == 221
    # the listed address is still reported: the list trusts nothing
    assert _custom_remotes(store) == ["89.160.21.7"]


def test_every_public_8_as_a_threat_list_is_refused_and_flags_nothing(tmp_path: Path) -> None:
    threat = _list(tmp_path / "threats.txt", EVERY_PUBLIC_8)
    report, store = scan(_flows(tmp_path / "logs", ["89.160.21.7", "8.8.8.8", "1.2.3.4", "203.0.113.9"]), threat_lists=[threat])
    [problem] = report.problems
    assert problem.path == str(threat)
    assert problem.message.startswith("list refused: it covers 3.70 billion public IPv4 addresses (100.0% of the public space)")
    assert report.list_entries_refused == 221
    assert _custom_remotes(store) == []  # not one finding per remote address


def test_all_of_aws_as_a_trusted_list_loads_with_a_warning(tmp_path: Path, shared_data: Path) -> None:
    prefixes = _aws(shared_data)
    inside = str(next(ipaddress.ip_network(p) for p in prefixes if p.endswith("/16"))[5])
    threat = _list(tmp_path / "threats.txt", [inside, "89.160.21.7"])
    trusted = _list(tmp_path / "trusted.txt", prefixes)
    report, store = scan(_flows(tmp_path / "logs", [inside, "89.160.21.7"]), threat_lists=[threat], trusted_lists=[trusted])
    [problem] = report.problems
    assert problem.path == str(trusted)
    assert problem.message.startswith("list loaded, but it covers 101.8 million public IPv4 addresses (2.8% of the public space)")
    assert report.list_entries_refused == 0
    assert report.list_benign == [f"{trusted}: {problem.message}"]  # said in the summary too, not only among the problems
    # it is used: the AWS address is trusted, the other one is not
    assert _custom_remotes(store) == ["89.160.21.7"]


def test_cli_names_the_refused_list(tmp_path: Path) -> None:
    trusted = _list(tmp_path / "trusted.txt", EVERY_PUBLIC_8)
    threat = _list(tmp_path / "threats.txt", ["89.160.21.7"])
    files = _flows(tmp_path / "logs", ["89.160.21.7"])
    p = subprocess.run([str(Path(sys.executable).with_name("trailhound")), "scan", *map(str, files), "--threat-list", str(threat),
                        "--trusted-list", str(trusted), "--db", str(tmp_path / "t.db")], check=False, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    [line] = [x for x in p.stderr.splitlines() if str(trusted) in x]
    assert "list refused: it covers 3.70 billion public IPv4 addresses (100.0% of the public space)" in line
    assert "221 entries refused as too broad" in p.stdout
    assert f"warning: list {trusted}: list refused: it covers 3.70 billion" in " ".join(p.stdout.split())
    assert "MaliciousIPCaller.Custom" in p.stdout


# -- the loader ------------------------------------------------------------------------------------

def test_a_region_of_aws_and_a_cloud_sized_list_load_without_a_word(tmp_path: Path, shared_data: Path) -> None:
    region = load_list(_list(tmp_path / "use1.txt", _aws(shared_data, "us-east-1")), vet=refusal)  # 23M addresses
    assert region.problems == [] and region.refused == 0 and region.networks > 500
    # a few hundred /16-/12 ranges of one made-up cloud, about a /7's worth (33.5M) in all
    rng = random.Random(7)
    nets = {f"{rng.choice([3, 13, 15, 18, 34, 35, 44, 52, 54, 99])}.{rng.randrange(256)}.0.0/16" for _ in range(300)}
    nets |= {f"{a}.{16 * rng.randrange(16)}.0.0/12" for a in (18, 52, 54)}
    load = load_list(_list(tmp_path / "cloud.txt", sorted(nets)), vet=refusal)
    assert 2**24 < coverage(load)[4] < COVERAGE_LIMITS[4][0]
    assert load.problems == [] and load.entries == len(nets) and not load.too_broad


def test_a_small_list_gets_nothing(tmp_path: Path) -> None:
    load = load_list(_list(tmp_path / "t.txt", ["89.160.21.7", "89.160.21.0/24", "2a00:1450:4001::/48", "evil.example.com"]), vet=refusal)
    assert load.problems == [] and load.entries == 4 and load.coverage == ""


@pytest.mark.parametrize(("eights", "said"), [(4, None), (5, "loaded"), (32, "loaded"), (33, "refused")])
def test_the_bounds(tmp_path: Path, eights: int, said: str | None) -> None:
    # 4 /8s are 2^26 addresses (the warning bound, not past it), 32 are 2^29 (the refusal bound)
    load = load_list(_list(tmp_path / "t.txt", [f"{i}.0.0.0/8" for i in range(11, 11 + eights)]), vet=refusal)
    assert [p.message.split(":")[0].split(",")[0] for p in load.problems] == ([f"list {said}"] if said else [])
    assert load.entries == (0 if said == "refused" else eights)


def test_ipv6_is_judged_on_its_own(tmp_path: Path) -> None:
    # 1,024 /16s (each allowed alone) are 2^122 addresses: a /6's worth of IPv6
    load = load_list(_list(tmp_path / "t.txt", [f"2{i:03x}::/16" for i in range(0x400)]), vet=refusal)
    [problem] = load.problems
    assert problem.message.startswith("list refused: it covers 2^122.0 public IPv6 addresses (a /6.0's worth)")
    assert load.too_broad and load.refused == 1024 and load.indicators == []


def test_coverage_counts_overlaps_once_and_public_space_only(tmp_path: Path) -> None:
    lines = ["10.0.0.0/8", "172.0.0.0/8", "8.0.0.0/8", "8.0.0.0/9", "8.8.8.8", "fd00::/8", "2a00:1450::/32", "2a00:1450:4001::5"]
    load = load_list(_list(tmp_path / "t.txt", lines))
    # 10/8 is private; 172/8 less its private /12; 8/8 once, whatever lies inside it; fd00::/8 private
    assert coverage(load) == {4: 2**24 - 2**20 + 2**24, 6: 2**96}


def test_an_unvetted_list_is_not_judged(tmp_path: Path) -> None:
    # the packaged feeds and sinkhole lists are loaded without vetting: curated, and cut to public space
    load = load_list(_list(tmp_path / "t.txt", EVERY_PUBLIC_8))
    assert load.problems == [] and load.entries == 221


def test_a_stored_list_that_broad_is_not_used(tmp_path: Path) -> None:
    path = _list(tmp_path / "trusted.txt", EVERY_PUBLIC_8)
    result, why = stored.load("ipset", "everything", "TXT", stored.Location(path=path))
    assert result is not None and result.too_broad and result.entries == 0
    assert why is not None and why.startswith("List refused: it covers 3.70 billion public IPv4 addresses")
