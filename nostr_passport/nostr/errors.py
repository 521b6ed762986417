"""Errors of the Nostr encodings. Messages never carry keys or plaintexts."""

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
    """A NIP-46 message or URI is malformed."""

    code = "invalid_payload"
