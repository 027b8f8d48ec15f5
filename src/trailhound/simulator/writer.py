"""The estate on disk: each log as files laid out exactly as AWS delivers them to S3 (key structure, file
naming, gzip), spread over the estate's days in per-account delivery streams, plus the inventory."""

from __future__ import annotations

import gzip
import math
import random
import time
from pathlib import Path

import orjson

from trailhound.simulator.cloudtrail import CloudTrail
from trailhound.simulator.dns import Dns
from trailhound.simulator.estate import build_estate
from trailhound.simulator.flows import Flows
from trailhound.simulator.inventory import describe_instances
from trailhound.simulator.network import Network
from trailhound.simulator.spec import ALNUM, CT_WINDOW, DNS_WINDOW, FLOW_WINDOW, EstateFiles, EstateSpec, hexid

try:
    from isal import igzip as _igzip
except ImportError:  # pragma: no cover - isal is a declared dependency
    _igzip = None


def _gzip(data: bytes) -> bytes:
    # mtime=0 keeps the output byte-identical from run to run.
    if _igzip is not None:
        return _igzip.compress(data, compresslevel=1, mtime=0)
    return gzip.compress(data, compresslevel=1, mtime=0)


def _stamp(t: int) -> str:
    return time.strftime("%Y%m%dT%H%MZ", time.gmtime(t))


def _day_dir(t: int) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime(t))


