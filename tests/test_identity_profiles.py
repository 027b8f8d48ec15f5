"""Identity profiles and IAM AnomalousBehavior, judged directly (no pipeline): the profile's size bound,
and that each near miss beside the detector is silent for its stated reason — the same activity with
that reason taken away fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest

from trailhound.detectors import anomalous_behavior as ab
from trailhound.detectors import identity_profile as ip
from trailhound.detectors.principals import agent_family, identity_key
from trailhound.enrich.geo import default_provider
from trailhound.enrich.places import GeoPlaces
from trailhound.events import ApiCall
from trailhound.simulator.records import CLI_UA, failed_sign_in, iam_user, record

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "111122223333"


@pytest.fixture(scope="module")
def detector() -> ab.AnomalousBehavior:
    return ab.AnomalousBehavior(places=GeoPlaces(default_provider()))


def calls(records: list[dict[str, Any]]) -> list[ApiCall]:
    return [msgspec.json.decode(orjson.dumps(r), type=ApiCall) for r in records]


def run(det: ab.AnomalousBehavior, records: list[dict[str, Any]], per_call: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """Feed records one day at a time, as a scan would (``per_call``: each call as a batch of its own, as a
    stream cut fine would); the types raised and the states by key."""
    states: dict[str, Any] = {}
    raised = []
    for day in sorted({r["eventTime"][:10] for r in records}):
        todays = calls([r for r in records if r["eventTime"][:10] == day])
        for key in {det.key_of(e) for e in todays} - {None}:
            mine = sorted((e for e in todays if det.key_of(e) == key), key=lambda e: e.event_time)
            for batch in ([e] for e in mine) if per_call else [mine]:
                occs, states[key] = det.update(key, batch, states.get(key), 0.0)
                raised += occs
    return raised, states


def test_profile_of_a_busy_identity_stays_under_2_kb(detector: ab.AnomalousBehavior) -> None:
    from trailhound.detectors.api_classes import CLASS_OF

    apis = sorted(CLASS_OF)[:30]  # 30 distinct classed APIs a month: a busy administrator
    who = iam_user(ACCOUNT, "busy-admin")
    services = [(a, "iam.amazonaws.com") for a in apis]
    days = [r for d in range(30) for r in ip.daily(START - timedelta(days=d), 1, who, services[d % 3::3], [ab.OFFICE, ab.HOME, ab.FAR][d % 3:d % 3 + 1],
                                                   CLI_UA if d % 2 else ab.BROWSER, ACCOUNT, region=("us-east-1", "eu-west-1")[d % 2])]
    _, states = run(detector, days)
    (st,) = states.values()
    size = len(msgspec.msgpack.encode(st))
    assert len(st.apis.values) == 30 and size <= 2048, size
    # full to every capacity with long names (the hours and bursts with every value they can take), it is still bounded
    for i in range(200):
        t = START.timestamp() + i * ip.DAY + (i % 8) * ip.BLOCK
        for dim in set(ip.PROFILES) - {ip.HOUR, ip.ERRORS}:
            ip.learn(st, {dim: f"{dim}-value-with-a-long-name-{i:04d}"}, t)
        ip.learn(st, {ip.HOUR: ip.hour_of_week(t), ip.ERRORS: "AccessDenied"}, t)
        ip.observe_refusal(st, t)
        ip.observe_refusal(st, t, ip.FAILED_SIGN_IN)
    assert len(st.hours.values) == 16 and len(st.apis.values) == 160
    assert len(msgspec.msgpack.encode(st)) <= 12 * 1024  # (160 APIs of long names: a scanner's role, not the typical identity)


def test_a_scanner_role_calling_150_apis_a_day_knows_them_all(detector: ab.AnomalousBehavior) -> None:
    """A CSPM's read-only role calls ~150 classed APIs every day (snapshots included): a profile of fewer APIs evicted
    yesterday's to learn today's, so every daily call stayed unseen and the vendor's new scanner country raised them all."""
    from trailhound.detectors.api_classes import CLASS_OF

    apis = [(a, "ec2.amazonaws.com") for a in sorted(CLASS_OF)[:150]]
    who = ab.role_session(ACCOUNT, "CspmReadOnly", "scan")
    days = ip.daily(START, 17, who, apis, [ab.OFFICE], CLI_UA, ACCOUNT)
    today = ip.daily(START + timedelta(days=1), 1, who, apis, [ab.FAR], CLI_UA, ACCOUNT)  # from a new country, as every day otherwise
    raised, states = run(detector, days + today)
    assert raised == []
    (st,) = states.values()
    assert len(st.apis.values) == 150


