"""The store: SQLAlchemy Core tables on SQLite (default) or PostgreSQL, Alembic migrations.

`Store` (database.py) owns the engine and transactions; the table modules (identities,
tokens, signers, tenants, audit_log, sessions) are plain functions over an open
Connection, so a caller composes one transaction from several of them.
"""

# Table modules beyond tables.py register themselves on the shared MetaData at import.
from . import checkpoints  # noqa: F401
from .database import Store, WriteConflictError
from .engine import sqlite_url

__all__ = ["Store", "WriteConflictError", "sqlite_url"]
