"""Encryption at rest for stored credentials and the tenants' token signing keys.

The key comes from ``DLWS_SECRET_KEY`` (any string; a Fernet key is derived from it). Without one, a
random key is created once in the data directory with mode 0600, so a single-machine install is
encrypted without any setup; a multi-machine deployment must share ``DLWS_SECRET_KEY``.

Processes starting together (API workers, Celery workers) may all find no key: each writes its own
candidate to a temporary file and hard-links it to ``secret.key``, which never replaces a key already
there, so the first link wins, the others read that one, and nobody ever sees a half-written file.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from dlws_flow.errors import ConfigurationError
from dlws_flow.settings import get_settings


@functools.cache
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def secret() -> str:
    """The deployment secret (DLWS_SECRET_KEY, else a random key kept in the data dir).

    Raises:
        ConfigurationError: ``secret.key`` exists but is empty (never derive keys from an empty secret).
    """
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key
    path = settings.ensure_data_dir() / "secret.key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = _create_key(path)
    if not key:
        raise ConfigurationError(f"{path} is empty: restore the key from a backup (stored credentials need it), "
                                 "or remove the file to have a new one made, or set DLWS_SECRET_KEY")
    return key


def _create_key(path: Path) -> str:
    """Put a new random key at ``path`` unless another process put one there first; return the one there."""
    fd, candidate = tempfile.mkstemp(prefix=".secret.key.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(candidate, path)  # atomic, and unlike rename it never replaces an existing key
        except FileExistsError:
            pass  # another process won: use its key
    finally:
        os.unlink(candidate)
    return path.read_text().strip()


def encrypt(plain: str | None) -> bytes | None:
    return None if plain is None else _fernet(secret()).encrypt(plain.encode())


def decrypt(token: bytes | None, what: str = "stored credential") -> str | None:
    """``token`` decrypted; ``what`` names it in the error (credentials, the tenants' token signing keys)."""
    if token is None:
        return None
    try:
        return _fernet(secret()).decrypt(token).decode()
    except InvalidToken as exc:
        raise ConfigurationError(f"{what} cannot be decrypted: DLWS_SECRET_KEY changed?") from exc
