"""Tenants: groups of identities and tokens sharing one signer pool."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .tables import tenants

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class TenantRecord:
    id: str
    name: str
    created_at: int


def tenant_by_id(conn: Connection, tenant_id: str) -> TenantRecord | None:
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
    if row is None:
        return None
    return TenantRecord(id=row["id"], name=row["name"], created_at=row["created_at"])


def ensure_tenant(conn: Connection, tenant_id: str, name: str, now: int) -> TenantRecord:
    """The tenant, created if missing."""
    existing = tenant_by_id(conn, tenant_id)
    if existing is not None:
        return existing
    conn.execute(tenants.insert().values(id=tenant_id, name=name, created_at=now))
    return TenantRecord(id=tenant_id, name=name, created_at=now)


def list_tenants(conn: Connection) -> list[TenantRecord]:
    rows = conn.execute(select(tenants).order_by(tenants.c.id)).mappings().all()
    return [TenantRecord(id=r["id"], name=r["name"], created_at=r["created_at"]) for r in rows]
