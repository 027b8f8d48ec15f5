"""VPC Flow Log files in the default (v2) and a custom v5 format: each instance's peers from the network
model, drawn with numpy and joined from pre-built string pieces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trailhound.simulator.estate import Account, Estate
from trailhound.simulator.network import Network
from trailhound.simulator.spec import FLOW_WINDOW

FLOW_HEADER_V2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
FLOW_HEADER_V5 = (
    "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport "
    "pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path"
)

# Traffic profiles: initiator packets ~ lognormal(mu, sigma); bytes per packet each way; responder
# packet ratio.
_PROFILES = np.array([
    # mu,   sigma, req_lo, req_hi, resp_lo, resp_hi, ratio_lo, ratio_hi
    [2.3, 0.8, 80, 400, 150, 1200, 0.8, 1.6],     # 0 HTTPS API call
    [3.7, 1.0, 52, 120, 1200, 1448, 1.5, 2.5],    # 1 package download
    [0.0, 0.0, 76, 76, 76, 76, 1.0, 1.0],         # 2 NTP
    [0.2, 0.4, 60, 90, 90, 300, 1.0, 1.0],        # 3 DNS
    [3.4, 1.0, 100, 600, 200, 1400, 0.8, 1.5],    # 4 internal service
    [0.3, 0.4, 40, 60, 40, 60, 1.0, 1.0],         # 5 rejected probe
    [2.5, 0.9, 100, 600, 500, 1400, 1.0, 2.0],    # 6 web client
])


@dataclass
class _FlowGroup:
    inst: np.ndarray  # global instance index per template
    peer: np.ndarray  # object: fixed peer address, "" when drawn from a pool
    pool: np.ndarray  # -1 fixed, 0 scanners, 1 clients
    port: np.ndarray
    proto: np.ndarray
    pattern: np.ndarray  # 0 outbound, 1 inbound accepted, 2 inbound rejected
    profile: np.ndarray
    public: np.ndarray
    p: np.ndarray
    rejects: np.ndarray  # template indices of rejected probes
    members: list[int]


class Flows:
    """Builds flow log files; the templates of each log (instance, peer, port, pattern, profile) are built once."""

    def __init__(self, est: Estate, net: Network) -> None:
        self.est = est
        self.net = net
        self.groups: dict[tuple[int, int], _FlowGroup] = {}
        insts = est.instances
        self.ip = np.array([i.private_ip for i in insts], dtype=object)
        self.windows = np.array([i.os == "windows" for i in insts])
        self.prefix2 = np.array([f"2 {i.acct.account_id} {i.eni} " for i in insts], dtype=object)
        self.prefix5 = np.array([f"5 {i.acct.vpc_id} {i.subnet_id} {i.instance_id} {i.eni} {i.acct.account_id} " for i in insts], dtype=object)

    def group(self, acct: Account, fmt: int) -> _FlowGroup:
        """Templates of one flow log: the v2 log covers half the account's instances, the v5 log the other half."""
        key = (acct.idx, fmt)
        if key in self.groups:
            return self.groups[key]
        members = [i.idx for k, i in enumerate(acct.instances) if (k % 2 == 0) == (fmt == 2)] or [i.idx for i in acct.instances]
        rows = [(idx, *t) for idx in members for t in self.net.peers[idx]]
        inst, peer, port, proto, pattern, profile, w = zip(*rows)
        peer_a = np.array(peer, dtype=object)
        pool = np.where(peer_a == "", np.where(np.array(pattern) == 2, 0, 1), -1)
        public = np.array([not (p.startswith("10.") or p == "") for p in peer]) | (pool >= 0)
        w_a = np.array(w, dtype=float)
        g = _FlowGroup(inst=np.array(inst), peer=peer_a, pool=pool, port=np.array(port), proto=np.array(proto),
                       pattern=np.array(pattern), profile=np.array(profile), public=public, p=w_a / w_a.sum(),
                       rejects=np.flatnonzero(np.array(pattern) == 2), members=members)
        self.groups[key] = g
        return g

    def file_text(self, j: int, acct: Account, fmt: int, ws: int, n: int) -> str:
        est = self.est
        npr = np.random.default_rng([est.spec.seed, 2, j])
        g = self.group(acct, fmt)
        n_nodata = round(n * 0.01)
        r = n - n_nodata
        idx = npr.choice(len(g.p), size=max(r, 1), p=g.p)
        lines_per = np.where(g.pattern[idx] == 2, 1, 2)
        cs = np.cumsum(lines_per)
        k = int(np.searchsorted(cs, r, side="right"))
        idx = idx[:k]
        if (int(cs[k - 1]) if k else 0) < r:
            idx = np.append(idx, g.rejects[npr.integers(0, len(g.rejects))])
        k = len(idx)

        inst = g.inst[idx]
        peer = g.peer[idx].copy()
        pool = g.pool[idx]
        for pool_id, addrs in ((0, est.scanners), (1, est.clients)):
            m = pool == pool_id
            if m.any():
                peer[m] = addrs[npr.integers(0, len(addrs), int(m.sum()))]
        pattern = g.pattern[idx]
        port = g.port[idx]
        proto = g.proto[idx]
        ip = self.ip[inst]
        eph = np.where(self.windows[inst], npr.integers(49152, 65536, k), npr.integers(32768, 61000, k))
        eph = np.where(pattern == 0, eph, npr.integers(1024, 65536, k))
        st = ws + npr.integers(0, FLOW_WINDOW - 30, k)
        en = np.minimum(st + npr.integers(0, 60, k), ws + FLOW_WINDOW - 1)

        prof = _PROFILES[g.profile[idx]]
        pk1 = np.maximum(1, np.rint(np.exp(prof[:, 0] + prof[:, 1] * npr.standard_normal(k)))).astype(np.int64)
        by1 = (pk1 * npr.uniform(prof[:, 2], prof[:, 3])).astype(np.int64)
        pk2 = np.maximum(1, np.rint(pk1 * npr.uniform(prof[:, 6], prof[:, 7]))).astype(np.int64)
        by2 = (pk2 * npr.uniform(prof[:, 4], prof[:, 5])).astype(np.int64)

        out = pattern == 0
        two = pattern != 2
        tcp = proto == 6
        src_a = np.where(out, ip, peer)
        dst_a = np.where(out, peer, ip)
        # line A is the initiator's packets, line B the responder's (absent for rejected probes)
        src = np.concatenate([src_a, dst_a[two]])
        dst = np.concatenate([dst_a, src_a[two]])
        sp = np.concatenate([eph, port[two]])
        dp = np.concatenate([port, eph[two]])
        pr = np.concatenate([proto, proto[two]])
        pk = np.concatenate([pk1, pk2[two]])
        by = np.concatenate([by1, by2[two]])
        st_l = np.concatenate([st, st[two]])
        en_l = np.concatenate([en, en[two]])
        who = np.concatenate([inst, inst[two]])
        action = np.where(np.concatenate([pattern, pattern[two]]) == 2, "REJECT", "ACCEPT").astype(object)

        nd_inst = np.array(g.members)[npr.integers(0, len(g.members), n_nodata)]
        nd_st = ws + npr.integers(0, FLOW_WINDOW - 60, n_nodata)
        nd_en = nd_st + npr.integers(30, 60, n_nodata)

        if fmt == 2:
            pre = self.prefix2[who]
            data = [f"{p}{s} {d} {a} {b} {c} {e} {f} {t0} {t1} {x} OK" for p, s, d, a, b, c, e, f, t0, t1, x in zip(
                pre.tolist(), src.tolist(), dst.tolist(), sp.tolist(), dp.tolist(), pr.tolist(), pk.tolist(), by.tolist(),
                st_l.tolist(), en_l.tolist(), action.tolist())]
            nodata = [f"{p}- - - - - - - {t0} {t1} - NODATA" for p, t0, t1 in zip(self.prefix2[nd_inst].tolist(), nd_st.tolist(), nd_en.tolist())]
        else:
            egress_a = out
            direction = np.concatenate([np.where(egress_a, "egress", "ingress"), np.where(egress_a[two], "ingress", "egress")]).astype(object)
            pub = g.public[idx]
            path_a = np.where(egress_a, np.where(pub, "8", "1"), "-")
            path_b = np.where(egress_a[two], "-", np.where(pub[two], "8", "1"))
            path = np.concatenate([path_a, path_b]).astype(object)
            flags_a = np.where(tcp, np.where(pattern == 2, 2, 3), 0)
            flags_b = np.where(tcp[two], 19, 0)
            flags = np.concatenate([flags_a, flags_b])
            pre = self.prefix5[who]
            data = [f"{p}IPv4 {s} {d} {a} {b} {s} {d} {c} {f} {e} {t0} {t1} {x} {fl} OK {dr} {pa}" for p, s, d, a, b, c, e, f, t0, t1, x, fl, dr, pa in zip(
                pre.tolist(), src.tolist(), dst.tolist(), sp.tolist(), dp.tolist(), pr.tolist(), pk.tolist(), by.tolist(),
                st_l.tolist(), en_l.tolist(), action.tolist(), flags.tolist(), direction.tolist(), path.tolist())]
            nodata = [f"{p}- - - - - - - - - - {t0} {t1} - - NODATA - -" for p, t0, t1 in zip(self.prefix5[nd_inst].tolist(), nd_st.tolist(), nd_en.tolist())]

        lines = data + nodata
        order = np.argsort(np.concatenate([st_l, nd_st]), kind="stable").tolist()
        header = FLOW_HEADER_V2 if fmt == 2 else FLOW_HEADER_V5
        return header + "\n" + "\n".join([lines[i] for i in order]) + "\n"
