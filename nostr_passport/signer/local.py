"""The FROST participant in-process: one signer bound to one HSM provider and one store.

`LocalSigner` implements `SignerClient`. It is the only component that ever holds a
share in the clear, for the duration of one operation: shares are stored wrapped under
the provider's KEK (store.py), unwrapped into a bytearray, used, and zeroed. (Python
ints derived from the share cannot be overwritten; the buffer can.)

What it checks before it signs, because the coordinator is not trusted:
- the public identity data (group key, public shares, threshold, epoch) come from OUR
  store, never from the request;
- the request's public nonce for our participant is the one we handed out as nonce_id;
- the event's pubkey is the identity's key and the message is the NIP-01 id we compute;
- every request of a batch uses its own nonce, consumed durably before signing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.crypto import curve, dealer, ecdh, frost
from nostr_passport.crypto.dkg import chilldkg
from nostr_passport.crypto.errors import CryptoError, InvalidContributionError, InvalidInputError
from nostr_passport.errors import (
    BadRequestError,
    PassportError,
    ProductionModeError,
)
from nostr_passport.hsm.provider import HsmProvider, WrappedBlob
from nostr_passport.signer import dkg_support
from nostr_passport.signer import refresh as refresh_math
from nostr_passport.signer import reshape as reshape_math
from nostr_passport.signer.aad import nonce_seed_aad, share_aad, signer_key_aad, transport_aad
from nostr_passport.signer.attestation import signed_attestation, statement_for
from nostr_passport.signer.errors import (
    EpochMismatchError,
    InvalidShareError,
    NonceConsumedError,
    NonceMismatchError,
    ShareExistsError,
    ShareNotFoundError,
    UnknownNonceError,
)
from nostr_passport.signer.imported import import_aad
from nostr_passport.signer.kek_guard import KekGuard, uses_kek
from nostr_passport.signer.message import event_message
from nostr_passport.signer.nonce_pool import NoncePool, secret_nonce_for, wipe_seeds
from nostr_passport.signer.protocol import (
    Attestation,
    DealtIdentity,
    EcdhRequest,
    EcdhShareReply,
    EventToSign,
    HeldShare,
    KekRotation,
    NonceCommitment,
    PartialSignature,
    RefreshDeal,
    ReshapeDeal,
    ShareSlot,
    SignerInfo,
    SignRequest,
    WrappedShare,
)
from nostr_passport.signer.store import NonceRow, NonceState, ShareRecord, SignerStore

MAX_IDENTITY_ID_LEN = 200
MAX_SIGNER_ID_LEN = 64
MAX_PARTICIPANTS = dealer.MAX_PARTICIPANTS
MAX_SIGN_BATCH = 1000
SHARE_LEN = 32
HTTP_KEY_NAME = "http-response-signing"


# ---------------------------------------------------------------- input checks


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_identity_id(identity_id: object) -> str:
    if (
        not isinstance(identity_id, str)
        or not 1 <= len(identity_id) <= MAX_IDENTITY_ID_LEN
        or not identity_id.isprintable()
    ):
        raise BadRequestError(f"identity id must be 1..{MAX_IDENTITY_ID_LEN} printable characters")
    return identity_id


def _check_epoch(epoch: object) -> int:
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2**63:
        raise BadRequestError("epoch must be a non-negative integer")
    return epoch


def _check_threshold(threshold: object, participants: int = MAX_PARTICIPANTS) -> int:
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise BadRequestError("threshold must be an integer")
    if not 1 <= threshold <= participants:
        raise BadRequestError(f"threshold must be an integer in 1..{participants}")
    return threshold


def _check_participant(participant: object) -> int:
    if (
        not isinstance(participant, int)
        or isinstance(participant, bool)
        or not 0 <= participant < MAX_PARTICIPANTS
    ):
        raise BadRequestError(f"participant must be an integer in 0..{MAX_PARTICIPANTS - 1}")
    return participant


def _check_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise BadRequestError(f"{what} must be bytes")
    return bytes(value)


def _signing_ids(ids: object, record: ShareRecord) -> tuple[int, ...]:
    """The session's signer set: distinct ids, ours among them, at least t of them."""
    if not isinstance(ids, tuple | list) or not all(_is_int(i) for i in ids):
        raise BadRequestError("ids must be a list of participant ids")
    out = tuple(ids)
    bound = record.participants or MAX_PARTICIPANTS
    if any(not 0 <= i < bound for i in out):
        raise BadRequestError(f"participant ids must be in 0..{bound - 1}")
    if len(set(out)) != len(out):
        raise BadRequestError("participant ids must be distinct")
    if record.participant not in out:
        raise BadRequestError(f"this signer (participant {record.participant}) is not in ids")
    if len(out) < record.threshold:
        raise BadRequestError(
            f"{len(out)} signers cannot sign for a {record.threshold}-of-n identity"
        )
    return out


@contextlib.contextmanager
def _crypto_errors(what: str) -> Iterator[None]:
    """Map the crypto package's errors to ours (the caller's fault unless internal)."""
    try:
        yield
    except InvalidContributionError as exc:
        who = "the coordinator" if exc.participant is None else f"participant {exc.participant}"
        raise BadRequestError(f"{what}: invalid {exc.contrib} from {who}") from None
    except InvalidInputError as exc:
        raise BadRequestError(f"{what}: {exc}") from None
    except CryptoError:
        raise PassportError(f"{what} failed") from None


@lru_cache(maxsize=4096)
def _pubshare(participant: int, vss_commitments: tuple[bytes, ...]) -> bytes:
    """Public share from the VSS commitments (public data, so caching is harmless)."""
    return dealer.pubshare_from_commitments(participant, vss_commitments)


