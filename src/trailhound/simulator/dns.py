"""Route 53 Resolver query log files: each instance's query mix from the network model, drawn with numpy
and joined from pre-built string pieces."""

from __future__ import annotations

import numpy as np

from trailhound.simulator.estate import Account, Estate
from trailhound.simulator.network import Network
from trailhound.simulator.spec import DNS_WINDOW, iso


class Dns:
    """Builds query log files; per-account tables of who queries what are built once."""

    def __init__(self, est: Estate, net: Network) -> None:
        self.est = est
        self.net = net
        self.pieces = np.array(net.zone.pieces, dtype=object)
        self.by_acct: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def _account_tables(self, acct: Account) -> tuple[np.ndarray, ...]:
        got = self.by_acct.get(acct.idx)
        if got is not None:
            return got
        insts = acct.instances
        rows = [(k, piece, w) for k, inst in enumerate(insts) for piece, w in self.net.queries[inst.idx]]
        who, piece, w = (np.array(c) for c in zip(*rows))
        w = w.astype(float)
        mids = np.array([f'{i.private_ip}","srcport":"' for i in insts], dtype=object)
        udp = np.array([f'","transport":"UDP","srcids":{{"instance":"{i.instance_id}"}}}}' for i in insts], dtype=object)
        tcp = np.array([f'","transport":"TCP","srcids":{{"instance":"{i.instance_id}"}}}}' for i in insts], dtype=object)
        windows = np.array([i.os == "windows" for i in insts])
        got = (who, piece, w / w.sum(), mids, udp, tcp, windows)
        self.by_acct[acct.idx] = got
        return got

    def file_text(self, j: int, acct: Account, ws: int, n: int) -> str:
        spec = self.est.spec
        npr = np.random.default_rng([spec.seed, 3, j])
        who, piece, p, mids, udp, tcp, windows = self._account_tables(acct)
        pick = npr.choice(len(p), size=n, p=p)
        secs = np.sort(npr.integers(0, DNS_WINDOW, n)).tolist()
        inst = who[pick]
        ports = np.where(windows[inst], npr.integers(49152, 65536, n), npr.integers(32768, 61000, n)).tolist()
        tails = np.where(npr.random(n) < 0.02, tcp[inst], udp[inst]).tolist()
        head = ('{"version":"1.100000","account_id":"' + acct.account_id + '","region":"' + spec.region + '","vpc_id":"'
                + acct.vpc_id + '","query_timestamp":"')
        ts = [head + iso(ws + s) for s in range(DNS_WINDOW)]
        lines = [f"{ts[s]}{q}{m}{pt}{tl}" for s, q, m, pt, tl in zip(
            secs, self.pieces[piece[pick]].tolist(), mids[inst].tolist(), ports, tails)]
        return "\n".join(lines) + "\n"
