"""SigV4 verification against requests signed by botocore itself, hostile variants of them, and key sealing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from trailhound.api import keys
from trailhound.api.sigv4 import AuthError, Caller, KeyRecord, canonical_query, verify

ACCOUNT = "123456789012"
KEY_ID = "THAKTESTTESTTESTTEST"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKY"
SIGNED_AT = dt.datetime(2025, 3, 1, 23, 59, 30, tzinfo=dt.timezone.utc)  # near midnight: date handling shows
NOW = SIGNED_AT.timestamp()
ENDPOINT = "http://127.0.0.1:8765"
ARN_PATH = "/tags/arn%3Aaws%3Aguardduty%3Aus-east-1%3A123456789012%3Adetector%2Fabc"


def lookup(key_id: str) -> KeyRecord | None:
    return KeyRecord(ACCOUNT, True, SECRET) if key_id == KEY_ID else None


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None))


def signed(method: str, path_query: str, body: bytes = b"", headers: dict | None = None, *, secret: str = SECRET,
           key_id: str = KEY_ID, service: str = "guardduty", region: str = "us-east-1", token: str | None = None) -> dict:
    """A request signed by botocore's own SigV4Auth, as the server would receive it."""
    request = AWSRequest(method=method, url=ENDPOINT + path_query, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    return wire(request.method, request.url, request.headers, body)


def wire(method: str, url: str, headers, body: bytes | None) -> dict:
    """What reaches the server: raw path and query, headers as text with the Host the HTTP client adds."""
    parts = urlsplit(url)
    sent = {k: v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}
    sent.setdefault("Host", parts.netloc)
    return {"method": method, "raw_path": parts.path, "raw_query": parts.query, "headers": sent, "body": body or b""}


def check(req: dict, **kw) -> Caller:
    return verify(req["method"], req["raw_path"], req["raw_query"], req["headers"], req["body"], lookup, now=kw.pop("now", NOW), **kw)


def refused(req: dict, code: str, words: str, **kw) -> AuthError:
    with pytest.raises(AuthError) as info:
        check(req, **kw)
    e = info.value
    assert (e.code, e.status) == (code, 403), e
    assert words in e.message, e.message
    assert_safe(e)
    return e


def assert_safe(e: AuthError) -> None:
    assert SECRET not in str(e) and SECRET not in e.message
    assert "\n" not in str(e) and "\r" not in str(e)


def with_header(req: dict, name: str, value: str | None) -> dict:
    headers = {k: v for k, v in req["headers"].items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return {**req, "headers": headers}


FILTER_NAME = percent_encode("my filter é✓")  # as botocore serialises a path label
GOOD = {
    "get with query": ("GET", "/detector/abc/findings?maxResults=5&nextToken=a%2Fb", b"", {}),
    "post json": ("POST", "/detector/abc/findings", json.dumps({"findingCriteria": {"criterion": {"severity": {"gte": 4}}}}).encode(),
                  {"Content-Type": "application/json"}),
    "delete repeated keys": ("DELETE", ARN_PATH + "?tagKeys=a&tagKeys=b", b"", {}),
    "repeated keys out of order": ("DELETE", ARN_PATH + "?tagKeys=b&tagKeys=a", b"", {}),
    "encoded arn": ("GET", ARN_PATH, b"", {}),
    "unicode and space name": ("GET", f"/detector/abc/filter/{FILTER_NAME}", b"", {}),
    "trailing slash": ("GET", "/detector/", b"", {}),
    "root": ("GET", "/", b"", {}),
    "tilde and reserved in query": ("GET", "/detector?z=~&a=%21%2A%27%28%29&m=", b"", {}),
    "content sha256 header": ("POST", "/detector", b'{"enable":true}',
                              {"X-Amz-Content-SHA256": hashlib.sha256(b'{"enable":true}').hexdigest()}),
    "date header instead of x-amz-date": ("GET", "/detector", b"", {"Date": "Sat, 01 Mar 2025 23:59:30 GMT"}),
    "header with folded blanks": ("GET", "/detector", b"", {"X-Custom": "  a   b  c "}),
}


@pytest.mark.parametrize("case", GOOD, ids=list(GOOD))
def test_botocore_signed_requests_verify(case):
    method, path_query, body, headers = GOOD[case]
    assert check(signed(method, path_query, body, headers)) == Caller(KEY_ID, ACCOUNT, True, "us-east-1")


def test_query_is_decoded_and_reencoded_as_aws_does():
    # botocore signs its own (already canonical) encoding as sent; other SDKs and AWS re-encode: both agree here
    assert canonical_query("b=%7e&a=x+y&a=%2f&c") == "a=%2F&a=x%2By&b=~&c="
    assert canonical_query("k=%FF") == "k=%FF"  # a byte that is not UTF-8 survives


def test_region_comes_from_the_scope():
    assert check(signed("GET", "/detector", region="eu-west-3")).region == "eu-west-3"


def test_replay_within_the_window_is_accepted_as_on_aws():
    req = signed("POST", "/detector", b'{"enable":true}')
    assert check(req) == check(req, now=NOW + 600)


def test_tampered_body_path_query_and_method_fail():
    req = signed("POST", "/detector/abc/findings?maxResults=5", b'{"a":1}', {"Content-Type": "application/json"})
    refused({**req, "body": b'{"a":2}'}, "InvalidSignatureException", "signature does not match")
    refused({**req, "raw_path": "/detector/abd/findings"}, "InvalidSignatureException", "signature does not match")
    refused({**req, "raw_path": "/detector/abc/findings/"}, "InvalidSignatureException", "signature does not match")
    refused({**req, "raw_query": "maxResults=50"}, "InvalidSignatureException", "signature does not match")
    refused({**req, "raw_query": ""}, "InvalidSignatureException", "signature does not match")
    refused({**req, "method": "PUT"}, "InvalidSignatureException", "signature does not match")
    # the encoded slash inside an ARN is part of what was signed: decoding it is another request
    arn = signed("GET", ARN_PATH)
    refused({**arn, "raw_path": ARN_PATH.replace("%2F", "/")}, "InvalidSignatureException", "signature does not match")


def test_unsigned_header_may_be_added_but_signed_header_may_not_change():
    req = signed("POST", "/detector", b"{}", {"Content-Type": "application/json"})
    assert check(with_header(req, "X-Forwarded-For", "203.0.113.9"))
    assert check(with_header(req, "User-Agent", "something else"))  # botocore never signs User-Agent
    refused(with_header(req, "Content-Type", "text/plain"), "InvalidSignatureException", "signature does not match")
    refused(with_header(req, "Host", "evil.example:8765"), "InvalidSignatureException", "signature does not match")
    refused(with_header(req, "Content-Type", None), "IncompleteSignatureException", "signed header content-type is not in the request")


def test_wrong_secret_unknown_key_and_session_token():
    refused(signed("GET", "/detector", secret=SECRET[::-1]), "InvalidSignatureException", "signature does not match")
    refused(signed("GET", "/detector", key_id="THAKUNKNOWNUNKNOWN22"), "UnrecognizedClientException", "not known")
    refused(signed("GET", "/detector", key_id="akid-lower"), "UnrecognizedClientException", "malformed")
    refused(signed("GET", "/detector", token="FQoGZXIvYXdzEBEXAMPLE"), "UnrecognizedClientException", "session tokens")


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
def test_dates_outside_the_window_fail(offset):
    req = signed("GET", "/detector")
    refused(req, "InvalidSignatureException", "more than 900 s", now=NOW - offset)
    assert check(req, now=NOW - offset * 14 / 16)


def test_scope_and_date_checks():
    req = signed("GET", "/detector")
    auth = req["headers"]["Authorization"]
    refused(with_header(req, "Authorization", auth.replace("/20250301/", "/20250302/")), "InvalidSignatureException", "scope date")
    refused(with_header(req, "X-Amz-Date", "20250302T000010Z"), "InvalidSignatureException", "scope date")
    refused(with_header(req, "X-Amz-Date", "yesterday"), "IncompleteSignatureException", "not a valid date")
    year_10000 = with_header(with_header(req, "X-Amz-Date", None), "Date", "Fri, 31 Dec 9999 23:30:00 -0100")
    year_10000 = with_header(year_10000, "Authorization", auth.replace("host;x-amz-date", "date;host"))
    refused(year_10000, "IncompleteSignatureException", "not a valid date")
    refused(with_header(req, "X-Amz-Date", None), "IncompleteSignatureException", "signed header x-amz-date is not in the request")
    dateless = with_header(with_header(req, "X-Amz-Date", None), "Authorization", auth.replace("host;x-amz-date", "host"))
    refused(dateless, "IncompleteSignatureException", "neither X-Amz-Date nor Date")
    refused(signed("GET", "/detector", service="iam"), "InvalidSignatureException", "scoped to correct service")
    no_host = auth.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date")
    refused(with_header(req, "Authorization", no_host), "IncompleteSignatureException", "must include host")
    unsorted = auth.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date;host")
    refused(with_header(req, "Authorization", unsorted), "IncompleteSignatureException", "sorted")
    date_unsigned = auth.replace("SignedHeaders=host;x-amz-date", "SignedHeaders=host")
    refused(with_header(req, "Authorization", date_unsigned), "IncompleteSignatureException", "x-amz-date header is not in SignedHeaders")


def test_payload_hash_header_must_match_the_body():
    # botocore signs a client-sent X-Amz-Content-SHA256 as given; the server must not take it on trust
    for claimed in ("UNSIGNED-PAYLOAD", "0" * 64):
        req = signed("POST", "/detector", b'{"enable":true}', {"X-Amz-Content-SHA256": claimed})
        refused(req, "InvalidSignatureException", "x-amz-content-sha256 does not match")


def test_missing_duplicate_and_garbage_authorization():
    req = signed("GET", "/detector")
    refused(with_header(req, "Authorization", None), "MissingAuthenticationTokenException", "no Authorization")
    sigv2 = "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="
    refused(with_header(req, "Authorization", sigv2), "IncompleteSignatureException", "AWS4-HMAC-SHA256")
    refused(with_header(req, "Authorization", "AWS4-HMAC-SHA256 Credential=x"), "IncompleteSignatureException", "Signature=<64 hex>")
    bad_scope = req["headers"]["Authorization"].replace("/aws4_request", "/aws5_request")
    refused(with_header(req, "Authorization", bad_scope), "IncompleteSignatureException", "Credential must be")
    doubled = {"method": "GET", "raw_path": "/detector", "raw_query": "", "body": b"",
               "headers": _MultiHeaders(list(req["headers"].items()) + [("authorization", req["headers"]["Authorization"])])}
    refused(doubled, "IncompleteSignatureException", "more than one Authorization")


def test_dot_and_empty_segments_are_refused_not_normalised():
    for path in ("/detector/../detector", "/detector/./abc", "/detector//abc", "detector"):
        refused(signed("GET", "/detector") | {"raw_path": path}, "InvalidSignatureException", "segment")


class _MultiHeaders:
    """A header mapping whose items() repeats names, as Starlette's and http.client's do."""

    def __init__(self, pairs):
        self.pairs = pairs

    def items(self):
        return list(self.pairs)


def test_repeated_header_values_are_joined_as_signed():
    request = AWSRequest(method="GET", url=ENDPOINT + "/detector")
    request.headers.add_header("X-Multi", "one")
    request.headers.add_header("X-Multi", "two")
    SigV4Auth(Credentials(KEY_ID, SECRET), "guardduty", "us-east-1").add_auth(request)
    pairs = [(k, v) for k, v in request.headers.items()] + [("Host", "127.0.0.1:8765")]
    assert verify("GET", "/detector", "", _MultiHeaders(pairs), b"", lookup, now=NOW).account_id == ACCOUNT


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
_auth = st.one_of(
    _text,
    st.builds(lambda a, b, c: f"AWS4-HMAC-SHA256 Credential={a}, SignedHeaders={b}, Signature={c}", _text, _text, _text),
    st.builds(lambda c, b: f"AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={b}, Signature={'a' * 64}",
              st.lists(st.sampled_from(["THAKTESTTESTTESTTEST", "20250301", "us-east-1", "guardduty", "aws4_request", "", "x"]),
                       max_size=6).map("/".join),
              st.lists(st.sampled_from(["host", "x-amz-date", "content-type", "Host", "", "x y"]), max_size=4).map(";".join)),
)


_dates = st.one_of(st.none(), _text, st.just("20250301T235930Z"), st.just("Fri, 31 Dec 9999 23:30:00 -0100"),
                  st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S +0000")))


@settings(max_examples=300, deadline=None)
@given(auth=_auth, amz_date=_dates, date=_dates, path=_text, query=_text)
def test_garbage_never_raises_anything_but_auth_error(auth, amz_date, date, path, query):
    headers = {"Host": "127.0.0.1:8765", "Authorization": auth, "Content-Type": "application/json"}
    for name, value in (("X-Amz-Date", amz_date), ("Date", date)):
        if value is not None:
            headers[name] = value
    try:
        verify("GET", path, query, headers, b"", lookup, now=NOW)
    except AuthError as e:
        assert_safe(e)
    else:
        pytest.fail("garbage verified")


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_one_character_changed_in_authorization_never_raises_otherwise(data):
    req = signed("GET", "/detector?maxResults=5")
    auth = req["headers"]["Authorization"]
    i = data.draw(st.integers(0, len(auth) - 1))
    mutated = auth[:i] + data.draw(st.characters(codec="utf-8")) + auth[i + 1 :]
    try:
        check(with_header(req, "Authorization", mutated))
    except AuthError as e:
        assert_safe(e)
    else:
        assert mutated == auth, "a changed Authorization header verified"


# --- a real boto3 client, its prepared request captured before it leaves ---


class _Raw:
    def stream(self, **_):
        yield b"{}"


def captured(call) -> dict:
    client = boto3.client("guardduty", endpoint_url=ENDPOINT, region_name="eu-central-1",
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    seen = []

    def capture(request, **_):
        seen.append(request)
        return AWSResponse(request.url, 200, {}, _Raw())

    client.meta.events.register("before-send", capture)
    call(client)
    (request,) = seen
    return wire(request.method, request.url, request.headers, request.body)


BOTO3_CALLS = {
    "list_findings": lambda c: c.list_findings(DetectorId="abc", FindingCriteria={"Criterion": {"severity": {"Gte": 4}}}),
    "untag_resource": lambda c: c.untag_resource(ResourceArn="arn:aws:guardduty:us-east-1:123456789012:detector/abc", TagKeys=["a", "b"]),
    "get_filter unicode": lambda c: c.get_filter(DetectorId="abc", FilterName="mon filtre é"),
    "list_findings paged": lambda c: c.list_findings(DetectorId="abc", MaxResults=5, NextToken="a/b+c=="),
}


@pytest.mark.parametrize("name", BOTO3_CALLS, ids=list(BOTO3_CALLS))
def test_boto3_client_requests_verify(name):
    req = captured(BOTO3_CALLS[name])
    assert check(req) == Caller(KEY_ID, ACCOUNT, True, "eu-central-1")
    if req["body"]:
        refused({**req, "body": req["body"] + b" "}, "InvalidSignatureException", "does not match")
    else:
        refused({**req, "raw_path": req["raw_path"] + "x"}, "InvalidSignatureException", "signature does not match")


# --- keys ---


def test_new_key_shape():
    made = {keys.new_key(ACCOUNT) for _ in range(50)}
    assert len(made) == 50
    for key_id, secret in made:
        assert len(key_id) == 20 and key_id.startswith("THAK") and key_id.isalnum() and key_id.isupper()
        assert len(secret) == 40
    with pytest.raises(ValueError):
        keys.new_key("12345")


def test_seal_round_trip_and_binding():
    master, other = os.urandom(32), os.urandom(32)
    key_id, secret = keys.new_key(ACCOUNT)
    blob = keys.seal(secret, master, key_id)
    assert secret.encode() not in blob
    assert keys.unseal(blob, master, key_id) == secret
    assert keys.seal(secret, master, key_id) != blob  # fresh nonce each time
    for args in ((blob, other, key_id), (blob, master, keys.new_key(ACCOUNT)[0]),
                 (blob[:-1] + bytes([blob[-1] ^ 1]), master, key_id), (b"\x02" + blob[1:], master, key_id), (b"", master, key_id)):
        with pytest.raises(keys.SealError) as info:
            keys.unseal(*args)
        assert secret not in str(info.value)


def test_master_key_file_created_private_and_reused(tmp_path):
    path = tmp_path / "master.key"
    key = keys.load_or_create_master_key(path, environ={})
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert keys.load_or_create_master_key(path, environ={}) == key
    assert [p.name for p in tmp_path.iterdir()] == ["master.key"]  # no temporary file left behind


def test_master_key_created_once_under_a_race(tmp_path):
    path, got = tmp_path / "master.key", []
    threads = [threading.Thread(target=lambda: got.append(keys.load_or_create_master_key(path, environ={}))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_master_key_file_refused_when_others_have_access(tmp_path, mode):
    path = tmp_path / "master.key"
    path.write_bytes(os.urandom(32))
    path.chmod(mode)
    with pytest.raises(keys.SealError, match="group or others"):
        keys.load_or_create_master_key(path, environ={})


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_master_key_file_refused_when_wrong_size(tmp_path, size):
    path = tmp_path / "master.key"
    path.write_bytes(os.urandom(size))
    path.chmod(0o600)
    with pytest.raises(keys.SealError, match=f"holds {size} bytes"):
        keys.load_or_create_master_key(path, environ={})


def test_master_key_symlink_refused(tmp_path: Path):
    target = tmp_path / "real.key"
    target.write_bytes(os.urandom(32))
    target.chmod(0o600)
    (tmp_path / "master.key").symlink_to(target)
    with pytest.raises(keys.SealError, match="cannot be opened"):
        keys.load_or_create_master_key(tmp_path / "master.key", environ={})


def test_master_key_from_environment(tmp_path):
    key = os.urandom(32)
    path = tmp_path / "master.key"
    assert keys.load_or_create_master_key(path, environ={"TRAILHOUND_MASTER_KEY": base64.b64encode(key).decode()}) == key
    assert not path.exists()  # the environment's key is used and no file is made
    for bad, words in (("not base64!", "not base64"), (base64.b64encode(b"short").decode(), "32 bytes")):
        with pytest.raises(keys.SealError, match=words):
            keys.load_or_create_master_key(path, environ={"TRAILHOUND_MASTER_KEY": bad})
