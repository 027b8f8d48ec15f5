"""The web console in a real browser: Debian's chromium driven by Playwright, against a live ``serve``
(the real ASGI app under uvicorn) on SQLite and PostgreSQL.

The console's numbers are checked against the store; its calls go through the API's handlers, so a
member's session sees only its own findings; finding fields written by an attacker render as text.
No browser here is a failure, not a skip: these tests are the console's only proof.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import requests
from api_server import Live, live_server
from conftest import write_cloudtrail
from sqlalchemy import select

from trailhound.config import ScanSettings
from trailhound.findings.model import Finding, decode, encode
from trailhound.findings.samples import sample_findings
from trailhound.pipeline import Scanner
from trailhound.simulator.records import ATTACKER_IP, TRUSTED_IP, iam_user, record
from trailhound.store import tables as t
from trailhound.store.database import Store, transaction, write_findings

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


def test_sign_in_and_the_summary_counts_are_the_stores(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    assert ADMIN in page.text_content("#who")
    current = [r for r in _rows(live, ADMIN) if not r["archived"]]
    want = {b: sum(1 for r in current if _band(r["severity"]) == b) for b in ("low", "medium", "high", "critical")}
    got = {b: int(page.get_attribute(f"#count-{b}", "data-count")) for b in want}
    assert got == want and sum(want.values()) == int(page.get_attribute("#count-total", "data-count")) == len(current)
    types = page.locator("#top-types tbody tr").all_inner_texts()
    assert len(types) == 10
    resources = page.locator("#top-resources tbody tr").all_inner_texts()
    assert resources and all(ADMIN in r for r in resources)
    # the chart: per day and severity band, the store's current findings by their last update
    drawn = page.locator("#severity-chart g.column").evaluate_all(
        "gs => gs.flatMap(g => [...g.querySelectorAll('rect')].map(r => [g.dataset.label, r.dataset.series, +r.dataset.value]))")
    by_day: dict[tuple[str, str], int] = {}
    for r in current:
        key = (datetime.fromtimestamp(r["updated_ms"] / 1000, UTC).strftime("%Y-%m-%d"), _band(r["severity"]))
        by_day[key] = by_day.get(key, 0) + 1
    assert {(d, b): n for d, b, n in drawn} == by_day and len({d for d, _ in by_day}) >= 10
    assert page.locator("#severity-chart g.column").count() == 30
    cookie = next(c for c in page.context.cookies() if c["name"] == "trailhound_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert page.errors == []


def test_wrong_secret_unknown_key_and_missing_csrf_are_refused(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True, secret="not-the-secret-" + "x" * 25)
    assert "/console/signin" in page.url and "wrong" in page.text_content("#signin-error")
    assert not [c for c in page.context.cookies() if c["name"] == "trailhound_console"]
    unknown = requests.post(f"{live.endpoint}/console/signin", data={"access_key_id": "THAK" + "0" * 16, "secret_access_key": "x"},
                            allow_redirects=False, timeout=10)
    assert unknown.status_code == 401 and "set-cookie" not in unknown.headers
    # a signed-in session's data call without its CSRF token, or from another site, is refused
    page = _sign_in(browser, live, ADMIN, admin=True)
    ids = [r["id"] for r in _rows(live, ADMIN)][:1]
    no_token = page.context.request.post(f"{live.endpoint}/console/api/ArchiveFindings", data=orjson.dumps({"FindingIds": ids}),
                                         headers={"Content-Type": "application/json"})
    assert no_token.status == 403
    csrf = page.evaluate("fetch('/console/api/session').then(r => r.json()).then(s => s.csrfToken)")
    foreign = page.context.request.post(f"{live.endpoint}/console/api/ArchiveFindings", data=orjson.dumps({"FindingIds": ids}),
                                        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert foreign.status == 403
    assert not any(r["archived"] for r in _rows(live, ADMIN))


def test_findings_filtered_sorted_and_paged_from_the_url(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    _open(page, live, f"findings?region={REGION}&severity=high,critical")
    rows = _rows(live, ADMIN)
    high = sorted((r for r in rows if r["severity"] >= 7 and not r["archived"]), key=lambda r: (r["updated_ms"], r["id"]), reverse=True)
    shown = page.locator("#findings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert shown == [r["id"] for r in high][:50] and int(page.get_attribute("#match-count", "data-count")) == len(high)
    assert page.is_checked("[data-severity=high]") and not page.is_checked("[data-severity=low]")
    # the form writes the filter back into the address; a page of 10, then the next
    page.check("[data-severity=low]")
    page.select_option("#f-sort", "type")
    page.select_option("#f-order", "ASC")
    page.click("#filters button[type=submit]")
    _ready(page)
    assert "severity=critical%2Chigh%2Clow" in page.url or "severity=high%2Ccritical%2Clow" in page.url or "low" in page.url
    assert "sort=type" in page.url and "order=ASC" in page.url
    _open(page, live, page.url.split("/console/", 1)[1] + "&size=10")
    chosen = sorted((r for r in rows if (r["severity"] >= 7 or r["severity"] < 4) and not r["archived"]), key=lambda r: (r["type"], r["id"]))
    first = page.locator("#findings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    page.click("#next-page")
    _ready(page)
    second = page.locator("#findings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert first + second == [r["id"] for r in chosen][:20]
    assert page.errors == []


def test_detail_explains_the_finding_and_archive_and_feedback_work(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    rows = {r["type"]: r for r in _rows(live, ADMIN)}
    behaviour = rows["Exfiltration:IAMUser/AnomalousBehavior"]["id"]
    _open(page, live, f"findings/{behaviour}")
    assert "ModifySnapshotAttribute" in page.text_content("#action-words") and "Germany" in page.text_content("#action-words")
    anomaly = page.text_content("#anomaly")
    assert "CreateSnapshot" in anomaly and "ModifySnapshotAttribute (UNSEEN)" in anomaly
    assert not page.is_visible("#raw pre")
    page.click("#raw summary")
    assert orjson.loads(page.text_content("#raw pre"))["id"] == behaviour
    page.click("#useful")
    page.wait_for_selector("#action-status .ok")
    page.click("#archive")
    page.wait_for_selector("#unarchive")  # the page reloads showing the finding archived
    stored = {r["id"]: r for r in _rows(live, ADMIN)}[behaviour]
    assert stored["archived"] and stored["feedback"] == "USEFUL"
    tor = rows["Recon:IAMUser/TorIPCaller"]["id"]
    _open(page, live, f"findings/{tor}")
    assert "tor-exit-nodes" in page.text_content("#threat-intel")
    assert page.errors == []


def test_suppress_like_this_creates_a_rule_that_archives_new_matching_findings(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    portscan = next(r for r in _rows(live, ADMIN) if r["type"] == "Recon:EC2/Portscan")["id"]
    _open(page, live, f"findings/{portscan}")
    page.click("text=Suppress findings like this")
    _ready(page)
    assert page.input_value("#value-0") == "Recon:EC2/Portscan" and page.input_value("#value-1") == "i-0c0b1d0c0b1d0c0b1"
    assert page.is_checked("#use-0") and page.is_checked("#use-1") and not page.is_checked("#use-2")
    page.fill("#filter-name", "known-scanner")
    page.click("#save-filter")
    page.wait_for_selector("#action-status .ok")
    gd = live.client(ADMIN, admin=True)
    detector = gd.list_detectors()["DetectorIds"][0]
    rule = gd.get_filter(DetectorId=detector, FilterName="known-scanner")
    assert rule["Action"] == "ARCHIVE" and rule["FindingCriteria"] == {"Criterion": {
        "type": {"Eq": ["Recon:EC2/Portscan"]}, "resource.instanceDetails.instanceId": {"Eq": ["i-0c0b1d0c0b1d0c0b1"]}}}
    before = {r["id"] for r in _rows(live, ADMIN)}
    gd.create_sample_findings(DetectorId=detector, FindingTypes=["Recon:EC2/Portscan", "Backdoor:EC2/Spambot"])
    new = {r["type"]: r["archived"] for r in _rows(live, ADMIN) if r["id"] not in before}
    assert new == {"Recon:EC2/Portscan": 1, "Backdoor:EC2/Spambot": 0}
    assert page.errors == []


def test_a_member_session_sees_only_its_own_findings(browser, live: Live) -> None:
    admin = live.client(ADMIN, admin=True)
    admin.create_members(DetectorId=admin.list_detectors()["DetectorIds"][0], AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    page = _sign_in(browser, live, MEMBER)
    mine = {r["id"] for r in _rows(live, MEMBER) if not r["archived"]}
    assert int(page.get_attribute("#count-total", "data-count")) == len(mine)
    _open(page, live, "findings?size=50")
    seen: set[str] = set()
    while True:
        seen |= set(page.locator("#findings tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)"))
        if not page.locator("#next-page").count():
            break
        page.click("#next-page")
        _ready(page)
    assert seen == mine
    foreign = next(r["id"] for r in _rows(live, OTHER))
    admins = next(r["id"] for r in _rows(live, ADMIN))
    for fid in (foreign, admins):
        _open(page, live, f"findings/{fid}")
        assert "not found" in page.text_content("h1")
    # naming another account's detector in a call changes nothing: the console uses the session's own
    got = page.evaluate("""async ([ids, detector]) => {
        const s = await (await fetch('/console/api/session')).json();
        const r = await fetch('/console/api/GetFindings', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': s.csrfToken},
                              body: JSON.stringify({FindingIds: ids, DetectorId: detector})});
        return (await r.json()).findings.map(f => f.accountId);
    }""", [[foreign, admins], admin.list_detectors()["DetectorIds"][0]])
    assert got == []
    # a member cannot archive (as in GuardDuty): the console says so
    _open(page, live, f"findings/{sorted(mine)[0]}")
    page.click("#archive")
    page.wait_for_selector("#action-status .error")
    assert "administrator" in page.text_content("#action-status")
    assert [e for e in page.errors if "status of 400" not in e] == []  # the refused archive is the one failed load


def test_attacker_written_fields_render_as_text(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    hostile = "0" * 31 + "1"
    gd = live.client(ADMIN, admin=True)  # a rule made from the hostile finding carries its bucket name
    gd.create_filter(DetectorId=gd.list_detectors()["DetectorIds"][0], Name="from-hostile", Description=XSS_TITLE,
                     FindingCriteria={"Criterion": {"resource.s3BucketDetails.name": {"Eq": [XSS_BUCKET]}}})
    for path in ("", "findings?type=Discovery:S3/TorIPCaller", f"findings/{hostile}", f"suppress?finding={hostile}", "rules"):
        _open(page, live, path)
        assert page.evaluate("window.__xss") is None
        assert page.locator("img, svg:not(.chart), svg.chart svg, script:not([src]), iframe, object").count() == 0
        # no element carries an event handler attribute (the charts' SVG included)
        assert page.evaluate("[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on'))") == []
    _open(page, live, f"findings/{hostile}")
    assert page.text_content("#finding-title").endswith(XSS_TITLE)
    assert page.text_content("#finding-description") == XSS_DESCRIPTION
    assert XSS_AGENT in page.text_content("#action") and XSS_BUCKET in page.text_content("#resource")
    _open(page, live, "findings?type=Discovery:S3/TorIPCaller")
    assert XSS_BUCKET in page.text_content("#findings")
    _open(page, live, "rules")
    assert XSS_BUCKET in page.text_content("#rules") and page.input_value(".rule-description") == XSS_TITLE
    assert page.errors == []  # no alert() dialog, no script error
    csp = requests.get(f"{live.endpoint}/console/signin", timeout=10).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_the_console_and_the_api_keep_their_own_paths(live: Live) -> None:
    plain = requests.get(f"{live.endpoint}/console/findings?severity=high", allow_redirects=False, timeout=10)
    assert plain.status_code == 303 and plain.headers["location"].startswith("/console/signin?next=")
    assert requests.get(f"{live.endpoint}/console", allow_redirects=False, timeout=10).headers["location"] == "/console/"
    assert requests.get(f"{live.endpoint}/console/no/such/page", timeout=10).status_code == 404
    assert requests.post(f"{live.endpoint}/console/api/ListFindings", json={}, timeout=10).status_code == 401
    # the API's own paths, signed or not, still reach the API
    unsigned = requests.get(f"{live.endpoint}/detector", timeout=10)
    assert unsigned.status_code == 403 and unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert requests.get(f"{live.endpoint}/consoles", timeout=10).headers.get("x-amzn-errortype") == "MissingAuthenticationTokenException"
    assert len(live.client(ADMIN, admin=True).list_detectors()["DetectorIds"]) == 1


def _docs(live: Live, account: str = ADMIN) -> dict[str, dict]:
    return {r["id"]: orjson.loads(r["doc"]) for r in _rows(live, account)}


def _shown(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("rows => rows.map(r => r.dataset.id)")


def test_findings_time_window_in_the_url_and_from_the_chart(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = today - timedelta(days=5), today - timedelta(days=3)
    start, end = int(since.timestamp() * 1000), int((until + timedelta(days=1)).timestamp() * 1000)
    # the window's edges: its first millisecond is in it, the one after its last day is not
    ids = sorted(r["id"] for r in _rows(live, ADMIN) if not r["archived"])
    f = t.findings.c
    with transaction(live.store.connect()) as c:
        for fid, ms in ((ids[0], start), (ids[1], end), (ids[2], end - 1)):
            c.execute(t.findings.update().where(f.id == fid).values(updated_ms=ms, updated_at=_iso(datetime.fromtimestamp(ms / 1000, UTC))))
    _open(page, live, f"findings?since={since:%Y-%m-%d}&until={until:%Y-%m-%d}&size=50")
    want = sorted((r for r in _rows(live, ADMIN) if not r["archived"] and start <= r["updated_ms"] < end), key=lambda r: (r["updated_ms"], r["id"]), reverse=True)
    assert _shown(page, "#findings tbody tr") == [r["id"] for r in want] and len(want) >= 5
    assert ids[0] in _shown(page, "#findings tbody tr") and ids[2] in _shown(page, "#findings tbody tr") and ids[1] not in _shown(page, "#findings tbody tr")
    assert page.input_value("#f-since") == f"{since:%Y-%m-%d}"
    # the window survives the filter form, and a bar of the summary's chart opens its own day
    page.check("[data-severity=high]")
    page.click("#filters button[type=submit]")
    _ready(page)
    assert f"since={since:%Y-%m-%d}" in page.url and f"until={until:%Y-%m-%d}" in page.url
    assert _shown(page, "#findings tbody tr") == [r["id"] for r in want if r["severity"] >= 7 and r["severity"] < 9]
    _open(page, live, "")
    day = f"{today - timedelta(days=2):%Y-%m-%d}"
    total = int(page.get_attribute(f"#severity-chart g.column[data-label='{day}']", "data-total"))
    page.click(f"#severity-chart g.column[data-label='{day}']")
    _ready(page)
    assert f"since={day}" in page.url and int(page.get_attribute("#match-count", "data-count")) == total > 0
    assert page.errors == []


def _remote_ips(doc: dict) -> set[str]:
    action = doc["service"].get("action") or {}
    return {(action.get(k) or {}).get("remoteIpDetails", {}).get("ipAddressV4") for k in ("awsApiCallAction", "networkConnectionAction")} - {None}


def test_detail_shows_occurrences_and_related_findings(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)
    docs = _docs(live)
    by_type = {d["type"]: d for d in docs.values()}
    # same resource: the busiest instance's other findings, newest first, ten at most
    rows = _rows(live, ADMIN)
    busy = max({r["resource_id"] for r in rows}, key=lambda x: sum(1 for r in rows if r["resource_id"] == x))
    one = next(r for r in rows if r["resource_id"] == busy and docs[r["id"]]["resource"]["resourceType"] == "Instance")
    _open(page, live, f"findings/{one['id']}")
    same = sorted((r for r in rows if r["resource_id"] == busy and r["id"] != one["id"]), key=lambda r: r["updated_ms"], reverse=True)
    assert _shown(page, "#related-resource li") == [r["id"] for r in same][:10] and len(same) > 10
    # occurrences: the span from first to last seen, with the count
    doc = docs[one["id"]]
    assert f"{doc['service']['count']} occurrence" in page.text_content("#occurrences") and page.locator("#occurrence-chart .span").count() == 1
    # same remote address, through either kind of action
    tor = by_type["Recon:IAMUser/TorIPCaller"]
    ip = next(iter(_remote_ips(tor)))
    _open(page, live, f"findings/{tor['id']}")
    want = {i for i, d in docs.items() if ip in _remote_ips(d) and i != tor["id"]}
    assert set(_shown(page, "#related-ip li")) == want and want
    # attack sequences that name the finding's access key; the other sequence does not
    seq = {d["type"]: i for i, d in docs.items() if d["type"].startswith("AttackSequence:")}
    for kind, sequence in (("CredentialAccess:IAMUser/AnomalousBehavior", "AttackSequence:IAM/CompromisedCredentials"),
                           ("Impact:IAMUser/AnomalousBehavior", "AttackSequence:S3/CompromisedData")):
        _open(page, live, f"findings/{by_type[kind]['id']}")
        assert _shown(page, "#related-sequences li") == [seq[sequence]]
    _open(page, live, f"findings/{by_type['Recon:EC2/Portscan']['id']}")
    assert page.text_content("#related-sequences") == "None."
    # a sequence draws its signals on the same axis as itself
    _open(page, live, f"findings/{seq['AttackSequence:IAM/CompromisedCredentials']}")
    signals = docs[seq["AttackSequence:IAM/CompromisedCredentials"]]["service"]["detection"]["sequence"]["signals"]
    assert page.locator("#occurrence-chart .span").count() == 1 + len(signals)
    assert page.errors == []


def test_suppression_rules_listed_edited_and_deleted(browser, live: Live) -> None:
    gd = live.client(ADMIN, admin=True)
    detector = gd.list_detectors()["DetectorIds"][0]
    gd.create_filter(DetectorId=detector, Name="scanner", Action="ARCHIVE", FindingCriteria={"Criterion": {"type": {"Eq": ["Recon:EC2/Portscan"]}}})
    gd.create_filter(DetectorId=detector, Name="high-only", Action="NOOP", FindingCriteria={"Criterion": {"severity": {"Gte": 7}}})
    page = _sign_in(browser, live, ADMIN, admin=True)
    _open(page, live, "rules")
    names = page.locator("#rules tbody tr").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert names == ["scanner", "high-only"]
    current = [r for r in _rows(live, ADMIN)]
    counts = page.locator("#rules td.matches").evaluate_all("cells => cells.map(c => +c.dataset.count)")
    assert counts == [sum(1 for r in current if r["type"] == "Recon:EC2/Portscan"), sum(1 for r in current if r["severity"] >= 7)]
    # edit: a description, the action, and narrower criteria
    row = page.locator("#rules tbody tr[data-name=high-only]")
    row.locator(".rule-description").fill("critical only")
    row.locator(".rule-action").select_option("ARCHIVE")
    row.locator("summary").click()
    row.locator(".rule-criteria").fill('{"severity": {"gte": 9}}')
    row.locator(".rule-save").click()
    page.wait_for_selector("#action-status .ok")
    rule = gd.get_filter(DetectorId=detector, FilterName="high-only")
    assert (rule["Description"], rule["Action"], rule["FindingCriteria"]) == ("critical only", "ARCHIVE", {"Criterion": {"severity": {"Gte": 9}}})
    # criteria that are not JSON, or that the API refuses, change nothing and say why
    row.locator(".rule-criteria").fill('{"severity": ')
    row.locator(".rule-save").click()
    page.wait_for_selector("#action-status .error")
    row.locator(".rule-criteria").fill('{"no.such.key": {"eq": ["x"]}}')
    row.locator(".rule-save").click()
    page.wait_for_selector("#action-status:has-text('no.such.key')")
    assert gd.get_filter(DetectorId=detector, FilterName="high-only")["FindingCriteria"] == {"Criterion": {"severity": {"Gte": 9}}}
    # delete takes two presses; the first only arms the button
    delete = page.locator("#rules tbody tr[data-name=scanner] button.danger")
    delete.click()
    assert gd.list_filters(DetectorId=detector)["FilterNames"] == ["scanner", "high-only"]
    with page.expect_navigation():  # the page reloads without the rule
        delete.click()
    _ready(page)
    assert gd.list_filters(DetectorId=detector)["FilterNames"] == ["high-only"]
    assert page.locator("#rules tbody tr").evaluate_all("rows => rows.map(r => r.dataset.name)") == ["high-only"]
    assert [e for e in page.errors if "status of 400" not in e] == []  # the refused criteria are the failed loads


def _scan(live: Live, logs: list) -> None:
    store = Store(live.url)
    try:
        Scanner(store, ScanSettings(builtin_intel=False)).scan(logs)
    finally:
        store.close()


def test_lists_uploaded_activated_and_what_they_matched_then_usage_and_ingestion(browser, live: Live, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRAILHOUND_LISTS_DIR", str(tmp_path / "lists"))
    page = _sign_in(browser, live, ADMIN, admin=True)
    _open(page, live, "lists")
    assert page.text_content("#threatintelset-table") == "None."
    for kind, name, body in (("threatintelset", "corp-threats", f"# ours\n{ATTACKER_IP}\n"), ("ipset", "office", f"{TRUSTED_IP}\n")):
        page.select_option("#upload-kind", kind)
        page.fill("#upload-name", name)
        page.set_input_files("#upload-file", files=[{"name": f"{name}.txt", "mimeType": "text/plain", "buffer": body.encode()}])
        page.click("#upload-submit")
        page.wait_for_selector(f"tr[data-name={name}]")
        _ready(page)
    gd = live.client(ADMIN, admin=True)
    detector = gd.list_detectors()["DetectorIds"][0]
    [tid] = gd.list_threat_intel_sets(DetectorId=detector)["ThreatIntelSetIds"]
    threat = gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=tid)
    assert threat["Status"] == "ACTIVE" and threat["Location"].startswith(str(tmp_path / "lists"))
    assert page.text_content("tr[data-name=corp-threats] .list-status") == "ACTIVE"
    assert page.get_attribute("tr[data-name=corp-threats] .list-matches", "data-count") == "0"
    files = sorted(p for p in (tmp_path / "lists").rglob("*") if p.is_file())
    # real logs: one call from the listed address, one from the trusted one, one from neither
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    calls = [record("ListAccessKeys", "iam.amazonaws.com", time=t0 + timedelta(minutes=i), account=ADMIN, identity=iam_user(ADMIN, who), ip=ip)
             for i, (who, ip) in enumerate((("eve", ATTACKER_IP), ("bob", TRUSTED_IP), ("carol", "89.160.20.120")))]
    _scan(live, [write_cloudtrail(tmp_path / "ct" / "trail.json.gz", calls)])
    matched = [i for i, d in _docs(live).items() if "corp-threats" in d["service"]["additionalInfo"]["value"]]
    assert len(matched) == 1
    _open(page, live, "lists")
    assert page.get_attribute("tr[data-name=corp-threats] .list-matches", "data-count") == "1"
    page.click("tr[data-name=corp-threats] .list-matches")
    _ready(page)
    assert _shown(page, "#findings tbody tr") == matched
    # deactivate, then delete (two presses)
    _open(page, live, "lists")
    page.click("tr[data-name=corp-threats] .list-toggle")
    page.wait_for_selector("tr[data-name=corp-threats] .list-status:text-is('INACTIVE')")
    assert gd.get_threat_intel_set(DetectorId=detector, ThreatIntelSetId=tid)["Status"] == "INACTIVE"
    page.click("tr[data-name=office] button.danger")
    page.click("tr[data-name=office] button.danger")
    page.wait_for_selector("#ipset-table:not(table)")
    assert gd.list_ip_sets(DetectorId=detector)["IpSetIds"] == []
    # the scan metered its events: the usage page's rows are the store's, priced as GuardDuty prices CloudTrail
    _open(page, live, "usage")
    usage = [u for u in live.store.usage() if u["accountId"] == ADMIN]
    assert usage and all(u["source"] == "cloudtrail" for u in usage)
    shown = page.locator("#usage tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.month, r.dataset.account, r.dataset.source, +r.querySelector('.usd').dataset.usd])")
    assert shown == [[u["month"], ADMIN, "cloudtrail", round(u["events"] * 4.0 / 1e6, 6)] for u in usage]
    bars = page.locator("#usage-chart g.column").evaluate_all("gs => gs.map(g => [g.dataset.label, +g.dataset.total])")
    assert [b[0] for b in bars] == [u["month"] for u in usage] and all(abs(b[1] - u["events"] * 4e-6) < 1e-9 for b, u in zip(bars, usage))
    # and the summary says when it was ingested
    _open(page, live, "")
    assert "Last scan or follow commit" in page.text_content("#ingestion")
    lag = int(page.get_attribute("#lag", "data-seconds"))
    assert 0 <= lag < 3 * 3600  # committed just now, for events of the last two hours
    gd.create_members(DetectorId=detector, AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    member = _sign_in(browser, live, MEMBER)
    _open(member, live, "usage")
    assert member.locator("#usage tbody tr").count() == 0  # the admin's usage is not a stranger's
    _open(member, live, "lists")
    member.fill("#upload-name", "mine")
    member.set_input_files("#upload-file", files=[{"name": "m.txt", "mimeType": "text/plain", "buffer": f"{ATTACKER_IP}\n".encode()}])
    member.click("#upload-submit")
    member.wait_for_selector("#action-status .error")  # a member may not manage lists (as in GuardDuty)
    assert "administrator" in member.text_content("#action-status")
    assert sorted(p for p in (tmp_path / "lists").rglob("*") if p.is_file()) == files  # and the refused upload left no file
    assert page.errors == []


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from s3_server import s3_server

    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def test_sources_page_shows_each_followed_sources_lag_last_object_errors_and_quarantine(browser, live: Live, s3, tmp_path, monkeypatch) -> None:
    import api_server

    from trailhound.api.app import create_app
    from trailhound.sources.follow import Follower, FollowSettings

    folder, missing = tmp_path / "incoming", tmp_path / "not-there"
    stamp = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    t0 = stamp - timedelta(minutes=10)
    good = write_cloudtrail(folder / f"{ADMIN}_CloudTrail_us-east-1_{stamp:%Y%m%dT%H%MZ}_a1b2.json.gz",
                            [record("ListBuckets", "s3.amazonaws.com", time=t0, account=ADMIN)])
    write_cloudtrail(folder / f"{ADMIN}_CloudTrail_us-east-1_{stamp - timedelta(hours=1):%Y%m%dT%H%MZ}_c3d4.json.gz",
                     [record("ListUsers", "iam.amazonaws.com", time=t0 - timedelta(hours=1), account=ADMIN)])
    broken = folder / f"{ADMIN}_CloudTrail_us-east-1_{stamp - timedelta(hours=2):%Y%m%dT%H%MZ}_broken.json"
    broken.write_text('{"Records": [{"eventTime": 12}]}')
    # an S3 prefix: two objects, the later delivered 2 hours ago; and a bucket that does not exist
    for k, v in s3.env.items():
        monkeypatch.setenv(k, v)
    bucket, name = s3.client(), f"console-logs-{hashlib.blake2b(live.url.encode(), digest_size=4).hexdigest()}"  # one server for both stores
    bucket.create_bucket(Bucket=name)
    keys = [f"logs/AWSLogs/{ADMIN}/CloudTrail/us-east-1/{when:%Y/%m/%d}/{ADMIN}_CloudTrail_us-east-1_{when:%Y%m%dT%H%MZ}_s3.json.gz"
            for when in (stamp, stamp + timedelta(hours=1))]
    for h, key in zip((0, 1), keys):
        body = write_cloudtrail(tmp_path / "s3" / f"{h}.json.gz", [record("ListRoles", "iam.amazonaws.com", time=t0 + timedelta(hours=h), account=ADMIN)])
        bucket.put_object(Bucket=name, Key=key, Body=body.read_bytes())
    sources = [str(folder), str(missing), f"s3://{name}/logs/", "s3://no-such-console-bucket/logs/"]
    writer = Store(live.url)
    try:
        follower = Follower(writer, ScanSettings(builtin_intel=False), sources, FollowSettings(s3_endpoint=s3.endpoint), notify=lambda _: None)
        follower.cycle()
    finally:
        writer.close()
    health = {"follow": follower.status, "sources": sources}
    monkeypatch.setattr(api_server, "create_app", lambda store, key: create_app(store, key, health=lambda: health))
    with live_server(live.url) as served:
        page = _sign_in(browser, served, ADMIN, admin=True)
        _open(page, served, "sources")
        row = page.locator(f"#sources tr[data-source='{folder}']")
        assert good.name in row.text_content() and "reading" in row.text_content()
        lag = int(row.locator(".lag").get_attribute("data-seconds"))
        assert 3 * 3600 - 5 <= lag < 3 * 3600 + 600  # now − the newest file's delivery stamp
        quarantined = [q for q in writer_quarantine(live) if q.startswith(str(folder.resolve()))]
        assert int(row.locator(".quarantined").get_attribute("data-count")) == len(quarantined) > 0 and broken.name in row.text_content()
        gone = page.locator(f"#sources tr[data-source='{missing}']")
        assert "not-there" in gone.locator("td.error").text_content() and gone.locator(".quarantined").get_attribute("data-count") == "0"
        prefix = page.locator(f"#sources tr[data-source='s3://{name}/logs/']")
        assert f"s3://{name}/{keys[1]}" in prefix.text_content() and "reading" in prefix.text_content()
        assert 2 * 3600 - 5 <= int(prefix.locator(".lag").get_attribute("data-seconds")) < 2 * 3600 + 600
        assert "no-such-console-bucket" in page.locator("#sources tr[data-source='s3://no-such-console-bucket/logs/'] td.error").text_content()
        if not live.url.startswith("postgresql"):
            page.set_viewport_size({"width": 1280, "height": 600})
            page.screenshot(path=str(SHOTS / "sources.png"))
        _open(page, served, "")
        assert "2 failing" in page.text_content("#ingestion")
        # a key that is no administrator's is not shown the operator's sources
        member = _sign_in(browser, served, MEMBER)
        _open(member, served, "sources")
        assert "administrator" in member.text_content("main") and member.locator("#sources").count() == 0
        assert page.errors == []
    page = _sign_in(browser, live, ADMIN, admin=True)
    _open(page, live, "sources")  # a serve that follows nothing says so
    assert "follows no sources" in page.text_content("#not-following")


def writer_quarantine(live: Live) -> list[str]:
    return [q["path"] for q in live.store.quarantined()]


def _post_signin(live: Live, key_id: str, secret: str) -> requests.Response:
    return requests.post(f"{live.endpoint}/console/signin", data={"access_key_id": key_id, "secret_access_key": secret}, allow_redirects=False, timeout=10)


def test_sign_in_is_rate_limited_per_key_and_per_address(live: Live) -> None:
    live.client(ADMIN, admin=True)
    live.client(MEMBER)
    key_id, secret = live.keys[(ADMIN, True)]
    other_id, other_secret = live.keys[(MEMBER, False)]
    for _ in range(4):
        assert _post_signin(live, key_id, "wrong-" + "x" * 34).status_code == 401
    assert _post_signin(live, key_id, secret).status_code == 303  # four failures: the right secret still signs in
    assert _post_signin(live, key_id, "wrong-" + "x" * 34).status_code == 401  # the fifth failure
    refused = _post_signin(live, key_id, secret)  # past the limit even the right secret waits: guessing costs time
    assert refused.status_code == 429 and 0 < int(refused.headers["retry-after"]) <= 300 and "set-cookie" not in refused.headers
    assert _post_signin(live, other_id, other_secret).status_code == 303  # another key from the same address is not locked out
    # one address trying many keys: refused after 20 failures in all, whichever keys they named
    for i in range(14):
        assert _post_signin(live, f"THAK{i:016d}", "x").status_code == 401
    assert _post_signin(live, other_id, other_secret).status_code == 303  # 19 failures from it so far
    assert _post_signin(live, "THAK" + "9" * 16, "x").status_code == 401
    assert _post_signin(live, other_id, other_secret).status_code == 429


def test_sessions_are_kept_hashed_in_the_store_and_survive_a_restart(browser, live: Live, monkeypatch) -> None:
    import types

    import api_server

    page = _sign_in(browser, live, ADMIN, admin=True)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "trailhound_console")
    m = t.meta.c
    stored = dict(live.store.connect().execute(select(m.key, m.value).where(m.key.like("console-session:%"))).all())
    assert list(stored) == ["console-session:" + hashlib.sha256(token.encode()).hexdigest()]
    assert not any(token in k or token in v for k, v in stored.items())  # the token itself is nowhere in the store
    # another serve on the same store and master key (a restart): the same browser is still signed in
    monkeypatch.setattr(api_server, "secrets", types.SimpleNamespace(token_bytes=lambda n: live.master_key))
    with live_server(live.url) as again:
        page.goto(f"{again.endpoint}/console/findings")
        _ready(page)
        assert "/console/signin" not in page.url and ADMIN in page.text_content("#who")
        # an expired row signs no one in, and is deleted when seen
        with transaction(live.store.connect()) as c:
            key = next(iter(stored))
            c.execute(t.meta.update().where(m.key == key).values(value=f"{int(time.time()) - 1:010d}" + stored[key][10:]))
        page.goto(f"{again.endpoint}/console/findings")
        assert "/console/signin" in page.url
        assert live.store.connect().execute(select(m.key).where(m.key.like("console-session:%"))).all() == []
    # signing out ends the session on every serve
    page = _sign_in(browser, live, ADMIN, admin=True)
    page.click("#signout")
    page.wait_for_url("**/console/signin")
    assert live.store.connect().execute(select(m.key).where(m.key.like("console-session:%"))).all() == []


SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _luminance(rgb: str) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (float(x) for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _colours(page, selector: str) -> tuple[str, str]:
    return tuple(page.eval_on_selector(selector, "e => { const s = getComputedStyle(e); return [s.color, s.backgroundColor]; }"))


def test_every_page_loads_only_from_serve_without_errors_in_light_and_dark(browser, live: Live, tmp_path, monkeypatch) -> None:
    """Every page, with real data behind it: no console error, every request to serve's own origin, readable
    contrast in both colour schemes; the README's screenshots are taken here (SQLite run)."""
    monkeypatch.setenv("TRAILHOUND_LISTS_DIR", str(tmp_path / "lists"))
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "threats.txt").write_text(f"{ATTACKER_IP}\n")
    gd = live.client(ADMIN, admin=True)
    detector = gd.list_detectors()["DetectorIds"][0]
    gd.create_threat_intel_set(DetectorId=detector, Name="corp-threats", Format="TXT", Location=str(tmp_path / "lists" / "threats.txt"), Activate=True)
    gd.create_filter(DetectorId=detector, Name="known-scanner", Action="ARCHIVE", Description="the office's vulnerability scanner",
                     FindingCriteria={"Criterion": {"type": {"Eq": ["Recon:EC2/Portscan"]}, "resource.instanceDetails.instanceId": {"Eq": ["i-0c0b1d0c0b1d0c0b1"]}}})
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    _scan(live, [write_cloudtrail(tmp_path / "ct" / "trail.json.gz", [record("ListAccessKeys", "iam.amazonaws.com", time=t0 + timedelta(seconds=i),
                                                                              account=ADMIN, ip=ATTACKER_IP if i == 0 else "89.160.20.120")
                                                                       for i in range(2000)])])
    docs = _docs(live)
    behaviour = next(i for i, d in docs.items() if d["type"] == "Exfiltration:IAMUser/AnomalousBehavior")
    portscan = next(i for i, d in docs.items() if d["type"] == "Recon:EC2/Portscan")
    pages = {"summary": "", "findings": "findings?severity=high,critical", "detail": f"findings/{behaviour}", "suppress": f"suppress?finding={portscan}",
             "rules": "rules", "lists": "lists", "usage": "usage", "sources": "sources"}
    shots = not live.url.startswith("postgresql")
    if shots:
        SHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page = _sign_in(browser, live, ADMIN, admin=True, color_scheme=scheme, viewport={"width": 1280, "height": 860})
        for name, path in pages.items():
            _open(page, live, path)
            assert page.locator("p.error[role=alert]").count() == 0, (name, page.text_content("main"))
            text, background = _colours(page, "body")
            assert _contrast(text, background) >= 7, (scheme, name)
            for badge in page.locator(".sev").all()[:3]:
                assert _contrast(*badge.evaluate("e => { const s = getComputedStyle(e); return [s.color, s.backgroundColor]; }")) >= 4.5, (scheme, name)
            if shots and name != "sources" and (scheme == "light" or name in ("summary", "detail")):  # sources: its own test, with a follower
                page.screenshot(path=str(SHOTS / f"{name}{'-dark' if scheme == 'dark' else ''}.png"))
        dark = _luminance(_colours(page, "body")[1]) < 0.05
        assert dark == (scheme == "dark")
        assert page.errors == []
        assert page.requests and all(u.startswith(live.endpoint + "/") for u in page.requests)
        assert {u.split("?")[0].rsplit("/", 1)[-1] for u in page.requests} >= {"console.js", "chart.js", "related.js", "pages.js", "console.css", "favicon.svg"}


