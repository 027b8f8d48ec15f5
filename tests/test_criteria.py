"""FindingCriteria on real SQLite and real PostgreSQL: hand-written criteria against expectations computed
by plain comprehensions, hostile values, and a property test (SQLite == PostgreSQL == Python)."""

from __future__ import annotations

import copy
import random
import secrets
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st
from sqlalchemy import create_engine, event, insert, select, text

from trailhound.findings import criteria as C
from trailhound.findings.model import to_wire
from trailhound.findings.samples import sample_findings
from trailhound.store import tables as T

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOSTILE = ["' OR 1=1 --", "$", "\\", '") || true', '"', "'", "$.a ? (@ == 1)", "@", "[*]", "%", "_", "*", "?", "[a]",
           "x" * 5000, "ünïcødé ✓ 𝔘", "\n", "a'); DROP TABLE findings; --", "$s0", "{}", "null", "true", "1e999", "-0"]
ACCOUNTS = ["111122223333", "444455556666", "777788889999"]
REGIONS = ["us-east-1", "eu-west-1", "ap-south-1"]
SEVERITIES = [1.0, 2.0, 3.5, 3.9, 4.0, 5.0, 6.9, 7.0, 8.0, 8.9, 9.0, 10.0]
TAGS = [("Name", "bastion"), ("team", "payments"), ("team", "search"), ("env", "prod"), ("env", "' OR 1=1 --"), ("owner", "ünï")]
START = datetime(2026, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    d = START + timedelta(milliseconds=ms - int(START.timestamp() * 1000))
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_of(stamp: str) -> int:
    d = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return round(d.timestamp() * 1000)


def _corpus() -> list[dict]:
    rng = random.Random(12)
    base = [to_wire(f) for f in sample_findings(None, "d" * 32)]
    t0 = int(START.timestamp() * 1000)
    docs = []
    for i in range(320):
        d = copy.deepcopy(base[i % len(base)])
        d["id"] = f"f{i:04d}"
        d["accountId"], d["region"] = rng.choice(ACCOUNTS), rng.choice(REGIONS)
        d["severity"] = rng.choice(SEVERITIES)
        created = t0 + rng.randrange(0, 300 * 86_400_000)
        d["createdAt"], d["updatedAt"] = iso(created), iso(created + rng.choice([0, 1, 999, rng.randrange(0, 10**9)]))
        svc = d["service"]
        svc["archived"] = rng.random() < 0.3
        svc["eventFirstSeen"], svc["eventLastSeen"] = iso(created - 5000), iso(created + rng.randrange(0, 10**8))
        svc["count"] = rng.choice([1, 2, 7, 74, 1000])
        svc["resourceRole"] = rng.choice(["TARGET", "ACTOR"])
        info = orjson.loads(svc["additionalInfo"]["value"])
        if rng.random() < 0.5:
            info.pop("sample", None)
        if rng.random() < 0.4:
            info["threatListName"] = rng.choice(["ProofPoint", "my-list", "' OR 1=1 --"])
        svc["additionalInfo"]["value"] = orjson.dumps(info).decode()
        inst = d["resource"].get("instanceDetails")
        if inst:
            inst["instanceId"] = rng.choice(["i-0a1", "i-0b2", "i-0c3", None])
            inst["tags"] = [{"key": k, "value": v} for k, v in rng.sample(TAGS, rng.randrange(0, 4))]
            nics = []
            for _ in range(rng.choice([0, 1, 1, 2])):
                ips = [f"10.0.{rng.randrange(3)}.{rng.randrange(1, 6)}" for _ in range(rng.randrange(1, 3))]
                nics.append({"networkInterfaceId": "eni-1", "privateIpAddress": ips[0], "publicIp": None,
                             "privateIpAddresses": [{"privateDnsName": None, "privateIpAddress": ip} for ip in ips],
                             "ipv6Addresses": [], "securityGroups": [{"groupId": "sg-1", "groupName": rng.choice(["web", "ssh"])}]})
            inst["networkInterfaces"] = nics
        keys = d["resource"].get("accessKeyDetails")
        if keys:
            keys["accessKeyId"] = rng.choice(["AKIA1", "ASIA2", "AKIA3"])
        docs.append(d)
    return docs


def row(d: dict) -> dict:
    res = d["resource"]
    rid = {"Instance": lambda: res["instanceDetails"]["instanceId"], "AccessKey": lambda: res["accessKeyDetails"]["accessKeyId"],
           "S3Bucket": lambda: (res.get("s3BucketDetails") or [{}])[0].get("name")}[res["resourceType"]]()
    return {"id": d["id"], "type": d["type"], "account_id": d["accountId"], "region": d["region"], "severity": d["severity"],
            "archived": int(d["service"]["archived"]), "created_at": d["createdAt"], "updated_at": d["updatedAt"],
            "created_ms": ms_of(d["createdAt"]), "updated_ms": ms_of(d["updatedAt"]), "resource_type": res["resourceType"],
            "resource_id": rid, "doc": orjson.dumps(d)}


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return _corpus()


@pytest.fixture(scope="module")
def dbs(docs, tmp_path_factory):
    lite = create_engine(f"sqlite:///{tmp_path_factory.mktemp('criteria')}/f.db")
    event.listen(lite, "connect", lambda conn, _rec: C.install_sqlite_functions(conn))
    schema = f"th_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)  # unreachable PostgreSQL fails the tests: never skipped, never mocked
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    pg = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        for eng in (lite, pg):
            T.metadata.create_all(eng)
            with eng.begin() as c:
                c.execute(insert(T.findings), [row(d) for d in docs])
        yield {"sqlite": lite, "postgresql": pg}
    finally:
        pg.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def ids(engine, crit, *, allow_matches=False) -> list[str]:
    f = T.findings
    with engine.connect() as c:
        return sorted(c.execute(select(f.c.id).where(C.where(crit, f, engine.dialect.name, allow_matches=allow_matches))).scalars())


def py_ids(docs, crit) -> list[str]:
    return sorted(d["id"] for d in docs if C.matches(crit, d))


def tags(d):
    return d["resource"].get("instanceDetails", {}).get("tags", [])


def private_ips(d):
    return [p["privateIpAddress"] for n in d["resource"].get("instanceDetails", {}).get("networkInterfaces", [])
            for p in n["privateIpAddresses"]]


def info(d):
    return orjson.loads(d["service"]["additionalInfo"]["value"])


T_MID = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1000)
CASES = [
    ({"type": {"eq": ["Backdoor:EC2/C&CActivity.B", "Recon:EC2/Portscan"]}},
     lambda d: d["type"] in ("Backdoor:EC2/C&CActivity.B", "Recon:EC2/Portscan")),
    ({"severity": {"equals": ["7", "8"]}}, lambda d: 7 <= d["severity"] < 9),  # High
    ({"severity": {"equals": ["1", "2", "3"]}}, lambda d: 1 <= d["severity"] < 4),  # Low
    ({"severity": {"eq": ["8.9"]}}, lambda d: d["severity"] == 8.9),
    ({"severity": {"gte": 7, "lt": 9}}, lambda d: 7 <= d["severity"] < 9),
    ({"accountId": {"neq": [ACCOUNTS[0]]}, "region": {"eq": [REGIONS[1]]}}, lambda d: d["accountId"] != ACCOUNTS[0] and d["region"] == REGIONS[1]),
    ({"updatedAt": {"greaterThanOrEqual": T_MID}}, lambda d: ms_of(d["updatedAt"]) >= T_MID),
    ({"createdAt": {"lessThan": T_MID}, "updatedAt": {"greaterThan": T_MID}}, lambda d: ms_of(d["createdAt"]) < T_MID < ms_of(d["updatedAt"])),
    ({"service.eventLastSeen": {"lessThanOrEqual": T_MID}}, lambda d: ms_of(d["service"]["eventLastSeen"]) <= T_MID),
    ({"service.archived": {"eq": ["true"]}}, lambda d: d["service"]["archived"]),
    ({"service.archived": {"neq": ["true"]}}, lambda d: not d["service"]["archived"]),
    ({"resource.instanceDetails.tags.key": {"eq": ["team"]}, "resource.instanceDetails.tags.value": {"eq": ["payments"]}},
     lambda d: any(t["key"] == "team" for t in tags(d)) and any(t["value"] == "payments" for t in tags(d))),
    ({"resource.instanceDetails.tags.value": {"notEquals": ["payments", "prod"]}},
     lambda d: not any(t["value"] in ("payments", "prod") for t in tags(d))),
    ({"resource.instanceDetails.tags.value": {"eq": ["' OR 1=1 --"]}}, lambda d: any(t["value"] == "' OR 1=1 --" for t in tags(d))),
    ({"resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress": {"eq": ["10.0.1.3"]}},
     lambda d: "10.0.1.3" in private_ips(d)),
    ({"resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress": {"neq": ["10.0.1.3", "10.0.2.1"]}},
     lambda d: not {"10.0.1.3", "10.0.2.1"} & set(private_ips(d))),
    ({"resource.instanceDetails.instanceId": {"eq": ["i-0a1", "i-0c3"]}},
     lambda d: d["resource"].get("instanceDetails", {}).get("instanceId") in ("i-0a1", "i-0c3")),
    ({"resource.instanceDetails.instanceId": {"neq": ["i-0a1"]}}, lambda d: d["resource"].get("instanceDetails", {}).get("instanceId") != "i-0a1"),
    ({"resource.accessKeyDetails.accessKeyId": {"eq": ["AKIA1"]}}, lambda d: (d["resource"].get("accessKeyDetails") or {}).get("accessKeyId") == "AKIA1"),
    ({"resource.accessKeyDetails.accessKeyId": {"neq": ["AKIA1"]}}, lambda d: (d["resource"].get("accessKeyDetails") or {}).get("accessKeyId") != "AKIA1"),
    ({"service.additionalInfo.threatListName": {"eq": ["ProofPoint", "' OR 1=1 --"]}}, lambda d: info(d).get("threatListName") in ("ProofPoint", "' OR 1=1 --")),
    ({"service.additionalInfo.sample": {"eq": ["true"]}}, lambda d: info(d).get("sample") is True),
    ({"service.action.networkConnectionAction.localPortDetails.port": {"eq": ["22", "443"]}},
     lambda d: d["service"]["action"].get("networkConnectionAction", {}).get("localPortDetails", {}).get("port") in (22, 443)),
    ({"service.count": {"gt": 7}, "service.resourceRole": {"equals": ["ACTOR"]}}, lambda d: d["service"]["count"] > 7 and d["service"]["resourceRole"] == "ACTOR"),
    ({"service.count": {"eq": ["74"]}}, lambda d: d["service"]["count"] == 74),
    ({"resource.resourceType": {"eq": ["S3Bucket"]}, "accountId": {"gt": 0}}, lambda d: False),  # strings are never > a number
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("criterion,expect", CASES, ids=[str(i) for i in range(len(CASES))])
def test_hand_written(dbs, docs, dialect, criterion, expect):
    want = sorted(d["id"] for d in docs if expect(d))
    crit = {"criterion": criterion}
    assert ids(dbs[dialect], crit) == want
    assert py_ids(docs, crit) == want
    assert 0 < len(want) < len(docs) or criterion.get("accountId")  # each case splits the corpus


MATCH_CASES = [
    ({"type": {"matches": ["*EC2/*Brute*"]}}, lambda d: "EC2/" in d["type"] and "Brute" in d["type"].split("EC2/", 1)[1]),
    ({"resource.instanceDetails.tags.value": {"matches": ["pay?ents", "ü*"]}}, lambda d: any(t["value"] in ("payments", "ünï") for t in tags(d))),
    ({"resource.instanceDetails.tags.value": {"notMatches": ["*OR 1=1*"]}}, lambda d: not any("OR 1=1" in t["value"] for t in tags(d))),
    ({"type": {"matches": ["Recon:EC2/Port%"]}}, lambda d: False),  # % is literal
    ({"updatedAt": {"matches": ["2026-0[1]*"]}}, lambda d: False),  # [ is literal too
    ({"severity": {"matches": ["*"]}}, lambda d: False),  # wildcards see strings only
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("criterion,expect", MATCH_CASES, ids=[str(i) for i in range(len(MATCH_CASES))])
def test_matches(dbs, docs, dialect, criterion, expect):
    want = sorted(d["id"] for d in docs if expect(d))
    crit = {"criterion": criterion}
    assert ids(dbs[dialect], crit, allow_matches=True) == want == py_ids(docs, crit)
    with pytest.raises(C.CriteriaError, match="CreateFilter"):
        C.where(crit, T.findings, dialect)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_data(dbs, docs, dialect, value):
    for key in ("type", "resource.instanceDetails.tags.value", "service.additionalInfo.threatListName", "resource.accessKeyDetails.accessKeyId"):
        for op in ("eq", "neq", "matches", "notMatches"):
            vals = [value[:512]] if "atches" in op else [value, "x"]
            crit = {"criterion": {key: {op: vals}}}
            assert ids(dbs[dialect], crit, allow_matches=True) == py_ids(docs, crit), (key, op)
    with dbs[dialect].connect() as c:
        assert c.execute(select(T.findings.c.id)).all().__len__() == len(docs)  # nothing dropped


@pytest.mark.parametrize("crit,message", [
    ({"criterion": {"resource.instanceDetails.tags.key.foo": {"eq": ["x"]}}}, "unknown FindingCriteria attribute"),
    ({"criterion": {"severity'; DROP TABLE findings; --": {"eq": ["x"]}}}, "unknown FindingCriteria attribute"),
    ({"criterion": {"Severity": {"eq": ["x"]}}}, "unknown"),
    ({"criterion": {"type": {"like": ["x"]}}}, "unknown operator"),
    ({"criterion": {"type": {}}}, "one or more operators"),
    ({"criterion": {"type": {"eq": "x"}}}, "list"),
    ({"criterion": {"type": {"eq": [1]}}}, "strings"),
    ({"criterion": {"type": {"eq": ["x"] * 51}}}, "at most 50"),
    ({"criterion": {"severity": {"gt": "7"}}}, "integer"),
    ({"criterion": {"severity": {"gt": True}}}, "integer"),
    ({"criterion": {"severity": {"gt": 7.5}}}, "integer"),
    ({"criterion": {"updatedAt": {"gt": 2**63}}}, "integer"),
    ({"criterion": {"type": {"eq": ["a\x00b"]}}}, "NUL"),
    ({"criterion": {"type": {"eq": ["\ud800"]}}}, "surrogates"),
    ({"criterion": {}}, "1 to 50"),
    ({"criterion": {k: {"eq": ["x"]} for k in sorted(C.finding_keys())[:51]}}, "1 to 50"),
    ({"criterion": [], "x": 1}, "FindingCriteria must be"),
    ("type = 'x'", "FindingCriteria must be"),
])
def test_refused(crit, message):
    with pytest.raises(C.CriteriaError, match=message) as err:
        C.parse(crit, allow_matches=True)
    assert "\n" not in str(err.value)


def test_matches_limits_come_from_the_model():
    C.parse({"criterion": {"type": {"matches": ["a" * 512] * 5}}}, allow_matches=True)
    for bad in (["a" * 513], [""], ["a"] * 6):
        with pytest.raises(C.CriteriaError):
            C.parse({"criterion": {"type": {"matches": bad}}}, allow_matches=True)


def test_keys_come_from_the_model():
    keys = C.finding_keys()
    assert len(keys) > 400 and {"severity", "updatedAt", "resource.instanceDetails.tags.key", "service.archived",
                                "service.additionalInfo.threatListName", "service.ebsVolumeScanDetails.scanId"} <= keys
    assert {"updatedAt", "createdAt", "service.eventFirstSeen", "resource.instanceDetails.launchTime"} <= C._model().timestamps


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_order_by(dbs, docs, dialect):
    f = T.findings
    for sort, key in [({"attributeName": "severity", "orderBy": "DESC"}, lambda d: (-d["severity"], _neg(d["id"]))),
                      ({"attributeName": "updatedAt", "orderBy": "ASC"}, lambda d: (d["updatedAt"], d["id"])),
                      ({"attributeName": "service.count", "orderBy": "ASC"}, lambda d: (d["service"]["count"], d["id"])),
                      ({"attributeName": "resource.instanceDetails.instanceType"},
                       lambda d: (_missing_last(d["resource"].get("instanceDetails", {}).get("instanceType")), d["id"]))]:
        with dbs[dialect].connect() as c:
            got = list(c.execute(select(f.c.id).order_by(*C.order_by(sort, f))).scalars())
        assert got == [d["id"] for d in sorted(docs, key=key)], sort
    with pytest.raises(C.CriteriaError):
        C.order_by({"attributeName": "nope"}, f)
    with pytest.raises(C.CriteriaError):
        C.order_by({"attributeName": "severity", "orderBy": "SIDEWAYS"}, f)


def _neg(s: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in s)


def _missing_last(v):
    return (v is None, v or "")


# ---- property: SQLite == PostgreSQL == Python -------------------------------------------------

def _forms(x) -> list[str]:
    if isinstance(x, bool):
        return ["true" if x else "false"]
    if isinstance(x, int | float):
        return [str(int(x)) if float(x).is_integer() else repr(x), repr(float(x))]
    if isinstance(x, str):
        return [x] + ([str(ms_of(x))] if len(x) == 24 and x.endswith("Z") and x[4] == "-" else [])
    return []


KEYS = ["type", "severity", "accountId", "region", "id", "updatedAt", "createdAt", "service.archived", "resource.resourceType",
        "resource.instanceDetails.instanceId", "resource.accessKeyDetails.accessKeyId", "resource.instanceDetails.tags.key",
        "resource.instanceDetails.tags.value", "resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress",
        "resource.instanceDetails.networkInterfaces.securityGroups.groupName", "resource.instanceDetails.networkInterfaces.publicIp",
        "resource.instanceDetails.networkInterfaces.ipv6Addresses", "service.count", "service.resourceRole", "service.eventFirstSeen",
        "service.eventLastSeen", "service.additionalInfo.threatListName", "service.additionalInfo.sample", "service.additionalInfo.value",
        "service.action.networkConnectionAction.localPortDetails.port", "service.action.awsApiCallAction.api",
        "service.action.dnsRequestAction.domain", "resource.s3BucketDetails.name", "resource.instanceDetails.launchTime",
        "service.evidence.threatIntelligenceDetails.threatNames", "service.userFeedback", "confidence"]


@pytest.fixture(scope="module")
def pools(docs):
    pool: dict[str, list[str]] = {}
    numbers: dict[str, list[int]] = {}
    for key in KEYS:
        leaves = [x for d in docs for x in C._leaves(d, key)]
        pool[key] = sorted({f for x in leaves for f in _forms(x)}) or ["absent"]
        numbers[key] = sorted({int(x) for x in leaves if isinstance(x, int | float) and not isinstance(x, bool)}
                              | {ms_of(x) for x in leaves if isinstance(x, str) and len(x) == 24 and x.endswith("Z")}) or [0]
    return pool, numbers


@st.composite
def criteria_st(draw, pools):
    pool, numbers = pools
    crit = {}
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True)):
        ops = draw(st.lists(st.sampled_from(["eq", "neq", "equals", "notEquals", "gt", "gte", "lt", "lte", "greaterThan",
                                             "lessThanOrEqual", "matches", "notMatches"]), min_size=1, max_size=2, unique=True))
        cond = {}
        for op in ops:
            if op in ("gt", "gte", "lt", "lte", "greaterThan", "lessThanOrEqual"):
                cond[op] = draw(st.sampled_from(numbers[key])) + draw(st.sampled_from([-1, 0, 0, 1]))
            elif "atches" in op:
                cond[op] = draw(st.lists(st.sampled_from(pool[key]).map(lambda s: _wild(s[:512], draw)) | st.sampled_from(HOSTILE[:12]),
                                         min_size=1, max_size=3))
            else:
                some = st.sampled_from(pool[key])
                cond[op] = draw(st.lists(st.one_of(some, some, some, st.sampled_from(HOSTILE)), max_size=4))
        crit[key] = cond
    return {"criterion": crit}


def _wild(s: str, draw) -> str:
    if not s:
        return "*"
    i = draw(st.integers(0, len(s) - 1))
    return draw(st.sampled_from([s, s[:i] + "*", "*" + s[i:], s[:i] + "?" + s[i + 1:], s.upper()]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_sqlite_postgresql_python_agree(dbs, docs, pools, data):
    crit = data.draw(criteria_st(pools))
    want = py_ids(docs, crit)
    note_event("matched: none" if not want else "matched: all" if len(want) == len(docs) else "matched: some")
    assert ids(dbs["sqlite"], crit, allow_matches=True) == want
    assert ids(dbs["postgresql"], crit, allow_matches=True) == want
