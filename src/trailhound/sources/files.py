"""Where bytes come from: local files and folders, plain or gzipped.

Only regular files are read: a FIFO would hang the scan, a device (``/dev/zero``) never ends, a
symlink loop never resolves — each is skipped with a line saying why. Files are read whole (log
objects are small: CloudTrail and flow-log deliveries are a few MB) and gunzipped with ISA-L, about
2x stdlib zlib per core, but never past a size limit: a gzip bomb or a 10 GB file costs itself (a
named reason), not the scan's memory. A damaged gzip stream does not lose what precedes the damage:
the readable prefix is returned with an error message, and the parsers keep every complete line or
CloudTrail record of it.
"""

from __future__ import annotations

import errno
import os
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    fingerprint: str  # length and CRC of the decompressed content: the same log under another name or compression
    error: str | None = None  # set when the file could not be read completely
    too_large: bool = False  # over the size limit: nothing of it was kept
    stored_fingerprint: str = ""  # the same of the bytes on disk (how stores before 2026-12 named content)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for the line that says it was skipped (None: a regular file)."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def ignored(name: str) -> bool:
    """A name that is never a log (a README, a signature, a dotfile): passed over without a word."""
    return name in _IGNORED_NAMES or name.startswith(".") or name.endswith(_IGNORED_SUFFIXES)


def walk(paths: Iterable[str | os.PathLike[str]], skipped: list[tuple[str, str]] | None = None) -> Iterator[Path]:
    """Every regular file under the given files and folders, recursively, in a stable order, as an
    absolute path with symlinks resolved (one stat each). What is not read — FIFOs, devices, sockets,
    symlink loops, unreadable entries — goes to ``skipped`` as (path, why). Symlinked folders are not
    followed (a loop of them would never end); a path that does not exist at all is an error."""
    skipped = skipped if skipped is not None else []
    folders: dict[str, Path] = {}  # folder -> its canonical path: realpath walks every component, once per folder is enough
    for p in paths:
        path = os.fspath(p)
        try:
            mode = os.lstat(path).st_mode  # a plain file (the usual case) needs no second look
            if stat.S_ISREG(mode):
                yield _in_folder(path, folders)
                continue
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            if os.path.lexists(path):
                skipped.append((str(path), "a symlink to nothing"))
                continue
            raise FileNotFoundError(f"{path}: no such file or folder") from None
        except OSError as exc:
            skipped.append((str(path), f"cannot be read ({exc.strerror or exc})"))  # e.g. a symlink loop
            continue
        if stat.S_ISDIR(mode):
            yield from _walk_dir(Path(os.path.realpath(path)), skipped)
        elif (kind := _kind(mode)) is not None:
            skipped.append((str(path), f"{kind}, not a log file"))
        elif os.path.islink(path):
            yield Path(os.path.realpath(path))
        else:
            yield _in_folder(path, folders)


def _in_folder(path: str, folders: dict[str, Path]) -> Path:
    """A file's canonical path: its folder as given, resolved once (``folders``) whatever the file, and its name."""
    folder, name = os.path.split(path)
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = Path(os.path.realpath(folder or "."))
    return _child(real, name)


# A folder's entry as a Path without parsing the folder's part again (Path(str) costs ~3 µs on a deep AWS
# prefix, a child of a parsed folder ~0.3: a day of AWS deliveries is tens of thousands of files).
_child = getattr(Path, "_make_child_relpath", Path.joinpath)


def _listed(root: Path, skipped: list[tuple[str, str]]) -> Iterator[os.DirEntry[str]]:
    try:
        return iter(sorted(os.scandir(root), key=lambda e: e.name))
    except OSError as exc:
        skipped.append((str(root), f"cannot be listed ({exc.strerror or exc})"))
        return iter(())


