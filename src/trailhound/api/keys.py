"""Access keys for the API: making them, and keeping their secrets sealed in the store.

Why the secrets are encrypted rather than hashed: SigV4 never sends the secret. The client sends an HMAC chain
keyed by "AWS4" + secret over the date, region, service and the request, and the server can only check it by
computing the same HMAC, so it needs the secret itself (or per-day signing keys derived from it, which are as good as
the secret for that day). A one-way hash such as bcrypt cannot feed an HMAC, so each secret is sealed with AES-GCM
under a master key kept outside the database: a copy of the database alone (a backup, a dump, a stolen PostgreSQL
replica) does not yield usable keys. The access key id is the AEAD's associated data, so a sealed blob moved onto
another key's row does not open.

Key ids are "THAK" + 16 base32 characters (80 random bits): the 20-character, upper-case shape of AWS's AKIA ids,
which every client and IAM's AccessKeyId pattern accept, but a prefix of our own so that a leaked Trailhound key is
recognised as one and never taken for (or reported to AWS as) a real AWS credential.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ID_PREFIX = "THAK"
MASTER_KEY_ENV = "TRAILHOUND_MASTER_KEY"
MASTER_KEY_BYTES = 32
_SEAL_VERSION = b"\x01"  # first byte of every blob, so the scheme can change without guessing at old rows
_NONCE_BYTES = 12


class SealError(Exception):
    """A master key or a sealed secret that cannot be used; the message is one line and never holds key material."""


def new_key(account_id: str) -> tuple[str, str]:
    """A fresh (access_key_id, secret) for account_id; the caller stores the secret sealed and shows it once."""
    if not (len(account_id) == 12 and account_id.isdigit()):
        raise ValueError(f"account id must be 12 digits, not {account_id[:32]!r}")
    key_id = KEY_ID_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode()
    secret = base64.b64encode(secrets.token_bytes(30)).decode()  # 40 characters of AWS's secret alphabet
    return key_id, secret


def seal(secret: str, key: bytes, access_key_id: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)  # random 96-bit nonces: safe far beyond any number of keys we make
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, secret.encode(), access_key_id.encode())


def unseal(blob: bytes, key: bytes, access_key_id: str) -> str:
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _SEAL_VERSION:
        raise SealError(f"the sealed secret of {access_key_id} is not a Trailhound sealed blob")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, sealed, access_key_id.encode()).decode()
    except InvalidTag:
        raise SealError(
            f"the sealed secret of {access_key_id} does not open: another master key, another key id, or altered"
        ) from None


def load_or_create_master_key(path: Path, *, environ: Mapping[str, str] = os.environ) -> bytes:
    """The 32-byte master key: from TRAILHOUND_MASTER_KEY (base64) if set, else from path, created on first use.

    The file is refused when group or others have any access to it or it is not exactly 32 bytes: a readable key
    file would undo the sealing, and a truncated one would seal new secrets under a key nobody can reproduce.
    """
    if MASTER_KEY_ENV in environ:
        try:
            key = base64.b64decode(environ[MASTER_KEY_ENV].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SealError(f"{MASTER_KEY_ENV} is not base64") from None
        if len(key) != MASTER_KEY_BYTES:
            raise SealError(f"{MASTER_KEY_ENV} must decode to {MASTER_KEY_BYTES} bytes, not {len(key)}")
        return key
    if not os.path.lexists(path):
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    # Written whole under a temporary name, then hard-linked into place: the link fails if another process made
    # the file first, so two servers starting together agree on one key instead of each sealing with its own.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(MASTER_KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process's key won the race; _read uses it
    finally:
        os.unlink(tmp)
    # the directory entry too: a key lost in a crash would make every sealed secret unreadable
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise SealError(f"master key file {path} cannot be opened: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())  # checks on the open file, not the name, so a swap between check and read fails
        if not stat.S_ISREG(st.st_mode):
            raise SealError(f"master key file {path} is not a regular file")
        if st.st_mode & 0o077:
            raise SealError(f"master key file {path} is accessible to group or others (mode {st.st_mode & 0o777:o}); chmod 600 it")
        if st.st_size != MASTER_KEY_BYTES:
            raise SealError(f"master key file {path} holds {st.st_size} bytes, not {MASTER_KEY_BYTES}")
        return f.read(MASTER_KEY_BYTES)
