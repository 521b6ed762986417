"""A wrapped value changed in the store (a flipped bit, a row moved to another identity,
participant or epoch) fails authentication: TamperedCiphertextError, never a wrong share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nostr_passport.errors import TamperedCiphertextError
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.protocol import EcdhRequest
from nostr_passport.signer.store import NonceState

from .conftest import SignerFactory
from .helpers import deal, event_for, sign_events, sign_requests

PEER = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


@contextmanager
def _db(signer: LocalSigner) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(signer.store.path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _flip_last_bit(blob: bytes) -> bytes:
    # The last byte is in the GCM tag/ciphertext, not the blob header.
    return blob[:-1] + bytes([blob[-1] ^ 1])


def test_tampered_share_rows_are_refused(make_signers: SignerFactory) -> None:
    signers = make_signers(3)
    identity = deal(signers, 2)
    other = deal(signers, 2, identity_id="other")
    signer = signers[1]
    sid = identity.identity_id
    transport = signers[2].info().transport_public_key

    def refused(epoch: int = 0) -> None:
        with pytest.raises(TamperedCiphertextError):
            signer.export_share(sid, transport)
        with pytest.raises(TamperedCiphertextError):
            signer.ecdh_share(EcdhRequest(sid, epoch, (0, 1), PEER))

    with _db(signer) as db:
        (original,) = db.execute(
            "SELECT wrapped_share FROM shares WHERE identity_id = ?", (sid,)
        ).fetchone()

        db.execute(
            "UPDATE shares SET wrapped_share = ? WHERE identity_id = ?",
            (_flip_last_bit(bytes(original)), sid),
        )
        refused()
        # The bit flip also stops signing, and before the nonce is spent.
        batches = sign_requests(identity, (0, 1), [event_for(identity)])
        with pytest.raises(TamperedCiphertextError):
            signer.partial_sign(batches[1])
        db.execute("UPDATE shares SET wrapped_share = ? WHERE identity_id = ?", (original, sid))
        signer.partial_sign(batches[1])  # same nonce, now fine: it was never consumed

        # Another participant's slot (AAD binds the participant).
        db.execute("UPDATE shares SET participant = 2 WHERE identity_id = ?", (sid,))
        with pytest.raises(TamperedCiphertextError):
            signer.export_share(sid, transport)
        with pytest.raises(TamperedCiphertextError):
            signer.ecdh_share(EcdhRequest(sid, 0, (0, 2), PEER))
        db.execute("UPDATE shares SET participant = 1 WHERE identity_id = ?", (sid,))

        # Another epoch (AAD binds the epoch).
        db.execute("UPDATE shares SET epoch = 5 WHERE identity_id = ?", (sid,))
        assert signer.held_share(sid).epoch == 5
        refused(epoch=5)
        db.execute("UPDATE shares SET epoch = 0 WHERE identity_id = ?", (sid,))

        # Another identity's wrapped share pasted into this row (AAD binds the identity).
        (foreign,) = db.execute(
            "SELECT wrapped_share FROM shares WHERE identity_id = ?", (other.identity_id,)
        ).fetchone()
        db.execute("UPDATE shares SET wrapped_share = ? WHERE identity_id = ?", (foreign, sid))
        refused()
        db.execute("UPDATE shares SET wrapped_share = ? WHERE identity_id = ?", (original, sid))

    sign_events(identity, (1, 2), [event_for(identity)])


def test_tampered_nonce_seed_is_refused_and_burns_nothing(make_signers: SignerFactory) -> None:
    signers = make_signers(3)
    identity = deal(signers, 2)
    batches = sign_requests(identity, (0, 1), [event_for(identity)])
    signer = signers[0]
    (request,) = batches[0]
    with _db(signer) as db:
        (batch_id,) = db.execute(
            "SELECT batch_id FROM nonces WHERE nonce_id = ?", (request.nonce_id,)
        ).fetchone()
        (seed,) = db.execute(
            "SELECT wrapped_seed FROM nonce_batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        db.execute(
            "UPDATE nonce_batches SET wrapped_seed = ? WHERE batch_id = ?",
            (_flip_last_bit(bytes(seed)), batch_id),
        )
        with pytest.raises(TamperedCiphertextError):
            signer.partial_sign(batches[0])
        (state,) = db.execute(
            "SELECT state FROM nonces WHERE nonce_id = ?", (request.nonce_id,)
        ).fetchone()
        assert state == NonceState.HANDED_OUT
        # A seed moved to another batch row does not open either (AAD binds the batch).
        other_batch = db.execute(
            "SELECT batch_id, wrapped_seed FROM nonce_batches WHERE batch_id != ? LIMIT 1",
            (batch_id,),
        ).fetchone()
        if other_batch is None:
            signer.nonce_pool.refill()
            other_batch = db.execute(
                "SELECT batch_id, wrapped_seed FROM nonce_batches WHERE batch_id != ? LIMIT 1",
                (batch_id,),
            ).fetchone()
        db.execute(
            "UPDATE nonce_batches SET wrapped_seed = ? WHERE batch_id = ?",
            (other_batch[1], batch_id),
        )
        with pytest.raises(TamperedCiphertextError):
            signer.partial_sign(batches[0])
        db.execute("UPDATE nonce_batches SET wrapped_seed = ? WHERE batch_id = ?", (seed, batch_id))
    psigs = {i: signers[i].partial_sign(batches[i]) for i in (0, 1)}
    assert all(len(p) == 1 for p in psigs.values())
