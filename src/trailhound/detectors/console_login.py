"""UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B — one user's successful console sign-ins from
places too far apart for the time between them.

Per user: the place of the last successful ``ConsoleLogin`` (coordinates when the geo data has them —
an operator's city database — else the country's centroid, ``CENTROIDS``, which may lie up to the
country's radius, ``RADII_KM``, from the place itself). A sign-in fires when it lies at least ``MIN_KM``
from the last one and reaching it would take more than ``MAX_KMH`` (a jet's speed
with the airports either side). The distance floor absorbs what address geolocation gets wrong
between neighbouring countries (a mobile carrier's or VPN's egress one border over). A failed sign-in
is no one being anywhere. Two places the user has signed in from one after the other before (the office,
then a hosted desktop in an AWS region; home, then the company VPN's far exit) are a habit, not travel:
each user keeps its last 16 such pairs for 30 days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from trailhound.detectors.principals import identity_key
from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.engine.runner import timed
from trailhound.engine.baseline import DAY
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"
MIN_KM = 1000.0
MAX_KMH = 1000.0
PAIRS = 16  # pairs of places remembered per user

# Country centroids (lat, lon), rounded to a degree: Google's DSPL canonical countries.csv
# (developers.google.com/public-data/docs/canonical/countries_csv), for the countries most sign-ins come from.
CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (37, -95), "CA": (56, -106), "MX": (23, -102), "BR": (-14, -51), "AR": (-38, -63), "CL": (-35, -71), "CO": (4, -74),
    "PE": (-9, -75), "GB": (55, -3), "IE": (53, -8), "FR": (46, 2), "DE": (51, 10), "NL": (52, 5), "BE": (50, 4), "LU": (50, 6),
    "CH": (47, 8), "AT": (47, 14), "IT": (42, 12), "ES": (40, -4), "PT": (39, -8), "DK": (56, 9), "NO": (60, 8), "SE": (60, 18),
    "FI": (61, 25), "PL": (52, 19), "CZ": (50, 15), "SK": (48, 19), "HU": (47, 19), "RO": (45, 25), "BG": (42, 25), "GR": (39, 21),
    "UA": (48, 31), "RU": (61, 105), "TR": (38, 35), "IL": (31, 35), "AE": (23, 53), "SA": (23, 45), "EG": (26, 30), "NG": (9, 8),
    "KE": (0, 37), "ZA": (-30, 22), "IN": (20, 78), "PK": (30, 69), "BD": (23, 90), "CN": (35, 104), "HK": (22, 114), "TW": (23, 120),
    "JP": (36, 138), "KR": (35, 127), "SG": (1, 104), "MY": (4, 101), "TH": (15, 100), "VN": (14, 108), "ID": (-0.8, 113), "PH": (12, 121),
    "AU": (-25, 133), "NZ": (-40, 174), "IR": (32, 53), "KZ": (48, 66), "LT": (55, 23), "LV": (56, 24), "EE": (58, 25), "RS": (44, 21),
    "HR": (45, 15), "SI": (46, 15), "IS": (64, -19), "MA": (31, -7),
}


# A centroid stands for a whole country: the nearest two sign-ins in two countries can be this much closer to each
# other than their centroids, per country (the radius of a disc of its area, km; a country not listed: 300 km). US and
# Canadian centroids lie 2,268 km apart, Toronto and a Zscaler exit in New York 500.
RADII_KM = {"RU": 2333, "CA": 1782, "US": 1769, "CN": 1748, "BR": 1645, "AU": 1566, "IN": 1023, "AR": 941, "KZ": 931,
            "SA": 827, "MX": 790, "ID": 778, "IR": 724, "PE": 644, "EG": 565, "ZA": 624, "CO": 601, "NG": 542, "PK": 533,
            "TR": 500, "CL": 491, "UA": 439, "FR": 417, "ES": 400, "SE": 379, "TH": 405, "KE": 434, "MA": 376}


def centroid_slack(where: str, point: tuple[float, float]) -> float:
    """How far a place known only by its country's centroid may lie from it (0 for coordinates of a city)."""
    return RADII_KM.get(where, 300.0) if CENTROIDS.get(where) == point else 0.0


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class LastLogin(msgspec.Struct, array_like=True):
    t: float
    lat: float
    lon: float
    where: str  # country code (or city) and address, for the description
    ip: str
    pairs: list[str] = msgspec.field(default_factory=list)  # "A|B": pairs of places the user has signed in from one after the other