def test_role_sessions_share_one_profile_and_service_roles_have_none() -> None:
    one, two = (calls([record("DescribeInstances", "ec2.amazonaws.com", time=START, identity=ab.role_session(ACCOUNT, "deployer", s), ip=ab.OFFICE)])[0]
                for s in ("run-1", "run-2"))
    assert identity_key(one) == identity_key(two) == f"arn:aws:iam::{ACCOUNT}:role/deployer"
    linked = calls([record("DescribeInstances", "ec2.amazonaws.com", time=START, ip=ab.OFFICE,
                           identity=ab.role_session(ACCOUNT, "aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", "x"))])[0]
    assert identity_key(linked) is None
    assert agent_family(CLI_UA) == agent_family("aws-cli/2.9.1 Python/3.9") == "aws-cli" and agent_family(ab.BROWSER) == "browser"


def test_a_console_backend_agent_is_the_browser_not_the_sdk_it_wraps() -> None:
    """The S3 console signs its calls as "[S3Console/0.4, aws-internal/3 aws-sdk-java/...]": a user who only ever used
    the console deleting a bucket there has not switched to the Java SDK (an unseen agent made that an anomaly)."""
    s3_console = "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.226 OpenJDK_64-Bit_Server_VM/25.412-b08 java/1.8.0_412]"
    assert agent_family(s3_console) == agent_family(ab.BROWSER) == agent_family("console.ec2.amazonaws.com") == "browser"
    assert agent_family("console.amazonaws.com") == agent_family("AWS Internal [console.aws.amazon.com]") == "browser"
    # the sign-in service switching a console user into a role of a new account: her browser, not the Java SDK
    assert agent_family("AWS Signin, aws-internal/3 aws-sdk-java/1.12.720 Linux/5.10.225 OpenJDK_64-Bit_Server_VM/25.412-b08") == "browser"
    assert agent_family("aws-sdk-java/1.12.488 Linux/5.10.226 OpenJDK_64-Bit_Server_VM/25.412-b08") == "aws-sdk-java"


def test_a_client_is_its_family_across_versions_and_a_functions_runtime_is_its_platform() -> None:
    """An add-on's upgrade from the Go SDK v1 to v2, or a function rewritten from Python to Node.js, is no new client
    (each made a new API an anomaly through "an unseen client"); a person's new tool still is."""
    assert agent_family("aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux api/ec2#1.173.0") == agent_family(
        "aws-sdk-go/1.55.5 (go1.22.5; linux; amd64)") == "aws-sdk-go"
    python = "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.223 md/arch#x86_64 lang/python#3.12.4 exec-env/AWS_Lambda_python3.12"
    node = "aws-sdk-js/3.600.0 ua/2.1 os/linux#5.10.223 lang/js md/nodejs#20.15.1 api/sns#3.600.0 exec-env/AWS_Lambda_nodejs20.x"
    assert agent_family(python) == agent_family(node) == "lambda"
    assert agent_family("aws-sdk-js/3.600.0 ua/2.1 os/linux lang/js md/nodejs#20.15.1") != agent_family(CLI_UA)


