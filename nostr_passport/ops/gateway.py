"""The gateway's metrics: HTTP requests, the audit trail, signing per tenant, and the
values read at scrape time (signer health, store counts, nonce levels, cost).

`instrument(passport)` (called by create_app) returns the per-app `OpsMetrics` and puts
a `MeteredAuditLog` in place of the passport's audit log: the same log, counting its
failures and the events admitted for signing per tenant as it writes them. Signer calls
are measured by the pool itself (ops/signer_metrics.py). `scrape` renders everything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from nostr_passport.errors import AuditUnavailableError, PassportError
from nostr_passport.service.audit import ALLOWED, AuditLog
from nostr_passport.store.audit_log import AuditEntry, AuditRecord, audit_size
from nostr_passport.store.ceremony_tables import CEREMONY_STATUSES, ceremonies

from .cost import Pricing, cost_report
from .metrics import PREFIX, Registry, render
from .signer_metrics import UNKNOWN_KIND, provider_kind_of

if TYPE_CHECKING:
    from nostr_passport.service.passport import Passport

log = logging.getLogger(__name__)

SIGN_EVENT = "sign_event"  # access.SIGN_EVENT, the audit action of a signing request
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # 404s and anything no route took: never the raw path


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


class OpsMetrics:
    """Per-app families recorded as things happen (requests, audit)."""

    def __init__(self, pricing: Pricing | None = None) -> None:
        self.pricing = pricing or Pricing()
        self.registry = Registry()
        r = self.registry
        self.requests = r.counter(
            PREFIX + "http_requests_total",
            "HTTP requests by method, route template and status class.",
            ("method", "route", "status"),
        )
        self.request_latency = r.histogram(
            PREFIX + "http_request_duration_seconds",
            "HTTP request latency (first byte of the request to the end of the reply).",
            ("method", "route"),
        )
        self.audit_failures = r.counter(
            PREFIX + "audit_append_failures_total",
            "Audit records that could not be written. Fail closed: the operations they "
            "belonged to were refused (503 audit_unavailable) or, for best-effort "
            "records (denials, errors), the record is missing.",
        )
        self.sign_events = r.counter(
            PREFIX + "sign_events_total",
            "Events admitted for signing (audit 'allowed' records of sign_event), by tenant.",
            ("tenant",),
        )
        self.sign_failures = r.counter(
            PREFIX + "sign_failures_total",
            "Signing requests that failed after admission (audit 'error' records), by tenant.",
            ("tenant",),
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else "other"
        self.requests.inc((method, route, status_class(status)))
        self.request_latency.observe((method, route), seconds)


class MeteredAuditLog(AuditLog):
    """The passport's AuditLog, counting failures and signing admissions per tenant."""

    metrics: OpsMetrics

    @classmethod
    def of(cls, audit: AuditLog, metrics: OpsMetrics) -> MeteredAuditLog:
        metered = cls.__new__(cls)
        vars(metered).update(vars(audit))  # the same store and clock
        metered.metrics = metrics
        return metered

    def append(self, conn: Any, entry: AuditEntry) -> AuditRecord:
        try:
            return super().append(conn, entry)
        except AuditUnavailableError as exc:
            exc.counted = True  # type: ignore[attr-defined]
            self.metrics.audit_failures.inc()
            raise

    def record(self, entry: AuditEntry) -> AuditRecord:
        try:
            written = super().record(entry)
        except AuditUnavailableError as exc:
            if not getattr(exc, "counted", False):  # not already counted by append
                self.metrics.audit_failures.inc()
            raise
        if entry.action == SIGN_EVENT:
            tenant = entry.tenant_id or ""
            if entry.outcome == ALLOWED:
                events = entry.details.get("event_ids", ())
                self.metrics.sign_events.inc((tenant,), len(events) if events else 1)
            elif entry.outcome == "error":
                self.metrics.sign_failures.inc((tenant,))
        return written


def instrument(passport: Passport | None, pricing: Pricing | None = None) -> OpsMetrics:
    """The app's OpsMetrics; the passport's audit log metered (once per passport)."""
    if passport is not None and isinstance(passport.audit, MeteredAuditLog):
        metrics = passport.audit.metrics
        if pricing is not None:
            metrics.pricing = pricing
        return metrics
    metrics = OpsMetrics(pricing)
    if passport is not None:
        passport.audit = MeteredAuditLog.of(passport.audit, metrics)
    return metrics


# ---------------------------------------------------------------- scrape time


