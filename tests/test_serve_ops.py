"""`serve`'s operations: a TOML configuration file with TRAILHOUND_* overrides (one typed table in
config.py), structured JSON logs, and a graceful SIGTERM that finishes and commits the batch in hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from serve_proc import count as _count
from trailhound.config import ConfigError, env_name, serve_settings
from trailhound.simulator.labelled import simulate

VENV_BIN = Path(sys.executable).parent
TYPES = ["UnauthorizedAccess:EC2/SSHBruteForce", "Stealth:IAMUser/CloudTrailLoggingDisabled", "Recon:IAMUser/MaliciousIPCaller.Custom"]


def test_settings_from_a_file_and_the_environment(tmp_path: Path) -> None:
    conf = tmp_path / "serve.toml"
    conf.write_text('db = "x.db"\n[follow]\nsources = ["s3://a/AWSLogs/", "/var/log/aws"]\npoll_s = 5\nsqs_visibility_s = 60\n'
                    '[export]\nformat = "ocsf"\ndelay_s = 300\n')
    got = serve_settings(conf, {"TRAILHOUND_EXPORT_DELAY_S": "10", "TRAILHOUND_SCAN_THREAT_LISTS": "a.txt, b.txt", "OTHER": "1"})
    assert got == {"db": "x.db", "source": ["s3://a/AWSLogs/", "/var/log/aws"], "poll_s": 5.0, "sqs_visibility_s": 60,
                   "export_format": "ocsf", "export_delay_s": 10.0, "threat_list": ["a.txt", "b.txt"]}
    assert env_name("follow.poll_s") == "TRAILHOUND_FOLLOW_POLL_S"
    assert serve_settings(None, {}) == {}


@pytest.mark.parametrize(("text", "env", "message"), [
    ("[follow]\npol_s = 5\n", {}, "unknown setting 'follow.pol_s'"),
    ("[follow]\npoll_s = \"often\"\n", {}, "follow.poll_s: expected a number"),
    ("[follow]\nsqs_visibility_s = 1.5\n", {}, "expected an integer"),
    ("[follow]\nsources = \"s3://a/\"\n", {}, "expected a list of strings"),
    ("[follow\n", {}, "not TOML"),
    ("", {"TRAILHOUND_FOLLOW_POLL_S": "soon"}, "TRAILHOUND_FOLLOW_POLL_S: expected a number"),
    ("[export]\ndelay_s = true\n", {}, "expected a number"),
])
def test_bad_settings_name_the_key(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    conf = tmp_path / "serve.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        serve_settings(conf, env)


def test_serve_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "serve.toml"
    conf.write_text("[export]\nwebhok = 'http://x'\n")
    run = subprocess.run([str(VENV_BIN / "trailhound"), "serve", "--config", str(conf), "--db", str(tmp_path / "s.db")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "unknown setting 'export.webhok'" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return simulate(tmp_path_factory.mktemp("estate"), TYPES, seed=3, scale=1.0, days=3, delivery="large")


def test_sigterm_finishes_the_batch_with_json_logs_from_a_config_file(estate: Any, tmp_path: Path) -> None:
    from api_server import _free_port

    files = [f for f in (estate.logs / "AWSLogs").rglob("*") if f.is_file()]
    db, out, conf = tmp_path / "serve.db", tmp_path / "ocsf.jsonl", tmp_path / "serve.toml"
    port = _free_port()
    conf.write_text(f'db = "{db}"\nlisten = "127.0.0.1:1"\n[log]\nformat = "json"\n'
                    f'[follow]\nsources = ["{estate.logs / "AWSLogs"}"]\npoll_s = 0.5\ncommit_interval_s = 0.2\n'
                    f'[scan]\nthreat_lists = ["{estate.threat_list}"]\ntrusted_lists = ["{estate.trusted_list}"]\n'
                    f'[export]\nfile = "{out}"\nformat = "ocsf"\ndelay_s = 3600\n')
    # the command line's --listen beats the file's; the environment's delay beats the file's
    env = {**os.environ, "TRAILHOUND_EXPORT_DELAY_S": "0"}
    env.pop("TRAILHOUND_FAILPOINT", None)
    proc = subprocess.Popen([str(VENV_BIN / "trailhound"), "serve", "--config", str(conf), "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _count(db, "SELECT count(*) FROM checkpoints WHERE consumed > 0") == 0:
            assert proc.poll() is None and time.monotonic() < deadline, "serve committed nothing"
            time.sleep(0.02)
        done_at_term = _count(db, "SELECT count(*) FROM checkpoints WHERE complete = 1")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    assert done_at_term < len(files), "the batch was over before SIGTERM: nothing to finish"
    # graceful: the batch in hand (every file: one chunk) was finished and committed
    assert _count(db, "SELECT count(*) FROM checkpoints WHERE complete = 1") == len(files)
    assert _count(db, "SELECT count(*) FROM checkpoints WHERE complete = 0") == 0
    lines = [orjson.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all(set(line) == {"time", "level", "logger", "message"} for line in lines)
    assert all(line["time"].endswith("Z") and line["level"] in ("info", "warning", "error") for line in lines)
    messages = [line["message"] for line in lines]
    assert f"127.0.0.1:{port}" in messages[0]
    assert "stopping: finishing the batch in hand" in messages and messages[-1] == "stopped"
    assert any(line["logger"] == "trailhound.follow" and "new findings" in line["message"] for line in lines)
