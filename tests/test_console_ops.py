"""The console's operator pages in a real browser (see tests/console_kit.py): lists, usage, followed sources,
sign-in limits and sessions, every page's loading, contrast and keyboard use."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from api_server import Live, live_server
from conftest import write_cloudtrail
from console_kit import (  # (its fixtures, browser, live and samples, come through conftest)
    ADMIN,
    MEMBER,
    _docs,
    _open,
    _ready,
    _rows,
    _shown,
    _sign_in,
)
from sqlalchemy import select

from trailhound.config import ScanSettings
from trailhound.pipeline import Scanner
from trailhound.simulator.records import ATTACKER_IP, TRUSTED_IP, iam_user, record
from trailhound.store import tables as t
from trailhound.store.database import Store, transaction


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
