"""Every public FROST function rejects malformed input with our own exceptions.

Never a bare ValueError/TypeError/KeyError from a library, never a wrong answer, and
never a secret in the message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from nostr_passport.crypto import frost
from nostr_passport.crypto.curve import N, P, bytes_from_int, cbytes, point_mul_g
from nostr_passport.crypto.errors import (
    CryptoError,
    InvalidContributionError,
    InvalidInputError,
)

T, NN = 2, 3
COEFFS = [
    int.from_bytes(hashlib.sha256(b"validation" + bytes([k])).digest(), "big") % N for k in range(T)
]
SHARES = [sum(c * pow(i + 1, k, N) for k, c in enumerate(COEFFS)) % N for i in range(NN)]
SECSHARES = [bytes_from_int(s) for s in SHARES]


def _cb(k: int) -> bytes:
    pt = point_mul_g(k)
    assert pt is not None
    return cbytes(pt)


PUBSHARES = [_cb(s) for s in SHARES]
THRESH_PK = _cb(COEFFS[0])
IDS = [0, 1]
SECRETS = [s.hex() for s in SECSHARES]

OFF_CURVE = b"\x02" + bytes(31) + b"\x07"  # x = 7: x^3 + 7 is not a square
X_TOO_BIG = b"\x02" + bytes_from_int(P)  # x >= p
BAD_POINTS = [
    bytes(33),
    OFF_CURVE,
    X_TOO_BIG,
    b"\x04" + PUBSHARES[0][1:],
    PUBSHARES[0][:32],
    PUBSHARES[0] + b"\x00",
]


def rejects(
    expected: type[CryptoError], fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> CryptoError:
    """Calling fn raises exactly our `expected` kind, whose message names no secret."""
    with pytest.raises(CryptoError) as info:
        fn(*args, **kwargs)
    exc = info.value
    assert isinstance(exc, expected), repr(exc)
    assert type(exc).__module__.startswith("nostr_passport."), repr(exc)
    for secret in SECRETS:
        assert secret not in str(exc).lower()
    return exc


def ctx(ids: list[int] | None = None) -> frost.SignersContext:
    ids = IDS if ids is None else ids
    return frost.SignersContext(NN, T, ids, [PUBSHARES[i] for i in ids], THRESH_PK)


def fresh_session(
    msg: bytes = b"m",
) -> tuple[frost.SessionContext, list[frost.SecretNonce], list[bytes]]:
    pairs = [frost.nonce_gen(SECSHARES[i], PUBSHARES[i]) for i in IDS]
    pubnonces = [pub for _, pub in pairs]
    session = frost.SessionContext(ctx(), frost.nonce_agg(pubnonces), (), (), msg)
    return session, [sec for sec, _ in pairs], pubnonces


def test_fixture_is_a_valid_group() -> None:
    session, secnonces, pubnonces = fresh_session()
    psigs = [frost.sign(secnonces[k], SECSHARES[i], i, session) for k, i in enumerate(IDS)]
    frost.verified_signature(psigs, pubnonces, session)


# ---------------------------------------------------------------- signers context


@pytest.mark.parametrize(
    ("n", "t", "ids", "pubshares", "thresh_pk"),
    [
        ("3", T, IDS, PUBSHARES[:2], THRESH_PK),  # n not an int
        (True, T, IDS, PUBSHARES[:2], THRESH_PK),  # bool is not an int here
        (1, 1, [0], PUBSHARES[:1], THRESH_PK),  # n < 2
        (2**32, T, IDS, PUBSHARES[:2], THRESH_PK),  # n too large for 4-byte ids
        (NN, 0, IDS, PUBSHARES[:2], THRESH_PK),  # t = 0
        (NN, 4, IDS, PUBSHARES[:2], THRESH_PK),  # t > n
        (NN, 2.0, IDS, PUBSHARES[:2], THRESH_PK),  # t not an int
        (NN, T, [0], PUBSHARES[:1], THRESH_PK),  # fewer signers than t
        (NN, T, [0, 1, 2, 0], PUBSHARES + PUBSHARES[:1], THRESH_PK),  # more than n
        (NN, T, IDS, PUBSHARES[:1], THRESH_PK),  # pubshares/ids length mismatch
        (NN, T, [0, 3], PUBSHARES[:2], THRESH_PK),  # id = n
        (NN, T, [-1, 1], PUBSHARES[:2], THRESH_PK),  # negative id
        (NN, T, [0, True], PUBSHARES[:2], THRESH_PK),  # bool id
        (NN, T, [0, "1"], PUBSHARES[:2], THRESH_PK),  # str id
        (NN, T, [0, 1.0], PUBSHARES[:2], THRESH_PK),  # float id
        (NN, T, [1, 1], PUBSHARES[:2], THRESH_PK),  # duplicate ids
        (NN, T, "01", PUBSHARES[:2], THRESH_PK),  # ids not a list
        (NN, T, 7, PUBSHARES[:2], THRESH_PK),  # ids not a sequence
        (NN, T, IDS, PUBSHARES[0] + PUBSHARES[1], THRESH_PK),  # pubshares as one blob
        (NN, T, IDS, [PUBSHARES[0], PUBSHARES[1].hex()], THRESH_PK),  # str pubshare
        (NN, T, IDS, [PUBSHARES[1], PUBSHARES[0]], THRESH_PK),  # shares swapped
        (NN, T, IDS, PUBSHARES[:2], THRESH_PK[1:]),  # x-only thresh_pk
        (NN, T, IDS, PUBSHARES[:2], THRESH_PK.hex()),  # thresh_pk not bytes
        (NN, T, IDS, PUBSHARES[:2], PUBSHARES[2]),  # wrong thresh_pk
        (NN, T, IDS, PUBSHARES[:2], bytes(33)),  # infinity thresh_pk
    ],
)
def test_signers_context_rejects(n: Any, t: Any, ids: Any, pubshares: Any, thresh_pk: Any) -> None:
    rejects(InvalidInputError, frost.SignersContext, n, t, ids, pubshares, thresh_pk)


@pytest.mark.parametrize("bad", BAD_POINTS)
def test_signers_context_rejects_bad_pubshare_points(bad: bytes) -> None:
    exc = rejects(
        InvalidInputError, frost.SignersContext, NN, T, IDS, [PUBSHARES[0], bad], THRESH_PK
    )
    assert str(exc) == "Invalid pubshare at index 1."


def test_signers_context_interpolating_value_of_non_member() -> None:
    rejects(InvalidInputError, ctx().interpolating_value, 2)
    rejects(InvalidInputError, ctx().interpolating_value, [0])


# ---------------------------------------------------------------- tweaks


@pytest.mark.parametrize("thresh_pk", [*BAD_POINTS, "02" * 33, None])
def test_tweak_ctx_init_and_group_key_reject_bad_keys(thresh_pk: Any) -> None:
    rejects(InvalidInputError, frost.tweak_ctx_init, thresh_pk)
    rejects(InvalidInputError, frost.group_pubkey_xonly, thresh_pk)


@pytest.mark.parametrize(
    ("tweak", "is_xonly"),
    [
        (bytes(31), False),
        (bytes(33), True),
        ("00" * 32, False),
        (bytes_from_int(N), False),
        (b"\xff" * 32, True),
        (bytes(32), 1),
        (bytes(32), None),
    ],
)
def test_apply_tweak_rejects(tweak: Any, is_xonly: Any) -> None:
    rejects(InvalidInputError, frost.apply_tweak, frost.tweak_ctx_init(THRESH_PK), tweak, is_xonly)


def test_tweak_to_infinity_and_length_mismatch_are_rejected() -> None:
    # A plain tweak of -secret sends Q = secret·G to infinity.
    minus = bytes_from_int((N - COEFFS[0]) % N)
    rejects(InvalidInputError, frost.apply_tweak, frost.tweak_ctx_init(THRESH_PK), minus, False)
    rejects(InvalidInputError, frost.thresh_pubkey_and_tweak, THRESH_PK, [bytes(32)], [])
    rejects(InvalidInputError, frost.thresh_pubkey_and_tweak, THRESH_PK, bytes(32), [False])
    # A zero tweak is allowed (the BIP only bounds it by n).
    assert frost.group_pubkey_xonly(THRESH_PK, [bytes(32)], [True]) == THRESH_PK[1:]


# ---------------------------------------------------------------- nonces


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secshare": bytes(31)},
        {"secshare": "00" * 32},
        {"pubshare": PUBSHARES[0][1:]},
        {"thresh_pk": THRESH_PK},  # must be the 32-byte x-only key
        {"msg": "text"},
        {"extra_in": 5},
    ],
)
def test_nonce_gen_rejects(kwargs: dict[str, Any]) -> None:
    rejects(InvalidInputError, frost.nonce_gen, **kwargs)


def test_nonce_gen_internal_rejects_bad_rand() -> None:
    rejects(InvalidInputError, frost.nonce_gen_internal, bytes(31), None, None, None, None, None)
    rejects(InvalidInputError, frost.nonce_gen_internal, None, None, None, None, None, None)


@pytest.mark.parametrize(
    "secnonce",
    [
        bytes(63),
        bytes(64),
        bytes(32) + bytes_from_int(1),
        bytes_from_int(1) + bytes(32),
        bytes_from_int(N) + bytes_from_int(1),
        bytes_from_int(1) + bytes_from_int(N),
        "11" * 64,
        None,
    ],
)
def test_secret_nonce_from_bytes_rejects(secnonce: Any) -> None:
    rejects(InvalidInputError, frost.SecretNonce.from_bytes, secnonce)


@pytest.mark.parametrize(("k1", "k2"), [(0, 1), (1, 0), (N, 1), (1, N), (True, 1), (1, 1.5)])
def test_secret_nonce_constructor_rejects(k1: Any, k2: Any) -> None:
    rejects(InvalidInputError, frost.SecretNonce, k1, k2)


def test_secret_nonce_with_a_malformed_pubnonce_is_rejected() -> None:
    exc = rejects(
        InvalidContributionError,
        frost.SecretNonce.from_bytes,
        bytes_from_int(1) + bytes_from_int(2),
        OFF_CURVE * 2,
    )
    assert isinstance(exc, InvalidContributionError) and exc.contrib == "pubnonce"


@pytest.mark.parametrize(
    "pubnonce",
    [
        *(bad + PUBSHARES[0] for bad in BAD_POINTS if len(bad) == 33),
        *(PUBSHARES[0] + bad for bad in BAD_POINTS if len(bad) == 33),
        PUBSHARES[0] * 2 + b"\x00",
        PUBSHARES[0],
        "02" * 66,
        None,
    ],
)
def test_bad_pubnonces_blame_their_sender(pubnonce: Any) -> None:
    good = frost.nonce_gen()[1]
    for fn in (
        lambda: frost.nonce_agg([good, pubnonce], [4, 9]),
        lambda: frost.PublicNonce.from_bytes(pubnonce, 9),
    ):
        exc = rejects(InvalidContributionError, fn)
        assert isinstance(exc, InvalidContributionError)
        assert (exc.participant, exc.contrib) == (9, "pubnonce")
    exc = rejects(InvalidContributionError, frost.nonce_agg, [pubnonce, good])
    assert isinstance(exc, InvalidContributionError) and exc.participant == 0
    rejects(InvalidContributionError, frost.PublicNonce, pubnonce)


def test_nonce_agg_rejects_malformed_lists() -> None:
    good = frost.nonce_gen()[1]
    rejects(InvalidInputError, frost.nonce_agg, [])
    rejects(InvalidInputError, frost.nonce_agg, good)  # bytes, not a list of pubnonces
    rejects(InvalidInputError, frost.nonce_agg, [good, good], [0])


# ---------------------------------------------------------------- session context


@pytest.mark.parametrize(
    "aggnonce",
    [
        bytes(65),
        bytes(67),
        OFF_CURVE + PUBSHARES[0],
        PUBSHARES[0] + X_TOO_BIG,
        b"\x04" + PUBSHARES[0][1:] + PUBSHARES[0],
    ],
)
def test_session_context_blames_the_coordinator_for_a_bad_aggnonce(aggnonce: bytes) -> None:
    exc = rejects(InvalidContributionError, frost.SessionContext, ctx(), aggnonce, (), (), b"m")
    assert isinstance(exc, InvalidContributionError)
    assert (exc.participant, exc.contrib) == (None, "aggnonce")


def test_session_context_rejects_malformed_arguments() -> None:
    agg = frost.nonce_agg([frost.nonce_gen()[1], frost.nonce_gen()[1]])
    rejects(InvalidInputError, frost.SessionContext, "ctx", agg)
    rejects(InvalidInputError, frost.SessionContext, ctx(), agg.hex())
    rejects(InvalidInputError, frost.SessionContext, ctx(), agg, (), (), "text")
    rejects(InvalidInputError, frost.SessionContext, ctx(), agg, [bytes(32)], ())
    rejects(InvalidInputError, frost.SessionContext, ctx(), agg, [bytes(31)], [False])
    rejects(InvalidInputError, frost.SessionContext.from_pubnonces, "ctx", [])
    exc = rejects(
        InvalidContributionError,
        frost.SessionContext.from_pubnonces,
        ctx(),
        [agg[:66], OFF_CURVE * 2],
    )
    assert isinstance(exc, InvalidContributionError) and exc.participant == IDS[1]


# ---------------------------------------------------------------- sign


@pytest.mark.parametrize(
    ("secshare", "my_id"),
    [
        (bytes(32), 0),  # zero share
        (bytes_from_int(N), 0),  # share >= n
        (SECSHARES[0][:31], 0),  # short share
        (SECSHARES[0].hex(), 0),  # not bytes
        (SECSHARES[2], 0),  # a share whose pubshare is not in the list
        (SECSHARES[0], 2),  # id not in the signer set
        (SECSHARES[0], 1),  # listed pubshare, but it belongs to id 0
        (SECSHARES[0], True),  # bool id
        (SECSHARES[0], "0"),  # str id
        (SECSHARES[0], [0]),  # unhashable id
    ],
)
def test_sign_rejects(secshare: Any, my_id: Any) -> None:
    session, secnonces, _ = fresh_session()
    rejects(InvalidInputError, frost.sign, secnonces[0], secshare, my_id, session)


def test_sign_rejects_wrong_object_types() -> None:
    session, secnonces, _ = fresh_session()
    raw = bytes_from_int(1) + bytes_from_int(2)
    rejects(InvalidInputError, frost.sign, raw, SECSHARES[0], 0, session)
    rejects(InvalidInputError, frost.sign, secnonces[0], SECSHARES[0], 0, "session")


# ---------------------------------------------------------------- verify and aggregate


def test_partial_sig_verify_rejects_or_returns_false() -> None:
    session, secnonces, pubnonces = fresh_session(b"msg")
    psig = frost.sign(secnonces[0], SECSHARES[0], 0, session)
    c = ctx()
    assert frost.partial_sig_verify(psig, pubnonces, c, (), (), b"msg", 0)
    for bad_psig in (psig[:31], psig + b"\x00", bytes_from_int(N), b"\xff" * 32):
        assert frost.partial_sig_verify(bad_psig, pubnonces, c, (), (), b"msg", 0) is False
    for i in (-1, 2, True, "0"):
        rejects(InvalidInputError, frost.partial_sig_verify, psig, pubnonces, c, (), (), b"msg", i)
    rejects(InvalidInputError, frost.partial_sig_verify, psig, pubnonces[:1], c, (), (), b"msg", 0)
    rejects(
        InvalidInputError, frost.partial_sig_verify, psig.hex(), pubnonces, c, (), (), b"msg", 0
    )
    rejects(InvalidInputError, frost.partial_sig_verify, psig, pubnonces, "ctx", (), (), b"msg", 0)
    rejects(
        InvalidInputError, frost.partial_sig_verify, psig, pubnonces, c, [bytes(32)], (), b"m", 0
    )
    exc = rejects(
        InvalidContributionError,
        frost.partial_sig_verify,
        psig,
        [pubnonces[0], OFF_CURVE * 2],
        c,
        (),
        (),
        b"msg",
        0,
    )
    assert isinstance(exc, InvalidContributionError) and (exc.participant, exc.contrib) == (
        1,
        "pubnonce",
    )


def test_partial_sig_verify_internal_rejects_or_returns_false() -> None:
    session, secnonces, pubnonces = fresh_session()
    psig = frost.sign(secnonces[0], SECSHARES[0], 0, session)
    assert frost.partial_sig_verify_internal(psig, 0, pubnonces[0], PUBSHARES[0], session)
    assert not frost.partial_sig_verify_internal(psig, 2, pubnonces[0], PUBSHARES[0], session)
    assert not frost.partial_sig_verify_internal(psig, 0, pubnonces[0], PUBSHARES[2], session)
    assert not frost.partial_sig_verify_internal(psig, 0, OFF_CURVE * 2, PUBSHARES[0], session)
    assert not frost.partial_sig_verify_internal(psig, 0, pubnonces[1], PUBSHARES[0], session)
    rejects(
        InvalidInputError,
        frost.partial_sig_verify_internal,
        psig,
        True,
        pubnonces[0],
        PUBSHARES[0],
        session,
    )
    rejects(
        InvalidInputError,
        frost.partial_sig_verify_internal,
        psig,
        0,
        pubnonces[0],
        PUBSHARES[0],
        "s",
    )


def test_partial_sig_agg_and_blame_reject() -> None:
    session, secnonces, pubnonces = fresh_session()
    psigs = [frost.sign(secnonces[k], SECSHARES[i], i, session) for k, i in enumerate(IDS)]
    rejects(InvalidInputError, frost.partial_sig_agg, psigs[:1], session)
    rejects(InvalidInputError, frost.partial_sig_agg, psigs, "session")
    rejects(InvalidInputError, frost.partial_sig_agg, [psigs[0], psigs[1].hex()], session)
    for bad in (psigs[1][:31], bytes_from_int(N)):
        exc = rejects(InvalidContributionError, frost.partial_sig_agg, [psigs[0], bad], session)
        assert isinstance(exc, InvalidContributionError)
        assert (exc.participant, exc.contrib) == (IDS[1], "psig")
        exc = rejects(
            InvalidContributionError, frost.verified_signature, [psigs[0], bad], pubnonces, session
        )
    rejects(InvalidInputError, frost.find_invalid_partial_sig, psigs, pubnonces[:1], session)
    rejects(InvalidInputError, frost.find_invalid_partial_sig, psigs, pubnonces, "session")
    other = [frost.nonce_gen()[1], frost.nonce_gen()[1]]
    rejects(InvalidInputError, frost.find_invalid_partial_sig, psigs, other, session)


# ---------------------------------------------------------------- deterministic sign


def det(**overrides: Any) -> tuple[bytes, bytes]:
    other = frost.nonce_gen(SECSHARES[1], PUBSHARES[1])[1]
    args: dict[str, Any] = {
        "secshare": SECSHARES[0],
        "my_id": 0,
        "aggothernonce": frost.nonce_agg([other]),
        "signers_ctx": ctx(),
        "tweaks": (),
        "is_xonly": (),
        "msg": b"m",
        "rand": None,
    }
    args.update(overrides)
    return frost.deterministic_sign(**args)


def test_deterministic_sign_rejects() -> None:
    det()  # the defaults are valid
    for overrides in (
        {"secshare": SECSHARES[0][:31]},
        {"secshare": bytes(32)},
        {"secshare": SECSHARES[0].hex()},
        {"rand": bytes(31)},
        {"my_id": -1},
        {"my_id": True},
        {"my_id": 2},
        {"signers_ctx": "ctx"},
        {"msg": "m"},
        {"aggothernonce": "00" * 66},
        {"tweaks": [bytes(32)]},
    ):
        rejects(InvalidInputError, det, **overrides)
    for bad in (bytes(66), OFF_CURVE * 2, PUBSHARES[0] * 2 + b"\x00", PUBSHARES[0]):
        exc = rejects(InvalidContributionError, det, aggothernonce=bad)
        assert isinstance(exc, InvalidContributionError)
        assert (exc.participant, exc.contrib) == (None, "aggothernonce")
