"""An identity's profile: what it usually does, learned from its own CloudTrail calls.

Per identity (``principals.identity_key``): the APIs of the tactic classes it called (``api_classes``),
the networks (ASN organisations) and countries it called from, its client families and its regions,
the hours of the week it works in (``hour_of_week``: weekday or weekend, and a three-hour block of the
day) and the bursts of refused calls and failed console sign-ins it has had (``ERRORS``: a routine for
a role that probes its own permissions, news for one that never did), each an ``engine.baseline.Profile`` — counted in active
days, halved every 30 days, capped to the most used values — plus when it was first seen and on how
many days. About 1-1.5 KB msgpack for a busy identity (the API profile is most of it), so 100k
identities fit in ~150 MB; a scanner's role that calls 150 classed APIs a day holds ~8 KB.

A profile judges nothing until it has been watched for ``WARMUP`` and was active on ``MIN_ACTIVE_DAYS``
days: a new employee's first week, a new role's first deployments, are its habits forming. A value is
*unseen* when the identity first used it today or never (score first, then learn: a value never vouches
for itself, and a burst of calls today is judged against the days before it).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from trailhound.engine.baseline import DAY, Profile, ProfileState
from trailhound.findings.model import Anomaly, AnomalyObject, AnomalyObservations, AnomalyUnusual

WARMUP = 7 * DAY
MIN_ACTIVE_DAYS = 4
# settled, but young: a new employee's second week is still mostly first APIs, so a first day from home (a new network in
# a country it works from) is no news yet; a new country or an anonymizing network is
YOUNG, YOUNG_ACTIVE_DAYS = 10 * DAY, 7
TTL = 60 * DAY  # an identity silent this long starts again (its habits are gone)

API, NETWORK, COUNTRY, AGENT, REGION, HOUR, ERRORS = "API", "ASN_ORG", "COUNTRY", "USER_AGENT_FAMILY", "REGION", "HOUR_OF_WEEK", "ERROR_BURST"
PROFILES: dict[str, Profile] = {
    # (160 APIs: a CSPM's read-only role or a busy admin calls 150 classed APIs every day, and a smaller profile evicted
    # yesterday's to learn today's, so its daily snapshot was always "unseen"; an identity pays only for the APIs it uses)
    API: Profile(capacity=160), NETWORK: Profile(capacity=8), COUNTRY: Profile(capacity=6), AGENT: Profile(capacity=6),
    REGION: Profile(capacity=6), HOUR: Profile(capacity=16), ERRORS: Profile(capacity=2),
}
BLOCK = 3 * 3600.0  # the hour-of-week profile's grain: office hours are three or four blocks of a weekday
BURST_WINDOW, BURST_CALLS = 300.0, 10  # refused calls this close, this many, are a burst (a typo is one or two)


def hour_of_week(t: float) -> str:
    """"wd09" (a weekday, 09:00-11:59 UTC) ... "we21": weekday or weekend and the three-hour block."""
    weekend = (int(t // DAY) + 3) % 7 >= 5  # 1970-01-01 was a Thursday: Monday is 0
    return f"{'we' if weekend else 'wd'}{int(t % DAY // BLOCK) * 3:02d}"


REFUSED, FAILED_SIGN_IN = "AccessDenied", "FailedSignIn"  # the burst families (ERRORS profile values)


def refused(e: Any) -> str | None:
    """The burst family of a call that did not go through: access refused, a failed console sign-in, or
    None (throttling, a missing resource and other errors are no one probing their permissions)."""
    if e.event_name == "ConsoleLogin" and (e.error_code or e.error_message):
        return FAILED_SIGN_IN  # ("Failed authentication": a wrong password or MFA code, for a user that exists)
    code = e.error_code
    if code is None:
        return None
    return REFUSED if "Denied" in code or "Unauthorized" in code or "NotAuthorized" in code else None


class IdentityProfile(msgspec.Struct, array_like=True):
    apis: ProfileState = msgspec.field(default_factory=ProfileState)
    networks: ProfileState = msgspec.field(default_factory=ProfileState)
    countries: ProfileState = msgspec.field(default_factory=ProfileState)
    agents: ProfileState = msgspec.field(default_factory=ProfileState)
    regions: ProfileState = msgspec.field(default_factory=ProfileState)
    first: float = 0.0
    last_day: int = -1
    days: int = 0
    # anomalous calls of the last hour, [time, api, class, succeeded]: the "other anomalous APIs" of the next finding
    recent: list[list[Any]] = msgspec.field(default_factory=list)
    hours: ProfileState = msgspec.field(default_factory=ProfileState)
    errors: ProfileState = msgspec.field(default_factory=ProfileState)
    refusals: list[float] = msgspec.field(default_factory=list)  # times of the refused calls of the last BURST_WINDOW (≤ BURST_CALLS)
    # the latest burst of refused calls: [first call's time, calls, unseen for the identity then, last call's time]; [] before one
    burst: list[Any] = msgspec.field(default_factory=list)
    sign_ins: list[float] = msgspec.field(default_factory=list)  # failed console sign-ins, as ``refusals``
    sign_in_burst: list[Any] = msgspec.field(default_factory=list)  # their latest burst, as ``burst``
    # class -> event time of its latest reported call: one report per class and series, however the calls were batched
    reported: dict[str, float] = msgspec.field(default_factory=dict)

    def state_of(self, dimension: str) -> ProfileState:
        return {API: self.apis, NETWORK: self.networks, COUNTRY: self.countries, AGENT: self.agents, REGION: self.regions,
                HOUR: self.hours, ERRORS: self.errors}[dimension]


# per family: the state's recent times and latest burst, and how a burst is told
_FAMILIES = {REFUSED: ("refusals", "burst", "refused calls (AccessDenied)"), FAILED_SIGN_IN: ("sign_ins", "sign_in_burst", "failed console sign-ins")}


def observe_refusal(st: IdentityProfile, t: float, family: str = REFUSED) -> None:
    """A call of ``family`` refused at ``t``: a burst starts once BURST_CALLS fall in BURST_WINDOW and goes
    on while refusals keep coming within BURST_WINDOW of each other; it is judged (unseen for a settled
    identity) when it starts, then learned. Each family has its bursts: a role that probes its permissions
    every day has still never had its console password guessed."""
    times, latest, _ = _FAMILIES[family]
    burst = getattr(st, latest)
    if burst and t - burst[3] <= BURST_WINDOW:
        burst[1] += 1
        burst[3] = t
        return
    recent = [r for r in getattr(st, times) if t - r <= BURST_WINDOW][-(BURST_CALLS - 1):] + [t]
    if len(recent) >= BURST_CALLS:
        setattr(st, latest, [recent[0], len(recent), settled(st, t) and unseen(st, ERRORS, family, t), t])
        recent = []
        learn(st, {ERRORS: family}, t)
    setattr(st, times, recent)


def burst_near(st: IdentityProfile, t: float, within: float) -> str | None:
    """The unusual bursts of refused calls that overlap ``within`` seconds around ``t``, described; None without one."""
    told = []
    for _, latest, what in _FAMILIES.values():
        burst = getattr(st, latest)
        if burst and burst[2] and burst[0] - within <= t <= burst[3] + within:
            start = time.strftime("%H:%M", time.gmtime(burst[0]))
            told.append(f"{burst[1]} {what} in {max(1, round((burst[3] - burst[0]) / 60))} minutes from {start} UTC")
    return "; ".join(told) or None


def observe_day(st: Any, t: float) -> None:
    """Count a new active day (any profile with ``first``, ``last_day`` and ``days``)."""
    day = int(t // DAY)
    if st.last_day < 0:
        st.first = t
    if day > st.last_day:
        st.days += 1
        st.last_day = day


def settled(st: Any, t: float) -> bool:
    return t - st.first >= WARMUP and st.days >= MIN_ACTIVE_DAYS


def young(st: Any, t: float) -> bool:
    return t - st.first < YOUNG or st.days < YOUNG_ACTIVE_DAYS


def unseen(st: IdentityProfile, dimension: str, value: str | None, t: float) -> bool:
    return value is not None and not PROFILES[dimension].seen_before(st.state_of(dimension), value, t)


def saturated(st: IdentityProfile, dimension: str) -> bool:
    """Whether the dimension's profile is full: an identity at work in more regions (say) than it holds has no usual one."""
    return len(st.state_of(dimension).values) >= PROFILES[dimension].capacity


