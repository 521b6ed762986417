"""The signer contract, run the same on the simulator and on SoftHSM2 (`kind` fixture)."""

from __future__ import annotations

import itertools
import json
import os

import pytest
from coincurve import PrivateKey, PublicKey

from nostr_passport.crypto import curve, ecdh
from nostr_passport.errors import BadRequestError, TamperedCiphertextError
from nostr_passport.hsm.provider import verify_attestation_signature
from nostr_passport.signer.attestation import verified_statement
from nostr_passport.signer.errors import (
    EpochMismatchError,
    InvalidAttestationError,
    InvalidShareError,
    NonceConsumedError,
    NonceMismatchError,
    ShareExistsError,
    ShareNotFoundError,
    UnknownNonceError,
)
from nostr_passport.signer.protocol import Attestation, EcdhRequest, SignRequest

from .conftest import SignerFactory
from .helpers import Identity, deal, event_for, sign_events, sign_requests


@pytest.mark.parametrize(("t", "n"), [(2, 3), (3, 5)])
def test_keygen_then_every_subset_of_t_signers_signs(
    make_signers: SignerFactory, t: int, n: int
) -> None:
    signers = make_signers(n)
    identity = deal(signers, t)
    dealt = identity.dealt
    assert len(dealt.vss_commitments) == t
    assert dealt.vss_commitments[0] == dealt.group_pubkey
    for i, signer in enumerate(signers):
        held = signer.held_share(identity.identity_id)
        assert (held.participant, held.epoch, held.threshold) == (i, 0, t)
        assert held.group_pubkey == dealt.group_pubkey
        assert held.pubshare == dealt.pubshares[i]
        assert held.vss_commitments == dealt.vss_commitments
    subsets = list(itertools.combinations(range(n), t))
    assert len(subsets) == (3 if n == 3 else 10)
    for ids in subsets:
        # Two events per batch: one round, one nonce per event.
        sign_events(identity, ids, [event_for(identity, "a"), event_for(identity, 'b ü\n"')])


@pytest.mark.parametrize(("t", "n"), [(2, 3), (3, 5)])
def test_ecdh_shares_carry_valid_proofs_and_combine_to_the_single_key_ecdh(
    make_signers: SignerFactory, t: int, n: int
) -> None:
    signers = make_signers(n)
    identity = deal(signers, t)
    peer = PrivateKey(os.urandom(32))
    peer_xonly = peer.public_key.format()[1:]
    # What the peer computes alone: x(p·Q). Parity of either key does not change x.
    expected = curve.xbytes(PublicKey(identity.dealt.group_pubkey).multiply(peer.secret))
    pubshares = dict(enumerate(identity.dealt.pubshares))
    for ids in itertools.combinations(range(n), t):
        request = EcdhRequest(identity.identity_id, 0, ids, peer_xonly)
        replies = [signers[i].ecdh_share(request) for i in ids]
        shares = [ecdh.EcdhShare(r.participant, r.point, r.proof) for r in replies]
        assert ecdh.combine_ecdh_shares(shares, pubshares, ids, peer_xonly) == expected


def _altered_statements(statement: bytes) -> list[bytes]:
    """The statement with each field (provider fields included) changed in turn."""
    data = json.loads(statement)
    variants = []

    def changed(value: object) -> object:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return value + 1
        assert isinstance(value, str)
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"

    for key, value in data.items():
        if isinstance(value, dict):
            for sub in value:
                copy = json.loads(statement)
                copy[key][sub] = changed(value[sub])
                variants.append(copy)
        else:
            copy = json.loads(statement)
            copy[key] = changed(value)
            variants.append(copy)
    return [json.dumps(v, sort_keys=True, separators=(",", ":")).encode() for v in variants]


