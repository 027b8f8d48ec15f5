"""Rows as the store writes them, and the upsert both dialects speak (``INSERT ... ON CONFLICT``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from trailhound.findings.model import AccessKeyResource, Finding, InstanceResource, Resource, S3BucketResource


def epoch_ms(stamp: str) -> int:
    """GuardDuty's ISO 8601 stamp (``2026-12-06T08:00:00.000Z``) as epoch milliseconds."""
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def resource_id(resource: Resource) -> str | None:
    """The one id a person filters a finding's resource by: instance, access key, or (first) bucket."""
    if isinstance(resource, InstanceResource):
        return resource.instance_details.instance_id
    if isinstance(resource, AccessKeyResource):
        return resource.access_key_details.access_key_id
    if isinstance(resource, S3BucketResource):
        return resource.s3_bucket_details[0].name if resource.s3_bucket_details else None
    return None


def finding_row(f: Finding, doc: bytes) -> dict[str, Any]:
    return {
        "id": f.id, "type": f.type, "account_id": f.account_id, "region": f.region, "severity": f.severity,
        "archived": int(f.service.archived), "created_at": f.created_at, "updated_at": f.updated_at,
        "created_ms": epoch_ms(f.created_at), "updated_ms": epoch_ms(f.updated_at),
        "resource_type": type(f.resource).__struct_config__.tag, "resource_id": resource_id(f.resource), "doc": doc,
    }


def upsert(c: Connection, table: Table, keys: Sequence[str] | None, *, do_nothing: bool = False, add: Sequence[str] = (),
           keep: Sequence[str] = (), rise: Sequence[str] = ()) -> Any:
    """INSERT, and on a conflict on `keys`: nothing (`do_nothing`), or replace the other columns —
    except `add` (summed), `keep` (the stored value stays) and `rise` (the larger value wins).
    ``keys=None`` with ``do_nothing``: any unique constraint."""
    ins = (pg_insert if c.dialect.name == "postgresql" else sqlite_insert)(table)
    if do_nothing:
        return ins.on_conflict_do_nothing(index_elements=keys)
    cols = table.c
    new: dict[str, Any] = {}
    for col in table.columns:
        name = col.name
        if name in (keys or ()) or name in keep:
            continue
        if name in add:
            new[name] = cols[name] + ins.excluded[name]
        elif name in rise:
            new[name] = func.max(cols[name], ins.excluded[name]) if c.dialect.name == "sqlite" else func.greatest(cols[name], ins.excluded[name])
        else:
            new[name] = ins.excluded[name]
    return ins.on_conflict_do_update(index_elements=keys, set_=new)


# Below this many rows SQLAlchemy's own executemany is as quick; above, its building of each row's parameters
# (~10 µs a row) is most of a commit of a batch of small files (a checkpoint row each).
_MANY = 64


def write_many(c: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """``c.execute(stmt, rows)`` for rows of the same columns: in SQLite, the statement compiled once and the
    rows handed to the driver's executemany as tuples, each value through its type's bind conversion."""
    if len(rows) < _MANY or c.dialect.name != "sqlite":
        c.execute(stmt, rows)
        return
    dialect = c.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = compiled.positiontup
    if not names or any(name not in rows[0] for name in names):  # a bind that is no column of the rows: the general way
        c.execute(stmt, rows)
        return
    procs = [compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    # column by column (a value's conversion only where its type has one), then zipped into rows
    columns = [[row[name] for row in rows] if proc is None else [None if (v := row[name]) is None else proc(v) for row in rows]
               for name, proc in zip(names, procs)]
    params = list(zip(*columns))
    c.exec_driver_sql(compiled.string, params)


__all__ = ["epoch_ms", "finding_row", "resource_id", "upsert", "write_many"]
