"""CloudTrail S3 data events: the object reads, writes and listings of instances and IAM users on their
account's buckets, with object keys shaped like each bucket's contents."""

from __future__ import annotations

import random
from typing import Any

from trailhound.simulator.actors import Actor, Op, pick
from trailhound.simulator.estate import Estate
from trailhound.simulator.identities import TLS, Identities, TrailPart
from trailhound.simulator.management_events import amz_id2
from trailhound.simulator.spec import hexid, iso, uuid_from_hex

# object key shapes, by bucket index (assets, app logs, backups, terraform state, data lake, CDK assets)
_KEY_SHAPES = (
    "static/js/app.{h8}.js", "app/{date}/{host}-{h8}.log.gz", "pg/{date}/base-{h8}.tar.zst", "env/{env}/terraform.tfstate",
    "events/dt={date}/part-{n5}-{uuid}.snappy.parquet", "assets/{h64}.zip",
)


class DataEvents(TrailPart):
    """Builds S3 data-event records; each bucket's object keys are drawn once."""

    def __init__(self, est: Estate, ids: Identities) -> None:
        super().__init__(est)
        self.ids = ids
        self.keys_cache: dict[str, list[tuple[str, int]]] = {}
        self.data_ops = {name: Op(-1, "s3.amazonaws.com", name, name != "PutObject") for name in ("GetObject", "PutObject", "ListObjects")}
        r = random.Random(f"{self.spec.seed}:id2")
        self.id2_pool = [amz_id2(r) for _ in range(64)]

    def _object_keys(self, bucket: str, b_idx: int, env: str) -> list[tuple[str, int]]:
        got = self.keys_cache.get(bucket)
        if got is not None:
            return got
        r = random.Random(f"{self.spec.seed}:keys:{bucket}")
        shape = _KEY_SHAPES[b_idx]
        days = [iso(self.start + d * 86400)[:10] for d in range(max(1, self.spec.days))]
        keys = []
        for _ in range(1 if b_idx == 3 else 300):
            k = shape.format(h8=hexid(r, 8), date=pick(days, r).replace("-", "/") if b_idx == 1 else pick(days, r),
                             host=f"{env}-{pick(('web', 'api', 'worker'), r)}-0{r.randint(1, 4)}", env=env,
                             n5=f"{r.randint(0, 199):05d}", uuid=uuid_from_hex(hexid(r, 32)), h64=hexid(r, 64))
            keys.append((k, int(r.lognormvariate(10, 1.5))))
        self.keys_cache[bucket] = keys
        return keys

    def record(self, a: Actor, r: random.Random) -> dict:
        """One S3 data event by ``a`` on one of its buckets; the caller fills in identity, time and ids."""
        acct = a.acct
        b_idx = a.buckets[r.randrange(len(a.buckets))]
        bucket = acct.buckets[b_idx]
        key, size = pick(self._object_keys(bucket, b_idx, acct.env), r)
        roll = r.random()
        name = "GetObject" if roll < 0.6 else ("PutObject" if roll < 0.85 else "ListObjects")
        if b_idx == 2 and name == "GetObject":
            name = "PutObject"  # backups are written, rarely read
        o = self.data_ops[name]
        ip, ua, _, _ = self.ids.channel(a, o, r, data=True)
        host = f"{bucket}.s3.{self.region}.amazonaws.com"
        if name == "ListObjects":
            params: dict[str, Any] = {"list-type": "2", "bucketName": bucket, "encoding-type": "url", "max-keys": "1000",
                                      "prefix": key.rsplit("/", 1)[0] + "/", "Host": host}
            resources = [{"accountId": acct.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
            size_in, size_out = 0, 1800 + size % 40000
        else:
            params = {"bucketName": bucket, "Host": host, "key": key}
            if name == "GetObject":
                params["x-id"] = "GetObject"
            resources = [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                         {"accountId": acct.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
            size_in, size_out = (size, 0) if name == "PutObject" else (0, size)
        return {
            "eventVersion": "1.08", "userIdentity": None, "eventTime": "", "eventSource": "s3.amazonaws.com", "eventName": name,
            "awsRegion": self.region, "sourceIPAddress": ip, "userAgent": f"[{ua}]", "requestParameters": params,
            "responseElements": {"x-amz-server-side-encryption": "AES256"} if name == "PutObject" else None,
            "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": size_in,
                                    "SSEApplied": "Default_SSE_S3", "AuthenticationMethod": "AuthHeader",
                                    "x-amz-id-2": pick(self.id2_pool, r), "bytesTransferredOut": size_out},
            "requestID": "", "eventID": "", "readOnly": name != "PutObject", "resources": resources, "eventType": "AwsApiCall",
            "managementEvent": False, "recipientAccountId": acct.account_id, "eventCategory": "Data",
            "tlsDetails": {**TLS, "clientProvidedHostHeader": host},
        }
