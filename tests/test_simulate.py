"""`trailhound simulate` then `trailhound scan`: every simulated type is found, nothing else is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).with_name("trailhound")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})


def test_simulate_all_then_scan(tmp_path: Path) -> None:
    out = tmp_path / "estate"
    p = run("simulate", out, "--all", "--scale", "0.1", "--days", "7", "--seed", "3")
    assert p.returncode == 0, p.stderr
    truth = json.loads((out / "ground-truth.json").read_text())
    expected = {c["expect"] for c in truth["cases"] if c["expect"]}
    assert len(expected) >= 44 and any(c["must_not_fire"] for c in truth["cases"])
    scan = truth["scan"]
    args = ["scan", out / "logs", "--db", tmp_path / "t.db", "-o", tmp_path / "f.jsonl"]
    for flag, key in (("--threat-list", "threat_lists"), ("--trusted-list", "trusted_lists"), ("--inventory", "inventory")):
        for value in scan[key]:
            args += [flag, value]
    p = run(*args)
    assert p.returncode == 0, p.stderr
    findings = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]
    assert {f["type"] for f in findings} == expected
    # the background is clean: every finding concerns the attack date (the background's days end at its
    # midnight; a beacon's series starts hours before the day's first case at 09:00)
    attack_date = truth["attack_day"][:10]
    assert all(f["service"]["eventFirstSeen"][:10] >= attack_date for f in findings)


def test_simulate_one_type_and_reproducible(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert run("simulate", d, "--finding", "Stealth:IAMUser/CloudTrailLoggingDisabled", "--scale", "0.05", "--days", "2").returncode == 0
    truth = json.loads((a / "ground-truth.json").read_text())
    assert {c["expect"] for c in truth["cases"] if c["expect"]} == {"Stealth:IAMUser/CloudTrailLoggingDisabled"}
    logs = sorted(p.relative_to(a) for p in (a / "logs").rglob("*.gz"))
    assert any("attack" in p.name for p in logs)
    assert all((a / p).read_bytes() == (b / p).read_bytes() for p in logs)  # background and attack day alike


def test_simulate_rejects_unknown_type(tmp_path: Path) -> None:
    p = run("simulate", tmp_path / "x", "--finding", "Recon:EC2/Nonsense")
    assert p.returncode == 2 and "no simulation for Recon:EC2/Nonsense" in p.stderr
