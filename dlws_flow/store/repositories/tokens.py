"""Writes to ``tenant_signing_keys``, ``refresh_tokens`` and ``revoked_tokens``.

Keys are stored as they are given (the private key already encrypted by ``services.signing_keys``). Every
change that two processes may race is a compare-and-set: an insert under the primary key, or an update whose
``WHERE`` holds only for the first caller.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow.store.models import RefreshTokenRow, RevokedTokenRow, TenantSigningKeyRow, utcnow


def current_signing_key(session: Session, tenant: str) -> TenantSigningKeyRow | None:
    """The tenant's key pair in force (the newest generation), or None before the first one is made."""
    return session.scalars(select(TenantSigningKeyRow).where(TenantSigningKeyRow.tenant == tenant)
                           .order_by(TenantSigningKeyRow.generation.desc()).limit(1)).first()


def add_signing_key(session: Session, tenant: str, generation: int, public_key: str, private_key: bytes) -> bool:
    """Insert generation ``generation`` of the tenant's key pair unless another process inserted it first.

    On success the older generations are deleted in the same transaction (their tokens are refused from
    now on, and no old private key stays behind). Returns whether this call's key is the one stored.
    """
    try:
        with session.begin_nested():
            session.add(TenantSigningKeyRow(tenant=tenant, generation=generation, public_key=public_key,
                                            private_key=private_key))
    except IntegrityError:
        return False
    session.execute(delete(TenantSigningKeyRow).where(TenantSigningKeyRow.tenant == tenant,
                                                      TenantSigningKeyRow.generation < generation))
    return True


def add_refresh_token(session: Session, jti: str, session_id: str, username: str, tenant: str,
                      expires: datetime) -> None:
    """Record a refresh token just issued; expired ones of anyone are deleted on the way (they are refused
    by their ``exp`` already)."""
    session.execute(delete(RefreshTokenRow).where(RefreshTokenRow.expires < utcnow()))
    session.add(RefreshTokenRow(jti=jti, session_id=session_id, username=username, tenant=tenant, expires=expires))


def use_refresh_token(session: Session, jti: str) -> RefreshTokenRow | None:
    """Mark a refresh token used if it is still unused and not revoked (compare-and-set: of two refreshes
    with one token, one wins). Returns its row when this call used it, else None (see ``refresh_token``)."""
    result = session.execute(update(RefreshTokenRow)
                             .where(RefreshTokenRow.jti == jti, RefreshTokenRow.used.is_(None),
                                    RefreshTokenRow.revoked.is_(False))
                             .values(used=utcnow()).execution_options(synchronize_session=False))
    return session.get(RefreshTokenRow, jti) if result.rowcount == 1 else None


def refresh_token(session: Session, jti: str) -> RefreshTokenRow | None:
    return session.get(RefreshTokenRow, jti)


def revoke_refresh_session(session: Session, session_id: str) -> None:
    """Revoke every refresh token of one login's chain."""
    session.execute(update(RefreshTokenRow).where(RefreshTokenRow.session_id == session_id)
                    .values(revoked=True).execution_options(synchronize_session=False))


def revoke_refresh_token(session: Session, jti: str) -> None:
    session.execute(update(RefreshTokenRow).where(RefreshTokenRow.jti == jti)
                    .values(revoked=True).execution_options(synchronize_session=False))


def add_revoked_token(session: Session, jti: str, expires: datetime) -> None:
    """Refuse the access token ``jti`` from now on (again: no error); drops entries past their expiry."""
    session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires < utcnow()))
    if session.get(RevokedTokenRow, jti) is None:
        try:
            with session.begin_nested():
                session.add(RevokedTokenRow(jti=jti, expires=expires))
        except IntegrityError:
            pass  # revoked at the same moment by another request: revoked either way


def revoked_token_ids(session: Session, now: datetime) -> set[str]:
    """The jtis of access tokens revoked and not yet expired."""
    return set(session.scalars(select(RevokedTokenRow.jti).where(RevokedTokenRow.expires >= now)))
