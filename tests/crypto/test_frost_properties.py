"""Property tests of FROST signing (BIP 445) over random groups, signer sets and tweaks.

Shares come from a tiny polynomial helper here (the dealer module is tested on its
own): f of degree t-1, share of participant id at x = id + 1, group key f(0)·G.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from dataclasses import dataclass

import pytest
from coincurve import PublicKeyXOnly
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nostr_passport.crypto import frost
from nostr_passport.crypto.curve import N, bytes_from_int, cbytes, has_even_y, point_mul_g
from nostr_passport.crypto.errors import CryptoError, InvalidContributionError, NonceReuseError

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@dataclass(frozen=True)
class Group:
    t: int
    n: int
    secshares: list[bytes]
    pubshares: list[bytes]
    thresh_pk: bytes


def deal(t: int, n: int, seed: bytes, even_y: bool) -> Group:
    """Shares of a random degree t-1 polynomial; the group key's parity is `even_y`."""
    coeffs = [
        int.from_bytes(hashlib.sha256(seed + bytes([k])).digest(), "big") % N for k in range(t)
    ]
    # Hash-derived coefficients: a zero secret or share has probability ~2^-256.
    assert coeffs[0] != 0
    group = point_mul_g(coeffs[0])
    assert group is not None
    if has_even_y(group) != even_y:
        # Negating the whole polynomial negates the group key and flips its parity.
        coeffs = [(N - c) % N for c in coeffs]
    shares = [sum(c * pow(i + 1, k, N) for k, c in enumerate(coeffs)) % N for i in range(n)]
    assert all(shares)
    pubshares = []
    for s in shares:
        pt = point_mul_g(s)
        assert pt is not None
        pubshares.append(cbytes(pt))
    group = point_mul_g(coeffs[0])
    assert group is not None and has_even_y(group) == even_y
    return Group(t, n, [bytes_from_int(s) for s in shares], pubshares, cbytes(group))


@st.composite
def sessions(draw: st.DrawFn) -> tuple[Group, list[int], list[bytes], list[bool], bytes]:
    t = draw(st.integers(1, 10))
    n = draw(st.integers(max(t, 2), 12))
    seed = draw(st.binary(min_size=16, max_size=16))
    even_y = draw(st.booleans())
    group = deal(t, n, seed, even_y)
    u = draw(st.integers(t, n))
    ids = draw(st.permutations(range(n)))[:u]
    v = draw(st.integers(0, 3))
    tweaks = [draw(st.binary(min_size=32, max_size=32)) for _ in range(v)]
    assume(all(int.from_bytes(tw, "big") < N for tw in tweaks))
    modes = [draw(st.booleans()) for _ in range(v)]
    msg = draw(st.binary(max_size=80))
    return group, ids, tweaks, modes, msg


def signers_ctx(group: Group, ids: list[int]) -> frost.SignersContext:
    return frost.SignersContext(
        group.n, group.t, ids, [group.pubshares[i] for i in ids], group.thresh_pk
    )


def run_round1(group: Group, ids: list[int]) -> tuple[list[frost.SecretNonce], list[bytes]]:
    pairs = [frost.nonce_gen(group.secshares[i], group.pubshares[i]) for i in ids]
    return [sec for sec, _ in pairs], [pub for _, pub in pairs]


def sign_all(
    group: Group, ids: list[int], secnonces: list[frost.SecretNonce], session: frost.SessionContext
) -> list[bytes]:
    return [
        frost.sign(sec, group.secshares[i], i, session)
        for sec, i in zip(secnonces, ids, strict=True)
    ]