def test_the_console_works_from_the_keyboard(browser, live: Live) -> None:
    page = _sign_in(browser, live, ADMIN, admin=True)

    def tab_to(test: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"(() => {{ const e = document.activeElement; return {test}; }})()"):
                return
        raise AssertionError(f"Tab never reached: {test}")

    tab_to("e.tagName === 'A' && e.textContent === 'Findings'")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focused link is shown
    page.keyboard.press("Enter")
    _ready(page)
    assert page.url.split("?")[0].endswith("/console/findings")
    first = _shown(page, "#findings tbody tr")[0]
    tab_to(f"e.closest && e.closest('tr') && e.closest('tr').dataset.id === '{first}' && e.tagName === 'A'")
    page.keyboard.press("Enter")
    _ready(page)
    assert page.url.split("?")[0].endswith(f"/console/findings/{first}")
    tab_to("e.id === 'archive'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#unarchive")
    assert {r["id"]: r for r in _rows(live, ADMIN)}[first]["archived"]
    tab_to("e.tagName === 'SUMMARY'")
    page.keyboard.press("Enter")
    assert page.is_visible("#raw pre")
    assert page.errors == []


def test_the_findings_count_stops_at_its_cap(browser, live: Live, monkeypatch) -> None:
    from trailhound.console import data

    high = sum(1 for r in _rows(live, ADMIN) if 7 <= r["severity"] < 9 and not r["archived"])
    page = _sign_in(browser, live, ADMIN, admin=True)
    monkeypatch.setattr(data, "COUNT_CAP", high)  # exactly at the cap: still an exact count
    _open(page, live, "findings?severity=high")
    assert page.get_attribute("#match-count", "data-count") == str(high) and page.get_attribute("#match-count", "data-more") == "false"
    assert page.text_content("#match-count") == f"{high} findings"
    monkeypatch.setattr(data, "COUNT_CAP", high - 1)  # one over it: "more than"
    _open(page, live, "findings?severity=high")
    assert page.get_attribute("#match-count", "data-more") == "true" and page.text_content("#match-count") == f"More than {high - 1} findings"
    assert page.locator("#findings tbody tr").count() == min(high, 50)  # the table itself is not capped
    assert page.errors == []
