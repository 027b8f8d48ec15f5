"""The API under load: 1M findings in PostgreSQL, ``trailhound serve`` as a subprocess, boto3 signing.

    .venv/bin/python bench/bench_api.py [--findings 1000000] [--server postgresql://postgres@127.0.0.1:5432] [--keep]
                                        [--url URL_OF_A_FILLED_STORE] [--workers 1,2]

Fills a fresh schema (database ``trailhound_bench``) with findings made from the sample findings
(their full wire documents as JSONB, with varied id, type, severity, account, region, updatedAt and
resource), by COPY with the indexes built afterwards; then, against a live ``serve``:

* ListFindings, three criteria keys and a sort, MaxResults 50: p50 / p95 (goal p95 <= 100 ms);
* GetFindings of 50 ids: p50 / p95 (goal <= 50 ms);
* GetFindings of 10 ids, concurrent clients: requests/s (goal >= 500/s), with boto3 clients and with
  botocore-signed raw HTTP (less client CPU on the same two cores), and the server's CPU per request,
  for each ``serve --workers`` count asked for, with the load average (the machine may be shared).

The administrator's detector is in us-east-1 and administers 9 member accounts, so a request's scope
is 10 accounts of one region (about 60% of the findings).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import multiprocessing as mp
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ACCOUNTS = [f"{100000000000 + i * 111111111:012d}" for i in range(10)]
ADMIN = ACCOUNTS[0]
REGIONS, REGION_WEIGHTS = ["us-east-1", "eu-west-1", "ap-southeast-2"], [6, 3, 1]
DAY_MS = 86_400_000
NOW_MS = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
COLUMNS = ("id", "type", "account_id", "region", "severity", "archived", "created_at", "updated_at", "created_ms", "updated_ms",
           "resource_type", "resource_id", "doc")


def stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def templates() -> list[tuple[str, str, float, bytes]]:
    """(type, resource type, severity, document with @PLACEHOLDERS@) per sample finding."""
    from trailhound.findings.model import AccessKeyResource, InstanceResource, S3BucketResource, encode
    from trailhound.findings.samples import sample_findings

    out = []
    for f in sample_findings():
        f.id, f.account_id, f.region = "@ID@", "@ACCT@", "@REGION@"
        f.arn = "arn:aws:guardduty:@REGION@:@ACCT@:detector/@DET@/finding/@ID@"
        f.created_at, f.updated_at, f.severity = "@CRE@", "@UPD@", 1.2345
        f.service.detector_id = "@DET@"
        r = f.resource
        if isinstance(r, InstanceResource):
            r.instance_details.instance_id = "@RID@"
        elif isinstance(r, AccessKeyResource):
            r.access_key_details.access_key_id = "@RID@"
        elif isinstance(r, S3BucketResource) and r.s3_bucket_details:
            r.s3_bucket_details[0].name = "@RID@"
        out.append((f.type, type(r).__struct_config__.tag, sample_severity(f.type), encode(f)))
    return out


def sample_severity(kind: str) -> float:
    return {0: 2.0, 1: 5.0, 2: 8.0}[int(hashlib.md5(kind.encode()).hexdigest(), 16) % 3]


def rows(n: int, seed: int = 7):
    rnd = random.Random(seed)
    tmpls = templates()
    resources = {"Instance": [f"i-{rnd.getrandbits(68):017x}" for _ in range(20_000)],
                 "AccessKey": [f"AKIA{rnd.getrandbits(80):020X}"[:20] for _ in range(5_000)],
                 "S3Bucket": [f"bucket-{rnd.getrandbits(32):08x}" for _ in range(2_000)]}
    for i in range(n):
        kind, rtype, base_sev, doc = tmpls[rnd.randrange(len(tmpls))]
        fid = hashlib.md5(i.to_bytes(8, "little")).hexdigest()
        account = ACCOUNTS[min(int(rnd.expovariate(0.35)), 9)]
        region = rnd.choices(REGIONS, REGION_WEIGHTS)[0]
        severity = rnd.choice((base_sev, base_sev, 2.0, 5.0, 8.0))
        updated = NOW_MS - rnd.randrange(90 * DAY_MS)
        created = updated - rnd.randrange(30 * DAY_MS)
        rid = rnd.choice(resources.get(rtype) or resources["Instance"])
        text = (doc.decode().replace("@ID@", fid).replace("@ACCT@", account).replace("@REGION@", region).replace("@DET@", "0" * 32)
                .replace("@CRE@", stamp(created)).replace("@UPD@", stamp(updated)).replace("@RID@", rid).replace("1.2345", repr(severity)))
        yield (fid, kind, account, region, severity, int(rnd.random() < 0.1), stamp(created), stamp(updated), created, updated, rtype, rid, text)


def fill(url: str, n: int) -> float:
    """Create the store, drop the findings indexes, COPY n rows, build the indexes again, ANALYZE."""
    import psycopg
    from sqlalchemy.schema import CreateIndex

    from trailhound.store import tables as t
    from trailhound.store.database import Store

    store = Store(url)
    ddl = [str(CreateIndex(ix).compile(dialect=store.engine.dialect)) for ix in t.findings.indexes]
    store.close()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        for ix in t.findings.indexes:
            c.execute(f"DROP INDEX IF EXISTS {ix.name}")
        with c.cursor() as cur, cur.copy(f"COPY findings ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for i, row in enumerate(rows(n)):
                copy.write_row(row)
                if i and i % 200_000 == 0:
                    print(f"  {i:,} rows, {time.perf_counter() - started:.0f}s", flush=True)
        for statement in ddl:
            c.execute(statement)
        c.execute("ANALYZE findings")
    return time.perf_counter() - started


def fresh_schema(server: str) -> str:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'trailhound_bench'").fetchone():
            c.execute("CREATE DATABASE trailhound_bench")
    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(f"{server}/trailhound_bench", autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return schema


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/trailhound_bench", autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ---- the server and its clients --------------------------------------------------------------

def start_server(url: str, env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", "from trailhound.cli import app; app()", "serve", "--db", url, "--listen", f"127.0.0.1:{port}",
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.1)
    raise SystemExit("serve did not start")


def client(endpoint: str, key: dict[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client("guardduty", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"], config=Config(retries={"max_attempts": 1}, max_pool_connections=4))


def timed(fn: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(name: str, ms: list[float], goal: str) -> str:
    q = statistics.quantiles(ms, n=100)
    return f"{name}: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {max(ms):.1f} ms over {len(ms)} requests ({goal})"


def _load(make: Callable[[int], Callable[[], object]], seconds: float, threads: int, out: mp.Queue) -> None:
    """`threads` threads each calling its own request function until time is up; the count goes to `out`."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(slot: int) -> None:
        call = make(slot)
        while time.monotonic() < stop:
            call()
            done[slot] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(sum(done))