def test_a_cognito_identity_pools_role_is_its_end_users_not_an_identity() -> None:
    """An identity pool hands one role to every signed-in user of an app, each from their own network and browser:
    no habits to judge (a launch's first reads of a new bucket were Exfiltration), whatever the rules say of its calls."""
    pool = {"type": "AssumedRole", "principalId": "AROAEXAMPLECOGNITO01:CognitoIdentityCredentials",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Cognito_AcmeAppAuth_Role/CognitoIdentityCredentials", "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLECOGNITO01",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCOUNT}:role/Cognito_AcmeAppAuth_Role",
                                                 "accountId": ACCOUNT, "userName": "Cognito_AcmeAppAuth_Role"}}}
    [call] = calls([record("GetObject", "s3.amazonaws.com", time=START, identity=pool, ip=ab.HOME, ua=ab.BROWSER)])
    assert identity_key(call) is None


def _case(name: str) -> list[dict[str, Any]]:
    return next(c for c in ab.cases(START, ACCOUNT) if c.name == name).records


def test_new_hire_is_silent_only_because_of_the_warm_up(detector: ab.AnomalousBehavior) -> None:
    hire = iam_user(ACCOUNT, "omar-new-hire")
    today = [r for r in _case("new-hire-first-week") if r["eventTime"] >= START.strftime("%Y-%m-%d")]
    assert run(detector, _case("new-hire-first-week"))[0] == []
    settled = ip.daily(START, 14, hire, [("DescribeInstances", "ec2.amazonaws.com"), ("ListBuckets", "s3.amazonaws.com")], [ab.HOME], CLI_UA, ACCOUNT)
    assert [o.type for o in run(detector, settled + today)[0]] == [ab.type_of("Persistence")]


def test_one_unusual_dimension_is_not_enough(detector: ab.AnomalousBehavior) -> None:
    history = [r for r in _case("analyst-creates-user-and-key-from-vps") if r["eventTime"] < START.strftime("%Y-%m-%d")]
    analyst = iam_user(ACCOUNT, "nora-analyst")

    def create_user(ip_: str, ua: str) -> list[dict[str, Any]]:
        return [record("CreateUser", "iam.amazonaws.com", time=START, identity=analyst, ip=ip_, ua=ua, params={"userName": "x"})]

    assert run(detector, history + create_user(ab.OFFICE, CLI_UA))[0] == []  # a new API from the usual place and client
    assert [o.type for o in run(detector, history + create_user(ab.OFFICE, ab.BOTO))[0]] == [ab.type_of("Persistence")]  # + a new client
    # the usual API from a new network and client: no new API, nothing to say
    usual = [record("ListBuckets", "s3.amazonaws.com", time=START, identity=analyst, ip=ab.VPS, ua=ab.BOTO)]
    assert run(detector, history + usual)[0] == []


def test_ci_role_fires_when_its_new_call_comes_from_elsewhere(detector: ab.AnomalousBehavior) -> None:
    records = _case("ci-role-deploys-as-every-day")
    assert run(detector, records)[0] == []
    stolen = [{**r, "sourceIPAddress": ab.VPS} if "UpdateFunctionCode" in r["eventName"] else r for r in records]
    raised = run(detector, stolen)[0]
    assert [o.type for o in raised] == [ab.type_of("Persistence")]
    anomaly = raised[0].detection.anomaly
    (behavior,) = anomaly.unusual.behavior.values()
    assert behavior["ASN_ORG"].observations.text == ["Hetzner Online GmbH"] and "USER_AGENT_FAMILY" not in behavior
    (profile,) = anomaly.profiles.values()
    assert any("GetCallerIdentity" in o.observations.text for o in profile["API"])


