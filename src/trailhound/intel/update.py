"""Refresh threat intelligence from its sources into the user's data directory (``intel.paths``).

``update(sources, dest_dir)`` fetches each ``SourceSpec`` — a local path or an http(s) URL,
optionally ``FORMAT:``-prefixed — checks that it parses as a list with at least one entry, and
only then replaces the stored copy (write to a temporary file, then ``os.replace``: a reader
never sees half a file, and a failed fetch or an empty/garbled download leaves the previous
copy in place). ``manifest.json`` in the same directory records, per source: where it came from,
when, the format, entry and problem counts, SHA-256 and size.

``intel.builtin.builtin_index()`` then serves every category that has a refreshed source from the refreshed
copies instead of the packaged snapshot. ``default_sources()`` mirrors the packaged lists from
their upstreams (so refreshing them all replaces every packaged category); ``extra_sources()``
are feeds that may not be redistributed and so are not packaged, but may be fetched by the user.

Nothing here touches the network at import time; fetching uses only ``urllib`` with a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trailhound.intel.builtin import builtin_index, packaged_manifest
from trailhound.intel.formats import parse, split_spec
from trailhound.intel.index import Category
from trailhound.intel.paths import MANIFEST, default_data_dir, read_manifest
from trailhound.sources.files import GZIP_MAGIC

MAX_BYTES = 64 << 20  # GuardDuty caps a list file at 35 MB; leave room for gzip-less feeds
USER_AGENT = "trailhound-intel-update/0.1"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class SourceSpec:
    """One list to refresh.

    ``name`` names the stored file (letters, digits, ``._-``); ``location`` is a path or an
    http(s) URL, optionally ``FORMAT:``-prefixed (``stix:https://...``); ``category`` decides
    the finding type; the list is called ``list_name`` in findings (default
    ``TrailhoundBuiltin:<name>``, or ``<name>`` for CUSTOM); ``threat_name`` is given to
    indicators whose source names no threat; ``ip_category`` files the list's addresses under
    another category (a DGA family list that also names C&C IPs)."""

    name: str
    location: str
    category: Category
    format: str | None = None
    threat_name: str | None = None
    list_name: str | None = None
    ip_category: Category | None = None

    def resolved_list_name(self) -> str:
        if self.list_name:
            return self.list_name
        return self.name if Category(self.category) is Category.CUSTOM else f"TrailhoundBuiltin:{self.name}"


@dataclass
class SourceResult:
    name: str
    location: str
    ok: bool
    entries: int = 0
    problems: int = 0
    error: str | None = None
    path: Path | None = None  # the stored copy (the previous one when this refresh failed)
    kept_previous: bool = False  # the refresh failed and an earlier copy is still in use


@dataclass
class UpdateReport:
    dest_dir: Path
    results: list[SourceResult] = field(default_factory=list)

    @property
    def ok(self) -> list[SourceResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if not r.ok]

    def lines(self) -> list[str]:
        out = []
        for r in self.results:
            if r.ok:
                out.append(f"{r.name}: {r.entries} entries, {r.problems} problems <- {r.location}")
            else:
                keep = " (previous copy kept)" if r.kept_previous else ""
                out.append(f"{r.name}: FAILED {r.error}{keep} <- {r.location}")
        return out


def _is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def fetch(location: str, timeout: float = 60.0, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes at a local path or an http(s) URL. Raises OSError (URLError/HTTPError are
    OSErrors) or ValueError (too big, unsupported scheme)."""
    if _is_url(location):
        req = urllib.request.Request(location, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            data = resp.read(max_bytes + 1)
    elif "://" in location:
        raise ValueError(f"unsupported URL scheme in '{location}' (http, https or a local path)")
    else:
        path = Path(location)
        if path.stat().st_size > max_bytes:
            raise ValueError(f"larger than {max_bytes} bytes")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update(sources: Iterable[SourceSpec], dest_dir: Path | str | None = None, *, timeout: float = 60.0,
           max_bytes: int = MAX_BYTES) -> UpdateReport:
    """Fetch, validate and store every source; see the module docstring."""
    dest = Path(dest_dir) if dest_dir is not None else default_data_dir()
    report = UpdateReport(dest)
    specs = list(sources)
    seen: set[str] = set()
    for spec in specs:
        if not _NAME_RE.match(spec.name):
            raise ValueError(f"source name '{spec.name}' must be letters, digits, '.', '_' or '-'")
        if spec.name in seen:
            raise ValueError(f"source name '{spec.name}' given twice")
        seen.add(spec.name)
    manifest = read_manifest(dest)
    stored: dict[str, Any] = manifest["sources"]
    for spec in specs:
        forced, location = split_spec(spec.location)
        fmt = spec.format or forced
        previous = stored.get(spec.name)
        prev_path = dest / previous["file"] if previous and (dest / previous.get("file", "")).is_file() else None
        result = SourceResult(spec.name, spec.location, ok=False, path=prev_path, kept_previous=prev_path is not None)
        report.results.append(result)
        try:
            data = fetch(location, timeout=timeout, max_bytes=max_bytes)
        except urllib.error.HTTPError as exc:
            result.error = f"HTTP {exc.code} {exc.reason}"
            continue
        except urllib.error.URLError as exc:
            result.error = f"cannot fetch: {exc.reason}"
            continue
        except (OSError, ValueError) as exc:
            result.error = f"cannot fetch: {exc}"
            continue
        load = parse(data, name=spec.resolved_list_name(), path=location, format=fmt)
        result.problems = load.problem_count
        if load.fatal or load.entries == 0:
            first = f": {load.problems[0].message}" if load.problems else ""
            result.error = f"not a usable {load.format} list (no entries{first})"
            continue
        file = f"lists/{spec.name}" + (".gz" if data[:2] == GZIP_MAGIC else "")
        _atomic_write(dest / file, data)
        if previous and previous.get("file") != file:
            (dest / previous["file"]).unlink(missing_ok=True)
        stored[spec.name] = {
            "location": spec.location,
            "category": Category(spec.category).value,
            "ip_category": Category(spec.ip_category).value if spec.ip_category else None,
            "list_name": spec.resolved_list_name(),
            "threat_name": spec.threat_name,
            "format": load.format,
            "file": file,
            "fetched": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "entries": load.entries,
            "ips": load.ips,
            "networks": load.networks,
            "domains": load.domains,
            "skipped": load.skipped,
            "problems": load.problem_count,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        _atomic_write(dest / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
        result.ok, result.entries, result.path, result.kept_previous = True, load.entries, dest / file, False
    builtin_index.cache_clear()  # the next builtin_index() sees the new copies
    return report


def default_sources() -> list[SourceSpec]:
    """Every packaged list, from its upstream: each maltrail family file of each packaged group
    (same list names and threat names as the packaged copy), the SecOps Tor relay list, and the
    Tor Project's own bulk exit list for exit nodes (the SecOps exit list stopped in 2024)."""
    out: list[SourceSpec] = []
    for entry in packaged_manifest()["lists"]:
        if entry["category"] == "mixed":
            continue
        if entry["name"] == "tor-exit-nodes":
            out.append(SourceSpec("tor-exit-nodes", "TXT:https://check.torproject.org/torbulkexitlist", Category.TOR_EXIT,
                                  threat_name="tor-exit-nodes", list_name=entry["list_name"]))
            continue
        ip_cat = Category(entry["ip_category"]) if entry.get("ip_category") else None
        for m in entry["members"]:
            out.append(SourceSpec(f"{entry['name']}.{m['threat_name']}", f"TXT:{m['url']}", Category(entry["category"]),
                                  threat_name=m["threat_name"], list_name=entry["list_name"], ip_category=ip_cat))
    return out


def extra_sources() -> list[SourceSpec]:
    """Feeds not shipped in the package (licence: see data/manifest.json "refused"), which a user
    may fetch for their own use: ipsum level 3 (IPs on 3 or more block lists) as MALICIOUS."""
    return [
        SourceSpec("ipsum-level3", "TXT:https://raw.githubusercontent.com/stamparm/ipsum/master/levels/3.txt",
                   Category.MALICIOUS, threat_name="ipsum"),
    ]


def spec_dict(spec: SourceSpec) -> dict[str, Any]:
    """A SourceSpec as plain data (for a config file)."""
    d = asdict(spec)
    d["category"] = Category(spec.category).value
    d["ip_category"] = Category(spec.ip_category).value if spec.ip_category else None
    return d
