"""ChillDKG (BIP-FROST-DKG): distributed key generation for FROST (BIP 445).

n participants, each with a long-term host key, and an untrusted coordinator create a
t-of-n threshold key without any party ever holding it whole. Participant i (0-based)
ends with secshare_i = f(i+1) of the joint polynomial f, the threshold public key f(0)*G
and every participant's public share; a success certificate signed by all makes the
outcome provable later (`recover`). See `chilldkg` for the steps and error mapping.

Taproot and Nostr. The BIP makes the threshold key "Taproot-safe": every party adds the
tweak hash_TapTweak(x(sum of the commitments)) to the summed commitment, and every
participant adds the same tweak to its share, so `threshold_pubkey` already commits to
an unspendable BIP 341 script path: no participant can have hidden a script path in
it, so Bitcoin wallets may put it in Taproot outputs without the extra precautions BIP
341 asks for keys from plain PedPop. The tweak is part of the key generation:
`threshold_pubkey` is THE key, the secshares are Shamir shares of ITS secret, and the
pre-tweak sum is never exposed. Nostr (NIP-01) uses plain BIP-340 x-only keys with
no Taproot tweak, so we apply no further tweak: a Nostr identity's public key (npub) is
the x coordinate of `threshold_pubkey` as returned (`DKGOutput.threshold_xonly`), and
BIP 445 signing with the secshares yields BIP-340 signatures valid under it.
"""

from __future__ import annotations

from ..errors import FaultyCoordinatorError, UnknownFaultyPartyError
from .chilldkg import (
    CoordinatorState,
    DuplicateHostPubkeyError,
    HostSeckeyError,
    ParticipantState1,
    ParticipantState2,
    RandomnessError,
    RecoveryData,
    RecoveryDataError,
    SessionParams,
    ThresholdOrCountError,
    coordinator_finalize,
    coordinator_investigate,
    coordinator_step1,
    hostpubkey_gen,
    params_id,
    participant_finalize,
    participant_investigate,
    participant_step1,
    participant_step2,
    recover,
)
from .simplpedpop import DKGOutput

__all__ = [
    "CoordinatorState",
    "DKGOutput",
    "DuplicateHostPubkeyError",
    "FaultyCoordinatorError",
    "HostSeckeyError",
    "ParticipantState1",
    "ParticipantState2",
    "RandomnessError",
    "RecoveryData",
    "RecoveryDataError",
    "SessionParams",
    "ThresholdOrCountError",
    "UnknownFaultyPartyError",
    "coordinator_finalize",
    "coordinator_investigate",
    "coordinator_step1",
    "hostpubkey_gen",
    "params_id",
    "participant_finalize",
    "participant_investigate",
    "participant_step1",
    "participant_step2",
    "recover",
]
