"""intel.update: refresh lists from a real local HTTP server and from paths; failures keep the old copy."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trailhound.intel.builtin import builtin_index, packaged_manifest
from trailhound.intel.formats import load_list
from trailhound.intel.index import Category
from trailhound.intel.paths import MANIFEST, default_data_dir, refreshed_sources
from trailhound.intel.update import SourceSpec, default_sources, extra_sources, update

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOR_2022 = DATA / "tor-exit-nodes" / "tor-exit-nodes_2022-02-19.lst"
TOR_2024 = DATA / "tor-exit-nodes" / "tor-exit-nodes_2024-02-27.lst"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def tor_spec(url: str) -> SourceSpec:
    return SourceSpec("tor-exit-nodes", url, Category.TOR_EXIT, threat_name="tor-exit-nodes",
                      list_name="TrailhoundBuiltin:tor-exit-nodes")


def only_in(a: Path, b: Path) -> str:
    """An address on list `a` and not on list `b`."""
    other = set(b.read_text().split())
    return next(ip for ip in a.read_text().split() if ip not in other and "." in ip)


def test_refresh_over_http_then_failures_keep_the_previous_copy(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "exits.txt").write_bytes(TOR_2022.read_bytes())
    dest = tmp_path / "intel"
    report = update([tor_spec(f"{base}/exits.txt")], dest)
    (res,) = report.results
    assert res.ok and res.entries == 1708 and res.problems == 0 and report.failed == []
    stored = dest / "lists" / "tor-exit-nodes"
    assert stored.read_bytes() == TOR_2022.read_bytes()
    entry = json.loads((dest / MANIFEST).read_text())["sources"]["tor-exit-nodes"]
    assert entry["location"] == f"{base}/exits.txt" and entry["category"] == "tor-exit" and entry["format"] == "TXT"
    assert entry["entries"] == 1708 and entry["sha256"] == hashlib.sha256(TOR_2022.read_bytes()).hexdigest()
    assert entry["fetched"].endswith("Z")

    # builtin_index now serves Tor exits from the 2022 copy instead of the packaged 2024 snapshot
    idx = builtin_index(dest)
    old_only, new_only = only_in(TOR_2022, TOR_2024), only_in(TOR_2024, TOR_2022)
    assert Category.TOR_EXIT in [h.category for h in idx.ip(old_only)]
    assert Category.TOR_EXIT not in [h.category for h in idx.ip(new_only)]
    assert Category.TOR_RELAY in [h.category for h in idx.ip(new_only)]  # relays not refreshed: packaged list kept
    assert idx.domain("guarddutyc2activityb.com")  # the tester indicators are always there
    assert idx.lists()["TrailhoundBuiltin:tor-exit-nodes"].formats == ["TXT"]

    # a 404 is reported and leaves the refreshed copy and the manifest as they were
    manifest_before = (dest / MANIFEST).read_bytes()
    report = update([tor_spec(f"{base}/gone.txt")], dest)
    (res,) = report.results
    assert not res.ok and res.error == "HTTP 404 File not found" and res.kept_previous and res.path == stored
    assert stored.read_bytes() == TOR_2022.read_bytes() and (dest / MANIFEST).read_bytes() == manifest_before
    assert "FAILED HTTP 404" in report.lines()[0] and "previous copy kept" in report.lines()[0]

    # so is a download that is not a list (an HTML error page served with 200)
    (root / "captive.html").write_text("<html><body>Please log in</body></html>")
    (res,) = update([tor_spec(f"{base}/captive.html")], dest).results
    assert not res.ok and "not a usable STIX list" in (res.error or "") and res.kept_previous
    assert stored.read_bytes() == TOR_2022.read_bytes()
    assert builtin_index(dest).ip(old_only)  # still the refreshed copy

    # and a successful refresh replaces it, gzipped as served, and the index cache is dropped
    (root / "exits.txt.gz").write_bytes(gzip.compress(TOR_2024.read_bytes()))
    (res,) = update([tor_spec(f"{base}/exits.txt.gz")], dest).results
    assert res.ok and res.path == dest / "lists" / "tor-exit-nodes.gz" and not stored.exists()
    idx = builtin_index(dest)
    assert Category.TOR_EXIT in [h.category for h in idx.ip(new_only)]
    assert [p.name for p in (dest / "lists").iterdir()] == ["tor-exit-nodes.gz"]  # no temporary files left


def test_timeout_is_reported(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "slow").write_bytes(TOR_2024.read_bytes())
    (res,) = update([tor_spec(f"{base}/slow")], tmp_path / "intel", timeout=0.3).results
    assert not res.ok and "timed out" in (res.error or "") and not res.kept_previous
    assert refreshed_sources(tmp_path / "intel") == []


def test_connection_refused_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (res,) = update([tor_spec(f"http://127.0.0.1:{port}/x")], tmp_path, timeout=2).results
    assert not res.ok and res.error and res.error.startswith("cannot fetch")


def test_local_paths_forced_formats_and_custom_lists(tmp_path: Path) -> None:
    dest = tmp_path / "intel"
    specs = [
        SourceSpec("stix-c2", f"STIX:{DATA / 'stix2-json-examples' / 'infrastructure.json'}", Category.C2),
        SourceSpec("my-list", str(DATA / "firehol-ipsets" / "feodo_badips.ipset"), Category.CUSTOM),
        SourceSpec("necurs", str(DATA / "maltrail-static-trails" / "selected" / "malware_necurs.txt.gz"), Category.DGA,
                   threat_name="necurs", ip_category=Category.C2),
        SourceSpec("missing", str(tmp_path / "nope.txt"), Category.MALICIOUS),
        SourceSpec("ftp", "ftp://example.invalid/list.txt", Category.MALICIOUS),
    ]
    report = update(specs, dest)
    assert [r.ok for r in report.results] == [True, True, True, False, False]
    assert "No such file" in (report.results[3].error or "")
    assert "unsupported URL scheme" in (report.results[4].error or "")
    entries = {e["name"]: e for e in refreshed_sources(dest)}
    assert entries["stix-c2"]["format"] == "STIX" and entries["stix-c2"]["list_name"] == "TrailhoundBuiltin:stix-c2"
    assert entries["my-list"]["list_name"] == "my-list"  # CUSTOM lists keep the operator's name
    assert entries["necurs"]["file"] == "lists/necurs.gz"
    idx = builtin_index(dest)
    feodo_ip = (DATA / "firehol-ipsets" / "feodo_badips.ipset").read_text().split("\n")
    feodo_ip = next(ln for ln in feodo_ip if ln and not ln.startswith("#"))
    assert [(h.list_name, h.category) for h in idx.ip(feodo_ip)][-1] == ("my-list", Category.CUSTOM)
    # a refreshed DGA source replaces the packaged DGA list; its addresses are filed as C2
    assert {h.list_name for h in idx.domain("pbmwtovcjeyvnauw.in")} == {"TrailhoundBuiltin:necurs"}  # a necurs domain
    assert not any(h.list_name == "TrailhoundBuiltin:maltrail-dga" for h in idx.domain("justforyou0987.pw"))  # tinba
    assert idx.domain("guarddutydgaactivity.com")  # tester DGA indicator kept
    # ... and its addresses on a known sinkhole are demoted to black holes as the copy is loaded (intel.benign)
    assert idx.lists()["TrailhoundBuiltin:necurs"].categories == [Category.DGA, Category.C2, Category.BLACKHOLE]
    assert idx.benign_filtered["TrailhoundBuiltin:necurs"]["demoted_to_sinkhole"] >= 1
    necurs_ip = next(i.value for i in load_list(specs[2].location).indicators if i.kind == "ip")
    assert [(h.category, h.threat_names) for h in idx.ip(necurs_ip)] == [(Category.C2, ("necurs",))]
    # the SCO-based STIX bundle's documentation-range address is not public: dropped for C2
    assert idx.lists()["TrailhoundBuiltin:stix-c2"].dropped_non_public == 1


def test_a_deleted_refreshed_file_falls_back_to_the_packaged_copy(tmp_path: Path) -> None:
    dest = tmp_path / "intel"
    assert update([tor_spec(str(TOR_2022))], dest).results[0].ok
    old_only = only_in(TOR_2022, TOR_2024)
    assert builtin_index(dest).ip(old_only)
    (dest / "lists" / "tor-exit-nodes").unlink()
    builtin_index.cache_clear()
    assert not any(h.category is Category.TOR_EXIT for h in builtin_index(dest).ip(old_only))


def test_spec_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="twice"):
        update([tor_spec(str(TOR_2022)), tor_spec(str(TOR_2024))], tmp_path)
    with pytest.raises(ValueError, match="must be letters"):
        update([SourceSpec("../escape", str(TOR_2022), Category.TOR_EXIT)], tmp_path)
    assert not (tmp_path / MANIFEST).exists()


def test_default_and_extra_sources_cover_the_packaged_lists() -> None:
    specs = default_sources()
    assert len({s.name for s in specs}) == len(specs)
    assert all(s.location.startswith("TXT:https://") for s in specs)
    manifest = packaged_manifest()
    members = sum(len(e["members"]) for e in manifest["lists"] if e["category"] != "mixed")
    assert len(specs) == members
    by_list = {s.list_name for s in specs}
    assert by_list == {e["list_name"] for e in manifest["lists"] if e["category"] != "mixed"}
    dga = [s for s in specs if s.list_name == "TrailhoundBuiltin:maltrail-dga"]
    assert len(dga) == 13 and all(s.ip_category is Category.C2 and s.category is Category.DGA for s in dga)
    assert any(s.location.endswith("check.torproject.org/torbulkexitlist") for s in specs)
    assert [s.category for s in extra_sources()] == [Category.MALICIOUS]


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRAILHOUND_INTEL_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("TRAILHOUND_INTEL_DIR")
    assert default_data_dir().parts[-2:] == ("trailhound", "intel")
