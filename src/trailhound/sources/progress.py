"""Per-source progress of the follower: events read, the source's watermark, lateness, what waits.

A source's watermark is the latest delivery time (the stamp in AWS's object names, else the
object's LastModified or the file's mtime) of the objects read from it; its lag is now minus that.
An object that arrives with a time further behind the watermark than the allowed lateness is still
read — the pipeline's checkpoints and time-ordered merge take it as any other — but it is counted
as late, with how late it was, so an operator sees a delivery that stalled and caught up.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

RATE_WINDOW_S = 60.0


@dataclass
class SourceProgress:
    objects_read: int = 0
    events: int = 0
    events_per_s: float = 0.0  # over the last minute
    watermark: float | None = None  # unix seconds
    lag_s: float | None = None  # now minus the watermark, as of the last look
    pending: int = 0  # objects found and not yet committed
    late_objects: int = 0
    late_max_s: float = 0.0
    late_last: str | None = None  # the name of the last late object

    def __post_init__(self) -> None:
        self._recent: deque[tuple[float, int]] = deque()  # (when, events) of the last minute; not a field: /healthz shows the rest
        self._recent_events = 0  # their sum (kept by the follower's thread: a chunk's thousand objects cost no re-summing each)

    def read(self, name: str, at: float, events: int, allowed_lateness_s: float, now: float | None = None) -> None:
        """An object with delivery time ``at`` and ``events`` events was committed."""
        now = time.time() if now is None else now
        self.objects_read += 1
        self.events += events
        self.pending = max(0, self.pending - 1)
        self._recent.append((now, events))
        self._recent_events += events
        if self.watermark is not None and at < self.watermark - allowed_lateness_s:
            self.late_objects += 1
            self.late_max_s = max(self.late_max_s, self.watermark - at)
            self.late_last = name
        if self.watermark is None or at > self.watermark:
            self.watermark = at
        self.refresh(now)

    def refresh(self, now: float | None = None) -> None:
        """Drop what left the rate's window (the follower's thread only), and set the rate and lag."""
        now = time.time() if now is None else now
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
            self._recent_events -= self._recent.popleft()[1]
        self.events_per_s = self._recent_events / RATE_WINDOW_S
        self.lag_s = None if self.watermark is None else max(0.0, now - self.watermark)

    def rates(self, now: float) -> tuple[float, float | None]:
        """(events per second over the last minute, lag) as of ``now``, from any thread: reads a copy."""
        recent = list(self._recent)  # one C call under the GIL: never "mutated during iteration"
        per_s = sum(n for at, n in recent if at >= now - RATE_WINDOW_S) / RATE_WINDOW_S
        return per_s, None if self.watermark is None else max(0.0, now - self.watermark)


__all__ = ["RATE_WINDOW_S", "SourceProgress"]
