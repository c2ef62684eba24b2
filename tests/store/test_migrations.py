"""The Alembic migrations build exactly the schema the models describe (no change left out of a revision)."""

from __future__ import annotations


def test_models_match_migrations():
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import dlws_flow.store.models_sweeps
    import dlws_flow.store.models_transfers
    import dlws_flow.store.quota_models  # noqa: F401  (the quota tables)
    from dlws_flow.store.db import get_engine, migrate
    from dlws_flow.store.models import Base

    migrate()
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": False}), Base.metadata)
    assert diff == []
