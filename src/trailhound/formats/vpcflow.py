"""VPC Flow Log text -> columnar ``FlowBatch``.

Flow logs are the biggest source by far, so they are never turned into one Python object per
line: Polars parses the whole file into typed columns in one call. The header line names the
fields (any order, any subset of the v2-v8 fields); a file without a header is read as the
default v2 format, or as AWS's full v5/v7/v8 field order when its lines have exactly that many
fields.

Ragged lines are the one thing Polars would hide (it fills missing trailing fields with null),
so the fast path first checks that the number of separators is exactly what the header implies;
only files that fail a check are walked line by line to set the bad lines aside.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import polars as pl

from trailhound.events import FLOW_COLUMNS, FLOW_FIELDS
from trailhound.formats.base import EARLIEST, EMPTY_TIMES, Kind, Parsed, Problem, Problems, close_problems, latest_plausible
from trailhound.formats.sniff import names_flow_fields

V2_DEFAULT = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
).split()
# AWS's documented order of every field, which is also the order of "all fields" formats.
_ALL_ORDERED = V2_DEFAULT + (
    "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id "
    "pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path ecs-cluster-arn ecs-cluster-name "
    "ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name "
    "ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason"
).split()
_HEADERLESS = {len(V2_DEFAULT): V2_DEFAULT, 29: _ALL_ORDERED[:29], 39: _ALL_ORDERED[:39], 40: _ALL_ORDERED}
_INT_RANGE = {pl.Int32: (-(2**31), 2**31 - 1), pl.Int64: (-(2**63), 2**63 - 1)}
_ASCII_INT = re.compile(r"-?[0-9]+")
_NO_TRAFFIC = ("NODATA", "SKIPDATA")


def _normalize(df: pl.DataFrame, fields: list[str], extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """Rename to FlowBatch columns, drop rows without traffic, add absent fields as nulls (columns
    named in ``extra`` are carried along at the end)."""
    df = df.rename({f: f.replace("-", "_") for f in fields})
    # NODATA/SKIPDATA rows record that nothing (or nothing readable) was captured: no event.
    keep = pl.col("srcaddr").is_not_null() & pl.col("start").is_not_null()
    if "log_status" in df.columns:  # (v8 can log addresses on a NODATA row)
        keep = keep & ~pl.col("log_status").is_in(_NO_TRAFFIC).fill_null(False)
    lazy = df.lazy().filter(keep)
    if not df["start"].is_sorted():
        lazy = lazy.sort("start", maintain_order=True)
    df = lazy.collect()
    # Absent fields become null columns: one null Series per dtype, shared under every name.
    nulls: dict[pl.DataType, pl.Series] = {}
    present = set(df.columns)
    columns = []
    for name, dtype in FLOW_COLUMNS.items():
        if name in present:
            columns.append(df.get_column(name))
        else:
            if dtype not in nulls:
                nulls[dtype] = pl.repeat(None, df.height, dtype=dtype, eager=True)
            columns.append(nulls[dtype].alias(name))
    columns.extend(df.get_column(name) for name in extra)
    # One contiguous chunk per column: every later per-slice operation on a chunked frame costs several times more.
    return pl.DataFrame(columns).rechunk()


def read_frame(body: bytes, fields: list[str]) -> pl.DataFrame:
    """The lines of a flow log, typed by their header (nothing more: the parse floor of bench/bench_pipeline.py)."""
    schema = {f: FLOW_FIELDS.get(f, pl.String) for f in fields}  # an unknown field's column: read as text, then dropped
    return pl.read_csv(
        io.BytesIO(body) if body else b"",
        separator=" ",
        has_header=False,
        new_columns=fields,
        schema=schema,
        null_values="-",
        quote_char=None,
        truncate_ragged_lines=False,
    )


def _consistent(body: bytes | memoryview, n_fields: int, newlines: int | None = None) -> bool:
    """(``newlines``: the body's count of them, when the caller has it.)"""
    raw = np.frombuffer(body, dtype=np.uint8)  # counting with numpy: ~3x bytes.count
    lines = (int(np.count_nonzero(raw == 10)) if newlines is None else newlines) + (0 if raw[-1:].tobytes() == b"\n" else 1)
    # A repeated header line has the right field count but fails the integer `start` column,
    # so it too lands in the line-by-line path; CRLF line ends are handled by Polars.
    return int(np.count_nonzero(raw == 32)) == lines * (n_fields - 1)


# start/end are epoch seconds; milliseconds or garbage there would break every date computed from them
_EPOCH_FIELDS = ("start", "end")
# What a port, a protocol number, a count and TCP flags can be: a port of 70000 or -3 bytes is no traffic a detector
# may judge (checked with a min and a max per column, so clean files pay almost nothing).
# Counts: more than a 100 Gbit/s interface can carry in a 10-minute record (7.5 TB, 1.2e11 minimum-size packets) is no
# traffic either, and a detector summing a few legal values of 2^62 would wrap around 64 bits and lose its finding.
_VALUE_RANGES = {"srcport": (0, 65535), "dstport": (0, 65535), "protocol": (0, 255), "packets": (0, 2**40), "bytes": (0, 2**44),
                 "tcp-flags": (0, 255)}


def _bad_values(df: pl.DataFrame) -> bool:
    """Whether any time is implausible or missing on a record of traffic, or any value out of its field's range: then the
    file is read line by line."""
    if "start" in df.columns and df["start"].null_count():
        untimed = df["start"].is_null()
        if "log-status" in df.columns:  # (NODATA/SKIPDATA rows carry their window's times, but need none)
            untimed = untimed & ~df["log-status"].is_in(_NO_TRAFFIC).fill_null(False)
        if untimed.any():
            return True
    for name in (*_EPOCH_FIELDS, *_VALUE_RANGES):
        if name in df.columns:
            col = df[name]
            if col.null_count() == len(col):
                continue
            low, high = (EARLIEST, latest_plausible() - 1) if name in _EPOCH_FIELDS else _VALUE_RANGES[name]
            if col.min() < low or col.max() > high:  # type: ignore[operator]
                return True
    return False


def _check_line(tokens: list[str], fields: list[str]) -> tuple[str | None, str]:
    """Why a line cannot be read, as (field, message), or (None, '') when it is fine."""
    if len(tokens) != len(fields):
        return None, f"expected {len(fields)} fields as in the header, found {len(tokens)}"
    for tok, name in zip(tokens, fields):
        bounds = _INT_RANGE.get(FLOW_FIELDS.get(name, pl.String))
        if tok != "-" and bounds is not None:
            # ASCII digits only (str.isdigit() accepts '²'), and within the column's range:
            # anything Polars cannot parse here would abort the whole file.
            if not _ASCII_INT.fullmatch(tok):
                return name, f"'{tok[:40]}' is not an integer"
            if not bounds[0] <= int(tok) <= bounds[1]:
                return name, f"{tok[:40]} is out of range"
            if name in _VALUE_RANGES and not _VALUE_RANGES[name][0] <= int(tok) <= _VALUE_RANGES[name][1]:
                return name, f"{tok[:40]} is out of range for a {name} ({_VALUE_RANGES[name][0]}-{_VALUE_RANGES[name][1]})"
            if name in _EPOCH_FIELDS and not EARLIEST <= int(tok) < latest_plausible():
                return name, f"{tok[:40]} is not a time in epoch seconds between 2006 and now"
    if "start" in fields and tokens[fields.index("start")] == "-":
        status = tokens[fields.index("log-status")] if "log-status" in fields else None
        if status not in _NO_TRAFFIC:  # traffic without a time cannot be placed in any window: a bad record, not a silent drop
            return "start", "'-': a record of traffic without its start time"
    return None, ""


def _is_header(tokens: list[str]) -> bool:
    # a field named twice would misalign every column after it: not a usable header
    return names_flow_fields(tokens) and len(set(tokens)) == len(tokens)


def _note_unknown(fields: list[str], line: int, unknown: dict[str, int]) -> None:
    for name in fields:
        if name not in FLOW_FIELDS:
            unknown.setdefault(name, line)


def _unknown_problem(path: str, unknown: dict[str, int]) -> list[Problem]:
    """One line per file for the header fields this code does not know (their columns were read past)."""
    if not unknown:
        return []
    message = f"unknown header fields, their columns ignored: {', '.join(unknown)}"
    return [Problem(path, message, line=min(unknown.values()), records=0)]


def _slow(path: str, lines: list[bytes], first_line: int, fields: list[str] | None,
          unknown: dict[str, int]) -> tuple[list[pl.DataFrame], list[Problem], int]:
    """Walk the lines one by one: switch format at header lines, set bad lines aside."""
    frames: list[pl.DataFrame] = []
    problems: list[Problem] = Problems()
    good: list[bytes] = []
    total = 0
    unusable: list[Any] = []  # [its line, the fields it lacks, records under it] of a later header without start or srcaddr

    def flush() -> None:
        if good and fields:
            frames.append(_normalize(read_frame(b"\n".join(good), fields), fields))
        good.clear()
        if unusable:
            at, needed, n = unusable
            problems.append(Problem(path, f"the header has no {' or '.join(needed)} field: its {n} records cannot be analysed", line=at, records=n))
            unusable.clear()

    for i, raw in enumerate(lines):
        lineno = first_line + i
        # Split the bytes, at ASCII blanks only: str.split() would also split at \x1c-\x1f, \x85 or U+00A0,
        # which Polars reads as part of a field, so a good line would lose its fields next to a bad one.
        tokens = [t.decode("utf-8", "replace") for t in raw.split()]
        if not tokens:
            continue
        if _is_header(tokens):
            flush()
            fields = tokens
            _note_unknown(fields, lineno, unknown)
            needed = [f for f in ("start", "srcaddr") if f not in fields]
            if needed:
                unusable[:] = [lineno, needed, 0]
            continue
        total += 1
        if unusable:
            unusable[2] += 1
            continue
        if fields is None:
            fields = _HEADERLESS.get(len(tokens))
            if fields is None:
                problems.append(Problem(path, f"no header line and {len(tokens)} fields: only AWS's default layouts ({', '.join(map(str, sorted(_HEADERLESS)))} fields) can be read without one", line=lineno))
                continue
        field, message = _check_line(tokens, fields)
        if message:
            problems.append(Problem(path, message, line=lineno, field=field))
        else:
            good.append(" ".join(tokens).encode())
    flush()
    return frames, problems, total


def parse(path: str, data: bytes) -> Parsed:
    body = data.lstrip(b"\r\n")
    lead = data.count(b"\n", 0, len(data) - len(body))  # blank lines stripped above
    first_end = body.find(b"\n")
    first = (body if first_end == -1 else body[:first_end]).decode("utf-8", "replace").split()
    fields: list[str] | None
    unknown: dict[str, int] = {}  # header fields not known here, and the line of the first header naming each
    if _is_header(first):
        fields, body, first_line = first, (b"" if first_end == -1 else body[first_end + 1 :]), 2 + lead
        _note_unknown(fields, first_line - 1, unknown)
        needed = [f for f in ("start", "srcaddr") if f not in fields]
        if needed:  # records without them are no events: say so instead of dropping every line
            empty = _normalize(pl.DataFrame(schema={f: FLOW_FIELDS[f] for f in V2_DEFAULT}), V2_DEFAULT)
            message = f"the header has no {' or '.join(needed)} field: its records cannot be analysed"
            return Parsed(Kind.FLOW, empty, EMPTY_TIMES, [Problem(path, message, line=first_line - 1)], fatal=True)
    else:
        fields, first_line = _HEADERLESS.get(len(first)), 1 + lead
    if body.endswith(b"\n"):
        body = body[:-1]
    if fields is not None and _consistent(body, len(fields)):
        try:
            df = read_frame(body, fields)
            total = df.height
            if _bad_values(df):
                raise pl.exceptions.ComputeError("a value out of range")  # set the offending lines aside below
            df = _normalize(df, fields)
            return Parsed(Kind.FLOW, df, df["start"].cast(pl.Float64).to_numpy(), _unknown_problem(path, unknown), records_read=total)
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError, pl.exceptions.SchemaError):
            pass  # a value that does not fit its column: find it line by line
    frames, problems, total = _slow(path, body.split(b"\n"), first_line, fields, unknown)
    problems = close_problems(path, _unknown_problem(path, unknown), problems)
    if frames:
        df = pl.concat(frames).sort("start", maintain_order=True)
    else:
        df = _normalize(pl.DataFrame(schema={f: FLOW_FIELDS[f] for f in V2_DEFAULT}), V2_DEFAULT)
    return Parsed(Kind.FLOW, df, df["start"].cast(pl.Float64).to_numpy(), problems, records_read=total, fatal=df.height == 0 and bool(problems))


