"""Registrable domains via the bundled Public Suffix List snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trailhound.enrich import domains
from trailhound.enrich.domains import domain_with_suffix, psl_version, registrable_domain, split_name


@pytest.mark.parametrize("name,registrable,with_suffix", [
    ("example.com", "example.com", "example.com"),
    ("a.b.c.example.com", "example.com", "example.com"),
    ("www.Example.CO.UK.", "example.co.uk", "example.co.uk"),  # case, trailing dot, two-label suffix
    ("WWW.EXAMPLE.COM..", "example.com", "example.com"),
    ("  mail.example.org  ", "example.org", "example.org"),
    ("_dmarc.example.org", "example.org", "example.org"),
    ("forums.bbc.co.uk", "bbc.co.uk", "bbc.co.uk"),
    ("www.city.kawasaki.jp", "city.kawasaki.jp", "city.kawasaki.jp"),  # PSL exception rule !city.kawasaki.jp
    ("a.b.kawasaki.jp", "a.b.kawasaki.jp", "a.b.kawasaki.jp"),  # wildcard rule *.kawasaki.jp
    ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
    ("mybucket.s3.amazonaws.com", "amazonaws.com", "amazonaws.com"),  # ICANN section only by default
    ("user.github.io", "github.io", "github.io"),
    ("4.3.2.1.in-addr.arpa.", "in-addr.arpa", "in-addr.arpa"),
    ("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa", "ip6.arpa", "ip6.arpa"),
    ("ip-10-0-0-1.ec2.internal", "ec2.internal", "ec2.internal"),  # not on the PSL: default rule "*"
    ("printer.corp.local", "corp.local", "corp.local"),
    ("1.2.3.4", "", "1.2.3.4"),
    ("2001:db8::1", "", "2001:db8::1"),
    ("[2001:db8::1]", "", "2001:db8::1"),
    ("localhost", "", "localhost"),
    ("LOCALHOST.", "", "localhost"),
    ("co.uk", "", "co.uk"),
    ("com", "", "com"),
    ("", "", ""),
    (".", "", ""),
])
def test_registrable_domain(name, registrable, with_suffix):
    assert registrable_domain(name) == registrable
    assert domain_with_suffix(name) == with_suffix


@pytest.mark.parametrize("name,private", [
    ("mybucket.s3.amazonaws.com", "mybucket.s3.amazonaws.com"),
    ("user.github.io", "user.github.io"),
    ("deep.user.github.io", "user.github.io"),
    ("example.com", "example.com"),
    ("s3.amazonaws.com", ""),  # itself a private suffix
])
def test_private_suffixes_on_request(name, private):
    assert registrable_domain(name, private=True) == private
    assert domain_with_suffix(name, private=True) == (private or name)


def test_split_name_parts_and_cache():
    assert split_name("a.b.example.co.uk") == ("a.b", "example.co.uk", "co.uk")
    assert split_name("1.2.3.4") == ("", "", "")
    split_name.cache_clear()
    registrable_domain("www.example.net")
    registrable_domain("www.example.net")
    info = split_name.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def test_psl_snapshot_version():
    assert psl_version()[:4].isdigit() and psl_version() >= "2025-04-07"


def test_no_fetch_and_no_cache_files(tmp_path):
    """The extractor neither reads environment URLs nor writes a cache under $HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TLDEXTRACT", "XDG_"))}
    env.update(HOME=str(tmp_path), TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="http://127.0.0.1:9/psl.dat")
    code = (
        "from trailhound.enrich import domains; "
        "print(domains.registrable_domain('a.example.co.uk')); "
        "e = domains._extractor(); print(e.suffix_list_urls, e._cache.enabled)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == ["example.co.uk", "() False"]
    assert out.stderr == ""
    assert not any(Path(tmp_path).rglob("*")), list(Path(tmp_path).rglob("*"))


def test_extractor_is_lazy():
    code = "import sys; from trailhound.enrich import domains; print('tldextract' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False False"
    assert domains.CACHE_SIZE >= 1 << 16
