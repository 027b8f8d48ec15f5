"""The intelligence shipped in the package (``intel/data``), and its assembly with refreshed copies.

``data/manifest.json`` lists the packaged lists (see ``intel.build`` for how they are made and
``data/LICENSE.*`` for their licences). Each is a TSV of canonical indicators —
``indicator<TAB>threat names joined by |[<TAB>category]`` — read here without re-validation.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from trailhound.formats.base import Problem
from trailhound.intel.formats import DOMAIN, IP, NET, Indicator, ListLoad, parse
from trailhound.intel.index import Category, IntelIndex
from trailhound.intel.paths import default_data_dir, refreshed_sources
from trailhound.sources.files import read

DATA_DIR = Path(__file__).with_name("data")
PREFIX = "TrailhoundBuiltin:"


@lru_cache(maxsize=1)
def packaged_manifest() -> dict[str, Any]:
    return json.loads((DATA_DIR / "manifest.json").read_text())


def _kind(value: str) -> str:
    if "/" in value:
        return NET
    if ":" in value or (value[-1].isdigit() and value.replace(".", "").isdigit()):
        return IP
    return DOMAIN


def read_tsv(path: Path, list_name: str, category: Category) -> dict[Category, ListLoad]:
    """A packaged TSV list, split by category (a line's third column overrides `category`)."""
    text = read(path).data.decode()
    by_cat: dict[Category, list[Indicator]] = {}
    names_cache: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        parts = line.split("\t")
        value = parts[0]
        raw_names = parts[1] if len(parts) > 1 else ""
        names = names_cache.get(raw_names)
        if names is None:
            names = names_cache[raw_names] = tuple(n for n in raw_names.split("|") if n)
        cat = Category(parts[2]) if len(parts) > 2 and parts[2] else category
        by_cat.setdefault(cat, []).append(Indicator(value, _kind(value), names))
    out = {}
    for cat, inds in by_cat.items():
        kinds = [i.kind for i in inds]
        out[cat] = ListLoad(list_name, path, len(inds), [], "TRAILHOUND_TSV", inds, kinds.count(IP), kinds.count(NET),
                            kinds.count(DOMAIN))
    return out


def build_index(data_dir: Path | None = None) -> IntelIndex:
    """Packaged lists, with every category that has a refreshed copy in `data_dir` taken from
    the refreshed copy (the hand-written lists are always kept). The packaged lists were filtered
    against known-benign infrastructure when they were built (``intel.build``); a refreshed copy is
    filtered here, as it is loaded, against the shipped sets (``intel.benign``)."""
    index = IntelIndex()
    refreshed: list[tuple[ListLoad, dict[str, Any]]] = []
    for entry in refreshed_sources(data_dir if data_dir is not None else default_data_dir()):
        file = Path(entry["path"])
        try:
            raw = read(file)
        except OSError as exc:
            index.problems.append(Problem(str(file), f"refreshed list '{entry['name']}' unreadable: {exc}"))
            continue
        load = parse(raw.data, name=entry["list_name"], path=file, format=entry.get("format"))
        if load.fatal or not load.entries:
            index.problems.append(Problem(str(file), f"refreshed list '{entry['name']}' has no usable entries: ignored"))
            continue
        refreshed.append((load, entry))
    replaced = {Category(e["category"]) for _, e in refreshed}
    manifest = packaged_manifest()
    for entry in manifest["lists"]:
        if entry["category"] != "mixed" and Category(entry["category"]) in replaced and not entry.get("always"):
            continue
        default = Category(entry["category"]) if entry["category"] != "mixed" else Category.CUSTOM
        for cat, load in read_tsv(DATA_DIR / entry["file"], entry["list_name"], default).items():
            index.add(load, cat, public_only=False)  # intel.build kept only public addresses
        if entry.get("benign_filter"):
            index.benign_filtered[entry["list_name"]] = {"when": "build", **entry["benign_filter"]}
    if refreshed:
        from trailhound.intel.benign import FilterStats, shipped_sets

        sets = shipped_sets()
        totals: dict[str, FilterStats] = {}
        for load, entry in refreshed:
            names = (entry["threat_name"],) if entry.get("threat_name") else ()
            ip_cat = Category(entry["ip_category"]) if entry.get("ip_category") else None
            load, demoted, stats = sets.filter_load(load, Category(entry["category"]))
            index.add(load, Category(entry["category"]), default_names=names, ip_category=ip_cat)
            if demoted is not None:  # on a known sinkhole: a black hole, not a C&C server
                index.add(demoted, Category.BLACKHOLE, default_names=names)
            totals.setdefault(load.name, FilterStats()).merge(stats)
        for name, stats in totals.items():
            if stats.total or stats.cut:
                index.benign_filtered[name] = {"when": "load", **stats.as_dict()}
    return index


@lru_cache(maxsize=4)
def builtin_index(data_dir: Path | str | None = None) -> IntelIndex:
    """The intelligence shipped in the package, loaded once per process. A category that was
    refreshed into `data_dir` (default: ``intel.paths.default_data_dir()``) by
    ``intel.update.update`` is served from the refreshed copy instead of the packaged snapshot;
    AWS's guardduty-tester indicators are always included."""
    return build_index(Path(data_dir) if data_dir is not None else None).freeze()