def test_a_call_from_an_address_without_geolocation_reads_as_such(detector: ab.AnomalousBehavior) -> None:
    """192.0.2.0/24 (documentation) has no country nor ASN: the description names neither as a value ("country None")."""
    records = _case("ci-role-deploys-as-every-day")
    stolen = [{**r, "sourceIPAddress": "192.0.2.77"} if "UpdateFunctionCode" in r["eventName"] else r for r in records]
    (raised,) = run(detector, stolen)[0]
    assert "asn org 192.0.* (no ASN data)" in raised.description
    assert "None" not in raised.description and "net 192" not in raised.description
    from trailhound.detectors.principals import shown_place, shown_value

    assert shown_value(None) == "unknown" and shown_value("net 2001:db8") == "2001:db8:* (no ASN data)" and shown_value("Hetzner") == "Hetzner"
    # the S3 detector's place values carry their dimension
    assert shown_place("country None") == "country unknown" and shown_place("network net 192.0") == "network 192.0.* (no ASN data)"
    assert shown_place("client aws-cli") == "client aws-cli"


def test_reports_do_not_depend_on_how_the_calls_were_batched(detector: ab.AnomalousBehavior) -> None:
    """Once per class and hour, remembered in the state: a day fed as one batch or call by call (a stream,
    a Spark micro-batch) reports the same; an hour later, the class is reported again."""
    records = _case("ci-role-deploys-as-every-day")
    stolen = [{**r, "sourceIPAddress": ab.VPS} if "UpdateFunctionCode" in r["eventName"] else r for r in records]
    last = max(r["eventTime"] for r in stolen if "UpdateFunctionCode" in r["eventName"])
    at = datetime.fromisoformat(last.replace("Z", "+00:00"))
    again = [{**r, "eventTime": (at + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")} for r in stolen
             if r["eventTime"] == last for m in (10, 20)]  # the same call twice more within the hour
    later = [{**r, "eventTime": (at + timedelta(minutes=70)).strftime("%Y-%m-%dT%H:%M:%SZ")} for r in stolen if r["eventTime"] == last]
    whole = [(o.type, o.time) for o in run(detector, stolen + again + later)[0]]
    assert [(o.type, o.time) for o in run(detector, stolen + again + later, per_call=True)[0]] == whole
    assert [t for t, _ in whole] == [ab.type_of("Persistence")] * 2 and whole[1][1] - whole[0][1] >= ab.NEARBY


VPN = ab.VPN


def test_commercial_vpn_egress_is_reported_with_the_finding(detector: ab.AnomalousBehavior) -> None:
    history = [r for r in _case("analyst-creates-user-and-key-from-vps") if r["eventTime"] < START.strftime("%Y-%m-%d")]
    analyst = iam_user(ACCOUNT, "nora-analyst")

    def create_user(ip_: str, ua: str = ab.BOTO) -> list[dict[str, Any]]:
        return [record("CreateUser", "iam.amazonaws.com", time=START, identity=analyst, ip=ip_, ua=ua, params={"userName": "x"})]

    (vpn,) = run(detector, history + create_user(VPN))[0]
    assert vpn.type == ab.type_of("Persistence")
    assert vpn.additional_info["anonymizingEgress"] is True and vpn.additional_info["anonymizer"] == "VPN"
    assert "commercial VPN" in vpn.description
    # the same new API and client from a network that is no VPN: the finding, without anonymizing egress
    (far,) = run(detector, history + create_user(ab.FAR))[0]
    assert far.additional_info["anonymizingEgress"] is False and "anonymizer" not in far.additional_info
    (hosting,) = run(detector, history + create_user(ab.VPS))[0]
    assert hosting.additional_info["anonymizer"] == "hosting"
    # near miss: the new API from the analyst's usual place and client
    assert run(detector, history + create_user(ab.OFFICE, CLI_UA))[0] == []


def test_a_vpn_that_is_the_identity_usual_place_is_no_news(detector: ab.AnomalousBehavior) -> None:
    remote = iam_user(ACCOUNT, "remote-worker")  # always works through the company's commercial VPN
    history = ip.daily(START, 14, remote, [("DescribeInstances", "ec2.amazonaws.com"), ("ListBuckets", "s3.amazonaws.com")], [VPN], CLI_UA, ACCOUNT)
    new_api = [record("CreateAccessKey", "iam.amazonaws.com", time=START, identity=remote, ip=VPN, ua=CLI_UA, params={"userName": "remote-worker"})]
    assert run(detector, history + new_api)[0] == []


def test_vpn_ranges_leave_the_big_clouds_out_and_read_operator_lists(tmp_path: Any) -> None:
    from trailhound.enrich import vpn

    places = GeoPlaces(default_provider())
    assert VPN in vpn.load() and places.vpn_egress(VPN)
    # the list is X4BNet's VPN-and-datacenter list: it names AWS and Azure, where runners and workloads call from
    assert "3.5.140.2" in vpn.load() and not places.vpn_egress("3.5.140.2")  # EC2
    assert ab.RUNNERS[0] in vpn.load() and not places.vpn_egress(ab.RUNNERS[0])  # Azure-hosted CI runners
    assert not places.vpn_egress(ab.OFFICE) and not places.vpn_egress("10.1.2.3") and not places.vpn_egress("ec2.amazonaws.com")
    # IPv6 is the operator's list (MISP's vpn-ipv6 carries no licence to ship): a list.json, or CIDRs a line
    v6 = "2a02:6ea0:c000::17"
    assert not places.vpn_egress(v6)
    (tmp_path / "list.json").write_text('{"name": "vpn-ipv6", "type": "cidr", "list": ["2a02:6ea0:c000::/40"]}')
    (tmp_path / "more.txt").write_text(f"# the operator's own\n{ab.OFFICE}/32\n")
    given = GeoPlaces(default_provider(), vpn_lists=[tmp_path / "list.json", tmp_path / "more.txt"])
    assert given.vpn_egress(v6) and given.vpn_egress(ab.OFFICE) and given.vpn_egress(VPN)


def _analyst_history() -> list[dict[str, Any]]:
    return [r for r in _case("analyst-creates-user-and-key-from-vps") if r["eventTime"] < START.strftime("%Y-%m-%d")]


def _at(hour: int, minute: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute)


def test_hour_of_week_is_evidence_not_a_trigger(detector: ab.AnomalousBehavior) -> None:
    analyst = iam_user(ACCOUNT, "nora-analyst")  # works every day around 09:00 UTC (START is a Monday)
    history = _analyst_history()
    usual = [record(api, svc, time=_at(h, 10), identity=analyst, ip=ab.OFFICE, ua=CLI_UA)
             for h in (9, 3) for api, svc in (("ListBuckets", "s3.amazonaws.com"), ("StartQueryExecution", "athena.amazonaws.com"))]
    # her usual calls at her usual hour, and the same at 03:00: an unusual hour alone is nothing
    assert ip.hour_of_week(_at(9).timestamp()) == "wd09" and ip.hour_of_week(_at(3).timestamp()) == "wd03"
    assert ip.hour_of_week(START.timestamp() + 5 * ip.DAY) == "we09"
    assert run(detector, history + usual[:2])[0] == [] and run(detector, history + usual)[0] == []

    def attack(hour: int) -> list[Any]:
        raised = run(detector, history + [record("CreateUser", "iam.amazonaws.com", time=_at(hour), identity=analyst, ip=ab.VPS, ua=ab.BOTO,
                                                 params={"userName": "x"})])[0]
        assert [o.type for o in raised] == [ab.type_of("Persistence")]
        return raised

    (night,) = attack(3)
    (behavior,) = night.detection.anomaly.unusual.behavior.values()
    assert behavior["HOUR_OF_WEEK"].observations.text == ["wd03"] and night.additional_info["unusual"]["HOUR_OF_WEEK"] == "wd03"
    (profile,) = night.detection.anomaly.profiles.values()
    assert {v for o in profile["HOUR_OF_WEEK"] for v in o.observations.text} == {"wd09", "we09"}  # her usual hours (she works weekends too)
    (day,) = attack(9)
    (behavior,) = day.detection.anomaly.unusual.behavior.values()
    assert "HOUR_OF_WEEK" not in behavior  # at her usual hour the hour is no evidence


def _denied(who: dict[str, Any], at: datetime, n: int, ip_: str, every_s: int = 15) -> list[dict[str, Any]]:
    apis = [("ListUsers", "iam.amazonaws.com"), ("GetSecretValue", "secretsmanager.amazonaws.com"), ("ListRoles", "iam.amazonaws.com")]
    return [record(apis[i % 3][0], apis[i % 3][1], time=at + timedelta(seconds=every_s * i), identity=who, ip=ip_, ua=ab.BOTO,
                   error_code="AccessDenied") for i in range(n)]


def test_a_burst_of_refused_calls_is_reported_with_the_finding(detector: ab.AnomalousBehavior) -> None:
    analyst = iam_user(ACCOUNT, "nora-analyst")  # never refused anything
    history = _analyst_history()
    key = [record("CreateAccessKey", "iam.amazonaws.com", time=_at(9, 7), identity=analyst, ip=ab.FAR, ua=ab.BOTO, params={"userName": "nora-analyst"})]
    burst = _denied(analyst, _at(9, 1), 20, ab.FAR)  # 20 refused in 5 minutes, then a key created
    raised, states = run(detector, history + burst + key)
    assert {o.type for o in raised} == {ab.type_of(c) for c in ("Persistence", "Discovery", "CredentialAccess")}
    for o in raised:
        (behavior,) = o.detection.anomaly.unusual.behavior.values()
        assert behavior["ERROR_BURST"].observations.text == ["20 refused calls (AccessDenied) in 5 minutes from 09:01 UTC"]
    # the burst alone, of APIs she calls every day from her office, is nothing: and then the key from far away has no burst near it
    usual = [{**r, "eventName": ("ListBuckets", "GetBucketLocation")[i % 2], "eventSource": "s3.amazonaws.com", "sourceIPAddress": ab.OFFICE,
              "userAgent": CLI_UA} for i, r in enumerate(_denied(analyst, _at(9, 1), 20, ab.OFFICE))]
    assert run(detector, history + usual)[0] == []
    late = [{**key[0], "eventTime": _at(13).strftime("%Y-%m-%dT%H:%M:%SZ")}]
    (alone,) = run(detector, history + usual + late)[0]
    (behavior,) = alone.detection.anomaly.unusual.behavior.values()
    assert "ERROR_BURST" not in behavior
    # a few refusals (a typo, a missing permission) are no burst
    raised, _ = run(detector, history + _denied(analyst, _at(9, 1), 5, ab.FAR, every_s=60) + key)
    assert all("ERROR_BURST" not in next(iter(o.detection.anomaly.unusual.behavior.values())) for o in raised)


def test_an_identity_that_is_refused_every_day_has_no_unusual_burst(detector: ab.AnomalousBehavior) -> None:
    ci = ab.role_session(ACCOUNT, "ci-release", "gh-run-0")  # its plan probes permissions it lacks, every day
    records = _case("ci-role-deploys-as-every-day")
    daily_probes = [r for d in range(14, 0, -1) for r in _denied(ci, _at(8, 30) - timedelta(days=d), 12, ab.RUNNERS[0])]
    today = _denied(ci, _at(8, 30), 12, ab.RUNNERS[0])
    stolen = [{**r, "sourceIPAddress": ab.VPS} if "UpdateFunctionCode" in r["eventName"] else r for r in records]
    (o,) = run(detector, daily_probes + today + stolen)[0]
    (behavior,) = o.detection.anomaly.unusual.behavior.values()
    assert "ERROR_BURST" not in behavior
    (profile,) = o.detection.anomaly.profiles.values()
    assert [v for p in profile["ERROR_BURST"] for v in p.observations.text] == ["AccessDenied"]


def test_the_scan_reports_vpn_egress(tmp_path: Any) -> None:
    """Through the whole pipeline (the scan's own GeoPlaces): the case beside the detector names the VPN."""
    import json

    from conftest import scan

    from trailhound.simulator.attack_day import write_case_logs

    case = next(c for c in ab.cases(START, ACCOUNT) if c.name == "analyst-creates-key-through-a-commercial-vpn")
    _, store = scan(write_case_logs(tmp_path, [case]))
    (f,) = [f for f in store.findings() if f["type"] == ab.type_of("Persistence")]
    info = json.loads(f["service"]["additionalInfo"]["value"])
    assert info["anonymizer"] == "VPN" and info["anonymizingEgress"] is True


def test_a_buckets_hardening_is_no_tactic_its_opposite_is() -> None:
    """A Terraform module's first apply turns versioning and default encryption on, blocks public access and sets a
    TLS-only policy: none of it is Exfiltration, Impact or a sequence's S3Permission signal; suspending versioning,
    encrypting with another account's key and opening the bucket are."""
    from trailhound.detectors.api_classes import classify
    from trailhound.detectors.attack_sequence import _signal_of

    def call(api: str, **params: Any) -> ApiCall:
        return calls([record(api, "s3.amazonaws.com", time=START, account=ACCOUNT, identity=iam_user(ACCOUNT, "dev"), ip=ab.HOME,
                             params={"bucketName": "team-data", **params})])[0]

    own_key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    their_key = "arn:aws:kms:us-east-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def sse(key: str | None) -> dict[str, Any]:
        rule = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key} if key else {"SSEAlgorithm": "AES256"}
        return {"ServerSideEncryptionConfiguration": {"Rule": {"ApplyServerSideEncryptionByDefault": rule}}}

    tls_only = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": "arn:aws:s3:::team-data/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    hardening = [call("PutBucketVersioning", VersioningConfiguration={"Status": "Enabled"}), call("PutBucketEncryption", **sse(None)),
                 call("PutBucketEncryption", **sse(own_key)), call("PutBucketPolicy", bucketPolicy=tls_only),
                 call("PutBucketAcl", **{"x-amz-acl": "private"})]
    assert [classify(e)[0] for e in hardening] == [None] * 5
    assert _signal_of(call("PutBucketPublicAccessBlock", PublicAccessBlockConfiguration=dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True))) is None
    assert _signal_of(call("PutBucketPolicy", bucketPolicy=tls_only)) is None
    opening = [call("PutBucketVersioning", VersioningConfiguration={"Status": "Suspended"}), call("PutBucketEncryption", **sse(their_key)),
               call("PutBucketAcl", **{"x-amz-acl": "public-read"})]
    assert [classify(e)[0] for e in opening] == ["Exfiltration", "Impact", "Exfiltration"]
    assert _signal_of(opening[2])[0] == "S3Permission"


