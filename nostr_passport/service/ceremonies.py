"""Ceremonies: sensitive operations run only after M distinct admins of a tenant approve.

The model (docs/ceremonies.md has the long form):
- an admin proposes {operation, params}; params are public (checked for secrets) and
  hashed; the proposal is the proposer's first approval;
- other admins of the same tenant approve, each with their own token; one token counts
  once; when approvals reach `required` the ceremony is `approved`;
- any admin of the tenant may reject an open ceremony (a veto: final);
- an admin executes an approved ceremony: the quorum is counted again (approvals of tokens
  revoked or expired since no longer count), the ceremony is claimed (`executing`) by a
  conditional update so it runs once, then the registered executor runs; success is
  `executed`, a failure returns it to `approved` so it can be retried until it expires;
- open ceremonies expire at `expires_at` (policy TTL per operation, injectable clock); an
  expired ceremony can be neither approved nor executed.

`required` is fixed at proposal: the policy's M for the operation, capped by the number N
of active admin tokens of the tenant (the bootstrap rule: a single-admin install needs
one approval, the proposer's, but still goes through a ceremony and the audit log).

Every step is audited (ceremony.propose/approve/reject/expire/execute), in the same
transaction as the change it records; refusals of an authenticated caller as `denied`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from nostr_passport.config import CeremoniesSettings
from nostr_passport.errors import (
    BadRequestError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
)
from nostr_passport.store.canonical import canonical_json_bytes
from nostr_passport.store.ceremony_tables import (
    OPEN_STATUSES,
    ApprovalRecord,
    CeremonyRecord,
    CeremonyStatus,
    add_approval,
    ceremony_by_id,
    due_ceremony_ids,
    insert_ceremony,
    list_ceremonies,
    transition,
)
from nostr_passport.store.tables import api_tokens
from nostr_passport.store.tokens import token_by_id

from . import access
from .access import Principal
from .audit import ALLOWED, DENIED, ERROR, OK
from .ceremony_errors import (
    CeremonyClosedError,
    CeremonyExpiredError,
    CeremonyRequiredError,
    ParamsMismatchError,
    QuorumNotReachedError,
)
from .ceremony_executors import register_builtin_executors
from .ceremony_registry import (
    MATERIAL_HASH_PARAM,
    REGISTRY,
    CeremonyRegistry,
    Execution,
    ExecutionResult,
    OperationSpec,
    checked_params,
    material_digest,
    refuse_secrets,
)
from .lifecycle_executors import register_lifecycle_executors
from .passport import Passport, new_request_id

PROPOSE = "ceremony.propose"
APPROVE = "ceremony.approve"
REJECT = "ceremony.reject"
EXPIRE = "ceremony.expire"
EXECUTE = "ceremony.execute"
READ = "ceremony.read"
# The actor of records nobody asked for (expiry happens because time passed).
CLOCK_ACTOR = "ceremony-clock"
MAX_REASON = 500

DAY = 24 * 3600


@dataclass(frozen=True)
class CeremonyPolicy:
    """How many approvals each operation needs and how long a ceremony stays open."""

    default_required: int = 2
    required: Mapping[str, int] = field(default_factory=dict)
    default_ttl_seconds: int = DAY
    ttl_seconds: Mapping[str, int] = field(default_factory=dict)
    min_ttl_seconds: int = 60

    def required_for(self, operation: str, active_admins: int) -> int:
        """M for `operation`, capped by the tenant's N active admins (never below 1)."""
        wanted = self.required.get(operation, self.default_required)
        return max(1, min(wanted, active_admins))

    def ttl_for(self, operation: str) -> int:
        return self.ttl_seconds.get(operation, self.default_ttl_seconds)

    @classmethod
    def of(cls, settings: CeremoniesSettings) -> CeremonyPolicy:
        """The policy the config's [ceremonies] section asks for."""
        return cls(
            default_required=settings.default_required,
            required=dict(settings.required),
            default_ttl_seconds=settings.ttl_seconds,
            ttl_seconds=dict(settings.ttl),
        )


