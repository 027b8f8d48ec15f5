"""IPSets and ThreatIntelSets kept in the store (made through the API): reading them from where their
``location`` says, and the scan's use of the ACTIVE ones.

A location is one of:

* a local path or ``file://`` URL — only inside the lists folder (``TRAILHOUND_LISTS_DIR``, default
  ``<user data dir>/lists``): the API is reachable over the network and must not become a way to
  read the server's files (its master key, /etc, another store);
* ``s3://bucket/key`` or an S3 https URL (``https://s3.amazonaws.com/bucket/key``, path or
  virtual-hosted style, with or without a region) — read with botocore's usual credential chain,
  from ``TRAILHOUND_S3_ENDPOINT`` when set (MinIO, Ceph, ...). No other host is fetched: a list
  location is not a way to make the server call arbitrary URLs.

Files are capped as GuardDuty caps them (35 MB, and what they decompress to), and so are entries
(2,000 in a trusted list, 250,000 in a threat list).

A list belongs to a detector (an account and region) and, like a suppression rule, applies to that
account's findings in that region and to those of the accounts it administers — never to another
account's: a scan reads the logs of many accounts, so out-of-scope hits are taken back in the
aggregator (``ScopedLists``) rather than by giving every account an index of its own.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from platformdirs import user_data_dir
from sqlalchemy import Connection, select

from trailhound.findings.model import Occurrence
from trailhound.formats.base import Problem
from trailhound.intel.formats import ListLoad, parse
from trailhound.intel.guard import refusal
from trailhound.intel.index import Category, IntelIndex
from trailhound.sources.files import GZIP_MAGIC
from trailhound.store import tables as t

MAX_FILE_BYTES = 35 * 1024 * 1024  # GuardDuty's largest list file
MAX_UNPACKED_BYTES = 4 * MAX_FILE_BYTES  # a gzip bomb is refused, not inflated
MAX_ENTRIES = {"ipset": 2_000, "threatintelset": 250_000}
LISTS_DIR_ENV, S3_ENDPOINT_ENV = "TRAILHOUND_LISTS_DIR", "TRAILHOUND_S3_ENDPOINT"

# S3's https forms: s3.amazonaws.com/b/k, s3.<region>.amazonaws.com/b/k, s3-<region>..., b.s3[.<region>].amazonaws.com/k
_S3_PATH_HOST = re.compile(r"s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?")
_S3_VHOST = re.compile(r"(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class LocationError(ValueError):
    """A location that is refused outright (never read): its message is safe to return to the caller."""


class FetchError(ValueError):
    """A location that could not be read (missing, too big, denied)."""


@dataclass(frozen=True)
class Location:
    path: Path | None = None  # a local file, inside the lists folder
    bucket: str = ""
    key: str = ""

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"s3://{self.bucket}/{self.key}"


def lists_dir() -> Path:
    return Path(os.environ.get(LISTS_DIR_ENV) or Path(user_data_dir("trailhound", appauthor=False)) / "lists")


def locate(location: str) -> Location:
    """Where a list lives, or LocationError saying why it may not be read."""
    if "\x00" in location or any(ord(ch) < 32 for ch in location):
        raise LocationError("The location holds control characters.")
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        return _s3(parts.netloc, unquote(parts.path.lstrip("/")))
    if scheme == "https":
        host = (parts.hostname or "").lower()
        if _S3_PATH_HOST.fullmatch(host):
            bucket, _, key = unquote(parts.path.lstrip("/")).partition("/")
            return _s3(bucket, key)
        if m := _S3_VHOST.fullmatch(host):
            return _s3(m["bucket"], unquote(parts.path.lstrip("/")))
        raise LocationError("Only S3 URLs (s3://bucket/key, https://s3.amazonaws.com/bucket/key) and files in the lists folder are read.")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise LocationError("A file:// location names a file on this server (file:///path).")
        return Location(path=_inside_lists_dir(unquote(parts.path)))
    if scheme and len(scheme) > 1:  # (a one-letter scheme is a Windows drive)
        raise LocationError(f"Locations with scheme {scheme[:20]!r} are not read.")
    return Location(path=_inside_lists_dir(location))


def _s3(bucket: str, key: str) -> Location:
    if not _BUCKET.fullmatch(bucket) or not key:
        raise LocationError("The S3 location must name a bucket and an object key.")
    return Location(bucket=bucket, key=key)


def _inside_lists_dir(text: str) -> Path:
    root = lists_dir().resolve()
    given = Path(text)
    path = (given if given.is_absolute() else root / given).resolve()  # symlinks and '..' resolved before the check
    if path != root and root not in path.parents:
        raise LocationError(f"A local list must be inside the lists folder ({LISTS_DIR_ENV}); this location is outside it.")
    return path


def fetch(where: Location, expected_owner: str | None = None) -> bytes:
    """The list file's bytes (at most MAX_FILE_BYTES), or FetchError."""
    if where.path is not None:
        return _read_local(where.path)
    return _read_s3(where.bucket, where.key, expected_owner)