@lru_cache(maxsize=1024)
def _signers_context(
    n: int, threshold: int, ids: tuple[int, ...], vss: tuple[bytes, ...], group_pubkey: bytes
) -> frost.SignersContext:
    """ValidateSignersCtx once per identity and signer set: public data, safe to cache."""
    pubshares = tuple(_pubshare(i, vss) for i in ids)
    return frost.SignersContext(n, threshold, ids, pubshares, group_pubkey)


@lru_cache(maxsize=4096)
def _xonly_hex(group_pubkey: bytes) -> str:
    return frost.group_pubkey_xonly(group_pubkey).hex()


def _wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


# ---------------------------------------------------------------- provider randomness


class _ProviderRandomness:
    """A RandomSource for the dealer that costs one provider round trip for the typical case."""

    def __init__(self, provider: HsmProvider, prefetch: int) -> None:
        self._provider = provider
        self._buffer = bytearray(provider.random_bytes(prefetch))

    def __call__(self, n: int) -> bytes:
        if len(self._buffer) < n:
            self._buffer += self._provider.random_bytes(max(n, 64))
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def wipe(self) -> None:
        _wipe(self._buffer)


# ---------------------------------------------------------------- signing plan


@dataclass(frozen=True)
class _SignPlan:
    request: SignRequest
    record: ShareRecord
    row: NonceRow
    message: bytes
    session: frost.SessionContext


# ---------------------------------------------------------------- the signer


