"""One bad record costs that record, never its file (issue 11): hostile records in every JSON shape,
cut gzips, unknown flow-log fields, byte-order marks, and escape sequences that must not reach a terminal."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import scan

from trailhound.detectors.cloudtrail_logging import cases as logging_cases
from trailhound.detectors.dns_intel import cases as dns_cases
from trailhound.detectors.flow_intel import cases as flow_cases
from trailhound.formats import Kind, cloudtrail, parse
from trailhound.formats.split import split_array
from trailhound.simulator.records import dns_record, iam_user, record

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
TRAILHOUND = Path(sys.executable).with_name("trailhound")
STOP_LOGGING = "Stealth:IAMUser/CloudTrailLoggingDisabled"
DEEP = b"[" * 10_000 + b"]" * 10_000
PAYLOAD = "\x1b]0;pwned\x07\x1b[2J"  # retitles the terminal and clears the screen, if it reaches one


def _records(n: int, who: str = "bob") -> list[dict[str, Any]]:
    """n benign records with a StopLogging (which must still raise its finding) in the middle."""
    recs = [record("DescribeInstances", "ec2.amazonaws.com", time=T0 + timedelta(seconds=37 * i), identity=iam_user(ACCOUNT, who))
            for i in range(n)]
    stop = next(c for c in logging_cases(T0) if c.name == "stop-logging").record
    recs[n // 2 + 1] = {**stop, "eventTime": (T0 + timedelta(seconds=37 * (n // 2 + 1))).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return recs


# One hostile record, as raw JSON bytes: each used to cost the whole file.
def _bad_utf8(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec).encode().replace(b'"DescribeInstances"', b'"Describe\xff\xfeInstances"')


def _nul(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec).encode().replace(b'"DescribeInstances"', b'"Describe\x00Instances"')


def _deep(rec: dict[str, Any]) -> bytes:
    return json.dumps({**rec, "requestParameters": {"filter": "X"}}).encode().replace(b'"X"', DEEP)


def _wrong_type(rec: dict[str, Any]) -> bytes:
    return b'"not a record"'


BAD = {"invalid-utf8": (_bad_utf8, "UTF-8"), "nul-byte": (_nul, "malformed"), "deep-nesting": (_deep, "nested too deeply"),
       "wrong-type": (_wrong_type, "Expected `object`")}


def _document(shape: str, items: list[bytes]) -> bytes:
    if shape == "records":
        return b'{"Records": [' + b", ".join(items) + b"]}"
    if shape == "array":
        return b"[\n" + b",\n".join(items) + b"\n]\n"
    return b"\n".join(items) + b"\n"  # one record per line


@pytest.mark.parametrize("shape", ["records", "array", "lines"])
@pytest.mark.parametrize("bad", list(BAD))
def test_one_hostile_record_costs_that_record_alone(shape: str, bad: str, tmp_path: Path) -> None:
    recs = _records(9)
    make, reason = BAD[bad]
    items = [json.dumps(r).encode() for r in recs]
    items[3] = make(recs[3])
    f = tmp_path / "logs" / "trail.json.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress(_document(shape, items)))
    report, store = scan([f])
    assert report.events["cloudtrail"] == 8  # every record around the bad one
    assert [x["type"] for x in store.findings()] == [STOP_LOGGING]
    [p] = report.problems
    assert p.path == str(f) and reason in p.message and report.files_quarantined == 0 and report.bad_records == 1
    if shape == "lines":
        assert (p.line, p.record) == (4, None)
    else:
        assert p.record == 3
    if shape == "array" and bad == "nul-byte":
        assert p.line == 5  # a syntax error is placed on its line too
    assert len(store.quarantined()) == 1


def test_a_clean_file_is_decoded_whole_and_a_bad_one_salvaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record-by-record path is for files the one typed decode refused, never for clean ones."""
    calls: list[str] = []
    salvage = cloudtrail._salvage
    monkeypatch.setattr(cloudtrail, "_salvage", lambda path, *a: calls.append(path) or salvage(path, *a))
    recs = _records(20)
    clean = [json.dumps(r).encode() for r in recs]
    for shape in ("records", "array"):
        parsed = parse(tmp_path / f"{shape}.json", _document(shape, clean), Kind.CLOUDTRAIL)
        assert len(parsed) == 20 and parsed.problems == []
    assert calls == []
    bad = clean[:5] + [_nul(recs[5])] + clean[6:]
    parsed = parse(tmp_path / "bad.json", _document("records", bad), Kind.CLOUDTRAIL)
    assert len(parsed) == 19 and calls == [str(tmp_path / "bad.json")]


