"""ResourceCredentialExfiltration.OutsideAWS judged directly (no pipeline): which sessions are a Lambda
function's or an ECS task's, and what the detector learns of their sources outside AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from trailhound.detectors import resource_credentials as rc
from trailhound.detectors.anomalous_behavior import FAR, OFFICE, VPS
from trailhound.detectors import role_sessions
from trailhound.detectors.role_sessions import credential_key
from trailhound.engine import Engine
from trailhound.enrich.geo import default_provider
from trailhound.enrich.places import GeoPlaces
from trailhound.events import ApiCall
from trailhound.simulator.records import record
from trailhound.store.database import Changes, Store

from conftest import store_at

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
LAMBDA_UA = "aws-sdk-nodejs/3.654.0 ua/2.1 os/linux#5.10.226 lang/js md/nodejs#20.17.0 exec-env/AWS_Lambda_nodejs20.x"
CLI = "aws-cli/2.17.50 ua/2.0 os/linux"


@pytest.fixture(scope="module")
def detector() -> rc.ResourceCredentialExfiltration:
    return rc.ResourceCredentialExfiltration(places=GeoPlaces(default_provider()))


def calls(records: list[dict[str, Any]]) -> list[ApiCall]:
    return [msgspec.json.decode(orjson.dumps(r), type=ApiCall) for r in records]


def run(det: rc.ResourceCredentialExfiltration, records: list[dict[str, Any]]) -> list[Any]:
    """Key every call (in order: an issuance names the session for the calls after it), then feed each key a day at a time."""
    events = calls(records)
    keys = [k if k and det.owns(k) else None for k in map(credential_key, events)]  # as the engine keys a batch for it
    states: dict[str, Any] = {}
    raised = []
    for day in sorted({e.event_time.date() for e in events}):
        for key in dict.fromkeys(k for k, e in zip(keys, events) if k and e.event_time.date() == day):
            rows = [e for k, e in zip(keys, events) if k == key and e.event_time.date() == day]
            occs, states[key] = det.update(key, rows, states.get(key), 0.0)
            raised += occs
    return raised


def use(who: dict[str, Any], ip_: str, at: datetime, ua: str = CLI, api: str = "ListBuckets") -> dict[str, Any]:
    return record(api, "s3.amazonaws.com", time=at, account=ACCOUNT, identity=who, ip=ip_, ua=ua)


def test_a_session_lambda_issued_is_judged_from_its_first_call(detector: rc.ResourceCredentialExfiltration) -> None:
    # a function named like nothing in particular, whose role is named like nothing either: only the issuance says Lambda
    who = rc.lambda_role(ACCOUNT, "billing-sync", "svc-billing")
    issued = rc.issuance(ACCOUNT, START - timedelta(minutes=5), "lambda.amazonaws.com", "svc-billing", "billing-sync")
    (o,) = run(detector, [issued, use(who, VPS, START)])
    assert o.type == rc.OUTSIDE and o.additional_info["resourceType"] == "Lambda" and o.additional_info["resourceName"] == "billing-sync"
    assert "Lambda function billing-sync" in o.title
    # the same kind of session with no issuance, no runtime and no task-id name is anyone's: not judged
    assert run(detector, [use(rc.lambda_role(ACCOUNT, "ops-script", "svc-ops"), VPS, START)]) == []


def test_the_runtime_user_agent_marks_the_session(detector: rc.ResourceCredentialExfiltration) -> None:
    who = rc.lambda_role(ACCOUNT, "pdf-render", "pdf-render-role")
    own = [use(who, "3.236.72.15", START - timedelta(minutes=m), LAMBDA_UA, "GetObject") for m in (30, 20, 10)]
    assert run(detector, own) == []  # inside AWS: the function itself
    # the thief's calls carry no runtime: the session is known by the function's own calls before them
    (o,) = run(detector, [*own, use(who, FAR, START), use(who, FAR, START + timedelta(minutes=1))])  # once per address
    assert o.type == rc.OUTSIDE and f"from {FAR}, outside AWS" in o.description


def test_an_ecs_task_id_session_and_private_or_aws_addresses(detector: rc.ResourceCredentialExfiltration) -> None:
    task = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    who = {**rc.lambda_role(ACCOUNT, task, "orders-task"), "accessKeyId": "ASIAEXAMPLETASK00001"}
    inside = [use(who, "10.0.3.7", START), use(who, "54.90.185.12", START)]  # a VPC endpoint, a NAT gateway
    assert run(detector, inside) == []
    (o,) = run(detector, [*inside, use(who, VPS, START + timedelta(minutes=5))])
    assert o.additional_info["resourceType"] == "ECS"
    # a long-term key (AKIA) is no task's session, whatever the session name
    akia = {**who, "accessKeyId": "AKIAEXAMPLETASK00001"}
    assert run(detector, [use(akia, "54.90.185.12", START), use(akia, VPS, START + timedelta(minutes=5))]) == []
    # the same name first used from outside AWS is a person's uuid4().hex session on a laptop, every day
    assert run(detector, [use(who, VPS, START), use(who, VPS, START + timedelta(days=1))]) == []


def test_a_persons_session_is_no_resource_whatever_its_agent(detector: rc.ResourceCredentialExfiltration) -> None:
    """`sam local invoke` runs the Lambda base image on a laptop: boto3 in it says exec-env/AWS_Lambda_python3.12 while it
    uses the developer's Identity Center session (named after her e-mail)."""
    sso = {**rc.lambda_role(ACCOUNT, "alice@example.com", "AWSReservedSSO_Developer_0123456789abcdef"), "accessKeyId": "ASIAEXAMPLESSO000001"}
    assert run(detector, [use(sso, VPS, START, LAMBDA_UA), use(sso, VPS, START + timedelta(hours=1), LAMBDA_UA)]) == []
    # the same agent on a function's session outside AWS is still judged
    fn = rc.lambda_role(ACCOUNT, "pdf-render", "pdf-render-role")
    assert [o.type for o in run(detector, [use(fn, VPS, START, LAMBDA_UA)])] == [rc.OUTSIDE]