def test_attestations_verify_and_fail_when_any_field_is_altered(
    make_signers: SignerFactory,
) -> None:
    signers = make_signers(3)
    identity = deal(signers, 2)
    for i, signer in enumerate(signers):
        info = signer.info()
        attestation = signer.attest(identity.identity_id)
        assert attestation.public_key == info.attestation_public_key
        statement = verified_statement(attestation, info.attestation_public_key)
        assert statement.identity_id == identity.identity_id
        assert statement.participant == i
        assert statement.pubshare == identity.dealt.pubshares[i]
        assert statement.group_pubkey == identity.dealt.group_pubkey
        assert (statement.epoch, statement.threshold) == (0, 2)
        assert statement.signer_id == signer.signer_id
        assert statement.provider_kind == info.provider_kind
        assert statement.provider_serial == info.serial
        assert statement.provider_simulated == info.simulated

        variants = _altered_statements(attestation.statement)
        assert len(variants) == 14  # 8 top-level fields + 6 provider fields
        for altered in variants:
            assert not verify_attestation_signature(
                attestation.public_key, altered, attestation.signature
            )
            with pytest.raises(InvalidAttestationError):
                verified_statement(
                    Attestation(altered, attestation.signature, info.attestation_public_key)
                )
        # Another signer's key does not verify it either.
        other = signers[(i + 1) % 3].info().attestation_public_key
        with pytest.raises(InvalidAttestationError):
            verified_statement(Attestation(attestation.statement, attestation.signature, other))
        with pytest.raises(InvalidAttestationError):
            verified_statement(attestation, expected_public_key=other)
    # The dealer's attestation from keygen is as good as a later one.
    dealer_statement = verified_statement(identity.dealt.dealer_attestation)
    assert dealer_statement.participant == 0


def test_single_use_nonces_and_request_checks(make_signers: SignerFactory) -> None:
    signers = make_signers(3)
    identity = deal(signers, 2)
    ids = (0, 1)
    batches = sign_requests(identity, ids, [event_for(identity)])
    (request,) = batches[0]
    signers[0].partial_sign((request,))
    # A replay, and the same nonce for another message: both refused.
    with pytest.raises(NonceConsumedError):
        signers[0].partial_sign((request,))
    other_event = event_for(identity, "something else")
    with pytest.raises(NonceConsumedError):
        signers[0].partial_sign((_with(request, event=other_event),))

    # A batch that uses one nonce twice is refused as a whole, and burns nothing.
    (fresh,) = sign_requests(identity, ids, [event_for(identity)])[0]
    twice = (fresh, _with(fresh, event=other_event))
    with pytest.raises(BadRequestError, match="own nonce"):
        signers[0].partial_sign(twice)

    own = fresh.pubnonces[0]
    cases: list[tuple[SignRequest, type[Exception]]] = [
        (_with(fresh, pubnonces=(fresh.pubnonces[1], own)), NonceMismatchError),
        (_with(fresh, nonce_id="never-handed-out"), UnknownNonceError),
        (_with(fresh, event=_with_pubkey(fresh, "ab" * 32)), BadRequestError),
        (_with(fresh, epoch=1), EpochMismatchError),
        (_with(fresh, identity_id="unknown"), ShareNotFoundError),
        (_with(fresh, ids=(1, 2)), BadRequestError),  # we are not in the signer set
        (_with(fresh, ids=(0,), pubnonces=(own,)), BadRequestError),  # fewer than t
        (_with(fresh, ids=(0, 0)), BadRequestError),
        (_with(fresh, pubnonces=(own, b"\x05" * 66)), BadRequestError),
    ]
    for bad, error in cases:
        with pytest.raises(error):
            signers[0].partial_sign((bad,))
    # None of the refusals consumed the nonce: the honest request still signs.
    signers[0].partial_sign((fresh,))
    # A nonce that exists but was never handed out cannot sign either.
    stats = signers[0].nonce_pool.stats()
    assert stats.fresh > 0


def _with(request: SignRequest, **changes: object) -> SignRequest:
    from dataclasses import replace

    return replace(request, **changes)  # type: ignore[arg-type]


def _with_pubkey(request: SignRequest, pubkey: str) -> object:
    from dataclasses import replace

    return replace(request.event, pubkey=pubkey)


