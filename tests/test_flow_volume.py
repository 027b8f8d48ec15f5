"""Floods and unusual volumes from flow logs: the rollup that sums records before they become rows,
the evidence of the baselines, daily reporting, delivery in many files, and bounded state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
from conftest import scan

from trailhound.detectors import denial_of_service as dos
from trailhound.detectors import traffic_volume as tv
from trailhound.detectors.habits import case_host
from trailhound.enrich.flows import public
from trailhound.simulator.attack_day import add_attack_instances, write_case_logs
from trailhound.simulator.records import Case, flow_row, internet_addresses

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOST = case_host(30)
VICTIM = internet_addresses(1, seed=5)[0]


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Flow rows as the pipeline's frame has them (underscored names, direction and privacy columns)."""
    df = pl.DataFrame([{k.replace("-", "_"): v for k, v in r.items()} for r in rows], infer_schema_length=None)
    return df.with_columns(src_private=pl.col("srcaddr").str.starts_with("10."), dst_private=pl.col("dstaddr").str.starts_with("10."),
                           src_public=public("srcaddr"), dst_public=public("dstaddr"))


def _info(finding: dict[str, Any]) -> dict[str, Any]:
    return json.loads(finding["service"]["additionalInfo"]["value"])  # GuardDuty's form: a JSON string


def _flood(t: datetime, *, sources: int, per: int, size: int = 60, dport: int = 80, protocol: int = 17) -> list[dict[str, Any]]:
    return [flow_row(t + timedelta(seconds=i * 50 / sources), src=HOST.ip, dst=VICTIM, sport=40000 + i, dport=dport, at=HOST,
                     protocol=protocol, flags=None, packets=per, nbytes=per * size, duration=5) for i in range(sources)]


def test_compact_sums_a_flood_from_many_source_ports_and_what_came_back() -> None:
    rows = _flood(START, sources=600, per=200, protocol=6)
    back = [flow_row(START + timedelta(seconds=i), src=VICTIM, dst=HOST.ip, sport=80, dport=40000 + i, at=HOST, protocol=6, flags=18,
                     packets=60, nbytes=60 * 40) for i in range(50)]
    frame = _frame(rows + back)
    picked = frame.filter(dos.WHERE)
    assert picked.height == 650  # every record counts: the flood's (heavy) and what came back (heavy)
    summed = dos.compact(picked.select(dos.LOCAL.alias("k"), *dos.COLUMNS).with_row_index("n"), "k", "n")
    assert summed.height == 1
    got = summed.row(0, named=True)
    assert got["k"] == HOST.ip and got["remote"] == VICTIM and got["records"] == 600
    assert got["packets"] == 600 * 200 and got["back"] == 50 * 60 * 40
    assert abs(got["pps"] - 600 * 200 / 60) < 1e-6  # each record's packets over a minute (its span is shorter)
    assert 65535 - got["heaviest"] % 65536 == 80 and got["n"] == 649  # routed with the slice that holds its last record


def test_an_ordinary_connection_is_not_picked() -> None:
    """A web request (20 packets in a minute, SYN and ACK seen) is no candidate: it costs the detector nothing."""
    ordinary = [flow_row(START, src=HOST.ip, dst=VICTIM, sport=41000, dport=443, at=HOST, packets=20, nbytes=9000, flags=3, duration=30)]
    assert _frame(ordinary).filter(dos.WHERE).height == 0


