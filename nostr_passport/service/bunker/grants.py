"""Which permissions an app connection gets, as grant rows with expiry and usage counts.

At connect the app gets what it asked for (connect params[2], or the nostrconnect URI's
`perms`) within what the bunker URI's issuer allowed (`--perms`, None: everything an
identity can do); an app that asks for nothing gets the issuer's allowance. A request
outside the grants is not refused outright: it waits for the owner (auth_url).

Methods that use no key of the user (connect, ping, get_public_key, switch_relays,
logout) need no grant: every connected app may call them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from nostr_passport.nostr.nip46 import (
    GRANTABLE_METHODS,
    Permission,
    format_permissions,
    intersect_permissions,
    parse_permissions,
)
from nostr_passport.store.bunker_tables import GrantRecord

EVERYTHING: tuple[Permission, ...] = tuple(sorted(Permission(m) for m in GRANTABLE_METHODS))


def connect_permissions(
    requested: Sequence[Permission] | None, ceiling: Sequence[Permission] | None
) -> tuple[Permission, ...]:
    """The permissions an app connection starts with."""
    if requested is None or not requested:
        return tuple(ceiling) if ceiling is not None else EVERYTHING
    return intersect_permissions(requested, ceiling)


def ceiling_of(text: str | None) -> tuple[Permission, ...] | None:
    """A stored allowance (None: unrestricted)."""
    return None if text is None else parse_permissions(text, strict=False)


def stored_ceiling(perms: Sequence[Permission] | None) -> str | None:
    return None if perms is None else format_permissions(perms)


def new_grant_id() -> str:
    return "grt_" + secrets.token_hex(12)


@dataclass(frozen=True)
class GrantTerms:
    """How long, and how many times, a grant may be used (None: no limit)."""

    expires_at: int | None = None
    uses: int | None = None


def grant_records(
    identity_id: str,
    client_pubkey: str,
    perms: Sequence[Permission],
    terms: GrantTerms,
    created_by: str,
    now: int,
) -> list[GrantRecord]:
    return [
        GrantRecord(
            id=new_grant_id(),
            identity_id=identity_id,
            client_pubkey=client_pubkey,
            method=p.method,
            kind=p.kind,
            expires_at=terms.expires_at,
            uses_left=terms.uses,
            created_at=now,
            created_by=created_by[:128],
        )
        for p in perms
    ]


def grant_permission(grant: GrantRecord) -> Permission:
    return Permission(grant.method, grant.kind)
