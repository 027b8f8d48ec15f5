"""The console's findings page over 1M findings in PostgreSQL: server time per page view.

    .venv/bin/python bench/bench_console.py [--findings 1000000] [--url postgresql://...] [--keep] [--browser]

Fills a fresh schema with ``bench_api.py``'s store builder (the sample findings' full documents, varied
id, type, severity, account, region, updatedAt and resource; COPY, indexes after), starts ``trailhound
serve`` as a subprocess, signs in to the console with an administrator key that administers the 9
other accounts (a scope of ~600k findings), and loads the findings page's data the way the page does:

    GET  /console/api/session                         (the session and its detector)
    POST /console/api/ListFindings      ┐ at once     (criteria from the address, a page of 50, sorted)
    POST /console/api/ConsoleCount      │             (the match count of the same criteria, up to 10,000)
    POST /console/api/GetFindings       ┘ after List  (the 50 findings of the page)

The table is drawn when session, ListFindings and GetFindings are in; the count fills in beside it
when it arrives. "Server time" is that critical path as the client sees it on the same host (the HTTP
round trips included, so an upper bound): session + list + get, and the count's own time. Goal: the
table's p95 <= 300 ms for each view. With ``--browser``, also Chromium's time from navigation to the
table drawn.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import ACCOUNTS, ADMIN, DAY_MS, NOW_MS, ROOT, client, drop_schema, fill, fresh_schema, start_server  # noqa: E402

SEVERITY_BANDS = {"high": ["7", "8"], "critical": ["9", "10"], "medium": ["4", "5", "6"], "low": ["1", "2", "3"]}


def views(kinds: list[str]) -> dict[str, tuple[dict, dict]]:
    """name -> (FindingCriteria, SortCriteria), as console.js's criteriaFromQuery builds them from the address."""
    current = {"service.archived": {"eq": ["false"]}}
    since = NOW_MS - 7 * DAY_MS
    kind = sorted(kinds)[len(kinds) // 2]
    return {
        "default (current, last updated first)": ({"criterion": current}, {"attributeName": "updatedAt", "orderBy": "DESC"}),
        "severity high+critical": ({"criterion": {**current, "severity": {"eq": SEVERITY_BANDS["high"] + SEVERITY_BANDS["critical"]}}},
                                   {"attributeName": "updatedAt", "orderBy": "DESC"}),
        "one type, sorted by severity": ({"criterion": {**current, "type": {"eq": [kind]}}},
                                         {"attributeName": "severity", "orderBy": "DESC"}),
        "one account, last 7 days": ({"criterion": {**current, "accountId": {"eq": [ACCOUNTS[3]]}, "updatedAt": {"gte": since}}},
                                     {"attributeName": "updatedAt", "orderBy": "DESC"}),
    }


def filled(server: str, n: int) -> tuple[str, str]:
    """A fresh schema filled by bench_api's builder: (its URL, the schema)."""
    schema = fresh_schema(server)
    url = f"{server}/trailhound_bench?options=-csearch_path%3D{schema}"
    print(f"filling {url} with {n:,} findings", flush=True)
    print(f"filled in {fill(url, n):.0f}s", flush=True)
    return url, schema


def admin_key(url: str) -> tuple[dict, dict]:
    """An administrator key of ADMIN (via the CLI, as an operator makes one) and the environment serve runs in."""
    env = {**os.environ, "TRAILHOUND_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(), "PYTHONPATH": str(ROOT / "src")}
    cli = [sys.executable, "-c", "from trailhound.cli import app; app()"]
    made = subprocess.run([*cli, "credentials", "create", "--db", url, "--account", ADMIN, "--admin"], env=env, check=True, capture_output=True, text=True)
    return json.loads(made.stdout), env


def administer_all(endpoint: str, key: dict) -> None:
    """ADMIN's detector in us-east-1 administers the other nine accounts: the page's scope is ten accounts."""
    gd = client(endpoint, key)
    detector = (gd.list_detectors()["DetectorIds"] or [gd.create_detector(Enable=True)["DetectorId"]])[0]
    if not gd.list_members(DetectorId=detector)["Members"]:
        gd.create_members(DetectorId=detector, AccountDetails=[{"AccountId": a, "Email": f"{a}@example.com"} for a in ACCOUNTS[1:]])


def main() -> None:
    import requests

    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--url", help="an already filled store (bench_api.py --keep): skip the fill")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--browser", action="store_true", help="also time the page in Chromium (/usr/bin/chromium)")
    args = ap.parse_args()
    url, schema = (args.url, None) if args.url else filled(args.server, args.findings)
    key, env = admin_key(url)
    proc, endpoint = start_server(url, env)
    try:
        administer_all(endpoint, key)
        web = requests.Session()
        signed = web.post(f"{endpoint}/console/signin", data={"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]},
                          allow_redirects=False, timeout=30)
        assert signed.status_code == 303, signed.text[:300]
        csrf = web.get(f"{endpoint}/console/api/session", timeout=30).json()["csrfToken"]
        headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}

        def call(operation: str, body: dict) -> tuple[float, dict]:
            t0 = time.perf_counter()
            r = web.post(f"{endpoint}/console/api/{operation}?region=us-east-1", data=json.dumps(body), headers=headers, timeout=60)
            assert r.status_code == 200, (operation, r.text[:300])
            return (time.perf_counter() - t0) * 1000, r.json()

        def page(criteria: dict, sort: dict) -> tuple[float, float, int, int]:
            t0 = time.perf_counter()
            web.get(f"{endpoint}/console/api/session", timeout=30).raise_for_status()
            t_session = (time.perf_counter() - t0) * 1000
            with ThreadPoolExecutor(1) as pool:
                stats = pool.submit(call, "ConsoleCount", {"FindingCriteria": criteria})
                t_list, got = call("ListFindings", {"FindingCriteria": criteria, "SortCriteria": sort, "MaxResults": 50})
                t_get, found = call("GetFindings", {"FindingIds": got["findingIds"]})
                t_count, counted = stats.result()
            return t_session + t_list + t_get, t_count, counted["count"] + counted["more"], len(found["findings"])

        import psycopg

        with psycopg.connect(url) as c:
            kinds = [r[0] for r in c.execute("SELECT DISTINCT type FROM findings")]
        for name, (criteria, sort) in views(kinds).items():
            for _ in range(5):
                page(criteria, sort)  # warm: plans, pools, caches
            times, counts, matched, shown = [], [], 0, 0
            for _ in range(args.samples):
                ms, count_ms, matched, shown = page(criteria, sort)
                times.append(ms)
                counts.append(count_ms)
            p50, p95 = quantiles(times)
            print(f"{name}: {'more than 10,000' if matched > 10_000 else f'{matched:,}'} match, {shown} shown; table p50 {p50:.0f} ms, p95 {p95:.0f} ms "
                  f"({'✔' if p95 <= 300 else '✘'} goal p95 <= 300 ms); count p50 {quantiles(counts)[0]:.0f} ms, p95 {quantiles(counts)[1]:.0f} ms", flush=True)
        if args.browser:
            browser_times(endpoint, key, kinds, args.samples // 3)
    finally:
        proc.terminate()
        proc.wait(10)
        tidy(args.server, schema, url, args.keep)


def tidy(server: str, schema: str | None, url: str, keep: bool) -> None:
    """The schema this run filled is dropped, unless asked to keep it (then its URL is printed)."""
    if schema is None:
        return
    if keep:
        print(f"kept: {url}")
    else:
        drop_schema(server, schema)


def quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def browser_times(endpoint: str, key: dict, kinds: list[str], samples: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = b.new_page()
        page.goto(f"{endpoint}/console/signin")
        page.fill("input[name=access_key_id]", key["AccessKeyId"])
        page.fill("input[name=secret_access_key]", key["SecretAccessKey"])
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-ready=true]", timeout=120_000)
        rnd = random.Random(3)
        times = []
        for i in range(samples + 3):
            query = {"region": "us-east-1", "severity": rnd.choice(["high,critical", "medium", ""]), "type": rnd.choice(kinds + [""] * 5)}
            t0 = time.perf_counter()
            page.goto(f"{endpoint}/console/findings?{urlencode({k: v for k, v in query.items() if v})}")
            page.wait_for_selector("body[data-drawn=true]", timeout=120_000)
            if i >= 3:
                times.append((time.perf_counter() - t0) * 1000)
        b.close()
    p50, p95 = quantiles(times)
    print(f"findings page in Chromium, navigation to the table drawn (random filters): p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
