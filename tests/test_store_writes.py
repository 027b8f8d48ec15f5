"""A commit's many rows reach SQLite by the driver's executemany (``rows.write_many``): the tables must hold
exactly what SQLAlchemy's own executemany writes, upsert rules included (usage adds, archived only rises,
created_at stays), with blobs, documents and NULLs."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from trailhound.findings.model import decode, encode
from trailhound.findings.samples import sample_findings
from trailhound.store import rows, tables as t
from trailhound.store.database import Changes, Checkpoint, Store, transaction


@functools.cache
def _samples() -> list[bytes]:
    return [encode(f) for f in sample_findings(detector_id="d" * 32)[:90]]


def _changes(round_: int) -> Changes:
    ch = Changes()
    for i, doc in enumerate(_samples()):
        f = decode(doc)
        f.id = f"{i:032x}"
        f.updated_at = f"2026-11-0{1 + round_}T00:00:00.000Z"
        f.created_at = f.updated_at
        f.service.archived = bool(round_ == 0 and i % 2)  # archived in the first round: must stay archived
        f.service.count = 1 + round_
        ch.findings[f.id] = f
    for i in range(150):
        ch.state[("det", f"key-{i}")] = (1, 10.0 * i, 10.0 * i + round_, None if i % 3 else 99.5, msgspec.msgpack.encode({"n": i, "r": round_}))
    for i in range(120):
        ch.checkpoints[f"/logs/{i}.gz"] = Checkpoint(f"/logs/{i}.gz", f"fp{i}", "cloudtrail", i, i - round_, bool(round_), 7 * i)
    for i in range(80):
        ch.usage[("2026-11-01", f"{i:012d}", "CLOUDTRAIL", f"b{i % 4}" if i % 2 else "")] = [i, 100 * i]
    ch.state[("det", "key-0")] = None if round_ else ch.state[("det", "key-0")]  # a delete in the second round
    ch.ttl = {"det": 1e9}
    return ch


def _tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table, drop in ((t.findings, ()), (t.keyed_state, ()), (t.checkpoints, ("updated_at",)), (t.usage, ())):
        cols = [c for c in table.columns if c.name not in drop]
        out[table.name] = sorted(tuple(r) for r in store.conn.execute(select(*cols)))
    return out


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    fast, slow = Store(tmp_path / "fast.db"), Store(tmp_path / "slow.db")
    try:
        for r in range(2):
            fast.commit(_changes(r))
        monkeypatch.setattr(rows, "_MANY", 10**9)  # SQLAlchemy's own executemany for every write
        for r in range(2):
            slow.commit(_changes(r))
        return _tables(fast), _tables(slow)
    finally:
        fast.close()
        slow.close()


def test_the_driver_path_writes_what_sqlalchemy_writes(written: tuple[dict, dict]) -> None:
    fast, slow = written
    assert fast == slow
    assert len(fast["findings"]) == 90 and len(fast["keyed_state"]) == 149 and len(fast["checkpoints"]) == 120


def test_upsert_rules_hold_on_the_driver_path(written: tuple[dict, dict]) -> None:
    fast, _ = written
    usage = {(acct, res): (events, nbytes) for _, acct, _, res, events, nbytes in fast["usage"]}
    assert usage[("000000000005", "b1")] == (10, 1000)  # added across the two commits
    names = [c.name for c in t.findings.columns]
    by_id = {row[names.index("id")]: row for row in fast["findings"]}
    first = by_id[f"{1:032x}"]
    assert first[names.index("archived")] == 1  # archived in the first round, not un-archived by the second
    assert first[names.index("created_at")] == "2026-11-01T00:00:00.000Z" and first[names.index("updated_at")] == "2026-11-02T00:00:00.000Z"
    state = {row[1]: row for row in fast["keyed_state"]}
    assert state["key-1"][5] is None and state["key-3"][5] == 99.5
    assert msgspec.msgpack.decode(state["key-7"][-1]) == {"n": 7, "r": 1}


def test_small_and_large_writes_of_one_statement_agree(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        with transaction(store.conn):
            rows.write_many(store.conn, rows.upsert(store.conn, t.meta, ["key"]), [{"key": f"k{i}", "value": str(i)} for i in range(3)])
            rows.write_many(store.conn, rows.upsert(store.conn, t.meta, ["key"]), [{"key": f"k{i}", "value": "x"} for i in range(200)])
        got = dict(store.conn.execute(select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key.like("k%"))).all())
        assert len(got) == 200 and set(got.values()) == {"x"}
    finally:
        store.close()
