"""Alembic environment: always online, on the connection store/migrate.py hands us."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from nostr_passport.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through nostr_passport.store.migrate, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
