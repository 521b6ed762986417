"""Alembic migration scripts of the store, run programmatically (store/migrate.py)."""
