"""Identities for attestation tests: real dealing, real HSM attestations, real store rows.

Keys are dealt with crypto.dealer (the same code a dealer signer runs) and each share's
statement is signed by its provider's HSM attestation key; the identity, its shares and
its creation audit record are written in one transaction, as Passport.create_identity
does. No signer processes are involved, which keeps these tests fast.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.engine import Connection

from nostr_passport.crypto import dealer, frost
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.service.audit import AuditLog
from nostr_passport.signer.attestation import signed_attestation, statement_for
from nostr_passport.store import Store
from nostr_passport.store.identities import (
    AttestationRecord,
    IdentityRecord,
    ShareRecord,
    insert_identity,
)
from nostr_passport.store.signers import upsert_signer
from nostr_passport.store.tenants import ensure_tenant

from ..store.records import signer_record

NOW = 1_770_000_000


def create_identity(
    store: Store,
    audit: AuditLog,
    providers: Sequence[HsmProvider],
    *,
    threshold: int = 2,
    pubshare_override: dict[int, bytes] | None = None,
    identity_in_statement: str | None = None,
) -> IdentityRecord:
    """A t-of-len(providers) identity; participant i's share is attested by providers[i].

    `pubshare_override` / `identity_in_statement` make a participant attest to something
    else (validly signed, but wrong), to test what verification catches.
    """
    identity_id = "id_" + secrets.token_hex(10)
    dealt = dealer.split(dealer.generate_secret(), threshold, len(providers))
    signer_ids = tuple(f"signer-{i + 1}" for i in range(len(providers)))
    pubshares = list(dealt.pubshares)
    for participant, pubshare in (pubshare_override or {}).items():
        pubshares[participant] = pubshare
    attestations = []
    for i, provider in enumerate(providers):
        statement = statement_for(
            identity_id=identity_in_statement if i == 0 and identity_in_statement else identity_id,
            group_pubkey=dealt.group_pubkey,
            participant=i,
            pubshare=pubshares[i],
            epoch=0,
            threshold=threshold,
            signer_id=signer_ids[i],
            provider=provider.info,
            issued_at=NOW,
        )
        att = signed_attestation(provider, statement)
        attestations.append(
            AttestationRecord(
                i, signer_ids[i], att.statement.decode(), att.signature.hex(), att.public_key.hex()
            )
        )
    record = IdentityRecord(
        id=identity_id,
        tenant_id="default",
        label="attested",
        group_pubkey=frost.group_pubkey_xonly(dealt.group_pubkey).hex(),
        group_pubkey_dealt=dealt.group_pubkey.hex(),
        threshold=threshold,
        participants=len(providers),
        epoch=0,
        status="active",
        keygen_method="dealer",
        imported_from_software=False,
        created_at=NOW,
        updated_at=NOW,
        shares=tuple(ShareRecord(i, sid, pubshares[i].hex()) for i, sid in enumerate(signer_ids)),
        vss_commitments=tuple(c.hex() for c in dealt.vss_commitments),
        attestations=tuple(attestations),
    )

    def unit(conn: Connection) -> None:
        ensure_tenant(conn, "default", "default", NOW)
        for i, sid in enumerate(signer_ids):
            info = providers[i].info
            upsert_signer(
                conn,
                replace(
                    signer_record(sid, NOW),
                    attestation_public_key=providers[i].attestation_public_key().hex(),
                    provider_name=info.name,
                    provider_kind=info.kind,
                    vendor=info.vendor,
                    model=info.model,
                    serial=info.serial,
                    simulated=info.simulated,
                ),
            )
        insert_identity(conn, record)
        audit.append(
            conn,
            audit.entry(
                actor="tok_admin",
                tenant_id="default",
                action="identity.create",
                outcome="ok",
                request_id="req_" + secrets.token_hex(4),
                identity_id=identity_id,
                details={"pubkey": record.group_pubkey, "signers": list(signer_ids)},
            ),
        )

    store.run_write(unit)
    return record
