"""Exporting findings as they happen: EventBridge's envelope to a real local HTTP receiver that
fails the first attempts and checks the HMAC signature; a dead-letter file after the last attempt;
a cursor in the store (SQLite and PostgreSQL) so a restart sends nothing twice that was delivered;
archived findings never sent; nothing sent before the delay, nor past what the writer committed."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import update

from conftest import write_cloudtrail
from trailhound.config import ScanSettings
from trailhound.export.delivery import Exporter, ExportSettings, FileDestination, WebhookDestination
from trailhound.export.envelope import event_id, verify
from trailhound.pipeline import Scanner
from trailhound.store import tables as t
from trailhound.store.database import Store, transaction

SECRET = "shh-its-a-secret"


class Receiver:
    """A webhook endpoint: fails the first ``fail`` requests of each event with 503, then accepts."""

    def __init__(self, fail: int = 2, always_fail: bool = False) -> None:
        self.fail, self.always_fail = fail, always_fail
        self.attempts: dict[str, int] = {}
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if not verify(SECRET, data, self.headers.get("X-Trailhound-Signature", "")):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = orjson.loads(data)
                n = receiver.attempts[event["id"]] = receiver.attempts.get(event["id"], 0) + 1
                if receiver.always_fail or n <= receiver.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.accepted.append(event)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _attack(tmp_path: Path, name: str, n: int = 1) -> Path:
    """CloudTrail logging stopped by n users: n findings (Stealth:IAMUser/CloudTrailLoggingDisabled; a later call updates them)."""
    records = [{"eventVersion": "1.08", "eventTime": f"2026-11-01T10:{i:02d}:00Z", "eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
                "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2", "eventCategory": "Management",
                "recipientAccountId": "111122223333", "requestParameters": {"name": f"trail-{name}-{i}"},
                "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "arn": f"arn:aws:iam::111122223333:user/mallory{i}",
                                 "userName": f"mallory{i}", "accessKeyId": f"AKIAEXAMPLE0000MAL{i}"}, "eventID": f"{name}-{i}", "readOnly": False}
               for i in range(n)]
    return write_cloudtrail(tmp_path / name / "trail.json.gz", records)


def _scan(store: Store, files: list[Path]) -> None:
    Scanner(store, ScanSettings()).scan(files)


def _exporter(store: Store, dests: list[Any], **kw: Any) -> Exporter:
    settings = ExportSettings(**{"delay_s": 0, "backoff_s": 0.05, "tick_s": 0.05, "settle_s": 0, **kw})
    return Exporter(store, dests, settings, horizon=lambda: float("inf"), notify=lambda _: None)


def test_webhook_retries_signs_and_sends_each_finding_once(store_url: str, tmp_path: Path) -> None:
    receiver = Receiver(fail=2)
    store = Store(store_url)
    try:
        exporter = _exporter(store, [WebhookDestination(receiver.url, SECRET)], dead_letter=tmp_path / "dead.jsonl")
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "a", 3)])
        with transaction(store.conn) as c:  # one finding archived (as a suppression rule or the API does): never sent
            archived = c.execute(update(t.findings).where(t.findings.c.id == min(f["id"] for f in store.findings())).values(archived=1)).rowcount
        assert archived == 1
        assert exporter.export_once() == 2
        live = [f for f in store.findings() if not f["service"]["archived"]]
        assert sorted(e["detail"]["id"] for e in receiver.accepted) == sorted(f["id"] for f in live)
        assert receiver.bad_signatures == 0 and set(receiver.attempts.values()) == {3}  # two 503s, then delivered
        for e in receiver.accepted:
            assert e["version"] == "0" and e["detail-type"] == "GuardDuty Finding" and e["source"] == "aws.guardduty"
            assert e["account"] == "111122223333" and e["region"] == "us-east-1" and e["resources"] == []
            assert e["id"] == event_id(e["detail"]["id"], e["detail"]["updatedAt"])
            assert e["time"].endswith("Z") and "." not in e["time"]
        # a restart: the cursor is in the store, nothing delivered goes again
        again = _exporter(store, [WebhookDestination(receiver.url, SECRET)])
        assert again.export_once() == 0
        # an update of a finding is a new event (another id), sent once more
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "b", 3)])  # all three updated; the archived one stays archived and unsent
        assert again.export_once() == 2
        assert len({e["id"] for e in receiver.accepted}) == len(receiver.accepted)
        exporter.close()
        again.close()
    finally:
        store.close()
        receiver.close()


def test_a_wrong_secret_is_refused_by_the_receiver_and_dead_lettered(tmp_path: Path) -> None:
    receiver = Receiver(fail=0)
    store = Store(tmp_path / "s.db")
    dead = tmp_path / "dead.jsonl"
    try:
        exporter = _exporter(store, [WebhookDestination(receiver.url, "not-the-secret")], dead_letter=dead, attempts=3)
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "a", 2)])
        assert exporter.export_once() == 2
        lines = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
        assert len(lines) == 2 and receiver.bad_signatures == 6 and not receiver.accepted
        assert all(line["error"].endswith("HTTP 401") and line["attempts"] == 3 and line["event"]["detail-type"] == "GuardDuty Finding"
                   for line in lines)
        assert exporter.export_once() == 0  # the cursor moved past them
        exporter.close()
    finally:
        store.close()
        receiver.close()


def test_signature_is_the_hmac_of_the_body() -> None:
    from trailhound.export.envelope import signature

    body = b'{"id":"x"}'
    assert signature(SECRET, body) == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verify(SECRET, body, signature(SECRET, body)) and not verify(SECRET, body + b" ", signature(SECRET, body))


def test_file_export_waits_for_the_delay_and_the_writers_commit(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    out = tmp_path / "events.jsonl"
    try:
        horizon = [0.0]
        exporter = Exporter(store, [FileDestination(str(out))], ExportSettings(delay_s=1.0), horizon=lambda: horizon[0], notify=lambda _: None)
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "a", 2)])
        assert exporter.export_once() == 0  # the writer has not said it committed them
        horizon[0] = float("inf")
        assert exporter.export_once() == 0  # committed, but not a second old: GuardDuty gathers the first minutes' occurrences
        time.sleep(3.1)  # past the delay and the API's settling time
        assert exporter.export_once() == 2
        events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert {e["detail"]["type"] for e in events} == {"Stealth:IAMUser/CloudTrailLoggingDisabled"}
        exporter.close()
    finally:
        store.close()


@pytest.mark.parametrize("target", ["-"])
def test_stdout_destination_names_its_cursor(target: str) -> None:
    assert FileDestination(target).name == "stdout"
