"""Access control, in one place: who a bearer token is, and what it may do.

Roles (per tenant):
- admin: everything, including tokens, deleting identities and rotating KEKs;
- operator: create, list, show, disable, enable, refresh and back up identities, and use
  them; list signers; read metrics and the cost report (system tenant only);
- auditor: read-only (identities, signers, tokens' metadata, the audit log, metrics),
  never uses a key;
- app: uses identities (sign, encrypt, decrypt, read the public key), nothing else.

Any token may carry scopes (app tokens normally do): a list of identities, of methods
(NIP-46 names: sign_event, nip44_encrypt...) and of event kinds; None on an axis means
unrestricted. Reading public data (list, show) is limited by the identity scope only.
A token sees only its own tenant's identities; another tenant's identity is "not
found", never "forbidden", so tokens cannot probe for ids.

Tokens are `np_` + 32 random bytes (base64url), shown once; the store keeps SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from nostr_passport.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from nostr_passport.store import Store
from nostr_passport.store.identities import IdentityRecord
from nostr_passport.store.tokens import Role, TokenRecord, TokenScopes, token_by_hash

TOKEN_PREFIX = "np_"  # noqa: S105 - a prefix, not a credential
TOKEN_BYTES = 32

# Methods (what a request does). The app-facing ones use NIP-46 method names.
GET_PUBLIC_KEY = "get_public_key"
SIGN_EVENT = "sign_event"
NIP44_ENCRYPT = "nip44_encrypt"
NIP44_DECRYPT = "nip44_decrypt"
NIP04_ENCRYPT = "nip04_encrypt"
NIP04_DECRYPT = "nip04_decrypt"
IDENTITY_CREATE = "identity.create"
IDENTITY_LIST = "identity.list"
IDENTITY_READ = "identity.read"
IDENTITY_DISABLE = "identity.disable"
IDENTITY_ENABLE = "identity.enable"
IDENTITY_DELETE = "identity.delete"
TOKEN_CREATE = "token.create"  # noqa: S105 - a method name
TOKEN_LIST = "token.list"  # noqa: S105 - a method name
TOKEN_REVOKE = "token.revoke"  # noqa: S105 - a method name
AUDIT_READ = "audit.read"
AUDIT_CHECKPOINT = "audit.checkpoint"
IDENTITY_REFRESH = "identity.refresh"
IDENTITY_BACKUP = "identity.backup"
SIGNER_LIST = "signer.list"
SIGNER_KEK_ROTATE = "signer.kek_rotate"
OPS_METRICS = "ops.metrics"  # Prometheus metrics and the cost report (installation-wide)

USE_METHODS = frozenset(
    {GET_PUBLIC_KEY, SIGN_EVENT, NIP44_ENCRYPT, NIP44_DECRYPT, NIP04_ENCRYPT, NIP04_DECRYPT}
)
ALL_METHODS = USE_METHODS | {
    IDENTITY_CREATE,
    IDENTITY_LIST,
    IDENTITY_READ,
    IDENTITY_DISABLE,
    IDENTITY_ENABLE,
    IDENTITY_DELETE,
    TOKEN_CREATE,
    TOKEN_LIST,
    TOKEN_REVOKE,
    AUDIT_READ,
    AUDIT_CHECKPOINT,
    IDENTITY_REFRESH,
    IDENTITY_BACKUP,
    SIGNER_LIST,
    SIGNER_KEK_ROTATE,
    OPS_METRICS,
}
# Reading an identity's public data needs the role's permission but no method scope: a
# token scoped to sign_event can still see which identities (in its scope) it may use.
PUBLIC_READ_METHODS = frozenset({GET_PUBLIC_KEY, IDENTITY_LIST, IDENTITY_READ})
# Methods a token scope may name (anything else in a scope is a typo, refused at creation).
SCOPABLE_METHODS = ALL_METHODS

ROLE_METHODS: dict[Role, frozenset[str]] = {
    "admin": ALL_METHODS,
    "operator": USE_METHODS
    | {
        IDENTITY_CREATE,
        IDENTITY_LIST,
        IDENTITY_READ,
        IDENTITY_DISABLE,
        IDENTITY_ENABLE,
        IDENTITY_REFRESH,
        IDENTITY_BACKUP,
        SIGNER_LIST,
        OPS_METRICS,
    },
    "auditor": frozenset(
        {
            GET_PUBLIC_KEY,
            IDENTITY_LIST,
            IDENTITY_READ,
            TOKEN_LIST,
            AUDIT_READ,
            SIGNER_LIST,
            OPS_METRICS,
        }
    ),
    "app": USE_METHODS | {IDENTITY_LIST, IDENTITY_READ},
}

# The tenant created at `init`; its admins may also create tokens for other tenants.
SYSTEM_TENANT = "default"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    token_id: str
    tenant_id: str
    role: Role
    scopes: TokenScopes
    expires_at: int | None

    @property
    def actor(self) -> str:
        """How the audit log names this caller (an id, never the token)."""
        return self.token_id

    @property
    def is_system_admin(self) -> bool:
        return self.role == "admin" and self.tenant_id == SYSTEM_TENANT


def local_admin(actor: str = "cli") -> Principal:
    """The principal of someone with direct access to the data directory (the CLI)."""
    return Principal(
        token_id=actor, tenant_id=SYSTEM_TENANT, role="admin", scopes=TokenScopes(), expires_at=None
    )


# ---------------------------------------------------------------- tokens


def new_token() -> str:
    """A fresh bearer token: np_ + 32 random bytes, base64url without padding."""
    raw = secrets.token_bytes(TOKEN_BYTES)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def token_hash(token: str) -> str:
    """What the store keeps: SHA-256 of the token, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(8)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer ...` header value."""
    if not authorization:
        raise AuthenticationError("missing Authorization: Bearer <token> header")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise AuthenticationError("Authorization header must be: Bearer <token>")
    if not value.startswith(TOKEN_PREFIX) or len(value) > 200:
        raise AuthenticationError("invalid token")
    return value


def principal_of(record: TokenRecord, now: int) -> Principal:
    if record.revoked_at is not None:
        raise AuthenticationError("token revoked")
    if record.expires_at is not None and now >= record.expires_at:
        raise AuthenticationError("token expired")
    return Principal(
        token_id=record.id,
        tenant_id=record.tenant_id,
        role=record.role,
        scopes=record.scopes,
        expires_at=record.expires_at,
    )


def authenticate(store: Store, token: str, now: int) -> Principal:
    """The principal of a bearer token; AuthenticationError (401) otherwise.

    Looked up in the store on every request (one indexed read), so a revocation on any
    gateway takes effect everywhere at once.
    """
    digest = token_hash(token)
    with store.read() as conn:
        record = token_by_hash(conn, digest)
    # Defence in depth: the index lookup already matched, compare in constant time anyway.
    if record is None or not hmac.compare_digest(record.token_hash, digest):
        raise AuthenticationError("invalid token")
    return principal_of(record, now)


# ---------------------------------------------------------------- decisions


def require_method(principal: Principal, method: str) -> None:
    """403 unless the role allows `method` and the token's method scope names it."""
    if method not in ROLE_METHODS[principal.role]:
        raise PermissionDeniedError(f"role {principal.role} may not {method}")
    allowed = principal.scopes.methods
    if allowed is not None and method not in allowed and method not in PUBLIC_READ_METHODS:
        raise PermissionDeniedError(f"token is not scoped to {method}")


def require_identity_scope(principal: Principal, identity_id: str) -> None:
    """403 when the token is scoped to other identities (checked before any lookup)."""
    allowed = principal.scopes.identities
    if allowed is not None and identity_id not in allowed:
        raise PermissionDeniedError(f"token is not scoped to identity {identity_id}")


def require_visible(
    principal: Principal, identity: IdentityRecord | None, identity_id: str
) -> IdentityRecord:
    """The identity, if it exists in the caller's tenant; 404 otherwise (no probing)."""
    if identity is None or identity.tenant_id != principal.tenant_id:
        raise NotFoundError(f"identity {identity_id} not found")
    return identity


def require_kinds(principal: Principal, kinds: Iterable[int]) -> None:
    allowed = principal.scopes.kinds
    if allowed is None:
        return
    outside = sorted({k for k in kinds if k not in allowed})
    if outside:
        listed = ", ".join(str(k) for k in outside)
        raise PermissionDeniedError(f"token is not scoped to event kind {listed}")


def visible_identities(
    principal: Principal, records: Iterable[IdentityRecord]
) -> list[IdentityRecord]:
    """Of `records`, those the principal may see (tenant and identity scope)."""
    allowed = principal.scopes.identities
    return [
        r
        for r in records
        if r.tenant_id == principal.tenant_id and (allowed is None or r.id in allowed)
    ]


def check_grantable(principal: Principal, role: Role, scopes: TokenScopes, tenant_id: str) -> None:
    """May `principal` mint a token with this role, scopes and tenant?"""
    require_method(principal, TOKEN_CREATE)
    if tenant_id != principal.tenant_id and not principal.is_system_admin:
        raise PermissionDeniedError("only admins of the default tenant create tokens for others")
    # A scoped admin cannot mint wider tokens than its own scopes.
    for axis in ("identities", "methods", "kinds"):
        mine = getattr(principal.scopes, axis)
        theirs = getattr(scopes, axis)
        if mine is not None and (theirs is None or not set(theirs) <= set(mine)):
            raise PermissionDeniedError(f"cannot grant {axis} beyond the token's own scope")
    if principal.scopes.methods is not None and role != "app":
        raise PermissionDeniedError("a method-scoped token may only create app tokens")
