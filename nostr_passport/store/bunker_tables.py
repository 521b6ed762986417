"""The NIP-46 bunker's state: remote-signer keys, one-time secrets, app connections,
grants, requests waiting for the owner's approval, and seen request ids.

Tables live on the same MetaData as store/tables.py (migration 0003 creates them).
Nothing secret is stored: one-time secrets as SHA-256, a waiting request as the original
kind 24133 event exactly as it travelled over public relays (encrypted to the remote
signer key, which only the signers can use), permissions and public keys in the clear.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from .canonical import canonical_json
from .tables import identities, metadata

ConnectionStatus = Literal["active", "revoked"]
ConnectionVia = Literal["bunker", "nostrconnect"]
RequestStatus = Literal["pending", "approved", "denied", "executing", "done", "expired"]

# One remote-signer key per user identity: a hidden threshold identity on the signers.
bunker_signers = Table(
    "bunker_signers",
    metadata,
    Column("identity_id", String(64), primary_key=True),  # the user's identity
    Column("tenant_id", String(64), nullable=False),
    Column("signer_identity_id", String(64), nullable=False, unique=True),
    Column("signer_pubkey", String(64), nullable=False, unique=True),  # x-only hex
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)

bunker_secrets = Table(
    "bunker_secrets",
    metadata,
    Column("secret_hash", String(64), primary_key=True),  # sha256 hex of the secret
    Column("identity_id", String(64), nullable=False),
    Column("relays", Text, nullable=False),  # canonical JSON list
    Column("perms", Text, nullable=True),  # NIP-46 permission string; NULL: unrestricted
    Column("grant_ttl", BigInteger, nullable=True),  # seconds a connect-time grant lasts
    Column("grant_uses", Integer, nullable=True),  # uses of each connect-time grant
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("created_by", String(128), nullable=False),  # the issuing API token's id
    Column("consumed_at", BigInteger, nullable=True),
    Column("consumed_by", String(64), nullable=True),  # client pubkey
    Index("ix_bunker_secrets_identity_id", "identity_id"),
)

bunker_connections = Table(
    "bunker_connections",
    metadata,
    Column("identity_id", String(64), primary_key=True),
    Column("client_pubkey", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("via", String(16), nullable=False),
    Column("relays", Text, nullable=False),  # canonical JSON list: where replies go
    Column("perms_ceiling", Text, nullable=True),  # issuer's limit; NULL: unrestricted
    Column("name", String(200), nullable=True),
    Column("url", String(500), nullable=True),
    Column("authorized_by", String(64), nullable=False),  # API token id
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("revoked_by", String(128), nullable=True),
    CheckConstraint("status IN ('active', 'revoked')", name="status"),
    CheckConstraint("via IN ('bunker', 'nostrconnect')", name="via"),
)

bunker_grants = Table(
    "bunker_grants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("identity_id", String(64), nullable=False),
    Column("client_pubkey", String(64), nullable=False),
    Column("method", String(32), nullable=False),
    Column("kind", Integer, nullable=True),  # sign_event only; NULL: any kind
    Column("expires_at", BigInteger, nullable=True),
    Column("uses_left", Integer, nullable=True),  # NULL: unlimited
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Index("ix_bunker_grants_connection", "identity_id", "client_pubkey"),
)

bunker_requests = Table(
    "bunker_requests",
    metadata,
    Column("id", String(40), primary_key=True),  # in the auth_url; unguessable
    Column("identity_id", String(64), nullable=False),
    Column("client_pubkey", String(64), nullable=False),
    Column("method", String(32), nullable=False),
    Column("kind", Integer, nullable=True),
    Column("rpc_id", String(128), nullable=False),
    Column("request_event", Text, nullable=False),  # the encrypted kind 24133 event
    Column("reply_relays", Text, nullable=False),  # canonical JSON list
    Column("status", String(16), nullable=False),
    Column("decision", String(16), nullable=True),  # once | always | for
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=True),
    Column("decided_by", String(128), nullable=True),
    CheckConstraint(
        "status IN ('pending', 'approved', 'denied', 'executing', 'done', 'expired')",
        name="status",
    ),
    Index("ix_bunker_requests_identity_id", "identity_id"),
    Index("ix_bunker_requests_status", "status"),
)

# Ids of request events already taken by some gateway: several gateways (and relays
# replaying stored events after a reconnect) must not answer one request twice.
bunker_seen = Table(
    "bunker_seen",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("seen_at", BigInteger, nullable=False),
    Index("ix_bunker_seen_seen_at", "seen_at"),
)

BUNKER_TABLES: tuple[Table, ...] = (
    bunker_signers,
    bunker_secrets,
    bunker_connections,
    bunker_grants,
    bunker_requests,
    bunker_seen,
)


def _json_list(text: str) -> tuple[str, ...]:
    value = json.loads(text)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


# ---------------------------------------------------------------- remote-signer keys


@dataclass(frozen=True)
class RemoteSignerRecord:
    identity_id: str
    tenant_id: str
    signer_identity_id: str
    signer_pubkey: str
    created_at: int
    created_by: str


def _signer(row: Any) -> RemoteSignerRecord:
    return RemoteSignerRecord(
        identity_id=row["identity_id"],
        tenant_id=row["tenant_id"],
        signer_identity_id=row["signer_identity_id"],
        signer_pubkey=row["signer_pubkey"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def insert_remote_signer(conn: Connection, record: RemoteSignerRecord) -> None:
    conn.execute(
        bunker_signers.insert().values(
            identity_id=record.identity_id,
            tenant_id=record.tenant_id,
            signer_identity_id=record.signer_identity_id,
            signer_pubkey=record.signer_pubkey,
            created_at=record.created_at,
            created_by=record.created_by,
        )
    )


def remote_signer_of(conn: Connection, identity_id: str) -> RemoteSignerRecord | None:
    row = (
        conn.execute(select(bunker_signers).where(bunker_signers.c.identity_id == identity_id))
        .mappings()
        .first()
    )
    return None if row is None else _signer(row)


def remote_signer_by_pubkey(conn: Connection, pubkey: str) -> RemoteSignerRecord | None:
    row = (
        conn.execute(select(bunker_signers).where(bunker_signers.c.signer_pubkey == pubkey))
        .mappings()
        .first()
    )
    return None if row is None else _signer(row)


def all_remote_signers(conn: Connection) -> list[RemoteSignerRecord]:
    rows = conn.execute(select(bunker_signers).order_by(bunker_signers.c.created_at)).mappings()
    return [_signer(r) for r in rows]


def delete_remote_signer(conn: Connection, identity_id: str) -> None:
    conn.execute(delete(bunker_signers).where(bunker_signers.c.identity_id == identity_id))


# ---------------------------------------------------------------- one-time secrets


@dataclass(frozen=True)
class SecretRecord:
    secret_hash: str
    identity_id: str
    relays: tuple[str, ...]
    perms: str | None
    grant_ttl: int | None
    grant_uses: int | None
    created_at: int
    expires_at: int | None
    created_by: str
    consumed_at: int | None = None
    consumed_by: str | None = None


def _secret(row: Any) -> SecretRecord:
    return SecretRecord(
        secret_hash=row["secret_hash"],
        identity_id=row["identity_id"],
        relays=_json_list(row["relays"]),
        perms=row["perms"],
        grant_ttl=row["grant_ttl"],
        grant_uses=row["grant_uses"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        created_by=row["created_by"],
        consumed_at=row["consumed_at"],
        consumed_by=row["consumed_by"],
    )


def insert_secret(conn: Connection, record: SecretRecord) -> None:
    conn.execute(
        bunker_secrets.insert().values(
            secret_hash=record.secret_hash,
            identity_id=record.identity_id,
            relays=canonical_json(list(record.relays)),
            perms=record.perms,
            grant_ttl=record.grant_ttl,
            grant_uses=record.grant_uses,
            created_at=record.created_at,
            expires_at=record.expires_at,
            created_by=record.created_by,
        )
    )


def secret_by_hash(conn: Connection, secret_hash: str) -> SecretRecord | None:
    row = (
        conn.execute(select(bunker_secrets).where(bunker_secrets.c.secret_hash == secret_hash))
        .mappings()
        .first()
    )
    return None if row is None else _secret(row)


def open_secret_relays(conn: Connection, now: int) -> set[str]:
    """Relays of bunker:// URIs not used yet: their app will send `connect` there."""
    rows = conn.execute(
        select(bunker_secrets.c.relays).where(
            bunker_secrets.c.consumed_at.is_(None),
            or_(bunker_secrets.c.expires_at.is_(None), bunker_secrets.c.expires_at > now),
        )
    ).scalars()
    found: set[str] = set()
    for text in rows:
        found.update(_json_list(text))
    return found


