"""Where bytes come from: local files and folders, plain or gzipped.

Files are read whole (log objects are small: CloudTrail and flow-log deliveries are a few MB)
and gunzipped with ISA-L, about 2x stdlib zlib per core. A damaged gzip stream does not lose
what precedes the damage: the readable prefix is returned with an error message, and the
line-oriented formats keep every complete line of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # ISA-L is a hard dependency, but keep stdlib as a safety net for exotic platforms
    from isal import igzip as _gzip
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    import gzip as _gzip  # type: ignore[no-redef]
    import zlib as _zlib  # type: ignore[no-redef]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 16384  # compressed bytes fed to zlib at a time when salvaging a damaged stream
# Names that are never logs: skip silently instead of quarantining them.
_IGNORED_SUFFIXES = (".md", ".txt.sig", ".sha256", ".sig", ".pdf", ".png", ".zip", ".tar", ".xz", ".pcap")
_IGNORED_NAMES = {"LICENSE", "LICENSE.md", "LICENSE.txt", "SOURCE.md", "README.md", ".DS_Store"}


@dataclass(slots=True)
class RawFile:
    path: Path
    data: bytes  # decompressed content (or the readable prefix of a damaged gzip)
    stored_size: int  # bytes on disk
    fingerprint: str  # content hash of the stored bytes: identifies the file across renames
    error: str | None = None  # set when the file could not be read completely


def walk(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Every file under the given files and folders, recursively, in a stable order."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name in _IGNORED_NAMES or name.startswith(".") or name.endswith(_IGNORED_SUFFIXES):
                        continue
                    yield Path(root) / name
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")


def gunzip(stored: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; on damage return the readable prefix and the reason."""
    try:
        return _gzip.decompress(stored), None
    except (EOFError, OSError, _zlib.error) as exc:
        reason = str(exc) or type(exc).__name__
    # Feed the stream in small chunks so that what decompressed before the damage is kept even
    # when zlib raises (corrupt block, CRC mismatch): one call on the whole stream would lose it all.
    out: list[bytes] = []
    rest = stored
    while rest[:2] == GZIP_MAGIC:
        dec = _zlib.decompressobj(wbits=31)
        pos = 0
        try:
            while pos < len(rest) and not dec.eof:
                chunk = rest[pos : pos + _CHUNK]
                pos += len(chunk)
                out.append(dec.decompress(chunk))
        except _zlib.error as exc:
            reason = str(exc) or type(exc).__name__
            break
        if not dec.eof:
            reason = "truncated gzip stream"
            break
        rest = dec.unused_data + rest[pos:]
    else:
        if rest:  # every member ended cleanly: the damage is what follows them
            reason = f"{len(rest)} bytes of non-gzip data after the gzip stream"
    data = b"".join(out)
    return data, f"{reason} (kept the first {len(data)} readable bytes)"


def read(path: Path) -> RawFile:
    stored = path.read_bytes()
    # Size + CRC32 identifies a file's content well enough to notice a rewrite, at ~10 GB/s with
    # ISA-L (a cryptographic digest would cost a third of the flow-log parse time).
    fingerprint = f"{len(stored)}-{_zlib.crc32(stored):08x}"
    if stored[:2] == GZIP_MAGIC:
        data, error = gunzip(stored)
        return RawFile(path, data, len(stored), fingerprint, error)
    return RawFile(path, stored, len(stored), fingerprint)


def peek(path: Path, size: int = 16384) -> bytes:
    """The first decompressed bytes of a file, for format sniffing and time estimates."""
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == GZIP_MAGIC:
            try:
                with _gzip.GzipFile(fileobj=fh) as gz:
                    return gz.read(size)
            except (EOFError, OSError, _zlib.error):
                fh.seek(0)  # GzipFile has moved the file position: salvage from the start
                return gunzip(fh.read())[0][:size]
        return fh.read(size)