def _read_local(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))  # non-blocking: a FIFO must not hang the API
    except OSError as exc:
        raise FetchError(f"The list file cannot be opened: {exc.strerror or type(exc).__name__}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FetchError("The location is not a regular file.")
        if info.st_size > MAX_FILE_BYTES:
            raise FetchError(f"The list file is {info.st_size:,} bytes, over the limit of {MAX_FILE_BYTES:,}.")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:  # grew since fstat
        raise FetchError(f"The list file is over the limit of {MAX_FILE_BYTES:,} bytes.")
    return data


def _read_s3(bucket: str, key: str, expected_owner: str | None) -> bytes:
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    session = botocore.session.get_session()
    client = session.create_client("s3", endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None,
                                   config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}))
    extra = {"ExpectedBucketOwner": expected_owner} if expected_owner else {}
    try:
        # one ranged GET: the size comes back with the first bytes, and no more than the limit is ever sent
        answer = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_FILE_BYTES}", **extra)
        total = int((answer.get("ContentRange") or "/0").rsplit("/", 1)[-1] or 0) or answer.get("ContentLength", 0)
        if total > MAX_FILE_BYTES:
            answer["Body"].close()
            raise FetchError(f"The list object is {total:,} bytes, over the limit of {MAX_FILE_BYTES:,}.")
        data = answer["Body"].read(MAX_FILE_BYTES + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise FetchError(f"The list object s3://{bucket}/{key[:200]} cannot be read: {code}.") from None
    except BotoCoreError as exc:
        raise FetchError(f"The list object s3://{bucket}/{key[:200]} cannot be read: {type(exc).__name__}.") from None
    if len(data) > MAX_FILE_BYTES:
        raise FetchError(f"The list object is over the limit of {MAX_FILE_BYTES:,} bytes.")
    return data


def load(kind: str, name: str, fmt: str, where: Location, expected_owner: str | None = None) -> tuple[ListLoad | None, str | None]:
    """Read and parse a list: (the load, None) when it can be used, (None or the load, why not) otherwise.
    FetchError (unreadable, too big) propagates: the API answers it as a bad request."""
    data = fetch(where, expected_owner)
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data)
    result = parse(data, name=name, path=str(where), format=fmt, vet=refusal)
    if result.too_broad:
        return result, f"{result.coverage[:1].upper()}{result.coverage[1:400]}."
    if result.fatal or not result.entries:
        first = result.problems[0].message if result.problems else "no IP addresses, networks or domains found"
        return result, f"The list file could not be used as {fmt}: {first[:300]}"
    limit = MAX_ENTRIES[kind]
    if result.entries > limit:
        return result, f"The list holds {result.entries:,} entries, over GuardDuty's limit of {limit:,} for this kind of list."
    return result, None


def _gunzip(data: bytes) -> bytes:
    """Every gzip member, inflated no further than MAX_UNPACKED_BYTES (a bomb stops there)."""
    out = bytearray()
    while data[:2] == GZIP_MAGIC:
        inflate = zlib.decompressobj(wbits=31)
        try:
            out += inflate.decompress(data, MAX_UNPACKED_BYTES + 1 - len(out))
        except zlib.error as exc:
            raise FetchError(f"The list file is a damaged gzip ({exc}).") from None
        if len(out) > MAX_UNPACKED_BYTES or inflate.unconsumed_tail:
            raise FetchError(f"The list file decompresses to over {MAX_UNPACKED_BYTES:,} bytes.")
        if not inflate.eof:
            raise FetchError("The list file is a truncated gzip.")
        data = inflate.unused_data
    return bytes(out)


# ---- the scan's side -------------------------------------------------------------------------

Scope = frozenset[tuple[str, str]]  # (account, region) pairs a list applies to