def test_a_recurring_outside_source_is_learned(detector: rc.ResourceCredentialExfiltration) -> None:
    who = rc.lambda_role(ACCOUNT, "nightly-export", "nightly-export-role")  # in a VPC routed through the office proxy
    days = [use(who, OFFICE, START - timedelta(days=d), LAMBDA_UA, "PutObject") for d in (3, 2, 1, 0)]
    raised = run(detector, days)
    # GuardDuty's way: new on its first days, expected once seen on three
    assert [o.time for o in raised] == [(START - timedelta(days=d)).timestamp() for d in (3, 2)]
    # once learned, the proxy is expected; a thief elsewhere is not
    later = [use(who, OFFICE, START + timedelta(days=1), LAMBDA_UA), use(who, VPS, START + timedelta(days=1, minutes=5))]
    (o,) = run(detector, days + later)[2:]
    assert VPS in o.description and OFFICE in o.additional_info["knownExternalSources"]


# ---- keyed state: what a session is, learned from its own records wherever they land ----------------------
def _scan(det: rc.ResourceCredentialExfiltration, batches: list[list[dict[str, Any]]], url: str) -> list[Any]:
    """Feed each batch to a new process (a new Engine on the store reopened, the key memos cleared), committing after each."""
    out: list[Any] = []
    for batch in batches:
        for memo in (role_sessions._instance_key, role_sessions._instance_of, role_sessions._public):
            memo.cache_clear()
        store = Store(url)
        mark = store.meta("watermark")
        engine = Engine([det], store, lateness=300.0, watermark=float(mark) if mark is not None else float("-inf"))
        events = calls(batch)
        out += engine.feed(det, events)
        out += engine.advance(max(e.event_time.timestamp() for e in events))
        store.commit(Changes(state=engine.states.changes(), ttl={det.name: det.ttl}, watermark=engine.watermark))
        store.close()
    return out


def _verdicts(occurrences: list[Any]) -> list[tuple[str, str, str, float, str]]:
    return sorted((o.type, o.additional_info["resourceType"], o.additional_info["resourceName"], o.time, o.aggregation_key) for o in occurrences)


def test_the_same_records_give_the_same_findings_however_batched_and_restarted(detector: rc.ResourceCredentialExfiltration,
                                                                                tmp_path: Path) -> None:
    billing, ops = rc.lambda_role(ACCOUNT, "billing-sync", "svc-billing"), rc.lambda_role(ACCOUNT, "ops-script", "svc-ops")
    issued = rc.issuance(ACCOUNT, START - timedelta(minutes=5), "lambda.amazonaws.com", "svc-billing", "billing-sync")
    stolen, anyones = use(billing, VPS, START), use(ops, VPS, START + timedelta(minutes=1))  # the second: no evidence, not judged
    # the key of a call does not depend on whether its issuance was seen before (nothing is remembered outside the state)
    assert credential_key(calls([stolen])[0]) == credential_key(calls([issued])[0]) == "S|" + billing["arn"]
    layouts = {"one batch": [[issued, stolen, anyones]], "issuance, then a restart": [[issued], [stolen, anyones]],
               "three processes": [[issued], [anyones], [stolen]]}
    found = {}
    for name, batches in layouts.items():
        url = store_at(tmp_path, name.replace(" ", "-").replace(",", ""))
        found[name] = _verdicts(_scan(detector, batches, str(url)))
        store = Store(str(url))
        kept = store.state_rows(detector.name, ["S|" + billing["arn"], "S|" + ops["arn"]])
        store.close()
        assert list(kept) == ["S|" + billing["arn"]], name  # the session with no evidence keeps no state
    assert found["one batch"] == [(rc.OUTSIDE, "Lambda", "billing-sync", START.timestamp(), "Lambda|billing-sync")]
    assert found["issuance, then a restart"] == found["three processes"] == found["one batch"]
    # without its issuance in any batch, the same stolen use is anyone's session's
    assert _scan(detector, [[stolen, anyones]], str(store_at(tmp_path, "no-issuance"))) == []


def test_a_known_lambda_session_is_still_known_by_a_new_engine(detector: rc.ResourceCredentialExfiltration, tmp_path: Path) -> None:
    who, other = rc.lambda_role(ACCOUNT, "pdf-render", "pdf-render-role"), rc.lambda_role(ACCOUNT, "pdf-admin", "pdf-render-role")
    url = str(store_at(tmp_path, "known"))
    # the function's own calls (its runtime named, from Lambda's addresses) in one process
    assert _scan(detector, [[use(who, "3.236.72.15", START - timedelta(minutes=m), LAMBDA_UA, "GetObject") for m in (20, 10)]], url) == []
    # a new process (new Engine, memos cleared) meets the thief's calls, which name no runtime: still the function's
    (o,) = _scan(detector, [[use(who, FAR, START), use(other, FAR, START)]], url)  # the other session of the role shows nothing
    assert o.additional_info["resourceName"] == "pdf-render" and o.additional_info["resourceType"] == "Lambda"
    store = Store(url)
    (row,) = store.state_rows(detector.name, ["S|" + who["arn"]]).values()
    store.close()
    assert msgspec.msgpack.decode(row[4], type=rc.ResourceEgress).kind == "Lambda"