@dataclass(frozen=True)
class ApprovalView:
    approver: str  # token id
    approved_at: int
    counts: bool  # False when the token was revoked, expired or lost admin since


@dataclass(frozen=True)
class CeremonyView:
    id: str
    tenant: str
    operation: str
    params: dict[str, Any]
    params_hash: str
    required: int
    approvals: tuple[ApprovalView, ...]
    status: CeremonyStatus
    proposed_by: str
    created_at: int
    expires_at: int
    decided_at: int | None
    decided_by: str | None
    result: dict[str, Any] | None

    @property
    def approval_count(self) -> int:
        return sum(1 for a in self.approvals if a.counts)


@dataclass(frozen=True)
class ExecutionOutcome:
    ceremony: CeremonyView
    result: ExecutionResult

    def __repr__(self) -> str:
        return f"ExecutionOutcome(ceremony={self.ceremony.id}, result={self.result!r})"


def params_hash(params: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the params: what approvers can pin."""
    return hashlib.sha256(canonical_json_bytes(dict(params))).hexdigest()


def new_ceremony_id() -> str:
    return "cer_" + secrets.token_hex(10)


class Ceremonies:
    def __init__(
        self,
        passport: Passport,
        *,
        policy: CeremonyPolicy | None = None,
        registry: CeremonyRegistry | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.passport = passport
        self.store = passport.store
        self.audit = passport.audit
        self.policy = policy or CeremonyPolicy()
        if registry is None:
            register_builtin_executors(REGISTRY)
            register_lifecycle_executors(REGISTRY)
            registry = REGISTRY
        self.registry = registry
        self._clock = clock

    def now(self) -> int:
        return int(self._clock()) if self._clock is not None else self.passport.now()

    # ================================================================ access

    @contextmanager
    def _denials_audited(
        self, principal: Principal, action: str, request_id: str, ceremony_id: str | None
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
                    details={"ceremony_id": ceremony_id, "reason": str(exc)},
                )
            )
            raise

    def _require_admin(
        self, principal: Principal, action: str, request_id: str, ceremony_id: str | None = None
    ) -> None:
        """Only unrestricted admins take part: a method-scoped token was meant for less."""
        with self._denials_audited(principal, action, request_id, ceremony_id):
            if principal.role != "admin":
                raise PermissionDeniedError(f"role {principal.role} may not {action}")
            if principal.scopes.methods is not None:
                raise PermissionDeniedError(f"a method-scoped token may not {action}")

    def _require_reader(self, principal: Principal) -> None:
        if principal.role not in ("admin", "auditor"):
            raise PermissionDeniedError(f"role {principal.role} may not {READ}")

    def _require_identity_scope(
        self,
        principal: Principal,
        spec: OperationSpec,
        params: Mapping[str, Any],
        action: str,
        request_id: str,
    ) -> None:
        if spec.identity_param is None:
            return
        identity_id = params.get(spec.identity_param)
        if isinstance(identity_id, str):
            with self._denials_audited(principal, action, request_id, None):
                access.require_identity_scope(principal, identity_id)

    def _visible(self, conn: Connection, principal: Principal, ceremony_id: str) -> CeremonyRecord:
        """The ceremony if it is the caller's tenant's; 404 otherwise (no probing)."""
        record = ceremony_by_id(conn, ceremony_id)
        if record is None or record.tenant_id != principal.tenant_id:
            raise NotFoundError(f"ceremony {ceremony_id} not found")
        return record

    # ================================================================ counting

    def _active_admins(self, conn: Connection, tenant_id: str, now: int) -> int:
        count = conn.execute(
            select(func.count())
            .select_from(api_tokens)
            .where(
                api_tokens.c.tenant_id == tenant_id,
                api_tokens.c.role == "admin",
                api_tokens.c.revoked_at.is_(None),
                or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            )
        ).scalar_one()
        return int(count)

    def _counts(self, conn: Connection, tenant_id: str, approver: str, now: int) -> bool:
        """Whether an approval by `approver` counts now: a live admin token of the tenant."""
        token = token_by_id(conn, approver)
        return (
            token is not None
            and token.tenant_id == tenant_id
            and token.role == "admin"
            and token.revoked_at is None
            and (token.expires_at is None or token.expires_at > now)
        )

    def _view(self, conn: Connection, record: CeremonyRecord, now: int) -> CeremonyView:
        approvals = tuple(
            ApprovalView(
                a.approver, a.approved_at, self._counts(conn, record.tenant_id, a.approver, now)
            )
            for a in record.approvals
        )
        status = record.status
        if status in OPEN_STATUSES:
            # Shown as counted now: two concurrent approvals may each have seen only its
            # own row, and an approval stops counting when its token is revoked.
            counted = sum(1 for a in approvals if a.counts)
            status = "approved" if counted >= record.required else "pending"
            if now >= record.expires_at:
                status = "expired"  # not yet written down; the next write will
        return CeremonyView(
            id=record.id,
            tenant=record.tenant_id,
            operation=record.operation,
            params=record.params,
            params_hash=record.params_hash,
            required=record.required,
            approvals=approvals,
            status=status,
            proposed_by=record.proposed_by,
            created_at=record.created_at,
            expires_at=record.expires_at,
            decided_at=record.decided_at,
            decided_by=record.decided_by,
            result=record.result,
        )

    def _details(self, view: CeremonyView, **extra: Any) -> dict[str, Any]:
        return {
            "ceremony_id": view.id,
            "operation": view.operation,
            "params_hash": view.params_hash,
            "approvals": view.approval_count,
            "required": view.required,
            "status": view.status,
            **extra,
        }

    def _identity_of(self, view: CeremonyView) -> str | None:
        try:
            spec = self.registry.spec(view.operation)
        except BadRequestError:
            return None
        if spec.identity_param is None:
            return None
        value = view.params.get(spec.identity_param)
        return value if isinstance(value, str) else None

    def _append(
        self,
        conn: Connection,
        actor: str,
        view: CeremonyView,
        action: str,
        outcome: str,
        request_id: str,
        **extra: Any,
    ) -> None:
        self.audit.append(
            conn,
            self.audit.entry(
                actor=actor,
                tenant_id=view.tenant,
                action=action,
                outcome=outcome,
                request_id=request_id,
                identity_id=self._identity_of(view),
                details=self._details(view, **extra),
            ),
        )

    # ================================================================ expiry

    def _expired_if_due(
        self, conn: Connection, record: CeremonyRecord, now: int, request_id: str
    ) -> CeremonyRecord:
        """The record, marked expired (and audited) first when its time is up."""
        if record.status not in OPEN_STATUSES or now < record.expires_at:
            return record
        if transition(
            conn, record.id, OPEN_STATUSES, "expired", decided_at=now, decided_by=CLOCK_ACTOR
        ):
            updated = ceremony_by_id(conn, record.id)
            assert updated is not None
            self._append(conn, CLOCK_ACTOR, self._view(conn, updated, now), EXPIRE, OK, request_id)
            return updated
        reread = ceremony_by_id(conn, record.id)
        assert reread is not None
        return reread

    def expire_due(self, tenant_id: str, *, request_id: str = "") -> list[str]:
        """Mark every due open ceremony of the tenant expired; their ids."""
        request_id = request_id or new_request_id()
        now = self.now()

        def unit(conn: Connection) -> list[str]:
            expired = []
            for ceremony_id in due_ceremony_ids(conn, tenant_id, now):
                record = ceremony_by_id(conn, ceremony_id)
                if record is not None:
                    if self._expired_if_due(conn, record, now, request_id).status == "expired":
                        expired.append(ceremony_id)
            return expired

        return self.store.run_write(unit)

    # ================================================================ direct calls

    def require_ceremony(self, principal: Principal, operation: str) -> None:
        """403 ceremony_required when `operation` asked for directly needs M > 1 approvals.

        For the routes that can do a sensitive thing directly (DELETE /v1/identities/{id},
        POST /v1/tokens with role admin): with one admin (the bootstrap rule) the direct
        call stays allowed, from two admins on it must go through a ceremony. Executors
        call the Passport, not the routes, so they are not affected.
        """
        now = self.now()
        with self.store.read() as conn:
            admins = self._active_admins(conn, principal.tenant_id, now)
        required = self.policy.required_for(operation, admins)
        if required > 1:
            error = CeremonyRequiredError(
                f"{operation} needs {required} admin approvals: propose it with "
                f'POST /v1/ceremonies {{"operation": "{operation}", ...}}'
            )
            self.audit.try_record(
                self.audit.entry(
                    actor=principal.actor,
                    tenant_id=principal.tenant_id,
                    action=operation,
                    outcome=DENIED,
                    request_id=new_request_id(),
                    details={"reason": str(error)},
                )
            )
            raise error

    # ================================================================ propose

    def propose(
        self,
        principal: Principal,
        operation: str,
        params: object,
        *,
        ttl_seconds: int | None = None,
        request_id: str = "",
    ) -> CeremonyView:
        """A new ceremony, with the proposer's approval already counted."""
        request_id = request_id or new_request_id()
        self._require_admin(principal, PROPOSE, request_id)
        if not isinstance(operation, str):
            raise BadRequestError("operation must be a string")
        spec = self.registry.spec(operation)
        public = checked_params(spec, params)
        self._require_identity_scope(principal, spec, public, PROPOSE, request_id)
        if spec.identity_param is not None:
            self._check_identity(principal, public.get(spec.identity_param))
        ttl = self._ttl(operation, ttl_seconds)
        now = self.now()

        def unit(conn: Connection) -> CeremonyView:
            admins = self._active_admins(conn, principal.tenant_id, now)
            required = self.policy.required_for(operation, admins)
            record = CeremonyRecord(
                id=new_ceremony_id(),
                tenant_id=principal.tenant_id,
                operation=operation,
                params=public,
                params_hash=params_hash(public),
                required=required,
                status="approved" if required <= 1 else "pending",
                proposed_by=principal.actor,
                created_at=now,
                expires_at=now + ttl,
                decided_at=None,
                decided_by=None,
                result=None,
                approvals=(ApprovalRecord(principal.actor, now),),
            )
            insert_ceremony(conn, record)
            view = self._view(conn, record, now)
            self._append(
                conn,
                principal.actor,
                view,
                PROPOSE,
                OK,
                request_id,
                params=public,
                expires_at=record.expires_at,
                active_admins=admins,
            )
            return view

        return self.store.run_write(unit)

    def _ttl(self, operation: str, requested: int | None) -> int:
        limit = self.policy.ttl_for(operation)
        if requested is None:
            return limit
        if isinstance(requested, bool) or not isinstance(requested, int):
            raise BadRequestError("ttl_seconds must be an integer")
        if not self.policy.min_ttl_seconds <= requested <= limit:
            raise BadRequestError(
                f"ttl_seconds must be between {self.policy.min_ttl_seconds} and {limit}"
            )
        return requested

    def _check_identity(self, principal: Principal, identity_id: object) -> None:
        if not isinstance(identity_id, str):
            raise BadRequestError("params must name an identity id")
        self.passport.identity(principal, identity_id)  # 404 unless visible to the proposer

    # ================================================================ read

    def visible(self, principal: Principal, *, status: str | None = None) -> list[CeremonyView]:
        """The tenant's ceremonies (admins and auditors), due ones marked expired first."""
        self._require_reader(principal)
        if status is not None and status not in (
            "pending",
            "approved",
            "executing",
            "executed",
            "expired",
            "rejected",
        ):
            raise BadRequestError(f"unknown status {status!r}")
        self.expire_due(principal.tenant_id)
        now = self.now()
        with self.store.read() as conn:
            records = list_ceremonies(conn, principal.tenant_id)
            views = [self._view(conn, r, now) for r in records]
        return [v for v in views if status is None or v.status == status]

    def ceremony(self, principal: Principal, ceremony_id: str) -> CeremonyView:
        self._require_reader(principal)
        now = self.now()
        with self.store.read() as conn:
            return self._view(conn, self._visible(conn, principal, ceremony_id), now)

    # ================================================================ approve / reject

    def approve(
        self,
        principal: Principal,
        ceremony_id: str,
        *,
        expected_params_hash: str | None = None,
        request_id: str = "",
    ) -> CeremonyView:
        """Count the caller's approval (once per token); `approved` when the quorum is met.

        `expected_params_hash` lets an approver pin what they reviewed: a ceremony whose
        params hash differs is refused (409) instead of approved.
        """
        request_id = request_id or new_request_id()
        self._require_admin(principal, APPROVE, request_id, ceremony_id)
        now = self.now()

        def unit(conn: Connection) -> tuple[CeremonyView, bool]:
            record = self._visible(conn, principal, ceremony_id)
            record = self._expired_if_due(conn, record, now, request_id)
            if record.status not in OPEN_STATUSES:
                return self._view(conn, record, now), False
            if expected_params_hash is not None and expected_params_hash != record.params_hash:
                raise ParamsMismatchError(
                    f"ceremony {ceremony_id} has params hash {record.params_hash}, "
                    f"not {expected_params_hash}: review it again"
                )
            added = add_approval(conn, ceremony_id, principal.actor, now)
            view = self._view(conn, _reloaded(conn, ceremony_id), now)
            if view.status == "approved":
                transition(conn, ceremony_id, ("pending",), "approved")
            self._append(conn, principal.actor, view, APPROVE, OK, request_id, counted=added)
            return view, True

        spec = self._spec_or_none(ceremony_id, principal)
        if spec is not None:
            with self.store.read() as conn:
                params = self._visible(conn, principal, ceremony_id).params
            self._require_identity_scope(principal, spec, params, APPROVE, request_id)
        view, open_ = self.store.run_write(unit)
        if not open_:
            raise _closed(view)
        return view

    def _spec_or_none(self, ceremony_id: str, principal: Principal) -> OperationSpec | None:
        with self.store.read() as conn:
            record = self._visible(conn, principal, ceremony_id)
        try:
            return self.registry.spec(record.operation)
        except BadRequestError:
            return None

    def reject(
        self,
        principal: Principal,
        ceremony_id: str,
        *,
        reason: str | None = None,
        request_id: str = "",
    ) -> CeremonyView:
        """Veto an open ceremony (any admin of the tenant, the proposer included): final."""
        request_id = request_id or new_request_id()
        self._require_admin(principal, REJECT, request_id, ceremony_id)
        if reason is not None:
            if not isinstance(reason, str) or len(reason) > MAX_REASON:
                raise BadRequestError(f"reason must be a string of at most {MAX_REASON} chars")
            refuse_secrets(reason, "reason")
        now = self.now()

        def unit(conn: Connection) -> tuple[CeremonyView, bool]:
            record = self._visible(conn, principal, ceremony_id)
            record = self._expired_if_due(conn, record, now, request_id)
            if not transition(
                conn,
                ceremony_id,
                OPEN_STATUSES,
                "rejected",
                decided_at=now,
                decided_by=principal.actor,
            ):
                return self._view(conn, _reloaded(conn, ceremony_id), now), False
            view = self._view(conn, _reloaded(conn, ceremony_id), now)
            self._append(conn, principal.actor, view, REJECT, OK, request_id, reason=reason)
            return view, True

        view, rejected = self.store.run_write(unit)
        if not rejected:
            raise _closed(view)
        return view

    # ================================================================ execute

    def execute(
        self,
        principal: Principal,
        ceremony_id: str,
        *,
        material: bytes | None = None,
        request_id: str = "",
    ) -> ExecutionOutcome:
        """Run the operation once, if the quorum (counted now) is reached."""
        request_id = request_id or new_request_id()
        self._require_admin(principal, EXECUTE, request_id, ceremony_id)
        now = self.now()
        with self.store.read() as conn:
            record = self._visible(conn, principal, ceremony_id)
        spec = self.registry.spec(record.operation)
        self._check_material(spec, record, material)
        self._require_identity_scope(principal, spec, record.params, EXECUTE, request_id)

        def claim(conn: Connection) -> tuple[CeremonyView, str | None]:
            current = self._expired_if_due(
                conn, self._visible(conn, principal, ceremony_id), now, request_id
            )
            view = self._view(conn, current, now)
            if current.status not in OPEN_STATUSES:
                return view, "closed"
            if view.approval_count < view.required:
                return view, "quorum"
            if not transition(conn, ceremony_id, OPEN_STATUSES, "executing"):
                raise CeremonyClosedError(f"ceremony {ceremony_id} changed meanwhile; retry")
            view = self._view(conn, _reloaded(conn, ceremony_id), now)
            self._append(conn, principal.actor, view, EXECUTE, ALLOWED, request_id)
            return view, None

        view, refusal = self.store.run_write(claim)
        if refusal == "closed":
            raise _closed(view)
        if refusal == "quorum":
            error = QuorumNotReachedError(
                f"ceremony {ceremony_id} has {view.approval_count} of {view.required} required "
                f"approvals from distinct admins; it does not run until the quorum is reached"
            )
            self.audit.try_record(
                self.audit.entry(
                    actor=principal.actor,
                    tenant_id=view.tenant,
                    action=EXECUTE,
                    outcome=DENIED,
                    request_id=request_id,
                    identity_id=self._identity_of(view),
                    details=self._details(view, reason=str(error)),
                )
            )
            raise error
        return self._run(principal, spec, view, material, request_id)

    def _check_material(
        self, spec: OperationSpec, record: CeremonyRecord, material: bytes | None
    ) -> None:
        if not spec.needs_material:
            if material is not None:
                raise BadRequestError(f"{spec.name} takes no material")
            return
        if material is None:
            raise BadRequestError(f"{spec.name} needs the material whose hash was approved")
        if material_digest(material) != record.params.get(MATERIAL_HASH_PARAM):
            raise ParamsMismatchError(
                f"the material presented does not match the approved {MATERIAL_HASH_PARAM}"
            )

    def _run(
        self,
        principal: Principal,
        spec: OperationSpec,
        view: CeremonyView,
        material: bytes | None,
        request_id: str,
    ) -> ExecutionOutcome:
        execution = Execution(
            passport=self.passport,
            principal=principal,
            ceremony_id=view.id,
            tenant_id=view.tenant,
            params=view.params,
            material=material,
            request_id=request_id,
        )
        try:
            result = spec.executor(execution)
        except Exception as exc:
            self._release(principal, view, request_id, exc)
            raise
        now = self.now()

        def finish(conn: Connection) -> CeremonyView:
            transition(
                conn,
                view.id,
                ("executing",),
                "executed",
                decided_at=now,
                decided_by=principal.actor,
                result=result.public,
            )
            done = self._view(conn, _reloaded(conn, view.id), now)
            self._append(conn, principal.actor, done, EXECUTE, OK, request_id, result=result.public)
            return done

        return ExecutionOutcome(self.store.run_write(finish), result)

    def _release(
        self, principal: Principal, view: CeremonyView, request_id: str, exc: Exception
    ) -> None:
        """After a failed executor: back to `approved` (retry until expiry), audited."""
        code = exc.code if isinstance(exc, PassportError) else "internal_error"
        reason = str(exc)[:MAX_REASON] if isinstance(exc, PassportError) else type(exc).__name__

        def unit(conn: Connection) -> None:
            transition(conn, view.id, ("executing",), "approved")
            self._append(
                conn, principal.actor, view, EXECUTE, ERROR, request_id, error=code, reason=reason
            )

        try:
            self.store.run_write(unit)
        except PassportError:
            # The original failure matters more; the ceremony stays `executing` (docs say so).
            pass


def _reloaded(conn: Connection, ceremony_id: str) -> CeremonyRecord:
    record = ceremony_by_id(conn, ceremony_id)
    assert record is not None
    return record


def _closed(view: CeremonyView) -> PassportError:
    if view.status == "expired":
        return CeremonyExpiredError(
            f"ceremony {view.id} expired at {view.expires_at}; propose it again"
        )
    reason = {
        "executed": "was already executed",
        "executing": "is being executed",
        "rejected": "was rejected",
    }.get(view.status, f"is {view.status}")
    return CeremonyClosedError(f"ceremony {view.id} {reason}")
