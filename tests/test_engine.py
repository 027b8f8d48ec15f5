"""The behaviour engine on its own: windows, lateness, timers, flush, expiry, versions, warm-up,
distinct counting, baselines — with a toy detector, so each property is seen in isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from trailhound.engine import Count, Distinct, Engine, KeyedDetector, Last, Profile, ProfileState, Scorer, ScorerState, Sliding, WindowedDetector
from trailhound.engine.baseline import DAY
from trailhound.engine.detector import FindingType, severity
from trailhound.events import DnsQuery, DnsSourceIds, Source
from trailhound.findings.build import dns_request, instance_resource
from trailhound.findings.model import LOW, Occurrence
from trailhound.store.database import Changes, Store

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def q(minutes: float, name: str, src: str = "10.0.0.5") -> DnsQuery:
    return DnsQuery(query_timestamp=T0 + timedelta(minutes=minutes), query_name=name, srcaddr=src, srcids=DnsSourceIds(instance="i-1"))


class ManyNames(WindowedDetector):
    """Toy: a source asking for >= 5 distinct names within 10 minutes."""

    name = "toy-many-names"
    consumes = Source.DNS
    findings = (FindingType("Toy:EC2/ManyNames", severity(LOW), "TA0007 Discovery", "T1046 Toy", "toy"),)
    window = Sliding(length=600, step=60)
    reducers = {"names": Distinct(), "queries": Count(), "last": Last()}

    def key_of(self, e: DnsQuery) -> str | None:
        return e.srcaddr

    def observe(self, rows: list[DnsQuery]) -> Any:
        for e in rows:
            yield e.query_timestamp.timestamp(), (e.query_name, 1, e.query_name)

    def threshold(self, key: str, w: Any) -> bool:
        return w["names"].count >= 5

    def report(self, key: str, w: Any) -> list[Occurrence]:
        return [Occurrence(type="Toy:EC2/ManyNames", severity=LOW, time=w.last, first_seen=w.first, account_id="1", region="r",
                           resource=instance_resource("i-1"), resource_key=key, action=dns_request(w["last"], "UDP", False, None),
                           title="t", description=f"{w['names'].count} names, {w['queries']} queries",
                           additional_info={"names": sorted(w["names"].items)})]


def run(det: KeyedDetector, batches: list[list[DnsQuery]], store: Any = None, lateness: float = 120.0, flush: bool = True) -> tuple[list[Occurrence], Engine]:
    engine = Engine([det], store, lateness)
    out: list[Occurrence] = []
    for batch in batches:
        out += engine.feed(det, batch)
        out += engine.advance(max(e.query_timestamp.timestamp() for e in batch))
    if flush:
        out += engine.flush()
    return out, engine


def burst(start: float, n: int, every: float = 0.5, src: str = "10.0.0.5") -> list[DnsQuery]:
    return [q(start + every * i, f"host{i}.example.com", src) for i in range(n)]


# ---- windows ----------------------------------------------------------------------------------

def test_fires_within_a_window_and_not_when_spread_out() -> None:
    fired, _ = run(ManyNames(), [burst(0, 5)])
    assert len(fired) == 1 and fired[0].description == "5 names, 5 queries"
    assert fired[0].first_seen == T0.timestamp() and fired[0].time == (T0 + timedelta(minutes=2)).timestamp()
    quiet, _ = run(ManyNames(), [burst(0, 5, every=12)])  # five names, one every 12 minutes
    assert quiet == []


def test_batching_does_not_change_the_verdict() -> None:
    rows = burst(0, 5) + burst(30, 4) + burst(50, 12, every=0.2)
    whole, _ = run(ManyNames(), [rows])
    one_by_one, _ = run(ManyNames(), [[r] for r in rows])
    assert [(o.time, o.description) for o in whole] == [(o.time, o.description) for o in one_by_one]
    # the 4-name burst never fires; each other burst is one episode, reported with everything it held
    assert [o.description for o in whole] == ["5 names, 5 queries", "12 names, 12 queries"]


def test_sustained_activity_is_one_occurrence_per_window_length() -> None:
    rows = [q(m / 2, f"n{m}.example.com") for m in range(2 * 35)]  # a new name every 30 s for 35 minutes
    fired, _ = run(ManyNames(), [rows])
    # four ten-minute episodes, back to back, each reported once with all it held
    starts = [o.first_seen - T0.timestamp() for o in fired]
    assert starts == [0, 600, 1200, 1800] and [o.description for o in fired][:3] == ["20 names, 20 queries"] * 3


def test_late_rows_within_the_lateness_count_and_later_ones_do_not() -> None:
    det = ManyNames()
    # four names now, the fifth arrives one minute late (within the 2-minute lateness): it still completes the window
    early, _ = run(det, [burst(0, 4), [q(6, "other.example.com")], [q(4.5, "late.example.com")]])
    assert len(early) == 1 and "late.example.com" in early[0].additional_info["names"]
    # the same fifth name arriving after the watermark has moved 30 minutes on is too late for its window
    too_late, engine = run(det, [burst(0, 4), [q(40, "other.example.com")], [q(4.5, "late.example.com")]])
    assert too_late == [] and engine.late_rows[det.name] == 1


def test_timers_fire_as_the_watermark_passes_without_waiting_for_the_key() -> None:
    det = ManyNames()
    engine = Engine([det], None, lateness=120.0)
    assert engine.feed(det, burst(0, 5)) == []  # a window is judged only once it is complete
    assert engine.advance((T0 + timedelta(minutes=6)).timestamp()) == []  # threshold met, episode (10 minutes) still open
    fired = engine.advance((T0 + timedelta(minutes=13)).timestamp())  # another key's rows move time past its end
    assert len(fired) == 1


def test_flush_reports_open_windows_once() -> None:
    det = ManyNames()
    open_now, engine = run(det, [burst(0, 5)], lateness=3600.0)  # a watermark far behind: nothing closed yet
    assert len(open_now) == 1  # the end of a bounded input reports it
    # the same input continues later (next scan): the completed window is not reported again
    more = engine.feed(det, [q(5, "extra.example.com")]) + engine.advance((T0 + timedelta(hours=3)).timestamp())
    assert more == []


# ---- state: store, versions, expiry, warm-up -------------------------------------------------------------

def _commit(engine: Engine, store: Store, det: KeyedDetector) -> None:
    store.commit(Changes(state=engine.states.changes(), ttl={det.name: det.ttl}, watermark=engine.watermark))


def test_state_and_timers_survive_a_restart(store_url: str) -> None:
    store = Store(store_url)
    det = ManyNames()
    first, engine = run(det, [burst(0, 3)], store=store, flush=False)
    _commit(engine, store, det)
    assert first == [] and store.state_timers()
    # a new process: the two more names complete the window begun before the restart
    engine2 = Engine([det], store, 120.0, watermark=float(store.meta("watermark")))
    out = engine2.feed(det, [q(2, "a.example.com"), q(2.5, "b.example.com")])
    out += engine2.advance((T0 + timedelta(minutes=20)).timestamp())
    assert len(out) == 1 and out[0].description.startswith("5 names")


def test_expired_state_is_deleted_and_forgotten(store_url: str) -> None:
    class Counter(KeyedDetector):
        name = "toy-counter"
        consumes = Source.DNS
        findings = ()
        ttl = 3600.0

        class State(msgspec.Struct):
            n: int

        def key_of(self, e: DnsQuery) -> str:
            return e.srcaddr or ""

        def update(self, key: str, rows: list[DnsQuery], state: Any, watermark: float) -> tuple[list[Occurrence], Any]:
            return [], self.State((state.n if state else 0) + len(rows))

    store = Store(store_url)
    det = Counter()
    engine = Engine([det], store, 0.0)
    engine.feed(det, [q(0, "a"), q(1, "b")])
    engine.advance((T0 + timedelta(minutes=1)).timestamp())
    _commit(engine, store, det)
    assert engine.states.get(det.name, "10.0.0.5").value.n == 2
    engine.feed(det, [q(30, "c", src="10.0.0.6")])  # another key moves time half an hour: still alive
    engine.advance((T0 + timedelta(minutes=30)).timestamp())
    assert engine.states.get(det.name, "10.0.0.5").value.n == 2
    engine.feed(det, [q(200, "d", src="10.0.0.6")])  # three hours later: the first key expired
    engine.advance((T0 + timedelta(minutes=200)).timestamp())
    assert engine.states.get(det.name, "10.0.0.5") is None
    _commit(engine, store, det)
    assert store.state_rows(det.name, ["10.0.0.5", "10.0.0.6"]).keys() == {"10.0.0.6"}


def test_state_of_another_version_is_dropped_not_misread(store_url: str) -> None:
    store = Store(store_url)
    det = ManyNames()
    _, engine = run(det, [burst(0, 3)], store=store, flush=False)
    _commit(engine, store, det)

    class ManyNamesV2(ManyNames):
        name = "toy-many-names"
        state_version = 2

    engine2 = Engine([ManyNamesV2()], store, 120.0)
    assert engine2.states.get("toy-many-names", "10.0.0.5") is None


def test_warmup_learns_but_does_not_report() -> None:
    class Chatty(ManyNames):
        name = "toy-chatty"
        warmup = 2 * 3600.0

    fired, _ = run(Chatty(), [burst(0, 6)])  # the key's first minutes: still learning
    assert fired == []
    later, _ = run(Chatty(), [[q(0, "first.example.com")], burst(180, 6)])  # seen three hours before: judged
    assert len(later) == 1


def test_state_stays_small_per_entity() -> None:
    det = ManyNames()
    _, engine = run(det, [burst(0, 3, src=f"10.0.{i // 250}.{i % 250}") for i in range(500)], flush=False)
    rows = engine.states.changes()
    sizes = [len(row[4]) for row in rows.values() if row is not None]
    assert len(sizes) == 500 and max(sizes) < 2048


# ---- reducers and baselines -------------------------------------------------------------------

def test_distinct_is_exact_then_estimated_with_a_sample() -> None:
    d = Distinct(exact=64, sample=16)
    small, big = d.new(), d.new()
    d.add(small, [(0.0, i) for i in range(50)])
    d.add(big, [(0.0, f"10.1.{i // 250}.{i % 250}") for i in range(5000)])
    assert d.result([small]).count == 50 and d.result([small]).exact
    r = d.result([big])
    assert not r.exact and abs(r.count - 5000) < 500 and len(r.items) == 16
    assert len(msgspec.msgpack.encode(big)) < 600  # the sketch, not the values
    other = d.new()
    d.add(other, [(0.0, f"10.1.{i // 250}.{i % 250}") for i in range(2500, 7500)])
    assert abs(d.result([big, other]).count - 7500) < 750  # buckets merge without double counting


def test_profile_classifies_like_guardduty_and_stays_bounded() -> None:
    p = Profile(capacity=8)
    st = ProfileState()
    t = T0.timestamp()
    for day in range(28):
        p.learn(st, "443", t + day * DAY)
        for _ in range(50):  # many calls in one day are one active day
            p.learn(st, "5432", t + day * DAY) if day % 7 == 0 else None
    p.learn(st, "8443", t + 10 * DAY)
    now = t + 28 * DAY
    assert p.subtype(st, "443", now) == "FREQUENT"
    assert p.subtype(st, "5432", now) == "INFREQUENT"
    assert p.subtype(st, "8443", now) == "RARE"
    assert p.subtype(st, "3389", now) == "UNSEEN"
    for port in range(100):
        p.learn(st, str(port), now)
    assert len(st.values) == 8 and p.subtype(st, "99", now) != "UNSEEN"


def test_scorer_has_a_grace_period_and_ignores_one_old_spike() -> None:
    s = Scorer(grace=12)
    st = ScorerState()
    assert s.score(st, 1e9) is None
    for v in [100, 110, 95, 105, 98, 102, 5000, 101, 99, 103, 97, 104]:
        s.learn(st, v)
    assert s.score(st, 108) < 3
    assert s.score(st, 2000) > 50  # the old 5000 spike does not make a new one look normal
    for v in range(100):
        s.learn(st, v)
    assert len(st.recent) == s.memory


def test_a_timer_that_does_not_move_forward_costs_its_key() -> None:
    class Stuck(ManyNames):
        name = "toy-stuck"

        def on_timer(self, key: str, state: Any, watermark: float) -> tuple[list[Occurrence], Any]:
            return [], state  # never evaluates: its timer stays where it was

    det = Stuck()
    engine = Engine([det], None, 0.0)
    engine.feed(det, burst(0, 5))
    engine.advance((T0 + timedelta(hours=1)).timestamp())  # does not spin, and does not stop
    [problem] = engine.problems
    assert "a timer must move forward" in problem.message and engine.states.get(det.name, "10.0.0.5") is None


def test_a_baseline_scores_before_it_learns_and_outlives_its_windows(store_url: str) -> None:
    class NewHabit(ManyNames):
        """Toy: >= 5 names in 10 minutes, unless the source did so on an earlier day."""

        name = "toy-new-habit"
        baseline = Profile(capacity=1)
        ttl = 30 * DAY

        def threshold(self, key: str, w: Any) -> bool:
            return w["names"].count >= 5 and not w.seen_before("busy")

        def learn(self, key: str, w: Any, usual: ProfileState) -> None:
            if w["names"].count >= 5:
                self.baseline.learn(usual, "busy", w.last)

    store = Store(store_url)
    det = NewHabit()
    day1, engine = run(det, [burst(0, 6), burst(120, 6), [q(240, "later.example.com", src="10.0.0.7")]], store=store, flush=False)
    assert len(day1) == 2  # the same day twice: today does not vouch for today
    _commit(engine, store, det)
    rows = store.state_rows(det.name, ["10.0.0.5"])
    assert rows, "the baseline is kept after its windows are gone"
    engine2 = Engine([det], store, 120.0, watermark=float(store.meta("watermark")))
    day2 = engine2.feed(det, burst(24 * 60, 6)) + engine2.advance((T0 + timedelta(days=1, hours=1)).timestamp())
    assert day2 == []  # a habit now
    other = engine2.feed(det, burst(24 * 60 + 70, 6, src="10.0.0.9")) + engine2.advance((T0 + timedelta(days=1, hours=3)).timestamp())
    assert len(other) == 1  # another source has no such habit


def test_distinct_count_past_its_exact_bound_does_not_depend_on_arrival_order() -> None:
    """Six buckets of 20 hosts each, past the exact bound: however the values reached each bucket (in
    which chunks, in which order), the window counts the same — the library's HIP estimate of a union did
    not (120 or 121 hosts for the same rows batched differently)."""
    import random

    from trailhound.engine.reducers import Distinct, DistinctState

    d = Distinct(exact=16, sample=4)
    values = [[f"10.0.{b}.{i}" for i in range(20)] for b in range(6)]
    counts = set()
    for seed in range(12):
        rnd = random.Random(seed)
        buckets = []
        for vals in values:
            vals = vals[:]
            rnd.shuffle(vals)
            st, i = DistinctState(), 0
            while i < len(vals):
                n = rnd.randint(1, 12)
                d.add(st, [(0.0, v) for v in vals[i : i + n]])
                i += n
            buckets.append(st)
        counts.add(d.result(buckets).count)
    assert len(counts) == 1 and abs(counts.pop() - 120) <= 12


class _ByResolverClient(KeyedDetector):
    """A toy DNS detector keyed by the querying address, with a count as its state."""
    consumes = Source.DNS
    findings = ()

    class State(msgspec.Struct):
        n: int

    def key_of(self, e: DnsQuery) -> str:
        return e.srcaddr or ""


def test_a_key_without_state_is_looked_up_in_the_store_once(store_url: str) -> None:
    """A key a detector keeps no state for (nothing worth remembering yet) is absent from the store; that is
    remembered across commits (a scan meeting many such keys would otherwise ask the store about each again
    after every commit), and a state written later is still found by a new process."""
    class Quiet(_ByResolverClient):
        name = "toy-quiet"

        def update(self, key: str, rows: list[DnsQuery], state: Any, watermark: float) -> tuple[list[Occurrence], Any]:
            named = sum(e.query_name == "remember.example.com" for e in rows)
            return [], self.State(named) if named or state else None

    store = Store(store_url)
    asked: list[str] = []
    real = store.state_rows
    store.state_rows = lambda det, keys: asked.extend(keys) or real(det, keys)  # type: ignore[method-assign]
    det = Quiet()
    engine = Engine([det], store, 120.0)
    for minute in range(0, 40, 10):  # the same key in four batches, a commit after each
        engine.feed(det, [q(minute, "a.example.com", src="10.0.0.9")])
        engine.advance((T0 + timedelta(minutes=minute)).timestamp())
        _commit(engine, store, det)
    # nothing of this detector was stored when the engine began, and no key of it has left memory: no query at all
    assert asked == [] and engine.states.get(det.name, "10.0.0.9") is None
    engine.feed(det, [q(45, "remember.example.com", src="10.0.0.9")])
    _commit(engine, store, det)
    fresh = Engine([det], store, 120.0)  # a new process finds it in the store
    assert fresh.states.get(det.name, "10.0.0.9").value.n == 1
    asked.clear()
    for minute in range(50, 90, 10):  # with state of this detector stored, a new key is asked about once
        fresh.feed(det, [q(minute, "a.example.com", src="10.0.0.7")])
        fresh.advance((T0 + timedelta(minutes=minute)).timestamp())
        _commit(fresh, store, det)
    assert asked == ["10.0.0.7"]


def test_a_state_that_left_memory_is_found_in_the_store(store_url: str) -> None:
    """The store is skipped only for detectors with nothing there: a key pushed out of a full cache (written at
    the next commit) is read back from the store, not started afresh."""
    class Counting(_ByResolverClient):
        name = "toy-counting"

        def update(self, key: str, rows: list[DnsQuery], state: Any, watermark: float) -> tuple[list[Occurrence], Any]:
            return [], self.State((state.n if state else 0) + len(rows))

    store = Store(store_url)
    det = Counting()
    engine = Engine([det], store, 120.0, capacity=1)
    engine.feed(det, [q(0, "a.example.com", src="10.0.0.1"), q(1, "b.example.com", src="10.0.0.1")])
    engine.feed(det, [q(2, "a.example.com", src="10.0.0.2")])  # the cache holds one key: 10.0.0.1 leaves it
    _commit(engine, store, det)
    engine.feed(det, [q(3, "c.example.com", src="10.0.0.1")])
    assert engine.states.get(det.name, "10.0.0.1").value.n == 3


def test_an_ipv6_local_address_is_the_interface_s_ipv6_address() -> None:
    """A VPC's IPv6 addresses are global: a finding names one under ipv6Addresses, never as the private IPv4 address."""
    v6 = instance_resource("i-1", "eni-1", "2600:1f18:abcd::1").instance_details.network_interfaces[0]
    assert v6.ipv6_addresses == ["2600:1f18:abcd::1"] and v6.private_ip_address is None and v6.network_interface_id == "eni-1"
    v4 = instance_resource("i-1", "eni-1", "10.0.0.5").instance_details.network_interfaces[0]
    assert v4.private_ip_address == "10.0.0.5" and v4.ipv6_addresses == []
