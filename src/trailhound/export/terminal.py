"""``serve``'s live status line in a terminal: per source, the objects waiting, events per second, lag;
the findings created and updated.

Only when stderr is a terminal and the log format is text: the follower's and exporter's lines are
printed above one status line that is redrawn in place, at most once a second (a line printed in
between brings the last status back as it was drawn, not re-measured). To a pipe, a file or a log
shipper — or with ``--log-format json`` — serve writes its plain lines and nothing else.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, TextIO

REFRESH_S = 1.0
_CLEAR = "\r\x1b[K"  # to the line's start, and erase it


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def render(status: Any, now: float, width: int = 160) -> str:
    """The status line of a FollowStatus as of ``now``, cut to ``width`` characters."""
    parts = []
    for source, p in sorted(status.sources.items()):
        per_s, lag = p.rates(now)
        failing = " (failing)" if source in status.errors else ""
        rate = f"{per_s:,.0f}" if per_s >= 10 or per_s == 0 else f"{per_s:.1f}"  # a quiet source's few events still show
        parts.append(f"{source}{failing}: {p.pending:,} pending, {rate} events/s, lag {duration(lag)}")
    parts.append(f"findings {status.findings_new:,} new, {status.findings_updated:,} updated")
    line = " | ".join(parts)
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def _width(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    return columns - 1 if columns > 20 else 159  # the last column would wrap on some terminals; 0: a terminal that does not say


class StatusLine:
    """Writes serve's lines above the status line (``say``), and redraws it every REFRESH_S (``run``)."""

    def __init__(self, stream: TextIO, status: Any, refresh_s: float = REFRESH_S) -> None:
        self.stream = stream
        self.status = status
        self.refresh_s = refresh_s
        self.shown = ""
        self.thread: threading.Thread | None = None  # the one that runs ``run`` (joined before ``close``)
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            self.stream.write(f"{_CLEAR}{line}\n{self.shown}")
            self.stream.flush()

    def draw(self) -> None:
        with self._lock:
            self.shown = render(self.status, time.time(), _width(self.stream))
            self.stream.write(f"{_CLEAR}{self.shown}")
            self.stream.flush()

    def run(self, stop: threading.Event) -> None:
        while True:
            self.draw()
            if stop.wait(self.refresh_s):
                break

    def close(self) -> None:
        """Take the status line away (the lines that follow start on a clean line)."""
        with self._lock:
            self.shown = ""
            self.stream.write(_CLEAR)
            self.stream.flush()


__all__ = ["REFRESH_S", "StatusLine", "duration", "render"]
