"""`trailhound intel update` against a real local HTTP server, then a scan that uses the refreshed list."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from trailhound.simulator.attack_day import write_case_logs
from trailhound.simulator.records import Case, record

BIN = Path(sys.executable).with_name("trailhound")


@pytest.fixture
def http_root(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):  # keep test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def test_intel_update_from_url_then_scan(tmp_path: Path, http_root) -> None:
    root, base = http_root
    exit_ip = "81.2.69.142"
    from trailhound.intel.builtin import DATA_DIR, builtin_index

    assert builtin_index(DATA_DIR / "packaged-only").ip(exit_ip) == ()  # only the refreshed list can flag it
    (root / "exits.txt").write_text(f"# tor exits\n{exit_ip}\n")
    env = {**os.environ, "TRAILHOUND_INTEL_DIR": str(tmp_path / "intel"), "COLUMNS": "200"}
    p = run("intel", "update", "--source", f"tor-exit-nodes=tor-exit=TXT:{base}/exits.txt", "--source", f"gone=c2={base}/missing.txt", env=env)
    assert p.returncode == 1  # one source failed
    assert "tor-exit-nodes: 1 entries" in p.stdout and "gone: FAILED" in p.stdout and "404" in p.stdout
    # the refreshed exit list replaces the packaged one: a call from that address is a Tor caller now
    rec = record("ListBuckets", "s3.amazonaws.com", time=datetime(2026, 11, 7, tzinfo=UTC), ip=exit_ip)
    files = write_case_logs(tmp_path / "logs", [Case("x", None, rec)])
    p = run("scan", *files, "--db", tmp_path / "t.db", "-o", tmp_path / "f.jsonl", env=env)
    assert p.returncode == 0, p.stderr
    assert "Recon:IAMUser/TorIPCaller" in (tmp_path / "f.jsonl").read_text()
    shown = run("intel", "show", env=env)
    assert "tor-exit" in shown.stdout


def test_intel_update_needs_a_source(tmp_path: Path) -> None:
    p = run("intel", "update", env={**os.environ, "TRAILHOUND_INTEL_DIR": str(tmp_path)})
    assert p.returncode == 2 and "nothing to update" in p.stderr
