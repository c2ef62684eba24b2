"""Alembic environment: one engine from dlws-flow's settings; serialised across processes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from dlws_flow.store.db import get_engine
from dlws_flow.store.models import Base

MIGRATION_LOCK_ID = 0x646C7773  # "dlws": several workers may start at once against one PostgreSQL


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine") or get_engine()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()


run_migrations_online()
