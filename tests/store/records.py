"""Small builders of store records for tests (public-looking hex, no real keys needed)."""

from __future__ import annotations

import secrets

from nostr_passport.store.identities import AttestationRecord, IdentityRecord, ShareRecord
from nostr_passport.store.signers import SignerRecord
from nostr_passport.store.tokens import TokenRecord, TokenScopes


def signer_record(signer_id: str, now: int = 1000) -> SignerRecord:
    return SignerRecord(
        id=signer_id,
        kind="local",
        url=None,
        transport_public_key="02" + "11" * 32,
        attestation_public_key="3059" + "22" * 20,
        signer_public_key="",
        provider_name=f"{signer_id}-hsm",
        provider_kind="simulator",
        vendor="NostrPassport",
        model="simulator",
        serial="0001",
        simulated=True,
        supports_dkg=False,
        registered_at=now,
        updated_at=now,
    )


def identity_record(
    tenant_id: str = "default", signer_ids: tuple[str, ...] = ("s1", "s2", "s3"), now: int = 1000
) -> IdentityRecord:
    identity_id = "id_" + secrets.token_hex(8)
    shares = tuple(
        ShareRecord(i, sid, "02" + secrets.token_hex(32)) for i, sid in enumerate(signer_ids)
    )
    return IdentityRecord(
        id=identity_id,
        tenant_id=tenant_id,
        label="test ünïcode",
        group_pubkey=secrets.token_hex(32),
        group_pubkey_dealt="03" + secrets.token_hex(32),
        threshold=2,
        participants=len(signer_ids),
        epoch=0,
        status="active",
        keygen_method="dealer",
        imported_from_software=False,
        created_at=now,
        updated_at=now,
        shares=shares,
        vss_commitments=("02" + "aa" * 32, "03" + "bb" * 32),
        attestations=tuple(
            AttestationRecord(s.participant, s.signer_id, '{"a":1}', "30cc", "30dd") for s in shares
        ),
    )


def token_record(tenant_id: str = "default", role: str = "app") -> TokenRecord:
    return TokenRecord(
        id="tok_" + secrets.token_hex(6),
        tenant_id=tenant_id,
        name="test",
        role=role,  # type: ignore[arg-type]
        token_hash=secrets.token_hex(32),
        scopes=TokenScopes(identities=("id_x",), methods=("sign_event",), kinds=(1, 7)),
        expires_at=None,
        revoked_at=None,
        created_at=1000,
        created_by=None,
    )