def test_a_region_is_evidence_only_where_the_identity_has_usual_regions(detector: ab.AnomalousBehavior) -> None:
    """A region the identity never used is reported with a finding; not for a role that calls more regions every day than
    its profile holds (a CSPM scanner): its profile keeps the last few, so us-east-1 read as "unusual" every time."""
    regions = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-southeast-1",
               "ap-northeast-1", "sa-east-1")

    def unusual(who: dict[str, Any], history: list[dict[str, Any]], region: str) -> dict[str, Any]:
        attack = record("CreateUser", "iam.amazonaws.com", time=_at(10), identity=who, ip=ab.VPS, ua=ab.BOTO, region=region, params={"userName": "x"})
        (found,) = run(detector, history + [attack])[0]
        (behavior,) = found.detection.anomaly.unusual.behavior.values()
        return behavior

    office = iam_user(ACCOUNT, "nina-office")  # us-east-1 only
    office_days = ip.daily(START, 14, office, [("ListBuckets", "s3.amazonaws.com"), ("DescribeInstances", "ec2.amazonaws.com")], [ab.OFFICE],
                           CLI_UA, ACCOUNT)
    assert unusual(office, office_days, "eu-north-1")["REGION"].observations.text == ["eu-north-1"]
    assert "REGION" not in unusual(office, office_days, "us-east-1")
    scanner = iam_user(ACCOUNT, "cspm-scanner")  # DescribeInstances in ten regions every day
    scanner_days = [r for region in regions for r in ip.daily(START, 14, scanner, [("DescribeInstances", "ec2.amazonaws.com")], [ab.OFFICE],
                                                               CLI_UA, ACCOUNT, region=region)]
    assert "REGION" not in unusual(scanner, scanner_days, "us-east-1")


