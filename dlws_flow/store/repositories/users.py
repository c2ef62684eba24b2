"""Writes to ``users``: API users, their password hashes and the instant before which their tokens are refused.

Hashing is the caller's (``services.auth``): these functions store what they are given."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dlws_flow.errors import ValidationError
from dlws_flow.store.models import UserRow, utcnow


def add_user(session: Session, username: str, tenant: str, password_hash: str, *, is_admin: bool) -> UserRow:
    """Insert a user; tokens issued before now are refused (a user removed and added again gets none back).

    Raises:
        ValidationError: the user exists (also when another process added it since the caller looked).
    """
    row = UserRow(username=username, tenant=tenant, is_admin=is_admin, password_hash=password_hash,
                  tokens_valid_after=utcnow())
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ValidationError(f"user {username} already exists") from exc
    return row


def set_user_password(session: Session, row: UserRow, password_hash: str, *, revoke_tokens: bool) -> None:
    """Store a new hash; with ``revoke_tokens``, tokens issued before now stop working."""
    if revoke_tokens:
        row.tokens_valid_after = utcnow()
    row.password_hash = password_hash


def set_user_admin(session: Session, row: UserRow, is_admin: bool) -> None:
    row.is_admin = is_admin


def delete_user(session: Session, row: UserRow) -> None:
    session.delete(row)
