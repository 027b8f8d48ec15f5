"""Versioned schema migrations. ``meta.schema_version`` says which step a store has reached; a new
store is created at the latest version. Stores written before the version was kept (plain SQLite,
version 1) are brought forward in place."""

from __future__ import annotations

import msgspec
from sqlalchemy import Connection, inspect, select, text, update

from trailhound.store import tables as t
from trailhound.store.rows import epoch_ms, upsert


def migrate(c: Connection, new: bool) -> None:
    c.exec_driver_sql("BEGIN IMMEDIATE" if c.dialect.name == "sqlite" else "BEGIN")
    try:
        version = 0 if new else _version(c)
        if version < t.SCHEMA_VERSION:
            if version == 1:
                _from_v1(c)
            if version in (1, 2):  # v3 indexes ListFindings' sort keys with id; these two are covered by them
                for name in ("findings_type_updated", "findings_severity"):
                    c.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            # 3 -> 4: the follower's tables (follow_markers, s3_objects), made by create_all below
            if 1 <= version <= 4:
                _usage_by_day(c)
            # 5 -> 6: findings_type_severity_id, made with the other missing indexes below
            t.metadata.create_all(c, checkfirst=True)
            for table in t.metadata.sorted_tables:  # indexes that a table older than them lacks
                for index in table.indexes:
                    index.create(c, checkfirst=True)
            c.execute(upsert(c, t.meta, ["key"]), [{"key": "schema_version", "value": str(t.SCHEMA_VERSION)}])
        c.exec_driver_sql("COMMIT")
    except BaseException:
        c.exec_driver_sql("ROLLBACK")
        raise


def _version(c: Connection) -> int:
    if not inspect(c).has_table("meta"):
        return 0
    value = c.execute(select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar()
    return int(value) if value else 1


def _from_v1(c: Connection) -> None:
    """A store from before SQLAlchemy: findings gain the columns people filter on, filled from their documents."""
    columns = {col["name"] for col in inspect(c).get_columns("checkpoints")}
    if "offset" not in columns:  # stores from before appended files were read from where they had ended
        c.exec_driver_sql("ALTER TABLE checkpoints ADD COLUMN offset INTEGER NOT NULL DEFAULT 0")
    columns = {col["name"] for col in inspect(c).get_columns("findings")}
    for name, kind in (("created_ms", "INTEGER NOT NULL DEFAULT 0"), ("updated_ms", "INTEGER NOT NULL DEFAULT 0"),
                       ("resource_id", "TEXT"), ("feedback", "TEXT")):
        if name not in columns:
            c.exec_driver_sql(f"ALTER TABLE findings ADD COLUMN {name} {kind}")
    from trailhound.findings.model import decode
    from trailhound.store.rows import resource_id

    f = t.findings.c
    rows = c.execute(select(f.id, f.doc)).all()
    for fid, doc in rows:
        finding = decode(doc)
        c.execute(update(t.findings).where(f.id == fid).values(created_ms=epoch_ms(finding.created_at), updated_ms=epoch_ms(finding.updated_at),
                                                              resource_id=resource_id(finding.resource)))
    _from_untyped_state(c)


def _usage_by_day(c: Connection) -> None:
    """4 -> 5: usage was kept per month, account and source; it is now per day (GuardDuty reports a
    rolling 30 days) and per resource. A month's usage is carried over on its first day, unsplit (no
    record of which days it came from is left), under no resource."""
    if not inspect(c).has_table("usage") or "month" not in {col["name"] for col in inspect(c).get_columns("usage")}:
        return
    rows = c.exec_driver_sql("SELECT month, account_id, source, events, bytes FROM usage").all()
    c.exec_driver_sql("DROP TABLE usage")  # its key changes: a new table (create_all), not an ALTER both dialects would spell apart
    t.usage.create(c)
    if rows:
        c.execute(t.usage.insert(), [{"day": f"{month}-01", "account_id": a, "source": s, "resource": "", "events": e, "bytes": b}
                                     for month, a, s, e, b in rows])


def _from_untyped_state(c: Connection) -> None:
    """Stores written before keyed state was typed kept an untyped, never-expiring `detector_state`:
    the password policies in force are carried over (a year-old policy is still the policy); the
    rest (an hour of Tor relays) is dropped."""
    if not inspect(c).has_table("detector_state"):
        return
    rows = c.exec_driver_sql("SELECT key, value FROM detector_state WHERE detector = 'password-policy-change'").all()
    t.keyed_state.create(c, checkfirst=True)
    if rows:
        c.execute(upsert(c, t.keyed_state, ["detector", "key"], do_nothing=True),
                  [{"detector": "password-policy-change", "key": key, "version": 1, "born": 0, "last": 0, "timer_at": None,
                    "expires_at": float("inf"), "value": msgspec.msgpack.encode([msgspec.msgpack.decode(value)])} for key, value in rows])
    c.execute(text("DROP TABLE detector_state"))


__all__ = ["migrate"]
