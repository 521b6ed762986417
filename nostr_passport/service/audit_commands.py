"""What the CLI and the HTTP API call for the audit log and key attestation.

Each function returns JSON-ready data (and, for verifications, a process exit code), so
wiring a command or a route is a few lines: parse arguments, check the caller's role
(`audit.read` for reads; admin/operator for creating a checkpoint), call, render.

    nostr-passport audit verify [--export FILE] [--key PEM]  -> verify_command
    nostr-passport audit proof N [--size S]                  -> proof_view
    nostr-passport audit proof --verify FILE [--key PEM]     -> verify_proof_command
    nostr-passport audit checkpoint                          -> checkpoint_command
    nostr-passport audit export [-o FILE]                    -> export_command
    nostr-passport attest verify BUNDLE [--audit-key PEM] [--attestation-key PEM ...]
                                                             -> attest_verify_command
    GET /v1/audit?start=&limit=&identity=                    -> records_page
    GET /v1/audit/checkpoints/latest                         -> latest_checkpoint_view
    GET /v1/audit/checkpoints?after=&limit=                  -> checkpoints_page
    GET /v1/audit/proof/{n}?size=                            -> proof_view
    GET /v1/audit/consistency?old=&new=                      -> consistency_view
    GET /v1/identities/{id}/attestation                      -> attestation_view
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from nostr_passport.errors import BadRequestError, MalformedAuditDataError, NotFoundError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.store import Store
from nostr_passport.store.audit_log import audit_size
from nostr_passport.store.checkpoints import Checkpoint
from nostr_passport.store.tables import audit_log

from .attestation import attestation_bundle, verify_bundle
from .audit_checkpoints import (
    DEFAULT_LOG_ID,
    checkpoint_statement,
    create_checkpoint,
    latest_checkpoint,
    list_checkpoints,
)
from .audit_export import export_log
from .audit_proofs import (
    CONSISTENCY_KEYS,
    INCLUSION_KEYS,
    ConsistencyProof,
    InclusionProof,
    consistency_proof_between,
    inclusion_proof_for,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from .audit_records import canonical_document, checkpoint_json, raw_record_json
from .audit_verify import verify_log

EXIT_OK = 0
EXIT_FAILED = 1  # the data was read and does NOT verify
EXIT_UNUSABLE = 2  # the input could not even be read (malformed file, bad key)
MAX_PAGE = 1000


def checkpoint_view(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint, its key id and the exact statement its signature covers."""
    return {
        "checkpoint": checkpoint_json(checkpoint),
        "key_id": checkpoint.key_id,
        "statement": checkpoint_statement(checkpoint).decode("utf-8"),
    }


def _page_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit must be an integer between 1 and {MAX_PAGE}")
    return limit


# ---------------------------------------------------------------- reads (API and CLI)


