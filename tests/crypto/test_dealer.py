"""Trusted dealer: shapes, randomness handling, wiping, and secrets kept out of reprs."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from nostr_passport.crypto import curve, dealer
from nostr_passport.crypto.curve import N
from nostr_passport.crypto.errors import CryptoError, InvalidContributionError

SECRET = 0x0D004150D27C3BF2A42F312683D35FAC7394B1E9E318249C1BFE7F0795A83114


def _scripted_rand(values: list[int]) -> Callable[[int], bytes]:
    """A randomness source that returns the given 32-byte values in order."""
    it: Iterator[int] = iter(values)

    def rand(k: int) -> bytes:
        assert k == 32
        return next(it).to_bytes(32, "big")

    return rand


def _mul_g(k: int) -> bytes:
    return curve.cbytes_ext(curve.point_mul_g(k))


def test_split_shapes_and_public_data() -> None:
    out = dealer.split(SECRET, 3, 5)
    assert out.threshold == 3 and out.n == 5
    assert [s.participant for s in out.shares] == [0, 1, 2, 3, 4]
    assert len(out.vss_commitments) == 3
    assert all(len(c) == 33 for c in out.vss_commitments)
    assert out.group_pubkey == _mul_g(SECRET)
    for share in out.shares:
        assert out.pubshares[share.participant] == _mul_g(share.value)
        assert (
            dealer.pubshare_from_commitments(share.participant, out.vss_commitments)
            == (out.pubshares[share.participant])
        )
        dealer.verify_share(share.participant, share.value, out.vss_commitments)


def test_group_pubkey_is_not_parity_adjusted() -> None:
    # Find secrets whose public key has odd y and even y; both must come out raw.
    odd = next(k for k in itertools.count(1) if _mul_g(k)[0] == 3)
    even = next(k for k in itertools.count(1) if _mul_g(k)[0] == 2)
    assert dealer.split(odd, 2, 3).group_pubkey == _mul_g(odd)
    assert dealer.split(even, 2, 3).group_pubkey == _mul_g(even)


def test_shares_are_polynomial_at_id_plus_one() -> None:
    a1, a2 = 7, 11
    out = dealer.split(SECRET, 3, 4, coefficients=[a1, a2])
    for share in out.shares:
        x = share.participant + 1
        assert share.value == (SECRET + a1 * x + a2 * x * x) % N
    assert out.vss_commitments == (_mul_g(SECRET), _mul_g(a1), _mul_g(a2))


def test_one_of_n_gives_everyone_the_secret() -> None:
    out = dealer.split(SECRET, 1, 3)
    assert [s.value for s in out.shares] == [SECRET] * 3
    assert out.vss_commitments == (out.group_pubkey,)


def test_coefficients_come_from_rand_with_rejection_sampling() -> None:
    # 0 and N are rejected; 5 and 9 are used, in order.
    rand = _scripted_rand([0, N, 5, N + 1, 9])
    poly = dealer.generate_polynomial(SECRET, 3, rand)
    assert poly.coefficients == [SECRET, 5, 9]
    rand = _scripted_rand([N, 5, 9])
    assert dealer.split(SECRET, 3, 3, rand=rand).vss_commitments[1:] == (_mul_g(5), _mul_g(9))


def test_generate_secret_rejects_out_of_range_draws() -> None:
    assert dealer.generate_secret(_scripted_rand([0, N, 2**256 - 1, 42])) == 42
    assert 0 < dealer.generate_secret() < N


def test_broken_randomness_source_raises_instead_of_looping() -> None:
    with pytest.raises(CryptoError):
        dealer.generate_secret(lambda k: bytes(k))
    with pytest.raises(CryptoError):
        dealer.generate_secret(lambda k: b"\x01" * 31)
    with pytest.raises(CryptoError):
        dealer.split(SECRET, 2, 3, rand=lambda k: bytes(k))


def test_polynomial_wipe_drops_coefficients() -> None:
    poly = dealer.generate_polynomial(SECRET, 3, os.urandom)
    assert not poly.wiped
    assert poly.evaluate(0) == SECRET
    poly.wipe()
    assert poly.wiped
    assert poly.coefficients == []
    with pytest.raises(CryptoError):
        poly.evaluate(1)
    with pytest.raises(CryptoError):
        poly.share_for(0)
    with pytest.raises(CryptoError):
        poly.commitments()


def test_split_wipes_its_polynomial(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dealer.Polynomial] = []
    original = dealer.generate_polynomial

    def spy(secret: int, t: int, rand: Callable[[int], bytes] = os.urandom) -> dealer.Polynomial:
        poly = original(secret, t, rand)
        made.append(poly)
        return poly

    monkeypatch.setattr(dealer, "generate_polynomial", spy)
    dealer.split(SECRET, 2, 3)
    assert len(made) == 1 and made[0].wiped


def test_zero_constant_polynomial_for_refresh() -> None:
    poly = dealer.Polynomial(2, [0, dealer.generate_secret()])
    commitments = poly.commitments()
    assert commitments[0] == curve.INFINITY_BYTES
    for i in range(3):
        dealer.verify_share(i, poly.share_for(i), commitments)
    assert dealer.reconstruct({0: poly.share_for(0), 2: poly.share_for(2)}, 2) == 0


def test_verify_share_names_the_participant() -> None:
    out = dealer.split(SECRET, 2, 3)
    with pytest.raises(InvalidContributionError) as info:
        dealer.verify_share(1, (out.shares[1].value + 1) % N, out.vss_commitments)
    assert info.value.participant == 1 and info.value.contrib == "share"
    with pytest.raises(InvalidContributionError):
        dealer.verify_share(2, out.shares[1].value, out.vss_commitments)  # someone else's
    with pytest.raises(InvalidContributionError):
        dealer.verify_share(0, 0, out.vss_commitments)


def test_no_secret_in_repr() -> None:
    out = dealer.split(SECRET, 2, 3)
    poly = dealer.generate_polynomial(SECRET, 2)
    texts = [repr(out), str(out), repr(out.shares[0]), repr(poly), str(poly)]
    secrets = [SECRET, *(s.value for s in out.shares), *poly.coefficients]
    for text in texts:
        for secret in secrets:
            assert f"{secret}" not in text
            assert f"{secret:x}" not in text
            assert f"{secret:064x}" not in text
