"""CloudTrail log files: per account and delivery window, records from the account's actors, mostly
management events with about a tenth S3 data events, serialised with orjson.

Records are shallow copies of cached, pre-built templates with a few fields replaced (identity, time,
request and event ids, the user's current address).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate

import numpy as np
import orjson

from trailhound.simulator.actors import ERROR_RATE, build_actors
from trailhound.simulator.data_events import DataEvents
from trailhound.simulator.estate import Account, Estate
from trailhound.simulator.identities import Identities
from trailhound.simulator.management_events import ManagementEvents
from trailhound.simulator.spec import CT_WINDOW, iso, uuid_from_hex


class CloudTrail:
    """Builds CloudTrail files from the estate's actors, their identities and their records."""

    def __init__(self, est: Estate) -> None:
        self.spec = est.spec
        self.start = est.start
        self.actors = build_actors(est)
        self.ids = Identities(est)
        self.mgmt = ManagementEvents(est, self.ids)
        self.data = DataEvents(est, self.ids)

    def file_bytes(self, j: int, acct: Account, ws: int, n: int, force_run: bool = False) -> bytes:
        """One CloudTrail file of ``n`` records from ``acct`` in the window starting at ``ws``.

        ``force_run`` makes the first record an Auto Scaling RunInstances, so small estates have one.
        """
        seed = self.spec.seed
        rnd = random.Random(f"{seed}:ct:{j}")
        npr = np.random.default_rng([seed, 1, j])
        offs = np.sort(npr.integers(0, CT_WINDOW, n))
        # real deliveries are only roughly ordered: let each record drift a few places
        order = np.argsort(np.arange(n) + npr.random(n) * max(4.0, n * 0.02), kind="stable")
        offs_l = offs[order].tolist()
        ts = [iso(ws + k) for k in range(CT_WINDOW)]
        actors = self.actors[acct.idx]
        picks = rnd.choices(range(len(actors)), cum_weights=list(accumulate(a.weight for a in actors)), k=n)
        u = npr.random((n, 4)).tolist()
        if force_run and n:
            picks[0] = next(k for k, a in enumerate(actors) if a.kind == "autoscaling")
            u[0] = [1.0, 0.0, 1.0, 0.0]  # not a data event, first op (RunInstances), no error
        hexes = rnd.randbytes(32 * n).hex()
        start = self.start
        base_cache = self.mgmt.base_cache
        ident_cache = self.ids.cache
        recs: list[dict] = []
        for i in range(n):
            a = actors[picks[i]]
            u0, u1, u2, u3 = u[i]
            off = offs_l[i]
            t = ws + off
            bucket = (t - start) // a.bucket_len
            ident = ident_cache.get((a.key, bucket)) or self.ids.ident(a, bucket)
            h = hexes[64 * i:64 * i + 64]
            eid = uuid_from_hex(h[:32])
            if u0 < a.data_p:
                rec = self.data.record(a, rnd)
                rid = h[32:48].upper()
                sp = "data"
            else:
                o = a.ops[bisect_right(a.cum, u1 * a.cum[-1])]
                rid = h[32:48].upper() if o.svc == "s3" else uuid_from_hex(h[32:])
                sp = o.special
            if sp == "data":
                pass
            elif not sp:
                err = u2 < ERROR_RATE and o.can_fail
                key = (a.key, o.idx, int(u3 * o.variants), err)
                base = base_cache.get(key)
                if base is None:
                    base = base_cache[key] = self.mgmt.base(a, o, key[2], err)
                rec = base.copy()
            elif sp == "assume_ec2":
                rec = self.mgmt.assume_ec2(a, bucket).copy()
                rec["eventTime"] = ts[off]
                rec["requestID"] = rid
                rec["eventID"] = eid
                recs.append(rec)
                continue
            elif sp == "assume_user":
                rec = self.mgmt.assume_user(a, o, int(u3 * o.variants), u2 < ERROR_RATE).copy()
            else:
                r = random.Random(f"{seed}:w:{j}:{i}")
                if sp == "run":
                    rec = self.mgmt.run_instances(a, o, r, rid, t)
                elif sp == "terminate":
                    rec = self.mgmt.terminate(a, o, r, rid)
                else:
                    rec = self.mgmt.write_op(a, o, r, rid, t)
            rec["userIdentity"] = ident
            rec["eventTime"] = ts[off]
            rec["requestID"] = rid
            rec["eventID"] = eid
            if a.user is not None and rec["sourceIPAddress"] != "AWS Internal":
                rec["sourceIPAddress"] = a.user.ips[bucket % len(a.user.ips)]
            recs.append(rec)
        return orjson.dumps({"Records": recs})
