"""Stored logins (``credentials``): one per (system, dlws user), their secrets encrypted with the deployment's key."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from dlws_flow import secrets
from dlws_flow.domain.records import Credential
from dlws_flow.errors import ValidationError
from dlws_flow.store.models import CredentialRow
from dlws_flow.store.repositories.file_shares import delete_file_shares_on
from dlws_flow.store.repositories.grants import delete_grants_on


def set_credential(session: Session, system_id: str, username: str, credential: Credential, login_user: str | None) -> None:
    if not (credential.privateKey or credential.password):
        raise ValidationError("a credential needs a privateKey or a password")
    row = session.get(CredentialRow, (system_id, username)) or CredentialRow(system_id=system_id, username=username)
    row.login_user = credential.loginUser or login_user
    row.private_key = secrets.encrypt(credential.privateKey)
    row.password = secrets.encrypt(credential.password)
    session.merge(row)


def get_credential(session: Session, system_id: str, username: str) -> CredentialRow | None:
    return session.get(CredentialRow, (system_id, username))


def delete_credentials(session: Session, system_id: str, username: str | None = None) -> int:
    """Remove the stored logins of a system: ``username``'s, or every user's. Returns how many went."""
    query = delete(CredentialRow).where(CredentialRow.system_id == system_id)
    if username is not None:
        query = query.where(CredentialRow.username == username)
    return session.execute(query.execution_options(synchronize_session="fetch")).rowcount


def forget_system_access(session: Session, system_id: str) -> None:
    """Remove every stored login of a system and every grant on it (system and file permissions, shares)."""
    delete_credentials(session, system_id)
    delete_grants_on(session, ("system", "file"), system_id)
    delete_file_shares_on(session, system_id)