def test_commitments_refill_in_batches(make_signers: SignerFactory) -> None:
    (signer, *_) = make_signers(2)
    first = signer.commitments(250)
    second = signer.commitments(3)
    ids = [c.nonce_id for c in first + second]
    assert len(set(ids)) == len(ids)
    assert len({c.pubnonce for c in first + second}) == len(ids)
    stats = signer.nonce_pool.stats()
    assert stats.handed_out == 253
    assert stats.fresh >= signer.nonce_pool.low_water
    with pytest.raises(BadRequestError):
        signer.commitments(0)


def test_receive_share_checks_commitments_and_binding(make_signers: SignerFactory) -> None:
    signers = make_signers(3)
    identity = deal(signers, 2)
    dealt = identity.dealt
    # Keygen again on the dealer, to get a share for signer 1 of another identity.
    other = deal(signers, 2, identity_id="other")
    blob = next(w.blob for w in other.dealt.wrapped_shares if w.participant == 1)
    # Receiving the same share twice is an idempotent retry.
    signers[1].receive_share(
        "other", 1, 0, 2, other.dealt.group_pubkey, other.dealt.vss_commitments, blob
    )
    # Commitments of another identity: the share does not match them.
    with pytest.raises(InvalidShareError):
        signers[1].receive_share("other", 1, 0, 2, dealt.group_pubkey, dealt.vss_commitments, blob)
    # A group key that is not the constant commitment.
    with pytest.raises(InvalidShareError):
        signers[1].receive_share(
            "other", 1, 0, 2, dealt.group_pubkey, other.dealt.vss_commitments, blob
        )
    # The transport AAD binds identity, participant and epoch.
    for identity_id, participant, epoch in (("moved", 1, 0), ("other", 2, 0), ("other", 1, 1)):
        with pytest.raises(TamperedCiphertextError):
            signers[1].receive_share(
                identity_id,
                participant,
                epoch,
                2,
                other.dealt.group_pubkey,
                other.dealt.vss_commitments,
                blob,
            )
    # Dealing an identity the dealer already holds is refused before any keygen.
    with pytest.raises(ShareExistsError):
        deal(identity.signers, 2, identity_id=identity.identity_id)


def test_export_share_migrates_and_delete_leaves_nothing(make_signers: SignerFactory) -> None:
    signers = make_signers(4)
    identity = deal(signers[:3], 2)
    newcomer = signers[3]
    blob = signers[1].export_share(identity.identity_id, newcomer.info().transport_public_key)
    held = signers[1].held_share(identity.identity_id)
    newcomer.receive_share(
        identity.identity_id,
        1,
        held.epoch,
        held.threshold,
        held.group_pubkey,
        held.vss_commitments,
        blob,
    )
    signers[1].delete_share(identity.identity_id)
    with pytest.raises(ShareNotFoundError):
        signers[1].held_share(identity.identity_id)
    with pytest.raises(ShareNotFoundError):
        signers[1].delete_share(identity.identity_id)
    migrated = Identity(identity.identity_id, identity.dealt, (signers[0], newcomer, signers[2]))
    sign_events(migrated, (0, 1), [event_for(migrated)])
    sign_events(migrated, (1, 2), [event_for(migrated)])
    raw = signers[1].store.path.read_bytes()
    assert identity.identity_id.encode() not in raw


def test_rewrap_all_moves_everything_to_the_new_kek(make_signers: SignerFactory) -> None:
    signers = make_signers(3)
    identity = deal(signers, 2)
    ready = sign_requests(identity, (0, 1), [event_for(identity)])  # handed-out nonces
    signer = signers[0]
    old_kek = signer.provider.current_kek_id()
    new_kek = signer.provider.create_kek()
    assert new_kek != old_kek
    count = signer.rewrap_all()
    assert count >= 2  # the share and at least one nonce seed
    signer.provider.destroy_kek(old_kek)
    # Nonces handed out before the rotation still sign, and so does the share.
    psigs = signer.partial_sign(ready[0])
    assert len(psigs) == 1
    sign_events(identity, (0, 2), [event_for(identity)])