def _boto_worker(endpoint: str, key: dict[str, str], detector: str, ids: list[str], seconds: float, threads: int, out: mp.Queue) -> None:
    def make(slot: int) -> Callable[[], object]:
        gd, rnd = client(endpoint, key), random.Random(slot)
        return lambda: gd.get_findings(DetectorId=detector, FindingIds=rnd.sample(ids, 10))

    _load(make, seconds, threads, out)


def _raw_worker(endpoint: str, key: dict[str, str], detector: str, ids: list[str], seconds: float, threads: int, out: mp.Queue) -> None:
    _load(lambda slot: raw_get(endpoint, key, detector, ids, 10, slot), seconds, threads, out)


def raw_get(endpoint: str, key: dict[str, str], detector: str, ids: list[str], n: int, seed: int) -> Callable[[], None]:
    """GetFindings of n ids signed by botocore's SigV4Auth on a kept-alive connection: the server's time without boto3's parsing."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    path = f"/detector/{detector}/findings/get"
    conn, rnd = http.client.HTTPConnection(endpoint.removeprefix("http://")), random.Random(seed)

    def call() -> None:
        body = json.dumps({"findingIds": rnd.sample(ids, n)})
        req = AWSRequest("POST", endpoint + path, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(creds, "guardduty", "us-east-1").add_auth(req)
        conn.request("POST", path, body=body, headers=dict(req.headers))
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status

    return call


def throughput(worker: Callable[..., None], endpoint: str, key: dict[str, str], detector: str, ids: list[str], server_pid: int,
               procs: int = 2, threads: int = 4, seconds: float = 15.0) -> tuple[float, float]:
    """(requests/s, server CPU ms per request: its workers' too)."""
    out: mp.Queue = mp.Queue()
    cpu0 = _cpu(server_pid)
    started = time.perf_counter()
    ps = [mp.Process(target=worker, args=(endpoint, key, detector, ids, seconds, threads, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    total = sum(out.get() for _ in ps)
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - started
    return total / elapsed, (_cpu(server_pid) - cpu0) * 1000 / max(total, 1)


def _cpu(pid: int) -> float:
    """CPU seconds of a process and of its live children (serve's forked workers)."""
    total = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for p in [pid, *(int(c) for c in (children.read_text().split() if children.exists() else []))]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--keep", action="store_true", help="keep the schema (its URL is printed)")
    ap.add_argument("--url", help="an already filled store: skip the fill")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--workers", default="1,2", help="serve --workers counts to measure throughput with (comma-separated)")
    args = ap.parse_args()

    schema = None
    if args.url:
        url = args.url
    else:
        schema = fresh_schema(args.server)
        url = f"{args.server}/trailhound_bench?options=-csearch_path%3D{schema}"
        print(f"filling {url} with {args.findings:,} findings", flush=True)
        print(f"filled in {fill(url, args.findings):.0f}s", flush=True)
    env = {**os.environ, "TRAILHOUND_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), "PYTHONPATH": str(ROOT / "src")}
    made = subprocess.run([sys.executable, "-c", "from trailhound.cli import app; app()", "credentials", "create", "--db", url, "--account", ADMIN, "--admin"],
                          env=env, check=True, capture_output=True, text=True)
    key = json.loads(made.stdout)
    counts = [int(w) for w in args.workers.split(",")]
    proc, endpoint = start_server(url, env, counts[0])
    try:
        gd = client(endpoint, key)
        detector = (gd.list_detectors()["DetectorIds"] or [gd.create_detector(Enable=True)["DetectorId"]])[0]
        gd.create_members(DetectorId=detector, AccountDetails=[{"AccountId": a, "Email": f"{a}@example.com"} for a in ACCOUNTS[1:]])
        import psycopg

        with psycopg.connect(url) as c:
            ids = [r[0] for r in c.execute("SELECT id FROM findings WHERE region = 'us-east-1' ORDER BY random() LIMIT 20000")]
            kinds = [r[0] for r in c.execute("SELECT DISTINCT type FROM findings")]
        rnd = random.Random(1)

        def list_by_type() -> object:
            crit = {"type": {"Eq": [rnd.choice(kinds)]}, "severity": {"Gte": 5},
                    "updatedAt": {"GreaterThanOrEqual": NOW_MS - rnd.randrange(7, 60) * DAY_MS}}
            return gd.list_findings(DetectorId=detector, FindingCriteria={"Criterion": crit}, MaxResults=50,
                                    SortCriteria={"AttributeName": "updatedAt", "OrderBy": "DESC"})

        def list_by_account() -> object:
            crit = {"accountId": {"Eq": [rnd.choice(ACCOUNTS)]}, "severity": {"GreaterThanOrEqual": 7}, "service.archived": {"Eq": ["false"]}}
            return gd.list_findings(DetectorId=detector, FindingCriteria={"Criterion": crit}, MaxResults=50,
                                    SortCriteria={"AttributeName": "severity", "OrderBy": "DESC"})

        def get50() -> object:
            got = gd.get_findings(DetectorId=detector, FindingIds=rnd.sample(ids, 50))
            assert len(got["Findings"]) == 50
            return got

        for fn in (list_by_type, list_by_account, get50):
            timed(fn, 20)  # warm: connections, plans, caches
        print(summary("ListFindings type+severity+updatedAt, sort updatedAt", timed(list_by_type, args.samples), "goal p95 <= 100 ms"))
        print(summary("ListFindings accountId+severity+archived, sort severity", timed(list_by_account, args.samples), "goal p95 <= 100 ms"))
        print(summary("GetFindings of 50 ids", timed(get50, args.samples), "goal <= 50 ms"))
        raw50 = raw_get(endpoint, key, detector, ids, 50, 2)
        timed(raw50, 20)
        print(summary("GetFindings of 50 ids, signed raw HTTP (no boto3 parsing)", timed(raw50, args.samples), "goal <= 50 ms"))
        for n, workers in enumerate(counts):
            if n:  # another worker count: a new server on the same store
                proc.terminate()
                proc.wait(30)
                proc, endpoint = start_server(url, env, workers)
            timed(raw_get(endpoint, key, detector, ids, 10, 3), 50)
            for name, worker in (("boto3 clients", _boto_worker), ("botocore-signed raw HTTP", _raw_worker)):
                load = os.getloadavg()[0]
                rate, cpu = throughput(worker, endpoint, key, detector, ids, proc.pid)
                print(f"GetFindings of 10 ids, 8 concurrent {name}, serve --workers {workers}: {rate:.0f} requests/s; server CPU {cpu:.2f} "
                      f"ms/request (= {1000 / cpu:.0f}/s per core); load average {load:.1f} before, {os.getloadavg()[0]:.1f} after "
                      "(goal >= 500/s)", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
        if schema and not args.keep:
            drop_schema(args.server, schema)
        elif schema:
            print(f"kept: {url}")


if __name__ == "__main__":
    main()
