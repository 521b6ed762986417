"""Service results as JSON-ready dicts (the shapes docs/api.md documents)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nostr_passport.nostr.nip19 import npub_encode
from nostr_passport.service.lifecycle.refresh import RefreshResult
from nostr_passport.service.passport import DeletionReport, Readiness
from nostr_passport.service.views import IdentityView, IssuedToken, TokenView
from nostr_passport.signer.protocol import KekRotation
from nostr_passport.store.signers import SignerRecord
from nostr_passport.store.tokens import TokenScopes


def identity_json(view: IdentityView, *, attestations: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": view.id,
        "pubkey": view.pubkey,
        "npub": view.npub,
        "threshold": view.threshold,
        "participants": view.participants,
        "status": view.status,
        "label": view.label,
        "tenant": view.tenant,
        "epoch": view.epoch,
        "keygen_method": view.keygen_method,
        "imported_from_software": view.imported_from_software,
        "created_at": view.created_at,
        "signers": [
            {"participant": s.participant, "signer_id": s.signer_id, "pubshare": s.pubshare}
            for s in view.signers
        ],
    }
    if attestations:
        data["attestations"] = [
            {
                "participant": a.participant,
                "signer_id": a.signer_id,
                "statement": a.statement,
                "signature": a.signature,
                "public_key": a.public_key,
            }
            for a in view.attestations
        ]
    return data


def scopes_json(scopes: TokenScopes) -> dict[str, Any]:
    return {
        "identities": None if scopes.identities is None else list(scopes.identities),
        "methods": None if scopes.methods is None else list(scopes.methods),
        "kinds": None if scopes.kinds is None else list(scopes.kinds),
    }


def token_json(view: TokenView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "role": view.role,
        "tenant": view.tenant,
        "scopes": scopes_json(view.scopes),
        "expires_at": view.expires_at,
        "revoked_at": view.revoked_at,
        "created_at": view.created_at,
        "created_by": view.created_by,
    }


def issued_token_json(issued: IssuedToken) -> dict[str, Any]:
    return {"token": issued.token, **token_json(issued.view)}


def deletion_json(report: DeletionReport) -> dict[str, Any]:
    return {
        "id": report.identity_id,
        "deleted": report.deleted,
        "shares_remaining_at": list(report.shares_remaining_at),
    }


def readiness_json(report: Readiness) -> dict[str, Any]:
    return {
        "ready": report.ready,
        "store": report.store,
        "signers": {
            "healthy": list(report.healthy_signers),
            "unhealthy": report.unhealthy_signers,
            "required": report.required_signers,
        },
    }


def refresh_json(result: RefreshResult) -> dict[str, Any]:
    return {
        "id": result.identity_id,
        "pubkey": result.pubkey,
        "npub": npub_encode(bytes.fromhex(result.pubkey)),
        "from_epoch": result.from_epoch,
        "to_epoch": result.to_epoch,
        "signers": list(result.signer_ids),
        "leftovers": list(result.leftovers),
    }


def signer_json(record: SignerRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "url": record.url,
        "provider_kind": record.provider_kind,
        "vendor": record.vendor,
        "model": record.model,
        "serial": record.serial,
        "simulated": record.simulated,
        "supports_dkg": record.supports_dkg,
        "transport_public_key": record.transport_public_key,
        "attestation_public_key": record.attestation_public_key,
        "registered_at": record.registered_at,
    }


def kek_rotations_json(done: Mapping[str, KekRotation]) -> dict[str, Any]:
    return {
        "rotated": {
            sid: {
                "new_kek_id": r.new_kek_id,
                "destroyed_kek_ids": list(r.destroyed_kek_ids),
                "rewrapped": r.rewrapped,
            }
            for sid, r in done.items()
        }
    }
