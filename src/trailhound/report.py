"""Human-readable output of a scan: problems, the findings summary table, usage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from trailhound.findings.model import severity_label
from trailhound.formats.base import Problem
from trailhound.text import printable

_SEVERITY_ORDER = {"Critical": 0, "High": 1, "Medium": 2, "Low": 3}
_SEVERITY_STYLE = {"Critical": "bold magenta", "High": "bold red", "Medium": "yellow", "Low": "cyan"}


def say(console: Console, label: str, style: str, text: str) -> None:
    """A styled label, then text that may quote log content (a problem, an error): printable
    characters only, and never read as rich markup (a `[/x]` in a file name would raise)."""
    console.print(Text.assemble((label, style), " ", printable(text)), highlight=False, soft_wrap=True)


def print_problems(console: Console, problems: Sequence[Problem], limit: int) -> None:
    for p in problems[:limit]:
        say(console, "bad input", "yellow", str(p))
    if len(problems) > limit:
        console.print(f"[yellow]... and {len(problems) - limit} more (trailhound quarantine lists them all)[/]")


def print_summary(console: Console, report: Any, findings: Sequence[dict[str, Any]], stored: int) -> None:
    ev = report.events
    parts = [f"{ev[k]:,} {label}" for k, label in (("cloudtrail", "CloudTrail"), ("s3data", "S3 data"), ("flow", "flow"), ("dns", "DNS")) if ev.get(k)]
    console.print(
        f"scanned {report.files_total} files ({report.files_already_scanned} already scanned, {report.files_not_log} not logs, "
        f"{report.files_quarantined} quarantined)"
        + (f", skipped {skipped} that are not regular files" if (skipped := getattr(report, "files_skipped", 0)) else "")
        + f": {', '.join(parts) or 'no'} events, {report.bad_records} bad records, "
        f"in {report.seconds:.2f}s",
        highlight=False,
    )
    refused, non_public = report.list_entries_refused, report.list_entries_non_public
    if refused or non_public:  # said on stderr line by line too; here so it is not lost above the findings
        console.print(f"[yellow]threat/trusted lists: {refused} entries refused as too broad, {non_public} private or reserved "
                      "entries skipped (see the warnings)[/]", highlight=False)
    for line in getattr(report, "stored_lists", ()):  # the IPSets / ThreatIntelSets activated through the API
        console.print(Text(printable(f"stored {line}")), highlight=False, soft_wrap=True)
    for line in getattr(report, "list_benign", ()):  # operator lists on known-benign infrastructure, or covering too much
        console.print(Text(printable(f"warning: list {line}"), style="yellow"), highlight=False, soft_wrap=True)
    if report.suppressed_trusted:
        console.print(f"{report.suppressed_trusted} occurrences suppressed by trusted IP lists", highlight=False)
    if report.late_rows:  # the logs were out of order by more than the allowed lateness
        console.print(f"{report.late_rows:,} rows came more than the allowed lateness behind the newest events: behaviour windows "
                      "may have been judged without them", highlight=False)
    rows = Counter((severity_label(f["severity"]), f["type"]) for f in findings)
    counts = Counter()
    for f in findings:
        counts[(severity_label(f["severity"]), f["type"])] += int(f["service"].get("count", 1))
    table = Table(title=f"Findings ({len(findings)} in this scan, {stored} in the store)", title_justify="left")
    table.add_column("Severity")
    table.add_column("Type")
    table.add_column("Findings", justify="right")
    table.add_column("Occurrences", justify="right")
    for (sev, ftype), n in sorted(rows.items(), key=lambda kv: (_SEVERITY_ORDER[kv[0][0]], kv[0][1])):
        table.add_row(f"[{_SEVERITY_STYLE[sev]}]{sev}[/]", ftype, str(n), str(counts[(sev, ftype)]))
    if not rows:
        table.add_row("-", "no findings", "0", "0")
    console.print(table)


def print_usage(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    table = Table(title="Usage (GuardDuty billing units)", title_justify="left")
    for col in ("Month", "Account", "Source", "Events", "Bytes"):
        table.add_column(col, justify="right" if col in ("Events", "Bytes") else "left")
    for r in rows:
        table.add_row(r["month"], Text(printable(r["accountId"])), r["source"], f"{r['events']:,}", f"{r['bytes']:,}")  # account ids come from the logs
    console.print(table)
    from trailhound.pricing import estimate

    cost = Table(title="What GuardDuty would bill for this analysis (US East list prices, USD)", title_justify="left")
    for col in ("Month", "Account", "CloudTrail", "S3 data", "Flow + DNS", "Total"):
        cost.add_column(col, justify="left" if col in ("Month", "Account") else "right")
    for e in estimate(rows):
        cost.add_row(e["month"], Text(printable(e["accountId"])), f"{e['cloudtrail']:.2f}", f"{e['s3data']:.2f}", f"{e['flowDns']:.2f}", f"{e['total']:.2f}")
    console.print(cost)


def print_findings(console: Console, findings: Sequence[dict[str, Any]]) -> None:
    """One line per finding: severity, type, title, occurrences."""
    for f in sorted(findings, key=lambda f: (-f["severity"], f["type"])):
        sev = severity_label(f["severity"])
        count = f["service"].get("count", 1)
        line = f"{f['type']:<52} {f['title']}" + (f"  (x{count})" if count > 1 else "")  # titles quote log content
        say(console, f"{sev:<8}", _SEVERITY_STYLE[sev], line)
