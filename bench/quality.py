"""Detection-quality benchmark: does Trailhound raise the right GuardDuty findings, and only those?

    .venv/bin/python bench/quality.py [--small] [-o FILE]

(a) Simulated estates (``trailhound.simulator.labelled``): per-type recall over labelled attack cases,
    must-not violations on near misses, and findings the benign background raises.
(b) Real public corpora in ../shared/data: Stratus Red Team techniques covered out of 35,
    Invictus and OTRF labelled CloudTrail, Panther's rule tests, DGA / DNS-tunnelling name lists,
    and Stratosphere / Slips / RITA Zeek captures converted by zeek2aws.py.

Prints one summary table and detail sections, and writes the same Markdown to
bench/quality_results.md (--small: to bench/out/quality_results_small.md, so a CI run never
overwrites the full results). --small runs one small estate, Stratus, the Panther tests and the
Zeek captures marked small (RITA's server, the Nmap scans) with their behaviour ground truth.
Only the packaged threat intelligence is used, never a refreshed copy, so runs are comparable.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_cloudtrail import (  # noqa: E402
    ATTACK_LABELS,
    BENIGN_LABELS,
    LabelledResult,
    PantherTest,
    StratusResult,
    run_invictus,
    run_otrf,
    run_panther,
    run_stratus,
)
from quality_cloudtrail import STRATUS  # noqa: E402
from quality_common import SHARED, iso, md_table, pct, per_100k  # noqa: E402
import quality_stratus  # noqa: E402
from quality_stratus import StratusBaseline, run_stratus_baseline  # noqa: E402
from quality_dga import DgaResult, run_dga  # noqa: E402
from quality_dga import rows as dga_rows  # noqa: E402
from quality_dga import section as dga_section  # noqa: E402
from quality_dns import DGA_TYPES, DnsListResult, run_dns_lists  # noqa: E402
from quality_reputation import ReputationResult, run_reputation  # noqa: E402
from quality_reputation import rows as reputation_rows  # noqa: E402
from quality_reputation import section as reputation_section  # noqa: E402
from quality_exfil import ExfilResult, run_exfil  # noqa: E402
from quality_sim import SimResult, describe, recall_by_type, run_estate, summary  # noqa: E402
from quality_zeek import BEHAVIOUR_TYPES, BenignResult, CaptureResult, ScenarioResult, run_zeek, run_zeek_benign  # noqa: E402

from trailhound.detectors import implemented_finding_types  # noqa: E402

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
SMALL = {"seeds": (7,), "scale": 0.1, "days": 3}
FULL = {"seeds": (7, 11), "scale": 2.0, "days": 14}


@dataclass
class Results:
    small: bool
    sim: list[SimResult]
    stratus: StratusResult
    panther: list[PantherTest]
    stratus_baseline: StratusBaseline | None = None
    invictus: LabelledResult | None = None
    otrf: list[LabelledResult] = field(default_factory=list)
    dns: DnsListResult | None = None
    exfil: ExfilResult | None = None
    dga: DgaResult | None = None
    reputation: ReputationResult | None = None
    zeek: list[CaptureResult] = field(default_factory=list)
    zeek_benign: list[BenignResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def panther_disagreements(self) -> list[PantherTest]:
        return [t for t in self.panther if not t.agrees]

    @property
    def zeek_scenarios(self) -> list[ScenarioResult]:
        return [sc for z in self.zeek for sc in z.scenarios]

    def zeek_caught(self, actor: str, ftype: str, role: str) -> bool:
        wanted = (actor, ftype, role)
        return any(sc.caught for sc in self.zeek_scenarios if (sc.scenario.actor, sc.scenario.type, sc.scenario.role) == wanted)


def run(small: bool, shared: Path = SHARED, work: Path | None = None) -> Results:
    work = work or Path(tempfile.mkdtemp(prefix="trailhound-quality-"))
    cfg = SMALL if small else FULL
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., T], *args: Any) -> T:
        t = time.perf_counter()
        out = fn(*args)
        seconds[name] = time.perf_counter() - t
        return out

    sim = timed("simulated estates", lambda: [run_estate(work / f"estate-{s}", s, cfg["scale"], cfg["days"]) for s in cfg["seeds"]])
    res = Results(small, sim, timed("stratus", run_stratus, shared), timed("panther", run_panther, shared, work), seconds=seconds)
    res.stratus_baseline = timed("stratus after a baseline", run_stratus_baseline, shared, work, STRATUS)
    if not small:
        res.invictus = timed("invictus", run_invictus, shared)
        res.otrf = timed("otrf", run_otrf, shared, work)
        res.dns = timed("dns lists", run_dns_lists, shared, work)
        res.exfil = timed("dns tunnels", run_exfil, shared, work)
        res.dga = timed("dga leave-one-family-out", run_dga, shared)
        res.reputation = timed("domain reputation on benign lists", run_reputation, shared, work)
    res.zeek = timed("zeek", run_zeek, shared, work, small)
    res.zeek_benign = timed("zeek benign parts", run_zeek_benign, shared, work, small)
    return res


# ---- rendering ---------------------------------------------------------------------------------

NOT_IMPLEMENTED = "not implemented"


def _types(types: frozenset[str] | set[str]) -> str:
    implemented = set(implemented_finding_types())
    return ", ".join(f"{t}" + ("" if t in implemented else f" ({NOT_IMPLEMENTED})") for t in sorted(types)) or "no GuardDuty equivalent"


def summary_rows(r: Results) -> list[list[str]]:
    rows = _sim_rows(r) + _stratus_rows(r.stratus) + _baseline_rows(r.stratus_baseline) + [_panther_row(r.panther)]
    if r.invictus:
        rows += _invictus_rows(r.invictus)
    rows += [_otrf_row(o) for o in r.otrf]
    if r.dns:
        rows += _dns_rows(r.dns)
    if r.exfil:
        rows += _exfil_rows(r.exfil)
    if r.dga:
        rows += dga_rows(r.dga)
    if r.reputation:
        rows += reputation_rows(r.reputation)
    if r.zeek:
        rows += _zeek_rows(r)
    rows.append(["Run time", f"{sum(r.seconds.values()):.0f} s", ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items())])
    return rows


def _sim_rows(r: Results) -> list[list[str]]:
    s = summary(r.sim)
    recall = recall_by_type(r.sim)
    full_types = sum(1 for caught, n in recall.values() if caught == n)
    unsimulated = sorted(set(implemented_finding_types()) - set(recall))
    cfg = SMALL if r.small else FULL
    background = per_100k(s["unexplained_findings"], s["benign_events"])
    return [
        ["Simulated estates: attack cases caught", f"{s['caught']}/{s['firing']} ({pct(s['caught'], s['firing'])})",
         f"{len(r.sim)} estate(s), seeds {', '.join(map(str, cfg['seeds']))}, scale {cfg['scale']}, {cfg['days']} days + attack day"],
        ["Simulated finding types with full recall", f"{full_types}/{len(recall)}", "implemented but not simulated: " + (", ".join(unsimulated) or "none")],
        ["Must-not violations (near misses that fired)", f"{s['violations']}/{s['near_misses']}",
         "" if not s.get("justified") else f"not counted: {', '.join(s['justified'])}, which raised only a type its case declares "
         "justified (see below)"],
        ["Findings on the simulated benign background", f"{s['unexplained_findings']} ({background:.2f} per 100k events)",
         f"{s['benign_events']:,} benign events"],
        ["Unexpected extra types on attack records", str(s["other_types"]), ""],
        _benign_filter_row(),
    ]


def _benign_filter_row() -> list[str]:
    """What the known-benign filter took out of the packaged lists (intel/data/manifest.json, written by intel.build)."""
    from trailhound.intel.builtin import packaged_manifest

    removed: Counter[str] = Counter()
    demoted = 0
    for e in packaged_manifest()["lists"]:
        f = e.get("benign_filter") or {}
        removed.update(f.get("removed", {}))
        removed.update(f.get("cut", {}))
        demoted += f.get("demoted_to_sinkhole", 0)
    return ["Packaged indicators filtered as known-benign infrastructure", f"{sum(removed.values())} removed, {demoted} demoted to sinkhole",
            ", ".join(f"{k} {v}" for k, v in removed.most_common()) + "; the background contacts apt mirrors (security.ubuntu.com "
            "185.125.190.83), NTP, PyPI, Docker Hub, GitHub, npm and AWS endpoints at their real addresses"]


def _stratus_rows(st: StratusResult) -> list[list[str]]:
    no_equivalent = sum(1 for t in st.techniques if not t.expected)
    missing = len(st.techniques) - len(st.coverable) - no_equivalent
    notes = [f"{len(st.coverable)} have an implemented type"]
    if missing:
        notes.append(f"{missing} need one not implemented")
    if no_equivalent:
        notes.append(f"{no_equivalent} have no GuardDuty equivalent")
    return [
        ["Stratus techniques covered", f"{len(st.covered)}/{len(st.techniques)}",
         ", ".join(notes) + "; without a baseline (the detonation logs alone), only rules can fire: the behaviour types need the "
         "identity's history (see the next table)"],
        ["Stratus findings not justified by the technique", str(sum(len(t.unjustified) for t in st.techniques)), ""],
    ]


def _baseline_rows(st: StratusBaseline | None) -> list[list[str]]:
    if st is None:
        return []
    misses = [t.technique.removeprefix("aws.") for t in st.techniques if not t.covered]
    return [["Stratus techniques after a 14-day baseline of the same principals", f"{len(st.covered)}/{len(st.techniques)}",
             f"mapped type raised on the detonation; missed: {', '.join(misses) or 'none'}"],
            ["Findings on those baselines and on an ordinary day after them", str(len(st.false_positives)),
             f"{sum(t.baseline_events for t in st.techniques):,} re-keyed habit events before the detonations"]]


def _panther_row(tests: list[PantherTest]) -> list[str]:
    agree = sum(t.agrees for t in tests)
    kinds = Counter(t.note[0] for t in tests if not t.agrees)
    rules = len({t.rule for t in tests})
    return ["Panther rule tests agreeing", f"{agree}/{len(tests)} ({pct(agree, len(tests))})",
            f"{rules} rules that map to implemented types; disagreements: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none")]


def _invictus_rows(inv: LabelledResult) -> list[list[str]]:
    benign_events = inv.events_of(BENIGN_LABELS)
    benign = inv.findings_on(BENIGN_LABELS)
    attacked = {(s.api, s.time) for s, _ in inv.sightings_on(ATTACK_LABELS)}
    setup = len(inv.sightings_on(("attack_setup_or_cleanup_terraform",)))
    return [
        ["Invictus: findings on benign events", f"{len(benign)} ({per_100k(len(benign), benign_events):.0f} per 100k)", f"{benign_events} benign events"],
        ["Invictus: attack events raising a finding", f"{len(attacked)}/{inv.events_of(ATTACK_LABELS)}", f"{setup} on Stratus set-up/clean-up events"],
    ]


def _otrf_row(o: LabelledResult) -> list[str]:
    attack = tuple(label for label in o.events if label.startswith("attack"))
    benign = tuple(label for label in o.events if not label.startswith("attack"))
    hit = len({(s.api, s.time) for s, _ in o.sightings_on(attack)})
    note = f"{len(o.findings_on(benign))} findings on {o.events_of(benign)} benign events" if benign else ""
    return [f"OTRF {o.name.removeprefix('otrf-')}: attack events raising a finding", f"{hit}/{o.events_of(attack)}", note]


def _dns_rows(d: DnsListResult) -> list[list[str]]:
    def recall_precision(kind: str, types: tuple[str, ...]) -> str:
        tp, positives, flagged = d.detection(kind, types)
        return f"{tp}/{positives} / " + (f"{tp}/{flagged}" if flagged else "n/a")

    flagged = {n for x in d.of_kind("benign") for n in x.flagged}
    return [
        ["DGA names (360 Netlab): recall / precision", recall_precision("dga", DGA_TYPES),
         ".B: bursts judged per instance (this replay mixes them into a day of other lookups); .C!DNS: names on packaged lists"],
        ["Benign DNS names raising a finding", f"{len(flagged)}/{len(d.names('benign')):,}", "OpenDNS top/random (2014), netrack plain names"],
    ]


def _zeek_rows(r: Results) -> list[list[str]]:
    caps = r.zeek
    events = sum(z.events for z in caps)
    found = sum(len(z.findings) for z in caps)
    top, n = sum((z.types for z in caps), Counter()).most_common(1)[0]
    opened = sum(len(z.remote_opened_contacts) for z in caps)
    counted = [sc for sc in r.zeek_scenarios if sc.counted]
    missed = [f"{sc.scenario.actor} ({sc.capture})" for sc in counted if not sc.caught]
    unexplained = sum(len(z.unexplained) for z in caps)
    rows = [["Zeek captures: findings per 100k flow/DNS records", f"{per_100k(found, events):.0f} ({found} on {events:,})",
             f"{len(caps)} captures; most are {top} (×{n}); {opened} contact-type findings only on connections the remote side opened"],
            ["Zeek behaviour scenarios caught (Portscan, SSH brute force)", f"{sum(sc.caught for sc in counted)}/{len(counted)}",
             f"attackers/scanners by address, with role; missed: {', '.join(missed) or 'none'}; "
             f"{len(r.zeek_scenarios) - len(counted)} more out of scope; {unexplained} behaviour findings no scenario explains"]]
    if r.zeek_benign:
        b_events = sum(b.events for b in r.zeek_benign)
        b_types = sum((b.types for b in r.zeek_benign), Counter())
        behaviour = sum(len(b.behaviour) for b in r.zeek_benign)
        rows.append(["Zeek benign traffic: findings per 100k records", f"{per_100k(sum(b_types.values()), b_events):.0f} "
                     f"({sum(b_types.values())} on {b_events:,})", f"{len(r.zeek_benign)} benign parts; {behaviour} behaviour findings; "
                     + (", ".join(f"{t} ×{k}" for t, k in sorted(b_types.items())) or "no findings")])
    return rows


def render(r: Results) -> str:
    mode = "small, for CI" if r.small else "full"
    out = [f"# Trailhound detection quality ({mode})", "",
           f"Generated by `bench/quality.py{' --small' if r.small else ''}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
           "with the packaged threat intelligence only.", "",
           md_table(["Measure", "Result", "Notes"], summary_rows(r)), ""]
    out += _sim_section(r.sim) + _stratus_section(r.stratus)
    if r.stratus_baseline:
        out += ["## Stratus Red Team after a learned baseline", "", (quality_stratus.__doc__ or "").strip(), "",
                quality_stratus.markdown(r.stratus_baseline)]
    out += _panther_section(r.panther)
    if r.invictus:
        out += _labelled_section("Invictus CloudTrail (labels: event_labels.csv.gz)", r.invictus)
    for o in r.otrf:
        out += _labelled_section(f"OTRF {o.name}", o)
    if r.dns:
        out += _dns_section(r.dns)
    if r.exfil:
        out += _exfil_section(r.exfil)
    if r.dga:
        out += dga_section(r.dga)
    if r.reputation:
        out += reputation_section(r.reputation)
    if r.zeek:
        out += _zeek_section(r.zeek) + _zeek_behaviour_section(r)
    return "\n".join(out).rstrip() + "\n"


def _sim_section(runs: list[SimResult]) -> list[str]:
    recall = recall_by_type(runs)
    out = ["## Simulated estates", "",
           "Per-type recall (a case is caught when a finding of its type is raised on the case's own record):", "",
           md_table(["Finding type", "Caught"], [[t, f"{c}/{n}"] for t, (c, n) in recall.items()]), ""]
    missing = sorted(set(implemented_finding_types()) - set(recall))
    out += [f"Implemented types without a simulated case: {', '.join(missing) or 'none'}.", ""]
    problems = [(run.seed, c) for run in runs for c in run.cases if (c.expect and (not c.caught or c.other_types)) or (not c.expect and c.other_types)]
    if problems:
        out += ["Misses, violations and extra types:", ""]
        for seed, c in problems:
            what = "missed" if c.expect and not c.caught else ("fired" if not c.expect else "extra types")
            found = ", ".join(sorted({s.type for s in c.sightings})) or "nothing"
            out.append(f"- seed {seed} `{c.name}` (expects {c.expect or 'silence'}): {what}; raised {found}")
        out.append("")
    unexplained = [(run.seed, s) for run in runs for s in run.unexplained]
    out += [f"Findings on the benign background: {len({s.finding_id for _, s in unexplained})}.", ""]
    out += [f"- seed {seed}: {describe(s)}" for seed, s in unexplained[:50]]
    for run in runs:
        if run.problems:
            out.append(f"- seed {run.seed}: {len(run.problems)} input problems, e.g. {run.problems[0]}")
    return out + [""]


def _stratus_section(st: StratusResult) -> list[str]:
    rows = []
    for t in st.techniques:
        raised = ", ".join(f"{k} ({', '.join(sorted(set(v)))})" for k, v in sorted(t.raised.items())) or "-"
        rows.append([t.technique, t.events, _types(t.expected), "yes" if t.covered else "no", raised, t.note])
    out = ["## Stratus Red Team detonation logs", "",
           "Each technique is scanned alone. Expected types follow the rule in bench/quality_cloudtrail.py: the type GuardDuty "
           "documents for the technique or API, else the IAM AnomalousBehavior family of the technique's tactic, else the family "
           "GuardDuty lists the API under. AnomalousBehavior types are ML: GuardDuty would raise them only when the call is unusual.", "",
           md_table(["Technique", "Events", "GuardDuty would raise", "Covered", "Trailhound raised", "Why"], rows), ""]
    misses = [t for t in st.techniques if t.expected and not t.covered]
    out += [f"Misses: {len(misses)} techniques with a GuardDuty type are not covered; "
            f"{sum(1 for t in misses if not t.expected & set(implemented_finding_types()))} of them need a type Trailhound does not implement.", ""]
    by_type: dict[str, list[str]] = {}
    for t in misses:
        by_type.setdefault(_types(t.expected), []).append(t.technique.removeprefix("aws."))
    out += [f"- {types}: {', '.join(names)}" for types, names in sorted(by_type.items())] + [""]
    unjust = [(t.technique, sorted(t.unjustified)) for t in st.techniques if t.unjustified]
    out += [f"Unjustified findings: {', '.join(f'{k}: {v}' for k, v in unjust) or 'none'}."]
    if st.unknown_files:
        out += [f"Files without a mapping (not counted): {', '.join(st.unknown_files)}."]
    return out + [""]


def _panther_section(tests: list[PantherTest]) -> list[str]:
    by_rule: dict[str, list[PantherTest]] = {}
    for t in tests:
        by_rule.setdefault(t.rule, []).append(t)
    rows = [[rule, ", ".join(sorted(ts[0].mapped)), sum(t.agrees for t in ts), sum(not t.agrees for t in ts)] for rule, ts in by_rule.items()]
    out = ["## Panther rule tests", "",
           "Each test's `log` is written as the service logs it (Panther's `p_*` fields dropped; Route 53 records get the "
           "service's timestamp and answer-list form back) and scanned alone. Only rules that correspond to an implemented "
           "type are used, and for rules that cover more than that type only the tests of the corresponding API.", "",
           md_table(["Panther rule", "Trailhound type", "Agree", "Disagree"], rows), "",
           "Disagreements (semantics = Trailhound follows GuardDuty's meaning; intel = indicator not on the packaged lists; "
           "detector = possible Trailhound issue; new = unexplained):", ""]
    for t in tests:
        if not t.agrees:
            kind, why = t.note
            out.append(f"- {t.rule} / \"{t.name}\": Panther expects {str(t.expected).lower()}, Trailhound "
                       f"{'fired' if t.fired else 'silent'} — {kind}: {why}")
    problems = [t for t in tests if t.problems]
    out += [""] + [f"- input problem in {t.rule} / \"{t.name}\": {t.problems[0]}" for t in problems]
    return out + [""]


def _labelled_section(title: str, res: LabelledResult) -> list[str]:
    out = [f"## {title}", "", md_table(["Label", "Events", "Findings raised on them"],
                                      [[label, n, len(res.findings_on((label,)))] for label, n in sorted(res.events.items())]), ""]
    hits = Counter((s.type, s.api, ", ".join(labels)) for s, labels in res.hits)
    if hits:
        out += ["Findings by event:", ""] + [f"- {t} on {api} ({labels}): {n}×" for (t, api, labels), n in sorted(hits.items())]
    else:
        out.append("No findings.")
    out += [f"- note: {n}" for n in res.notes]
    return out + [""]


def _dns_section(d: DnsListResult) -> list[str]:
    rows = [[x.source.name, x.source.kind, x.distinct, len(x.flagged),
             ", ".join(f"{t} ×{n}" for t, n in sorted(Counter(t for ts in x.flagged.values() for t in ts).items())) or "-"] for x in d.lists]
    out = ["## DGA and DNS-tunnelling names", "",
           f"{d.queries:,} queries from one instance over a day, lists interleaved. DGA bursts are judged per instance "
           "(leave-one-family-out below); tunnelling per session in the next section.", "",
           md_table(["List", "Kind", "Distinct names", "Names with a finding", "Types"], rows), ""]
    for x in d.lists:
        if x.source.kind == "benign" and x.flagged:
            out += [f"- benign name flagged ({x.source.name}): {n} -> {', '.join(sorted(ts))}" for n, ts in sorted(x.flagged.items())[:20]]
    return out + [""]


def _exfil_rows(x: ExfilResult) -> list[list[str]]:
    found, tunnels = x.recall
    true, flagged = x.precision
    benign = x.of_kind("benign")
    encoded = sum(s.encoded_names for s in benign)
    return [
        ["DNS tunnelling sessions detected (recall)", f"{found}/{tunnels} ({pct(found, tunnels)})",
         ", ".join(s.name for s in x.of_kind("tunnel")) + "; one instance each"],
        ["DNS exfiltration findings on tunnels (precision)", f"{true}/{flagged} ({pct(true, flagged)})",
         f"{sum(s.found for s in benign)} on {len(benign)} benign sessions ({sum(len(s.queries) for s in benign):,} queries, "
         f"{encoded:,} with encoded-looking labels): plain/OpenDNS names, AV reputation, CDN/ELB/Lambda hashes, DKIM/ACME, probes, "
         "service discovery, AWS endpoints"],
    ]


def _exfil_section(x: ExfilResult) -> list[str]:
    rows = [[s.name, s.kind, f"{len(s.queries):,}", f"{s.encoded_names:,}", s.found, ", ".join(sorted(s.domains)) or "-"] for s in x.sessions]
    return ["## DNS tunnelling sessions (Trojan:EC2/DNSDataExfiltration)", "",
            f"{x.queries:,} queries; each session is one instance's. Encoded names: queries whose labels look encoded "
            "(what the detector counts) — outside the zones it knows cannot carry data out or read names by design.", "",
            md_table(["Session", "Kind", "Queries", "Encoded names", "Findings", "Domain named"], rows), ""]


def _zeek_section(caps: list[CaptureResult]) -> list[str]:
    rows = []
    for z in caps:
        types = ", ".join(f"{t} ×{n}" for t, n in sorted(z.types.items())) or "-"
        labels = ", ".join(f"{k} {v}" for k, v in sorted(z.labels_hit.items())) or "-"
        rows.append([z.capture.name, z.capture.monitored_hosts, z.converted.connections, z.flows, len(z.converted.dns_records),
                     len(z.findings), f"{per_100k(len(z.findings), z.events):.0f}" if z.events else "-", types, labels, z.capture.expect])
    out = ["## Zeek captures (Stratosphere, Slips, RITA) via bench/zeek2aws.py", "",
           "Findings per 100k records (flow records + DNS queries); 'labels hit' counts sightings by the label of the flows "
           "(or DNS queries) with the same remote address (or name). How connections become flow records (direction, "
           "REJECT/ACCEPT) is documented in bench/zeek2aws.py.", "",
           md_table(["Capture", "Monitored (--local)", "Connections", "Flow records", "DNS queries", "Findings", "per 100k records",
                     "Types", "Labels hit", "GuardDuty would raise"], rows), ""]
    opened = [(z.capture.name, ss) for z in caps for ss in z.remote_opened_contacts.values()]
    if opened:
        blocked = sum(1 for _, ss in opened if any(s.blocked for s in ss))
        replies = sum(1 for _, ss in opened if any(s.direction == "OUTBOUND" for s in ss))
        out += [f"Contact-type findings (C&C, mining, sinkhole, Tor client, custom list: GuardDuty's \"the instance is querying / "
                f"communicating with\" a listed address) raised only on connections the remote side opened: {len(opened)} "
                f"({replies} on the instance's replies, flow-direction egress; {blocked} on REJECTed inbound attempts), e.g.:", ""]
        out += [f"- {name}: {s.type} {s.direction}{' (blocked)' if s.blocked else ''} local port {s.local_port} "
                f"{'->' if s.direction == 'OUTBOUND' else '<-'} {s.remote_ip}:{s.remote_port}" for name, ss in _few_per(opened, 3) for s in ss[-1:]]
    return out + [""]


def _scenario_rows(scenarios: list[ScenarioResult]) -> list[list[Any]]:
    """One row per scenario; more than three out-of-scope scenarios of one capture and reason share a row."""
    groups: dict[tuple[str, str], list[ScenarioResult]] = {}
    for sc in scenarios:
        groups.setdefault((sc.capture, sc.scenario.out_of_scope or sc.scenario.actor), []).append(sc)
    rows = []
    for group in groups.values():
        sc, s = group[0], group[0].scenario
        expected = f"{_short(s.type)} {s.role}" if s.type else "none"
        result = ("caught" if sc.caught else "**missed**") if sc.counted else f"not counted: {s.out_of_scope or 'no GuardDuty type'}"
        if len(group) > 3:
            rows.append([sc.capture, sc.monitored, f"{len(group)} sources, e.g. {', '.join(g.scenario.actor for g in group[:3])}",
                         f"{s.truth.split(':')[0]} (see note)", expected, sum(g.records for g in group),
                         f"{expected} for {sum(g.caught for g in group)} of them", result])
            continue
        raised = [f"{expected} ×{len(sc.matched)} from {iso(min(x.time for x in sc.matched))}"] if sc.matched else []
        raised += [f"{_short(t)} ×{n}" for t, n in sorted(sc.other.items())]
        rows.append([sc.capture, sc.monitored, s.actor, s.truth, expected, sc.records, "; ".join(raised) or "nothing", result])
    return rows


def _zeek_behaviour_section(r: Results) -> list[str]:
    rows = _scenario_rows(r.zeek_scenarios)
    counted = [sc for sc in r.zeek_scenarios if sc.counted]
    out = ["## Zeek captures: behaviour ground truth (recall per scenario)", "",
           "Each scenario is an attacker or scanner the capture is known for. Caught = a finding of the expected type names it in "
           "the expected role: TARGET, the actor is the finding's remote address; ACTOR, the actor is the instance (GuardDuty's "
           "Portscan and PortSweep are about the monitored instance scanning others, so each capture's `--local` host is the one "
           "the scenario is about). 'Flow records' counts converted records with the actor's address (0: the capture's conn.log "
           "has no connection of it with a monitored end).", "",
           f"Recall: {sum(sc.caught for sc in counted)}/{len(counted)} scenarios in scope.", "",
           md_table(["Capture", "Monitored (--local)", "Actor", "Ground truth", "Expected", "Flow records",
                     "Trailhound raised (naming the actor)", "Result"], rows), ""]
    out += [f"- {z.capture.name}: {z.truth_note}" for z in r.zeek if z.truth_note] + [""]
    unexplained = [(z.capture.name, f) for z in r.zeek for f in z.unexplained]
    out += [f"Behaviour findings ({', '.join(sorted(_short(t) for t in BEHAVIOUR_TYPES))}) that no scenario explains: "
            f"{len(unexplained)}.", ""] + [f"- {name}: {_evidence(f)}" for name, f in unexplained]
    if r.zeek_benign:
        rows = [[b.capture, b.part, b.events, len(b.findings), f"{per_100k(len(b.findings), b.events):.0f}",
                 ", ".join(f"{t} ×{n}" for t, n in sorted(b.types.items())) or "-"] for b in r.zeek_benign]
        events, total = sum(b.events for b in r.zeek_benign), sum((b.types for b in r.zeek_benign), Counter())
        rows.append(["**all benign parts**", "", events, sum(total.values()), f"{per_100k(sum(total.values()), events):.1f}",
                     ", ".join(f"{t} {per_100k(n, events):.1f}" for t, n in sorted(total.items())) + " per 100k" if total else "-"])
        found = sorted(((b.capture, f) for b in r.zeek_benign for f in b.findings), key=lambda x: x[1]["type"] not in BEHAVIOUR_TYPES)
        behaviour = sum(1 for _, f in found if f["type"] in BEHAVIOUR_TYPES)
        out += ["", "### Benign traffic", "",
                "Each capture's benign part is converted and scanned on its own, so every finding there is a false positive "
                "(or a threat-list hit on a benign address).", "",
                md_table(["Capture", "Benign part", "Records", "Findings", "per 100k records", "Types"], rows), "",
                f"Findings on benign traffic, behaviour findings ({behaviour}) first:", ""]
        out += [f"- {name}: {_evidence(f)}" for name, f in found[:40]]
    return out + [""]


def _short(ftype: str) -> str:
    return ftype.split("/", 1)[-1]


def _evidence(f: dict) -> str:
    """A stored finding as a human judges it: what, where, when and the detector's own numbers."""
    service = f.get("service") or {}
    info = (service.get("additionalInfo") or {}).get("value") or "{}"
    return (f"{f['type']} {service.get('resourceRole')} ×{service.get('count')}, {service.get('eventFirstSeen')} – "
            f"{service.get('eventLastSeen')}: {f.get('description')} ({info})")


def _few_per(items: list[tuple[str, list]], n: int) -> list[tuple[str, list]]:
    seen: Counter[str] = Counter()
    out = []
    for name, value in items:
        seen[name] += 1
        if seen[name] <= n:
            out.append((name, value))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="one small estate, Stratus, Panther and three Zeek captures (CI, under 20 s)")
    ap.add_argument("-o", "--output", type=Path, help="Markdown results file")
    ap.add_argument("--shared", type=Path, default=SHARED, help="the shared/data folder")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trailhound-quality-") as work:
        os.environ["TRAILHOUND_INTEL_DIR"] = str(Path(work) / "no-refreshed-intel")
        results = run(args.small, args.shared, Path(work))
    text = render(results)
    output = args.output or (HERE / "out" / "quality_results_small.md" if args.small else HERE / "quality_results.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    print(f"written to {output} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
