"""Who may manage an identity's bunker, and as whom an app connection acts.

Managing (issuing bunker:// URIs, accepting nostrconnect:// URIs, listing and revoking
connections, approving requests) needs a token that may use the identity: a role that
uses keys (admin, operator, app: not auditor), the identity in the token's scope, the
identity in the token's tenant. Refusals are audited as `denied`, as everywhere.

An app connection acts with the rights of the token that authorised it (the issuer of
its bunker:// URI, or the caller who accepted its nostrconnect:// URI), read again on
every request: revoking or expiring that token cuts off its connections too, and its
scopes (methods, kinds) bound what any grant can reach.
"""

from __future__ import annotations

from nostr_passport.errors import AuthenticationError, PermissionDeniedError
from nostr_passport.service import access
from nostr_passport.service.access import Principal
from nostr_passport.service.audit import DENIED
from nostr_passport.service.passport import Passport
from nostr_passport.store.identities import IdentityRecord, identity_by_id
from nostr_passport.store.tokens import token_by_id

KEY_USING_METHODS = access.USE_METHODS - {access.GET_PUBLIC_KEY}


def managed_identity(
    passport: Passport, principal: Principal, identity_id: str, action: str, request_id: str
) -> IdentityRecord:
    """The identity, if `principal` may manage its bunker (403/404 otherwise)."""
    try:
        if not access.ROLE_METHODS[principal.role] & KEY_USING_METHODS:
            raise PermissionDeniedError(f"role {principal.role} may not use identities")
        access.require_identity_scope(principal, identity_id)
    except PermissionDeniedError as exc:
        passport.audit.try_record(
            passport.audit.entry(
                actor=principal.actor,
                tenant_id=principal.tenant_id,
                action=action,
                outcome=DENIED,
                request_id=request_id,
                identity_id=identity_id,
                details={"reason": str(exc)},
            )
        )
        raise
    with passport.store.read() as conn:
        record = identity_by_id(conn, identity_id)
    return access.require_visible(principal, record, identity_id)


def connection_principal(passport: Passport, token_id: str, client_pubkey: str) -> Principal:
    """The rights an app connection acts with: its authorising token's, named after it.

    AuthenticationError when that token is gone, revoked or expired.
    """
    with passport.store.read() as conn:
        record = token_by_id(conn, token_id)
    if record is None:
        raise AuthenticationError("the token that authorised this connection no longer exists")
    issuer = access.principal_of(record, passport.now())
    # The audit log names the app (its key) and the token it acts under.
    return Principal(
        token_id=f"nip46:{client_pubkey[:16]}/{issuer.token_id}"[:128],
        tenant_id=issuer.tenant_id,
        role=issuer.role,
        scopes=issuer.scopes,
        expires_at=issuer.expires_at,
    )
