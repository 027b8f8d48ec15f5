"""Backdoor:EC2/Trailhound.Beaconing beyond its cases: RITA's scoring, the detector's clock (judged on its
timer, once a day), prevalence and bounded state, and RITA's own beacon fixture and benign captures."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import msgspec
import polars as pl
import pytest
from conftest import scan

from trailhound.detectors import beacon_score
from trailhound.detectors.beaconing import JUDGE_EVERY, MAX_CONNECTIONS, MIN_TIMING, PREVALENT, TYPE, Beaconing, Destination

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from zeek2aws import convert, write  # noqa: E402

T0 = 1_790_000_000.0
C2 = "185.220.44.7"


def test_bowley_skew_ignores_jitter_under_ten_seconds_and_sees_a_lopsided_spread() -> None:
    assert beacon_score.bowley([58.0, 59, 60, 60, 61, 62, 63]) == (0.0, 1.0)
    skew, skew_score = beacon_score.bowley([10.0, 11, 12, 13, 60, 200, 900])
    assert skew > 0.5 and skew_score < 0.5


def test_a_steady_beacon_outscores_random_traffic() -> None:
    rnd = random.Random(1)
    times = [T0 + 60 * i + rnd.uniform(-5, 5) for i in range(600)]
    steady = beacon_score.score(times, [1200.0] * 600, times[0], times[-1])
    t, random_times = T0, []
    for _ in range(600):
        t += rnd.expovariate(1 / 60)
        random_times.append(t)
    noisy = beacon_score.score(random_times, [float(rnd.randint(500, 90000)) for _ in range(600)], random_times[0], random_times[-1])
    assert steady is not None and noisy is not None
    assert steady.score > 0.95 and steady.duration == 1.0
    # a steady Poisson client is busy every hour for the whole span: only its timing tells it apart (MIN_TIMING)
    assert noisy.timestamp < 0.6 < MIN_TIMING and steady.score - noisy.score > 0.15


def test_fewer_than_six_busy_hours_earn_no_duration() -> None:
    times = [T0 + 60 * i for i in range(200)]  # 3.3 hours
    r = beacon_score.score(times, [900.0] * 200, times[0], times[-1])
    assert r is not None and r.duration == 0.0 and r.score <= 0.75


def _row(src: str, t: float, sport: int, nbytes: int = 1100, syn: bool = True) -> tuple:
    """A row as the detector reads it (``COLUMNS``): the destination is in the key."""
    return (src, sport, syn, nbytes, int(t), "i-0abc eni-0abc 111122223333 us-east-1")


class _Fed(Beaconing):
    """The detector, given rows as the engine would: one file's rows of the key, merged by ``compact``."""

    def update(self, key: str, rows: list, state: Destination | None, watermark: float) -> tuple:  # type: ignore[override]
        frame = pl.DataFrame(rows, schema=["srcaddr", "srcport", "syn", "bytes", "start", "context"], orient="row")
        frame = frame.select(pl.lit(key).alias("__key"), pl.all()).with_row_index("__row").select(pl.exclude("__row"), "__row")
        merged = self.compact(frame, "__key", "__row").drop("__key", "__row")
        return super().update(key, list(merged.iter_rows()), state, watermark)


def _beacon(src: str, hours: float, every: float = 60.0, start: float = T0) -> list[tuple]:
    rnd = random.Random(src)
    return [_row(src, start + every * i + rnd.uniform(-5, 5), 33000 + i % 20000) for i in range(int(hours * 3600 / every))]


