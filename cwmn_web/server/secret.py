"""The server's secret key, and the tokens derived from it.

Tokens the server must be able to rebuild later (a replay's video link, emailed after the
render finishes) are an HMAC of what they name under this key; the database keeps only
their sha256, so a copy of the database opens nothing. The key is ``CWMN_SECRET`` if set
(every process of one deployment, and every replica, must share it), else a random key
made on first start in ``DATA_DIR/secret`` (mode 0600), which the render worker shares
through the data directory."""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

__all__ = ["SECRET_FILE", "derive_code", "derive_token", "load_secret"]

SECRET_FILE = "secret"
MIN_SECRET = 32


def load_secret(configured: str, data_dir: Path) -> bytes:
    """``configured`` (``CWMN_SECRET``, at least 32 characters), else the data dir's key
    (made on first use, readable by its owner only). Raise ValueError, with the fix, for
    a short ``CWMN_SECRET`` or a key file others can read."""
    if configured:
        if len(configured) < MIN_SECRET:
            raise ValueError(
                f"CWMN_SECRET has {len(configured)} characters; use at least {MIN_SECRET} "
                'random ones (python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return configured.encode()
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _publish_key(path)
    return _read_key(path)


def _publish_key(path: Path) -> None:
    """Make a new key at ``path`` unless another process has: the key is written whole to
    a temporary file (mode 0600) next to it, then linked into place, which fails if the
    file exists already (``make run`` starts the server and the render worker at once: the
    one that loses reads the winner's key, never a half-written file)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_hex(32).encode())
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process published its key first: that is the key
        except OSError as exc:  # a file system without hard links (some mounts)
            if exc.errno not in _NO_LINKS:
                raise
            _create_key(path)
    finally:
        os.unlink(temporary)


#: What ``link`` answers where a file system has no hard links.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _create_key(path: Path) -> None:
    """Make the key in place (mode 0600), unless it exists: where links are not to be had,
    a process starting at the same instant may read it before it is written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as file:
        file.write(secrets.token_hex(32).encode())


def _read_key(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(
            f"{path} (the server's secret key) is readable by others (mode {mode:o}): "
            f"`chmod 600 {path}`, or delete it to make a new key (old video links stop "
            "working)"
        )
    key = path.read_bytes().strip()
    if len(key) < MIN_SECRET:
        raise ValueError(f"{path} is not a key: delete it, the server makes a new one")
    return key


def _mac(key: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()


def derive_token(key: bytes, purpose: str, value: str) -> str:
    """The token for ``value`` (e.g. a replay's id) used for ``purpose``: 43 URL-safe
    characters no one without ``key`` can make."""
    return base64.urlsafe_b64encode(_mac(key, purpose, value)).decode().rstrip("=")


def derive_code(key: bytes, purpose: str, value: str, digits: int = 6) -> str:
    """A short code of ``digits`` digits for ``value`` (e.g. an invitation's token), for a
    person to type: nobody without ``key`` can tell it from the token."""
    return str(int.from_bytes(_mac(key, purpose, value), "big") % 10**digits).zfill(digits)
