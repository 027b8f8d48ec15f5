"""Sample findings: one valid finding per implemented type, marked as a sample, stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from trailhound.detectors import implemented_finding_types
from trailhound.findings.model import to_wire
from trailhound.findings.samples import sample_findings
from trailhound.simulator.records import HOSTS
from trailhound.store.database import Store

HOST_NAMES = {h.instance: h.name for h in HOSTS}
BIN = Path(sys.executable).with_name("trailhound")
REQUIRED = {"schemaVersion", "accountId", "region", "partition", "id", "arn", "type", "severity", "title", "description",
            "createdAt", "updatedAt", "resource", "service"}


def test_one_valid_sample_per_implemented_type() -> None:
    samples = [to_wire(f) for f in sample_findings()]
    assert sorted(f["type"] for f in samples) == implemented_finding_types()
    for f in samples:
        assert REQUIRED <= set(f), f["type"]
        assert f["title"].startswith("[SAMPLE] ")
        assert json.loads(f["service"]["additionalInfo"]["value"])["sample"] is True
        assert f["resource"]["resourceType"] in ("AccessKey", "Instance", "S3Bucket")
        assert f["service"]["action"]["actionType"] in ("AWS_API_CALL", "NETWORK_CONNECTION", "PORT_PROBE", "DNS_REQUEST")
        assert 1.0 <= f["severity"] <= 10.0 and f["service"]["count"] == 1
        if f["resource"]["resourceType"] == "Instance":
            details = f["resource"]["instanceDetails"]
            assert details["instanceType"] == "t3.medium" and {"key": "Name", "value": HOST_NAMES[details["instanceId"]]} in details["tags"]
    assert len({f["id"] for f in samples}) == len(samples)


def test_cli_stores_samples_idempotently(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    env = {**os.environ, "COLUMNS": "200"}
    for _ in range(2):  # a second run replaces the samples instead of adding more
        p = subprocess.run([str(BIN), "sample-findings", "Policy:IAMUser/RootCredentialUsage", "Backdoor:EC2/C&CActivity.B!DNS",
                            "--db", str(db)], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
    stored = list(Store(db).findings())
    assert sorted(f["type"] for f in stored) == ["Backdoor:EC2/C&CActivity.B!DNS", "Policy:IAMUser/RootCredentialUsage"]
    assert all(f["arn"].split("/")[1] == Store(db).detector_id for f in stored)
    bad = subprocess.run([str(BIN), "sample-findings", "Nope:EC2/Nothing", "--db", str(db)], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown finding type" in bad.stderr