def test_granting_a_policy_that_allows_everything_is_privilege_escalation() -> None:
    """AttachUserPolicy with AdministratorAccess (CreateUser's backdoor made admin) is PrivilegeEscalation whatever class
    the API is listed under, so a takeover's steps span the tactics a sequence needs; a narrow policy keeps its class. A call
    whose class depends on its parameters is never taken for another call alike by name (``call_sig``)."""
    from trailhound.detectors.api_classes import CLASS_OF, classify
    from trailhound.detectors.principals import call_sig

    def call(api: str, **params: Any) -> ApiCall:
        return calls([record(api, "iam.amazonaws.com", time=START, account=ACCOUNT, identity=iam_user(ACCOUNT, "ops"), ip=ab.HOME,
                             params=params)])[0]

    admin = call("AttachUserPolicy", userName="svc-sync", policyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    narrow = call("AttachUserPolicy", userName="svc-sync", policyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    star = call("PutRolePolicy", roleName="ci", policyName="x",
                policyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
    scoped = call("PutRolePolicy", roleName="ci", policyName="x",
                  policyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}')
    assert classify(admin)[0] == classify(star)[0] == "PrivilegeEscalation"
    assert classify(narrow)[0] == CLASS_OF["AttachUserPolicy"] and classify(scoped)[0] == CLASS_OF["PutRolePolicy"]
    assert call_sig(admin) is None and call_sig(narrow) is None
    world = calls([record("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", time=START, account=ACCOUNT, identity=iam_user(ACCOUNT, "ops"),
                          ip=ab.HOME, params={"groupId": "sg-1", "cidrIp": "0.0.0.0/0"})])[0]
    assert classify(world)[0] == "Exfiltration" and call_sig(world) is None


def test_identity_center_people_on_one_permission_set_are_each_their_own_finding() -> None:
    """Two people signed in through the same Identity Center permission set: their findings aggregate per person, as
    their profiles are kept, not on the shared role (one compromise must not hide inside another's finding)."""
    import msgspec

    from trailhound.detectors.principals import identity_key
    from trailhound.events import ApiCall
    from trailhound.findings.build import principal_key

    role = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_DataEngineer_0123456789abcdef"

    def call(person: str) -> ApiCall:
        ident = {"type": "AssumedRole", "principalId": f"AROAEXAMPLESSO000001:{person}",
                 "arn": f"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DataEngineer_0123456789abcdef/{person}",
                 "accountId": "111122223333", "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": "111122223333"}}}
        rec = record("ListBuckets", "s3.amazonaws.com", time=START, identity=ident, ip="77.60.50.185", ua=CLI_UA)
        return msgspec.json.decode(msgspec.json.encode(rec), type=ApiCall)

    ana, ben = call("ana@example.com"), call("ben@example.com")
    assert principal_key(ana) != principal_key(ben)
    assert principal_key(ana) == identity_key(ana) and principal_key(ben) == identity_key(ben)
    plain = msgspec.json.decode(msgspec.json.encode(record("ListBuckets", "s3.amazonaws.com", time=START, identity=ab.role_session(
        "111122223333", "etl-nightly", "run-1"), ip="77.60.50.185", ua=CLI_UA)), type=ApiCall)
    assert principal_key(plain) == "arn:aws:iam::111122223333:role/etl-nightly"  # other roles: the role, not its sessions
