"""What the console tests share: a real Chromium (Debian's, driven by Playwright), a live ``serve`` with the
sample findings in three accounts, and helpers that sign in and open pages."""


from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from api_server import Live, live_server
from sqlalchemy import select

from trailhound.findings.model import Finding, decode, encode
from trailhound.findings.samples import sample_findings
from trailhound.store import tables as t
from trailhound.store.database import transaction, write_findings

CHROMIUM = "/usr/bin/chromium"
ADMIN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
REGION = "us-east-1"
XSS_TITLE = "<script>window.__xss = 1</script>Bad title"
XSS_DESCRIPTION = '"><img src=x onerror="window.__xss = 2">'
XSS_AGENT = "<img src=x onerror=alert(3)>"
XSS_BUCKET = '"onerror=alert(4)><svg onload=alert(5)>'


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # a missing browser stack fails the tests: it is never a reason to skip them
        pytest.fail(f"playwright is not installed: {exc}")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM)
        except Exception as exc:
            pytest.fail(f"chromium does not start ({CHROMIUM}; `apt-get install -y chromium`): {exc}")
        yield b
        b.close()


def _copy(f: Finding, account: str, region: str = REGION, **changes: object) -> Finding:
    doc = orjson.loads(encode(f))
    doc.update(accountId=account, region=region, id=hashlib.blake2b(f"console|{account}|{region}|{f.type}".encode(), digest_size=16).hexdigest())
    doc.update(changes)
    return decode(orjson.dumps(doc))


def _hostile(samples: list[Finding]) -> Finding:
    base = next(f for f in samples if f.type == "Discovery:S3/TorIPCaller")
    doc = orjson.loads(encode(_copy(base, ADMIN)))
    doc["id"] = "0" * 31 + "1"
    doc["title"], doc["description"] = XSS_TITLE, XSS_DESCRIPTION
    doc["service"]["action"]["awsApiCallAction"]["userAgent"] = XSS_AGENT
    doc["resource"]["s3BucketDetails"][0]["name"] = XSS_BUCKET
    return decode(orjson.dumps(doc))


@pytest.fixture(scope="module")
def samples() -> list[Finding]:
    return sample_findings()


@pytest.fixture
def live(store_url: str, samples: list[Finding]) -> Iterator[Live]:
    with live_server(store_url) as server:
        now = datetime.now(UTC)
        # last updated over the past two weeks, so the summary's chart has days to draw
        findings = [_copy(f, a, updatedAt=_iso(now - timedelta(days=i % 14, minutes=i))) for i, f in enumerate(samples) for a in (ADMIN, MEMBER, OTHER)]
        findings += [_copy(f, ADMIN, "eu-west-1") for f in samples[:10]]
        findings.append(_hostile(samples))
        with transaction(server.store.connect()) as c:
            write_findings(c, findings)
        for account in (ADMIN, MEMBER, OTHER):
            server.client(account, admin=account == ADMIN).create_detector(Enable=True)
        yield server


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _rows(live: Live, account: str, region: str = REGION) -> list[dict]:
    f = t.findings.c
    conn = live.store.connect()
    return [dict(r._mapping) for r in conn.execute(select(f.id, f.type, f.severity, f.archived, f.feedback, f.updated_ms, f.resource_id, f.doc)
                                                      .where(f.account_id == account, f.region == region))]


def _page(browser, live: Live, **options: object):
    context = browser.new_context(**options)
    page = context.new_page()
    page.errors, page.requests = [], []
    context.on("request", lambda r: page.requests.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: (page.errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("console", lambda m: m.type == "error" and page.errors.append(f"console: {m.text}"))
    # everything the console loads comes from serve itself: no CDN, no request leaving the host
    context.on("request", lambda r: r.url.startswith(live.endpoint + "/") or page.errors.append(f"left the host: {r.url}"))
    return page


def _sign_in(browser, live: Live, account: str, *, admin: bool = False, secret: str | None = None, **options: object):
    live.client(account, admin=admin)  # issues the key on first use
    key_id, real = live.keys[(account, admin)]
    page = _page(browser, live, **options)
    page.goto(f"{live.endpoint}/console/")
    assert "/console/signin" in page.url  # not signed in: the sign-in form
    page.fill("input[name=access_key_id]", key_id)
    page.fill("input[name=secret_access_key]", secret or real)
    page.click("button[type=submit]")
    if secret is None:
        _ready(page)
    return page


def _ready(page) -> None:
    page.wait_for_selector("body[data-ready=true]", timeout=15_000)


def _open(page, live: Live, path: str) -> None:
    page.goto(f"{live.endpoint}/console/{path}")
    _ready(page)


def _band(severity: float) -> str:
    return "critical" if severity >= 9 else "high" if severity >= 7 else "medium" if severity >= 4 else "low"


def _docs(live: Live, account: str = ADMIN) -> dict[str, dict]:
    return {r["id"]: orjson.loads(r["doc"]) for r in _rows(live, account)}


def _shown(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("rows => rows.map(r => r.dataset.id)")
