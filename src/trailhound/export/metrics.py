"""``/metrics``: the follower's and exporter's counters in Prometheus' text format (version 0.0.4).

Written by hand (a few dozen lines) rather than with prometheus_client: the numbers already live in
the follower's and exporter's status objects, and the format is a line per sample.
"""

from __future__ import annotations

import math
import time
from typing import Any

from sqlalchemy import Connection, func, select

from trailhound.store import tables as t

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float | None]]) -> None:
        present = [(labels, v) for labels, v in samples if v is not None]
        if not present:
            return
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for labels, value in present:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")  # type: ignore[arg-type]


def render(follow: Any | None, export: Any | None, conn: Connection | None, now: float | None = None) -> str:
    """The text of one scrape. ``follow``: a FollowStatus (or None without --source); ``export``: an
    ExportStatus (or None without a destination); ``conn``: the store, for the quarantine counts."""
    now = time.time() if now is None else now
    out = _Text()
    if follow is not None:
        sources = sorted(follow.sources.items())
        rates = {s: p.rates(now) for s, p in sources}

        def per(attr: str) -> list[tuple[dict[str, str], float | None]]:
            return [({"source": s}, getattr(p, attr)) for s, p in sources]

        out.family("trailhound_source_events_total", "counter", "Events read from the source.", per("events"))
        out.family("trailhound_source_events_per_second", "gauge", "Events read from the source per second, over the last minute.",
                   [({"source": s}, rates[s][0]) for s, _ in sources])
        out.family("trailhound_source_objects_read_total", "counter", "Log objects (files) read from the source.", per("objects_read"))
        out.family("trailhound_source_watermark_seconds", "gauge", "Latest delivery time read from the source (unix seconds).",
                   per("watermark"))
        out.family("trailhound_source_lag_seconds", "gauge", "Now minus the source's watermark.", [({"source": s}, rates[s][1]) for s, _ in sources])
        out.family("trailhound_source_objects_pending", "gauge", "Objects found at the source and not yet committed.", per("pending"))
        out.family("trailhound_source_late_objects_total", "counter", "Objects that arrived later than the allowed lateness (still read).",
                   per("late_objects"))
        out.family("trailhound_source_late_max_seconds", "gauge", "The most an object has been behind the source's watermark.",
                   per("late_max_s"))
        out.family("trailhound_source_up", "gauge", "1 if the source was readable at its last look, 0 if it is failing.",
                   [({"source": s}, 0.0 if s in follow.errors else 1.0) for s, _ in sources])
        out.family("trailhound_follow_cycles_total", "counter", "Looks for new objects.", [({}, follow.cycles)])
        out.family("trailhound_findings_created_total", "counter", "New findings.", [({}, follow.findings_new)])
        out.family("trailhound_findings_updated_total", "counter", "Updates of existing findings (a recurrence).", [({}, follow.findings_updated)])
        out.family("trailhound_sqs_messages_received_total", "counter", "S3 notifications received.", [({}, follow.sqs_received)])
        out.family("trailhound_sqs_messages_deleted_total", "counter", "S3 notifications deleted once what they name was committed.",
                   [({}, follow.sqs_deleted)])
        out.family("trailhound_sqs_messages_ignored_total", "counter", "Queue messages that were no S3 notification.", [({}, follow.sqs_ignored)])
    if export is not None:
        out.family("trailhound_export_sent_total", "counter", "Finding events delivered.", [({}, export.sent)])
        out.family("trailhound_export_failures_total", "counter", "Failed delivery attempts (each retry counts).", [({}, export.failures)])
        out.family("trailhound_export_dead_lettered_total", "counter", "Events given up on and written to the dead-letter file.",
                   [({}, export.dead_lettered)])
    if conn is not None:
        q = t.quarantine.c
        entries, files = conn.execute(select(func.count(), func.count(q.path.distinct())).select_from(t.quarantine)).one()
        out.family("trailhound_quarantine_entries", "gauge", "Bad input set aside (lines, records or whole files).", [({}, entries)])
        out.family("trailhound_quarantine_files", "gauge", "Files with something set aside.", [({}, files)])
    return "\n".join(out.lines) + "\n"


__all__ = ["CONTENT_TYPE", "render"]
