"""A `trailhound serve` subprocess in the tests: how one is stopped."""

from __future__ import annotations

import os
import signal
import subprocess


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (graceful: finish the batch, commit, exit), then SIGKILL of its group if it does not end in 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
