"""A `trailhound serve` subprocess in the tests: how one is stopped, and what its store holds meanwhile."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful: finish the batch, commit, exit), then SIGKILL of its group if it does not end in 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def count(db: Path, sql: str) -> int:
    """A number from a SQLite store that a serve is writing (read-only; 0 before it has the table)."""
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
