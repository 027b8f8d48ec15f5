"""Shared fixtures: real sample data, and helpers to write logs and scan them into a real store."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

# Tests must see the packaged intelligence only, never a copy refreshed into the user's data dir.
os.environ["TRAILHOUND_INTEL_DIR"] = tempfile.mkdtemp(prefix="trailhound-test-intel-")

import pg

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner, ScanReport
from trailhound.store.database import Store

pytest_plugins = ["console_kit"]  # the console tests' browser, live serve and samples

# shared/ lies beside the checkout, here and in CI
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED.exists(), f"shared sample data not found at {SHARED}"
    return SHARED


def write_cloudtrail(path: Path, records: Iterable[dict[str, Any]], gz: bool = True) -> Path:
    body = json.dumps({"Records": list(records)}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


# TRAILHOUND_TEST_STORE=postgresql: every scan that would use an in-memory SQLite store uses a fresh
# PostgreSQL schema instead, so the detector and pipeline tests run against both stores.
ON_POSTGRES = os.environ.get("TRAILHOUND_TEST_STORE", "sqlite") == "postgresql"
_open_stores: list[Store] = []


@pytest.fixture(autouse=True)
def _close_postgres_stores():
    """A PostgreSQL store holds a server connection: the stores a test's scans opened close with the test."""
    yield
    while _open_stores:
        _open_stores.pop().close()


_places: dict[tuple[str, str], str] = {}


def store_at(tmp_path: Path, name: str) -> Path | str:
    """A test's store by name, for tests of what a store does (not of what a SQLite file is): the file
    tmp_path/name, or with TRAILHOUND_TEST_STORE=postgresql a fresh PostgreSQL schema, the same one
    each time the test names it again (a store reopened after a crash)."""
    if not ON_POSTGRES:
        return tmp_path / name
    key = (str(tmp_path), name)
    if key not in _places:
        _places[key] = pg.fresh_url()
    return _places[key]


def scan(paths: list[Path], db: Path | str = ":memory:", **settings: Any) -> tuple[ScanReport, Store]:
    if db == ":memory:" and ON_POSTGRES:
        db = pg.fresh_url()
    store = Store(db)
    if ON_POSTGRES:
        _open_stores.append(store)
    report = Scanner(store, ScanSettings(**settings)).scan(paths)
    return report, store


@pytest.fixture
def scan_records(tmp_path: Path):
    """Write CloudTrail records to a gzipped S3-style file and scan them; returns (report, findings)."""

    def run(records: list[dict[str, Any]], **settings: Any) -> tuple[ScanReport, list[dict[str, Any]]]:
        f = write_cloudtrail(tmp_path / f"ct-{len(list(tmp_path.iterdir()))}" / "trail.json.gz", records)
        report, store = scan([f], **settings)
        return report, list(store.findings())

    return run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    pg.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's address, on each kind of store."""
    return str(tmp_path / "store.db") if request.param == "sqlite" else pg.fresh_url()
