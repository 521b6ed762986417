"""Ceremonies: M-of-N admin approvals of sensitive operations (store/ceremony_tables.py).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Registers the ceremony tables on store.tables.metadata whenever migrations load, so the
# schema == metadata comparison holds even for a process that never imported them.
import nostr_passport.store.ceremony_tables  # noqa: F401

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ceremonies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ceremonies"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'executing', 'executed', 'expired', 'rejected')",
            name="ck_ceremonies_status",
        ),
        sa.CheckConstraint("required >= 1", name="ck_ceremonies_required"),
    )
    op.create_index("ix_ceremonies_tenant_id", "ceremonies", ["tenant_id"])
    op.create_table(
        "ceremony_approvals",
        sa.Column("ceremony_id", sa.String(64), nullable=False),
        sa.Column("approver", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("approved_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("ceremony_id", "approver", name="pk_ceremony_approvals"),
        sa.ForeignKeyConstraint(
            ["ceremony_id"],
            ["ceremonies.id"],
            name="fk_ceremony_approvals_ceremony_id_ceremonies",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("ceremony_approvals")
    op.drop_index("ix_ceremonies_tenant_id", table_name="ceremonies")
    op.drop_table("ceremonies")