# The call a key is checked with (TruffleHog's verification of a leaked key, an intruder's first step): a place that
# only ever asked who it is has not been seen working there, so such a call refreshes known places and teaches none.
IDENTITY_CHECKS = frozenset({"GetCallerIdentity"})


def teaches_places(e: Any) -> bool:
    return e.event_name not in IDENTITY_CHECKS


def learn(st: IdentityProfile, values: dict[str, str | None], t: float, new: bool = True) -> None:
    """Learn ``values``; with ``new`` False, only those already in the profile (refreshed, none added)."""
    for dimension, value in values.items():
        if value is not None:
            PROFILES[dimension].learn(st.state_of(dimension), value, t, add=new)


def anomaly(key: str, st: IdentityProfile, unusual: dict[str, str], t: float, limit: int = 20) -> Anomaly:
    """GuardDuty's ``service.detection.anomaly``: the profile's values by frequency class (the top
    ``limit`` of each dimension, most used first) and the unusual values."""
    profiles: dict[str, list[AnomalyObject]] = {}
    for dimension, profile in PROFILES.items():
        seen = st.state_of(dimension)
        values = sorted((v for v in seen.values if profile.seen_before(seen, v, t)), key=lambda v: -profile.frequency(seen, v, t))[:limit]
        by_class: dict[str, list[str]] = {}
        for v in values:
            by_class.setdefault(profile.subtype(seen, v, t), []).append(v)
        profiles[dimension] = [AnomalyObject(profile_subtype=c, observations=AnomalyObservations(text=vs)) for c, vs in by_class.items()]
    behavior = {d: AnomalyObject(profile_subtype="UNSEEN", observations=AnomalyObservations(text=[v])) for d, v in unusual.items()}
    return Anomaly(profiles={key: profiles}, unusual=AnomalyUnusual(behavior={key: behavior}))


# ---- cases: identities with weeks of habits, written compactly -------------------------------------

def daily(end: Any, days: int, identity: dict[str, Any], calls: list[tuple[str, str]], ips: list[str], ua: str, account: str,
          region: str = "us-east-1", hour: int = 9) -> list[dict[str, Any]]:
    """``days`` working days of an identity before ``end``: each (api, service) once a day from one of
    ``ips`` (taking turns), through ``ua``."""
    from datetime import timedelta

    from trailhound.simulator.records import record

    out = []
    for d in range(days, 0, -1):
        for i, (api, service) in enumerate(calls):
            at = end - timedelta(days=d) + timedelta(hours=hour - end.hour, minutes=7 * i + d % 5)
            out.append(record(api, service, time=at, account=account, region=region, identity=identity, ip=ips[(d + i) % len(ips)], ua=ua))
    return out
