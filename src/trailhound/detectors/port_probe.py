"""Recon:EC2/PortProbeUnprotectedPort, Recon:EC2/PortProbeEMRUnprotectedPort — known scanners reach an open port.

A port that security groups and ACLs leave open is being probed by a known scanner or malicious
host: the connection was ACCEPTed and the remote side opened it (a flow from a service port to an
ephemeral one is the reply half of a connection the instance made, not a probe). A REJECTed probe
is the network doing its job: no finding. Low; High on Elasticsearch's 9200/9300 (a classic
data-theft target) and on EMR's ports (YARN, HDFS, Spark UI...: remote code execution on the cluster).

Probes of one instance are gathered over ten minutes into one occurrence listing them
(``portProbeDetails``), so a sweep of a thousand ports is one finding whose count grows with time.
State per instance: the probes of the last ten minutes (exact up to 64, then a sketch and a sample),
a few hundred bytes, deleted when the window has passed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from trailhound.detectors.flows import ACCEPTED, ELASTICSEARCH_PORTS, EMR_PORTS, SERVICE_PORTS, opener, orient
from trailhound.engine import Distinct, FindingType, Last, Sliding, Window, WindowedDetector, severity
from trailhound.events import Source
from trailhound.findings.build import evidence, instance_resource, port, port_probe, threat_info
from trailhound.findings.model import HIGH, LOW, Occurrence
from trailhound.intel.index import Category

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

UNPROTECTED = "Recon:EC2/PortProbeUnprotectedPort"
EMR = "Recon:EC2/PortProbeEMRUnprotectedPort"
PROBERS = (Category.SCANNER, Category.MALICIOUS)
PORT_PROTOCOLS = (6, 17, 132)  # TCP, UDP, SCTP
_COLUMNS = ("srcaddr", "dstaddr", "srcport", "dstport", "flow_direction", "instance_id", "interface_id", "start", "account_id", "region", "tcp_flags")
_MITRE = ("TA0043 Reconnaissance", "T1595.001 Active Scanning: Scanning IP Blocks")


class InboundProbe(WindowedDetector):
    name = "inbound-probe"
    method = "threat intel"  # windowed, but what makes it suspicious is the list
    consumes = Source.FLOW
    findings = (
        FindingType(UNPROTECTED, severity(LOW, elasticsearch=HIGH), *_MITRE, "an ACCEPTed inbound connection from a known scanner"),
        FindingType(EMR, severity(HIGH), *_MITRE, "an ACCEPTed inbound connection from a known scanner to an EMR port"),
    )
    # one key per instance and kind of port: a Low probe of SSH must not silence a High one of YARN
    key = pl.concat_str([pl.coalesce("instance_id", "interface_id", "dstaddr"),
                         pl.when(pl.col("dstport").is_in(sorted(EMR_PORTS))).then(pl.lit("emr"))
                         .when(pl.col("dstport").is_in(sorted(ELASTICSEARCH_PORTS))).then(pl.lit("elasticsearch")).otherwise(pl.lit("other"))],
                        separator="|")
    window = Sliding(length=600, step=60)
    reducers = {"emr": Distinct(), "elasticsearch": Distinct(), "other": Distinct(), "context": Last()}

    where = pl.col("listed") & ACCEPTED & pl.col("protocol").is_in(PORT_PROTOCOLS)  # (a ping has no port to leave open)
    columns = _COLUMNS

    def observe(self, rows: list[tuple[Any, ...]]) -> Iterator[tuple[float, tuple[Any, ...]]]:
        for src, dst, sport, dport, fdir, iid, eni, start, account, region, flags in rows:
            oriented = orient(src, dst, fdir, self.intel.ip)
            if oriented is None or oriented[0] != "INBOUND" or dport is None or sport is None:
                continue
            _, local, remote = oriented
            if not opener(sport, dport, flags, SERVICE_PORTS):
                continue  # a reply to a connection the instance opened, or nothing tells: not a probe
            if not any(h.category in PROBERS for h in self.intel.ip(remote)):
                continue
            probe = f"{dport}|{remote}"
            kind = 0 if dport in EMR_PORTS else 1 if dport in ELASTICSEARCH_PORTS else 2
            yield float(start), (probe if kind == 0 else None, probe if kind == 1 else None, probe if kind == 2 else None,
                                 [iid, eni, local, account, region])

    def threshold(self, key: str, w: Window) -> bool:
        return bool(w["emr"].count or w["elasticsearch"].count or w["other"].count)

    def report(self, key: str, w: Window) -> list[Occurrence]:
        iid, eni, local, account, region = w["context"]
        target = key.rsplit("|", 1)[0]
        out = []
        # one finding per instance, and one apart for the High-severity Elasticsearch ports
        for ftype, found, level, agg in ((EMR, w["emr"], None, ""), (UNPROTECTED, w["elasticsearch"], "elasticsearch", "elasticsearch"),
                                         (UNPROTECTED, w["other"], None, "")):
            if not found.count:
                continue
            probes = [(int(p), r) for p, r in (item.split("|", 1) for item in found.items)]
            hits = [h for h in self.intel.ip(probes[-1][1]) if h.category in PROBERS]
            ports = sorted({p for p, _ in probes})
            names = ", ".join(f"{p} ({port(p).port_name})" for p in ports[:5]) + (" and more" if len(ports) > 5 else "")
            out.append(Occurrence(
                type=ftype, severity=self.severity(ftype, level), time=w.last, first_seen=w.first, account_id=account or "",
                region=region or "", resource=instance_resource(iid, eni, local), resource_key=target, action=port_probe(local, probes),
                title=f"Unprotected port on EC2 instance {target} is being probed.",
                description=f"EC2 instance {target} has unprotected ports {names} which {'are' if len(probes) > 1 else 'is'} being probed by "
                f"{len({r for _, r in probes})} known scanner or malicious host(s), e.g. {probes[-1][1]}"
                + (f" ({hits[0].list_name})." if hits else "."),
                resource_role="TARGET", feature_name="FlowLogs",
                additional_info=(threat_info(hits) if hits else {}) | {"scannedPort": probes[-1][0], "probes": found.count},
                evidence=evidence(hits) if hits else None, remote_ip=probes[-1][1], aggregation_key=agg,
            ))
        return out


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import LOCAL_IP, Case, example_indicator, flow_row

    scanner = example_indicator(Category.SCANNER)
    t = iter(start + timedelta(minutes=12 * i) for i in range(1000))  # each case in a window of its own

    def flow(name: str, expect: str | None, **kw: Any) -> Case:
        return Case(name, expect, flow_row(next(t), account=account, src=scanner, dst=LOCAL_IP, **kw), source="flow", role="TARGET")

    return [
        flow("probe-ssh", UNPROTECTED, sport=61000, dport=22),
        flow("probe-elasticsearch", UNPROTECTED, sport=61001, dport=9200),
        flow("probe-emr-yarn", EMR, sport=61002, dport=8088),
        flow("probe-emr-from-low-ephemeral", EMR, sport=40000, dport=50070, flags=None),
        flow("probe-rejected", None, sport=61003, dport=23, action="REJECT"),
        flow("probe-reply-half", None, sport=443, dport=51000, flags=18),
        flow("ping-from-scanner", None, sport=0, dport=0, protocol=1, flags=None, packets=1, nbytes=84),
    ]
