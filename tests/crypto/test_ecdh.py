"""Threshold ECDH: agreement with single-key ECDH, naming bad shares, input validation."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import pytest
from coincurve import PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from nostr_passport.crypto import curve, dealer, ecdh
from nostr_passport.crypto.curve import N, P
from nostr_passport.crypto.errors import InvalidContributionError, InvalidInputError

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)


def _single_key_x(secret: int, peer: bytes) -> bytes:
    """x(secret·P) computed directly with coincurve (the unshared reference)."""
    point = PublicKey(b"\x02" + peer) if len(peer) == 32 else PublicKey(peer)
    return point.multiply(secret.to_bytes(32, "big")).format(compressed=True)[1:]


def _random_peer(data: st.DataObject) -> bytes:
    p = data.draw(st.integers(min_value=1, max_value=N - 1), label="peer secret")
    compressed = curve.cbytes_ext(curve.point_mul_g(p))
    # Nostr peers are x-only; accept compressed too.
    return compressed[1:] if data.draw(st.booleans(), label="x-only") else compressed


@dataclasses.dataclass(frozen=True)
class Session:
    secret: int
    out: dealer.DealerOutput
    ids: list[int]
    peer: bytes

    @property
    def pubshares(self) -> dict[int, bytes]:
        return {i: self.out.pubshares[i] for i in self.ids}

    def share(self, i: int, *, ids: list[int] | None = None, peer: bytes | None = None) -> Any:
        return ecdh.ecdh_share(
            self.out.shares[i].value,
            i,
            self.ids if ids is None else ids,
            self.peer if peer is None else peer,
            os.urandom(32),
        )

    def all_shares(self) -> list[ecdh.EcdhShare]:
        return [self.share(i) for i in self.ids]


def _draw_session(data: st.DataObject) -> Session:
    n = data.draw(st.integers(min_value=1, max_value=10), label="n")
    t = data.draw(st.integers(min_value=1, max_value=n), label="t")
    secret = data.draw(st.integers(min_value=1, max_value=N - 1), label="secret")
    size = data.draw(st.integers(min_value=t, max_value=n), label="session size")
    ids = data.draw(st.permutations(range(n)), label="order")[:size]
    return Session(secret, dealer.split(secret, t, n), ids, _random_peer(data))


def _fixed_session(t: int = 2, n: int = 3, ids: list[int] | None = None) -> Session:
    secret = dealer.generate_secret()
    peer = curve.xbytes(curve.point_mul_g(dealer.generate_secret()) or curve.G)
    return Session(secret, dealer.split(secret, t, n), ids or list(range(t)), peer)


# ---------------------------------------------------------------- agreement


@PROPERTY_SETTINGS
@given(data=st.data())
def test_threshold_ecdh_equals_single_key_ecdh(data: st.DataObject) -> None:
    s = _draw_session(data)
    x = ecdh.combine_ecdh_shares(s.all_shares(), s.pubshares, s.ids, s.peer)
    assert x == _single_key_x(s.secret, s.peer)


@PROPERTY_SETTINGS
@given(data=st.data(), tweak=st.integers(min_value=0, max_value=N - 1))
def test_tweak_shifts_the_scalar(data: st.DataObject, tweak: int) -> None:
    s = _draw_session(data)
    if (s.secret + tweak) % N == 0:
        return  # the tweaked key would be infinity; covered by a unit test below
    x = ecdh.combine_ecdh_shares(s.all_shares(), s.pubshares, s.ids, s.peer, tweak=tweak)
    assert x == _single_key_x((s.secret + tweak) % N, s.peer)


def test_group_key_parity_does_not_matter() -> None:
    # x(s·P) == x(-s·P): negating the group secret (BIP 445 even-y rule) changes nothing.
    s = _fixed_session()
    assert _single_key_x(s.secret, s.peer) == _single_key_x(N - s.secret, s.peer)
    x = ecdh.combine_ecdh_shares(s.all_shares(), s.pubshares, s.ids, s.peer)
    assert x == _single_key_x(N - s.secret, s.peer)


def test_x_only_and_compressed_peer_agree() -> None:
    s = _fixed_session()
    odd_peer = b"\x03" + s.peer
    x_even = ecdh.combine_ecdh_shares(s.all_shares(), s.pubshares, s.ids, s.peer)
    shares_odd = [s.share(i, peer=odd_peer) for i in s.ids]
    x_odd = ecdh.combine_ecdh_shares(shares_odd, s.pubshares, s.ids, odd_peer)
    assert x_even == x_odd == _single_key_x(s.secret, s.peer)


# ---------------------------------------------------------------- bad contributions


def _corruptions(s: Session, victim: int) -> dict[str, ecdh.EcdhShare]:
    good = s.share(victim)
    peer_x = s.peer[-32:]
    candidates = (curve.xbytes(curve.point_mul_g(k) or curve.G) for k in (12345, 54321))
    other_peer = next(x for x in candidates if x != peer_x)
    other_point = curve.cbytes_ext(curve.point_add(curve.point_from_cbytes(good.point), curve.G))
    flipped = bytearray(good.proof)
    flipped[5] ^= 0x10
    cases = {
        "point moved": dataclasses.replace(good, point=other_point),
        "point negated": dataclasses.replace(
            good, point=curve.cbytes_ext(curve.point_neg(curve.point_from_cbytes(good.point)))
        ),
        "proof bit flip": dataclasses.replace(good, proof=bytes(flipped)),
        "proof s >= N": dataclasses.replace(good, proof=good.proof[:32] + b"\xff" * 32),
        "proof short": dataclasses.replace(good, proof=good.proof[:63]),
        "point malformed": dataclasses.replace(good, point=good.point[1:]),
        "point off curve": dataclasses.replace(good, point=b"\x02" + _off_curve_x()),
        "made for another peer": s.share(victim, peer=other_peer),
    }
    if ecdh.lagrange_at(victim, s.ids) != 1:
        # s_i·P instead of λ_i·s_i·P (a signer that forgot its Lagrange coefficient).
        unscaled = curve.point_mul(ecdh.peer_point(s.peer), s.out.shares[victim].value)
        cases["share without lagrange"] = dataclasses.replace(
            good, point=curve.cbytes_ext(unscaled)
        )
    if len(s.ids) < s.out.n:
        # A share (and proof) for a different participant set: wrong λ and wrong m.
        other_ids = [*s.ids[:-1], next(i for i in range(s.out.n) if i not in s.ids)]
        if victim in other_ids:
            cases["made for another set"] = s.share(victim, ids=other_ids)
    return cases


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_corrupted_share_names_the_participant(data: st.DataObject) -> None:
    s = _draw_session(data)
    victim = data.draw(st.sampled_from(s.ids), label="victim")
    good = s.all_shares()
    for name, bad in _corruptions(s, victim).items():
        shares = [bad if sh.participant == victim else sh for sh in good]
        with pytest.raises(InvalidContributionError) as info:
            ecdh.combine_ecdh_shares(shares, s.pubshares, s.ids, s.peer)
        assert info.value.participant == victim, name
        assert info.value.contrib == "ecdh_share", name


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_wrong_pubshare_names_the_participant(data: st.DataObject) -> None:
    s = _draw_session(data)
    victim = data.draw(st.sampled_from(s.ids), label="victim")
    pubshares = s.pubshares
    other_scalar = s.out.shares[victim].value % (N - 1) + 1  # nonzero, != the share
    pubshares[victim] = curve.cbytes_ext(curve.point_mul_g(other_scalar))
    with pytest.raises(InvalidContributionError) as info:
        ecdh.combine_ecdh_shares(s.all_shares(), pubshares, s.ids, s.peer)
    assert info.value.participant == victim and info.value.contrib == "ecdh_share"
    pubshares[victim] = b"\x02" + _off_curve_x()
    with pytest.raises(InvalidContributionError) as info:
        ecdh.combine_ecdh_shares(s.all_shares(), pubshares, s.ids, s.peer)
    assert info.value.participant == victim and info.value.contrib == "pubshare"


def test_first_bad_participant_in_ids_order_is_named() -> None:
    s = _fixed_session(3, 5, ids=[4, 1, 3])
    shares = s.all_shares()
    broken = [dataclasses.replace(sh, proof=bytes(64)) for sh in shares]
    # Hand them over in a different order: the error follows `ids`, not the list.
    with pytest.raises(InvalidContributionError) as info:
        ecdh.combine_ecdh_shares(list(reversed(broken)), s.pubshares, s.ids, s.peer)
    assert info.value.participant == 4
    only_last = [*shares[:2], broken[2]]
    with pytest.raises(InvalidContributionError) as info:
        ecdh.combine_ecdh_shares(only_last, s.pubshares, s.ids, s.peer)
    assert info.value.participant == 3


# ---------------------------------------------------------------- malformed inputs


def _off_curve_x() -> bytes:
    x = 1
    while pow(x**3 + 7, (P - 1) // 2, P) == 1:
        x += 1
    return x.to_bytes(32, "big")


S = _fixed_session(2, 3)
SHARES = S.all_shares()
SEC0 = S.out.shares[0].value
R = bytes(32)


def _combine(**kwargs: Any) -> bytes:
    args: dict[str, Any] = {
        "shares": SHARES,
        "pubshares": S.pubshares,
        "ids": S.ids,
        "peer": S.peer,
    } | kwargs
    return ecdh.combine_ecdh_shares(**args)


INVALID_INPUTS: dict[str, Callable[[], Any]] = {
    "peer 31 bytes": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], S.peer[1:], R),
    "peer 34 bytes": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], b"\x02" + S.peer + b"\x00", R),
    "peer 65 bytes": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], b"\x04" + S.peer * 2, R),
    "peer str": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], S.peer.hex(), R),  # type: ignore[arg-type]
    "peer off curve": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], _off_curve_x(), R),
    "peer x >= P": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], b"\xff" * 32, R),
    "peer bad prefix": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], b"\x05" + S.peer, R),
    "peer infinity": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], curve.INFINITY_BYTES, R),
    "secshare 0": lambda: ecdh.ecdh_share(0, 0, [0, 1], S.peer, R),
    "secshare N": lambda: ecdh.ecdh_share(N, 0, [0, 1], S.peer, R),
    "rand 31 bytes": lambda: ecdh.ecdh_share(SEC0, 0, [0, 1], S.peer, R[1:]),
    "participant not in ids": lambda: ecdh.ecdh_share(SEC0, 2, [0, 1], S.peer, R),
    "ids empty": lambda: ecdh.ecdh_share(SEC0, 0, [], S.peer, R),
    "ids duplicate": lambda: ecdh.ecdh_share(SEC0, 0, [0, 0, 1], S.peer, R),
    "ids 255": lambda: ecdh.ecdh_share(SEC0, 0, [0, 255], S.peer, R),
    "ids negative": lambda: ecdh.ecdh_share(SEC0, 0, [0, -1], S.peer, R),
    "ids bool": lambda: ecdh.ecdh_share(SEC0, 0, [0, True], S.peer, R),
    "ids bytes": lambda: ecdh.ecdh_share(SEC0, 0, b"\x00\x01", S.peer, R),
    "combine share outside ids": lambda: _combine(shares=[*SHARES, S.share(2, ids=[0, 2])]),
    "combine duplicate share": lambda: _combine(shares=[*SHARES, SHARES[0]]),
    "combine missing share": lambda: _combine(shares=SHARES[:1]),
    "combine no shares": lambda: _combine(shares=[]),
    "combine share participant bool": lambda: _combine(
        shares=[SHARES[0], dataclasses.replace(SHARES[1], participant=True)]
    ),
    "participant bool": lambda: ecdh.ecdh_share(SEC0, True, [0, 1], S.peer, R),
    "combine not EcdhShare": lambda: _combine(shares=[(0, b"", b""), SHARES[1]]),
    "combine missing pubshare": lambda: _combine(pubshares={0: S.out.pubshares[0]}),
    "combine pubshares list": lambda: _combine(pubshares=list(S.out.pubshares)),
    "combine tweak N": lambda: _combine(tweak=N),
    "combine tweak negative": lambda: _combine(tweak=-1),
    "combine tweak to infinity": lambda: _combine(tweak=N - S.secret),
    "combine bad peer": lambda: _combine(peer=S.peer[:31]),
    "combine ids duplicate": lambda: _combine(ids=[0, 1, 1]),
}


@pytest.mark.parametrize("case", sorted(INVALID_INPUTS))
def test_malformed_input_raises_our_error(case: str) -> None:
    with pytest.raises(InvalidInputError):
        INVALID_INPUTS[case]()


def test_reference_session_is_valid() -> None:
    # The table's baseline really works, so every case above fails for its own reason.
    assert _combine() == _single_key_x(S.secret, S.peer)


def test_ecdh_share_repr_hides_the_point() -> None:
    share = SHARES[0]
    assert share.point.hex() not in repr(share)
    assert str(share.point) not in repr(share)
    assert f"{SEC0:x}" not in repr(share)
