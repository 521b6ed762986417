"""Dealer properties (hypothesis) and the input-validation table."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostr_passport.crypto import curve, dealer
from nostr_passport.crypto.curve import N, P
from nostr_passport.crypto.errors import InvalidContributionError, InvalidInputError

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

secrets = st.integers(min_value=1, max_value=N - 1)


@st.composite
def dealings(draw: st.DrawFn) -> tuple[int, dealer.DealerOutput]:
    n = draw(st.integers(min_value=1, max_value=10))
    t = draw(st.integers(min_value=1, max_value=n))
    secret = draw(secrets)
    return secret, dealer.split(secret, t, n)


def _subset(data: st.DataObject, n: int, size: int) -> list[int]:
    return data.draw(st.permutations(range(n)))[:size]


@PROPERTY_SETTINGS
@given(data=st.data(), dealt=dealings())
def test_any_t_shares_reconstruct_the_secret(
    data: st.DataObject, dealt: tuple[int, dealer.DealerOutput]
) -> None:
    secret, out = dealt
    t = out.threshold
    ids = _subset(data, out.n, t)
    assert dealer.reconstruct({i: out.shares[i].value for i in ids}, t) == secret
    # More than t shares of a consistent set give the same secret.
    all_shares = {s.participant: s.value for s in out.shares}
    assert dealer.reconstruct(all_shares, t) == secret


@PROPERTY_SETTINGS
@given(data=st.data(), dealt=dealings())
def test_t_minus_one_shares_do_not(
    data: st.DataObject, dealt: tuple[int, dealer.DealerOutput]
) -> None:
    secret, out = dealt
    t = out.threshold
    if t == 1:
        return  # nothing below the threshold to test
    ids = _subset(data, out.n, t - 1)
    few = {i: out.shares[i].value for i in ids}
    with pytest.raises(InvalidInputError):
        dealer.reconstruct(few, t)
    # Interpolating them anyway cannot hit the secret: together with (0, secret) they would
    # define a polynomial of degree < t-1 equal to f, whose top coefficient is nonzero.
    assert dealer.reconstruct(few, t - 1) != secret


@PROPERTY_SETTINGS
@given(data=st.data(), dealt=dealings(), delta=st.integers(min_value=1, max_value=N - 1))
def test_verify_share_accepts_good_and_rejects_tampered(
    data: st.DataObject, dealt: tuple[int, dealer.DealerOutput], delta: int
) -> None:
    _, out = dealt
    for share in out.shares:
        dealer.verify_share(share.participant, share.value, out.vss_commitments)
    victim = data.draw(st.integers(min_value=0, max_value=out.n - 1))
    tampered = (out.shares[victim].value + delta) % N
    with pytest.raises(InvalidContributionError) as info:
        dealer.verify_share(victim, tampered, out.vss_commitments)
    assert info.value.participant == victim and info.value.contrib == "share"


@PROPERTY_SETTINGS
@given(data=st.data(), dealt=dealings())
def test_tampered_commitments_reject_every_share(
    data: st.DataObject, dealt: tuple[int, dealer.DealerOutput]
) -> None:
    _, out = dealt
    k = data.draw(st.integers(min_value=0, max_value=out.threshold - 1))
    bumped = curve.point_add(curve.point_from_cbytes(out.vss_commitments[k]), curve.G)
    commitments = list(out.vss_commitments)
    commitments[k] = curve.cbytes_ext(bumped)
    for share in out.shares:
        with pytest.raises((InvalidContributionError, InvalidInputError)):
            dealer.verify_share(share.participant, share.value, commitments)


# ---------------------------------------------------------------- validation table


def _off_curve_x() -> bytes:
    """The smallest x for which x^3 + 7 has no square root mod P."""
    x = 1
    while pow(x**3 + 7, (P - 1) // 2, P) == 1:
        x += 1
    return x.to_bytes(32, "big")


OFF_CURVE = b"\x02" + _off_curve_x()
GOOD = dealer.split(5, 2, 3, coefficients=[7])
C0, C1 = GOOD.vss_commitments


class _RepeatingMapping(Mapping[int, int]):
    """A Mapping that lists one id twice: `reconstruct` must still notice."""

    def __getitem__(self, key: int) -> int:
        return 1

    def __iter__(self) -> Iterator[int]:
        return iter([0, 0])

    def __len__(self) -> int:
        return 2


INVALID_CALLS: dict[str, Callable[[], Any]] = {
    "split t > n": lambda: dealer.split(5, 4, 3),
    "split t = 0": lambda: dealer.split(5, 0, 3),
    "split n = 0": lambda: dealer.split(5, 1, 0),
    "split n = 256": lambda: dealer.split(5, 2, 256),
    "split t = 256": lambda: dealer.split(5, 256, 256),
    "split t bool": lambda: dealer.split(5, True, 3),
    "split secret 0": lambda: dealer.split(0, 2, 3),
    "split secret N": lambda: dealer.split(N, 2, 3),
    "split secret > N": lambda: dealer.split(N + 5, 2, 3),
    "split secret negative": lambda: dealer.split(-1, 2, 3),
    "split secret not int": lambda: dealer.split(b"\x05", 2, 3),  # type: ignore[arg-type]
    "split too few coefficients": lambda: dealer.split(5, 3, 3, coefficients=[7]),
    "split too many coefficients": lambda: dealer.split(5, 2, 3, coefficients=[7, 8]),
    "split zero coefficient": lambda: dealer.split(5, 2, 3, coefficients=[0]),
    "split coefficient N": lambda: dealer.split(5, 2, 3, coefficients=[N]),
    "split coefficients bytes": lambda: dealer.split(5, 2, 3, coefficients=b"\x07"),
    "polynomial wrong length": lambda: dealer.Polynomial(2, [5]),
    "polynomial t = 0": lambda: dealer.Polynomial(0, []),
    "generate_polynomial secret 0": lambda: dealer.generate_polynomial(0, 2),
    "generate_polynomial t = 0": lambda: dealer.generate_polynomial(5, 0),
    "reconstruct fewer than t": lambda: dealer.reconstruct({0: 1}, 2),
    "reconstruct t = 0": lambda: dealer.reconstruct({0: 1}, 0),
    "reconstruct duplicate ids": lambda: dealer.reconstruct(_RepeatingMapping(), 2),
    "reconstruct id -1": lambda: dealer.reconstruct({-1: 1, 0: 2}, 2),
    "reconstruct id 255": lambda: dealer.reconstruct({255: 1, 0: 2}, 2),
    "reconstruct id bool": lambda: dealer.reconstruct({True: 1, 0: 2}, 2),
    "reconstruct id str": lambda: dealer.reconstruct({"0": 1, 1: 2}, 2),  # type: ignore[dict-item]
    "reconstruct zero share": lambda: dealer.reconstruct({0: 0, 1: 2}, 2),
    "reconstruct share N": lambda: dealer.reconstruct({0: N, 1: 2}, 2),
    "reconstruct not a mapping": lambda: dealer.reconstruct([(0, 1), (1, 2)], 2),  # type: ignore[arg-type]
    "verify_share id -1": lambda: dealer.verify_share(-1, 12, GOOD.vss_commitments),
    "verify_share id 255": lambda: dealer.verify_share(255, 12, GOOD.vss_commitments),
    "verify_share share N": lambda: dealer.verify_share(0, N, GOOD.vss_commitments),
    "verify_share share negative": lambda: dealer.verify_share(0, -12, GOOD.vss_commitments),
    "commitments empty": lambda: dealer.verify_share(0, 12, []),
    "commitments as bytes": lambda: dealer.verify_share(0, 12, C0),  # type: ignore[arg-type]
    "commitment 32 bytes": lambda: dealer.verify_share(0, 12, [C0[1:], C1]),
    "commitment 34 bytes": lambda: dealer.verify_share(0, 12, [C0 + b"\x00", C1]),
    "commitment uncompressed": lambda: dealer.verify_share(
        0, 12, [curve.point_from_cbytes(C0).format(compressed=False), C1]
    ),
    "commitment bad prefix": lambda: dealer.verify_share(0, 12, [b"\x05" + C0[1:], C1]),
    "commitment off curve": lambda: dealer.verify_share(0, 12, [OFF_CURVE, C1]),
    "commitment x >= P": lambda: dealer.verify_share(0, 12, [b"\x02" + b"\xff" * 32, C1]),
    "infinity as higher commitment": lambda: dealer.verify_share(0, 12, [C0, curve.INFINITY_BYTES]),
    "too many commitments": lambda: dealer.verify_share(0, 12, [C0] * 256),
    "commitment not bytes": lambda: dealer.verify_share(0, 12, [C0.hex(), C1]),  # type: ignore[list-item]
    "pubshare id 255": lambda: dealer.pubshare_from_commitments(255, GOOD.vss_commitments),
    "pubshare off curve": lambda: dealer.pubshare_from_commitments(0, [OFF_CURVE]),
    "pubshare at infinity": lambda: dealer.pubshare_from_commitments(0, [curve.INFINITY_BYTES]),
}


@pytest.mark.parametrize("case", sorted(INVALID_CALLS))
def test_invalid_input_raises_our_error(case: str) -> None:
    with pytest.raises(InvalidInputError):
        INVALID_CALLS[case]()


def test_validation_table_cases_are_well_formed() -> None:
    # The good values used above really are good, so each case fails for its own reason.
    dealer.verify_share(0, GOOD.shares[0].value, GOOD.vss_commitments)
    assert dealer.reconstruct({0: GOOD.shares[0].value, 1: GOOD.shares[1].value}, 2) == 5
    assert dealer.split(5, 3, 255).n == 255
    assert dealer.split(5, 255, 255).threshold == 255
