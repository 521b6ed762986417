"""Errors of ceremonies, in the nostr_passport.errors hierarchy (so api/errors.py maps them).

They live here rather than in errors.py only because that file was being edited by
another engineer when ceremonies landed; moving them there changes nothing for callers.
"""

from __future__ import annotations

from nostr_passport.errors import BadRequestError, ConflictError, PermissionDeniedError


class QuorumNotReachedError(ConflictError):
    """Execute was asked before enough distinct admins approved (HTTP 409)."""

    code = "quorum_not_reached"


class CeremonyExpiredError(ConflictError):
    """The ceremony's time ran out before it was executed: it can only be proposed again."""

    code = "ceremony_expired"


class CeremonyClosedError(ConflictError):
    """The ceremony was already executed, rejected, or is being executed."""

    code = "ceremony_closed"


class ParamsMismatchError(ConflictError):
    """An approver or executor saw other parameters than the ceremony's (hash differs)."""

    code = "ceremony_params_mismatch"


class SecretInParamsError(BadRequestError):
    """Parameters that look like a secret: ceremonies store and log them in the clear."""

    code = "secret_in_params"


class CeremonyRequiredError(PermissionDeniedError):
    """A sensitive operation asked for directly where the policy needs M > 1 approvals."""

    code = "ceremony_required"
