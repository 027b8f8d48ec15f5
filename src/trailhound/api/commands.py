"""``trailhound serve`` and ``trailhound credentials``: the API's commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy import Connection

from trailhound.config import DEFAULT_LISTEN, default_db_path, master_key_path

credentials_app = typer.Typer(no_args_is_help=True, help="Access keys for the API (SigV4, as AWS's).")
DbOption = Annotated[Optional[str], typer.Option("--db", help="The store: a SQLite file, or postgresql://user@host/db.")]
KeyOption = Annotated[Optional[Path], typer.Option("--master-key", help="The file of the key that seals API secrets. "
                                                   "Default: <db>.key beside a SQLite store; the user data dir for PostgreSQL.")]


def _store(db: str | None, *, service: bool) -> object:
    from trailhound.store.database import Store, StoreError

    try:
        return Store(db or default_db_path(), service=service)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _master_key(db: str | None, path: Path | None) -> bytes:
    from trailhound.api.keys import SealError, load_or_create_master_key

    try:
        return load_or_create_master_key(path or master_key_path(db or default_db_path()))
    except SealError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@credentials_app.command("create")
def credentials_create(
    account: Annotated[str, typer.Option("--account", help="The 12-digit AWS account id the key acts as.")],
    admin: Annotated[bool, typer.Option("--admin", help="A delegated administrator: may add member accounts and see their findings.")] = False,
    db: DbOption = None,
    master_key: KeyOption = None,
) -> None:
    """Make an access key; prints {"AccessKeyId", "SecretAccessKey"} once (the store keeps the secret sealed)."""
    if not account.isdigit() or len(account) != 12:
        typer.echo(f"error: --account {account!r}: an AWS account id is 12 digits", err=True)
        raise typer.Exit(2)
    key = _master_key(db, master_key)
    store = _store(db, service=True)
    key_id, secret = issue_key(store.connect(), key, account, admin)  # type: ignore[attr-defined]
    typer.echo(json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret}))


def issue_key(conn: Connection, master_key: bytes, account: str, admin: bool = False) -> tuple[str, str]:
    """A new access key of `account`, its secret sealed in the store; (access key id, secret)."""
    from trailhound.api.context import now_iso
    from trailhound.api.keys import new_key, seal
    from trailhound.store import tables as t
    from trailhound.store.database import transaction

    key_id, secret = new_key(account)
    with transaction(conn) as c:
        c.execute(t.credentials.insert().values(access_key_id=key_id, account_id=account, admin=admin,
                                                secret=seal(secret, master_key, key_id), created_at=now_iso()))
    return key_id, secret


def serve(
    db: DbOption = None,
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT to answer on.")] = DEFAULT_LISTEN,
    master_key: KeyOption = None,
) -> None:
    """Answer GuardDuty's API (boto3, the aws cli, Terraform...) from the store."""
    import uvicorn

    from trailhound.api.app import create_app

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        typer.echo(f"error: --listen {listen!r}: give HOST:PORT", err=True)
        raise typer.Exit(2)
    key = _master_key(db, master_key)
    store = _store(db, service=True)
    typer.echo(f"GuardDuty API for {store.path} on http://{host}:{port}", err=True)  # type: ignore[attr-defined]
    uvicorn.run(create_app(store, key), host=host.strip("[]"), port=int(port), log_level="warning", access_log=False)  # type: ignore[arg-type]