@dataclass
class StoredLists:
    threat: IntelIndex | None = None  # every ACTIVE ThreatIntelSet, each under its own name
    threat_scope: dict[str, Scope] = field(default_factory=dict)  # list name -> where it applies
    trusted: list[tuple[IntelIndex, Scope]] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # one line per list, for the scan summary


def active(conn: Connection) -> tuple[list[Any], dict[str, set[str]]]:
    """The store's ACTIVE sets (with when each last changed) and each administrator's enabled members: what
    ``for_scan`` reads, and all that can change what it returns short of a list file changing in place."""
    s, d, m = t.intel_sets.c, t.detectors.c, t.members.c
    rows = conn.execute(select(s.id, s.kind, s.name, s.format, s.location, d.account_id, d.region, s.updated_at)
                        .join(t.detectors, d.id == s.detector_id).where(s.status == "ACTIVE").order_by(s.created_at, s.id)).all()
    members: dict[str, set[str]] = defaultdict(set)
    if rows:
        for admin, member in conn.execute(select(m.administrator_id, m.account_id).where(m.relationship_status == "Enabled")):
            members[admin].add(member)
    return rows, members


def for_scan(conn: Connection, problems: list[Problem]) -> StoredLists:
    """The store's ACTIVE lists, read now from their locations (a list that cannot be read is a problem, not fatal)."""
    return from_rows(*active(conn), problems)


def from_rows(rows: list[Any], members: dict[str, set[str]], problems: list[Problem]) -> StoredLists:
    out = StoredLists()
    if not rows:
        return out
    owners: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        owners[row.name].add(row.account_id)
    threat = IntelIndex()
    for row in rows:
        scope: Scope = frozenset((a, row.region) for a in (row.account_id, *members[row.account_id]))
        # a name two accounts both use is made distinct, or one's entries would judge the other's events
        name = row.name if len(owners[row.name]) == 1 else f"{row.name} ({row.account_id})"
        try:
            result, why = load(row.kind, name, row.format, locate(row.location))
        except (LocationError, FetchError) as exc:
            result, why = None, str(exc)
        if result is None or why:
            problems.append(Problem(row.location, f"stored {row.kind} {row.name!r} ({row.id}) not used: {why}"))
            continue
        problems.extend(result.problems)
        if row.kind == "threatintelset":
            threat.add(result, Category.CUSTOM, public_only=True)
            out.threat_scope[name] = out.threat_scope.get(name, frozenset()) | scope
        else:
            index = IntelIndex()
            index.add(result, Category.CUSTOM, public_only=True)
            out.trusted.append((index.freeze(), scope))
        kind = "threat list" if row.kind == "threatintelset" else "trusted IP list"
        out.used.append(f"{kind} {name!r} ({result.entries:,} entries, account {row.account_id}, {row.region}, {row.location})")
    out.threat = threat.freeze() if out.threat_scope else None
    return out


@dataclass
class ScopedLists:
    """An aggregator hook: a stored trusted list suppresses what it covers within its scope; a hit on a
    stored threat list outside its scope is taken back (the finding is dropped when nothing else justifies it)."""

    lists: StoredLists
    features: frozenset[str] = frozenset({"CloudTrail", "S3DataEvents", "FlowLogs"})  # as TrustedAddresses: not DNS

    def __call__(self, occ: Occurrence) -> str | None:
        where = (occ.account_id, occ.region)
        if occ.remote_ip and occ.feature_name in self.features:
            for index, scope in self.lists.trusted:
                if where in scope and index.ip(occ.remote_ip):
                    return "trusted"
        details = occ.evidence.threat_intelligence_details if occ.evidence else []
        if not details or not self.lists.threat_scope:
            return None
        scopes = self.lists.threat_scope
        kept = [x for x in details if x.threat_list_name not in scopes or where in scopes[x.threat_list_name]]
        if len(kept) == len(details):
            return None
        if not kept:
            return "another account's threat list"
        occ.evidence.threat_intelligence_details = kept  # type: ignore[union-attr]
        if occ.additional_info.get("threatListName") not in {x.threat_list_name for x in kept}:
            occ.additional_info["threatListName"] = kept[0].threat_list_name
            if kept[0].threat_names:
                occ.additional_info["threatName"] = kept[0].threat_names[0]
        return None


def scan_hooks(lists: StoredLists) -> list[Any]:
    return [ScopedLists(lists)] if lists.trusted or lists.threat_scope else []
