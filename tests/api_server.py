"""A live ``serve`` for the API tests: the real ASGI app under uvicorn on a free port, in a thread,
on a real store; clients are unmodified boto3 ``guardduty`` clients that sign with real keys."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import uvicorn
from botocore.config import Config

from trailhound.api.app import create_app
from trailhound.api.commands import issue_key
from trailhound.store.database import Store


@dataclass
class Live:
    endpoint: str
    store: Store
    master_key: bytes
    url: str
    keys: dict[tuple[str, bool], tuple[str, str]] = field(default_factory=dict)

    def client(self, account: str = "111122223333", *, admin: bool = False, region: str = "us-east-1", secret: str | None = None) -> Any:
        if (account, admin) not in self.keys:
            conn = self.store.connect()
            self.keys[(account, admin)] = issue_key(conn, self.master_key, account, admin)
            if conn is not self.store.conn:
                conn.close()
        key_id, real = self.keys[(account, admin)]
        return boto3.client("guardduty", endpoint_url=self.endpoint, region_name=region, aws_access_key_id=key_id,
                            aws_secret_access_key=secret or real, config=Config(retries={"max_attempts": 1}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(url: str) -> Iterator[Live]:
    store = Store(url, service=True)
    master_key = secrets.token_bytes(32)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, master_key), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", store, master_key, url)
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
