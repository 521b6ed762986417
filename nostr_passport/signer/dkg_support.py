"""ChillDKG glue for the signer: the share's VSS commitments, and per-session state.

A signer stores every share with the t Feldman commitments of its polynomial (public
shares and signing contexts are derived from them). ChillDKG outputs public shares but
not those commitments; they are the summed commitment in the certified recovery data,
moved by the same Taproot tweak the DKG adds to the key and to every share — so the
commitments describe exactly the polynomial whose constant is `threshold_pubkey`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from nostr_passport.crypto import dealer
from nostr_passport.crypto.curve import cbytes_ext
from nostr_passport.crypto.dkg import ParticipantState1, ParticipantState2, chilldkg
from nostr_passport.crypto.dkg.simplpedpop import DKGOutput
from nostr_passport.errors import BadRequestError

HOST_KEY_NAME = "dkg-host-key"
MAX_SESSIONS = 256


def tweaked_vss_commitments(recovery_data: bytes) -> tuple[bytes, ...]:
    """The commitments of the tweaked joint polynomial, from certified recovery data."""
    data = chilldkg.certified(recovery_data)
    tweaked, _, _ = data.sum_coms.invalid_taproot_commit()
    return tuple(cbytes_ext(point) for point in tweaked.ges)


def check_commitments(output: DKGOutput, commitments: tuple[bytes, ...]) -> None:
    """The commitments give the DKG's key and every public share."""
    if commitments[0] != output.threshold_pubkey:
        raise BadRequestError("DKG commitments do not give the threshold key")
    for i, pubshare in enumerate(output.pubshares):
        if dealer.pubshare_from_commitments(i, commitments) != pubshare:
            raise BadRequestError(f"DKG commitments do not give public share {i}")


@dataclass(frozen=True)
class Session:
    identity_id: str
    state: ParticipantState1 | ParticipantState2


class Sessions:
    """Sessions between steps, in memory: a restarted signer simply fails its sessions.

    State after step 2 holds our share (in this process, the only one that may see it)
    until finalize stores it wrapped, or the session is dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def put(self, session: Session) -> None:
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS and session.identity_id not in self._sessions:
                raise BadRequestError("too many DKG sessions in progress")
            self._sessions[session.identity_id] = session

    def take(self, identity_id: str) -> Session:
        with self._lock:
            session = self._sessions.pop(identity_id, None)
        if session is None:
            raise BadRequestError(f"no DKG session in progress for {identity_id!r}")
        return session