def records_page(
    store: Store,
    *,
    start: int = 0,
    limit: int = 100,
    identity_id: str | None = None,
    tenant_id: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """Records with index >= start, as stored (no repair), and the cursor of the next page.

    Filters: identity, tenant, actor, and time (`since` inclusive, `until` exclusive, both
    ISO-8601 UTC with milliseconds as records carry it, so they compare as strings).
    """
    _page_limit(limit)
    query = (
        select(audit_log).where(audit_log.c.idx >= start).order_by(audit_log.c.idx).limit(limit + 1)
    )
    if identity_id is not None:
        query = query.where(audit_log.c.identity_id == identity_id)
    if tenant_id is not None:
        query = query.where(audit_log.c.tenant_id == tenant_id)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if since is not None:
        query = query.where(audit_log.c.time >= since)
    if until is not None:
        query = query.where(audit_log.c.time < until)
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
        size = audit_size(conn)
    records = [raw_record_json(r) for r in rows[:limit]]
    next_start = int(rows[limit]["idx"]) if len(rows) > limit else None
    return {"size": size, "records": records, "next": next_start}


def latest_checkpoint_view(store: Store) -> dict[str, Any]:
    checkpoint = latest_checkpoint(store)
    if checkpoint is None:
        raise NotFoundError("the audit log has no checkpoint yet")
    return checkpoint_view(checkpoint)


def checkpoints_page(store: Store, *, after: int = -1, limit: int = 100) -> dict[str, Any]:
    checkpoints = list_checkpoints(store, after_size=after, limit=_page_limit(limit))
    full = len(checkpoints) == limit
    return {
        "checkpoints": [checkpoint_view(c) for c in checkpoints],
        "next": checkpoints[-1].tree_size if full else None,
    }


def proof_view(store: Store, index: int, *, tree_size: int | None = None) -> dict[str, Any]:
    """Inclusion proof of record `index` (to the latest checkpoint unless `tree_size`)."""
    return inclusion_proof_for(store, index, tree_size).to_json()


def consistency_view(store: Store, old_size: int, new_size: int) -> dict[str, Any]:
    return consistency_proof_between(store, old_size, new_size).to_json()


def attestation_view(
    store: Store,
    identity_id: str,
    *,
    audit_provider: HsmProvider | None = None,
    log_id: str = DEFAULT_LOG_ID,
) -> dict[str, Any]:
    return attestation_bundle(store, identity_id, audit_provider=audit_provider, log_id=log_id)


# ---------------------------------------------------------------- CLI commands


def checkpoint_command(
    store: Store, provider: HsmProvider, *, log_id: str = DEFAULT_LOG_ID
) -> dict[str, Any]:
    return checkpoint_view(create_checkpoint(store, provider, log_id=log_id))


def export_command(store: Store) -> bytes:
    return export_log(store)


def public_key_hex(data: bytes) -> str:
    """A P-256 public key given as PEM or DER SubjectPublicKeyInfo, as hex SPKI DER."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError):
        raise MalformedAuditDataError("not a PEM or DER public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise MalformedAuditDataError("not a P-256 public key")
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der.hex()


def verify_command(
    *,
    store: Store | None = None,
    export: bytes | None = None,
    trusted_keys: Collection[str] | None = None,
) -> tuple[dict[str, Any], int]:
    """`audit verify`: the live store, or an export file's bytes (exactly one of them)."""
    if store is not None and export is None:
        report = verify_log(store, trusted_keys=trusted_keys)
    elif export is not None and store is None:
        report = verify_log(export, trusted_keys=trusted_keys)
    else:
        raise BadRequestError("verify either the store or an export, not both")
    return report.to_json(), EXIT_OK if report.ok else EXIT_FAILED


def verify_proof_command(
    document: bytes, *, trusted_keys: Collection[str] | None = None
) -> tuple[dict[str, Any], int]:
    """Verify an inclusion or consistency proof file (canonical JSON) offline."""
    try:
        value = canonical_document(document, "proof")
        if isinstance(value, dict) and set(value) == INCLUSION_KEYS:
            verdict = verify_inclusion_proof(
                InclusionProof.from_json(value), trusted_keys=trusted_keys
            )
        elif isinstance(value, dict) and set(value) == CONSISTENCY_KEYS:
            verdict = verify_consistency_proof(
                ConsistencyProof.from_json(value), trusted_keys=trusted_keys
            )
        else:
            raise MalformedAuditDataError("neither an inclusion nor a consistency proof")
    except MalformedAuditDataError as exc:
        return {"ok": False, "error": exc.code, "reason": str(exc)}, EXIT_UNUSABLE
    return {"ok": verdict.ok, "reason": verdict.reason}, EXIT_OK if verdict.ok else EXIT_FAILED


def attest_verify_command(
    bundle: bytes,
    *,
    trusted_audit_keys: Collection[str] | None = None,
    trusted_attestation_keys: Collection[str] | None = None,
) -> tuple[dict[str, Any], int]:
    """`attest verify BUNDLE`: keys are hex SPKI DER (see public_key_hex)."""
    attestation_keys = (
        None
        if trusted_attestation_keys is None
        else {bytes.fromhex(k) for k in trusted_attestation_keys}
    )
    try:
        report = verify_bundle(
            bundle,
            trusted_audit_keys=trusted_audit_keys,
            trusted_attestation_keys=attestation_keys,
        )
    except MalformedAuditDataError as exc:
        return {"ok": False, "error": exc.code, "reason": str(exc)}, EXIT_UNUSABLE
    return report.to_json(), EXIT_OK if report.ok else EXIT_FAILED
