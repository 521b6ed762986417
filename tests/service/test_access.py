"""Access control: tokens, roles, scopes, tenants, expiry, revocation, rate limits."""

from __future__ import annotations

import re

import pytest

from nostr_passport.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from nostr_passport.service import access
from nostr_passport.service.ratelimit import RateLimiter, TooManyRequestsError
from nostr_passport.store.tokens import TokenScopes

from .harness import Harness


def test_token_format_and_hash() -> None:
    tokens = {access.new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"np_[A-Za-z0-9_-]{43}", token)
        assert len(access.token_hash(token)) == 64 and token not in access.token_hash(token)


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic abc", "Bearer", "Bearer   ", "Bearer nope", "Bearer np_" + "a" * 300],
)
def test_malformed_authorization_headers(header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        access.bearer_token(header)


def test_unknown_expired_and_revoked_tokens(fast_harness: Harness) -> None:
    h = fast_harness
    with pytest.raises(AuthenticationError, match="invalid token"):
        h.passport.authenticate("Bearer " + access.new_token())
    issued = h.passport.create_token(
        h.admin, name="short", role="app", expires_at=h.passport.now() + 1000
    )
    assert h.passport.authenticate(f"Bearer {issued.token}").role == "app"
    from nostr_passport.store.tokens import token_by_id

    with h.store.read() as conn:
        record = token_by_id(conn, issued.view.id)
    assert record is not None
    with pytest.raises(AuthenticationError, match="expired"):
        access.principal_of(record, h.passport.now() + 1000)
    h.passport.revoke_token(h.admin, issued.view.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        h.passport.authenticate(f"Bearer {issued.token}")


ROLE_EXPECTATIONS = {
    "admin": {m: True for m in access.ALL_METHODS},
    "operator": {
        access.IDENTITY_CREATE: True,
        access.SIGN_EVENT: True,
        access.IDENTITY_DELETE: False,
        access.TOKEN_CREATE: False,
        access.AUDIT_READ: False,
    },
    "auditor": {
        access.IDENTITY_READ: True,
        access.AUDIT_READ: True,
        access.SIGN_EVENT: False,
        access.NIP44_DECRYPT: False,
        access.IDENTITY_CREATE: False,
    },
    "app": {
        access.SIGN_EVENT: True,
        access.NIP44_DECRYPT: True,
        access.IDENTITY_CREATE: False,
        access.IDENTITY_DISABLE: False,
        access.TOKEN_LIST: False,
    },
}


@pytest.mark.parametrize("role", sorted(ROLE_EXPECTATIONS))
def test_role_matrix(role: str) -> None:
    principal = access.Principal("tok_x", "default", role, TokenScopes(), None)  # type: ignore[arg-type]
    for method, allowed in ROLE_EXPECTATIONS[role].items():
        if allowed:
            access.require_method(principal, method)
        else:
            with pytest.raises(PermissionDeniedError):
                access.require_method(principal, method)


def test_scopes_restrict_identities_methods_and_kinds(fast_harness: Harness) -> None:
    h = fast_harness
    mine = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    other = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    scopes = TokenScopes(identities=(mine,), methods=("sign_event",), kinds=(1, 7))
    _, app = h.token("app", scopes)
    assert h.passport.sign_events(app, mine, [{"kind": 7, "content": "+"}])
    with pytest.raises(PermissionDeniedError, match="identity"):
        h.passport.sign_events(app, other, [{"kind": 1, "content": "x"}])
    with pytest.raises(PermissionDeniedError, match="kind 4"):
        h.passport.sign_events(
            app, mine, [{"kind": 1, "content": "x"}, {"kind": 4, "content": "y"}]
        )
    with pytest.raises(PermissionDeniedError, match="nip44_decrypt"):
        h.passport.nip44_decrypt(app, mine, "ab" * 32, "x")
    assert [v.id for v in h.passport.list_identities(app)] == [mine]


def test_other_tenants_identities_are_not_found(fast_harness: Harness) -> None:
    h = fast_harness
    theirs = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    _, outsider = h.token("admin", tenant="acme")
    with pytest.raises(NotFoundError):
        h.passport.identity(outsider, theirs)
    with pytest.raises(NotFoundError):
        h.passport.sign_events(outsider, theirs, [{"kind": 1}])
    assert h.passport.list_identities(outsider) == []


def test_granting_cannot_exceed_the_granter(fast_harness: Harness) -> None:
    h = fast_harness
    _, operator = h.token("operator")
    with pytest.raises(PermissionDeniedError):
        h.passport.create_token(operator, name="x", role="app")
    _, tenant_admin = h.token("admin", tenant="acme")
    with pytest.raises(PermissionDeniedError):
        h.passport.create_token(tenant_admin, name="x", role="app", tenant="default")
    _, scoped_admin = h.token("admin", TokenScopes(kinds=(1,)))
    with pytest.raises(PermissionDeniedError):
        h.passport.create_token(
            scoped_admin, name="x", role="app", scopes=TokenScopes(kinds=(1, 4))
        )
    issued = h.passport.create_token(
        scoped_admin, name="x", role="app", scopes=TokenScopes(kinds=(1,))
    )
    assert issued.view.scopes.kinds == (1,)
    with pytest.raises(BadRequestError, match="unknown methods"):
        h.passport.create_token(
            h.admin, name="x", role="app", scopes=TokenScopes(methods=("sing",))
        )
    with pytest.raises(BadRequestError, match="unknown identity"):
        h.passport.create_token(
            h.admin, name="x", role="app", scopes=TokenScopes(identities=("id_no",))
        )
    issued = h.passport.create_token(h.admin, name="acme app", role="app", tenant="newco")
    assert issued.view.tenant == "newco"


def test_rate_limiter_bucket_with_a_fake_clock() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    for _ in range(3):
        limiter.acquire("a")
    with pytest.raises(TooManyRequestsError) as info:
        limiter.acquire("a")
    assert info.value.retry_after == pytest.approx(0.5)
    limiter.acquire("b")  # buckets are per key
    now[0] += 0.5
    limiter.acquire("a")
    with pytest.raises(TooManyRequestsError):
        limiter.acquire("a")
    now[0] += 100
    for _ in range(3):
        limiter.acquire("a")  # refilled to burst, never beyond
    with pytest.raises(TooManyRequestsError):
        limiter.acquire("a")
