"""The estate's network: what each instance looks up, what the answers are, and which peers it then
talks to (and which talk to it). Flow-log peers are the addresses the DNS answers gave out, so the
flow and DNS logs agree with each other and with the inventory."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

import orjson

from trailhound.simulator.domains import BENIGN_GROUPS, DOMAINS, FIXED_ANSWERS, IP_GROUPS, KIND_DNS, V6_GROUPS
from trailhound.simulator.estate import Account, Estate, Instance
from trailhound.simulator.spec import hexid, region_short, unlisted_ip


@dataclass
class Zone:
    """Answers per name, and each distinct query serialised once as the middle piece of a query-log line."""

    pieces: list[str] = field(default_factory=list)
    piece_index: dict[tuple[str, str], int] = field(default_factory=dict)
    a_records: dict[str, list[str]] = field(default_factory=dict)
    v6: dict[str, list[str]] = field(default_factory=dict)

    def piece(self, name: str, qtype: str, rcode: str, answers: list[dict]) -> int:
        key = (name, qtype)
        got = self.piece_index.get(key)
        if got is not None:
            return got
        body = orjson.dumps({"query_name": name, "query_type": qtype, "query_class": "IN", "rcode": rcode, "answers": answers})
        # the line is head + timestamp + piece + srcaddr + srcport + tail; the piece closes the timestamp
        # string and opens the srcaddr one
        self.pieces.append('",' + body[1:-1].decode() + ',"srcaddr":"')
        self.piece_index[key] = len(self.pieces) - 1
        return len(self.pieces) - 1


def _v6(r: random.Random, prefix: str) -> str:
    if prefix.endswith("::"):
        return prefix + f"{r.randint(1, 0xfff):x}"
    missing = 8 - len(prefix.rstrip(":").split(":"))
    return prefix + ":".join(f"{r.randint(0, 0xffff):x}" for _ in range(missing))


def _draw(r: random.Random, prefix: str) -> str:
    parts = prefix.rstrip(".").split(".")
    while len(parts) < 3:
        parts.append(str(r.randint(1, 254)))
    return ".".join([*parts, str(r.randint(2, 253))])


def _managed_ip(acct: Account, k: int) -> str:
    """Private address of the account's k-th managed endpoint (.200-.249; instances use .4-.199)."""
    return f"10.0.{acct.subnets[k % len(acct.subnets)][2]}.{200 + (k * 7 + acct.idx) % 50}"


def _answer(rdata: str, rtype: str) -> dict:
    return {"Rdata": rdata, "Type": rtype, "Class": "IN"}


