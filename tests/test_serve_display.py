"""serve's live status line: what it shows are the follower's own counters (objects waiting, events
per second, lag, findings), it is drawn on a terminal (a pseudo-terminal here) with text logs and
redrawn at most once a second, and a pipe or ``--log-format json`` get plain lines only."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import write_cloudtrail
from trailhound.config import ScanSettings
from trailhound.export.terminal import duration, render
from trailhound.sources.follow import Follower, FollowSettings
from trailhound.store.database import Store

sys.path.insert(0, str(Path(__file__).parent))
from serve_proc import stop  # noqa: E402

VENV_BIN = Path(sys.executable).parent
STAMPS = ["20261101T1000Z", "20261101T1005Z", "20261101T1010Z", "20261101T1015Z", "20261101T1020Z"]
_LINE = re.compile(r"(?P<src>.+?): (?P<pending>[\d,]+) pending, (?P<rate>[\d,.]+) events/s, lag (?P<lag>[^|]+?) "
                   r"\| findings (?P<new>[\d,]+) new, (?P<updated>[\d,]+) updated")


def _stop_logging(folder: Path, stamp: str, n: int) -> Path:
    """A CloudTrail object named as AWS names them, in which user ``n`` stops logging (a finding) among 100 (n + 1) quiet calls."""
    day = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}"
    base = {"eventVersion": "1.08", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2",
            "recipientAccountId": "111122223333", "readOnly": False, "eventCategory": "Management",
            "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "arn": f"arn:aws:iam::111122223333:user/mallory{n}",
                             "userName": f"mallory{n}", "accessKeyId": f"AKIAEXAMPLE0000MAL{n}"}}
    records = [dict(base, eventTime=f"{day}:{i % 60:02d}Z", eventSource="s3.amazonaws.com", eventName="ListBuckets", eventID=f"{stamp}-{i}")
               for i in range(100 * (n + 1))]
    records.append(dict(base, eventTime=f"{day}:59Z", eventSource="cloudtrail.amazonaws.com", eventName="StopLogging",
                        requestParameters={"name": f"trail-{n}"}, eventID=f"{stamp}-stop"))
    return write_cloudtrail(folder / f"111122223333_CloudTrail_us-east-1_{stamp}_x{n}.json.gz", records)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "AWSLogs"
    for n, stamp in enumerate(STAMPS):
        _stop_logging(folder, stamp, n)
    return folder


def test_the_status_line_shows_the_followers_counters(tmp_path: Path) -> None:
    """Rendered while the follower works (from its notify hook, between chunks): every number shown is the counter's."""
    folder = _folder(tmp_path)
    store = Store(tmp_path / "follow.db")
    seen: list[tuple[str, dict[str, Any]]] = []

    def look(_line: str) -> None:
        p, now = follower.status.sources[str(folder)], time.time()
        per_s, lag = p.rates(now)
        counters = {"pending": p.pending, "rate": per_s, "lag": duration(lag), "new": follower.status.findings_new,
                    "updated": follower.status.findings_updated}
        seen.append((render(follower.status, now, width=1000), counters))

    try:
        follower = Follower(store, ScanSettings(builtin_intel=False), [str(folder)], FollowSettings(chunk_objects=2, first_chunk_objects=1),
                            notify=look)
        follower.cycle()
    finally:
        store.close()
    assert len(seen) == 3, "one line per chunk of 1, 2 and 2 objects"
    for line, counters in seen:
        m = _LINE.fullmatch(line)
        assert m, line
        assert m["src"] == str(folder)
        shown = {k: int(m[k].replace(",", "")) for k in ("pending", "new", "updated")}
        assert shown == {k: counters[k] for k in shown}, (line, counters)
        assert abs(float(m["rate"].replace(",", "")) - counters["rate"]) <= 0.5, (line, counters)
        assert m["lag"] == counters["lag"]
    pending = [c["pending"] for _, c in seen]
    assert pending[0] == 5 and pending == sorted(pending, reverse=True) and pending[-1] < pending[0], pending
    created = [c["new"] for _, c in seen]
    assert created[0] >= 1 and created[-1] > created[0], created  # each chunk's StopLogging findings, as they are created
    assert seen[-1][1]["rate"] >= 10 and "d" in seen[-1][1]["lag"]  # the first chunks' events in the last minute; delivered weeks ago


