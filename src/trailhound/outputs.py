"""Output paths, checked before any work: a typo in ``-o`` must cost a second, not a finished scan.

Each check proves writability by doing it (opening the file, creating the folder): permission bits
do not tell the truth to root, on read-only mounts or under /proc.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
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


# A findings export (``scan -o``, ``sample-findings -o``) is JSON lines of GuardDuty findings, each
# line an object that opens with ``{"schemaVersion":`` and carries the finding's GuardDuty ARN.
_EXPORT_HEAD = b'{"schemaVersion":'
_EXPORT_LINE_MAX = 1 << 20  # a first line longer than this is not one finding
_SQLITE_MAGIC = b"SQLite format 3\x00"


def is_findings_line(line: bytes) -> bool:
    """Whether `line` is one finding as a findings export writes it."""
    import orjson

    if not line.startswith(_EXPORT_HEAD):
        return False
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    arn = doc.get("arn") if isinstance(doc, dict) else None
    return isinstance(arn, str) and ":guardduty:" in arn and "/finding/" in arn and isinstance(doc.get("id"), str) and isinstance(doc.get("type"), str)


def overwrite_problem(path: Path) -> str | None:
    """Why findings must not be written over what is at `path`, or None: nothing or an empty file is
    there, or a previous findings export (overwritten). Devices and pipes are ``file_problem``'s."""
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
        with open(path, "rb") as fh:
            head = fh.read(_EXPORT_LINE_MAX + 1)
    except OSError as exc:
        return f"cannot read what is there: {exc.strerror or exc}"
    line, newline, _ = head.partition(b"\n")
    if (newline or len(head) <= _EXPORT_LINE_MAX) and is_findings_line(line):
        return None
    what = "a SQLite database" if head.startswith(_SQLITE_MAGIC) else "a file"
    return f"{what} that is not a findings export is there; left untouched (remove it, or give another file)"


def input_problem(path: Path, inputs: Iterable[Path]) -> str | None:
    """Why `path` must not be written: it is one of the inputs, or lies inside a folder that is; else None."""
    target = path.resolve()
    for given in inputs:
        source = given.resolve()
        same = target == source or (target.exists() and source.exists() and os.path.samefile(target, source))
        if same or target.is_relative_to(source):
            return f"is {'one of the inputs' if same else 'inside an input folder'} ({given}); give the output another place"
    return None