def _rev(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."


class Network:
    """Per-instance DNS query mixes and flow-peer templates, both built from one zone."""

    def __init__(self, est: Estate) -> None:
        self.est = est
        spec = est.spec
        self.rnd = random.Random(f"{spec.seed}:network")
        self.zone = Zone()
        self.region = spec.region
        self.queries: dict[int, list[tuple[int, float]]] = {}
        self.peers: dict[int, list[tuple[str, int, int, int, int, float]]] = {}  # ip, port, proto, pattern, profile, weight
        self._cdn_names = self._make_cdn_names()
        for inst in est.instances:
            self._build_instance(inst)

    def _make_cdn_names(self) -> list[tuple[str, str]]:
        r = self.rnd
        low = string.ascii_lowercase + string.digits
        names = [(f"d{''.join(r.choices(low, k=13))}.cloudfront.net.", "cloudfront") for _ in range(40)]
        names += [(f"{hexid(r, 32)}.s3.amazonaws.com.", "s3") for _ in range(12)]
        names += [(f"a{hexid(r, 31)}-{r.randint(10 ** 8, 10 ** 9 - 1)}.{self.region}.elb.amazonaws.com.", "ec2") for _ in range(8)]
        names += [(f"{''.join(r.choices(low, k=10))}.execute-api.{self.region}.amazonaws.com.", "aws") for _ in range(8)]
        names += [(f"e{r.randint(1000, 99999)}.a.akamaiedge.net.", "akamai") for _ in range(10)]
        names += [(f"{hexid(r, 16)}.global.ssl.fastly.net.", "fastly") for _ in range(6)]
        return names

    def _resolve(self, name: str, group: str, cname: str = "") -> list[str]:
        if name not in self.zone.a_records:
            r = random.Random(f"{self.est.spec.seed}:dns:{name}")
            prefixes = IP_GROUPS[group]
            n = r.randint(1, 4) if group in ("fastly", "cloudflare", "cloudfront", "akamai", "s3", "msft") else r.randint(1, 2)
            if name in FIXED_ANSWERS:
                self.zone.a_records[name] = sorted(FIXED_ANSWERS[name])
            elif group in BENIGN_GROUPS:  # listed or not: the known-benign filter must hold
                self.zone.a_records[name] = sorted({_draw(r, r.choice(prefixes)) for _ in range(n)})
            else:
                self.zone.a_records[name] = sorted({unlisted_ip(r, r.choice(prefixes)) for _ in range(n)})
            v6p = V6_GROUPS.get(group)
            # most AWS endpoints are IPv4-only; S3 answers AAAA only on its dualstack names
            if v6p and (group != "s3" or "dualstack" in name) and (cname or r.random() < 0.6):
                self.zone.v6[name] = [_v6(r, v6p) for _ in range(min(2, n))]
        return self.zone.a_records[name]

    def _lookup_pieces(self, name: str, group: str, cname: str) -> tuple[int, int]:
        ips = self._resolve(name, group, cname)
        chain = [_answer(cname, "CNAME")] if cname else []
        a_piece = self.zone.piece(name, "A", "NOERROR", chain + [_answer(ip, "A") for ip in ips])
        aaaa = [_answer(ip, "AAAA") for ip in self.zone.v6.get(name, [])]
        aaaa_piece = self.zone.piece(name, "AAAA", "NOERROR", chain + aaaa)
        return a_piece, aaaa_piece

    def _build_instance(self, inst: Instance) -> None:
        r = random.Random(f"{self.est.spec.seed}:inst-net:{inst.instance_id}")
        est = self.est
        reg = self.region
        q: list[tuple[int, float]] = []
        peers: list[tuple[str, int, int, int, int, float]] = []
        linux = inst.os != "windows"

        def add_domain(name: str, group: str, port: int, cname: str, w: float) -> None:
            name = name.format(r=reg)
            cname = cname.format(r=reg)
            w *= r.uniform(0.5, 2.0)
            a_p, aaaa_p = self._lookup_pieces(name, group, cname)
            q.append((a_p, w))
            if linux or r.random() < 0.3:
                q.append((aaaa_p, w * 0.45))
            if r.random() < 0.08:  # resolv.conf search-domain expansion before the real lookup
                bogus = f"{name}{est.internal_suffix}."
                q.append((self.zone.piece(bogus, "A", "NXDOMAIN", []), w * 0.1))
            ips = self.zone.a_records[name]
            if port:
                proto = 17 if port == 123 else 6
                profile = 2 if port == 123 else (1 if port == 80 else 0)
                for ip in ips:
                    peers.append((ip, port, proto, 0, profile, w / len(ips)))

        for section in KIND_DNS[inst.kind]:
            if section == "cdn":
                for name, group in r.sample(self._cdn_names, k=min(12, len(self._cdn_names))):
                    add_domain(name, group, 443, "", r.uniform(0.05, 0.6))
                continue
            rows = DOMAINS[section]
            keep = rows if section == "aws" else [row for row in rows if r.random() < 0.8] or list(rows[:1])
            for name, group, port, cname, w in keep:
                add_domain(name, group, port, cname, w)

        acct = inst.acct
        kind = inst.kind
        svc_hash = hexid(random.Random(f"{self.est.spec.seed}:svc:{acct.account_id}"), 12)
        # the account's own registry and ECR layer bucket: public AWS addresses
        aws_names = (
            (f"{acct.account_id}.dkr.ecr.{reg}.amazonaws.com.", "aws", 2.0 if kind in ("ci-runner", "api", "worker", "web") else 0.0),
            (f"prod-{reg}-starport-layer-bucket.s3.{reg}.amazonaws.com.", "s3", 1.0 if kind == "ci-runner" else 0.0),
        )
        for name, group, w in aws_names:
            if w:
                add_domain(name, group, 443, "", w)
        # managed services inside the VPC (RDS, ElastiCache, internal ALB) resolve to private addresses
        managed = (
            (f"{acct.env}-db.cluster-{svc_hash}.{reg}.rds.amazonaws.com.", 0, 5432, 3.0 if kind in ("api", "worker", "web") else 0.0),
            (f"{acct.env}-db.cluster-ro-{svc_hash}.{reg}.rds.amazonaws.com.", 1, 5432, 1.0 if kind in ("api", "web") else 0.0),
            (f"{acct.env}-redis.{svc_hash[:6]}.ng.0001.{region_short(reg)}.cache.amazonaws.com.", 2, 6379, 2.0 if kind in ("api", "web") else 0.0),
            (f"internal-{acct.env}-api-{int(svc_hash[:7], 16) % 10 ** 9}.{reg}.elb.amazonaws.com.", 3, 443, 2.0 if kind == "web" else 0.0),
        )
        for name, k, port, w in managed:
            if not w:
                continue
            ip = _managed_ip(acct, k)
            q.append((self.zone.piece(name, "A", "NOERROR", [_answer(ip, "A")]), w))
            q.append((self.zone.piece(name, "AAAA", "NOERROR", []), w * 0.4))
            peers.append((ip, port, 6, 0, 4, w * 3))

        # instance-to-instance traffic inside the account
        others = [o for o in acct.instances if o is not inst]
        if inst.kind == "web":
            for o in [o for o in others if o.kind == "api"][:3]:
                q.append((self.zone.piece(o.private_dns + ".", "A", "NOERROR", [_answer(o.private_ip, "A")]), 0.5))
                peers.append((o.private_ip, 8080, 6, 0, 4, 2.0))
        if inst.kind == "db":
            for o in [o for o in others if o.kind in ("api", "worker")][:4]:
                peers.append((o.private_ip, 5432, 6, 1, 4, 2.0))
        if inst.kind == "api":
            for o in [o for o in others if o.kind == "web"][:3]:
                peers.append((o.private_ip, 8080, 6, 1, 4, 2.0))

        # reverse lookups: a peer or two, and the instance's own name (cloud-init, sshd, ...)
        q.append((self.zone.piece(_rev(inst.private_ip), "PTR", "NOERROR", [_answer(inst.private_dns + ".", "PTR")]), 0.3))
        for ip, *_ in r.sample(peers, k=min(3, len(peers))):
            if ip.startswith("10."):
                continue
            if ip.startswith(IP_GROUPS["ec2"]):
                ptr = f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com." if reg == "us-east-1" else f"ec2-{ip.replace('.', '-')}.{reg}.compute.amazonaws.com."
                q.append((self.zone.piece(_rev(ip), "PTR", "NOERROR", [_answer(ptr, "PTR")]), 0.05))
            else:
                q.append((self.zone.piece(_rev(ip), "PTR", "NXDOMAIN", []), 0.05))

        # a little background noise every Linux/Windows host makes
        noise = [f"instance-data.{est.internal_suffix}.", "metadata.google.internal.", f"wpad.{est.internal_suffix}.",
                 f"localhost.{est.internal_suffix}."] if linux else [f"wpad.{est.internal_suffix}.", f"isatap.{est.internal_suffix}.", "wpad."]
        for name in noise:
            q.append((self.zone.piece(name, "A", "NXDOMAIN", []), 0.15))
        if linux:
            q.append((self.zone.piece("__cloud_init_expected_not_found__.", "AAAA", "NXDOMAIN", []), 0.01))
        if r.random() < 0.25:
            q.append((self.zone.piece(f"{acct.env}-api.acme-{acct.env}.internal.", "A", "SERVFAIL", []), 0.02))

        # public resolvers for hosts that run their own DNS (CI containers) - visible in flow logs only
        if inst.kind == "ci-runner":
            peers.append(("8.8.8.8", 53, 17, 0, 3, 3.0))
            peers.append(("1.1.1.1", 53, 17, 0, 3, 1.5))
        # inbound: load-balanced web traffic, admins on the bastion, and internet scanners (rejected)
        if inst.kind == "web":
            peers.append(("", 443, 6, 1, 6, 15.0))
            peers.append(("", 80, 6, 1, 6, 2.0))
        if inst.kind == "bastion":
            for user in acct.users:
                if user.style in ("cli", "console", "terraform"):
                    for ip in user.ips:
                        peers.append((ip, 22, 6, 1, 4, 0.5))
        scan_w = 6.0 if linux else 4.0
        peers.append(("", 22, 6, 2, 5, scan_w))
        peers.append(("", 3389, 6, 2, 5, scan_w * (0.4 if linux else 1.5)))
        peers.append(("", 23, 6, 2, 5, scan_w * 0.1))
        peers.append(("", 445, 6, 2, 5, scan_w * 0.1))
        self.queries[inst.idx] = q
        self.peers[inst.idx] = peers