def test_render_cuts_to_the_width_and_names_a_failing_source() -> None:
    from trailhound.sources.follow import FollowStatus
    from trailhound.sources.progress import SourceProgress

    status = FollowStatus(sources={"s3://b/AWSLogs/": SourceProgress(pending=1234, watermark=1000.0), "/logs": SourceProgress()},
                          errors={"/logs": "/logs: no such folder"}, findings_new=7)
    line = render(status, 1000.0 + 3725, width=1000)
    assert line == ("/logs (failing): 0 pending, 0 events/s, lag - | s3://b/AWSLogs/: 1,234 pending, 0 events/s, lag 1h02m "
                    "| findings 7 new, 0 updated")
    assert render(status, 1000.0, width=40) == line[:39] + "…"
    assert [duration(s) for s in (None, 59.9, 60, 3599, 86400 * 3 + 7200)] == ["-", "59 s", "1m00s", "59m59s", "3d02h"]


# -- the real command on a pseudo-terminal --------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return orjson.loads(r.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def _serve(tmp_path: Path, folder: Path, terminal: bool, *extra: str) -> tuple[str, dict[str, Any]]:
    """Run serve on the folder until it has read every file and 3 more seconds passed; (its stderr, /healthz then)."""
    port = _free_port()
    args = [str(VENV_BIN / "trailhound"), "serve", "--db", str(tmp_path / f"serve-{terminal}.db"), "--listen", f"127.0.0.1:{port}",
            "--source", str(folder), "--poll-s", "0.5", *extra]
    if terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 400, 0, 0))  # 400 columns: the temporary folder's long name fits
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, start_new_session=True)
        os.close(slave)
    else:
        master, slave = os.pipe()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, start_new_session=True)
        os.close(slave)
    out = bytearray()

    def drain(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if select.select([master], [], [], min(left, 0.1))[0]:
                try:
                    out.extend(os.read(master, 65536))
                except OSError:  # the terminal's other side closed
                    return

    try:
        deadline = time.monotonic() + 90
        health = None
        while (health := _health(port)) is None or health["follow"]["files_read"] < len(STAMPS):
            assert proc.poll() is None and time.monotonic() < deadline, out.decode(errors="replace")
            drain(0.2)
        drain(3.0)
        health = _health(port)
        assert health is not None
        proc.send_signal(signal.SIGTERM)
        drain(0.1)
        proc.wait(30)
        drain(0.5)
    finally:
        stop(proc)
        os.close(master)
    return out.decode(errors="replace"), health


def test_serve_on_a_terminal_draws_the_status_line_from_its_counters(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    began = time.monotonic()
    text, health = _serve(tmp_path, folder, True)
    elapsed = time.monotonic() - began
    follow = health["follow"]
    assert follow["findings_new"] >= 1
    drawn = [s for s in re.split(r"\r\x1b\[K", text) if _LINE.fullmatch(s)]
    assert drawn, text
    last = _LINE.fullmatch(drawn[-1])
    assert last and last["src"] == str(folder)
    # once everything is read, the line shows what /healthz says (nothing pending, the findings created)
    assert (int(last["pending"]), int(last["new"]), int(last["updated"])) == (0, follow["findings_new"], follow["findings_updated"])
    assert abs(float(last["rate"].replace(",", "")) - follow["sources"][str(folder)]["events"] / 60) <= 0.5  # all read within the minute
    # redrawn once a second (a log line brings back the line as it was drawn, not re-measured)
    assert len(drawn) <= elapsed + 1, drawn
    # the log lines are there, each on its own line above the status line; the status line is taken away at the end
    assert "serve: read" in text and "stopped" in text
    assert text.rstrip("\r\n").endswith("\r\x1b[K"), repr(text[-200:])


@pytest.mark.parametrize("how", ["pipe", "json"])
def test_plain_lines_without_a_terminal_or_with_json_logs(tmp_path: Path, how: str) -> None:
    folder = _folder(tmp_path)
    text, health = _serve(tmp_path, folder, how == "json", *(["--log-format", "json"] if how == "json" else []))
    assert health["follow"]["files_read"] == len(STAMPS)
    assert "\x1b[K" not in text and "pending," not in text, text
    lines = [line for line in text.replace("\r\n", "\n").splitlines() if line]
    assert lines and any("read" in line for line in lines)
    if how == "json":
        assert all(isinstance(orjson.loads(line), dict) for line in lines), lines
