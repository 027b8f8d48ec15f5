"""A fresh PostgreSQL schema per store, on the real server this machine runs (never a mock).

``TRAILHOUND_TEST_PG`` overrides the server URL (default: postgres at 127.0.0.1:5432, trust
authentication). An unreachable server fails the tests that need it; it never skips them.
"""

from __future__ import annotations

import os
import secrets

import psycopg

SERVER = os.environ.get("TRAILHOUND_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "trailhound_test"
_made: list[str] = []


def _admin(dbname: str) -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/{dbname}", autocommit=True)


def fresh_url() -> str:
    """The URL of a new, empty schema in the test database (created on first use)."""
    if not _made:
        with _admin("postgres") as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                c.execute(f"CREATE DATABASE {DATABASE}")
    schema = f"th_{secrets.token_hex(6)}"
    with _admin(DATABASE) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    _made.append(schema)
    return f"{SERVER}/{DATABASE}?options=-csearch_path%3D{schema}"


def drop_all() -> None:
    if not _made:
        return
    with _admin(DATABASE) as c:
        for schema in _made:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    _made.clear()
