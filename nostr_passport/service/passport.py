"""The gateway's operations: every request passes here, and access is decided here only.

Each public method takes the caller's Principal and follows the same order:
authorise (service/access.py: role, method scope, identity scope; 403 is audited as
`denied`), validate the input (400), find the identity in the caller's tenant (404),
check event kinds against the scope (403), write the audit record (service/audit.py
explains when), then act. Nothing before the audit record touches a signer or changes
the store, so a refused or malformed request changes nothing but (for a 403) the log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from nostr_passport.crypto import ecdh
from nostr_passport.crypto.errors import CryptoError
from nostr_passport.errors import (
    BadRequestError,
    ConflictError,
    IdentityDisabledError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
    SignersUnavailableError,
)
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.nostr import nip04, nip44
from nostr_passport.signer.protocol import SignerClient, SignerInfo
from nostr_passport.store import Store
from nostr_passport.store.identities import (
    AttestationRecord,
    IdentityRecord,
    IdentityStatus,
    ShareRecord,
    delete_identity,
    identity_by_id,
    identity_header,
    insert_identity,
    list_identities,
    max_active_threshold,
    set_identity_status,
    share_counts,
)
from nostr_passport.store.sessions import record_session
from nostr_passport.store.signers import SignerKind, SignerRecord, upsert_signer
from nostr_passport.store.tokens import (
    ROLES,
    Role,
    TokenScopes,
    list_tokens,
    revoke_token,
    token_by_id,
)

from . import access
from .access import Principal
from .audit import ALLOWED, DENIED, ERROR, OK, AuditLog
from .coordinator import SignerFault, SigningCoordinator
from .events import UnsignedEvent, prepare_events, signed_event
from .keygen import KeygenResult, deal_identity, discard_shares
from .keys import IdentityKeys, KeyCache
from .placement import Candidate, place_shares
from .ratelimit import NoRateLimit, RateLimiter
from .signer_pool import SignerPool
from .tokens import issue_token
from .views import IdentityView, IssuedToken, TokenView

log = logging.getLogger(__name__)
# How an identity's key is generated; None: DKG when every chosen signer supports it.
KEYGEN_METHODS: tuple[str | None, ...] = ("dkg", "dealer", None)

MAX_KIND = 65535
UNRESTRICTED = TokenScopes()
MAX_PLAINTEXT_BYTES = 65535  # NIP-44 v2's limit


@dataclass(frozen=True)
class Limits:
    max_participants: int = 7
    max_threshold: int = 7
    min_threshold: int = 2
    max_batch_events: int = 500
    max_label_length: int = 200


@dataclass(frozen=True)
class SignerEndpoint:
    """How this gateway reaches a signer (goes into the signers table with its info)."""

    kind: SignerKind
    url: str | None = None
    signer_public_key: str = ""


@dataclass(frozen=True)
class Readiness:
    ready: bool
    store: bool
    healthy_signers: tuple[str, ...]
    unhealthy_signers: dict[str, str]
    required_signers: int


@dataclass(frozen=True)
class DeletionReport:
    identity_id: str
    deleted: bool
    shares_remaining_at: tuple[str, ...]


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def _hex_key(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise BadRequestError(f"{what} must be 64 lowercase hex characters (x-only key)")
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise BadRequestError(f"{what} must be 64 lowercase hex characters (x-only key)") from None
    if value != value.lower():
        raise BadRequestError(f"{what} must be lowercase hex")
    try:
        ecdh.peer_point(key)
    except CryptoError:
        raise BadRequestError(f"{what} is not a valid secp256k1 x coordinate") from None
    return key


class Passport:
    def __init__(
        self,
        store: Store,
        pool: SignerPool,
        coordinator: SigningCoordinator,
        audit: AuditLog,
        keys: KeyCache,
        *,
        endpoints: Mapping[str, SignerEndpoint],
        limits: Limits = Limits(),
        rate_limiter: RateLimiter | NoRateLimit | None = None,
        signer_timeout: float = 2.0,
        record_sessions: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pool = pool
        self.coordinator = coordinator
        self.audit = audit
        self.keys = keys
        self.endpoints = dict(endpoints)
        self.limits = limits
        self.rate_limiter = rate_limiter or NoRateLimit()
        self.signer_timeout = signer_timeout
        self.record_sessions = record_sessions
        self._clock = clock
        # The HSM whose attestation key signs audit checkpoints (open_gateway sets it from
        # the [audit] config; None: the first local signer's provider), and the log's id.
        self.audit_provider: HsmProvider | None = None
        self.audit_log_id = "nostr-passport"

    def now(self) -> int:
        return int(self._clock())

    # ================================================================ authentication

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request (401 otherwise), rate limited per token (429)."""
        principal = access.authenticate(self.store, access.bearer_token(authorization), self.now())
        self.rate_limiter.acquire(principal.token_id)
        return principal

    @contextmanager
    def _denials_audited(
        self, principal: Principal, action: str, request_id: str, identity_id: str | None = None
    ) -> Iterator[None]:
        try:
            yield
        except PermissionDeniedError as exc:
            self.audit.try_record(
                self.audit.entry(
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

    def authorize(
        self,
        principal: Principal,
        method: str,
        request_id: str,
        identity_id: str | None = None,
        *,
        system_tenant_only: bool = False,
    ) -> None:
        """Refuse (and audit as denied) what `principal` may not do.

        `system_tenant_only`: the action concerns the whole installation (every tenant's
        audit records, a signer's KEK), so only the system tenant's tokens may take it.
        """
        with self._denials_audited(principal, method, request_id, identity_id):
            access.require_method(principal, method)
            if identity_id is not None:
                access.require_identity_scope(principal, identity_id)
            if system_tenant_only and principal.tenant_id != access.SYSTEM_TENANT:
                raise PermissionDeniedError(
                    f"{method} concerns every tenant: the installation's tenant only"
                )

    def _visible_identity(self, principal: Principal, identity_id: str) -> IdentityRecord:
        with self.store.read() as conn:
            record = identity_by_id(conn, identity_id)
        return access.require_visible(principal, record, identity_id)

    def _usable_identity(
        self, principal: Principal, identity_id: str
    ) -> tuple[IdentityRecord, IdentityKeys]:
        """An active identity of the caller's tenant and its key material.

        The row (status, epoch) is read on every request so a disable on any gateway
        counts at once; the public key material comes from the cache when its epoch
        matches, saving the three child-table queries.
        """
        with self.store.read() as conn:
            header = identity_header(conn, identity_id)
            access.require_visible(principal, header, identity_id)
            assert header is not None
            if header.status != "active":
                raise IdentityDisabledError(f"identity {identity_id} is disabled")
            keys = self.keys.cached(identity_id, header.epoch)
            if keys is not None:
                return header, keys
            record = identity_by_id(conn, identity_id)
        if record is None:
            raise NotFoundError(f"identity {identity_id} not found")
        return record, self.keys.keys(record)

    def _record_error(
        self,
        principal: Principal,
        action: str,
        request_id: str,
        identity_id: str | None,
        exc: PassportError,
    ) -> None:
        self.audit.try_record(
            self.audit.entry(
                actor=principal.actor,
                tenant_id=principal.tenant_id,
                action=action,
                outcome=ERROR,
                request_id=request_id,
                identity_id=identity_id,
                details={"error": exc.code, "reason": str(exc)[:500]},
            )
        )

    def _record_faults(
        self, principal: Principal, request_id: str, identity_id: str, faults: Sequence[SignerFault]
    ) -> None:
        for fault in faults:
            self.audit.try_record(
                self.audit.entry(
                    actor=principal.actor,
                    tenant_id=principal.tenant_id,
                    action="signer.fault",
                    outcome=ERROR,
                    request_id=request_id,
                    identity_id=identity_id,
                    details={
                        "signer_id": fault.signer_id,
                        "participant": fault.participant,
                        "contribution": fault.contribution,
                    },
                )
            )

    # ================================================================ identities

    def create_identity(
        self,
        principal: Principal,
        *,
        threshold: int,
        participants: int,
        label: str | None = None,
        keygen: str | None = None,
        request_id: str = "",
    ) -> IdentityView:
        """A new t-of-n identity; `keygen` "dkg", "dealer" or None (DKG when every chosen
        signer supports it: then no HSM and no process ever holds the whole key)."""
        request_id = request_id or new_request_id()
        self.authorize(principal, access.IDENTITY_CREATE, request_id)
        self._check_shape(threshold, participants, label)
        if keygen not in KEYGEN_METHODS:
            raise BadRequestError("keygen must be dkg or dealer (or absent: DKG when possible)")
        signer_ids = self._placement(participants)
        method = self._keygen_method(keygen, signer_ids)
        identity_id = "id_" + secrets.token_hex(10)
        self.audit.record(
            self.audit.entry(
                actor=principal.actor,
                tenant_id=principal.tenant_id,
                action=access.IDENTITY_CREATE,
                outcome=ALLOWED,
                request_id=request_id,
                identity_id=identity_id,
                details={
                    "threshold": threshold,
                    "participants": participants,
                    "signers": list(signer_ids),
                    "keygen": method,
                },
            )
        )
        if method == "dkg":
            return self._create_by_dkg(
                principal, identity_id, threshold, signer_ids, label, request_id
            )
        try:
            result = deal_identity(
                self.pool, identity_id, threshold, signer_ids, timeout=self.signer_timeout
            )
            record = self._identity_record(principal.tenant_id, label, result)
            self.store.run_write(
                lambda conn: self._insert_created(conn, principal, record, request_id)
            )
        except (PassportError, IntegrityError) as exc:
            leftover = discard_shares(self.pool, identity_id, signer_ids, self.signer_timeout)
            if leftover:
                log.error("identity %s: shares may remain at %s", identity_id, ", ".join(leftover))
            error = exc if isinstance(exc, PassportError) else ConflictError("identity clash")
            self._record_error(principal, access.IDENTITY_CREATE, request_id, identity_id, error)
            raise error from None
        return IdentityView.of(record)

    def _keygen_method(self, keygen: str | None, signer_ids: Sequence[str]) -> str:
        infos, failures = self.pool.infos(self.signer_timeout)
        unable = [sid for sid in signer_ids if sid in failures or not infos[sid].supports_dkg]
        if keygen == "dkg" and unable:
            raise BadRequestError(f"signers {', '.join(unable)} cannot run DKG: use keygen dealer")
        if keygen is None:
            return "dealer" if unable else "dkg"
        return keygen

    def _create_by_dkg(
        self,
        principal: Principal,
        identity_id: str,
        threshold: int,
        signer_ids: Sequence[str],
        label: str | None,
        request_id: str,
    ) -> IdentityView:
        from .lifecycle.context import LifecycleContext
        from .lifecycle.dkg_flow import create_identity_dkg

        try:
            infos, _ = self.pool.infos(self.signer_timeout)
            now = self.now()

            def register(conn: Any) -> None:
                for sid in signer_ids:
                    upsert_signer(conn, self.signer_record(infos[sid], now))

            self.store.run_write(register)  # DKG records shares only of registered signers
            record = create_identity_dkg(
                LifecycleContext.of(self),
                tenant_id=principal.tenant_id,
                threshold=threshold,
                signer_ids=signer_ids,
                label=label,
                actor=principal.actor,
                request_id=request_id,
                identity_id=identity_id,
            )
        except (PassportError, IntegrityError) as exc:
            error = exc if isinstance(exc, PassportError) else ConflictError("identity clash")
            self._record_error(principal, access.IDENTITY_CREATE, request_id, identity_id, error)
            raise error from None
        return IdentityView.of(record)

    def _check_shape(self, threshold: int, participants: int, label: str | None) -> None:
        limits = self.limits
        available = len(self.pool.ids)
        max_n = min(limits.max_participants, available)
        if not isinstance(participants, int) or isinstance(participants, bool):
            raise BadRequestError("participants must be an integer")
        if not isinstance(threshold, int) or isinstance(threshold, bool):
            raise BadRequestError("threshold must be an integer")
        if not 2 <= participants <= max_n:
            raise BadRequestError(
                f"participants must be between 2 and {max_n} "
                f"({available} signers configured, limit {limits.max_participants})"
            )
        max_t = min(participants, limits.max_threshold)
        if not limits.min_threshold <= threshold <= max_t:
            raise BadRequestError(f"threshold must be between {limits.min_threshold} and {max_t}")
        if label is not None and (
            not isinstance(label, str) or len(label) > limits.max_label_length
        ):
            raise BadRequestError(
                f"label must be a string of at most {limits.max_label_length} characters"
            )

    def _placement(self, n: int) -> tuple[str, ...]:
        health = {h.signer_id: h.ok for h in self.pool.health(self.signer_timeout)}
        infos, _ = self.pool.infos(self.signer_timeout)
        with self.store.read() as conn:
            loads = share_counts(conn)
        candidates = [
            Candidate(
                signer_id=sid,
                provider=_provider_key(infos[sid]) if sid in infos else sid,
                healthy=health.get(sid, False) and sid in infos,
                load=loads.get(sid, 0),
            )
            for sid in self.pool.ids
        ]
        return place_shares(candidates, n)

    def _identity_record(
        self, tenant_id: str, label: str | None, result: KeygenResult
    ) -> IdentityRecord:
        now = self.now()
        return IdentityRecord(
            id=result.identity_id,
            tenant_id=tenant_id,
            label=label,
            group_pubkey=result.group_pubkey.hex(),
            group_pubkey_dealt=result.group_pubkey_dealt.hex(),
            threshold=result.threshold,
            participants=len(result.signer_ids),
            epoch=0,
            status="active",
            keygen_method="dealer",
            imported_from_software=False,
            created_at=now,
            updated_at=now,
            shares=tuple(
                ShareRecord(i, sid, result.pubshares[i].hex())
                for i, sid in enumerate(result.signer_ids)
            ),
            vss_commitments=tuple(c.hex() for c in result.vss_commitments),
            attestations=tuple(
                AttestationRecord(
                    i,
                    sid,
                    att.statement.decode("utf-8"),
                    att.signature.hex(),
                    att.public_key.hex(),
                )
                for i, (sid, att) in enumerate(
                    zip(result.signer_ids, result.attestations, strict=True)
                )
            ),
        )

    def _insert_created(
        self, conn: Any, principal: Principal, record: IdentityRecord, request_id: str
    ) -> None:
        from nostr_passport.store.tenants import ensure_tenant

        ensure_tenant(conn, record.tenant_id, record.tenant_id, record.created_at)
        infos, _ = self.pool.infos(self.signer_timeout)
        for share in record.shares:
            upsert_signer(conn, self.signer_record(infos[share.signer_id], record.created_at))
        insert_identity(conn, record)
        self.audit.append(
            conn,
            self.audit.entry(
                actor=principal.actor,
                tenant_id=record.tenant_id,
                action=access.IDENTITY_CREATE,
                outcome=OK,
                request_id=request_id,
                identity_id=record.id,
                details={
                    "pubkey": record.group_pubkey,
                    "signers": [s.signer_id for s in record.shares],
                },
            ),
        )

    def signer_record(self, info: SignerInfo, now: int) -> SignerRecord:
        endpoint = self.endpoints.get(info.signer_id, SignerEndpoint(kind="local"))
        return SignerRecord(
            id=info.signer_id,
            kind=endpoint.kind,
            url=endpoint.url,
            transport_public_key=info.transport_public_key.hex(),
            attestation_public_key=info.attestation_public_key.hex(),
            signer_public_key=endpoint.signer_public_key,
            provider_name=info.provider_name,
            provider_kind=info.provider_kind,
            vendor=info.vendor,
            model=info.model,
            serial=info.serial,
            simulated=info.simulated,
            supports_dkg=info.supports_dkg,
            registered_at=now,
            updated_at=now,
        )

    def register_signers(self) -> dict[str, str]:
        """Record every reachable signer's public info in the store; unreachable ones."""
        infos, failures = self.pool.infos(self.signer_timeout)
        now = self.now()

        def unit(conn: Any) -> None:
            for info in infos.values():
                upsert_signer(conn, self.signer_record(info, now))

        if infos:
            self.store.run_write(unit)
        return failures

    def list_identities(
        self, principal: Principal, *, limit: int = 100, after: str | None = None
    ) -> list[IdentityView]:
        self.authorize(principal, access.IDENTITY_LIST, "")
        if not 1 <= limit <= 1000:
            raise BadRequestError("limit must be between 1 and 1000")
        with self.store.read() as conn:
            records = list_identities(conn, principal.tenant_id, limit=limit, after=after)
        return [IdentityView.of(r) for r in access.visible_identities(principal, records)]

    def identity(self, principal: Principal, identity_id: str) -> IdentityView:
        self.authorize(principal, access.IDENTITY_READ, "", identity_id)
        return IdentityView.of(self._visible_identity(principal, identity_id))

    def set_status(
        self, principal: Principal, identity_id: str, status: IdentityStatus, request_id: str = ""
    ) -> IdentityView:
        request_id = request_id or new_request_id()
        method = access.IDENTITY_DISABLE if status == "disabled" else access.IDENTITY_ENABLE
        self.authorize(principal, method, request_id, identity_id)
        self._visible_identity(principal, identity_id)
        now = self.now()

        def unit(conn: Any) -> IdentityRecord:
            if not set_identity_status(conn, identity_id, status, now):
                raise NotFoundError(f"identity {identity_id} not found")
            self.audit.append(
                conn,
                self.audit.entry(
                    actor=principal.actor,
                    tenant_id=principal.tenant_id,
                    action=method,
                    outcome=OK,
                    request_id=request_id,
                    identity_id=identity_id,
                ),
            )
            record = identity_by_id(conn, identity_id)
            assert record is not None
            return record

        return IdentityView.of(self.store.run_write(unit))

    def delete_identity(
        self, principal: Principal, identity_id: str, *, force: bool = False, request_id: str = ""
    ) -> DeletionReport:
        """Delete the shares at every signer, then the identity (admin only).

        If a signer cannot confirm, the identity is disabled and kept (503) so the delete
        can be retried; `force` deletes the record anyway and audits where shares remain.
        """
        request_id = request_id or new_request_id()
        self.authorize(principal, access.IDENTITY_DELETE, request_id, identity_id)
        record = self._visible_identity(principal, identity_id)
        self.audit.record(
            self.audit.entry(
                actor=principal.actor,
                tenant_id=principal.tenant_id,
                action=access.IDENTITY_DELETE,
                outcome=ALLOWED,
                request_id=request_id,
                identity_id=identity_id,
                details={"force": force},
            )
        )
        holders = tuple(s.signer_id for s in record.shares if s.signer_id in self.pool)
        missing = tuple(s.signer_id for s in record.shares if s.signer_id not in self.pool)

        def delete(client: SignerClient) -> None:
            try:
                client.delete_share(identity_id)
            except NotFoundError:
                return  # already gone: what we wanted

        _, failures = self.pool.call_all({sid: delete for sid in holders}, self.signer_timeout)
        remaining = tuple(sorted((*failures, *missing)))
        if remaining and not force:
            now = self.now()
            self.store.run_write(
                lambda conn: set_identity_status(conn, identity_id, "disabled", now)
            )
            error = SignersUnavailableError(
                f"identity {identity_id} disabled but not deleted: shares could not be deleted at "
                + "; ".join(f"{sid}: {failures.get(sid, 'not configured')}" for sid in remaining)
                + " (retry, or delete with force=true)"
            )
            self._record_error(principal, access.IDENTITY_DELETE, request_id, identity_id, error)
            raise error

        def unit(conn: Any) -> None:
            delete_identity(conn, identity_id)
            self.audit.append(
                conn,
                self.audit.entry(
                    actor=principal.actor,
                    tenant_id=principal.tenant_id,
                    action=access.IDENTITY_DELETE,
                    outcome=OK,
                    request_id=request_id,
                    identity_id=identity_id,
                    details={"pubkey": record.group_pubkey, "shares_remaining_at": list(remaining)},
                ),
            )

        self.store.run_write(unit)
        self.keys.forget(identity_id)
        return DeletionReport(identity_id, True, remaining)

    # ================================================================ using identities

    def sign_events(
        self,
        principal: Principal,
        identity_id: str,
        templates: Sequence[Mapping[str, Any]],
        *,
        request_id: str = "",
    ) -> list[dict[str, Any]]:
        """Complete, signed NIP-01 events for `templates` (one signing round for all)."""
        request_id = request_id or new_request_id()
        self.authorize(principal, access.SIGN_EVENT, request_id, identity_id)
        if not templates:
            raise BadRequestError("no events to sign")
        if len(templates) > self.limits.max_batch_events:
            raise BadRequestError(f"at most {self.limits.max_batch_events} events per batch")
        record, keys = self._usable_identity(principal, identity_id)
        unsigned = prepare_events(templates, record.group_pubkey, self.now())
        with self._denials_audited(principal, access.SIGN_EVENT, request_id, identity_id):
            access.require_kinds(principal, [u.event.kind for u in unsigned])
        self.audit.record(
            self.audit.entry(
                actor=principal.actor,
                tenant_id=principal.tenant_id,
                action=access.SIGN_EVENT,
                outcome=ALLOWED,
                request_id=request_id,
                identity_id=identity_id,
                details={
                    "event_ids": [u.id.hex() for u in unsigned],
                    "kinds": [u.event.kind for u in unsigned],
                },
            )
        )
        try:
            outcome = self.coordinator.sign_events(
                keys, [u.event for u in unsigned], [u.id for u in unsigned], request_id
            )
        except PassportError as exc:
            self._record_error(principal, access.SIGN_EVENT, request_id, identity_id, exc)
            raise
        if outcome.faults:
            self._record_faults(principal, request_id, identity_id, outcome.faults)
        if self.record_sessions:
            self._record_session(record.id, request_id, "sign_event", outcome.signer_ids, unsigned)
        return [signed_event(u, sig) for u, sig in zip(unsigned, outcome.signatures, strict=True)]

    def _record_session(
        self,
        identity_id: str,
        request_id: str,
        operation: str,
        signer_ids: tuple[str, ...],
        unsigned: Sequence[UnsignedEvent],
    ) -> None:
        now = self.now()
        try:
            self.store.run_write(
                lambda conn: record_session(
                    conn,
                    session_id="ses_" + secrets.token_hex(8),
                    identity_id=identity_id,
                    request_id=request_id,
                    operation=operation,
                    signer_ids=signer_ids,
                    event_ids=tuple(u.id.hex() for u in unsigned),
                    outcome=OK,
                    now=now,
                )
            )
        except PassportError as exc:  # a convenience record: never fails the signature
            log.warning("signing session record failed: %s", exc.code)

    def _shared_x(
        self,
        principal: Principal,
        identity_id: str,
        method: str,
        peer_hex: object,
        request_id: str,
        details: dict[str, Any],
    ) -> bytes:
        self.authorize(principal, method, request_id, identity_id)
        peer = _hex_key(peer_hex, "pubkey")
        _, keys = self._usable_identity(principal, identity_id)
        self.audit.record(
            self.audit.entry(
                actor=principal.actor,
                tenant_id=principal.tenant_id,
                action=method,
                outcome=ALLOWED,
                request_id=request_id,
                identity_id=identity_id,
                details={"peer": peer.hex(), **details},
            )
        )
        try:
            outcome = self.coordinator.shared_x(keys, peer, request_id)
        except PassportError as exc:
            self._record_error(principal, method, request_id, identity_id, exc)
            raise
        if outcome.faults:
            self._record_faults(principal, request_id, identity_id, outcome.faults)
        return outcome.shared_x

    def nip44_encrypt(
        self,
        principal: Principal,
        identity_id: str,
        peer: object,
        plaintext: object,
        *,
        request_id: str = "",
    ) -> str:
        request_id = request_id or new_request_id()
        text = _plaintext(plaintext)
        shared = self._shared_x(principal, identity_id, access.NIP44_ENCRYPT, peer, request_id, {})
        return nip44.encrypt(text, nip44.conversation_key_from_shared_x(shared))

    def nip44_decrypt(
        self,
        principal: Principal,
        identity_id: str,
        peer: object,
        ciphertext: object,
        *,
        request_id: str = "",
    ) -> str:
        request_id = request_id or new_request_id()
        payload = _ciphertext(ciphertext)
        details = _ciphertext_details(payload)
        shared = self._shared_x(
            principal, identity_id, access.NIP44_DECRYPT, peer, request_id, details
        )
        return nip44.decrypt(payload, nip44.conversation_key_from_shared_x(shared))

    def nip04_encrypt(
        self,
        principal: Principal,
        identity_id: str,
        peer: object,
        plaintext: object,
        *,
        request_id: str = "",
    ) -> str:
        request_id = request_id or new_request_id()
        text = _plaintext(plaintext)
        shared = self._shared_x(principal, identity_id, access.NIP04_ENCRYPT, peer, request_id, {})
        return nip04.encrypt(text, shared)

    def nip04_decrypt(
        self,
        principal: Principal,
        identity_id: str,
        peer: object,
        ciphertext: object,
        *,
        request_id: str = "",
    ) -> str:
        request_id = request_id or new_request_id()
        payload = _ciphertext(ciphertext)
        details = _ciphertext_details(payload)
        shared = self._shared_x(
            principal, identity_id, access.NIP04_DECRYPT, peer, request_id, details
        )
        return nip04.decrypt(payload, shared)

    # ================================================================ tokens

    def create_token(
        self,
        principal: Principal,
        *,
        name: str,
        role: str,
        scopes: TokenScopes = UNRESTRICTED,
        expires_at: int | None = None,
        tenant: str | None = None,
        request_id: str = "",
    ) -> IssuedToken:
        request_id = request_id or new_request_id()
        tenant_id = tenant or principal.tenant_id
        checked_role = _role(role)
        self._check_scopes(scopes)
        with self._denials_audited(principal, access.TOKEN_CREATE, request_id):
            access.check_grantable(principal, checked_role, scopes, tenant_id)
        if not name or len(name) > 200:
            raise BadRequestError("name must be 1 to 200 characters")
        now = self.now()
        if expires_at is not None and expires_at <= now:
            raise BadRequestError("expires_at must be in the future")
        if scopes.identities is not None:
            with self.store.read() as conn:
                for identity_id in scopes.identities:
                    found = identity_by_id(conn, identity_id)
                    if found is None or found.tenant_id != tenant_id:
                        raise BadRequestError(f"scope names unknown identity {identity_id}")
        return self.store.run_write(
            lambda conn: issue_token(
                conn,
                self.audit,
                actor=principal.actor,
                tenant_id=tenant_id,
                name=name,
                role=checked_role,
                scopes=scopes,
                expires_at=expires_at,
                request_id=request_id,
                now=now,
            )
        )

    def _check_scopes(self, scopes: TokenScopes) -> None:
        if scopes.methods is not None:
            unknown = sorted(set(scopes.methods) - access.SCOPABLE_METHODS)
            if unknown:
                raise BadRequestError(f"unknown methods in scope: {', '.join(unknown)}")
        if scopes.kinds is not None and any(not 0 <= k <= MAX_KIND for k in scopes.kinds):
            raise BadRequestError(f"event kinds must be between 0 and {MAX_KIND}")

    def list_tokens(self, principal: Principal) -> list[TokenView]:
        self.authorize(principal, access.TOKEN_LIST, "")
        with self.store.read() as conn:
            return [TokenView.of(t) for t in list_tokens(conn, principal.tenant_id)]

    def revoke_token(
        self, principal: Principal, token_id: str, *, request_id: str = ""
    ) -> TokenView:
        request_id = request_id or new_request_id()
        self.authorize(principal, access.TOKEN_REVOKE, request_id)
        now = self.now()

        def unit(conn: Any) -> TokenView:
            found = token_by_id(conn, token_id)
            if found is None or found.tenant_id != principal.tenant_id:
                raise NotFoundError(f"token {token_id} not found")
            revoke_token(conn, token_id, now)
            self.audit.append(
                conn,
                self.audit.entry(
                    actor=principal.actor,
                    tenant_id=principal.tenant_id,
                    action=access.TOKEN_REVOKE,
                    outcome=OK,
                    request_id=request_id,
                    details={"token_id": token_id},
                ),
            )
            updated = token_by_id(conn, token_id)
            assert updated is not None
            return TokenView.of(updated)

        return self.store.run_write(unit)

    # ================================================================ health

    def readiness(self) -> Readiness:
        """Store reachable and enough healthy signers for every active identity's threshold."""
        store_ok = self.store.ping()
        required = 2
        if store_ok:
            try:
                with self.store.read() as conn:
                    required = max(required, max_active_threshold(conn) or 0)
            except PassportError:
                store_ok = False
        report = self.pool.health(self.signer_timeout)
        healthy = tuple(h.signer_id for h in report if h.ok)
        unhealthy = {h.signer_id: h.detail for h in report if not h.ok}
        return Readiness(
            ready=store_ok and len(healthy) >= required,
            store=store_ok,
            healthy_signers=healthy,
            unhealthy_signers=unhealthy,
            required_signers=required,
        )

    def close(self) -> None:
        self.pool.close()
        if self.audit_provider is not None:
            self.audit_provider.close()
        self.store.close()


def _provider_key(info: SignerInfo) -> str:
    """Signers whose keys live in the same HSM partition share this key."""
    return f"{info.provider_kind}:{info.vendor}:{info.model}:{info.serial}"


def _role(value: str) -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise BadRequestError(f"role must be one of {', '.join(ROLES)}")


def _plaintext(value: object) -> str:
    if not isinstance(value, str):
        raise BadRequestError("plaintext must be a string")
    if not value or len(value.encode("utf-8")) > MAX_PLAINTEXT_BYTES:
        raise BadRequestError(f"plaintext must be 1 to {MAX_PLAINTEXT_BYTES} bytes of UTF-8")
    return value


def _ciphertext_details(payload: str) -> dict[str, Any]:
    """What the audit log keeps of a decrypt request: a hash, never the payload."""
    return {"ciphertext_sha256": hashlib.sha256(payload.encode()).hexdigest()}


def _ciphertext(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestError("ciphertext must be a non-empty string")
    return value
