"""Errors of the Nostr encodings. Messages never carry keys, passwords or plaintexts."""

from __future__ import annotations


class NostrError(Exception):
    """Base of the errors raised by `nostr_passport.nostr` encodings."""

    code = "bad_request"


class InvalidEventError(NostrError):
    """An event or event template is malformed, or its id/signature does not check out."""

    code = "invalid_event"


class EncodingError(NostrError):
    """A bech32 / NIP-19 string (or other encoding) is malformed."""

    code = "invalid_encoding"


class DecryptionError(NostrError):
    """A NIP-44 / NIP-04 / NIP-49 ciphertext failed to authenticate or decode."""

    code = "decryption_failed"


class InvalidPayloadError(NostrError):
    """A ciphertext payload, key argument, NIP-46 message or URI is malformed."""

    code = "invalid_payload"


class InvalidRequestError(InvalidPayloadError):
    """A NIP-46 request that is malformed after its id could be read.

    `request_id` lets a remote signer answer the client with an error response for
    that id instead of dropping the request silently.
    """

    code = "invalid_request"

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id