class LocalSigner:
    """One FROST participant on one provider (see module docstring).

    `close()` closes the store and the provider: the signer owns both once built.
    """

    def __init__(
        self,
        signer_id: str,
        provider: HsmProvider,
        state_dir: Path,
        *,
        nonce_batch_size: int = 100,
        production: bool = False,
    ) -> None:
        if (
            not isinstance(signer_id, str)
            or not 1 <= len(signer_id) <= MAX_SIGNER_ID_LEN
            or not signer_id.isprintable()
        ):
            raise BadRequestError(f"signer id must be 1..{MAX_SIGNER_ID_LEN} printable characters")
        if production and provider.info.kind == "simulator":
            raise ProductionModeError(
                f"signer {signer_id!r}: the simulator provider keeps keys in software and "
                "cannot be used in production mode"
            )
        self._signer_id = signer_id
        self._provider = provider
        self._store = SignerStore(Path(state_dir))
        self._pool = NoncePool(signer_id, provider, self._store, nonce_batch_size)
        self._info: SignerInfo | None = None
        self._info_lock = threading.Lock()
        self._kek_guard = KekGuard()
        self._dkg_sessions = dkg_support.Sessions()
        self._rotation_lock = threading.Lock()

    # ------------------------------------------------------------------ identity

    @property
    def signer_id(self) -> str:
        return self._signer_id

    @property
    def provider(self) -> HsmProvider:
        return self._provider

    @property
    def store(self) -> SignerStore:
        return self._store

    @property
    def nonce_pool(self) -> NoncePool:
        return self._pool

    def info(self) -> SignerInfo:
        with self._info_lock:
            if self._info is None:
                p = self._provider.info
                self._info = SignerInfo(
                    signer_id=self._signer_id,
                    provider_name=p.name,
                    provider_kind=p.kind,
                    vendor=p.vendor,
                    model=p.model,
                    serial=p.serial,
                    simulated=p.simulated,
                    transport_public_key=self._provider.transport_public_key(),
                    attestation_public_key=self._provider.attestation_public_key(),
                    supports_dkg=True,
                )
            return self._info

    def health(self) -> bool:
        try:
            return self._provider.health().ok and self._store.healthy()
        except PassportError:
            return False

    def close(self) -> None:
        self._store.close()
        self._provider.close()

    def __repr__(self) -> str:
        return f"LocalSigner({self._signer_id!r}, provider={self._provider.info.name!r})"

    # ------------------------------------------------------------------ shares at rest

    def _record(self, identity_id: str, epoch: int | None = None) -> ShareRecord:
        """Our stored share, telling 'wrong epoch' apart from 'no share at all'."""
        try:
            return self._store.share(identity_id, epoch)
        except ShareNotFoundError:
            held = self._store.epochs(identity_id) if epoch is not None else ()
            if held:
                raise EpochMismatchError(
                    f"this signer holds {identity_id!r} at epoch {held[-1]}, not {epoch}"
                ) from None
            raise

    @contextlib.contextmanager
    def _share(self, record: ShareRecord) -> Iterator[bytearray]:
        """The plaintext share in a buffer that is zeroed when the block ends."""
        aad = share_aad(record.identity_id, record.participant, record.epoch)
        buffer = bytearray(self._provider.unwrap(WrappedBlob.from_bytes(record.wrapped_share), aad))
        try:
            if len(buffer) != SHARE_LEN:
                raise PassportError(f"stored share of {record.identity_id!r} is malformed")
            yield buffer
        finally:
            _wipe(buffer)

    def _store_share(
        self,
        identity_id: str,
        participant: int,
        epoch: int,
        threshold: int,
        participants: int,
        group_pubkey: bytes,
        vss_commitments: tuple[bytes, ...],
        share: bytearray,
    ) -> ShareRecord:
        wrapped = self._provider.wrap(bytes(share), share_aad(identity_id, participant, epoch))
        record = ShareRecord(
            identity_id=identity_id,
            epoch=epoch,
            participant=participant,
            threshold=threshold,
            participants=participants,
            group_pubkey=group_pubkey,
            vss_commitments=vss_commitments,
            wrapped_share=wrapped.to_bytes(),
            created_at=int(time.time()),
        )
        self._store.put_share(record)
        return record

    def _attestation(self, record: ShareRecord) -> Attestation:
        statement = statement_for(
            identity_id=record.identity_id,
            group_pubkey=record.group_pubkey,
            participant=record.participant,
            pubshare=_pubshare(record.participant, record.vss_commitments),
            epoch=record.epoch,
            threshold=record.threshold,
            signer_id=self._signer_id,
            provider=self._provider.info,
            issued_at=int(time.time()),
        )
        return signed_attestation(self._provider, statement)

    # ------------------------------------------------------------------ keygen

    @uses_kek
    def deal_identity(
        self,
        identity_id: str,
        threshold: int,
        slots: tuple[ShareSlot, ...],
        epoch: int = 0,
        wrapped_secret: bytes | None = None,
    ) -> DealtIdentity:
        """Trusted-dealer keygen with this provider's randomness; keeps our share only.

        The polynomial exists only inside this call and is wiped before it returns;
        every other share leaves sealed to its slot's transport key.

        `wrapped_secret` (import of an existing key): the secret key sealed to OUR
        transport key with AAD imported.import_aad(identity_id); it becomes the
        polynomial's constant instead of a fresh secret, and is opened only here.
        """
        _check_identity_id(identity_id)
        _check_epoch(epoch)
        n = len(slots)
        if not 2 <= n <= MAX_PARTICIPANTS:
            raise BadRequestError(f"an identity needs 2..{MAX_PARTICIPANTS} share slots")
        _check_threshold(threshold, n)
        if sorted(s.participant for s in slots) != list(range(n)):
            raise BadRequestError("share slots must be participants 0..n-1, one each")
        if len({s.signer_id for s in slots}) != n:
            raise BadRequestError("every share slot must go to a different signer")
        own = [s for s in slots if s.signer_id == self._signer_id]
        if len(own) != 1:
            raise BadRequestError(f"no share slot for this signer ({self._signer_id!r})")
        if own[0].transport_public_key != self._provider.transport_public_key():
            raise BadRequestError("the slot of this signer names another transport key")
        if epoch in self._store.epochs(identity_id):
            raise ShareExistsError(f"this signer already holds {identity_id!r} at epoch {epoch}")

        rand = _ProviderRandomness(self._provider, SHARE_LEN * (threshold + 2))
        secret = bytearray()
        try:
            if wrapped_secret is not None:
                secret = bytearray(
                    self._provider.unwrap_transported(
                        _check_bytes(wrapped_secret, "wrapped_secret"), import_aad(identity_id)
                    )
                )
                if len(secret) != SHARE_LEN or not 0 < int.from_bytes(secret, "big") < curve.N:
                    raise InvalidShareError("the imported secret is not a valid secp256k1 key")
            with _crypto_errors("dealing"):
                constant = int.from_bytes(secret, "big") if secret else dealer.generate_secret(rand)
                output = dealer.split(constant, threshold, n, rand=rand)
        finally:
            rand.wipe()
            _wipe(secret)
        share_buffers = {
            s.participant: bytearray(curve.bytes_from_int(s.value)) for s in output.shares
        }
        try:
            wrapped: list[WrappedShare] = []
            for slot in sorted(slots, key=lambda s: s.participant):
                if slot is own[0]:
                    continue
                blob = self._provider.wrap_for(
                    slot.transport_public_key,
                    bytes(share_buffers[slot.participant]),
                    transport_aad(identity_id, slot.participant, epoch),
                )
                wrapped.append(WrappedShare(slot.participant, slot.signer_id, blob))
            record = self._store_share(
                identity_id,
                own[0].participant,
                epoch,
                threshold,
                n,
                output.group_pubkey,
                output.vss_commitments,
                share_buffers[own[0].participant],
            )
        finally:
            for buffer in share_buffers.values():
                _wipe(buffer)
        return DealtIdentity(
            identity_id=identity_id,
            threshold=threshold,
            group_pubkey=output.group_pubkey,
            vss_commitments=output.vss_commitments,
            pubshares=output.pubshares,
            wrapped_shares=tuple(wrapped),
            dealer_attestation=self._attestation(record),
        )

    @uses_kek
    def receive_share(
        self,
        identity_id: str,
        participant: int,
        epoch: int,
        threshold: int,
        group_pubkey: bytes,
        vss_commitments: tuple[bytes, ...],
        blob: bytes,
        participants: int = 0,
    ) -> Attestation:
        """Open a share sealed to our transport key, check it, keep it wrapped under our KEK.

        `participants` (n) is optional; when known it bounds the ids of signing sessions.
        """
        _check_identity_id(identity_id)
        _check_participant(participant)
        _check_epoch(epoch)
        _check_threshold(threshold)
        if not _is_int(participants) or not (
            participants == 0
            or max(2, threshold, participant + 1) <= participants <= MAX_PARTICIPANTS
        ):
            raise BadRequestError("participants must be 0 (unknown) or n with t <= n")
        commitments = tuple(_check_bytes(c, "VSS commitment") for c in vss_commitments)
        if len(commitments) != threshold:
            raise InvalidShareError("there must be exactly `threshold` VSS commitments")
        if _check_bytes(group_pubkey, "group_pubkey") != commitments[0]:
            raise InvalidShareError("the group key is not the constant VSS commitment")
        with _crypto_errors("group key"):
            curve.point_from_cbytes(group_pubkey, what="group key")
        plaintext = bytearray(
            self._provider.unwrap_transported(
                _check_bytes(blob, "blob"), transport_aad(identity_id, participant, epoch)
            )
        )
        try:
            if len(plaintext) != SHARE_LEN:
                raise InvalidShareError("the received share is not 32 bytes")
            try:
                dealer.verify_share(participant, int.from_bytes(plaintext, "big"), commitments)
            except (InvalidContributionError, InvalidInputError):
                raise InvalidShareError(
                    f"the share for participant {participant} does not match its commitments"
                ) from None
            record = self._store_share(
                identity_id,
                participant,
                epoch,
                threshold,
                participants,
                bytes(group_pubkey),
                commitments,
                plaintext,
            )
        finally:
            _wipe(plaintext)
        return self._attestation(self._store.share(record.identity_id, record.epoch))

    # ------------------------------------------------------------------ share refresh

    def _refresh_slots(
        self, record: ShareRecord, slots: tuple[ShareSlot, ...]
    ) -> tuple[ShareSlot, ...]:
        n = len(slots)
        if not max(2, record.threshold) <= n <= MAX_PARTICIPANTS:
            raise BadRequestError("a refresh needs one slot per participant")
        if record.participants and n != record.participants:
            raise BadRequestError(f"this identity has {record.participants} participants, not {n}")
        ordered = tuple(sorted(slots, key=lambda s: s.participant))
        if [s.participant for s in ordered] != list(range(n)):
            raise BadRequestError("refresh slots must be participants 0..n-1, one each")
        mine = ordered[record.participant]
        if (
            mine.signer_id != self._signer_id
            or mine.transport_public_key != self._provider.transport_public_key()
        ):
            raise BadRequestError("the refresh slot of our participant names another signer")
        return ordered

    def refresh_deal(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        slots: tuple[ShareSlot, ...],
    ) -> RefreshDeal:
        """Our zero-constant resharing contribution for `identity_id` (see signer/refresh.py).

        Stateless: the polynomial is drawn from the provider RNG, evaluated, sealed to
        every participant (us included) and wiped; nothing is stored until
        `refresh_receive`, so a crash here leaves nothing behind.
        """
        _check_identity_id(identity_id)
        record = self._record(identity_id, _check_epoch(from_epoch))
        if _check_epoch(to_epoch) <= from_epoch:
            raise BadRequestError("a refresh must move to a later epoch")
        ordered = self._refresh_slots(record, slots)
        rand = _ProviderRandomness(self._provider, SHARE_LEN * (record.threshold + 1))
        try:
            with _crypto_errors("refresh dealing"):
                polynomial = refresh_math.zero_polynomial(record.threshold, rand)
        finally:
            rand.wipe()
        commitments, sealed = self._sealed_evaluations(
            polynomial,
            ordered,
            lambda recipient: refresh_math.refresh_aad(
                identity_id, record.participant, recipient, to_epoch
            ),
        )
        return RefreshDeal(
            identity_id=identity_id,
            dealer=record.participant,
            from_epoch=from_epoch,
            to_epoch=to_epoch,
            commitments=commitments,
            sealed=sealed,
        )

    def _sealed_evaluations(
        self,
        polynomial: dealer.Polynomial,
        slots: tuple[ShareSlot, ...],
        aad_for: Callable[[int], bytes],
    ) -> tuple[tuple[bytes, ...], tuple[WrappedShare, ...]]:
        """Commitments to `polynomial` and its value at each slot's participant, sealed to
        that slot's transport key under `aad_for(participant)`; the polynomial is wiped."""
        sealed: list[WrappedShare] = []
        try:
            commitments = polynomial.commitments()
            for slot in slots:
                sub = bytearray(curve.bytes_from_int(polynomial.share_for(slot.participant)))
                try:
                    blob = self._provider.wrap_for(
                        slot.transport_public_key, bytes(sub), aad_for(slot.participant)
                    )
                finally:
                    _wipe(sub)
                sealed.append(WrappedShare(slot.participant, slot.signer_id, blob))
        finally:
            polynomial.wipe()
        return commitments, tuple(sealed)

    @uses_kek
    def refresh_receive(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        deals: tuple[RefreshDeal, ...],
        participants: int,
    ) -> Attestation:
        """Store old share + Σ sub-shares at `to_epoch` (the old epoch stays until deleted).

        Every dealer's commitments must have a zero constant and our sub-share must match
        them; the new share is checked against the summed commitments before it is kept.
        """
        _check_identity_id(identity_id)
        record = self._record(identity_id, _check_epoch(from_epoch))
        if _check_epoch(to_epoch) <= from_epoch:
            raise BadRequestError("a refresh must move to a later epoch")
        if not _is_int(participants) or not (
            max(2, record.threshold, record.participant + 1) <= participants <= MAX_PARTICIPANTS
        ):
            raise BadRequestError("participants must be n, with t <= n")
        if record.participants and participants != record.participants:
            raise BadRequestError(f"this identity has {record.participants} participants")
        deals = tuple(deals)
        if not 1 <= len(deals) <= participants:
            raise BadRequestError(f"a refresh takes 1..{participants} dealings")
        if len({d.dealer for d in deals}) != len(deals):
            raise BadRequestError("one dealing per dealer")
        if to_epoch in self._store.epochs(identity_id):
            raise ShareExistsError(f"this signer already holds {identity_id!r} at epoch {to_epoch}")
        for deal in deals:
            if not isinstance(deal, RefreshDeal) or (
                deal.identity_id,
                deal.from_epoch,
                deal.to_epoch,
            ) != (identity_id, from_epoch, to_epoch):
                raise BadRequestError("a dealing belongs to another identity or refresh")
            if not _is_int(deal.dealer) or not 0 <= deal.dealer < participants:
                raise BadRequestError("refresh dealer out of range")
            refresh_math.check_zero_commitments(deal.commitments, record.threshold, deal.dealer)
        new_commitments = refresh_math.summed_commitments(
            record.vss_commitments, [d.commitments for d in deals]
        )
        total = bytearray(SHARE_LEN)
        try:
            with self._share(record) as old:
                acc = int.from_bytes(old, "big")
            for deal in deals:
                mine = [w for w in deal.sealed if w.participant == record.participant]
                if len(mine) != 1:
                    raise InvalidShareError(f"refresh dealer {deal.dealer} sent us no sub-share")
                sub = bytearray(
                    self._provider.unwrap_transported(
                        _check_bytes(mine[0].blob, "blob"),
                        refresh_math.refresh_aad(
                            identity_id, deal.dealer, record.participant, to_epoch
                        ),
                    )
                )
                try:
                    if len(sub) != SHARE_LEN:
                        raise InvalidShareError("a refresh sub-share is not 32 bytes")
                    value = int.from_bytes(sub, "big")
                    refresh_math.require_consistent_share(
                        record.participant,
                        value,
                        deal.commitments,
                        f"the refresh sub-share from dealer {deal.dealer} does not match "
                        "its commitments",
                    )
                    acc = (acc + value) % curve.N
                finally:
                    _wipe(sub)
            total[:] = curve.bytes_from_int(acc)
            refresh_math.require_consistent_share(
                record.participant,
                int.from_bytes(total, "big"),
                new_commitments,
                "the refreshed share does not match the new commitments",
            )
            self._store_share(
                identity_id,
                record.participant,
                to_epoch,
                record.threshold,
                participants,
                record.group_pubkey,
                new_commitments,
                total,
            )
        finally:
            _wipe(total)
        return self._attestation(self._store.share(identity_id, to_epoch))

    # ------------------------------------------------------------------ threshold change

    @staticmethod
    def _reshape_slots(slots: tuple[ShareSlot, ...], new_threshold: int) -> tuple[ShareSlot, ...]:
        """The new set's slots: participants 0..n'-1, one each, on distinct signers."""
        n = len(slots)
        if not 2 <= n <= MAX_PARTICIPANTS:
            raise BadRequestError(f"a reshape needs 2..{MAX_PARTICIPANTS} new share slots")
        _check_threshold(new_threshold, n)
        ordered = tuple(sorted(slots, key=lambda s: s.participant))
        if [s.participant for s in ordered] != list(range(n)):
            raise BadRequestError("reshape slots must be participants 0..n'-1, one each")
        if len({s.signer_id for s in ordered}) != n:
            raise BadRequestError("every reshape slot must go to a different signer")
        return ordered

    @uses_kek
    def reshape_deal(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        quorum: tuple[int, ...],
        new_threshold: int,
        slots: tuple[ShareSlot, ...],
    ) -> ReshapeDeal:
        """Our λ-weighted resharing contribution to a new t'-of-n' set (signer/reshape.py).

        Stateless like refresh_deal: the polynomial (constant λ_i·s_i) is drawn from the
        provider RNG, evaluated for every new participant, sealed and wiped.
        """
        _check_identity_id(identity_id)
        record = self._record(identity_id, _check_epoch(from_epoch))
        if _check_epoch(to_epoch) <= from_epoch:
            raise BadRequestError("a reshape must move to a later epoch")
        ordered = self._reshape_slots(slots, new_threshold)
        bound = record.participants or MAX_PARTICIPANTS
        try:
            ids = reshape_math.check_quorum(quorum, record.threshold, bound)
        except InvalidShareError as exc:
            raise BadRequestError(str(exc)) from None
        if record.participant not in ids:
            raise BadRequestError(
                f"this signer (participant {record.participant}) is not in the quorum"
            )
        weight = reshape_math.quorum_coefficient(ids, record.participant)
        rand = _ProviderRandomness(self._provider, SHARE_LEN * (new_threshold + 1))
        try:
            with self._share(record) as share, _crypto_errors("reshape dealing"):
                polynomial = reshape_math.reshape_polynomial(
                    weight * int.from_bytes(share, "big") % curve.N, new_threshold, rand
                )
        finally:
            rand.wipe()
        n = len(ordered)
        commitments, sealed = self._sealed_evaluations(
            polynomial,
            ordered,
            lambda recipient: reshape_math.reshape_aad(
                identity_id,
                record.participant,
                recipient,
                from_epoch,
                to_epoch,
                new_threshold,
                n,
                ids,
            ),
        )
        return ReshapeDeal(
            identity_id=identity_id,
            dealer=record.participant,
            from_epoch=from_epoch,
            to_epoch=to_epoch,
            quorum=ids,
            new_threshold=new_threshold,
            new_participants=n,
            from_commitments=record.vss_commitments,
            commitments=commitments,
            sealed=sealed,
        )

    def _reshape_deals(
        self,
        identity_id: str,
        to_epoch: int,
        new_threshold: int,
        new_participants: int,
        group_pubkey: bytes,
        deals: tuple[ReshapeDeal, ...],
    ) -> tuple[ReshapeDeal, ...]:
        """The dealings, checked to describe one reshape of this identity's key, by dealer."""
        deals = tuple(deals)
        if not deals or not all(isinstance(d, ReshapeDeal) for d in deals):
            raise BadRequestError("a reshape needs the quorum's dealings")
        first = deals[0]
        shared = (
            identity_id,
            first.from_epoch,
            to_epoch,
            first.quorum,
            new_threshold,
            new_participants,
            first.from_commitments,
        )
        for d in deals:
            fields = (
                d.identity_id,
                d.from_epoch,
                d.to_epoch,
                d.quorum,
                d.new_threshold,
                d.new_participants,
                d.from_commitments,
            )
            if fields != shared:
                raise BadRequestError("the dealings belong to different identities or reshapes")
        _check_epoch(first.from_epoch)
        if to_epoch <= first.from_epoch:
            raise BadRequestError("a reshape must move to a later epoch")
        old = tuple(_check_bytes(c, "VSS commitment") for c in first.from_commitments)
        if not old or old[0] != group_pubkey:
            raise InvalidShareError("the old commitments are not of this group key")
        quorum = reshape_math.check_quorum(first.quorum, len(old), MAX_PARTICIPANTS)
        if tuple(first.quorum) != quorum or tuple(d.dealer for d in deals) != quorum:
            raise BadRequestError("one dealing per quorum member, in quorum order")
        self._check_known_identity(identity_id, first.from_epoch, group_pubkey, old)
        for d in deals:
            reshape_math.check_dealer_commitments(
                d.commitments, new_threshold, d.dealer, quorum, old
            )
        return deals

    def _check_known_identity(
        self, identity_id: str, from_epoch: int, group_pubkey: bytes, old: tuple[bytes, ...]
    ) -> None:
        """If we hold this identity already, the reshape must be of the key we know."""
        held = self._store.epochs(identity_id)
        if not held:
            return  # a new signer: the dealers' constants must still add up (checked later)
        newest = self._store.share(identity_id)
        if newest.group_pubkey != group_pubkey:
            raise InvalidShareError("the reshape names another group key than the one held")
        if from_epoch in held and self._store.share(identity_id, from_epoch).vss_commitments != old:
            raise InvalidShareError("the old commitments differ from the ones this signer holds")

    @uses_kek
    def reshape_receive(
        self,
        identity_id: str,
        to_epoch: int,
        participant: int,
        new_threshold: int,
        new_participants: int,
        group_pubkey: bytes,
        deals: tuple[ReshapeDeal, ...],
    ) -> Attestation:
        """Store Σ sub-shares as `participant`'s share at `to_epoch`; older epochs stay.

        Works whether or not we hold an older share of the identity, and whatever our
        participant id there was. Each dealer's constant must be λ_i·S_i, the constants
        must add up to the group key, and every sub-share must match its dealer's
        commitments; the sum is checked against the new commitments before it is kept.
        """
        _check_identity_id(identity_id)
        _check_epoch(to_epoch)
        _check_participant(participant)
        if not _is_int(new_participants) or not (
            max(2, participant + 1) <= new_participants <= MAX_PARTICIPANTS
        ):
            raise BadRequestError("new_participants must be n', with our participant below it")
        _check_threshold(new_threshold, new_participants)
        group_pubkey = _check_bytes(group_pubkey, "group_pubkey")
        with _crypto_errors("group key"):
            curve.point_from_cbytes(group_pubkey, what="group key")
        deals = self._reshape_deals(
            identity_id, to_epoch, new_threshold, new_participants, group_pubkey, deals
        )
        if to_epoch in self._store.epochs(identity_id):
            raise ShareExistsError(f"this signer already holds {identity_id!r} at epoch {to_epoch}")
        new_commitments = reshape_math.summed_commitments(
            [d.commitments for d in deals], group_pubkey
        )
        total = bytearray(SHARE_LEN)
        try:
            acc = 0
            for deal in deals:
                acc = (acc + self._reshape_sub_share(deal, participant)) % curve.N
            total[:] = curve.bytes_from_int(acc)
            refresh_math.require_consistent_share(
                participant,
                int.from_bytes(total, "big"),
                new_commitments,
                "the reshaped share does not match the new commitments",
            )
            self._store_share(
                identity_id,
                participant,
                to_epoch,
                new_threshold,
                new_participants,
                group_pubkey,
                new_commitments,
                total,
            )
        finally:
            _wipe(total)
        return self._attestation(self._store.share(identity_id, to_epoch))

    def _reshape_sub_share(self, deal: ReshapeDeal, participant: int) -> int:
        """Our sub-share from one dealer, opened and checked against its commitments."""
        mine = [w for w in deal.sealed if w.participant == participant]
        if len(mine) != 1:
            raise InvalidShareError(f"reshape dealer {deal.dealer} sent us no sub-share")
        sub = bytearray(
            self._provider.unwrap_transported(
                _check_bytes(mine[0].blob, "blob"),
                reshape_math.reshape_aad(
                    deal.identity_id,
                    deal.dealer,
                    participant,
                    deal.from_epoch,
                    deal.to_epoch,
                    deal.new_threshold,
                    deal.new_participants,
                    deal.quorum,
                ),
            )
        )
        try:
            if len(sub) != SHARE_LEN:
                raise InvalidShareError("a reshape sub-share is not 32 bytes")
            value = int.from_bytes(sub, "big")
            refresh_math.require_consistent_share(
                participant,
                value,
                deal.commitments,
                f"the reshape sub-share from dealer {deal.dealer} does not match its commitments",
            )
            return value
        finally:
            _wipe(sub)

    # ------------------------------------------------------------------ ChillDKG

    @contextlib.contextmanager
    def _host_key(self) -> Iterator[bytearray]:
        """Our ChillDKG host secret key, kept wrapped in the store; zeroed after use."""
        name = dkg_support.HOST_KEY_NAME
        aad = signer_key_aad(self._signer_id, name)
        wrapped = self._store.wrapped_key(name)
        if wrapped is None:
            seed = bytearray(self._provider.random_bytes(32))
            try:
                while not 0 < int.from_bytes(seed, "big") < curve.N:  # never in practice
                    seed[:] = self._provider.random_bytes(32)
                candidate = self._provider.wrap(bytes(seed), aad).to_bytes()
            finally:
                _wipe(seed)
            wrapped = self._store.put_wrapped_key_once(name, candidate)
        key = bytearray(self._provider.unwrap(WrappedBlob.from_bytes(wrapped), aad))
        try:
            yield key
        finally:
            _wipe(key)

    @uses_kek
    def dkg_host_pubkey(self) -> bytes:
        """Our long-term ChillDKG host public key (33 bytes), created on first use."""
        with self._host_key() as key:
            return chilldkg.hostpubkey_gen(bytes(key))

    @uses_kek
    def dkg_step1(self, identity_id: str, hostpubkeys: tuple[bytes, ...], threshold: int) -> bytes:
        """Start a ChillDKG session for `identity_id` (our index: our host key's position)."""
        _check_identity_id(identity_id)
        if self._store.epochs(identity_id):
            raise ShareExistsError(f"this signer already holds a share of {identity_id!r}")
        params = chilldkg.SessionParams(
            tuple(_check_bytes(h, "host public key") for h in hostpubkeys),
            _check_threshold(threshold, len(hostpubkeys)),
        )
        random = self._provider.random_bytes(32)
        with self._host_key() as key, _crypto_errors("DKG step 1"):
            state1, pmsg1 = chilldkg.participant_step1(bytes(key), params, random)
        self._dkg_sessions.put(dkg_support.Session(identity_id, state1))
        return pmsg1

    @uses_kek
    def dkg_step2(self, identity_id: str, cmsg1: bytes) -> bytes:
        """Check the coordinator's message; our certificate signature (pmsg2)."""
        session = self._dkg_sessions.take(_check_identity_id(identity_id))
        if not isinstance(session.state, chilldkg.ParticipantState1):
            raise BadRequestError("the DKG session is not waiting for step 2")
        aux = self._provider.random_bytes(32)
        with self._host_key() as key, _crypto_errors("DKG step 2"):
            state2, pmsg2 = chilldkg.participant_step2(
                bytes(key), session.state, _check_bytes(cmsg1, "cmsg1"), aux
            )
        self._dkg_sessions.put(dkg_support.Session(identity_id, state2))
        return pmsg2

    @uses_kek
    def dkg_finalize(self, identity_id: str, cmsg2: bytes) -> Attestation:
        """Check the certificate, then keep our share wrapped as epoch 0 of the identity."""
        session = self._dkg_sessions.take(_check_identity_id(identity_id))
        state = session.state
        if not isinstance(state, chilldkg.ParticipantState2):
            raise BadRequestError("the DKG session is not waiting for its certificate")
        with _crypto_errors("DKG finalize"):
            output, recovery = chilldkg.participant_finalize(state, _check_bytes(cmsg2, "cmsg2"))
            commitments = dkg_support.tweaked_vss_commitments(recovery)
        dkg_support.check_commitments(output, commitments)
        with self._host_key() as key:
            ours = chilldkg.hostpubkey_gen(bytes(key))
        participant = state.params.hostpubkeys.index(ours)
        assert output.secshare is not None
        share = bytearray(output.secshare)
        try:
            self._store_share(
                identity_id,
                participant,
                0,
                state.params.t,
                state.params.n,
                output.threshold_pubkey,
                commitments,
                share,
            )
        finally:
            _wipe(share)
        return self._attestation(self._store.share(identity_id, 0))

    # ------------------------------------------------------------------ signing

    @uses_kek
    def commitments(self, count: int) -> tuple[NonceCommitment, ...]:
        return self._pool.commitments(count)

    def _plan(self, request: SignRequest, row: NonceRow | None) -> _SignPlan:
        """Every public check of one request; raises before any secret is touched."""
        if not isinstance(request, SignRequest):
            raise BadRequestError("requests must be SignRequest objects")
        _check_identity_id(request.identity_id)
        record = self._record(request.identity_id, _check_epoch(request.epoch))
        ids = _signing_ids(request.ids, record)
        pubnonces = tuple(request.pubnonces)
        if len(pubnonces) != len(ids):
            raise BadRequestError("pubnonces must be aligned with ids")
        if row is None or row.state == NonceState.FRESH:
            raise UnknownNonceError(
                f"nonce {request.nonce_id!r} was never handed out by this signer"
            )
        if row.state == NonceState.CONSUMED:
            raise NonceConsumedError(f"nonce {request.nonce_id!r} has already been used")
        ours = pubnonces[ids.index(record.participant)]
        if not isinstance(ours, bytes | bytearray) or not curve.ct_equal(bytes(ours), row.pubnonce):
            raise NonceMismatchError(
                f"the public nonce for participant {record.participant} is not the one "
                f"handed out as {request.nonce_id!r}"
            )
        event = request.event
        if not isinstance(event, EventToSign) or event.pubkey != _xonly_hex(record.group_pubkey):
            raise BadRequestError(f"the event's pubkey is not the key of {record.identity_id!r}")
        message = event_message(event)
        n = record.participants or max(max(ids) + 1, 2)
        with _crypto_errors("signing session"):
            signers = _signers_context(
                n, record.threshold, ids, record.vss_commitments, record.group_pubkey
            )
            aggnonce = frost.nonce_agg(pubnonces, ids)
            session = frost.SessionContext(signers, aggnonce, (), (), message)
        return _SignPlan(request, record, row, message, session)

    @uses_kek
    def partial_sign(self, requests: tuple[SignRequest, ...]) -> tuple[PartialSignature, ...]:
        """One partial signature per request, each with its own nonce.

        Order matters: all checks, then unwrap (share, nonce seeds), then the durable
        consumption of every nonce of the batch in one transaction, and only then the
        signatures. A crash after the commit burns the nonces; it never reuses one.
        """
        batch = tuple(requests)
        if not 1 <= len(batch) <= MAX_SIGN_BATCH:
            raise BadRequestError(f"a signing batch holds 1..{MAX_SIGN_BATCH} requests")
        nonce_ids = [r.nonce_id for r in batch]
        if not all(isinstance(i, str) and i for i in nonce_ids):
            raise BadRequestError("every request needs a nonce id")
        if len(set(nonce_ids)) != len(nonce_ids):
            # Two messages under one nonce would hand the co-signers our share.
            raise BadRequestError("every request of a batch must use its own nonce")
        rows = self._store.nonce_rows(nonce_ids)
        plans = [self._plan(r, rows.get(r.nonce_id)) for r in batch]

        shares: dict[tuple[str, int], bytearray] = {}
        seeds: dict[str, bytearray] = {}
        try:
            with contextlib.ExitStack() as stack:
                for plan in plans:
                    key = (plan.record.identity_id, plan.record.epoch)
                    if key not in shares:
                        shares[key] = stack.enter_context(self._share(plan.record))
                seeds = self._pool.unwrap_seeds(plan.row for plan in plans)
                self._store.consume_nonces([(plan.row.nonce_id, plan.message) for plan in plans])
                out = []
                for plan in plans:
                    secnonce = secret_nonce_for(seeds[plan.row.batch_id], plan.row)
                    share = shares[(plan.record.identity_id, plan.record.epoch)]
                    with _crypto_errors("partial signing"):
                        # frost.sign accepts a bytearray (it only reads it); passing the
                        # buffer itself avoids an immutable copy of the share we cannot wipe.
                        psig = frost.sign(
                            secnonce, cast(bytes, share), plan.record.participant, plan.session
                        )
                    out.append(PartialSignature(plan.record.participant, plan.row.nonce_id, psig))
        finally:
            wipe_seeds(seeds)
        return tuple(out)

    # ------------------------------------------------------------------ ECDH

    @uses_kek
    def ecdh_share(self, request: EcdhRequest) -> EcdhShareReply:
        """λ_i·s_i·P with a DLEQ proof; the proof's randomness comes from the provider."""
        if not isinstance(request, EcdhRequest):
            raise BadRequestError("request must be an EcdhRequest")
        _check_identity_id(request.identity_id)
        record = self._record(request.identity_id, _check_epoch(request.epoch))
        ids = _signing_ids(request.ids, record)
        peer = _check_bytes(request.peer_pubkey, "peer_pubkey")
        with _crypto_errors("ECDH"):
            ecdh.peer_point(peer)
        rand = self._provider.random_bytes(32)
        with self._share(record) as share, _crypto_errors("ECDH"):
            result = ecdh.ecdh_share(
                int.from_bytes(share, "big"), record.participant, ids, peer, rand
            )
        return EcdhShareReply(record.participant, result.point, result.proof)

    # ------------------------------------------------------------------ views and lifecycle

    def attest(self, identity_id: str) -> Attestation:
        return self._attestation(self._record(_check_identity_id(identity_id)))

    def held_share(self, identity_id: str) -> HeldShare:
        record = self._record(_check_identity_id(identity_id))
        return HeldShare(
            identity_id=record.identity_id,
            participant=record.participant,
            epoch=record.epoch,
            threshold=record.threshold,
            group_pubkey=record.group_pubkey,
            pubshare=_pubshare(record.participant, record.vss_commitments),
            vss_commitments=record.vss_commitments,
        )

    @uses_kek
    def export_share(self, identity_id: str, recipient_transport_key: bytes) -> bytes:
        """Our newest share sealed to another HSM's transport key (receive_share opens it)."""
        record = self._record(_check_identity_id(identity_id))
        recipient = _check_bytes(recipient_transport_key, "recipient_transport_key")
        with self._share(record) as share:
            return self._provider.wrap_for(
                recipient,
                bytes(share),
                transport_aad(record.identity_id, record.participant, record.epoch),
            )

    def delete_share(self, identity_id: str, epoch: int | None = None) -> None:
        """Delete the share (every epoch, or one): the row, public data included, is gone."""
        _check_identity_id(identity_id)
        if epoch is not None:
            _check_epoch(epoch)
        if not self._store.delete_shares(identity_id, epoch):
            where = "" if epoch is None else f" at epoch {epoch}"
            raise ShareNotFoundError(f"this signer holds no share of {identity_id!r}{where}")

    def rewrap_all(self, *, stale_only: bool = False) -> int:
        """Rewrap every share, nonce seed and signer key under the provider's current KEK.

        One transaction: if the provider fails half way, nothing changed. With
        `stale_only`, blobs already under the current KEK are left as they are. Returns
        the number of wrapped values rewrapped.
        """
        current = self._provider.current_kek_id()
        count = 0

        def rewrapped(blob_bytes: bytes, aad: bytes) -> bytes:
            nonlocal count
            blob = WrappedBlob.from_bytes(blob_bytes)
            if stale_only and blob.kek_id == current:
                return blob_bytes
            count += 1
            return self._provider.rewrap(blob, aad).to_bytes()

        def share(record: ShareRecord) -> bytes:
            aad = share_aad(record.identity_id, record.participant, record.epoch)
            return rewrapped(record.wrapped_share, aad)

        def seed(batch_id: str, wrapped: bytes) -> bytes:
            return rewrapped(wrapped, nonce_seed_aad(self._signer_id, batch_id))

        def key(name: str, wrapped: bytes) -> bytes:
            return rewrapped(wrapped, signer_key_aad(self._signer_id, name))

        self._store.rewrap_all(share, seed, key)
        return count

    def rotate_kek(self) -> KekRotation:
        """New KEK, everything rewrapped under it, every older KEK destroyed.

        Signing continues throughout: the bulk rewrap runs beside it; only the last
        step (rewrap what operations in flight wrapped under the old KEK meanwhile,
        then destroy it) waits for those operations and holds new ones back briefly.
        Interrupted, it leaves the old KEK in place and a rerun finishes the job.
        """
        with self._rotation_lock:
            new = self._provider.create_kek()
            with self._kek_guard.shared():
                rewrapped = self.rewrap_all()
            with self._kek_guard.exclusive():
                rewrapped += self.rewrap_all(stale_only=True)
                retired = tuple(k for k in self._provider.list_kek_ids() if k != new)
                for kek_id in retired:
                    self._provider.destroy_kek(kek_id)
            return KekRotation(new, retired, rewrapped)

    # ------------------------------------------------------------------ HTTP identity

    @uses_kek
    def response_signing_key(self) -> Ed25519PrivateKey:
        """The signer's Ed25519 key for signed HTTP replies, kept wrapped in the store.

        Created on first use from provider randomness; its public half goes into the
        gateway's configuration (`public_key` of an http signer).
        """
        aad = signer_key_aad(self._signer_id, HTTP_KEY_NAME)
        wrapped = self._store.wrapped_key(HTTP_KEY_NAME)
        if wrapped is None:
            seed = bytearray(self._provider.random_bytes(32))
            try:
                candidate = self._provider.wrap(bytes(seed), aad).to_bytes()
            finally:
                _wipe(seed)
            # Two processes racing on first start agree on whichever key landed first.
            wrapped = self._store.put_wrapped_key_once(HTTP_KEY_NAME, candidate)
        raw = bytearray(self._provider.unwrap(WrappedBlob.from_bytes(wrapped), aad))
        try:
            return Ed25519PrivateKey.from_private_bytes(bytes(raw))
        finally:
            _wipe(raw)
