"""The signer's pool of preprocessed FROST nonces: batched, wrapped, single use.

A batch costs two provider calls whatever its size: one `random_bytes(32)` for a batch
seed and one `wrap` of that seed under the KEK. The i-th nonce of the batch is BIP 445
NonceGen with rand' = hash_{NostrPassport/nonce}(seed || i), so only the wrapped seed and
the public nonces are stored; the secret nonce is re-derived when it is used.

Lifecycle of a nonce: fresh -> handed_out (its public nonce given to a coordinator by
`commitments`) -> consumed. Consumption is committed to disk BEFORE the partial
signature is computed (store.consume_nonces), so no crash or replay can make the
signer use one secret nonce for two different partial signatures.
"""

from __future__ import annotations

import secrets
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from nostr_passport.crypto import curve, frost
from nostr_passport.errors import BadRequestError, PassportError
from nostr_passport.hsm.provider import HsmProvider, WrappedBlob
from nostr_passport.signer.aad import nonce_seed_aad
from nostr_passport.signer.errors import NonceConsumedError
from nostr_passport.signer.protocol import NonceCommitment
from nostr_passport.signer.store import NonceBatch, NonceRow, SignerStore

NONCE_TAG = "NostrPassport/nonce"
SEED_LEN = 32
MAX_BATCH_SIZE = 10_000
MAX_COMMITMENTS_PER_CALL = 10_000


def nonce_rand(seed: bytes | bytearray, index: int) -> bytes:
    """rand' of the `index`-th nonce of a batch (BIP 445 NonceGen's random input)."""
    return curve.tagged_hash(NONCE_TAG, bytes(seed) + struct.pack(">I", index))


def derive_nonce(seed: bytes | bytearray, index: int) -> tuple[frost.SecretNonce, bytes]:
    """The `index`-th (secret nonce, public nonce) of the batch with this seed."""
    return frost.nonce_gen_internal(nonce_rand(seed, index), None, None, None, None, None)


@dataclass(frozen=True)
class NoncePoolStats:
    fresh: int
    handed_out: int
    consumed: int


class NoncePool:
    """Nonce batches of one signer on one provider and one store."""

    def __init__(
        self, signer_id: str, provider: HsmProvider, store: SignerStore, batch_size: int = 100
    ) -> None:
        if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise BadRequestError(f"nonce batch size must be in 1..{MAX_BATCH_SIZE}")
        self.signer_id = signer_id
        self.batch_size = batch_size
        # Refill before the pool runs dry, so a burst of commitments rarely waits on the HSM.
        self.low_water = max(1, batch_size // 2)
        self._provider = provider
        self._store = store
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ batches

    def refill(self) -> int:
        """Generate and store one batch; returns how many nonces it added."""
        batch_id = secrets.token_hex(8)
        seed = bytearray(self._provider.random_bytes(SEED_LEN))
        try:
            wrapped = self._provider.wrap(bytes(seed), nonce_seed_aad(self.signer_id, batch_id))
            entries = tuple(
                (f"{batch_id}.{i}", i, derive_nonce(seed, i)[1]) for i in range(self.batch_size)
            )
        finally:
            seed[:] = bytes(len(seed))
        self._store.add_nonce_batch(NonceBatch(batch_id, wrapped.to_bytes(), entries))
        return len(entries)

    def commitments(self, count: int) -> tuple[NonceCommitment, ...]:
        """Hand out `count` fresh public nonces (durably marked handed out)."""
        if isinstance(count, bool) or not isinstance(count, int):
            raise BadRequestError("count must be an integer")
        if not 1 <= count <= MAX_COMMITMENTS_PER_CALL:
            raise BadRequestError(f"count must be in 1..{MAX_COMMITMENTS_PER_CALL}")
        with self._lock:
            fresh = self._store.count_fresh_nonces()
            while fresh < count + self.low_water:
                fresh += self.refill()
            rows = self._store.hand_out_nonces(count)
        if len(rows) != count:
            raise PassportError("nonce pool handed out fewer nonces than it holds")
        return tuple(NonceCommitment(row.nonce_id, row.pubnonce) for row in rows)

    def stats(self) -> NoncePoolStats:
        counts = self._store.nonce_state_counts()
        return NoncePoolStats(*(counts[state] for state in sorted(counts)))

    # ------------------------------------------------------------------ use

    def unwrap_seeds(self, rows: Iterable[NonceRow]) -> dict[str, bytearray]:
        """The plaintext seed of every batch among `rows` (one unwrap per batch).

        Call before `store.consume_nonces`: consuming a batch's last nonce drops its seed.
        The caller wipes the returned buffers (`wipe_seeds`).
        """
        seeds: dict[str, bytearray] = {}
        try:
            for row in rows:
                if row.batch_id in seeds:
                    continue
                wrapped = self._store.wrapped_seed(row.batch_id)
                if wrapped is None:
                    raise NonceConsumedError(f"nonce {row.nonce_id!r} has already been used")
                seeds[row.batch_id] = bytearray(
                    self._provider.unwrap(
                        WrappedBlob.from_bytes(wrapped),
                        nonce_seed_aad(self.signer_id, row.batch_id),
                    )
                )
        except BaseException:
            wipe_seeds(seeds)
            raise
        return seeds

    def rewrap_seed(self, batch_id: str, wrapped: bytes) -> bytes:
        aad = nonce_seed_aad(self.signer_id, batch_id)
        return self._provider.rewrap(WrappedBlob.from_bytes(wrapped), aad).to_bytes()


def secret_nonce_for(seed: bytearray, row: NonceRow) -> frost.SecretNonce:
    """Re-derive the secret nonce of `row`; refuses if it does not match the stored pubnonce."""
    secnonce, pubnonce = derive_nonce(seed, row.idx)
    if not curve.ct_equal(pubnonce, row.pubnonce):
        # A seed row swapped under an intact wrap cannot happen (the AAD binds the
        # batch); this guards against store corruption all the same.
        secnonce.export_bytes()  # consume (and so wipe) the stray nonce
        raise PassportError(f"nonce {row.nonce_id!r} does not match its stored public nonce")
    return secnonce


def wipe_seeds(seeds: dict[str, bytearray]) -> None:
    for seed in seeds.values():
        seed[:] = bytes(len(seed))
    seeds.clear()
