"""Where refreshed intelligence is kept, and which refreshed lists are there.

``intel.update`` writes the copies and their ``manifest.json``; ``intel.builtin`` reads them. Both
need this, and neither should import the other for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
ENV_DIR = "TRAILHOUND_INTEL_DIR"


def default_data_dir() -> Path:
    """``$TRAILHOUND_INTEL_DIR``, else ``<platformdirs user_data_dir('trailhound')>/intel``."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("trailhound")) / "intel"


def read_manifest(dest_dir: Path) -> dict[str, Any]:
    try:
        doc = json.loads((Path(dest_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return {"schema": 1, "sources": {}}
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        return {"schema": 1, "sources": {}}
    return doc


def refreshed_sources(dest_dir: Path) -> list[dict[str, Any]]:
    """Manifest entries of the refreshed lists whose file is present, with ``path`` absolute."""
    dest_dir = Path(dest_dir)
    out = []
    for name, entry in sorted(read_manifest(dest_dir)["sources"].items()):
        path = dest_dir / entry.get("file", "")
        if entry.get("file") and path.is_file():
            out.append({**entry, "name": name, "path": str(path)})
    return out