@pytest.mark.parametrize("even_y", [True, False])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_group_keys_of_both_parities_sign(even_y: bool, data: st.DataObject) -> None:
    """Both parities of the group key occur in every run, with and without tweaks."""
    t = data.draw(st.integers(1, 10))
    n = data.draw(st.integers(max(t, 2), 12))
    group = deal(t, n, data.draw(st.binary(min_size=16, max_size=16)), even_y)
    ids = data.draw(st.permutations(range(n)))[: data.draw(st.integers(t, n))]
    with_tweak = data.draw(st.booleans())
    tweaks = [hashlib.sha256(b"taptweak" + group.thresh_pk).digest()] if with_tweak else []
    modes = [True] if with_tweak else []
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    session = frost.SessionContext(ctx, frost.nonce_agg(pubnonces), tweaks, modes, b"nostr")
    sig = frost.partial_sig_agg(sign_all(group, ids, secnonces, session), session)
    key = frost.group_pubkey_xonly(group.thresh_pk, tweaks, modes)
    assert PublicKeyXOnly(key).verify(sig, b"nostr")


@PROPERTY_SETTINGS
@given(case=sessions())
def test_every_aggregate_signature_verifies(
    case: tuple[Group, list[int], list[bytes], list[bool], bytes],
) -> None:
    group, ids, tweaks, modes, msg = case
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    aggnonce = frost.nonce_agg(pubnonces, ids)
    session = frost.SessionContext(ctx, aggnonce, tweaks, modes, msg)
    coordinator = frost.SessionContext.from_pubnonces(ctx, pubnonces, tweaks, modes, msg)
    assert coordinator.aggnonce == aggnonce
    assert coordinator.values == session.values
    psigs = sign_all(group, ids, secnonces, session)
    for index, psig in enumerate(psigs):
        assert frost.partial_sig_verify(psig, pubnonces, ctx, tweaks, modes, msg, index)
    sig = frost.partial_sig_agg(psigs, session)
    key = frost.group_pubkey_xonly(group.thresh_pk, tweaks, modes)
    assert PublicKeyXOnly(key).verify(sig, msg)
    assert frost.verified_signature(psigs, pubnonces, coordinator) == sig
    r_x, e = frost.final_nonce_and_challenge(session)
    assert sig[:32] == r_x and 0 < e < N


@PROPERTY_SETTINGS
@given(case=sessions())
def test_deterministic_last_signer_completes_a_valid_signature(
    case: tuple[Group, list[int], list[bytes], list[bool], bytes],
) -> None:
    group, ids, tweaks, modes, msg = case
    ctx = signers_ctx(group, ids)
    others, last = ids[:-1], ids[-1]
    secnonces, pubnonces = run_round1(group, others)
    aggothernonce = frost.nonce_agg(pubnonces) if others else None
    last_pub, last_psig = frost.deterministic_sign(
        group.secshares[last], last, aggothernonce, ctx, tweaks, modes, msg
    )
    all_nonces = [*pubnonces, last_pub]
    session = frost.SessionContext.from_pubnonces(ctx, all_nonces, tweaks, modes, msg)
    psigs = [*sign_all(group, others, secnonces, session), last_psig]
    sig = frost.verified_signature(psigs, all_nonces, session)
    assert PublicKeyXOnly(frost.group_pubkey_xonly(group.thresh_pk, tweaks, modes)).verify(sig, msg)


@PROPERTY_SETTINGS
@given(case=sessions())
def test_second_use_of_a_secret_nonce_is_refused(
    case: tuple[Group, list[int], list[bytes], list[bool], bytes],
) -> None:
    group, ids, tweaks, modes, msg = case
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    session = frost.SessionContext(ctx, frost.nonce_agg(pubnonces), tweaks, modes, msg)
    me = ids[0]
    frost.sign(secnonces[0], group.secshares[me], me, session)
    assert secnonces[0].consumed
    with pytest.raises(NonceReuseError):
        frost.sign(secnonces[0], group.secshares[me], me, session)
    # ... also in another session (a different message), and through the export path.
    other = frost.SessionContext(ctx, frost.nonce_agg(pubnonces), tweaks, modes, msg + b"x")
    with pytest.raises(NonceReuseError):
        frost.sign(secnonces[0], group.secshares[me], me, other)
    with pytest.raises(NonceReuseError):
        secnonces[0].export_bytes()


