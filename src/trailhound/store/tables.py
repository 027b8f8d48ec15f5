"""Every table of a Trailhound store, declared once for SQLite and PostgreSQL (SQLAlchemy Core).

Findings keep their GuardDuty wire form as a document (``doc``: JSON text in SQLite, JSONB in
PostgreSQL) beside the columns people filter and sort on, so those are indexed and the rest of the
FindingCriteria language reads the document. Times people filter on are epoch milliseconds, as
GuardDuty's FindingCriteria compares them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import BYTEA, JSONB
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 6  # bump with a step in store.migrations


class Document(TypeDecorator):
    """A JSON document handed over already encoded (msgspec/orjson bytes) and read back as bytes:
    JSONB in PostgreSQL (so it can be queried), the text itself in SQLite."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect):  # type: ignore[no-untyped-def]
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(Text())

    def bind_processor(self, dialect):  # type: ignore[no-untyped-def]
        if dialect.name == "postgresql":
            from psycopg.types.json import Jsonb

            # already JSON: hand psycopg the text, do not let it serialise again
            return lambda v: None if v is None else Jsonb(v, dumps=_as_text)
        return lambda v: None if v is None else _as_text(v)

    def result_processor(self, dialect, coltype):  # type: ignore[no-untyped-def]
        # psycopg would parse JSONB into Python objects: the store asks for ``doc::text`` instead (see ``doc_text``)
        return lambda v: None if v is None else (v.encode() if isinstance(v, str) else v)


def _as_text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes | bytearray) else v


Blob = LargeBinary().with_variant(BYTEA(), "postgresql")

metadata = MetaData()

meta = Table("meta", metadata, Column("key", Text, primary_key=True), Column("value", Text, nullable=False))

findings = Table(
    "findings",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("severity", Float, nullable=False),
    Column("archived", Integer, nullable=False, server_default=text("0")),
    Column("created_at", Text, nullable=False),  # ISO 8601, as the wire form
    Column("updated_at", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False, server_default=text("0")),  # epoch ms, what FindingCriteria compares
    Column("updated_ms", BigInteger, nullable=False, server_default=text("0")),
    Column("resource_type", Text),
    Column("resource_id", Text),  # instance id, access key id or bucket name
    Column("feedback", Text),  # USEFUL | NOT_USEFUL, set through the API; a scan's update never touches it
    Column("doc", Document, nullable=False),
)
Index("findings_updated", findings.c.updated_at)
Index("findings_account_region_updated", findings.c.account_id, findings.c.region, findings.c.updated_ms)
# ListFindings reads these in order and stops at a page (bench/bench_api.py, 1M findings): the sort key
# and ``id`` (the tie-break of every sort), after the key an equality criterion most often names
Index("findings_type_updated_ms", findings.c.type, findings.c.updated_ms, findings.c.id)
Index("findings_updated_ms", findings.c.updated_ms, findings.c.id)
Index("findings_severity_id", findings.c.severity, findings.c.id)
Index("findings_type_severity_id", findings.c.type, findings.c.severity, findings.c.id)  # one type, most severe first (console, ListFindings)
Index("findings_account_region_severity", findings.c.account_id, findings.c.region, findings.c.severity, findings.c.id)
Index("findings_resource", findings.c.resource_id)
Index("findings_archived_updated", findings.c.archived, findings.c.updated_ms)