def _safely(what: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (PassportError, SQLAlchemyError, OSError) as exc:
        log.warning("metrics: %s unavailable: %s", what, type(exc).__name__)
        return None


def _signer_kinds(passport: Passport) -> dict[str, str]:
    """Every configured signer -> provider kind (cached SignerInfo; unknown otherwise)."""
    infos, _ = passport.pool.infos(passport.signer_timeout)
    return {
        sid: provider_kind_of(infos[sid]) if sid in infos else UNKNOWN_KIND
        for sid in passport.pool.ids
    }


def report(passport: Passport, metrics: OpsMetrics) -> dict[str, Any]:
    """The cost report over this process's lifetime (GET /v1/ops/cost)."""
    from .cost import OperationCount

    signer_metrics = passport.pool.metrics
    operations = [
        OperationCount(signer, kind, operation, count)
        for (signer, kind, operation), count in signer_metrics.operations.values().items()
    ]
    return cost_report(
        metrics.pricing,
        operations,
        _signer_kinds(passport),
        time.monotonic() - signer_metrics.started,
        signer_metrics.started_wall,
    )


def _store_metrics(passport: Passport, registry: Registry) -> bool:
    audit_records = registry.counter(
        PREFIX + "audit_records_total",
        "Records in the audit log (the whole installation: every gateway appends to it).",
    )
    by_status = registry.gauge(
        PREFIX + "ceremonies",
        "Ceremonies (multi-approval operations) by status, every tenant.",
        ("status",),
    )

    def read() -> tuple[int, dict[str, int]]:
        with passport.store.read() as conn:
            size = audit_size(conn)
            rows = conn.execute(
                select(ceremonies.c.status, func.count()).group_by(ceremonies.c.status)
            ).all()
        return size, {str(status): int(count) for status, count in rows}

    result = _safely("store counts", read)
    if result is None:
        return False
    size, counts = result
    audit_records.inc((), size)
    for status in CEREMONY_STATUSES:
        by_status.set((status,), counts.get(status, 0))
    return True


def _nonce_levels(passport: Passport, registry: Registry) -> None:
    cached = registry.gauge(
        PREFIX + "commitments_cached",
        "Nonce commitments the gateway holds per signer (used before asking the signer).",
        ("signer",),
    )
    fresh = registry.gauge(
        PREFIX + "signer_nonces_fresh",
        "Preprocessed nonces not yet handed out, per in-process signer (HTTP signers "
        "report theirs on their own host).",
        ("signer",),
    )
    commitments = passport.coordinator.commitments
    for sid in passport.pool.ids:
        cached.set((sid,), commitments.size(sid))
        pool = getattr(passport.pool.client(sid), "nonce_pool", None)
        stats = getattr(pool, "stats", None)
        if callable(stats):
            value = _safely("nonce pool", stats)
            if value is not None:
                fresh.set((sid,), value.fresh)


def scrape(passport: Passport, metrics: OpsMetrics) -> str:
    """The /metrics text: recorded families plus values read now."""
    now = Registry()
    readiness = passport.readiness()  # probes every signer now (in parallel)
    kinds = _signer_kinds(passport)
    up = now.gauge(
        PREFIX + "signer_up",
        "1 if the signer answered its health probe at this scrape, else 0.",
        ("signer", "provider_kind"),
    )
    healthy = set(readiness.healthy_signers)
    for sid in passport.pool.ids:
        up.set((sid, kinds[sid]), 1 if sid in healthy else 0)
    now.gauge(PREFIX + "signers_configured", "Signers configured.").set((), len(kinds))
    now.gauge(PREFIX + "signers_healthy", "Signers healthy at this scrape.").set(
        (), len(readiness.healthy_signers)
    )
    now.gauge(
        PREFIX + "required_signers",
        "Healthy signers needed: the largest threshold of any active identity (at least 2).",
    ).set((), readiness.required_signers)
    now.gauge(PREFIX + "ready", "1 if /readyz would answer ready.").set(
        (), 1 if readiness.ready else 0
    )
    store_ok = readiness.store and _store_metrics(passport, now)
    now.gauge(PREFIX + "store_up", "1 if the database answered at this scrape.").set(
        (), 1 if store_ok else 0
    )
    _nonce_levels(passport, now)
    cost = report(passport, metrics)
    total = now.counter(
        PREFIX + "cost_usd_total",
        "Estimated HSM cost since this process started, by provider kind (list prices, "
        "see GET /v1/ops/cost and docs/operations.md).",
        ("provider_kind",),
    )
    per_op = now.gauge(
        PREFIX + "cost_per_operation_usd",
        "Estimated cost per billable signer operation since start, by provider kind.",
        ("provider_kind",),
    )
    for entry in cost["providers"]:
        total.inc((entry["provider_kind"],), entry["total_usd"])
        if entry["usd_per_operation"] is not None:
            per_op.set((entry["provider_kind"],), entry["usd_per_operation"])
    now.gauge(PREFIX + "process_start_time_seconds", "Unix time this process started.").set(
        (), passport.pool.metrics.started_wall
    )
    return render((passport.pool.metrics.registry, metrics.registry, now))
