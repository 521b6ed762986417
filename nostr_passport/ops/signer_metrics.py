"""Signer call metrics: every call the gateway makes to a signer, timed, at one place.

`SignerPool` wraps each client it is given in `InstrumentedSigner` (the one hook), so
calls through `call_all`, `submit` and `client(...)` are all measured, whatever the
caller (coordinator, keygen, lifecycle). With coalescing on, the wrapper sits outside
the CoalescingSigner: a partial_sign latency includes the wait for the batch, which is
what a request experiences.

Labels: signer id (configured, public), provider kind (see `provider_kind_of`), the
protocol operation name and, for errors, a short error kind. Arguments and results are
never looked at, except the number of requests in a partial_sign batch (for the
operation count the cost estimate uses) and SignerInfo (public) to learn the kind.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from nostr_passport.errors import PassportError
from nostr_passport.signer.protocol import SignerInfo

from .metrics import PREFIX, Registry

# The signer protocol's operations (SignerClient, LifecycleSigner, DkgSigner). Any other
# attribute (close, nonce_pool, batches...) passes through untimed.
OPERATIONS = frozenset(
    {
        "info",
        "health",
        "deal_identity",
        "receive_share",
        "commitments",
        "partial_sign",
        "ecdh_share",
        "attest",
        "held_share",
        "export_share",
        "delete_share",
        "refresh_deal",
        "refresh_receive",
        "reshape_deal",
        "reshape_receive",
        "rotate_kek",
        "dkg_host_pubkey",
        "dkg_step1",
        "dkg_step2",
        "dkg_finalize",
    }
)
# Calls that are not counted as HSM operations for the cost estimate (probes, cached
# public data).
UNBILLED = frozenset({"info", "health", "dkg_host_pubkey"})
UNKNOWN_KIND = "unknown"

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

# PKCS#11 token manufacturer ids (lowercase substrings) -> the profile names of
# nostr_passport/hsm/profiles.py, which are also the pricing table's keys (ops/cost.py).
_VENDORS = (
    ("softhsm", "softhsm2"),
    ("marvell", "aws-cloudhsm"),
    ("cavium", "aws-cloudhsm"),
    ("safenet", "luna"),
    ("thales", "luna"),
    ("google", "gcp-kmsp11"),
)


def provider_kind_of(info: SignerInfo) -> str:
    """simulator, softhsm2, aws-cloudhsm, luna, gcp-kmsp11, or pkcs11 (vendor unknown)."""
    if info.provider_kind != "pkcs11":
        return info.provider_kind or UNKNOWN_KIND
    vendor = info.vendor.lower()
    for needle, kind in _VENDORS:
        if needle in vendor:
            return kind
    return "pkcs11"


def error_kind(exc: BaseException) -> str:
    """A bounded, secret-free name for a failure: timeout, connection, our error code."""
    if isinstance(exc, FutureTimeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError):
        return "connection"
    if isinstance(exc, PassportError):
        code = str(getattr(exc, "code", ""))
        return code if _CODE.match(code) else "passport_error"
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout"
    if "Connect" in name or "Transport" in name or "Network" in name:
        return "connection"
    return "other"


class SignerMetrics:
    """The signer-side families, one set per SignerPool."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.started = time.monotonic()
        self.started_wall = time.time()
        r = self.registry
        self.latency = r.histogram(
            PREFIX + "signer_call_duration_seconds",
            "Signer call latency as the gateway sees it, by signer, provider kind, operation.",
            ("signer", "provider_kind", "operation"),
        )
        self.errors = r.counter(
            PREFIX + "signer_call_errors_total",
            "Signer calls that raised, by signer, provider kind, operation and error kind.",
            ("signer", "provider_kind", "operation", "error"),
        )
        self.operations = r.counter(
            PREFIX + "signer_operations_total",
            "Successful billable signer operations (one per call; one per event for "
            "partial_sign), by signer, provider kind, operation. The cost estimate uses it.",
            ("signer", "provider_kind", "operation"),
        )
        self.failovers = r.counter(
            PREFIX + "signer_failovers_total",
            "Times a signer was marked failed by the pool (call error, timeout or "
            "unhealthy probe): the coordinator tries other signers first during backoff.",
            ("signer", "reason"),
        )
        self.retries = r.counter(
            PREFIX + "coordinator_retries_total",
            "Signing or key-agreement rounds the coordinator ran again with another signer "
            "subset after one lost a signer, by operation (signing, key agreement).",
            ("operation",),
        )

    def record(
        self,
        signer_id: str,
        kind: str,
        operation: str,
        seconds: float,
        error: str | None,
        units: int,
    ) -> None:
        self.latency.observe((signer_id, kind, operation), seconds)
        if error is not None:
            self.errors.inc((signer_id, kind, operation, error))
        elif operation not in UNBILLED:
            self.operations.inc((signer_id, kind, operation), units)

    def retry(self, operation: str) -> None:
        self.retries.inc((operation,))

    def failover(self, signer_id: str, reason: str) -> None:
        self.failovers.inc((signer_id, "timeout" if reason == "timed out" else "error"))


class InstrumentedSigner:
    """A SignerClient that times every protocol call of the client it wraps."""

    def __init__(self, wrapped: Any, metrics: SignerMetrics) -> None:
        self._wrapped = wrapped
        self._metrics = metrics
        self._signer_id = str(wrapped.signer_id)
        self.provider_kind = UNKNOWN_KIND  # learnt from the first SignerInfo seen

    @property
    def signer_id(self) -> str:
        return self._signer_id

    @property
    def inner(self) -> Any:
        """The client under every wrapper of ours (as CoalescingSigner.inner does)."""
        return getattr(self._wrapped, "inner", self._wrapped)

    @property
    def wrapped(self) -> Any:
        return self._wrapped

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._wrapped, name)
        if name not in OPERATIONS:
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = target(*args, **kwargs)
            except BaseException as exc:
                self._metrics.record(
                    self._signer_id,
                    self.provider_kind,
                    name,
                    time.perf_counter() - start,
                    error_kind(exc),
                    0,
                )
                raise
            elapsed = time.perf_counter() - start
            if name == "info" and isinstance(result, SignerInfo):
                self.provider_kind = provider_kind_of(result)
            units = 1
            if name == "partial_sign":
                batch = args[0] if args else kwargs.get("requests", ())
                units = len(batch)
            self._metrics.record(self._signer_id, self.provider_kind, name, elapsed, None, units)
            return result

        return timed

    def __repr__(self) -> str:
        return f"InstrumentedSigner({self._wrapped!r})"
