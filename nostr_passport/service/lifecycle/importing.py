"""Import a software key (nsec or NIP-49 ncryptsec) as a threshold identity, then forget it.

The gateway decodes the key into a bytearray, seals it at once to the dealing signer's
transport key (hsm/transport.py, the same sealing a signer's HSM does) and zeroes the
bytearray; only that signer's HSM opens it, inside deal_identity, where it becomes the
constant of the sharing polynomial. From then on the key exists only as shares.

Honest limits: the nsec/ncryptsec string and the password arrive as Python `str`, and
the decoders return `bytes`; none of these can be overwritten in CPython, only dropped.
The bytearray we control is zeroed. The identity is marked `imported_from_software`
forever: the key existed whole outside an HSM before, and whoever held it then may
still hold it.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.engine import Connection

from nostr_passport.crypto import bip340, dealer
from nostr_passport.errors import (
    BadRequestError,
    ConflictError,
    LifecycleError,
    LifecycleRefusedError,
    PassportError,
)
from nostr_passport.hsm.provider import GCM_NONCE_LEN
from nostr_passport.hsm.transport import TransportKey, seal
from nostr_passport.nostr import nip19, nip49
from nostr_passport.nostr.errors import NostrError
from nostr_passport.service.audit import OK
from nostr_passport.service.keygen import check_attestation
from nostr_passport.signer.imported import import_aad
from nostr_passport.signer.protocol import Attestation, DealtIdentity, ShareSlot, SignerInfo
from nostr_passport.store.identities import (
    AttestationRecord,
    IdentityRecord,
    ShareRecord,
    identity_by_pubkey,
    insert_identity,
)
from nostr_passport.store.signers import signer_by_id
from nostr_passport.store.tenants import ensure_tenant

from .context import LifecycleContext
from .refresh import new_epoch_keys, verified_probe

IMPORT_ACTION = "identity.import"


def _wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


def decoded_secret(key: str, password: str | None, max_log_n: int) -> bytearray:
    """The 32-byte secret of an nsec or ncryptsec, in a buffer the caller must zero."""
    if not isinstance(key, str):
        raise BadRequestError("the key must be an nsec1... or ncryptsec1... string")
    text = key.strip()
    try:
        if text.startswith("ncryptsec1"):
            if password is None:
                raise BadRequestError("an ncryptsec needs its password")
            return bytearray(nip49.decrypt(text, password, max_log_n=max_log_n))
        if text.startswith("nsec1"):
            return bytearray(nip19.nsec_decode(text))
    except NostrError as exc:
        # The message names the failure, never the key or the password.
        raise BadRequestError(f"the key could not be decoded: {exc}") from None
    raise BadRequestError("the key must be an nsec1... or ncryptsec1... string")


def _check_dealt(dealt: DealtIdentity, identity_id: str, threshold: int, n: int) -> None:
    if dealt.identity_id != identity_id or dealt.threshold != threshold:
        raise LifecycleError("the dealer answered for another identity or threshold")
    if len(dealt.pubshares) != n or dealt.vss_commitments[0] != dealt.group_pubkey:
        raise LifecycleError("the dealer's public output is inconsistent")
    for participant, pubshare in enumerate(dealt.pubshares):
        if dealer.pubshare_from_commitments(participant, dealt.vss_commitments) != pubshare:
            raise LifecycleError(f"public share {participant} does not match the commitments")


def import_identity(
    ctx: LifecycleContext,
    key: str,
    password: str | None = None,
    *,
    tenant_id: str,
    threshold: int,
    signer_ids: Sequence[str],
    label: str | None = None,
    actor: str = "system",
    request_id: str = "import",
    max_log_n: int = nip49.DEFAULT_MAX_LOG_N,
) -> IdentityRecord:
    """A new identity with the imported key; signer_ids[0] deals, the others receive."""
    ids = tuple(signer_ids)
    n = len(ids)
    if not 2 <= n <= dealer.MAX_PARTICIPANTS or not 1 <= threshold <= n:
        raise BadRequestError("threshold and signers must satisfy 1 <= t <= n, n >= 2")
    if len(set(ids)) != n:
        raise BadRequestError("every share must go to a different signer")
    infos = {sid: ctx.pool.info(sid, ctx.timeout) for sid in ids}
    identity_id = "id_" + secrets.token_hex(10)

    secret = decoded_secret(key, password, max_log_n)
    try:
        pubkey = bip340.pubkey_from_seckey(bytes(secret)).hex()
        recipient = TransportKey.from_bytes(infos[ids[0]].transport_public_key)
        wrapped = seal(recipient, bytes(secret), import_aad(identity_id), os.urandom(GCM_NONCE_LEN))
    finally:
        _wipe(secret)
    with ctx.store.read() as conn:
        if identity_by_pubkey(conn, pubkey) is not None:
            raise ConflictError("an identity with this key already exists")

    slots = tuple(ShareSlot(i, sid, infos[sid].transport_public_key) for i, sid in enumerate(ids))
    dealt = ctx.pool.client(ids[0]).deal_identity(identity_id, threshold, slots, 0, wrapped)
    try:
        record = replace(
            _distribute(ctx, dealt, identity_id, threshold, ids, infos, pubkey, tenant_id),
            label=label,
        )
        keys = new_epoch_keys(record, 0, tuple(bytes.fromhex(c) for c in record.vss_commitments))
        verified_probe(ctx, keys, int(time.time()))
        ctx.store.run_write(lambda conn: _insert(ctx, conn, record, actor, request_id))
    except Exception:
        for sid in ids:  # nothing was recorded: leave no orphan shares behind
            try:
                ctx.pool.client(sid).delete_share(identity_id)
            except PassportError:
                continue
        raise
    return ctx.identity(identity_id)


def _distribute(
    ctx: LifecycleContext,
    dealt: DealtIdentity,
    identity_id: str,
    threshold: int,
    ids: tuple[str, ...],
    infos: dict[str, SignerInfo],
    pubkey: str,
    tenant_id: str,
) -> IdentityRecord:
    n = len(ids)
    _check_dealt(dealt, identity_id, threshold, n)
    if dealt.group_pubkey[1:].hex() != pubkey:
        raise LifecycleError("the dealt key is not the imported key")
    blobs = {w.participant: w.blob for w in dealt.wrapped_shares}
    attestations: list[Attestation] = [dealt.dealer_attestation]
    for i in range(1, n):
        attestations.append(
            ctx.pool.client(ids[i]).receive_share(
                identity_id,
                i,
                0,
                threshold,
                dealt.group_pubkey,
                dealt.vss_commitments,
                blobs[i],
                n,
            )
        )
    for i, (sid, att) in enumerate(zip(ids, attestations, strict=True)):
        check_attestation(
            att,
            infos[sid],
            identity_id=identity_id,
            participant=i,
            pubshare=dealt.pubshares[i],
            group_pubkey=dealt.group_pubkey,
            threshold=threshold,
            epoch=0,
        )
    now = int(time.time())
    return IdentityRecord(
        id=identity_id,
        tenant_id=tenant_id,
        label=None,
        group_pubkey=pubkey,
        group_pubkey_dealt=dealt.group_pubkey.hex(),
        threshold=threshold,
        participants=n,
        epoch=0,
        status="active",
        keygen_method="import",
        imported_from_software=True,
        created_at=now,
        updated_at=now,
        shares=tuple(ShareRecord(i, sid, dealt.pubshares[i].hex()) for i, sid in enumerate(ids)),
        vss_commitments=tuple(c.hex() for c in dealt.vss_commitments),
        attestations=tuple(
            AttestationRecord(
                i, sid, a.statement.decode("utf-8"), a.signature.hex(), a.public_key.hex()
            )
            for i, (sid, a) in enumerate(zip(ids, attestations, strict=True))
        ),
    )


def _insert(
    ctx: LifecycleContext, conn: Connection, record: IdentityRecord, actor: str, request_id: str
) -> None:
    unknown = [s.signer_id for s in record.shares if signer_by_id(conn, s.signer_id) is None]
    if unknown:
        raise LifecycleRefusedError(f"signers {unknown} are not registered in the store")
    ensure_tenant(conn, record.tenant_id, record.tenant_id, record.created_at)
    insert_identity(conn, record)
    ctx.audit.append(
        conn,
        ctx.audit.entry(
            actor=actor,
            tenant_id=record.tenant_id,
            action=IMPORT_ACTION,
            outcome=OK,
            request_id=request_id,
            identity_id=record.id,
            details={
                "pubkey": record.group_pubkey,
                "signers": [s.signer_id for s in record.shares],
                "imported_from_software": True,
            },
        ),
    )