def test_a_flood_delivered_in_many_files_is_one_finding_per_day_with_its_rate(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.json"
    add_attack_instances(inventory)
    # ten minutes of 2,000 datagrams a second, one file per five minutes as AWS delivers; and again the next day
    for day in (0, 1):
        for part in (0, 1):
            rows = [r for m in range(5 * part, 5 * part + 5) for r in _flood(START + timedelta(days=day, minutes=m), sources=4, per=30_000)]
            write_case_logs(tmp_path / "logs", [Case(f"flood-{day}-{part}", dos.UDP, rows, source="flow")])
    assert len(list((tmp_path / "logs").rglob("*.log.gz"))) == 4
    report, store = scan([tmp_path / "logs"], inventory=[inventory])
    found = [f for f in store.findings()]
    assert [f["type"] for f in found] == [dos.UDP]
    info = _info(found[0])
    assert found[0]["service"]["count"] == 2  # once a day, however many minutes the flood lasts
    assert info["packetsPerSecond"] == 2000.0 and info["averagePacketBytes"] == 60.0 and info["usualPacketsPerSecond"] == 0.0


def test_the_finding_says_what_the_baseline_was(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.json"
    add_attack_instances(inventory)
    wanted = {"flood-above-its-habit", "build-host-pushes-gigabytes"}
    cases = [c for c in dos.cases(START) + tv.cases(START) if c.name in wanted]
    _, store = scan(write_case_logs(tmp_path / "logs", cases), inventory=[inventory])
    by_type = {f["type"]: _info(f) for f in store.findings()}
    flood = by_type[dos.DNS]
    assert flood["usualPacketsPerSecond"] == 900.0 and flood["packetsPerSecond"] == 10_000.0
    assert "900 packets/s" in flood["baseline"] and "10,000 packets/s" in flood["baseline"]
    volume = by_type[tv.TYPE]
    # reported when the day's total crosses the bar (1 GiB here: nothing before it), with the total then
    assert tv.MIN_BYTES <= volume["bytesToday"] < tv.MIN_BYTES + 64e6 and volume["usualBytesToHost"] == 0
    assert "none over 1 MB" in volume["baseline"] and "now 1.1 GB" in volume["baseline"]


def test_traffic_volume_state_stays_bounded() -> None:
    det = tv.TrafficVolumeUnusual()
    st = tv.VolumeState()
    t0 = START.timestamp()
    for day in range(40):
        rows = [("10.0.200.30", f"198.51.{h // 250}.{h % 250}", 45000, 443, 6, t0 + day * 86400 + h, "i-1", "eni-1", "111122223333",
                 "us-east-1", True, 2 << 20) for h in range(300)]
        _, st = det.update("10.0.200.30", rows, st, t0 + day * 86400)
    assert len(st.hosts) <= tv.HOSTS and len(st.owners) <= tv.OWNERS
    assert len(msgspec.msgpack.encode(st)) < 4096


def test_flood_state_keeps_a_month_of_peaks_and_closes_its_minutes() -> None:
    det = dos.DenialOfService()
    st = None
    for day in range(100):
        minute = int(START.timestamp() // 60) + day * 1440
        row = (VICTIM, 17, minute, 500.0, 30_000.0, 30_000, 1_800_000, 0, 1, 30_000 * 65536 + 65535 - 5353, "i-1", "eni-1", "111122223333",
               "us-east-1", minute * 60, 0)
        _, st = det.update(HOST.ip, [row], st, minute * 60 + 61.0)  # the watermark has passed the minute: judged at once
    assert st is not None and not st.open and sum(len(p) for p in st.peaks.values()) <= dos.RECENT_DAYS + 1
    assert len(msgspec.msgpack.encode(st)) < 1024
    # a sweep's lone SYNs to a thousand addresses: at most OPEN minutes stay open, and a flood among them is kept
    rows = [(f"198.51.{i // 250}.{i % 250}", 6, minute + 1, 0.03, 2.0, 2, 120, 0, 1, 2 * 65536 + 65535 - 22, "i-1", "eni-1", "111122223333",
             "us-east-1", (minute + 1) * 60, 0) for i in range(1000)]
    rows.insert(500, (VICTIM, 6, minute + 1, 5000.0, 300_000.0, 300_000, 18_000_000, 0, 600, 300 * 65536 + 65535 - 443, "i-1", "eni-1",
                      "111122223333", "us-east-1", (minute + 1) * 60, 0))
    found, st = det.update(HOST.ip, rows, st, 0.0)
    assert not found and len(st.open) <= dos.OPEN and f"{VICTIM}|6|{minute + 1}" in st.open
    found, st = det.on_timer(HOST.ip, st, (minute + 2) * 60.0)
    assert [f.type for f in found] == [dos.TCP] and not st.open
