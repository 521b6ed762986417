"""API tokens: role, tenant, scopes, expiry, revocation. Only the SHA-256 of a token is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .canonical import canonical_json
from .tables import api_tokens

Role = Literal["admin", "operator", "auditor", "app"]
ROLES: tuple[Role, ...] = ("admin", "operator", "auditor", "app")


@dataclass(frozen=True)
class TokenScopes:
    """What a token may touch; None means "no restriction on this axis"."""

    identities: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    kinds: tuple[int, ...] | None = None

    def to_json(self) -> str:
        return canonical_json(
            {
                "identities": None if self.identities is None else list(self.identities),
                "methods": None if self.methods is None else list(self.methods),
                "kinds": None if self.kinds is None else list(self.kinds),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenScopes:
        data: dict[str, Any] = json.loads(text)
        identities = data.get("identities")
        methods = data.get("methods")
        kinds = data.get("kinds")
        return cls(
            identities=None if identities is None else tuple(str(i) for i in identities),
            methods=None if methods is None else tuple(str(m) for m in methods),
            kinds=None if kinds is None else tuple(int(k) for k in kinds),
        )


@dataclass(frozen=True)
class TokenRecord:
    id: str
    tenant_id: str
    name: str
    role: Role
    token_hash: str
    scopes: TokenScopes
    expires_at: int | None
    revoked_at: int | None
    created_at: int
    created_by: str | None


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        role=row["role"],
        token_hash=row["token_hash"],
        scopes=TokenScopes.from_json(row["scopes"]),
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def insert_token(conn: Connection, record: TokenRecord) -> None:
    conn.execute(
        api_tokens.insert().values(
            id=record.id,
            tenant_id=record.tenant_id,
            name=record.name,
            role=record.role,
            token_hash=record.token_hash,
            scopes=record.scopes.to_json(),
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            created_at=record.created_at,
            created_by=record.created_by,
        )
    )


def token_by_hash(conn: Connection, token_hash: str) -> TokenRecord | None:
    row = (
        conn.execute(select(api_tokens).where(api_tokens.c.token_hash == token_hash))
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


def token_by_id(conn: Connection, token_id: str) -> TokenRecord | None:
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
    return None if row is None else _record(row)


def list_tokens(conn: Connection, tenant_id: str | None) -> list[TokenRecord]:
    query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
    if tenant_id is not None:
        query = query.where(api_tokens.c.tenant_id == tenant_id)
    return [_record(r) for r in conn.execute(query).mappings().all()]


def revoke_token(conn: Connection, token_id: str, now: int) -> bool:
    """Mark revoked (idempotent: the first revocation time is kept); True when it exists."""
    existing = token_by_id(conn, token_id)
    if existing is None:
        return False
    if existing.revoked_at is None:
        conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=now))
    return True
