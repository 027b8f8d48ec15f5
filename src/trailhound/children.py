"""Processes this one forks (API workers, reading workers): they end when it does, even when it is killed with -9."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger("trailhound")


def die_with(parent: int) -> None:
    """Called first in a forked child: Linux's parent-death signal ends it with ``parent``."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            log.warning("process %d: cannot ask to end with its parent", os.getpid())
    if os.getppid() != parent:  # it died before the request above took effect
        os._exit(0)
