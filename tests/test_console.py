"""The web console in a real browser: Debian's chromium driven by Playwright, against a live ``serve``
(the real ASGI app under uvicorn) on SQLite and PostgreSQL.

The console's numbers are checked against the store; its calls go through the API's handlers, so a
member's session sees only its own findings; finding fields written by an attacker render as text.
No browser here is a failure, not a skip: these tests are the console's only proof.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import requests
from api_server import Live
from console_kit import (  # (its fixtures, browser, live and samples, come through conftest)
    ADMIN,
    MEMBER,
    OTHER,
    REGION,
    XSS_AGENT,
    XSS_BUCKET,
    XSS_DESCRIPTION,
    XSS_TITLE,
    _band,
    _docs,
    _iso,
    _open,
    _ready,
    _rows,
    _shown,
    _sign_in,
)

from trailhound.store import tables as t
from trailhound.store.database import transaction


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


