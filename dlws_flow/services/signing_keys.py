"""Each tenant's RS256 key pair, with which access and refresh tokens are signed.

Another Tapis service verifies our tokens as it verifies Tapis' own: with the public key of the tenant record
(``public_key`` of ``GET /v3/tenants/{id}``), RS256. The pair is made on first need and stored in
``tenant_signing_keys``, the private key Fernet-encrypted with the deployment secret (``dlws_flow.secrets``,
as SSH credentials are). Processes starting together may all make one; the insert under (tenant,
generation) lets one win, and every process then uses the stored pair.

Signing reads the stored pair each time (a token is issued after a password or refresh token check, which
reads the database anyway), so a rotated key is never used to sign again, by any process. Verification runs
on every request, so each process keeps the public key for ``DLWS_AUTH_CACHE_SECONDS``; a token whose
``kid`` (the key's RFC 7638 thumbprint) is not the one kept makes the process look again, at most once a
second, so tokens of a new key work everywhere at once and those of a rotated key stop within those seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dlws_flow import secrets
from dlws_flow.errors import ConfigurationError
from dlws_flow.settings import get_settings
from dlws_flow.store import repositories as repo
from dlws_flow.store.db import session_scope
from dlws_flow.store.models import TenantSigningKeyRow

KEY_BITS = 2048  # Tapis' own key size
RELOAD_SECONDS = 1.0  # an unknown kid makes a process read the stored key at most this often


@dataclass(frozen=True)
class SigningKey:
    """One generation of a tenant's pair: the public half loaded, the private half still encrypted."""

    tenant: str
    generation: int
    public_pem: str
    kid: str
    verifier: rsa.RSAPublicKey
    private_encrypted: bytes


def _thumbprint(public: rsa.RSAPublicKey) -> str:
    """RFC 7638: SHA-256 of the canonical JWK (e, kty, n), base64url without padding."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    canonical = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _key_of(row: TenantSigningKeyRow) -> SigningKey:
    public = serialization.load_pem_public_key(row.public_key.encode())
    if not isinstance(public, rsa.RSAPublicKey):
        raise ConfigurationError(f"the stored signing key of tenant {row.tenant} is not an RSA key")
    return SigningKey(row.tenant, row.generation, row.public_key, _thumbprint(public), public, row.private_key)


def _new_pair() -> tuple[str, bytes]:
    """(public key PEM, encrypted private key PEM) of a fresh pair."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return public_pem, secrets.encrypt(private_pem)


def _stored(tenant: str) -> SigningKey | None:
    with session_scope() as session:
        row = repo.current_signing_key(session, tenant)
        return _key_of(row) if row is not None else None


class _KeyCache:
    """tenant -> (kept until, key), and when each tenant's key was last read because of an unknown kid."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, SigningKey]] = {}
        self._reloaded: dict[str, float] = {}

    def get(self, tenant: str) -> SigningKey | None:
        kept = self._keys.get(tenant)
        return kept[1] if kept is not None and kept[0] > self.clock() else None

    def put(self, key: SigningKey) -> None:
        with self._lock:
            self._keys[key.tenant] = (self.clock() + get_settings().auth_cache_seconds, key)

    def may_reload(self, tenant: str) -> bool:
        """Whether an unknown kid may make this process read the key now (one read a second at most)."""
        with self._lock:
            now = self.clock()
            if now - self._reloaded.get(tenant, float("-inf")) < RELOAD_SECONDS:
                return False
            self._reloaded[tenant] = now
            return True

    def forget(self, tenant: str) -> None:
        with self._lock:
            self._keys.pop(tenant, None)


_cache = _KeyCache()


def signing_key(tenant: str) -> SigningKey:
    """The tenant's pair in force as stored now, made first if there is none."""
    key = _stored(tenant)
    if key is None:
        public_pem, private_encrypted = _new_pair()
        with session_scope() as session:  # of processes racing here, the first insert wins
            repo.add_signing_key(session, tenant, 1, public_pem, private_encrypted)
        key = _stored(tenant)
        if key is None:  # only if someone deleted it at this very moment
            raise ConfigurationError(f"the signing key of tenant {tenant} could not be stored")
    _cache.put(key)
    return key


def verification_key(tenant: str, kid: str | None = None) -> SigningKey:
    """The tenant's key to check a signature with, kept a few seconds; read again (at most once a second)
    when a token names another ``kid``."""
    key = _cache.get(tenant)
    if key is None or (kid is not None and kid != key.kid and _cache.may_reload(tenant)):
        key = signing_key(tenant)
    return key


def public_key_pem(tenant: str) -> str:
    """The PEM the tenant record publishes."""
    return verification_key(tenant).public_pem


def sign(claims: dict[str, Any], tenant: str) -> str:
    """``claims`` as an RS256 JWT under the tenant's key in force, its ``kid`` in the header.

    Raises:
        ConfigurationError: the private key cannot be decrypted (``DLWS_SECRET_KEY`` changed or missing).
    """
    key = signing_key(tenant)
    private_pem = secrets.decrypt(key.private_encrypted, what=f"the signing key of tenant {tenant}")
    # Fernet authenticated the PEM and we made the key: the slow RSA consistency check adds nothing.
    private = serialization.load_pem_private_key(private_pem.encode(), password=None,
                                                 unsafe_skip_rsa_key_validation=True)
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": key.kid})


def rotate(tenant: str) -> str:
    """Replace the tenant's pair with a new one; every token signed with the old one is refused from now on
    (here at once, in other processes within ``DLWS_AUTH_CACHE_SECONDS``). Returns the new public key PEM.

    Two rotations at once make one new pair: the second insert of the same generation loses, and its caller
    returns the winner's key.
    """
    current = signing_key(tenant)
    public_pem, private_encrypted = _new_pair()
    with session_scope() as session:
        repo.add_signing_key(session, tenant, current.generation + 1, public_pem, private_encrypted)
    _cache.forget(tenant)
    return signing_key(tenant).public_pem
