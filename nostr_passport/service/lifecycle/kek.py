"""KEK rotation across the signer pool, one signer at a time (docs/lifecycle.md).

Each signer creates a new KEK in its HSM, rewraps its shares, nonce seeds and keys
under it and destroys the old one (LocalSigner.rotate_kek). Signers rotate one after
another so that at most one is ever in the short exclusive step at the end of its
rotation: the others keep signing, and each one's own pause is only that step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from nostr_passport.errors import LifecycleError, PassportError
from nostr_passport.service.audit import ERROR, OK
from nostr_passport.signer.protocol import KekRotation, LifecycleSigner
from nostr_passport.store.audit_log import AuditEntry

from .context import LifecycleContext

KEK_ACTION = "signer.kek_rotate"


def rotate_keks(
    ctx: LifecycleContext,
    signer_ids: Sequence[str] | None = None,
    *,
    actor: str = "system",
    request_id: str = "kek-rotation",
) -> dict[str, KekRotation]:
    """Rotate the KEK of each signer in turn; LifecycleError names the first that failed."""
    done: dict[str, KekRotation] = {}
    for sid in signer_ids if signer_ids is not None else ctx.pool.ids:
        client = cast(LifecycleSigner, ctx.pool.client(sid))
        try:
            rotation = client.rotate_kek()
        except Exception as exc:  # a transport failure is as much a failure as a refusal
            code = exc.code if isinstance(exc, PassportError) else type(exc).__name__
            ctx.audit.try_record(_entry(ctx, actor, request_id, sid, ERROR, {"error": code}))
            reason = exc if isinstance(exc, PassportError) else code
            raise LifecycleError(f"KEK rotation of signer {sid} failed: {reason}") from None
        done[sid] = rotation
        ctx.audit.record(
            _entry(
                ctx,
                actor,
                request_id,
                sid,
                OK,
                {
                    "new_kek_id": rotation.new_kek_id,
                    "destroyed_kek_ids": list(rotation.destroyed_kek_ids),
                    "rewrapped": rotation.rewrapped,
                },
            )
        )
    return done


def _entry(
    ctx: LifecycleContext,
    actor: str,
    request_id: str,
    signer_id: str,
    outcome: str,
    details: dict[str, object],
) -> AuditEntry:
    return ctx.audit.entry(
        actor=actor,
        tenant_id=None,
        action=KEK_ACTION,
        outcome=outcome,
        request_id=request_id,
        details={"signer_id": signer_id, **details},
    )
