"""Initial schema: tenants, signers, identities and their public shares, tokens, sessions, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "signers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("transport_public_key", sa.Text, nullable=False),
        sa.Column("attestation_public_key", sa.Text, nullable=False),
        sa.Column("signer_public_key", sa.Text, nullable=False),
        sa.Column("provider_name", sa.String(200), nullable=False),
        sa.Column("provider_kind", sa.String(32), nullable=False),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("serial", sa.String(200), nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False),
        sa.Column("supports_dkg", sa.Boolean, nullable=False),
        sa.Column("registered_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signers"),
        sa.CheckConstraint("kind IN ('local', 'http')", name="ck_signers_kind"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("group_pubkey", sa.String(64), nullable=False),
        sa.Column("group_pubkey_dealt", sa.String(66), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("participants", sa.Integer, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("keygen_method", sa.String(16), nullable=False),
        sa.Column("imported_from_software", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_identities_tenant_id_tenants"
        ),
        sa.UniqueConstraint("group_pubkey", name="uq_identities_group_pubkey"),
        sa.CheckConstraint("status IN ('active', 'disabled')", name="ck_identities_status"),
        sa.CheckConstraint(
            "keygen_method IN ('dealer', 'dkg', 'import')", name="ck_identities_keygen_method"
        ),
        sa.CheckConstraint(
            "threshold >= 1 AND threshold <= participants", name="ck_identities_t_of_n"
        ),
    )
    op.create_index("ix_identities_tenant_id", "identities", ["tenant_id"])
    op.create_table(
        "identity_shares",
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("participant", sa.Integer, nullable=False),
        sa.Column("signer_id", sa.String(64), nullable=False),
        sa.Column("pubshare", sa.String(66), nullable=False),
        sa.PrimaryKeyConstraint("identity_id", "epoch", "participant", name="pk_identity_shares"),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            ondelete="CASCADE",
            name="fk_identity_shares_identity_id_identities",
        ),
        sa.ForeignKeyConstraint(
            ["signer_id"], ["signers.id"], name="fk_identity_shares_signer_id_signers"
        ),
    )
    op.create_index("ix_identity_shares_signer_id", "identity_shares", ["signer_id"])
    op.create_table(
        "vss_commitments",
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("commitment", sa.String(66), nullable=False),
        sa.PrimaryKeyConstraint("identity_id", "epoch", "position", name="pk_vss_commitments"),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            ondelete="CASCADE",
            name="fk_vss_commitments_identity_id_identities",
        ),
    )
    op.create_table(
        "share_attestations",
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("participant", sa.Integer, nullable=False),
        sa.Column("signer_id", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint(
            "identity_id", "epoch", "participant", name="pk_share_attestations"
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            ondelete="CASCADE",
            name="fk_share_attestations_identity_id_identities",
        ),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_tokens_tenant_id_tenants"
        ),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.CheckConstraint(
            "role IN ('admin', 'operator', 'auditor', 'app')", name="ck_api_tokens_role"
        ),
    )
    op.create_index("ix_api_tokens_tenant_id", "api_tokens", ["tenant_id"])
    op.create_table(
        "signing_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("signer_ids", sa.Text, nullable=False),
        sa.Column("event_ids", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signing_sessions"),
    )
    op.create_index("ix_signing_sessions_identity_id", "signing_sessions", ["identity_id"])
    op.create_table(
        "audit_log",
        sa.Column("idx", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("identity_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_identity_id", "audit_log", ["identity_id"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "signing_sessions",
        "api_tokens",
        "share_attestations",
        "vss_commitments",
        "identity_shares",
        "identities",
        "signers",
        "tenants",
    ):
        op.drop_table(table)