def _walk_dir(root: Path, skipped: list[tuple[str, str]]) -> Iterator[Path]:
    """Depth first, in name order, with a stack of its own: a folder nested thousands deep is no recursion limit."""
    stack = [(root, _listed(root, skipped))]
    while stack:
        folder, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        if ignored(entry.name):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                sub = _child(folder, entry.name)
                stack.append((sub, _listed(sub, skipped)))
                continue
            mode = entry.stat(follow_symlinks=True).st_mode
        except OSError as exc:
            skipped.append((entry.path, f"cannot be read ({exc.strerror or exc})"))
            continue
        if stat.S_ISDIR(mode):
            continue  # a symlink to a folder: not followed
        if (kind := _kind(mode)) is not None:
            skipped.append((entry.path, f"{kind}, not a log file"))
            continue
        yield Path(os.path.realpath(entry.path)) if entry.is_symlink() else _child(folder, entry.name)


def gunzip(stored: bytes, limit: int | None = None) -> tuple[bytes, str | None]:
    """Decompress every gzip member; on damage return the readable prefix and the reason (a prefix
    past ``limit`` bytes is cut there)."""
    try:
        if limit is None:
            return _gzip.decompress(stored), None
        raise EOFError("bounded")  # a limit: go the chunked way, which can stop at it
    except (EOFError, OSError, _zlib.error) as exc:
        reason = str(exc) or type(exc).__name__
    # Feed the stream in small chunks so that what decompressed before the damage is kept even
    # when zlib raises (corrupt block, CRC mismatch): one call on the whole stream would lose it all.
    # (stdlib zlib here, the damaged path only: its decompressor can be copied, see _feed.)
    out: list[bytes] = []
    total = 0
    rest = stored
    while rest[:2] == GZIP_MAGIC:
        dec = zlib.decompressobj(wbits=31)
        pos = 0
        try:
            while pos < len(rest) and not dec.eof:
                chunk = rest[pos : pos + _CHUNK]
                pos += len(chunk)
                dec = _feed(dec, chunk, out)
                total += len(out[-1])
                if limit is not None and total > limit:
                    break
        except zlib.error as exc:
            reason = str(exc) or type(exc).__name__
            break
        if not dec.eof:
            reason = "truncated gzip stream"
            break
        rest = dec.unused_data + rest[pos:]
    else:
        if rest.strip(b"\0"):  # every member ended cleanly: the damage is what follows them (zero padding is none)
            reason = f"{len(rest)} bytes of non-gzip data after the gzip stream"
    data = b"".join(out)
    return data, f"{reason} (kept the first {len(data)} readable bytes)"


def _feed(dec: Any, chunk: bytes, out: list[bytes]) -> Any:
    """``chunk`` into ``dec``, its output appended to ``out``; returns the decompressor to go on with.
    On damage zlib raises and drops what the call had decoded, up to a whole chunk (all of a small
    file): so the chunk is fed again a byte at a time from the state before it, and every byte that
    precedes the damage is in ``out`` when the error propagates."""
    before = dec.copy()
    try:
        out.append(dec.decompress(chunk))
        return dec
    except zlib.error:
        for i in range(len(chunk)):
            out.append(before.decompress(chunk[i : i + 1]))  # raises at the damaged byte
        return before


def _too_large(limit: int) -> str:
    return f"larger than {limit / 1e6:,.0f} MB decompressed (the limit, --max-file-mb), not read"


def _inflate(stored: bytes, limit: int) -> tuple[bytes, str | None, bool]:
    """Every gzip member, stopping at ``limit`` decompressed bytes: (data, error, over the limit)."""
    out: list[bytes] = []
    size = 0
    rest = stored
    try:
        while rest[:2] == GZIP_MAGIC:
            dec = _zlib.decompressobj(wbits=31)
            chunk = dec.decompress(rest, limit - size + 1)
            size += len(chunk)
            if size > limit:
                return b"", _too_large(limit), True
            out.append(chunk)
            if not dec.eof:
                raise EOFError("truncated gzip stream")
            rest = dec.unused_data
    except (EOFError, OSError, _zlib.error):
        data, error = gunzip(stored, limit)  # damaged: salvage the readable prefix, no further than the limit
        return (b"", _too_large(limit), True) if len(data) > limit else (data, error, False)
    if rest.strip(b"\0"):  # zeros after the last member pad it, as tapes and some writers do: gzip and ISA-L skip them too
        data = b"".join(out)
        return data, f"{len(rest)} bytes of non-gzip data after the gzip stream (kept the first {len(data)} readable bytes)", False
    return b"".join(out), None, False


