"""Persistence: SQLAlchemy models, the engine/session factory, and the only code that writes to the database:
the repositories (``outbox`` and ``ssh_slots`` for their own tables)."""