def test_judged_on_its_timer_and_reported_once_a_day() -> None:
    det = _Fed()
    key = f"{C2}|443|6"
    rows = _beacon("10.0.1.5", 30)
    out, st = det.update(key, [r for r in rows if r[4] < T0 + JUDGE_EVERY], None, T0)
    assert out == [] and det.timer(st) == T0 + JUDGE_EVERY
    fired, st = det.on_timer(key, st, T0 + JUDGE_EVERY)
    assert [o.type for o in fired] == [TYPE]
    info = fired[0].additional_info
    assert info["connections"] >= 340 and 55 <= info["typicalIntervalSeconds"] <= 65 and info["typicalBytesPerConnection"] == 1100
    assert set(info["scoreComponents"]) >= {"intervalSkew", "intervalMadSeconds", "sizeSkew", "sizeMadBytes", "histogramScore",
                                            "durationScore", "coverage"}
    assert len(info["sampleTimestamps"]) == 10 and fired[0].resource_role == "ACTOR"
    # the next judgements of the day stay quiet; the next day's reports it again
    _, st = det.update(key, [r for r in rows if T0 + JUDGE_EVERY <= r[4] < T0 + 2 * JUDGE_EVERY], st, T0 + JUDGE_EVERY)
    again, st = det.on_timer(key, st, T0 + 2 * JUDGE_EVERY)
    assert again == []
    for step in range(3, 6):
        _, st = det.update(key, [r for r in rows if T0 + (step - 1) * JUDGE_EVERY <= r[4] < T0 + step * JUDGE_EVERY], st, T0)
        again, st = det.on_timer(key, st, T0 + step * JUDGE_EVERY)
        assert (again != []) == (step == 5), step  # 24 h after the first report
    # bounded: at most MAX_CONNECTIONS per instance, and a 60-second beacon fills it
    assert len(st.series["10.0.1.5"].times) == MAX_CONNECTIONS
    size = len(msgspec.msgpack.encode(st))
    print(f"\nbeaconing state of a 60-second beacon at its cap: {size} bytes")
    assert size < 12_000


def test_a_destination_many_instances_reach_is_fleet_software() -> None:
    det = _Fed()
    key = f"{C2}|443|6"
    rows = sorted((r for n in range(PREVALENT) for r in _beacon(f"10.0.1.{10 + n}", 7)), key=lambda r: r[4])
    out, st = det.update(key, rows, None, T0)
    assert st.fleet_until > T0 and st.series == {}
    fired, st = det.on_timer(key, st, T0 + JUDGE_EVERY)
    assert fired == [] and det.on_flush(key, st)[0] == []
    assert len(msgspec.msgpack.encode(st)) < 100
    # one instance fewer: judged
    _, two = det.update(key, [r for r in rows if r[0] != "10.0.1.10"], None, T0)
    assert len(det.on_flush(key, two)[0]) == PREVALENT - 1


def test_one_kept_alive_session_is_not_a_series_of_connections() -> None:
    det = _Fed()
    key = f"{C2}|443|6"
    # v2 logs (no TCP flags): the same source port, a record a minute
    _, st = det.update(key, [_row("10.0.1.5", T0 + 60 * m, 41000, syn=False) for m in range(600)], None, T0)
    assert st.series["10.0.1.5"].times == [int(T0)]
    assert det.on_flush(key, st)[0] == []


def test_rita_proxy_beacon_is_found(shared_data: Path, tmp_path: Path) -> None:
    """RITA's proxy fixture: 10.136.0.18 beacons to www.honestimnotevil.com through the proxy 10.136.0.16:3128 (about
    every 250 s for 28 hours, 677 bytes each); in a flow log that is a series to the proxy's port."""
    converted = convert([shared_data / "rita-test-data/proxy/conn.log.gz"])
    report, store = scan(write(converted, tmp_path, "rita-proxy"))
    assert report.problems == []
    found = [f for f in store.findings() if f["type"] == TYPE]
    assert len(found) == 1
    net = found[0]["service"]["action"]["networkConnectionAction"]
    assert (net["localIpDetails"]["ipAddressV4"], net["remoteIpDetails"]["ipAddressV4"], net["remotePortDetails"]["port"]) == \
        ("10.136.0.18", "10.136.0.16", 3128)
    info = json.loads(found[0]["service"]["additionalInfo"]["value"])
    assert info["beaconScore"] >= 0.9 and 200 <= info["typicalIntervalSeconds"] <= 300


@pytest.mark.parametrize(("capture", "logs"), [
    ("rita-home-network", "rita-test-data/proxy_rolling/conn.*.log.gz"),  # 1,365 host pairs of a home network, two hours
    ("rita-server-24h", "rita-test-data/missing_host/2024-04-19/conn.*.log.gz"),  # an Internet-facing server's day
])
def test_benign_captures_raise_no_beacon(shared_data: Path, tmp_path: Path, capture: str, logs: str) -> None:
    converted = convert(sorted(shared_data.glob(logs)), {"64.225.56.201": "10.0.5.20"} if "server" in capture else None)
    _, store = scan(write(converted, tmp_path, capture))
    found = [f["title"] for f in store.findings() if f["type"] == TYPE]
    print(f"\n{capture}: {len(converted.flow_lines)} flow records, {len(found)} beaconing findings")
    assert found == []
