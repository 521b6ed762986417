"""What the HTTP API and the CLI call: URIs, nostrconnect, connections, approvals.

Blocking functions (routes run them in a thread). Each takes the caller's Principal,
checks it may manage the identity's bunker (bunker/access.py), and audits what it does.
Returned views carry public data only: a bunker:// URI's secret is shown once, in the
return value of `issue_uri`, and the store keeps its SHA-256.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nostr_passport.errors import BadRequestError, ConflictError, NotFoundError
from nostr_passport.nostr import nip46
from nostr_passport.nostr.errors import InvalidPayloadError
from nostr_passport.nostr.nip46 import Permission
from nostr_passport.service import access
from nostr_passport.service.access import Principal
from nostr_passport.service.audit import OK
from nostr_passport.service.passport import Passport, new_request_id
from nostr_passport.store.bunker_tables import (
    ConnectionRecord,
    GrantRecord,
    PendingRequest,
    SecretRecord,
    connection_of,
    decide_request,
    delete_grants,
    grants_of,
    insert_grants,
    insert_secret,
    list_connections,
    pending_requests,
    request_by_id,
    revoke_connection,
    save_connection,
)

from .access import managed_identity
from .dispatch import Dispatcher, Outgoing, secret_hash
from .grants import GrantTerms, connect_permissions, grant_records, stored_ceiling
from .keys import RemoteSigners
from .settings import BunkerSettings

Decision = Literal["once", "always", "for", "deny"]
DECISIONS: tuple[Decision, ...] = ("once", "always", "for", "deny")
MAX_GRANT_SECONDS = 10 * 365 * 86400
SECRET_BYTES = 24


@dataclass(frozen=True)
class IssuedUri:
    uri: str  # carries the one-time secret: shown once
    remote_signer_pubkey: str
    relays: tuple[str, ...]
    perms: str | None  # the issuer's allowance (None: unrestricted)
    expires_at: int | None


@dataclass(frozen=True)
class GrantView:
    permission: str
    expires_at: int | None
    uses_left: int | None

    @classmethod
    def of(cls, grant: GrantRecord) -> GrantView:
        return cls(str(Permission(grant.method, grant.kind)), grant.expires_at, grant.uses_left)


@dataclass(frozen=True)
class ConnectionView:
    identity_id: str
    client_pubkey: str
    status: str
    via: str
    relays: tuple[str, ...]
    name: str | None
    url: str | None
    authorized_by: str
    created_at: int
    last_used_at: int | None
    revoked_at: int | None
    grants: tuple[GrantView, ...]

    @classmethod
    def of(cls, record: ConnectionRecord, grants: Sequence[GrantRecord]) -> ConnectionView:
        return cls(
            identity_id=record.identity_id,
            client_pubkey=record.client_pubkey,
            status=record.status,
            via=record.via,
            relays=record.relays,
            name=record.name,
            url=record.url,
            authorized_by=record.authorized_by,
            created_at=record.created_at,
            last_used_at=record.last_used_at,
            revoked_at=record.revoked_at,
            grants=tuple(GrantView.of(g) for g in grants),
        )


@dataclass(frozen=True)
class PendingView:
    id: str
    identity_id: str
    client_pubkey: str
    client_name: str | None
    method: str
    kind: int | None
    status: str
    created_at: int
    expires_at: int
    preview: dict[str, Any]


def _perms_argument(text: str | None) -> tuple[Permission, ...] | None:
    if text is None or not text.strip():
        return None
    try:
        return nip46.parse_permissions(text, strict=True)
    except InvalidPayloadError as exc:
        raise BadRequestError(f"perms: {exc}") from None


def _positive(value: int | None, what: str, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise BadRequestError(f"{what} must be an integer between 1 and {maximum}")
    return value


class BunkerAdmin:
    def __init__(
        self,
        passport: Passport,
        signers: RemoteSigners,
        dispatcher: Dispatcher,
        settings: BunkerSettings,
        *,
        on_change: Callable[[], None] = lambda: None,
        publish: Callable[[Outgoing], None] | None = None,
        on_decided: Callable[[str], None] = lambda _id: None,
    ) -> None:
        self.passport = passport
        self.signers = signers
        self.dispatcher = dispatcher
        self.settings = settings
        self.on_change = on_change  # new key, connection or relay: listen for it
        self.publish = publish  # None when this process runs no bunker (no relays)
        self.on_decided = on_decided  # an approval was decided: answer it

    # ------------------------------------------------------------ bunker:// URIs

    def issue_uri(
        self,
        principal: Principal,
        identity_id: str,
        *,
        relays: Sequence[str] = (),
        perms: str | None = None,
        expires_in: int | None = None,
        grant_ttl: int | None = None,
        grant_uses: int | None = None,
        request_id: str = "",
    ) -> IssuedUri:
        """A fresh bunker:// URI with a one-time secret (creates the remote-signer key)."""
        request_id = request_id or new_request_id()
        identity = managed_identity(self.passport, principal, identity_id, "bunker.uri", request_id)
        allowance = _perms_argument(perms)
        expires_in = _positive(expires_in, "expires_in", MAX_GRANT_SECONDS)
        grant_ttl = _positive(grant_ttl, "grant_ttl", MAX_GRANT_SECONDS)
        grant_uses = _positive(grant_uses, "grant_uses", 1_000_000_000)
        chosen = tuple(relays) or self.settings.relays
        if not chosen:
            raise BadRequestError("no relays: pass --relay, or start the server with --relay")
        try:
            uri_relays = nip46.BunkerUri("0" * 64, tuple(chosen)).relays
        except InvalidPayloadError as exc:
            raise BadRequestError(f"relays: {exc}") from None
        if identity.status != "active":
            raise ConflictError(f"identity {identity_id} is disabled")
        signer = self.signers.ensure(identity, principal.actor, request_id)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        now = self.passport.now()
        record = SecretRecord(
            secret_hash=secret_hash(secret),
            identity_id=identity.id,
            relays=uri_relays,
            perms=stored_ceiling(allowance),
            grant_ttl=grant_ttl,
            grant_uses=grant_uses,
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
            created_by=principal.token_id[:128],
        )

        def unit(conn: Any) -> None:
            insert_secret(conn, record)
            self.passport.audit.append(
                conn,
                self._entry(
                    principal,
                    "bunker.uri",
                    OK,
                    request_id,
                    identity.id,
                    {
                        "remote_signer": signer.pubkey,
                        "relays": list(uri_relays),
                        "perms": record.perms,
                        "expires_at": record.expires_at,
                    },
                ),
            )

        self.passport.store.run_write(unit)
        self.on_change()
        uri = nip46.BunkerUri(signer.pubkey, uri_relays, secret)
        return IssuedUri(str(uri), signer.pubkey, uri_relays, record.perms, record.expires_at)

    # ------------------------------------------------------------ nostrconnect://

    def accept_nostrconnect(
        self,
        principal: Principal,
        identity_id: str,
        uri_text: str,
        *,
        perms: str | None = None,
        grant_ttl: int | None = None,
        grant_uses: int | None = None,
        request_id: str = "",
    ) -> ConnectionView:
        """Connect an app that showed a nostrconnect:// URI; send it our `connect` reply."""
        request_id = request_id or new_request_id()
        identity = managed_identity(
            self.passport, principal, identity_id, "bunker.nostrconnect", request_id
        )
        try:
            uri = nip46.parse_nostrconnect_uri(uri_text)
        except InvalidPayloadError as exc:
            raise BadRequestError(f"nostrconnect URI: {exc}") from None
        allowance = _perms_argument(perms)
        grant_ttl = _positive(grant_ttl, "grant_ttl", MAX_GRANT_SECONDS)
        grant_uses = _positive(grant_uses, "grant_uses", 1_000_000_000)
        if identity.status != "active":
            raise ConflictError(f"identity {identity_id} is disabled")
        if self.publish is None:
            raise ConflictError("this server runs no bunker: start it with --relay")
        signer = self.signers.ensure(identity, principal.actor, request_id)
        granted = connect_permissions(uri.perms or None, allowance)
        now = self.passport.now()
        record = ConnectionRecord(
            identity_id=identity.id,
            client_pubkey=uri.client_pubkey,
            status="active",
            via="nostrconnect",
            relays=uri.relays,
            perms_ceiling=stored_ceiling(allowance),
            name=uri.name,
            url=uri.url,
            authorized_by=principal.token_id[:64],
            created_at=now,
        )
        terms = GrantTerms(None if grant_ttl is None else now + grant_ttl, grant_uses)
        grants = grant_records(identity.id, uri.client_pubkey, granted, terms, principal.actor, now)

        def unit(conn: Any) -> None:
            save_connection(conn, record)
            delete_grants(conn, identity.id, uri.client_pubkey)
            insert_grants(conn, grants)
            self.passport.audit.append(
                conn,
                self._entry(
                    principal,
                    "bunker.connect",
                    OK,
                    request_id,
                    identity.id,
                    {
                        "client": uri.client_pubkey,
                        "via": "nostrconnect",
                        "perms": nip46.format_permissions(granted),
                    },
                ),
            )

        self.passport.store.run_write(unit)
        self.on_change()
        self.publish(
            self.dispatcher.connect_response(signer, uri.client_pubkey, uri.relays, uri.secret)
        )
        return self._view(record)

    # ------------------------------------------------------------ connections

    def _view(self, record: ConnectionRecord) -> ConnectionView:
        now = self.passport.now()
        with self.passport.store.read() as conn:
            grants = grants_of(conn, record.identity_id, record.client_pubkey, now)
        return ConnectionView.of(record, grants if record.active else ())

    def connections(self, principal: Principal, identity_id: str) -> list[ConnectionView]:
        managed_identity(self.passport, principal, identity_id, "bunker.connections", "")
        now = self.passport.now()
        with self.passport.store.read() as conn:
            records = list_connections(conn, identity_id)
            return [
                ConnectionView.of(
                    r, grants_of(conn, identity_id, r.client_pubkey, now) if r.active else ()
                )
                for r in records
            ]

    def revoke(
        self, principal: Principal, identity_id: str, client_pubkey: str, *, request_id: str = ""
    ) -> ConnectionView:
        request_id = request_id or new_request_id()
        managed_identity(self.passport, principal, identity_id, "bunker.revoke", request_id)
        now = self.passport.now()

        def unit(conn: Any) -> ConnectionRecord:
            if not revoke_connection(conn, identity_id, client_pubkey, now, principal.actor):
                raise NotFoundError(f"no active connection of {client_pubkey[:64]}")
            self.passport.audit.append(
                conn,
                self._entry(
                    principal,
                    "bunker.revoke",
                    OK,
                    request_id,
                    identity_id,
                    {"client": client_pubkey},
                ),
            )
            record = connection_of(conn, identity_id, client_pubkey)
            assert record is not None
            return record

        record = self.passport.store.run_write(unit)
        self.on_change()
        return ConnectionView.of(record, ())

    # ------------------------------------------------------------ approvals

    def _pending(self, request_id: str) -> PendingRequest:
        with self.passport.store.read() as conn:
            pending = request_by_id(conn, request_id)
        if pending is None:
            raise NotFoundError("no such request")
        return pending

    def _owned_pending(self, principal: Principal, request_id: str, action: str) -> PendingRequest:
        pending = self._pending(request_id)
        try:
            managed_identity(self.passport, principal, pending.identity_id, action, request_id)
        except NotFoundError:
            raise NotFoundError("no such request") from None
        return pending

    def pending(self, principal: Principal, identity_id: str) -> list[PendingView]:
        managed_identity(self.passport, principal, identity_id, "bunker.requests", "")
        now = self.passport.now()
        with self.passport.store.read() as conn:
            waiting = pending_requests(conn, identity_id, now)
        return [self._pending_view(p, {}) for p in waiting]

    def approval(self, principal: Principal, request_id: str) -> PendingView:
        """A waiting request as the owner sees it before deciding (with a preview)."""
        pending = self._owned_pending(principal, request_id, "bunker.approval")
        preview: dict[str, Any] = {}
        if pending.status == "pending" and pending.expires_at > self.passport.now():
            preview = self.dispatcher.preview(pending, principal.actor)
        return self._pending_view(pending, preview)

    def _pending_view(self, pending: PendingRequest, preview: dict[str, Any]) -> PendingView:
        with self.passport.store.read() as conn:
            connection = connection_of(conn, pending.identity_id, pending.client_pubkey)
        status = pending.status
        if status == "pending" and pending.expires_at <= self.passport.now():
            status = "expired"
        return PendingView(
            id=pending.id,
            identity_id=pending.identity_id,
            client_pubkey=pending.client_pubkey,
            client_name=connection.name if connection is not None else None,
            method=pending.method,
            kind=pending.kind,
            status=status,
            created_at=pending.created_at,
            expires_at=pending.expires_at,
            preview=preview,
        )

    def decide(
        self,
        principal: Principal,
        request_id: str,
        decision: str,
        *,
        seconds: int | None = None,
        audit_request_id: str = "",
    ) -> PendingView:
        """Allow once, always, for `seconds`, or deny; the original request is then answered.

        Allowing needs a token that may itself do what the request asks (method, kind).
        """
        audit_request_id = audit_request_id or new_request_id()
        if decision not in DECISIONS:
            raise BadRequestError(f"decision must be one of {', '.join(DECISIONS)}")
        if decision == "for":
            seconds = _positive(seconds, "seconds", MAX_GRANT_SECONDS)
            if seconds is None:
                raise BadRequestError("decision 'for' needs seconds")
        pending = self._owned_pending(principal, request_id, "bunker.approve")
        if decision != "deny":
            access.require_method(principal, pending.method)
            if pending.kind is not None:
                access.require_kinds(principal, [pending.kind])
        now = self.passport.now()
        status: Literal["approved", "denied"] = "denied" if decision == "deny" else "approved"

        def unit(conn: Any) -> None:
            if not decide_request(conn, request_id, status, decision, principal.actor, now):
                raise ConflictError("this request was already decided or has expired")
            if decision in ("always", "for"):
                permission = Permission(pending.method, pending.kind)
                terms = GrantTerms(None if seconds is None else now + seconds, None)
                insert_grants(
                    conn,
                    grant_records(
                        pending.identity_id,
                        pending.client_pubkey,
                        [permission],
                        terms,
                        principal.actor,
                        now,
                    ),
                )
            self.passport.audit.append(
                conn,
                self._entry(
                    principal,
                    "bunker.approve",
                    OK,
                    audit_request_id,
                    pending.identity_id,
                    {
                        "approval": request_id,
                        "client": pending.client_pubkey,
                        "method": pending.method,
                        "kind": pending.kind,
                        "decision": decision,
                        "seconds": seconds,
                    },
                ),
            )

        self.passport.store.run_write(unit)
        self.on_decided(request_id)
        return self._pending_view(self._pending(request_id), {})

    # ------------------------------------------------------------ helpers

    def _entry(
        self,
        principal: Principal,
        action: str,
        outcome: str,
        request_id: str,
        identity_id: str,
        details: dict[str, Any],
    ) -> Any:
        return self.passport.audit.entry(
            actor=principal.actor,
            tenant_id=principal.tenant_id,
            action=action,
            outcome=outcome,
            request_id=request_id,
            identity_id=identity_id,
            details=details,
        )
