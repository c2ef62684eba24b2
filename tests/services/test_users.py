"""Users created by several processes at once: the API's workers all run ``ensure_admin`` at start."""

from __future__ import annotations

import pytest

from dlws_flow.errors import ValidationError


@pytest.fixture(autouse=True, scope="module")
def schema():
    from dlws_flow.store.db import migrate

    migrate()


def test_a_user_added_by_another_process_meanwhile_is_already_exists(monkeypatch):
    import dlws_flow.services.auth as auth
    from dlws_flow.store.db import session_scope
    from dlws_flow.store.models import UserRow, utcnow

    real_hasher = auth._hasher

    class OtherProcessWins:
        def hash(self, password: str) -> str:
            # Between our look-up and our insert, another API worker commits the same user.
            with session_scope() as session:
                session.add(UserRow(username="racer", tenant="dlws", is_admin=True,
                                    password_hash=real_hasher.hash("x" * 8), tokens_valid_after=utcnow()))
            return real_hasher.hash(password)

    monkeypatch.setattr(auth, "_hasher", OtherProcessWins())
    with pytest.raises(ValidationError, match="user racer already exists"):
        auth.create_user("racer", "racer-password", admin=True)
    assert auth.user_exists("racer")


def test_ensure_admin_tolerates_an_admin_created_meanwhile(monkeypatch):
    import dlws_flow.services.auth as auth

    settings = auth.get_settings()
    monkeypatch.setattr(settings, "admin_user", "admin_race")
    monkeypatch.setattr(settings, "admin_password", "admin-race-password")
    real_create = auth.create_user

    def created_meanwhile(*args, **kwargs):
        real_create("admin_race", "other-workers-password", admin=True)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(auth, "create_user", created_meanwhile)
    auth.ensure_admin()  # does not raise: the other worker's admin stands
    assert auth.get_user("admin_race").is_admin