def _spread(count: int, slots: int) -> list[int]:
    """Slot index for each of ``count`` files spread evenly over ``slots`` delivery windows."""
    return [k * slots // count for k in range(count)]


def _file_sizes(total: int, n_files: int) -> list[int]:
    base, extra = divmod(total, n_files)
    return [base + (1 if k < extra else 0) for k in range(n_files)]


def _stream_slots(n_files: int, n_streams: int, slots: int) -> list[int]:
    """Delivery slot of each file when file j belongs to stream j % n_streams."""
    per = [len(range(s, n_files, n_streams)) for s in range(n_streams)]
    spread = [_spread(c, slots) for c in per]
    return [spread[j % n_streams][j // n_streams] for j in range(n_files)]


def _n_files(spec: EstateSpec, records: int, streams: int, window: int, per_file: int) -> int:
    """How many files a source is written as: every stream delivers a file per window (AWS), or
    files of ``per_file`` records; never more files than records, never fewer than streams."""
    if spec.delivery == "aws":
        return max(1, min(records, streams * (spec.days * 86400 // window)))
    return max(min(records, streams), math.ceil(records / max(1, per_file)))


def write_estate(root: Path, spec: EstateSpec) -> EstateFiles:
    """Write the estate's logs under ``root/AWSLogs/...`` and its inventory under ``root/inventory``."""
    root = Path(root)
    est = build_estate(spec)
    start = int(spec.start.timestamp())
    span_end = start + spec.days * 86400
    region = spec.region

    inventory = root / "inventory" / "describe-instances.json"
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_bytes(orjson.dumps(describe_instances(est), option=orjson.OPT_INDENT_2) + b"\n")

    made_dirs: set[Path] = set()

    def put(path: Path, data: bytes) -> None:
        if path.parent not in made_dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            made_dirs.add(path.parent)
        path.write_bytes(_gzip(data))

    def name_time(ws: int, window: int) -> int:
        # files are named for their delivery time (window end), kept inside the estate's days
        return min(ws + window, span_end - 60)

    raw = {"cloudtrail": 0, "flow": 0, "dns": 0}

    # CloudTrail
    ct_paths: list[Path] = []
    n_ct = spec.cloudtrail_events
    accounts = est.accounts
    if n_ct > 0:
        n_files = _n_files(spec, n_ct, len(accounts), CT_WINDOW, spec.events_per_file)
        sizes = _file_sizes(n_ct, n_files)
        slots = _stream_slots(n_files, len(accounts), spec.days * 86400 // CT_WINDOW)
        ct = CloudTrail(est)
        for j in range(n_files):
            acct = accounts[j % len(accounts)]
            ws = start + slots[j] * CT_WINDOW
            data = ct.file_bytes(j, acct, ws, sizes[j], force_run=(j == 0 and sizes[j] >= 50))
            raw["cloudtrail"] += len(data)
            t = name_time(ws, CT_WINDOW)
            suffix = "".join(random.Random(f"{spec.seed}:ctname:{j}").choices(ALNUM, k=16))
            path = (root / "AWSLogs" / acct.account_id / "CloudTrail" / region / _day_dir(t)
                    / f"{acct.account_id}_CloudTrail_{region}_{_stamp(t)}_{suffix}.json.gz")
            put(path, data)
            ct_paths.append(path)

    with_instances = [a for a in accounts if a.instances]
    net = Network(est) if with_instances and (spec.flow_lines > 0 or spec.dns_lines > 0) else None

    # VPC flow logs: file j is format v2 when j is even, v5 when odd; accounts take turns
    flow_paths: list[Path] = []
    n_fl = spec.flow_lines if net else 0
    if n_fl > 0:
        n_files = _n_files(spec, n_fl, 2 * len(with_instances), FLOW_WINDOW, spec.lines_per_file)
        sizes = _file_sizes(n_fl, n_files)
        n_streams = 2 * len(with_instances)
        slots = _stream_slots(n_files, n_streams, spec.days * 86400 // FLOW_WINDOW)
        flows = Flows(est, net)  # type: ignore[arg-type]
        for j in range(n_files):
            fmt = 2 if j % 2 == 0 else 5
            acct = with_instances[(j // 2) % len(with_instances)]
            ws = start + slots[j] * FLOW_WINDOW
            data = flows.file_text(j, acct, fmt, ws, sizes[j]).encode()
            raw["flow"] += len(data)
            t = name_time(ws, FLOW_WINDOW)
            suffix = hexid(random.Random(f"{spec.seed}:flname:{j}"), 8)
            fl_id = acct.flow_log_ids[fmt]
            path = (root / "AWSLogs" / acct.account_id / "vpcflowlogs" / region / _day_dir(t)
                    / f"{acct.account_id}_vpcflowlogs_{region}_{fl_id}_{_stamp(t)}_{suffix}.log.gz")
            put(path, data)
            flow_paths.append(path)

    # Route 53 Resolver query logs
    dns_paths: list[Path] = []
    n_dns = spec.dns_lines if net else 0
    if n_dns > 0:
        n_files = _n_files(spec, n_dns, len(with_instances), DNS_WINDOW, spec.lines_per_file)
        sizes = _file_sizes(n_dns, n_files)
        slots = _stream_slots(n_files, len(with_instances), spec.days * 86400 // DNS_WINDOW)
        dns = Dns(est, net)  # type: ignore[arg-type]
        for j in range(n_files):
            acct = with_instances[j % len(with_instances)]
            ws = start + slots[j] * DNS_WINDOW
            data = dns.file_text(j, acct, ws, sizes[j]).encode()
            raw["dns"] += len(data)
            t = name_time(ws, DNS_WINDOW)
            suffix = hexid(random.Random(f"{spec.seed}:dnsname:{j}"), 8)
            path = (root / "AWSLogs" / acct.account_id / "vpcdnsquerylogs" / acct.vpc_id / _day_dir(t)
                    / f"{acct.account_id}_vpcdnsquerylogs_{acct.vpc_id}_{_stamp(t)}_{suffix}.log.gz")
            put(path, data)
            dns_paths.append(path)

    return EstateFiles(
        root=root, cloudtrail=ct_paths, flow=flow_paths, dns=dns_paths, inventory=inventory,
        cloudtrail_events=n_ct if ct_paths else 0, flow_lines=n_fl if flow_paths else 0, dns_lines=n_dns if dns_paths else 0,
        raw_bytes=raw,
    )
