"""Encryption at rest for stored credentials.

The key comes from ``DLWS_SECRET_KEY`` (any string; a Fernet key is derived from it). Without one, a
random key is created once in the data directory with mode 0600, so a single-machine install is
encrypted without any setup; a multi-machine deployment must share ``DLWS_SECRET_KEY``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken

from dlws_flow.errors import ConfigurationError
from dlws_flow.settings import get_settings


@functools.cache
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def secret() -> str:
    """The deployment secret (DLWS_SECRET_KEY, else a random key kept in the data dir)."""
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key
    path = settings.ensure_data_dir() / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return path.read_text().strip()


def encrypt(plain: str | None) -> bytes | None:
    return None if plain is None else _fernet(secret()).encrypt(plain.encode())


def decrypt(token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return _fernet(secret()).decrypt(token).decode()
    except InvalidToken as exc:
        raise ConfigurationError("stored credential cannot be decrypted: DLWS_SECRET_KEY changed?") from exc
