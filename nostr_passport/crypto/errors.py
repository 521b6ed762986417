"""The exceptions raised by `nostr_passport.crypto`.

Every public function of the crypto package raises one of these (never a bare
ValueError from coincurve or cryptography), so callers map errors once.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by the crypto package."""


class InvalidInputError(CryptoError, ValueError):
    """Malformed input: wrong length, scalar out of range, point off the curve, t > n..."""


class InvalidSignatureError(CryptoError):
    """A signature (or proof) did not verify."""


class InvalidContributionError(CryptoError):
    """A participant's contribution is invalid; names the participant.

    `participant` is the participant identifier as used by the caller (BIP 445: 0..n-1),
    or None when the faulty input came from the coordinator (the aggregator) itself.
    `contrib` names what was wrong, with the BIP 445 names: "pubshare", "pubnonce",
    "psig", "aggothernonce", "ecdh_share", ...
    """

    def __init__(self, participant: int | None, contrib: str, message: str = "") -> None:
        self.participant = participant
        self.contrib = contrib
        who = "coordinator" if participant is None else f"participant {participant}"
        super().__init__(message or f"invalid {contrib} from {who}")


class NonceReuseError(CryptoError):
    """A secret nonce was presented for a second use."""


class FaultyCoordinatorError(InvalidContributionError):
    """The coordinator (the aggregator) deviated from the protocol.

    Raised by participant code only, when a message could have come wrong only from the
    coordinator (ChillDKG: a wrong own pubnonce, a tampered certificate...). It is an
    `InvalidContributionError` with `participant` None, so one handler can blame either
    side; `contrib` names the coordinator's faulty part of the message.
    """

    def __init__(self, contrib: str, message: str = "") -> None:
        super().__init__(None, contrib, message)


class UnknownFaultyPartyError(CryptoError):
    """Some participant or the coordinator is faulty, but which one is not known yet.

    ChillDKG's `UnknownFaultyParticipantOrCoordinatorError`: a participant received an
    invalid sum of encrypted shares and cannot tell who sent the bad summand. `inv_data`
    is opaque investigation data for the protocol's investigate step; it holds secrets,
    so it is kept out of the message and of `args` (and so out of repr and tracebacks).
    """

    def __init__(self, inv_data: object, message: str = "") -> None:
        self.inv_data = inv_data
        super().__init__(message or "a participant or the coordinator is faulty")
