"""The store's tables, as SQLAlchemy Core objects: the current shape of the schema.

Migrations (store/migrations) are the history that produces this shape; a test compares
the two so they cannot drift. Everything here is public data or hashes: no share, nonce,
token or plaintext is ever stored.

Conventions: times are unix seconds (BIGINT) except the audit log's ISO-8601 `time`, keys
and hashes are lowercase hex, JSON columns hold canonical JSON text (sorted keys, no
whitespace) so that what is hashed is exactly what is stored.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# Named constraints keep migrations portable (SQLite batch mode needs names).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

signers = Table(
    "signers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("url", String(500), nullable=True),
    Column("transport_public_key", Text, nullable=False),
    Column("attestation_public_key", Text, nullable=False),
    # Ed25519 key an HTTP signer signs its replies with; empty for in-process signers.
    Column("signer_public_key", Text, nullable=False),
    Column("provider_name", String(200), nullable=False),
    Column("provider_kind", String(32), nullable=False),
    Column("vendor", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("serial", String(200), nullable=False),
    Column("simulated", Boolean, nullable=False),
    Column("supports_dkg", Boolean, nullable=False),
    Column("registered_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("kind IN ('local', 'http')", name="kind"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("label", String(200), nullable=True),
    Column("group_pubkey", String(64), nullable=False, unique=True),  # x-only hex (the npub)
    Column("group_pubkey_dealt", String(66), nullable=False),  # 33-byte compressed, as dealt
    Column("threshold", Integer, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("keygen_method", String(16), nullable=False),
    Column("imported_from_software", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("status IN ('active', 'disabled')", name="status"),
    CheckConstraint("keygen_method IN ('dealer', 'dkg', 'import')", name="keygen_method"),
    CheckConstraint("threshold >= 1 AND threshold <= participants", name="t_of_n"),
    Index("ix_identities_tenant_id", "tenant_id"),
)

identity_shares = Table(
    "identity_shares",
    metadata,
    Column("identity_id", String(64), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("participant", Integer, primary_key=True),
    Column("signer_id", String(64), ForeignKey("signers.id"), nullable=False),
    Column("pubshare", String(66), nullable=False),
    ForeignKeyConstraint(["identity_id"], ["identities.id"], ondelete="CASCADE"),
    Index("ix_identity_shares_signer_id", "signer_id"),
)

vss_commitments = Table(
    "vss_commitments",
    metadata,
    Column("identity_id", String(64), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("commitment", String(66), nullable=False),
    ForeignKeyConstraint(["identity_id"], ["identities.id"], ondelete="CASCADE"),
)

share_attestations = Table(
    "share_attestations",
    metadata,
    Column("identity_id", String(64), primary_key=True),
    Column("epoch", Integer, primary_key=True),
    Column("participant", Integer, primary_key=True),
    Column("signer_id", String(64), nullable=False),
    Column("statement", Text, nullable=False),  # canonical JSON, as signed
    Column("signature", Text, nullable=False),  # hex DER ECDSA P-256
    Column("public_key", Text, nullable=False),  # hex SPKI DER
    ForeignKeyConstraint(["identity_id"], ["identities.id"], ondelete="CASCADE"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex; never the token
    Column("scopes", Text, nullable=False),  # canonical JSON {identities, methods, kinds}
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(64), nullable=True),
    CheckConstraint("role IN ('admin', 'operator', 'auditor', 'app')", name="role"),
    Index("ix_api_tokens_tenant_id", "tenant_id"),
)

signing_sessions = Table(
    "signing_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("identity_id", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("signer_ids", Text, nullable=False),  # canonical JSON list
    Column("event_ids", Text, nullable=False),  # canonical JSON list of NIP-01 ids (hashes)
    Column("outcome", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_signing_sessions_identity_id", "identity_id"),
)

# One total order of records across every gateway: `idx` is assigned max(idx)+1 inside
# the writing transaction (serialised by an advisory lock on PostgreSQL and by BEGIN
# IMMEDIATE on SQLite), and the primary key turns any race into a retried conflict, never
# a gap or a duplicate. No foreign keys: the log outlives what it talks about.
audit_log = Table(
    "audit_log",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("identity_id", String(64), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON object
    Column("leaf_hash", String(64), nullable=False),
    Index("ix_audit_log_identity_id", "identity_id"),
)

ALL_TABLES: tuple[Table, ...] = (
    tenants,
    signers,
    identities,
    identity_shares,
    vss_commitments,
    share_attestations,
    api_tokens,
    signing_sessions,
    audit_log,
)
