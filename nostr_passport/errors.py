"""The exceptions of NostrPassport outside the pure crypto package.

One small hierarchy, mapped once to HTTP responses (api) and NIP-46 error replies
(bunker). Messages are for humans and must never contain secret material.
`nostr_passport.crypto.errors.CryptoError` is the separate root of the crypto package,
which imports nothing of ours.
"""

from __future__ import annotations


class PassportError(Exception):
    """Base of our errors. `code` is the stable machine-readable name used in replies."""

    code = "internal_error"


# ---------------------------------------------------------------- caller errors


class BadRequestError(PassportError):
    code = "bad_request"


class NotFoundError(PassportError):
    code = "not_found"


class ConflictError(PassportError):
    code = "conflict"


class AuthenticationError(PassportError):
    """No or invalid credentials."""

    code = "unauthenticated"


class PermissionDeniedError(PassportError):
    """Valid credentials, but not allowed to do this."""

    code = "forbidden"


class RateLimitedError(PassportError):
    code = "rate_limited"


class ConfigError(PassportError):
    code = "config_error"


# ---------------------------------------------------------------- service availability


class UnavailableError(PassportError):
    """A dependency (signers, store, audit log, HSM) cannot serve right now."""

    code = "unavailable"


# ---------------------------------------------------------------- HSM providers


class HsmError(PassportError):
    """Base of provider (HSM adapter) errors."""

    code = "hsm_error"


class ProviderUnavailableError(HsmError, UnavailableError):
    """The HSM cannot be reached or its session broke."""

    code = "hsm_unavailable"


class ProviderAuthenticationError(HsmError):
    """Login to the HSM failed (wrong PIN, user not a crypto user...)."""

    code = "hsm_authentication_failed"


class KeyNotFoundError(HsmError):
    """A key (KEK, attestation, transport) is missing in the HSM."""

    code = "hsm_key_not_found"


class TamperedCiphertextError(HsmError):
    """A wrapped blob failed authentication: flipped bits, wrong AAD, wrong key."""

    code = "tampered_ciphertext"


class UnsupportedOperationError(HsmError):
    """The provider (or its profile) lacks a mechanism the operation needs."""

    code = "hsm_unsupported"


class ProductionModeError(HsmError):
    """A development-only component (the simulator) was asked to run in production mode."""

    code = "not_for_production"


class MalformedBlobError(TamperedCiphertextError):
    """Bytes that do not even parse as a wrapped blob (wrong version, truncated, garbage)."""

    code = "malformed_blob"


class KeyInUseError(HsmError, ConflictError):
    """The key cannot be destroyed or replaced while it is in use (the current KEK)."""

    code = "hsm_key_in_use"


# ---------------------------------------------------------------- gateway


class PayloadTooLargeError(BadRequestError):
    """A request body above the configured limit (refused before parsing)."""

    code = "payload_too_large"


class IdentityDisabledError(ConflictError):
    """The identity exists but is disabled: it signs and decrypts nothing."""

    code = "identity_disabled"


class SignersUnavailableError(UnavailableError):
    """Fewer than t signers of an identity answered correctly within the deadline."""

    code = "signers_unavailable"


class AuditUnavailableError(UnavailableError):
    """The audit record could not be written, so the operation was refused (fail closed)."""

    code = "audit_unavailable"


class StoreUnavailableError(UnavailableError):
    """The database cannot be reached or keeps refusing writes."""

    code = "store_unavailable"


# ---------------------------------------------------------------- audit log and attestation


class AuditIntegrityError(PassportError):
    """The stored audit log contradicts itself or a signed checkpoint: nothing was signed."""

    code = "audit_integrity"


class MalformedAuditDataError(BadRequestError):
    """An audit export, proof, checkpoint or attestation bundle that does not parse."""

    code = "malformed_audit_data"


# ---------------------------------------------------------------- key lifecycle


class LifecycleError(PassportError):
    """A key-lifecycle operation (refresh, backup, restore, import, migration) failed."""

    code = "lifecycle_failed"


class LifecycleRefusedError(LifecycleError, BadRequestError):
    """A lifecycle request that cannot be right: a malformed backup, a participant that
    does not exist, a placement onto the wrong signer. Nothing was changed."""

    code = "lifecycle_refused"


class LifecycleConflictError(LifecycleError, ConflictError):
    """A lifecycle request that contradicts the identity's state (another epoch, a signer
    that already holds a share of it). Nothing was changed."""

    code = "lifecycle_conflict"


class RefreshAbortedError(LifecycleError, UnavailableError):
    """A share refresh did not complete; the identity stays on its current epoch."""

    code = "refresh_aborted"


class ReshapeAbortedError(RefreshAbortedError):
    """A threshold or signer-set change that could not finish: the identity still signs
    on its old epoch."""

    code = "reshape_aborted"


class BackupTargetError(LifecycleError, BadRequestError):
    """A backup target that may not receive shares (e.g. a software provider)."""

    code = "backup_target_refused"
