"""Trailhound: GuardDuty-style threat detection over AWS logs."""

import os

# One pipeline process works on one core (scale out with processes or Spark tasks, not threads):
# Polars' thread pool only adds scheduling overhead on the small per-file frames it gets here.
os.environ.setdefault("POLARS_MAX_THREADS", "1")

__version__ = "0.1.0"