def open_regular(path: Path) -> int:
    """A descriptor of ``path`` if it is (still) a regular file: one swapped for a FIFO or a device after it was walked
    would block the scan at its open, or never end (non-blocking open, then the opened file's own type)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file (it changed after the scan listed it)", str(path))
    return fd


def read(path: Path, limit: int | None = None) -> RawFile:
    """A file's content, decompressed; with ``limit`` (bytes), a larger file is not kept (``too_large``)."""
    fd = open_regular(path)  # os-level: a buffered file object costs more than reading a small log
    try:
        size = os.fstat(fd).st_size
        if limit is not None and size > limit:  # compressed or not, more than the limit on disk is too much to hold
            return RawFile(path, b"", size, f"{size}-toolarge", _too_large(limit), too_large=True)
        stored = _read_all(fd, size)
    finally:
        os.close(fd)
    return decode(path, stored, limit)


def decode(path: Path, stored: bytes, limit: int | None = None) -> RawFile:
    """A file's content from its stored bytes (as ``read`` gives it; the follower's fetcher has the bytes in hand)."""
    # Size + CRC32 identifies a file's content well enough to notice a rewrite, at ~10 GB/s with
    # ISA-L (a cryptographic digest would cost a third of the flow-log parse time). Of the content,
    # not the stored bytes: a log gunzipped or re-compressed after a scan is the same log.
    stored_fp = fingerprint(stored)
    if stored[:2] == GZIP_MAGIC:
        if limit is None:
            data, error = gunzip(stored)
            return RawFile(path, data, len(stored), fingerprint(data), error, stored_fingerprint=stored_fp)
        data, error, over = _inflate(stored, limit)
        return RawFile(path, data, len(stored), fingerprint(data) if not over else f"{len(stored)}-toolarge", error, too_large=over,
                       stored_fingerprint=stored_fp)
    return RawFile(path, stored, len(stored), stored_fp, stored_fingerprint=stored_fp)


def _read_all(fd: int, size: int) -> bytes:
    """The whole file: one read when its size is right, more when it grew since it was measured."""
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    parts = [data]
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def fingerprint(data: bytes) -> str:
    return f"{len(data)}-{_zlib.crc32(data):08x}"


def extends(data: bytes, fingerprint_: str) -> int:
    """How many leading bytes of ``data`` are the content ``fingerprint_`` names, when ``data`` is that
    content with more after it (a log appended to); else 0."""
    size, _, crc = fingerprint_.partition("-")
    if not size.isdigit() or not 0 < int(size) < len(data):
        return 0
    n = int(size)
    return n if f"{_zlib.crc32(data[:n]):08x}" == crc else 0


def peek(path: Path, size: int = 16384) -> bytes:
    """The first decompressed bytes of a file, for format sniffing and time estimates."""
    fd = open_regular(path)
    try:
        stored = os.read(fd, 4 * size)  # plenty for `size` bytes of any log that compresses at all
    finally:
        os.close(fd)
    if stored[:2] != GZIP_MAGIC:
        return stored[:size]
    out: list[bytes] = []
    have = 0
    rest = stored
    # One decompressor call per member, not a GzipFile: planning peeks at every file of an estate. Stdlib zlib,
    # not ISA-L: on a damaged stream ISA-L decodes on where zlib stops (it finds out at the checksum), and what
    # a file's damaged read keeps is zlib's prefix (``gunzip``): a peek must be the start of what is read.
    try:
        while rest[:2] == GZIP_MAGIC and have < size:
            dec = zlib.decompressobj(wbits=31)
            out.append(dec.decompress(rest, size - have))
            have += len(out[-1])
            if not dec.eof:
                break
            rest = dec.unused_data
        return b"".join(out)[:size]
    except zlib.error:
        return gunzip(stored, size)[0][:size]  # damaged: what precedes the damage (within what was read: never the whole file)
