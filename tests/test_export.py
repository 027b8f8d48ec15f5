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


# -- OCSF bodies and the S3 destination ------------------------------------------------------------

def test_ocsf_detection_findings_carry_the_required_fields(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    out = tmp_path / "ocsf.jsonl"
    try:
        exporter = _exporter(store, [FileDestination(str(out))], format="ocsf")
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "a", 2)])
        assert exporter.export_once() == 2
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "b", 2)])  # the same two, updated
        assert exporter.export_once() == 2
        findings = {f["id"]: f for f in store.findings()}
        exporter.close()
    finally:
        store.close()
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [e["activity_id"] for e in events] == [1, 1, 2, 2]  # created, then updated
    for e in events:
        # the class's required attributes (OCSF 1.3 Detection Finding) and the cloud profile's
        assert (e["class_uid"], e["category_uid"], e["type_uid"]) == (2004, 2, 200400 + e["activity_id"])
        assert e["severity_id"] == 2 and e["severity"] == "Low"  # CloudTrailLoggingDisabled is Low (2.0) in GuardDuty
        assert isinstance(e["time"], int) and e["time"] > 1_700_000_000_000  # epoch milliseconds
        assert e["metadata"]["version"] == "1.3.0" and e["metadata"]["product"]["name"] == "Trailhound"
        assert e["metadata"]["product"]["vendor_name"] and "cloud" in e["metadata"]["profiles"]
        assert e["cloud"]["provider"] == "AWS" and e["cloud"]["account"]["uid"] == "111122223333" and e["cloud"]["region"] == "us-east-1"
        info = e["finding_info"]
        f = findings[info["uid"]]
        assert info["title"] == e["unmapped"]["guardduty"]["title"] and info["types"] == ["Stealth:IAMUser/CloudTrailLoggingDisabled"]
        if e["activity_id"] == 2:  # the update carries the finding as it now stands (the latest occurrence's details)
            assert info["title"] == f["title"] and e["unmapped"]["guardduty"]["service"]["count"] == f["service"]["count"] == 2
        assert e["metadata"]["uid"] == event_id(info["uid"], e["unmapped"]["guardduty"]["updatedAt"])
        assert e["resources"][0]["uid"].startswith("AKIAEXAMPLE0000MAL") and e["resources"][0]["type"] == "AccessKey"
        assert e["start_time"] <= e["end_time"] and e["status_id"] == 1 and e["is_alert"] is True
    assert len({e["metadata"]["uid"] for e in events}) == 4


@pytest.mark.parametrize(("score", "want"), [(0.0, 1), (1.0, 2), (3.9, 2), (4.0, 3), (6.9, 3), (7.0, 4), (8.9, 4), (9.0, 5), (10.0, 5)])
def test_ocsf_severity_follows_guarddutys_ranges(score: float, want: int) -> None:
    from trailhound.export.ocsf import severity

    assert severity(score)[0] == want


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from s3_server import s3_server

    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def test_s3_destination_writes_guarddutys_layout(s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import re

    from trailhound.export.s3_destination import S3Destination

    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    client = s3.client()
    client.create_bucket(Bucket="findings")
    store = Store(tmp_path / "s.db")
    dead = tmp_path / "dead.jsonl"
    try:
        dest = S3Destination("s3://findings/exports", s3.endpoint)
        exporter = _exporter(store, [dest], dead_letter=dead)
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "a", 3)])
        assert exporter.export_once() == 3
        stored = {(f["id"], f["updatedAt"]) for f in store.findings()}
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="findings")["Contents"]]
        assert len(keys) == 1, keys  # one pass, one account and region: one object
        assert re.fullmatch(r"exports/AWSLogs/111122223333/GuardDuty/us-east-1/\d{4}/\d{2}/\d{2}/[0-9a-f-]{36}\.jsonl\.gz", keys[0]), keys[0]
        lines = gzip.decompress(client.get_object(Bucket="findings", Key=keys[0])["Body"].read()).splitlines()
        assert {(f["id"], f["updatedAt"]) for f in map(orjson.loads, lines)} == stored  # the findings themselves, a line each
        # the same findings sent again (a retry, or a crash before the cursor) land under the same key
        rows = exporter._page((0, ""), 2**62, 500)
        dest.send([exporter._render(doc, a, fb, exporter._detectors()) for _, _, doc, a, fb in rows])
        assert [o["Key"] for o in client.list_objects_v2(Bucket="findings")["Contents"]] == keys
        exporter.close()
        # the store down (nothing listens there): retried, then dead-lettered with the reason
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        gone = _exporter(store, [S3Destination("s3://findings/x/", f"http://127.0.0.1:{port}")], dead_letter=dead, attempts=2)
        time.sleep(0.01)
        _scan(store, [_attack(tmp_path, "b", 3)])
        assert gone.export_once() == 3 and gone.status.failures == 2 and gone.status.dead_lettered == 3
        errors = [orjson.loads(line)["error"] for line in dead.read_bytes().splitlines()]
        assert len(errors) == 3 and all(e.startswith("s3:s3://findings/x/: Could not connect") for e in errors), errors
        gone.close()
    finally:
        store.close()