def test_a_cut_cloudtrail_gzip_keeps_every_complete_record(tmp_path: Path) -> None:
    recs = _records(3000)
    recs[2] = next(c for c in logging_cases(T0) if c.name == "stop-logging").record  # early: before the cut
    body = json.dumps({"Records": recs}).encode()
    stored = gzip.compress(body, mtime=0)
    cut = stored[: len(stored) // 2]
    f = tmp_path / "logs" / "trail.json.gz"
    f.parent.mkdir()
    f.write_bytes(cut)
    prefix = zlib.decompressobj(wbits=31).decompress(cut)
    complete = sum(body.index(json.dumps(r).encode()) + len(json.dumps(r)) <= len(prefix) for r in recs)
    assert 1000 < complete < 3000

    report, store = scan([f])
    assert report.events["cloudtrail"] == complete
    assert STOP_LOGGING in {x["type"] for x in store.findings()}
    [p] = report.problems  # the damage, in one line that says what it cost
    assert p.path == str(f) and (p.line, p.record) == (None, None)
    assert "truncated gzip stream" in p.message and f"kept the {complete} complete records before the cut" in p.message
    assert report.files_quarantined == 0 and report.bad_records == 1


def test_a_cut_plain_json_names_the_record_it_ends_inside(tmp_path: Path) -> None:
    body = json.dumps({"Records": _records(10)}).encode()
    parsed = parse(tmp_path / "trail.json", body[: len(body) - 200], Kind.CLOUDTRAIL)
    assert len(parsed) == 9
    [p] = parsed.problems
    assert p.record == 9 and "truncated" in p.message


def test_trailing_garbage_after_the_records_is_one_problem_not_the_file(tmp_path: Path) -> None:
    recs = _records(4)
    parsed = parse(tmp_path / "trail.json", json.dumps({"Records": recs}).encode() + b"\n}garbage\n", Kind.CLOUDTRAIL)
    assert len(parsed) == 4 and not parsed.fatal
    [p] = parsed.problems
    assert p.record is None and p.line == 2


def test_split_array_tracks_strings_escapes_and_depth() -> None:
    data = b' [1, "a,]\\"}", {"x": [1, {"y": "]"}]}, [[]] , null]'
    spans, closed = split_array(data, 1)
    assert closed and [data[b:e].strip() for b, e in spans] == [b"1", b'"a,]\\"}"', b'{"x": [1, {"y": "]"}]}', b"[[]]", b"null"]
    assert split_array(b"[]", 0) == ([], True)
    spans, closed = split_array(b'[{"a": 1}, {"b": "cut', 0)
    assert not closed and len(spans) == 2
    spans, closed = split_array(b"[" + DEEP + b", 2]", 0)
    assert closed and len(spans) == 2


def _bad_dns_line(bad: str, rec: dict[str, Any]) -> bytes:
    raw = json.dumps(rec).encode()
    return {"invalid-utf8": raw.replace(b"host2", b"ho\xffst2"), "nul-byte": raw.replace(b"host2", b"ho\x00st2"),
            "deep-nesting": raw[:-1] + b', "extra": ' + DEEP + b"}", "wrong-type": b'"not a record"'}[bad]


@pytest.mark.parametrize("bad", list(BAD))
def test_one_hostile_dns_line_costs_that_line_alone(bad: str, tmp_path: Path) -> None:
    c2 = next(c for c in dns_cases(T0) if c.name == "dns-c2").record
    recs = [dns_record(T0 + timedelta(seconds=i), f"host{i}.example.com") for i in range(8)]
    recs[6] = {**c2, "query_timestamp": recs[6]["query_timestamp"]}
    lines = [json.dumps(r).encode() for r in recs]
    lines[2] = _bad_dns_line(bad, recs[2])
    f = tmp_path / "logs" / "resolver.log.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    report, store = scan([f])
    assert report.events["dns"] == 7
    assert [x["type"] for x in store.findings()] == ["Backdoor:EC2/C&CActivity.B!DNS"]
    [p] = report.problems
    assert (p.path, p.line) == (str(f), 3) and BAD[bad][1] in p.message and report.bad_records == 1


def _flow_text(header: list[str], rows: list[dict[str, Any]], extra: dict[str, str] | None = None) -> str:
    extra = extra or {}
    lines = [" ".join(header)] + [" ".join(extra.get(h) or ("-" if r.get(h) is None else str(r[h])) for h in header) for r in rows]
    return "\n".join(lines) + "\n"


def test_unknown_flow_header_fields_are_read_past_and_named_once(tmp_path: Path) -> None:
    c2 = next(c for c in flow_cases(T0) if c.name == "flow-c2").record
    benign = next(c for c in flow_cases(T0) if c.name == "flow-benign").record
    rows = [{**benign, "srcport": 40000 + i, "start": benign["start"] + i, "end": benign["end"] + i} for i in range(12)] + [c2]
    header = list(c2)
    header[5:5] = ["v9-future-field"]  # a field a later version adds, before the ports
    header.insert(12, "dstprot")  # a typo
    text = _flow_text(header, rows, {"v9-future-field": "abc", "dstprot": "7"})
    f = tmp_path / "logs" / "flows.log.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress(text.encode()))
    report, store = scan([f])
    assert report.events["flow"] == 13
    assert [x["type"] for x in store.findings()] == ["Backdoor:EC2/C&CActivity.B"]
    [p] = report.problems
    assert (p.path, p.line) == (str(f), 1) and "v9-future-field, dstprot" in p.message
    assert report.bad_records == 0  # every record was kept: a note on the file, not a bad record

    # the columns stay where the header puts them, and rows are still held to its field count
    body = text.split("\n")
    body[4] = " ".join(body[4].split()[:-1])
    parsed = parse(tmp_path / "flows.log", "\n".join(body).encode(), Kind.FLOW)
    assert sorted(parsed.events["dstport"].to_list()) == sorted(r["dstport"] for i, r in enumerate(rows) if i != 3)
    assert sorted((q.line, q.message.split(",")[0]) for q in parsed.problems) == [
        (1, "unknown header fields"), (5, f"expected {len(header)} fields as in the header")]


def test_a_byte_order_mark_is_not_a_bad_record(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    bom = b"\xef\xbb\xbf"
    dns = [json.dumps(dns_record(T0 + timedelta(seconds=i), f"host{i}.example.com")).encode() for i in range(5)]
    (logs / "resolver.log.gz").write_bytes(gzip.compress(bom + b"\n".join(dns) + b"\n"))
    (logs / "resolver.log").write_bytes(bom + b"\n".join(dns[:3]) + b"\n")
    (logs / "trail.json.gz").write_bytes(gzip.compress(bom + json.dumps({"Records": _records(4)}).encode()))
    (logs / "records.jsonl").write_bytes(bom + b"\n".join(json.dumps(r).encode() for r in _records(3)) + b"\n")
    benign = next(c for c in flow_cases(T0) if c.name == "flow-benign").record
    (logs / "flows.log").write_bytes(bom + _flow_text(list(benign), [benign]).encode())
    report, _ = scan([logs])
    assert report.problems == []
    assert dict(report.events) == {"dns": 8, "cloudtrail": 7, "flow": 1}


def test_escape_sequences_in_logs_never_reach_the_terminal(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    # quoted by the problem lines: an EventBridge detail-type, a flow token, and a file name
    envelope = {"detail-type": f"Evil{PAYLOAD}\u202e", "detail": _records(3)[1]}
    (logs / "events.jsonl").write_text(json.dumps(envelope) + "\n" + json.dumps(_records(3)[0]) + "\n")
    benign = next(c for c in flow_cases(T0) if c.name == "flow-benign").record
    body = _flow_text(list(benign), [benign, benign]).split("\n")
    body[2] = body[2].replace(" 443 ", f" 443{PAYLOAD} ")
    (logs / "flows.log").write_text("\n".join(body))
    (logs / f"name{PAYLOAD}[red].json").write_bytes(b"\x00\x01 not a log")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    db = tmp_path / "t.db"
    scanned = subprocess.run([str(TRAILHOUND), "scan", str(logs), "--db", str(db)], capture_output=True, timeout=120, env=env)
    listed = subprocess.run([str(TRAILHOUND), "quarantine", "--db", str(db)], capture_output=True, timeout=60, env=env)
    assert scanned.returncode == 0 and listed.returncode == 0, scanned.stderr
    for output in (scanned.stderr, listed.stdout):
        assert b"Traceback" not in output
        assert b"\x1b" not in output and b"\x07" not in output and "\u202e".encode() not in output
        assert output.count(rb"\x1b]0;pwned\x07\x1b[2J") == 3  # each of the three, visibly
        assert rb"'Evil\x1b]0;pwned\x07\x1b[2J\u202e' is not a CloudTrail record" in output
        assert rb"[red].json" in output  # a markup-like name is text, not markup


def test_a_deeply_nested_inventory_among_the_logs_costs_that_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "instances.json").write_bytes(b'{"Reservations": [' + DEEP + b"]}")
    (logs / "trail.json").write_bytes(json.dumps({"Records": _records(4)}).encode())
    report, _ = scan([logs])
    assert report.events["cloudtrail"] == 4
    [p] = report.problems
    assert p.path == str(logs / "instances.json") and "invalid describe-instances JSON" in p.message


@pytest.mark.parametrize("source", ["flow", "cloudtrail", "dns"])
def test_a_file_of_many_bad_records_names_a_hundred_and_counts_the_rest(source: str, tmp_path: Path) -> None:
    """Millions of bad lines in a small gzip (9.8 KB: 5M of them) took 3.5 GB and wrote 1.9 GB of quarantine rows.
    The first hundred are named, one line counts the rest; the good records around them are kept, the count is exact."""
    from trailhound.formats.base import Problems

    bad = 3_000
    f = tmp_path / "logs" / {"flow": "flows.log.gz", "cloudtrail": "trail.json.gz", "dns": "queries.log.gz"}[source]
    f.parent.mkdir()
    if source == "flow":
        c2 = next(c for c in flow_cases(T0) if c.name == "flow-c2").record
        good = _flow_text(list(c2), [c2]).split("\n")
        text = "\n".join([good[0], good[1]] + ["x"] * bad + [good[1].replace(" 49152 ", " 49153 ")]) + "\n"
    elif source == "cloudtrail":
        recs = _records(4)
        text = _document("records", [json.dumps(r).encode() for r in recs[:2]] + [b'{"a": 1}'] * bad
                         + [json.dumps(r).encode() for r in recs[2:]]).decode()
    else:
        c2 = next(c for c in dns_cases(T0) if c.name == "dns-c2").record
        text = "\n".join([json.dumps(c2)] + ['{"query_name": 7}'] * bad + [json.dumps(c2)]) + "\n"
    f.write_bytes(gzip.compress(text.encode()))
    report, store = scan([f])
    assert report.events[source] == (4 if source == "cloudtrail" else 2)
    assert report.bad_records == bad and report.files_quarantined == 0
    named, last = report.problems[:-1], report.problems[-1]
    assert len(named) == Problems.NAMED and all(p.records == 1 for p in named)
    assert last.records == bad - Problems.NAMED and f"{bad - Problems.NAMED} more bad records" in last.message
    assert len(store.quarantined()) == Problems.NAMED + 1


def test_a_file_name_that_is_not_utf8_is_read_and_named_with_its_bytes_escaped(tmp_path: Path) -> None:
    """Such a name stopped the whole scan when it reached the store (UnicodeEncodeError): nothing was saved."""
    folder = tmp_path / "logs"
    folder.mkdir()
    c2 = json.dumps(next(c for c in dns_cases(T0) if c.name == "dns-c2").record).encode() + b"\n"
    odd = os.path.join(os.fsencode(folder), b"queries-\xff\xfe.log")
    with open(odd, "wb") as fh:
        fh.write(c2)
    (folder / "other.log").write_bytes(c2 + c2)  # (other content: a copy would be read once)
    (folder / "junk-\udcff.txt").write_bytes(b"{}\n")  # (the surrogate is how Python names the byte 0xff)
    report, _ = scan([folder], db=tmp_path / "s.db")
    assert report.events["dns"] == 3 and report.files_quarantined == 1
    assert any(p.path.endswith("junk-\\xff.txt") for p in report.problems)
    again, _ = scan([folder], db=tmp_path / "s.db")
    assert again.files_already_scanned == 3 and again.events["dns"] == 0  # (the junk too: it was judged)


def test_flow_values_out_of_their_fields_range_are_bad_lines(tmp_path: Path) -> None:
    """A port of 70000, a protocol of 999, a negative count: no traffic a detector may judge; the lines around them stay."""
    c2 = next(c for c in flow_cases(T0) if c.name == "flow-c2").record
    rows = [{**c2, "srcport": 40000 + i, "start": c2["start"] + i, "end": c2["end"] + i} for i in range(6)]
    rows[1]["dstport"], rows[2]["protocol"], rows[3]["bytes"], rows[4]["packets"] = 70000, 999, -3, -1
    f = tmp_path / "logs" / "flows.log.gz"
    f.parent.mkdir()
    f.write_bytes(gzip.compress(_flow_text(list(c2), rows).encode()))
    report, store = scan([f])
    assert report.events["flow"] == 2 and report.bad_records == 4
    assert sorted((p.line, p.field) for p in report.problems) == [(3, "dstport"), (4, "protocol"), (5, "bytes"), (6, "packets")]
    assert "70000 is out of range for a dstport (0-65535)" in str(report.problems[0])


def test_concatenated_cloudtrail_gzips_are_read_document_by_document(tmp_path: Path) -> None:
    """`cat a.json.gz b.json.gz > ab.json.gz` (gzip allows members one after another; AWS's own tools write them):
    every document's records are read, as if the second had been appended to the first, and nothing is reported."""
    docs = [{"Records": _records(6)}, {"Records": _records(5, who="ann")}, {"Records": _records(4, who="cy")}]
    f = tmp_path / "logs" / "ab.json.gz"
    f.parent.mkdir()
    f.write_bytes(b"".join(gzip.compress(json.dumps(d).encode(), mtime=0) for d in docs))
    report, store = scan([f])
    assert report.events["cloudtrail"] == 15 and report.problems == [] and report.bad_records == 0
    assert STOP_LOGGING in {x["type"] for x in store.findings()}
    # a document followed by something else is no document stream: salvaged record by record, the rest named
    parsed = cloudtrail.parse("x.json", json.dumps(docs[0]).encode() + b' {"not": "records"}')
    assert len(parsed.events) == 6 and parsed.problems


def test_a_dns_name_too_long_to_be_one_costs_its_record(tmp_path: Path) -> None:
    """A 5 MB query name gzips to a few KB: no DNS name is over 253 characters (1,024 escaped), so the record is
    set aside naming its field, before any name scorer sees it, and the queries around it are analysed."""
    good = [dns_record(T0 + timedelta(seconds=i), f"host{i}.example.com") for i in range(6)]
    bad = {**dns_record(T0 + timedelta(seconds=3), "x"), "query_name": "a" * 5_000_000 + ".example.com."}
    f = tmp_path / "AWSLogs" / ACCOUNT / "vpcdnsquerylogs" / "q.log.gz"
    f.parent.mkdir(parents=True)
    f.write_bytes(gzip.compress(b"\n".join(json.dumps(r).encode() for r in good[:3] + [bad] + good[3:]), mtime=0))
    assert f.stat().st_size < 50_000
    report, _ = scan([f])
    assert report.events["dns"] == 6 and report.bad_records == 1
    [p] = report.problems
    assert (p.line, p.field) == (4, "query_name") and "1024" in p.message


def test_a_later_flow_header_without_start_or_srcaddr_costs_only_its_records(tmp_path: Path) -> None:
    """A header repeated mid-file that names no start (or no srcaddr) makes the records under it unreadable: they are
    counted against it in one line, and the records under the good headers around it are all analysed."""
    header = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    line = b"2 111122223333 eni-0a1b2c3d 10.0.0.1 8.8.8.8 40000 443 6 10 840 1764000000 1764000060 ACCEPT OK"
    broken = b"version account-id interface-id dstaddr srcport dstport protocol packets bytes end action log-status"
    orphan = b"2 111122223333 eni-0a1b2c3d 8.8.8.8 40000 443 6 10 840 1764000060 ACCEPT OK"
    parsed = parse("f.log", b"\n".join([header, *[line] * 5, broken, *[orphan] * 3, header, *[line] * 4]), Kind.FLOW)
    assert parsed.events.height == 9
    [p] = parsed.problems
    assert (p.line, p.records) == (7, 3) and "no start or srcaddr" in p.message


def test_flow_counts_no_interface_can_carry_are_bad_records(tmp_path: Path) -> None:
    """Three records of 2^62 bytes each are legal 64-bit values whose sum wraps around: a count beyond what a 100 Gbit/s
    interface carries in ten minutes is a bad record (its field named), and the records around it are analysed."""
    header = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    line = b"2 111122223333 eni-0a1b2c3d 10.0.0.1 8.8.8.8 40000 443 6 10 840 1764000000 1764000060 ACCEPT OK"
    huge = b"2 111122223333 eni-0a1b2c3d 10.0.0.1 8.8.8.8 40001 53 17 5000 4611686018427387904 1764000000 1764000060 ACCEPT OK"
    busy = b"2 111122223333 eni-0a1b2c3d 10.0.0.1 8.8.8.8 40002 443 6 120000000000 7500000000000 1764000000 1764000600 ACCEPT OK"
    parsed = parse("f.log", b"\n".join([header, line, huge, busy, line]), Kind.FLOW)
    assert parsed.events.height == 3  # a saturated 100 Gbit/s interface's ten minutes is still traffic
    [p] = parsed.problems
    assert (p.line, p.field) == (3, "bytes")


def test_a_flow_record_of_traffic_without_its_start_is_a_bad_record_not_a_silent_drop(tmp_path: Path) -> None:
    """start '-' on an accepted flow cannot be placed in time: it is named (line and field) and counted, where it used to
    vanish uncounted; the NODATA row beside it (no traffic) stays no event and no problem."""
    header = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    line = b"2 111122223333 eni-0a1b2c3d 10.0.0.1 8.8.8.8 40000 443 6 10 840 1764000000 1764000060 ACCEPT OK"
    untimed = b"2 111122223333 eni-0a1b2c3d 10.0.0.1 8.8.8.8 40001 443 6 10 840 - 1764000060 ACCEPT OK"
    nodata = b"2 111122223333 eni-0a1b2c3d - - - - - - - 1764000000 1764000060 - NODATA"
    parsed = parse("f.log", b"\n".join([header, line, untimed, nodata, line]), Kind.FLOW)
    assert parsed.events.height == 2 and parsed.records_read == 4
    [p] = parsed.problems
    assert (p.line, p.field) == (3, "start")
    # the same file among others decoded in one shared read: the shared read gives it up, and it alone names the line
    f = tmp_path / "flows"
    f.mkdir()
    for i in range(3):
        other = line.replace(b" 40000 ", f" {41000 + i} ".encode())  # (the same content twice is one file already read)
        (f / f"ok-{i}.log").write_bytes(b"\n".join([header, line, other]) + b"\n")
    (f / "untimed.log").write_bytes(b"\n".join([header, line, untimed, nodata, line]) + b"\n")
    report, _ = scan([f])
    assert report.events_total == 8
    assert [(Path(p.path).name, p.line, p.field) for p in report.problems] == [("untimed.log", 3, "start")]


def test_a_time_without_its_zone_is_utc_whatever_the_machine_s_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CloudTrail and Route 53 write UTC. A careless export's '2024-01-01T00:00:00' (no Z) used to be read in the scanning
    machine's local zone, hours off and naive beside every aware time."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        t = datetime(2024, 1, 1, tzinfo=UTC)
        doc = {"Records": [_call("GetCallerIdentity", t) | {"eventTime": "2024-01-01T00:00:00"}, _call("GetCallerIdentity", t)]}
        parsed = cloudtrail.parse("ct.json", json.dumps(doc).encode())
        assert parsed.times.tolist() == [1704067200.0, 1704067200.0]
        assert all(e.event_time.tzinfo is not None for e in parsed.events)
        dns = dns_record(t, "example.com")
        dns["query_timestamp"] = "2024-01-01T00:00:00"
        got = parse("q.log", json.dumps(dns).encode() + b"\n", Kind.DNS)
        assert got.times.tolist() == [1704067200.0] and got.events[0].query_timestamp.tzinfo is not None
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_cloudtrail_field_larger_than_any_aws_writes_costs_its_record(tmp_path: Path) -> None:
    """A 2.1 MB requestParameters of small nested values would cost ~30x that in objects when a detector reads it: no
    record CloudTrail delivers is that large (it cuts responseElements at 100 KB), so it is set aside, named, and the
    records beside it are analysed, file by file and in a shared read alike."""
    hostile = _call("PutBucketPolicy", T0 + timedelta(seconds=1), params={"a": [1] * 700_000})
    doc = {"Records": [_call("GetCallerIdentity", T0), hostile, _call("ListBuckets", T0 + timedelta(seconds=2))]}
    parsed = cloudtrail.parse("ct.json", json.dumps(doc).encode())
    assert [e.event_name for e in parsed.events] == ["GetCallerIdentity", "ListBuckets"]
    [p] = parsed.problems
    assert p.field == "requestParameters" and "2,100,007 bytes" in p.message
    d = tmp_path / "trail"
    d.mkdir()
    for i in range(3):
        (d / f"ok-{i}.json").write_text(json.dumps({"Records": [_call("ListBuckets", T0 + timedelta(seconds=3 + i))]}))
    (d / "big.json").write_text(json.dumps(doc))
    report, _ = scan([d])
    assert report.events_total == 5
    assert [(Path(p.path).name, p.field) for p in report.problems] == [("big.json", "requestParameters")]


def _call(name: str, t: datetime, **kw: Any) -> dict[str, Any]:
    return record(name, "s3.amazonaws.com", time=t, identity=iam_user(ACCOUNT, "ana"), **kw)
