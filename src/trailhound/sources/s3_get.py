"""GETs of log objects without boto3's per-call machinery: botocore's own SigV4 signer, a pooled urllib3.

boto3 spends about 1.7 ms of Python per ``get_object`` (event hooks, parameter validation, endpoint
rules, response parsing); an AWS log object is a few KB, so that overhead, not S3, bounded how fast
the follower could fetch. Here a GET is signed by the same ``S3SigV4Auth`` boto3 uses (credentials
from boto3's usual chain, refreshed as it refreshes them) and sent on a pooled urllib3 connection:
about a quarter of the CPU. Addressing is boto3's too: each bucket's URL is taken once from a
presigned URL of a boto3 client in the bucket's region (virtual-hosted or path style, as boto3
would choose for that endpoint), and a bucket in another region (AWS's ``x-amz-bucket-region``
answer) is re-resolved once, as boto3's redirector does.

Errors are S3's own (``<Code>`` and ``<Message>`` of the XML body, as ``describe`` words boto3's);
5xx answers and broken connections are retried (3 attempts, backoff) as boto3's standard mode does.
The body is read raw — a ``Content-Encoding: gzip`` object is not decoded on the way, as with boto3 —
and never past the size limit.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from typing import Any

from trailhound.sources.s3 import S3Object, SourceError, describe

_GONE = ("NoSuchKey", "404", "PreconditionFailed", "412")
_CODE = re.compile(rb"<Code>([^<]{1,200})</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]{0,500})</Message>")
_READ = 1 << 20


class ObjectGetter:
    """Thread-safe: the fetch threads share its connection pool and bucket addresses."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None, connections: int = 32) -> None:
        import boto3
        import urllib3

        self.session = boto3.session.Session()
        self.endpoint_url = endpoint_url
        self.region = region or self.session.region_name or "us-east-1"
        self.pool = urllib3.PoolManager(maxsize=connections, timeout=urllib3.Timeout(connect=5, read=60),
                                        retries=urllib3.Retry(total=3, status_forcelist=(500, 502, 503, 504), allowed_methods=["GET"],
                                                              backoff_factor=0.2, raise_on_status=False, redirect=False))
        self._buckets: dict[str, tuple[str, str]] = {}  # bucket -> (URL of the bucket's root, its region)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _addresser(self, region: str) -> Any:
        """An unsigned boto3 S3 client of the region: it only says where a bucket's objects are (sends nothing)."""
        from botocore import UNSIGNED
        from botocore.config import Config

        with self._lock:
            if region not in self._clients:
                self._clients[region] = self.session.client("s3", endpoint_url=self.endpoint_url, region_name=region,
                                                            config=Config(signature_version=UNSIGNED))
            return self._clients[region]

    def _bucket(self, bucket: str, region: str | None = None) -> tuple[str, str]:
        known = self._buckets.get(bucket)
        if known is not None and (region is None or known[1] == region):
            return known
        region = region or self.region
        # boto3's addressing for this bucket and endpoint: the URL of a key "k", less the key (no request is sent)
        url = self._addresser(region).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
        root = urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()
        assert root.endswith("/k"), root
        self._buckets[bucket] = (root[:-1], region)
        return self._buckets[bucket]

    def get(self, obj: S3Object, limit: int) -> bytes | None:
        """The object's bytes as listed (If-Match its ETag); None when it is larger than ``limit`` bytes.
        SourceError (``gone``: deleted or rewritten since it was listed) when S3 says no."""
        credentials = self.session.get_credentials()
        if credentials is None:
            raise SourceError(f"{obj.name}: no AWS credentials found (environment, ~/.aws, or an instance/task role)")
        root, region = self._bucket(obj.location.bucket)
        for attempt in range(2):
            status, headers, body = self._send(obj, credentials, root, region, limit)
            moved = headers.get("x-amz-bucket-region")
            if status in (301, 400) and moved and moved != region and attempt == 0:
                root, region = self._bucket(obj.location.bucket, moved)  # the bucket lives in another region
                continue
            break
        if status == 200:
            return body
        code = (m.group(1).decode(errors="replace") if body and (m := _CODE.search(body)) else "") or str(status)
        message = m.group(1).decode(errors="replace") if body and (m := _MESSAGE.search(body)) else ""
        if not message:
            message = {"NoSuchBucket": "the bucket does not exist", "404": "not found", "403": "access denied"}.get(code, "")
        raise SourceError(f"{obj.name}: {code}: {message}".rstrip(": "), gone=code in _GONE)

    def _send(self, obj: S3Object, credentials: Any, root: str, region: str, limit: int) -> tuple[int, Any, bytes | None]:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = root + urllib.parse.quote(obj.key, safe="/~")
        headers = {"If-Match": f'"{obj.etag}"'} if obj.etag else {}
        try:
            request = AWSRequest("GET", url, headers=headers)
            S3SigV4Auth(credentials.get_frozen_credentials(), "s3", region).add_auth(request)
            response = self.pool.request("GET", url, headers=dict(request.headers.items()), preload_content=False, decode_content=False)
        except Exception as exc:  # the endpoint down, a refused or reset connection after the retries, a credential refresh failing
            raise SourceError(f"{obj.name}: {_network(exc)}") from None
        whole = False
        try:
            if response.status != 200:
                body = response.read(64 << 10)  # S3's error document: a few hundred bytes
                whole = True
                return response.status, response.headers, body
            parts, size = [], 0
            while chunk := response.read(_READ):
                size += len(chunk)
                if size > limit:  # more than it was listed with: never held whole (and the connection is not reused)
                    return 200, response.headers, None
                parts.append(chunk)
            whole = True
            return 200, response.headers, b"".join(parts)
        except Exception as exc:
            raise SourceError(f"{obj.name}: {_network(exc)}") from None
        finally:
            if whole:
                response.drain_conn()  # back to the pool for the next GET
            else:
                response.close()

def _network(exc: BaseException) -> str:
    """One line for a GET that got no answer (after urllib3's retries), worded as boto3 words it."""
    import urllib3.exceptions as e

    reason = exc.reason if isinstance(exc, e.MaxRetryError) and exc.reason is not None else exc
    if isinstance(reason, (e.NewConnectionError, e.ConnectTimeoutError, ConnectionRefusedError)):
        pool = getattr(exc, "pool", None)
        where = f"{pool.scheme}://{pool.host}:{pool.port}" if pool is not None else "the endpoint"
        return f"Could not connect to the endpoint URL: {where}"
    if isinstance(reason, (e.ReadTimeoutError, TimeoutError)):
        return "Read timeout on the endpoint"
    return describe(reason)


__all__ = ["ObjectGetter"]