def read_shared(datas: list[bytes], damaged: list[bool]) -> tuple[tuple[pl.DataFrame, np.ndarray, list[int], list[int]] | None, list[int]]:
    """Many flow logs in one ``read_csv`` (formats.batch): every file that starts with the first one's
    header line (or, headerless, its field count) and is plainly well formed. Returns (the frame,
    each row's index among those files, their line counts, their indexes in ``datas``) or None, and
    the indexes of the files to decode alone, where their problems are named."""
    first = datas[0]
    end = first.find(b"\n")
    header = first[: end if end != -1 else len(first)]
    tokens = header.decode("utf-8", "replace").split()
    fields = tokens if _is_header(tokens) else _HEADERLESS.get(len(tokens))
    # (unknown fields are named file by file, by the file's own decode)
    if fields is None or "start" not in fields or "srcaddr" not in fields or not all(f in FLOW_FIELDS for f in fields):
        return None, list(range(len(datas)))
    skip = len(header) + 1 if fields is tokens else 0
    # Members' bodies are views, joined once: a copy of every decompressed byte costs more than reading them.
    bodies: list[memoryview | bytes] = []
    lines: list[int] = []
    idx: list[int] = []
    alone: list[int] = []
    for i, (data, damage) in enumerate(zip(datas, damaged)):
        if (skip and data[:skip] != header + b"\n") or damage or (not skip and data[:1] in (b"\xef", b"\r", b"\n")):
            alone.append(i)
            continue
        body = memoryview(data)[skip:]
        ends = not body or data.endswith(b"\n")
        newlines = int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == 10))
        n = newlines + (not ends)
        # a member whose own separators do not add up is read alone, where its bad lines are named
        if n and not (_consistent(body[:-1], len(fields), newlines - 1) if ends else _consistent(body, len(fields), newlines)):
            alone.append(i)
            continue
        bodies.append(body)
        if not ends:
            bodies.append(b"\n")
        lines.append(n)
        idx.append(i)
    if len(idx) < 2:
        return None, list(range(len(datas)))
    try:
        df = read_frame(b"".join(bodies), fields) if sum(lines) else None
        if df is None or df.height != sum(lines) or _bad_values(df):
            return None, list(range(len(datas)))
        df = df.with_columns(pl.Series("__member", np.repeat(np.arange(len(idx), dtype=np.int32), lines)))
        df = _normalize(df, fields, extra=("__member",))
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError, pl.exceptions.SchemaError, pl.exceptions.ShapeError):
        return None, list(range(len(datas)))  # a value that does not fit its column: every member alone names it
    return (df.drop("__member"), df["__member"].to_numpy(), lines, idx), alone