keyed_state = Table(
    "keyed_state",
    metadata,
    Column("detector", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("version", Integer, nullable=False),  # the detector's state_version when written
    Column("born", Float, nullable=False),  # event time of the key's first and latest rows
    Column("last", Float, nullable=False),
    Column("timer_at", Float),  # event time its timer is due, if any
    Column("expires_at", Float, nullable=False),  # last + ttl: deleted once the watermark passes it (and no timer is due)
    Column("value", Blob, nullable=False),  # msgpack of the detector's State
    PrimaryKeyConstraint("detector", "key"),
)
Index("keyed_state_timer", keyed_state.c.timer_at, sqlite_where=keyed_state.c.timer_at.isnot(None),
      postgresql_where=keyed_state.c.timer_at.isnot(None))
Index("keyed_state_expiry", keyed_state.c.expires_at)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("path", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("events", Integer, nullable=False),
    Column("consumed", Integer, nullable=False),
    Column("complete", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("offset", BigInteger, nullable=False, server_default=text("0")),
)
Index("checkpoints_fingerprint", checkpoints.c.fingerprint)

quarantine = Table(
    "quarantine",
    metadata,
    Column("path", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("line", Integer, nullable=False, server_default=text("-1")),  # -1: none (a key column, so never NULL)
    Column("record", Integer, nullable=False, server_default=text("-1")),
    Column("field", Text),
    Column("message", Text, nullable=False),
    Column("seen_at", Float, nullable=False),
    UniqueConstraint("path", "fingerprint", "line", "record", "message", name="quarantine_once"),
)

usage = Table(
    "usage",
    metadata,
    Column("day", Text, nullable=False),  # YYYY-MM-DD (UTC) of the records' own time: GuardDuty reports a rolling 30 days
    Column("account_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("resource", Text, nullable=False, server_default=""),  # the bucket of S3 data events; "" where GuardDuty reports none
    Column("events", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    PrimaryKeyConstraint("day", "account_id", "source", "resource", name="usage_days_pkey"),
)

# ---- what `serve --source` follows -----------------------------------------------------------

follow_markers = Table(
    "follow_markers",
    metadata,
    Column("source", Text, primary_key=True),  # s3://bucket/prefix, as given to --source
    Column("marker", Text, nullable=False),  # every key up to this one (in S3's listing order) has been read
    Column("updated_at", Float, nullable=False),
)

s3_objects = Table(
    "s3_objects",
    metadata,
    Column("name", Text, primary_key=True),  # s3://bucket/key: the name its checkpoint has
    Column("etag", Text, nullable=False),  # as S3 listed it when it was read: another ETag is new content
    Column("size", BigInteger, nullable=False),
    Column("read_at", Float, nullable=False),
)

# ---- the API's resources (GuardDuty's detectors, filters, lists, members, keys) ----------------

detectors = Table(
    "detectors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("status", Text, nullable=False),  # ENABLED | DISABLED
    Column("publishing_frequency", Text, nullable=False),
    Column("features", Document, nullable=False),  # [{name, status}]
    Column("tags", Document, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    UniqueConstraint("account_id", "region", name="detectors_one_per_account_region"),
)

filters = Table(
    "filters",
    metadata,
    Column("detector_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    Column("action", Text, nullable=False),  # NOOP | ARCHIVE
    Column("rank", Integer, nullable=False),
    Column("criteria", Document, nullable=False),  # the FindingCriteria, as given
    Column("tags", Document, nullable=False),
    Column("created_at", Text, nullable=False),
    PrimaryKeyConstraint("detector_id", "name"),
)

intel_sets = Table(
    "intel_sets",
    metadata,
    Column("id", Text, primary_key=True),
    Column("detector_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # ipset | threatintelset
    Column("name", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("tags", Document, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)
Index("intel_sets_detector", intel_sets.c.detector_id, intel_sets.c.kind)

members = Table(
    "members",
    metadata,
    Column("administrator_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("relationship_status", Text, nullable=False),  # Created | Invited | Enabled | Removed ...
    Column("invited_at", Text),
    Column("updated_at", Text, nullable=False),
    PrimaryKeyConstraint("administrator_id", "account_id"),
)
Index("members_account", members.c.account_id)

credentials = Table(
    "credentials",
    metadata,
    Column("access_key_id", Text, primary_key=True),
    Column("account_id", Text, nullable=False),
    Column("admin", Boolean, nullable=False),  # may act as administrator of the accounts it adds as members
    Column("secret", Blob, nullable=False),  # sealed with the store's key file, never stored in the clear
    Column("created_at", Text, nullable=False),
)
