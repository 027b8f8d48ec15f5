"""What the engine works out once and shares: a batch's calls grouped once for every detector with the same
key function (``engine.runner.Shared``). It must give exactly what grouping each detector's rows gives."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from trailhound.detectors import default_detectors
from trailhound.engine import KeyedDetector
from trailhound.engine.detector import rows_for
from trailhound.engine.runner import Facts, Records, group
from trailhound.formats import Kind, parse
from trailhound.simulator.records import iam_user, record


def _batch(seed: int) -> list:
    """A shuffled batch of calls: users and instance sessions, management and S3 data events, services."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    acct = "111122223333"
    who = [iam_user(acct, n) for n in ("ann", "bo", "cy")] + [
        {"type": "AssumedRole", "arn": f"arn:aws:sts::{acct}:assumed-role/web/i-0abc{n}def012345678", "accountId": acct,
         "accessKeyId": f"ASIAXX{n}", "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{acct}:role/web"}}}
        for n in range(2)]
    calls = [("ListBuckets", "s3.amazonaws.com", False), ("GetObject", "s3.amazonaws.com", True), ("CreateUser", "iam.amazonaws.com", False),
             ("DescribeInstances", "ec2.amazonaws.com", False), ("GetSecretValue", "secretsmanager.amazonaws.com", False),
             ("Invoke", "lambda.amazonaws.com", True)]
    recs = []
    for i in range(600):
        api, svc, data = rng.choice(calls)
        recs.append(record(api, svc, time=start + timedelta(seconds=rng.randint(0, 7200)), identity=rng.choice(who),
                           ip=rng.choice(["81.2.69.160", "203.0.113.9", "ec2.amazonaws.com"]), data_event=data,
                           params={"bucketName": rng.choice(["a", "b"]), "key": str(i)} if svc.startswith("s3") else None,
                           error_code=rng.choice([None, None, "AccessDenied"])))
    parsed = parse("batch.json", json.dumps({"Records": recs}).encode(), Kind.CLOUDTRAIL)
    events = list(parsed.events)
    rng.shuffle(events)  # (a slice of a merged batch is only roughly in time order)
    return events


def _plain(groups: dict) -> dict:
    return {k: ([id(r) for r in rows], list(rows.times), rows.ordered, rows.facts, first, last) for k, (rows, first, last) in groups.items()}


def test_a_batch_grouped_once_gives_every_detector_what_grouping_its_own_rows_gives() -> None:
    detectors = [d for d in default_detectors() if isinstance(d, KeyedDetector) and d.key_by is not None]
    assert len(detectors) >= 3  # the identity detectors share identity_key
    for seed in range(3):
        events = _batch(seed)
        times = [e.event_time.timestamp() for e in events]
        facts = Facts(events, times)
        for det in detectors:
            rows = rows_for(det, events)
            shared = group(det, rows, facts)
            alone = group(det, rows, Facts())
            assert list(shared) == list(alone)  # the same keys, in the order of their first row
            assert _plain(shared) == _plain(alone)
            assert all(isinstance(r, Records) and r.memo is facts.memo for r, _, _ in shared.values())  # one memo per batch
        assert len(facts.shared) == len({(d.key_by, d.facts_by) for d in detectors})  # one grouping per shared key function
        ic = next(d for d in detectors if d.name == "instance-credential-exfiltration")
        assert any(k.endswith("|i-0abc1def012345678") for k in group(ic, rows_for(ic, events), facts))


def test_rows_from_outside_the_batch_are_grouped_as_before() -> None:
    det = next(d for d in default_detectors() if isinstance(d, KeyedDetector) and d.key_by is not None)
    events = _batch(7)
    facts = Facts(events[:100], [e.event_time.timestamp() for e in events[:100]])
    rows = rows_for(det, events[50:200])  # partly another batch's
    assert _plain(group(det, rows, facts)) == _plain(group(det, rows, Facts()))