def consume_secret(conn: Connection, secret_hash: str, client_pubkey: str, now: int) -> bool:
    """Mark the secret used by `client_pubkey`; False if it was already used (any gateway)."""
    result = conn.execute(
        update(bunker_secrets)
        .where(
            bunker_secrets.c.secret_hash == secret_hash,
            bunker_secrets.c.consumed_at.is_(None),
        )
        .values(consumed_at=now, consumed_by=client_pubkey)
    )
    return result.rowcount == 1


# ---------------------------------------------------------------- connections


@dataclass(frozen=True)
class ConnectionRecord:
    identity_id: str
    client_pubkey: str
    status: ConnectionStatus
    via: ConnectionVia
    relays: tuple[str, ...]
    perms_ceiling: str | None
    name: str | None
    url: str | None
    authorized_by: str
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


def _connection(row: Any) -> ConnectionRecord:
    return ConnectionRecord(
        identity_id=row["identity_id"],
        client_pubkey=row["client_pubkey"],
        status=row["status"],
        via=row["via"],
        relays=_json_list(row["relays"]),
        perms_ceiling=row["perms_ceiling"],
        name=row["name"],
        url=row["url"],
        authorized_by=row["authorized_by"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )


def connection_of(
    conn: Connection, identity_id: str, client_pubkey: str
) -> ConnectionRecord | None:
    row = (
        conn.execute(
            select(bunker_connections).where(
                bunker_connections.c.identity_id == identity_id,
                bunker_connections.c.client_pubkey == client_pubkey,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _connection(row)


def save_connection(conn: Connection, record: ConnectionRecord) -> None:
    """Insert, or replace a previous (revoked) connection of the same client."""
    values = {
        "status": record.status,
        "via": record.via,
        "relays": canonical_json(list(record.relays)),
        "perms_ceiling": record.perms_ceiling,
        "name": record.name,
        "url": record.url,
        "authorized_by": record.authorized_by,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
        "revoked_by": record.revoked_by,
    }
    if connection_of(conn, record.identity_id, record.client_pubkey) is None:
        conn.execute(
            bunker_connections.insert().values(
                identity_id=record.identity_id, client_pubkey=record.client_pubkey, **values
            )
        )
        return
    conn.execute(
        update(bunker_connections)
        .where(
            bunker_connections.c.identity_id == record.identity_id,
            bunker_connections.c.client_pubkey == record.client_pubkey,
        )
        .values(**values)
    )


def list_connections(conn: Connection, identity_id: str) -> list[ConnectionRecord]:
    rows = conn.execute(
        select(bunker_connections)
        .where(bunker_connections.c.identity_id == identity_id)
        .order_by(bunker_connections.c.created_at, bunker_connections.c.client_pubkey)
    ).mappings()
    return [_connection(r) for r in rows]


def active_connection_relays(conn: Connection) -> set[str]:
    """Every relay some active connection expects replies on (to listen there too)."""
    rows = conn.execute(
        select(bunker_connections.c.relays).where(bunker_connections.c.status == "active")
    ).scalars()
    found: set[str] = set()
    for text in rows:
        found.update(_json_list(text))
    return found


def revoke_connection(
    conn: Connection, identity_id: str, client_pubkey: str, now: int, by: str
) -> bool:
    """Revoke the connection and delete its grants; False when there is none active."""
    result = conn.execute(
        update(bunker_connections)
        .where(
            bunker_connections.c.identity_id == identity_id,
            bunker_connections.c.client_pubkey == client_pubkey,
            bunker_connections.c.status == "active",
        )
        .values(status="revoked", revoked_at=now, revoked_by=by)
    )
    delete_grants(conn, identity_id, client_pubkey)
    return result.rowcount == 1


def touch_connection(conn: Connection, identity_id: str, client_pubkey: str, now: int) -> None:
    conn.execute(
        update(bunker_connections)
        .where(
            bunker_connections.c.identity_id == identity_id,
            bunker_connections.c.client_pubkey == client_pubkey,
        )
        .values(last_used_at=now)
    )


# ---------------------------------------------------------------- grants


@dataclass(frozen=True)
class GrantRecord:
    id: str
    identity_id: str
    client_pubkey: str
    method: str
    kind: int | None
    expires_at: int | None
    uses_left: int | None
    created_at: int
    created_by: str


def _grant(row: Any) -> GrantRecord:
    return GrantRecord(
        id=row["id"],
        identity_id=row["identity_id"],
        client_pubkey=row["client_pubkey"],
        method=row["method"],
        kind=row["kind"],
        expires_at=row["expires_at"],
        uses_left=row["uses_left"],
        created_at=row["created_at"],
        created_by=row["created_by"],
    )


def insert_grants(conn: Connection, grants: Sequence[GrantRecord]) -> None:
    if not grants:
        return
    conn.execute(
        bunker_grants.insert(),
        [
            {
                "id": g.id,
                "identity_id": g.identity_id,
                "client_pubkey": g.client_pubkey,
                "method": g.method,
                "kind": g.kind,
                "expires_at": g.expires_at,
                "uses_left": g.uses_left,
                "created_at": g.created_at,
                "created_by": g.created_by,
            }
            for g in grants
        ],
    )


def grants_of(
    conn: Connection, identity_id: str, client_pubkey: str, now: int
) -> list[GrantRecord]:
    """The grants of a connection still in force (not expired, uses left)."""
    rows = conn.execute(
        select(bunker_grants)
        .where(
            bunker_grants.c.identity_id == identity_id,
            bunker_grants.c.client_pubkey == client_pubkey,
            or_(bunker_grants.c.expires_at.is_(None), bunker_grants.c.expires_at > now),
            or_(bunker_grants.c.uses_left.is_(None), bunker_grants.c.uses_left > 0),
        )
        .order_by(bunker_grants.c.method, bunker_grants.c.kind, bunker_grants.c.id)
    ).mappings()
    return [_grant(r) for r in rows]


def use_grant(
    conn: Connection, identity_id: str, client_pubkey: str, method: str, kind: int | None, now: int
) -> GrantRecord | None:
    """Take one use of a grant covering (method, kind), or None if nothing covers it.

    Unlimited grants are preferred, then those expiring first. A counted grant is
    decremented with a guarded UPDATE, so two gateways cannot both spend its last use.
    """
    covering = [
        g
        for g in grants_of(conn, identity_id, client_pubkey, now)
        if g.method == method and (g.kind is None or g.kind == kind)
    ]
    covering.sort(key=lambda g: (g.uses_left is not None, g.expires_at or 2**62))
    for grant in covering:
        if grant.uses_left is None:
            return grant
        result = conn.execute(
            update(bunker_grants)
            .where(bunker_grants.c.id == grant.id, bunker_grants.c.uses_left > 0)
            .values(uses_left=bunker_grants.c.uses_left - 1)
        )
        if result.rowcount == 1:
            return grant
    return None


def delete_grants(conn: Connection, identity_id: str, client_pubkey: str) -> None:
    conn.execute(
        delete(bunker_grants).where(
            bunker_grants.c.identity_id == identity_id,
            bunker_grants.c.client_pubkey == client_pubkey,
        )
    )


# ---------------------------------------------------------------- requests awaiting approval


@dataclass(frozen=True)
class PendingRequest:
    id: str
    identity_id: str
    client_pubkey: str
    method: str
    kind: int | None
    rpc_id: str
    request_event: str
    reply_relays: tuple[str, ...]
    status: RequestStatus
    decision: str | None
    created_at: int
    expires_at: int
    decided_at: int | None = None
    decided_by: str | None = None


def _request(row: Any) -> PendingRequest:
    return PendingRequest(
        id=row["id"],
        identity_id=row["identity_id"],
        client_pubkey=row["client_pubkey"],
        method=row["method"],
        kind=row["kind"],
        rpc_id=row["rpc_id"],
        request_event=row["request_event"],
        reply_relays=_json_list(row["reply_relays"]),
        status=row["status"],
        decision=row["decision"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
    )


def insert_request(conn: Connection, record: PendingRequest) -> None:
    conn.execute(
        bunker_requests.insert().values(
            id=record.id,
            identity_id=record.identity_id,
            client_pubkey=record.client_pubkey,
            method=record.method,
            kind=record.kind,
            rpc_id=record.rpc_id,
            request_event=record.request_event,
            reply_relays=canonical_json(list(record.reply_relays)),
            status=record.status,
            decision=record.decision,
            created_at=record.created_at,
            expires_at=record.expires_at,
        )
    )


def request_by_id(conn: Connection, request_id: str) -> PendingRequest | None:
    row = (
        conn.execute(select(bunker_requests).where(bunker_requests.c.id == request_id))
        .mappings()
        .first()
    )
    return None if row is None else _request(row)


def pending_requests(conn: Connection, identity_id: str, now: int) -> list[PendingRequest]:
    rows = conn.execute(
        select(bunker_requests)
        .where(
            bunker_requests.c.identity_id == identity_id,
            bunker_requests.c.status == "pending",
            bunker_requests.c.expires_at > now,
        )
        .order_by(bunker_requests.c.created_at, bunker_requests.c.id)
    ).mappings()
    return [_request(r) for r in rows]


def decide_request(
    conn: Connection,
    request_id: str,
    status: Literal["approved", "denied"],
    decision: str,
    by: str,
    now: int,
) -> bool:
    """pending -> approved/denied, if still pending and not expired (one decision wins)."""
    result = conn.execute(
        update(bunker_requests)
        .where(
            bunker_requests.c.id == request_id,
            bunker_requests.c.status == "pending",
            bunker_requests.c.expires_at > now,
        )
        .values(status=status, decision=decision, decided_by=by, decided_at=now)
    )
    return result.rowcount == 1


def claim_decided(conn: Connection, request_id: str) -> bool:
    """approved/denied -> executing: True for exactly one gateway, which then answers."""
    result = conn.execute(
        update(bunker_requests)
        .where(
            bunker_requests.c.id == request_id,
            bunker_requests.c.status.in_(("approved", "denied")),
        )
        .values(status="executing")
    )
    return result.rowcount == 1


def release_claim(conn: Connection, request: PendingRequest) -> None:
    """executing -> approved/denied again: the claimant could not answer it."""
    status = "denied" if request.decision == "deny" else "approved"
    conn.execute(
        update(bunker_requests)
        .where(bunker_requests.c.id == request.id, bunker_requests.c.status == "executing")
        .values(status=status)
    )


def finish_request(conn: Connection, request_id: str) -> None:
    conn.execute(
        update(bunker_requests).where(bunker_requests.c.id == request_id).values(status="done")
    )


def decided_request_ids(conn: Connection, limit: int = 100) -> list[str]:
    """Decided but not yet answered (the deciding gateway may run no bunker)."""
    rows = conn.execute(
        select(bunker_requests.c.id)
        .where(bunker_requests.c.status.in_(("approved", "denied")))
        .order_by(bunker_requests.c.decided_at)
        .limit(limit)
    ).scalars()
    return list(rows)


def expire_requests(conn: Connection, now: int) -> int:
    result = conn.execute(
        update(bunker_requests)
        .where(bunker_requests.c.status == "pending", bunker_requests.c.expires_at <= now)
        .values(status="expired")
    )
    return int(result.rowcount)


# ---------------------------------------------------------------- seen request events


def mark_seen(conn: Connection, event_id: str, now: int) -> None:
    """Insert the id; an IntegrityError (raised to the caller) means another took it."""
    conn.execute(bunker_seen.insert().values(event_id=event_id, seen_at=now))


def forget_seen(conn: Connection, before: int) -> int:
    result = conn.execute(delete(bunker_seen).where(bunker_seen.c.seen_at < before))
    return int(result.rowcount)


# ---------------------------------------------------------------- published names


@dataclass(frozen=True)
class PublishedSigner:
    label: str | None
    user_pubkey: str
    signer_pubkey: str


def published_signers(conn: Connection) -> list[PublishedSigner]:
    """Active identities with a remote-signer key, for /.well-known/nostr.json."""
    rows = conn.execute(
        select(identities.c.label, identities.c.group_pubkey, bunker_signers.c.signer_pubkey)
        .join(identities, identities.c.id == bunker_signers.c.identity_id)
        .where(identities.c.status == "active")
        .order_by(bunker_signers.c.created_at)
    ).all()
    return [PublishedSigner(r[0], r[1], r[2]) for r in rows]


# ---------------------------------------------------------------- cleanup


def orphaned_remote_signers(conn: Connection) -> list[RemoteSignerRecord]:
    """Remote-signer keys whose user identity was deleted."""
    rows = conn.execute(
        select(bunker_signers)
        .outerjoin(identities, identities.c.id == bunker_signers.c.identity_id)
        .where(identities.c.id.is_(None))
    ).mappings()
    return [_signer(r) for r in rows]


def delete_bunker_state(conn: Connection, identity_id: str) -> None:
    """Everything the bunker keeps about an identity (its key row last)."""
    for table in (bunker_grants, bunker_connections, bunker_secrets, bunker_requests):
        conn.execute(delete(table).where(table.c.identity_id == identity_id))
    delete_remote_signer(conn, identity_id)
