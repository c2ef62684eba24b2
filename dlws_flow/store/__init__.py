"""Persistence: SQLAlchemy models, the engine/session factory and the repositories that commit."""
