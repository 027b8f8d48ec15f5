"""Crash points for the exactly-once tests: ``TRAILHOUND_FAILPOINT=NAME[:N]`` makes the process kill
itself with SIGKILL the Nth time (default: the first) it reaches the point called NAME — a real
``kill -9`` at a chosen moment (before a commit, between a commit and the SQS delete, between an
export delivery and its cursor), which a test cannot time from outside. Unset, a point costs one
dictionary look-up."""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def failpoint(name: str) -> None:
    spec = os.environ.get("TRAILHOUND_FAILPOINT")
    if not spec:
        return
    point, _, nth = spec.rpartition(":")
    if not nth.isdigit():  # names have colons too: a count is only a trailing number
        point, nth = spec, "1"
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["failpoint"]
