"""NIP-46 bunker: remote-signer keys, one-time secrets, connections, grants, approvals.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Registers the bunker tables on store.tables.metadata whenever migrations load, so the
# schema == metadata comparison holds even for a process that never imported them.
import nostr_passport.store.bunker_tables  # noqa: F401

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "bunker_signers",
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("signer_identity_id", sa.String(64), nullable=False),
        sa.Column("signer_pubkey", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("identity_id", name="pk_bunker_signers"),
        sa.UniqueConstraint("signer_identity_id", name="uq_bunker_signers_signer_identity_id"),
        sa.UniqueConstraint("signer_pubkey", name="uq_bunker_signers_signer_pubkey"),
    )
    op.create_table(
        "bunker_secrets",
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("relays", sa.Text, nullable=False),
        sa.Column("perms", sa.Text, nullable=True),
        sa.Column("grant_ttl", sa.BigInteger, nullable=True),
        sa.Column("grant_uses", sa.Integer, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("consumed_at", sa.BigInteger, nullable=True),
        sa.Column("consumed_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("secret_hash", name="pk_bunker_secrets"),
    )
    op.create_index("ix_bunker_secrets_identity_id", "bunker_secrets", ["identity_id"])
    op.create_table(
        "bunker_connections",
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("client_pubkey", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("relays", sa.Text, nullable=False),
        sa.Column("perms_ceiling", sa.Text, nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("authorized_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("identity_id", "client_pubkey", name="pk_bunker_connections"),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_bunker_connections_status"),
        sa.CheckConstraint("via IN ('bunker', 'nostrconnect')", name="ck_bunker_connections_via"),
    )
    op.create_table(
        "bunker_grants",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("client_pubkey", sa.String(64), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("kind", sa.Integer, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("uses_left", sa.Integer, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bunker_grants"),
    )
    op.create_index(
        "ix_bunker_grants_connection", "bunker_grants", ["identity_id", "client_pubkey"]
    )
    op.create_table(
        "bunker_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("client_pubkey", sa.String(64), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("kind", sa.Integer, nullable=True),
        sa.Column("rpc_id", sa.String(128), nullable=False),
        sa.Column("request_event", sa.Text, nullable=False),
        sa.Column("reply_relays", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bunker_requests"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'executing', 'done', 'expired')",
            name="ck_bunker_requests_status",
        ),
    )
    op.create_index("ix_bunker_requests_identity_id", "bunker_requests", ["identity_id"])
    op.create_index("ix_bunker_requests_status", "bunker_requests", ["status"])
    op.create_table(
        "bunker_seen",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_bunker_seen"),
    )
    op.create_index("ix_bunker_seen_seen_at", "bunker_seen", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_bunker_seen_seen_at", table_name="bunker_seen")
    op.drop_table("bunker_seen")
    op.drop_index("ix_bunker_requests_status", table_name="bunker_requests")
    op.drop_index("ix_bunker_requests_identity_id", table_name="bunker_requests")
    op.drop_table("bunker_requests")
    op.drop_index("ix_bunker_grants_connection", table_name="bunker_grants")
    op.drop_table("bunker_grants")
    op.drop_table("bunker_connections")
    op.drop_index("ix_bunker_secrets_identity_id", table_name="bunker_secrets")
    op.drop_table("bunker_secrets")
    op.drop_table("bunker_signers")
