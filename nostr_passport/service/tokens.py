"""Issuing API tokens: the one function that mints a token, records its hash, audits it."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from nostr_passport.store.tenants import ensure_tenant
from nostr_passport.store.tokens import Role, TokenRecord, TokenScopes, insert_token

from .access import new_token, new_token_id, token_hash
from .audit import OK, AuditLog
from .views import IssuedToken, TokenView


def issue_token(
    conn: Connection,
    audit: AuditLog,
    *,
    actor: str,
    tenant_id: str,
    name: str,
    role: Role,
    scopes: TokenScopes,
    expires_at: int | None,
    request_id: str,
    now: int,
) -> IssuedToken:
    """Create the token (tenant too, if new) and its audit record, in the caller's transaction.

    The token itself is returned once and stored nowhere; the record holds its SHA-256.
    """
    ensure_tenant(conn, tenant_id, tenant_id, now)
    token = new_token()
    record = TokenRecord(
        id=new_token_id(),
        tenant_id=tenant_id,
        name=name,
        role=role,
        token_hash=token_hash(token),
        scopes=scopes,
        expires_at=expires_at,
        revoked_at=None,
        created_at=now,
        created_by=actor,
    )
    insert_token(conn, record)
    audit.append(
        conn,
        audit.entry(
            actor=actor,
            tenant_id=tenant_id,
            action="token.create",
            outcome=OK,
            request_id=request_id,
            details={
                "token_id": record.id,
                "role": role,
                "name": name,
                "scopes": {
                    "identities": None if scopes.identities is None else list(scopes.identities),
                    "methods": None if scopes.methods is None else list(scopes.methods),
                    "kinds": None if scopes.kinds is None else list(scopes.kinds),
                },
                "expires_at": expires_at,
            },
        ),
    )
    return IssuedToken(token=token, view=TokenView.of(record))