@PROPERTY_SETTINGS
@given(case=sessions(), data=st.data())
def test_corrupted_partial_signature_is_attributed(
    case: tuple[Group, list[int], list[bytes], list[bool], bytes], data: st.DataObject
) -> None:
    group, ids, tweaks, modes, msg = case
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    session = frost.SessionContext.from_pubnonces(ctx, pubnonces, tweaks, modes, msg)
    psigs = sign_all(group, ids, secnonces, session)
    bad = data.draw(st.integers(0, len(ids) - 1))
    delta = data.draw(st.integers(1, N - 1))
    psigs[bad] = bytes_from_int((int.from_bytes(psigs[bad], "big") + delta) % N)
    for index, psig in enumerate(psigs):
        valid = frost.partial_sig_verify(psig, pubnonces, ctx, tweaks, modes, msg, index)
        assert valid is (index != bad)
    with pytest.raises(InvalidContributionError) as info:
        frost.find_invalid_partial_sig(psigs, pubnonces, session)
    assert (info.value.participant, info.value.contrib) == (ids[bad], "psig")
    with pytest.raises(InvalidContributionError) as info:
        frost.verified_signature(psigs, pubnonces, session)
    assert (info.value.participant, info.value.contrib) == (ids[bad], "psig")


def test_find_invalid_partial_sig_returns_none_when_all_are_valid() -> None:
    group = deal(2, 3, b"all-valid", True)
    ids = [2, 0]
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    session = frost.SessionContext.from_pubnonces(ctx, pubnonces, (), (), b"m")
    psigs = sign_all(group, ids, secnonces, session)
    frost.find_invalid_partial_sig(psigs, pubnonces, session)  # raises on any invalid psig


def test_secret_nonce_is_never_printed_copied_or_pickled() -> None:
    group = deal(2, 3, b"secret-nonce", False)
    secnonce, _ = frost.nonce_gen(group.secshares[0], group.pubshares[0])
    text = repr(secnonce) + str(secnonce)
    with pytest.raises(NonceReuseError):
        copy.copy(secnonce)
    with pytest.raises(NonceReuseError):
        copy.deepcopy(secnonce)
    with pytest.raises(NonceReuseError):
        pickle.dumps(secnonce)
    exported_hex = secnonce.export_bytes().hex()
    assert exported_hex[:16] not in text.lower() and "consumed=False" in text
    assert secnonce.consumed and "consumed=True" in repr(secnonce)


def test_exported_nonce_reloads_and_signs_once() -> None:
    """The hazardous path: export for wrapping, reload later, sign exactly once."""
    group = deal(2, 3, b"export", True)
    ids = [0, 1]
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    stored = secnonces[0].export_bytes()
    with pytest.raises(NonceReuseError):
        frost.sign(secnonces[0], group.secshares[0], 0, frost.SessionContext(ctx, bytes(66)))
    reloaded = frost.SecretNonce.from_bytes(stored, pubnonces[0])
    session = frost.SessionContext.from_pubnonces(ctx, pubnonces, (), (), b"event id")
    psigs = [
        frost.sign(reloaded, group.secshares[0], 0, session),
        frost.sign(secnonces[1], group.secshares[1], 1, session),
    ]
    frost.verified_signature(psigs, pubnonces, session)


def test_reloaded_nonce_with_a_mismatched_pubnonce_fails_its_self_check() -> None:
    group = deal(2, 3, b"mismatch", True)
    ids = [0, 1]
    ctx = signers_ctx(group, ids)
    secnonces, pubnonces = run_round1(group, ids)
    stored = secnonces[0].export_bytes()
    wrong = frost.SecretNonce.from_bytes(stored, pubnonces[1])
    session = frost.SessionContext.from_pubnonces(ctx, pubnonces, (), (), b"m")
    with pytest.raises(CryptoError, match="own verification"):
        frost.sign(wrong, group.secshares[0], 0, session)