class ConsoleLoginSuccessB(KeyedDetector[LastLogin]):
    name = "console-login-success-b"
    consumes = Source.CLOUDTRAIL
    method = "behaviour"
    event_names = frozenset({"ConsoleLogin"})
    State: ClassVar[type[msgspec.Struct]] = LastLogin
    ttl = 30 * DAY  # (the pairs it learned: a hosted desktop's region and the office, day after day)
    findings = (FindingType(TYPE, severity(MEDIUM), "TA0001 Initial Access", "T1078.004 Valid Accounts: Cloud Accounts",
                            f"two successful console sign-ins of one user ≥{MIN_KM:,.0f} km apart, faster than {MAX_KMH:,.0f} km/h between them"),)

    def candidates(self, events: Sequence[ApiCall]) -> list[ApiCall]:
        return [e for e in events if e.event_name == "ConsoleLogin" and e.succeeded]

    def key_of(self, e: ApiCall) -> str | None:
        return identity_key(e) if e.response().get("ConsoleLogin") == "Success" else None

    def place(self, e: ApiCall) -> tuple[tuple[float, float], str] | None:
        info = self.places.lookup(e.source_ip)
        if info is None:
            return None
        if info.lat is not None and info.lon is not None:
            return (info.lat, info.lon), info.city or info.country_code or "?"
        point = CENTROIDS.get(info.country_code or "")
        return (point, str(info.country_code)) if point else None

    def update(self, key: str, rows: list[ApiCall], state: LastLogin | None, watermark: float) -> tuple[list[Occurrence], Any]:
        last, out = state, []
        for t, e, _ in timed(rows):
            found = self.place(e)
            if found is None:
                continue
            point, where = found
            pairs = last.pairs if last is not None else []
            if last is not None and last.where != where:  # (at least this far: centroids stand for their whole country)
                pair = "|".join(sorted((last.where, where)))
                before = (last.lat, last.lon)
                distance = max(0.0, km(before, point) - centroid_slack(last.where, before) - centroid_slack(where, point))
                hours = max(t - last.t, 60.0) / 3600
                if distance >= MIN_KM and distance / hours > MAX_KMH and pair not in pairs:
                    out.append(self._report(e, last, where, distance, hours))
                pairs = [p for p in pairs if p != pair][-(PAIRS - 1):] + [pair]
            last = LastLogin(t, point[0], point[1], where, str(e.source_ip), pairs)
        return out, last

    def _report(self, e: ApiCall, last: LastLogin, where: str, distance: float, hours: float) -> Occurrence:
        user = e.user_identity.name
        return api_occurrence(
            e, TYPE, self.severity(TYPE),
            f"Multiple worldwide successful console logins were observed for {user}.",
            f"{user} signed in to the console from {e.source_ip} ({where}) {hours * 60:.0f} minutes after signing in from {last.ip} "
            f"({last.where}), at least {distance:,.0f} km away: {distance / hours:,.0f} km/h.",
            additional_info={"previousLogin": {"ip": last.ip, "location": last.where}, "distanceKm": round(distance), "minutesApart": round(hours * 60)},
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.detectors.anomalous_behavior import BROWSER, FAR, HOME, OFFICE
    from trailhound.simulator.records import Case, failed_sign_in, iam_user, record

    us_home = "73.15.211.40"

    def login(user: str, ip_: str, at: datetime, ok: bool = True) -> dict[str, Any]:
        if not ok:
            return failed_sign_in(account, user, time=at, ip=ip_, ua=BROWSER)
        return record("ConsoleLogin", "signin.amazonaws.com", time=at, account=account, identity=iam_user(account, user), ip=ip_, ua=BROWSER,
                      response={"ConsoleLogin": "Success"})

    return [
        Case("logins-from-two-continents-minutes-apart", TYPE, [login("kai-admin", HOME, start), login("kai-admin", us_home, start + timedelta(minutes=12))]),
        # a flight: Frankfurt in the morning, Hong Kong fourteen hours later
        Case("traveller-lands-and-signs-in", None, [login("lena-sales", HOME, start - timedelta(hours=14)), login("lena-sales", FAR, start)]),
        # neighbouring countries minutes apart: under the distance floor (geolocation of carriers and VPN exits)
        Case("neighbouring-countries", None, [login("jonas-dev", HOME, start), login("jonas-dev", OFFICE, start + timedelta(minutes=8))]),
        # Toronto at home, then through the company's Zscaler exit minutes later: two large neighbours' centroids lie
        # 2,268 km apart, the places themselves far less
        Case("home-then-vpn-exit-across-a-long-border", None, [login("ava-dev", "99.224.10.1", start), login("ava-dev", us_home, start + timedelta(minutes=35))]),
        # the office, then a hosted desktop (WorkSpaces in us-east-1) minutes later, as on earlier days
        Case("office-then-hosted-desktop-as-every-day", None, [
            login("ole-analyst", HOME, start - timedelta(days=d, hours=h)) for d in (3, 2, 1) for h in (8,)]
             + [login("ole-analyst", "3.238.166.21", start - timedelta(days=d, hours=1)) for d in (3, 2, 1)]
             + [login("ole-analyst", HOME, start), login("ole-analyst", "3.238.166.21", start + timedelta(minutes=10))]),
        Case("failed-login-far-away", None, [login("mia-ops", HOME, start), login("mia-ops", FAR, start + timedelta(minutes=5), ok=False)]),
    ]
