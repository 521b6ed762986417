"""The FROST signing coordinator: one round per signature, failover within a deadline.

For a batch of events of one identity the coordinator:
1. picks t of the identity's signers, healthy ones first (service/signer_pool.py);
2. takes one preprocessed nonce commitment per event from each (service/commitments.py;
   a fetch only when the cache runs dry);
3. sends each signer ONE partial_sign call carrying every event of the batch, each event
   with its own nonce, all signers in parallel;
4. aggregates each event's partial signatures and verifies the BIP-340 signature
   (frost.verified_signature); only when that fails are the partial signatures checked
   one by one, which names the faulty signer;
5. if a signer is down, slow or faulty, starts again with another subset of signers and
   fresh nonces, until the deadline. Fewer than t usable signers: SignersUnavailableError
   (503) whose message says which signers failed and why.

Threshold ECDH (NIP-44/NIP-04) follows the same pattern: ecdh_share from t signers, each
checked against its DLEQ proof when combining.

Event ids (the signed messages) are computed by the caller from the event (never taken
from a client); the signers recompute them from the same EventToSign.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from nostr_passport.crypto import ecdh, frost
from nostr_passport.crypto.errors import InvalidContributionError
from nostr_passport.errors import SignersUnavailableError
from nostr_passport.signer.protocol import (
    EcdhRequest,
    EcdhShareReply,
    EventToSign,
    NonceCommitment,
    PartialSignature,
    SignerClient,
    SignRequest,
)

from .commitments import CommitmentCache
from .keys import IdentityKeys, KeyCache
from .signer_pool import SignerPool

R = TypeVar("R")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignerFault:
    """A signer that answered with an invalid contribution (not merely an outage)."""

    signer_id: str
    participant: int
    contribution: str  # "pubnonce", "psig", "ecdh_share", "reply"


@dataclass(frozen=True)
class SigningOutcome:
    signatures: tuple[bytes, ...]  # 64-byte BIP-340, aligned with the events
    signer_ids: tuple[str, ...]  # who produced them
    attempts: int
    faults: tuple[SignerFault, ...]  # faulty signers met (and routed around) on the way


@dataclass(frozen=True)
class EcdhOutcome:
    shared_x: bytes = b""  # 32 bytes; hidden from repr below
    signer_ids: tuple[str, ...] = ()
    attempts: int = 0
    faults: tuple[SignerFault, ...] = ()

    def __repr__(self) -> str:
        return f"EcdhOutcome(signer_ids={self.signer_ids}, attempts={self.attempts})"


class _AttemptFailed(Exception):
    """One attempt lost these signers (id -> reason); another subset may still work."""

    def __init__(self, failures: dict[str, str], faults: tuple[SignerFault, ...] = ()) -> None:
        self.failures = failures
        self.faults = faults
        super().__init__(", ".join(f"{k}: {v}" for k, v in failures.items()))


class SigningCoordinator:
    def __init__(
        self,
        pool: SignerPool,
        *,
        commitments: CommitmentCache,
        keys: KeyCache,
        deadline_seconds: float = 5.0,
        signer_timeout_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.commitments = commitments
        self.keys = keys
        self.deadline_seconds = deadline_seconds
        self.signer_timeout_seconds = signer_timeout_seconds
        self._clock = clock

    # ---------------------------------------------------------------- public operations

    def sign_events(
        self,
        keys: IdentityKeys,
        events: Sequence[EventToSign],
        messages: Sequence[bytes],
        request_id: str = "",
    ) -> SigningOutcome:
        """BIP-340 signatures of `messages` (the events' NIP-01 ids), verified."""
        if not events or len(events) != len(messages):
            raise ValueError("one message (event id) per event is required")
        events_t, messages_t = tuple(events), tuple(messages)

        def attempt(ids: tuple[int, ...], deadline: float) -> tuple[bytes, ...]:
            return self._sign_attempt(keys, ids, events_t, messages_t, request_id, deadline)

        signatures, ids, attempts, faults = self._with_failover(keys, "signing", attempt)
        return SigningOutcome(signatures, self._signer_ids(keys, ids), attempts, faults)

    def shared_x(self, keys: IdentityKeys, peer: bytes, request_id: str = "") -> EcdhOutcome:
        """x(s·P) for the identity's secret s and the peer key P, by threshold ECDH."""

        def attempt(ids: tuple[int, ...], deadline: float) -> bytes:
            return self._ecdh_attempt(keys, ids, peer, request_id, deadline)

        shared, ids, attempts, faults = self._with_failover(keys, "key agreement", attempt)
        return EcdhOutcome(shared, self._signer_ids(keys, ids), attempts, faults)

    # ---------------------------------------------------------------- failover loop

    def _signer_ids(self, keys: IdentityKeys, ids: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(keys.signer_ids[i] for i in ids)

    def _with_failover(
        self,
        keys: IdentityKeys,
        what: str,
        attempt: Callable[[tuple[int, ...], float], R],
    ) -> tuple[R, tuple[int, ...], int, tuple[SignerFault, ...]]:
        deadline = self._clock() + self.deadline_seconds
        excluded: dict[str, str] = {
            sid: "not configured on this gateway" for sid in keys.signer_ids if sid not in self.pool
        }
        faults: list[SignerFault] = []
        attempts = 0
        while True:
            candidates = [sid for sid in keys.signer_ids if sid not in excluded]
            remaining = deadline - self._clock()
            if len(candidates) < keys.threshold or remaining <= 0:
                raise SignersUnavailableError(
                    self._unavailable_message(keys, what, excluded, remaining <= 0)
                )
            chosen = self.pool.preferred_order(candidates)[: keys.threshold]
            ids = tuple(sorted(keys.participant_of(sid) for sid in chosen))
            attempts += 1
            if attempts > 1:
                self.pool.metrics.retry(what)
            try:
                return attempt(ids, deadline), ids, attempts, tuple(faults)
            except _AttemptFailed as failed:
                excluded.update(failed.failures)
                faults.extend(failed.faults)
                log.info(
                    "%s for %s: attempt %d lost %s; retrying with other signers",
                    what,
                    keys.identity_id,
                    attempts,
                    ", ".join(sorted(failed.failures)),
                )

    def _unavailable_message(
        self, keys: IdentityKeys, what: str, excluded: dict[str, str], out_of_time: bool
    ) -> str:
        usable = keys.participants - len(excluded)
        reasons = "; ".join(f"{sid}: {why}" for sid, why in sorted(excluded.items()))
        head = (
            f"{what} needs {keys.threshold} of the {keys.participants} signers of identity "
            f"{keys.identity_id}"
        )
        if out_of_time:
            return f"{head}; deadline of {self.deadline_seconds:g} s exceeded ({reasons})"
        return f"{head}; only {usable} usable ({reasons})"

    def _timeout(self, deadline: float) -> float:
        return max(0.0, min(self.signer_timeout_seconds, deadline - self._clock()))

    def _fault(self, keys: IdentityKeys, participant: int, contribution: str) -> _AttemptFailed:
        sid = keys.signer_ids[participant]
        reason = f"invalid {contribution} (faulty signer)"
        self.pool.mark_failed(sid, reason)
        self.commitments.drop(sid)
        log.error(
            "signer %s (participant %d of %s) sent an invalid %s",
            sid,
            participant,
            keys.identity_id,
            contribution,
        )
        return _AttemptFailed({sid: reason}, (SignerFault(sid, participant, contribution),))

    # ---------------------------------------------------------------- one signing attempt

    def _sign_attempt(
        self,
        keys: IdentityKeys,
        ids: tuple[int, ...],
        events: tuple[EventToSign, ...],
        messages: tuple[bytes, ...],
        request_id: str,
        deadline: float,
    ) -> tuple[bytes, ...]:
        count = len(events)
        by_signer = {keys.signer_ids[i]: i for i in ids}

        def take(client: SignerClient) -> tuple[NonceCommitment, ...]:
            return self.commitments.take(client, count)

        taken, failures = self.pool.call_all(
            {sid: take for sid in by_signer}, self._timeout(deadline)
        )
        if failures:
            for sid in failures:
                self.commitments.drop(sid)
            raise _AttemptFailed(failures)

        # pubnonces[j] aligned with ids, for event j
        pubnonces = [
            tuple(taken[keys.signer_ids[i]][j].pubnonce for i in ids) for j in range(count)
        ]
        try:
            aggnonces = [frost.nonce_agg(pubnonces[j], ids) for j in range(count)]
        except InvalidContributionError as exc:
            raise self._fault(keys, int(exc.participant or 0), "pubnonce") from None

        def requests_for(participant: int) -> tuple[SignRequest, ...]:
            mine = taken[keys.signer_ids[participant]]
            return tuple(
                SignRequest(
                    identity_id=keys.identity_id,
                    epoch=keys.epoch,
                    ids=ids,
                    pubnonces=pubnonces[j],
                    nonce_id=mine[j].nonce_id,
                    event=events[j],
                    request_id=request_id,
                )
                for j in range(count)
            )

        def sign_call(participant: int) -> Callable[[SignerClient], tuple[PartialSignature, ...]]:
            batch = requests_for(participant)
            return lambda client: client.partial_sign(batch)

        replies, failures = self.pool.call_all(
            {sid: sign_call(p) for sid, p in by_signer.items()}, self._timeout(deadline)
        )
        if failures:
            for sid in failures:
                self.commitments.drop(sid)
            raise _AttemptFailed(failures)

        psigs: dict[int, tuple[bytes, ...]] = {}
        for sid, participant in by_signer.items():
            reply = replies[sid]
            expected = taken[sid]
            if len(reply) != count or any(
                r.participant != participant or r.nonce_id != c.nonce_id
                for r, c in zip(reply, expected, strict=False)
            ):
                raise self._fault(keys, participant, "reply")
            psigs[participant] = tuple(r.psig for r in reply)

        signers_ctx = self.keys.signers_context(keys, ids)
        signatures = []
        for j in range(count):
            session = frost.SessionContext(signers_ctx, aggnonces[j], (), (), messages[j])
            try:
                sig = frost.verified_signature(
                    tuple(psigs[i][j] for i in ids), pubnonces[j], session
                )
            except InvalidContributionError as exc:
                if exc.participant is None:
                    raise  # our own aggregate nonce: a coordinator bug, not a signer's
                raise self._fault(keys, exc.participant, exc.contrib) from None
            signatures.append(sig)
        return tuple(signatures)

    # ---------------------------------------------------------------- one ECDH attempt

    def _ecdh_attempt(
        self,
        keys: IdentityKeys,
        ids: tuple[int, ...],
        peer: bytes,
        request_id: str,
        deadline: float,
    ) -> bytes:
        by_signer = {keys.signer_ids[i]: i for i in ids}
        request = EcdhRequest(
            identity_id=keys.identity_id,
            epoch=keys.epoch,
            ids=ids,
            peer_pubkey=peer,
            request_id=request_id,
        )

        def share(client: SignerClient) -> EcdhShareReply:
            return client.ecdh_share(request)

        replies, failures = self.pool.call_all(
            {sid: share for sid in by_signer}, self._timeout(deadline)
        )
        if failures:
            raise _AttemptFailed(failures)
        shares = []
        for sid, participant in by_signer.items():
            reply = replies[sid]
            if reply.participant != participant:
                raise self._fault(keys, participant, "reply")
            shares.append(ecdh.EcdhShare(participant, reply.point, reply.proof))
        pubshares = {i: keys.pubshares[i] for i in ids}
        try:
            return ecdh.combine_ecdh_shares(shares, pubshares, ids, peer)
        except InvalidContributionError as exc:
            if exc.participant is None:
                raise
            raise self._fault(keys, exc.participant, exc.contrib) from None
