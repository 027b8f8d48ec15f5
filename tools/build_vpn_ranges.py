#!/usr/bin/env python3
"""Build ``src/trailhound/enrich/data/vpn-ipv4.txt.gz`` from MISP warninglists' ``vpn-ipv4`` list.

MISP's list is a copy of X4BNet's ``lists_vpn`` ``ipv4.txt`` (MIT; MISP's tools/generate-vpn.py fetches
https://raw.githubusercontent.com/X4BNet/lists_vpn/main/ipv4.txt). Only the IPv4 list ships: MISP's
``vpn-ipv6`` came from ejrv/VPNs, which states no licence (the operator gives it with ``--vpn-list``).

Usage::

    .venv/bin/python tools/build_vpn_ranges.py /path/to/misp-warninglists [--commit SHA]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "trailhound" / "enrich" / "data" / "vpn-ipv4.txt.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("misp", type=Path, help="a checkout (or copy) of github.com/MISP/misp-warninglists")
    ap.add_argument("--commit", default="84f0610aaf3b32159285c9b85510d0f415ea6b27", help="the MISP commit it holds")
    args = ap.parse_args()
    doc = json.loads((args.misp / "lists" / "vpn-ipv4" / "list.json").read_text())
    header = (f"# Commercial VPN and datacenter IPv4 ranges: MISP warninglists vpn-ipv4 version {doc['version']}, commit {args.commit},\n"
              "# a copy of X4BNet lists_vpn ipv4.txt (https://github.com/X4BNet/lists_vpn), MIT License,\n"
              "# Copyright (c) 2024 X4B (Mathew Heard): see LICENSE.x4bnet-lists-vpn.txt beside this file.\n")
    # mtime 0: the same input gives the same bytes
    OUT.write_bytes(gzip.compress((header + "\n".join(doc["list"]) + "\n").encode(), compresslevel=9, mtime=0))
    print(f"{OUT}: {len(doc['list'])} ranges, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
