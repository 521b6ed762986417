"""Exceptions of the FROST participant (the signer), as subclasses of our hierarchy.

Each has its own stable `code`, so the HTTP transport maps it to a status and back to
the same class on the client. Messages name identities, participants and nonce ids,
never secret material.
"""

from __future__ import annotations

from nostr_passport.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnavailableError,
)


class NonceConsumedError(ConflictError):
    """The secret nonce behind this nonce id was already used (or burned by a crash)."""

    code = "nonce_consumed"


class UnknownNonceError(NotFoundError):
    """No nonce of this id was ever handed out by this signer."""

    code = "nonce_unknown"


class NonceMismatchError(BadRequestError):
    """The request's public nonce for this signer is not the one handed out as nonce_id."""

    code = "nonce_mismatch"


class ShareNotFoundError(NotFoundError):
    """This signer holds no share of the identity (at that epoch)."""

    code = "share_not_found"


class ShareExistsError(ConflictError):
    """This signer already holds a different share of the identity at that epoch."""

    code = "share_exists"


class EpochMismatchError(ConflictError):
    """The request names an epoch of the identity that this signer does not hold."""

    code = "epoch_mismatch"


class InvalidShareError(BadRequestError):
    """A received share does not match the VSS commitments it came with."""

    code = "invalid_share"


class SignerStoreError(UnavailableError):
    """The signer's local store cannot be read or written."""

    code = "signer_store_unavailable"


class SignerUnreachableError(UnavailableError):
    """An HTTP signer did not answer (connection refused, timeout, broken reply)."""

    code = "signer_unreachable"


class RequestAuthenticationError(AuthenticationError):
    """A request to an HTTP signer lacks a valid coordinator signature."""

    code = "signer_request_unauthenticated"


class ReplayedRequestError(RequestAuthenticationError):
    """A signed request whose nonce the signer has already seen."""

    code = "signer_request_replayed"


class ResponseAuthenticationError(AuthenticationError):
    """A reply that is not signed by the signer key the client expects."""

    code = "signer_response_unauthenticated"


class InvalidAttestationError(BadRequestError):
    """An attestation whose signature or statement does not check out."""

    code = "invalid_attestation"
