"""Output paths, checked before any work: a typo in ``-o`` must cost a second, not a finished scan.

Each check proves writability by doing it (opening the file, creating the folder): permission bits
do not tell the truth to root, on read-only mounts or under /proc.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def file_problem(path: Path) -> str | None:
    """Why a file cannot be written at `path`, or None. Nothing is left behind by the check."""
    if path.is_dir():
        return "is a folder, not a file"
    parent = path.parent
    if not parent.is_dir():
        return f"folder {parent} does not exist" if not parent.exists() else f"{parent} is not a folder"
    existed = os.path.lexists(path)
    try:
        if existed and not path.is_file():  # a device or pipe (/dev/stdout): opening it could block
            return None if os.access(path, os.W_OK) else "not writable"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | (0 if existed else os.O_CREAT | os.O_EXCL), 0o666)
        os.close(fd)
        if not existed:
            os.unlink(path)
    except OSError as exc:
        return f"cannot write it: {exc.strerror or exc}"
    return None


def folder_problem(path: Path) -> str | None:
    """Why files cannot be written into folder `path`, or None; the folder is created if missing."""
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"cannot write there: {exc.strerror or exc}"
    return None
