"""One NIP-46 request event in, the signed response event out (blocking; run in a thread).

The order for every request event addressed to one of our remote-signer keys:
1. take its id (in memory, then in the store: another gateway, or a relay replaying
   stored events after a reconnect, must not make us answer twice); rate limit per app;
2. write the `bunker.request` audit record (fail closed: no record, no key use);
3. threshold ECDH with the app's key, decrypt (NIP-44, or NIP-04 for old apps);
4. parse, check the connection and its grants, run the method through Passport (which
   authorises and audits the use of the user's key once more, as for HTTP callers);
5. write the `bunker.<method>` outcome record, seal the response with the same scheme and
   sign it with the remote-signer key (FROST).

Every request we can decrypt gets a reply, errors included (garbage, unknown methods,
bad params, refusals): a NIP-46 client waits until its timeout on silence. A request
outside the app's grants gets an auth_url reply and waits (bunker_requests) for the
owner; once decided, `resume` answers it with its original id.

Nothing decrypted leaves this module except into the response for the same app; the
audit records name methods, kinds, event ids and app keys, never content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import IntegrityError

from nostr_passport.crypto.errors import CryptoError
from nostr_passport.errors import (
    BadRequestError,
    IdentityDisabledError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
)
from nostr_passport.nostr import nip46
from nostr_passport.nostr.errors import InvalidPayloadError, InvalidRequestError, NostrError
from nostr_passport.nostr.nip46 import Request, Response
from nostr_passport.service.audit import ALLOWED, DENIED, ERROR, OK
from nostr_passport.service.passport import Passport
from nostr_passport.service.ratelimit import TooManyRequestsError
from nostr_passport.store.bunker_tables import (
    ConnectionRecord,
    PendingRequest,
    connection_of,
    consume_secret,
    delete_grants,
    finish_request,
    grants_of,
    insert_grants,
    insert_request,
    mark_seen,
    release_claim,
    revoke_connection,
    save_connection,
    secret_by_hash,
    touch_connection,
    use_grant,
)
from nostr_passport.store.identities import IdentityRecord, identity_header

from .access import connection_principal
from .envelope import Scheme, open_content, response_template, scheme_of, seal_content
from .grants import (
    GrantTerms,
    ceiling_of,
    connect_permissions,
    grant_permission,
    grant_records,
)
from .keys import RemoteSigner, RemoteSigners
from .settings import BunkerSettings

log = logging.getLogger(__name__)

REFUSED_SECRET = "unknown or already used secret"  # noqa: S105 - a message, not a secret
# Replies bigger than this also get an error reply signed in advance, sent if no relay
# takes the big one (relays cap event sizes: LocalRelay at 64 KiB, others lower).
FALLBACK_THRESHOLD = 16 * 1024
_SEEN_MEMORY = 50_000
_TOUCH_EVERY = 60  # seconds between last_used_at updates of one connection


@dataclass(frozen=True)
class Outgoing:
    """A signed response event, where to publish it, and what to send if nobody takes it."""

    event: dict[str, Any]
    relays: tuple[str, ...]
    fallback: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Context:
    """What one request is about (public data only)."""

    signer: RemoteSigner
    client: str
    event_id: str
    scheme: Scheme
    arrival: tuple[str, ...]
    request_id: str  # the id our audit records and signer calls carry


@dataclass(frozen=True)
class _State:
    identity: IdentityRecord | None
    connection: ConnectionRecord | None
    relays: tuple[str, ...]  # where replies go: the arrival relay and the connection's


def _active(identity: IdentityRecord | None) -> IdentityRecord:
    if identity is None:
        raise NotFoundError("this identity no longer exists")
    if identity.status != "active":
        raise IdentityDisabledError("this identity is disabled")
    return identity


def error_text(exc: BaseException) -> str:
    """The one mapping from our exceptions to a NIP-46 error string: `code: message`."""
    if isinstance(exc, PassportError | NostrError):
        return f"{exc.code}: {str(exc)[:300]}"
    return "internal_error: internal error"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class NotConnectedError(PermissionDeniedError):
    code = "not_connected"


class Dispatcher:
    def __init__(
        self,
        passport: Passport,
        signers: RemoteSigners,
        settings: BunkerSettings,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.passport = passport
        self.signers = signers
        self.settings = settings
        self.on_change = on_change  # connections or relays changed: re-read them
        # The gateway's per-caller limiter (config rate_limit), keyed by the app's key.
        self.limiter = passport.rate_limiter
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._touched: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # ================================================================ entry points

    def handle(self, event: Mapping[str, Any], relay_url: str) -> list[Outgoing]:
        """Answer one request event (already signature-checked by the relay pool)."""
        signer = self._addressed_signer(event)
        if signer is None or not self._remember(event["id"]):
            return []
        client: str = event["pubkey"]
        try:
            self.limiter.acquire(f"nip46:{client}")
        except TooManyRequestsError:
            # Answering costs an ECDH and a signature: that is what a flood wants.
            log.warning("nip46 client %s over its rate limit: request dropped", client[:16])
            return []
        ctx = _Context(
            signer=signer,
            client=client,
            event_id=event["id"],
            scheme=scheme_of(event["content"]),
            arrival=(relay_url,),
            request_id="nip46_" + event["id"][:32],
        )
        if not self._take(ctx):
            return []  # another gateway (or an earlier run) answers it
        return self._answer(ctx, self._shared(ctx), event, None)

    def resume(self, pending: PendingRequest) -> list[Outgoing]:
        """Answer a request the owner decided on (claimed by this gateway)."""
        event = json.loads(pending.request_event)
        signer = self.signers.of_identity(pending.identity_id)
        if signer is None:
            return []
        ctx = _Context(
            signer=signer,
            client=pending.client_pubkey,
            event_id=event["id"],
            scheme=scheme_of(event["content"]),
            arrival=pending.reply_relays,
            request_id="nip46_" + event["id"][:32],
        )
        try:
            self._audit_key_use(ctx, {"approval": pending.id, "decision": pending.decision})
            shared = self._shared(ctx)
            if pending.decision == "deny":
                self._audit(ctx, f"bunker.{pending.method}", DENIED, {"approval": pending.id})
                response = nip46.error(pending.rpc_id, "denied: the identity's owner refused")
                outgoing = self._reply(ctx, shared, response, pending.reply_relays)
            else:
                outgoing = self._answer(ctx, shared, event, pending)
        except PassportError:
            # Signers or store down: hand the decision back, a later round answers it
            # (until the request is well past its expiry).
            if self.passport.now() < pending.expires_at + self.settings.approval_ttl:
                self.passport.store.run_write(lambda conn: release_claim(conn, pending))
            else:
                self.passport.store.run_write(lambda conn: finish_request(conn, pending.id))
            raise
        self.passport.store.run_write(lambda conn: finish_request(conn, pending.id))
        return outgoing

    def connect_response(
        self, signer: RemoteSigner, client: str, relays: tuple[str, ...], secret: str
    ) -> Outgoing:
        """The signer-initiated `connect` response of a nostrconnect:// flow.

        Its result is the URI's secret, which the app checks to know it is us.
        """
        ctx = _Context(
            signer=signer,
            client=client,
            event_id="",
            scheme="nip44",
            arrival=relays,
            request_id="nip46_connect_" + secrets.token_hex(8),
        )
        self._audit_key_use(ctx, {"nostrconnect": True})
        shared = self._shared(ctx)
        response = nip46.ok(secrets.token_hex(8), secret)
        return self._reply(ctx, shared, response, relays)[0]

    def preview(self, pending: PendingRequest, actor: str) -> dict[str, Any]:
        """What an approval page shows of a waiting sign_event: kind, tags, content.

        Decrypts the stored request (audited) for the identity's owner; other methods
        show no content (a plaintext to encrypt or a ciphertext to decrypt).
        """
        if pending.method != nip46.SIGN_EVENT:
            return {}
        event = json.loads(pending.request_event)
        signer = self.signers.of_identity(pending.identity_id)
        if signer is None:
            return {}
        ctx = _Context(
            signer=signer,
            client=pending.client_pubkey,
            event_id=event["id"],
            scheme=scheme_of(event["content"]),
            arrival=(),
            request_id="nip46_view_" + secrets.token_hex(8),
        )
        self._audit_key_use(ctx, {"approval": pending.id, "preview_for": actor[:128]})
        shared = self._shared(ctx)
        try:
            request = nip46.parse_request(open_content(event["content"], shared))
            template = _template(request)
        except (NostrError, PassportError):
            return {}
        tags = template.get("tags")
        return {
            "kind": template.get("kind"),
            "content": str(template.get("content", ""))[:2000],
            "tags": tags[:50] if isinstance(tags, list) else [],
        }

    # ================================================================ intake

    def _addressed_signer(self, event: Mapping[str, Any]) -> RemoteSigner | None:
        if event.get("kind") != nip46.KIND:
            return None
        for tag in event.get("tags", []):
            if len(tag) >= 2 and tag[0] == "p":
                signer = self.signers.by_pubkey(tag[1])
                if signer is not None:
                    return signer
        return None

    def _shared(self, ctx: _Context) -> bytes:
        """Threshold ECDH of the remote-signer key with the app's key (after the audit
        record); a failure is recorded before it propagates (no reply is possible)."""
        try:
            return self.signers.shared_x(ctx.signer, bytes.fromhex(ctx.client), ctx.request_id)
        except PassportError as exc:
            self._audit(ctx, "bunker.request", ERROR, {"error": exc.code})
            raise

    def _remember(self, event_id: str) -> bool:
        """False if this process has seen the request event already (other relays)."""
        with self._lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            if len(self._seen) > _SEEN_MEMORY:
                self._seen.popitem(last=False)
        return True

    def _take(self, ctx: _Context) -> bool:
        """Claim the request event in the store and audit the key use, in one transaction.

        False if its id is taken (another gateway, a replay); AuditUnavailableError if
        the record cannot be written (fail closed: the key is not used).
        """
        now = self.passport.now()
        entry = self._key_use_entry(ctx, {})

        def unit(conn: Any) -> None:
            mark_seen(conn, ctx.event_id, now)
            self.passport.audit.append(conn, entry)

        try:
            self.passport.store.run_write(unit)
        except IntegrityError:
            return False
        return True

    # ================================================================ audit

    def _entry(self, ctx: _Context, action: str, outcome: str, details: dict[str, Any]) -> Any:
        return self.passport.audit.entry(
            actor=f"nip46:{ctx.client}",
            tenant_id=ctx.signer.tenant_id,
            action=action,
            outcome=outcome,
            request_id=ctx.request_id,
            identity_id=ctx.signer.identity_id,
            details={"client": ctx.client, **details},
        )

    def _key_use_entry(self, ctx: _Context, details: dict[str, Any]) -> Any:
        return self._entry(
            ctx,
            "bunker.request",
            ALLOWED,
            {
                "event_id": ctx.event_id,
                "remote_signer": ctx.signer.pubkey,
                "transport": ctx.scheme,
                **details,
            },
        )

    def _audit_key_use(self, ctx: _Context, details: dict[str, Any]) -> None:
        """Before the remote-signer key decrypts or signs anything: fail closed."""
        self.passport.audit.record(self._key_use_entry(ctx, details))

    def _audit(self, ctx: _Context, action: str, outcome: str, details: dict[str, Any]) -> None:
        self.passport.audit.try_record(self._entry(ctx, action, outcome, details))

    # ================================================================ answering

    def _answer(
        self,
        ctx: _Context,
        shared: bytes,
        event: Mapping[str, Any],
        approved: PendingRequest | None,
    ) -> list[Outgoing]:
        state = self._state(ctx)
        try:
            plaintext = open_content(event["content"], shared)
        except (NostrError, ValueError):
            self._audit(ctx, "bunker.invalid", ERROR, {"error": "decryption_failed"})
            failed = nip46.error("", "decryption_failed: cannot decrypt")
            return self._reply(ctx, shared, failed, state.relays)
        try:
            request = nip46.parse_request(plaintext)
        except InvalidRequestError as exc:
            self._audit(ctx, "bunker.invalid", ERROR, {"error": exc.code})
            response = nip46.error(exc.request_id or "", error_text(exc))
        except InvalidPayloadError as exc:
            self._audit(ctx, "bunker.invalid", ERROR, {"error": exc.code})
            response = nip46.error(nip46.request_id_hint(plaintext), error_text(exc))
        else:
            response = self._execute(ctx, request, event, approved, state)
        del plaintext
        return self._reply(ctx, shared, response, state.relays)

    def _execute(
        self,
        ctx: _Context,
        request: Request,
        event: Mapping[str, Any],
        approved: PendingRequest | None,
        state: _State,
    ) -> Response:
        action = f"bunker.{request.method}" if request.method in nip46.METHODS else "bunker.other"
        details: dict[str, Any] = {"method": request.method[:64], "event_id": ctx.event_id}
        try:
            identity = _active(state.identity)
            if request.method == nip46.CONNECT:
                result = self._connect(ctx, request, identity, state.connection)
            else:
                connection = self._connected(ctx, state.connection)
                if request.method in nip46.GRANTABLE_METHODS:
                    kind = self._signable(request).get("kind") if _is_sign(request) else None
                    details["kind"] = kind
                    if not self._allowed(ctx, request, kind, approved):
                        url = self._park(ctx, request, event, kind, state.relays)
                        self._audit(ctx, action, DENIED, {**details, "approval": url})
                        return nip46.auth_challenge(request.id, url)
                result = self._run(ctx, request, identity, connection)
        except (PassportError, NostrError) as exc:
            outcome = DENIED if isinstance(exc, PermissionDeniedError) else ERROR
            self._audit(ctx, action, outcome, {**details, "error": exc.code})
            return nip46.error(request.id, error_text(exc))
        except (CryptoError, ValueError, TypeError) as exc:
            log.error("nip46 %s failed: %s", request.method[:64], type(exc).__name__)
            self._audit(ctx, action, ERROR, {**details, "error": "internal_error"})
            return nip46.error(request.id, error_text(exc))
        self._audit(ctx, action, OK, details)
        return nip46.ok(request.id, result)

    def _reply(
        self, ctx: _Context, shared: bytes, response: Response, relays: tuple[str, ...]
    ) -> list[Outgoing]:
        text = response.to_json()
        size = len(text.encode("utf-8"))
        if size > self.settings.max_response_bytes:
            text = nip46.error(
                response.id,
                f"response_too_large: the reply would be {size} bytes, "
                f"NIP-46 replies are limited to {self.settings.max_response_bytes}",
            ).to_json()
        reply = self._sealed(ctx, shared, text)
        fallback = None
        if len(reply["content"]) > FALLBACK_THRESHOLD:
            message = "response_too_large: no relay accepted the reply"
            fallback = self._sealed(ctx, shared, nip46.error(response.id, message).to_json())
        return [Outgoing(reply, relays, fallback)]

    def _sealed(self, ctx: _Context, shared: bytes, text: str) -> dict[str, Any]:
        content = seal_content(text, shared, ctx.scheme)
        template = response_template(ctx.client, content, self.passport.now())
        return self.signers.sign(ctx.signer, template, ctx.request_id)

    # ================================================================ state checks

    def _state(self, ctx: _Context) -> _State:
        """The user's identity row and the app's connection, in one read."""
        with self.passport.store.read() as conn:
            identity = identity_header(conn, ctx.signer.identity_id)
            connection = connection_of(conn, ctx.signer.identity_id, ctx.client)
        known = connection.relays if connection is not None and connection.active else ()
        relays = tuple(dict.fromkeys((*ctx.arrival, *known)))
        return _State(identity, connection, relays)

    def _connected(self, ctx: _Context, connection: ConnectionRecord | None) -> ConnectionRecord:
        if connection is None or not connection.active:
            raise NotConnectedError("not connected: send connect with a bunker:// secret first")
        self._touch(ctx)
        return connection

    def _touch(self, ctx: _Context) -> None:
        now = self.passport.now()
        key = (ctx.signer.identity_id, ctx.client)
        with self._lock:
            if now - self._touched.get(key, 0) < _TOUCH_EVERY:
                return
            self._touched[key] = now
        self.passport.store.run_write(
            lambda conn: touch_connection(conn, ctx.signer.identity_id, ctx.client, now)
        )

    def _allowed(
        self, ctx: _Context, request: Request, kind: Any, approved: PendingRequest | None
    ) -> bool:
        if approved is not None:
            # The owner approved exactly this request (same method, same kind).
            return approved.method == request.method and approved.kind == kind
        now = self.passport.now()
        grant_kind = kind if isinstance(kind, int) and not isinstance(kind, bool) else None
        with self.passport.store.read() as conn:
            grants = grants_of(conn, ctx.signer.identity_id, ctx.client, now)
        covering = [g for g in grants if grant_permission(g).covers(request.method, grant_kind)]
        if any(g.uses_left is None for g in covering):
            return True  # unlimited: nothing to count, no write
        if not covering:
            return False
        grant = self.passport.store.run_write(
            lambda conn: use_grant(
                conn, ctx.signer.identity_id, ctx.client, request.method, grant_kind, now
            )
        )
        return grant is not None

    def _signable(self, request: Request) -> dict[str, Any]:
        """The template, refused before any grant or key is used if its signed event
        could not travel back (the reply is the event JSON-escaped once more)."""
        template = _template(request)
        estimate = len(json.dumps(request.params[0]).encode("utf-8")) + 512
        if estimate > self.settings.max_response_bytes:
            raise BadRequestError(
                f"event too large: NIP-46 replies are limited to "
                f"{self.settings.max_response_bytes} bytes"
            )
        return template

    def _park(
        self,
        ctx: _Context,
        request: Request,
        event: Mapping[str, Any],
        kind: Any,
        relays: tuple[str, ...],
    ) -> str:
        """Keep the request (as the encrypted event it came in) for the owner's decision."""
        now = self.passport.now()
        pending = PendingRequest(
            id="bra_" + secrets.token_hex(16),
            identity_id=ctx.signer.identity_id,
            client_pubkey=ctx.client,
            method=request.method,
            kind=kind if isinstance(kind, int) and not isinstance(kind, bool) else None,
            rpc_id=request.id,
            request_event=json.dumps(dict(event), ensure_ascii=False, separators=(",", ":")),
            reply_relays=relays,
            status="pending",
            decision=None,
            created_at=now,
            expires_at=now + self.settings.approval_ttl,
        )
        self.passport.store.run_write(lambda conn: insert_request(conn, pending))
        return f"{self.settings.public_url.rstrip('/')}/bunker/auth/{pending.id}"

    # ================================================================ methods

    def _connect(
        self,
        ctx: _Context,
        request: Request,
        identity: IdentityRecord,
        existing: ConnectionRecord | None,
    ) -> str:
        params = request.params
        target = params[0] if params else ""
        if target not in ("", ctx.signer.pubkey, identity.group_pubkey):
            raise BadRequestError("connect: params[0] is not this remote signer's public key")
        secret = params[1] if len(params) > 1 and params[1] else None
        requested = (
            nip46.parse_permissions(params[2], strict=False)
            if len(params) > 2 and params[2]
            else None
        )
        reconnecting = existing is not None and existing.active
        if secret is None:
            if reconnecting:
                return nip46.ACK
            raise PermissionDeniedError("connect needs the secret of a bunker:// URI")
        digest = secret_hash(secret)
        now = self.passport.now()

        def unit(conn: Any) -> bool:
            record = secret_by_hash(conn, digest)
            if record is None or record.identity_id != identity.id:
                raise PermissionDeniedError(REFUSED_SECRET)
            if record.consumed_at is not None:
                if record.consumed_by == ctx.client and reconnecting:
                    return False  # the same app again, with the URI it connected with
                raise PermissionDeniedError(REFUSED_SECRET)
            if record.expires_at is not None and now >= record.expires_at:
                raise PermissionDeniedError("this bunker:// secret has expired")
            if not consume_secret(conn, digest, ctx.client, now):
                raise PermissionDeniedError(REFUSED_SECRET)
            perms = connect_permissions(requested, ceiling_of(record.perms))
            save_connection(
                conn,
                ConnectionRecord(
                    identity_id=identity.id,
                    client_pubkey=ctx.client,
                    status="active",
                    via="bunker",
                    relays=record.relays,
                    perms_ceiling=record.perms,
                    name=None,
                    url=None,
                    authorized_by=record.created_by,
                    created_at=now,
                ),
            )
            delete_grants(conn, identity.id, ctx.client)
            terms = GrantTerms(
                expires_at=None if record.grant_ttl is None else now + record.grant_ttl,
                uses=record.grant_uses,
            )
            insert_grants(
                conn,
                grant_records(identity.id, ctx.client, perms, terms, record.created_by, now),
            )
            self.passport.audit.append(
                conn,
                self._entry(
                    ctx,
                    "bunker.connect",
                    OK,
                    {"via": "bunker", "perms": nip46.format_permissions(perms)},
                ),
            )
            return True

        if self.passport.store.run_write(unit):
            self.on_change()
        return nip46.ACK

    def _run(
        self,
        ctx: _Context,
        request: Request,
        identity: IdentityRecord,
        connection: ConnectionRecord,
    ) -> str:
        method = request.method
        if method == nip46.PING:
            return nip46.PONG
        if method == nip46.GET_PUBLIC_KEY:
            return identity.group_pubkey
        if method == nip46.SWITCH_RELAYS:
            return self._switch_relays(ctx, connection)
        if method == nip46.LOGOUT:
            now = self.passport.now()
            self.passport.store.run_write(
                lambda conn: revoke_connection(conn, identity.id, ctx.client, now, ctx.client)
            )
            self.on_change()
            return nip46.ACK
        if method not in nip46.GRANTABLE_METHODS:
            raise BadRequestError(f"unsupported method {method[:64]!r}")
        principal = connection_principal(self.passport, connection.authorized_by, ctx.client)
        passport = self.passport
        if method == nip46.SIGN_EVENT:
            template = _template(request)
            events = passport.sign_events(
                principal, identity.id, [template], request_id=ctx.request_id
            )
            return json.dumps(events[0], ensure_ascii=False, separators=(",", ":"))
        peer, text = _peer_and_text(request)
        operations = {
            nip46.NIP44_ENCRYPT: passport.nip44_encrypt,
            nip46.NIP44_DECRYPT: passport.nip44_decrypt,
            nip46.NIP04_ENCRYPT: passport.nip04_encrypt,
            nip46.NIP04_DECRYPT: passport.nip04_decrypt,
        }
        return operations[method](principal, identity.id, peer, text, request_id=ctx.request_id)

    def _switch_relays(self, ctx: _Context, connection: ConnectionRecord) -> str:
        """Point the app at the relays we listen on (NIP-46 switch_relays)."""
        relays = self.settings.relays or connection.relays
        if relays and tuple(relays) != connection.relays:
            moved = replace(connection, relays=tuple(relays))
            self.passport.store.run_write(lambda conn: save_connection(conn, moved))
            self.on_change()
        return json.dumps(list(relays))


def _is_sign(request: Request) -> bool:
    return request.method == nip46.SIGN_EVENT


def _template(request: Request) -> dict[str, Any]:
    """sign_event's params[0]: a JSON-stringified event template."""
    if len(request.params) != 1:
        raise BadRequestError("sign_event takes one param: the JSON event template")
    try:
        template = json.loads(request.params[0])
    except (ValueError, RecursionError):
        raise BadRequestError("sign_event: params[0] is not JSON") from None
    if not isinstance(template, dict):
        raise BadRequestError("sign_event: params[0] must be a JSON object")
    kind = template.get("kind")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise BadRequestError("sign_event: the template's kind must be an integer")
    # rust-nostr sends its unsigned event with "id": null.
    return {k: v for k, v in template.items() if not (k in ("id", "sig") and v is None)}


def _peer_and_text(request: Request) -> tuple[str, str]:
    if len(request.params) != 2:
        raise BadRequestError(f"{request.method} takes two params: a pubkey and a text")
    return request.params[0], request.params[1]


__all__ = ["Dispatcher", "NotConnectedError", "Outgoing", "error_text", "secret_hash"]
