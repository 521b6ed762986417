"""What the service hands back about identities and tokens: public data only."""

from __future__ import annotations

from dataclasses import dataclass

from nostr_passport.nostr.nip19 import npub_encode
from nostr_passport.store.identities import IdentityRecord
from nostr_passport.store.tokens import TokenRecord, TokenScopes


@dataclass(frozen=True)
class ShareView:
    participant: int
    signer_id: str
    pubshare: str


@dataclass(frozen=True)
class AttestationView:
    participant: int
    signer_id: str
    statement: str  # canonical JSON signed by the signer's HSM attestation key
    signature: str  # hex DER ECDSA P-256 (SHA-256)
    public_key: str  # hex SubjectPublicKeyInfo DER


@dataclass(frozen=True)
class IdentityView:
    id: str
    tenant: str
    label: str | None
    pubkey: str
    npub: str
    threshold: int
    participants: int
    epoch: int
    status: str
    keygen_method: str
    imported_from_software: bool
    created_at: int
    signers: tuple[ShareView, ...]
    attestations: tuple[AttestationView, ...]

    @classmethod
    def of(cls, record: IdentityRecord) -> IdentityView:
        return cls(
            id=record.id,
            tenant=record.tenant_id,
            label=record.label,
            pubkey=record.group_pubkey,
            npub=npub_encode(bytes.fromhex(record.group_pubkey)),
            threshold=record.threshold,
            participants=record.participants,
            epoch=record.epoch,
            status=record.status,
            keygen_method=record.keygen_method,
            imported_from_software=record.imported_from_software,
            created_at=record.created_at,
            signers=tuple(ShareView(s.participant, s.signer_id, s.pubshare) for s in record.shares),
            attestations=tuple(
                AttestationView(a.participant, a.signer_id, a.statement, a.signature, a.public_key)
                for a in record.attestations
            ),
        )


@dataclass(frozen=True)
class TokenView:
    """A token's metadata (never the token or its hash)."""

    id: str
    tenant: str
    name: str
    role: str
    scopes: TokenScopes
    expires_at: int | None
    revoked_at: int | None
    created_at: int
    created_by: str | None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenView:
        return cls(
            id=record.id,
            tenant=record.tenant_id,
            name=record.name,
            role=record.role,
            scopes=record.scopes,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            created_at=record.created_at,
            created_by=record.created_by,
        )


@dataclass(frozen=True)
class IssuedToken:
    """A newly created token: the only time the secret exists outside its holder."""

    token: str
    view: TokenView

    def __repr__(self) -> str:
        return f"IssuedToken(view={self.view!r})"
