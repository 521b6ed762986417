"""BIP 445 (v0.8.0) FROST signing vectors: every case of every file, counted.

Layout of the files: ../shared/vectors/bip445/test_vectors_summary.md. Error objects
name the blamed contribution by *list index*; our InvalidContributionError names the
participant *identifier*, so an index is mapped through the case's `ids` (they agree
in every published case, and both are checked). The BIP's ValueError is our
InvalidInputError, with the reference implementation's message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest

from nostr_passport.crypto import bip340, frost
from nostr_passport.crypto.errors import InvalidContributionError, InvalidInputError
from tests.conftest import load_vector_json

Case = dict[str, Any]
Group = dict[str, Any]

# Published case counts per file and array (summed over the four test groups).
EXPECTED = {
    "nonce_gen_vectors.json": {"valid_tests": 5},
    "nonce_agg_vectors.json": {"valid_tests": 2, "error_tests": 3},
    "sign_verify_vectors.json": {
        "valid_tests": 25,
        "sign_error_tests": 52,
        "verify_fail_tests": 12,
        "verify_error_tests": 8,
    },
    "tweak_vectors.json": {"valid_tests": 28, "error_tests": 16},
    "det_sign_vectors.json": {"valid_tests": 33, "error_tests": 48},
    "sig_agg_vectors.json": {"valid_tests": 14, "error_tests": 8},
}
GROUPS = ["2of3", "1of3", "3of3", "3of5"]


def h(x: str | None) -> bytes | None:
    return None if x is None else bytes.fromhex(x)


def hb(x: str) -> bytes:
    return bytes.fromhex(x)


def pick(pool: Sequence[str], indices: Sequence[int]) -> list[bytes]:
    return [hb(pool[i]) for i in indices]


def groups(name: str) -> list[Group]:
    data = load_vector_json("bip445", name)
    found = [g["tg_id"] for g in data["test_groups"]]
    assert found == GROUPS
    return list(data["test_groups"])


def count_cases(name: str) -> dict[str, int]:
    data = load_vector_json("bip445", name)
    counts: dict[str, int] = {}
    for g in data.get("test_groups", [data]):
        for key, value in g.items():
            if key.endswith("_tests"):
                counts[key] = counts.get(key, 0) + len(value)
    return counts


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_published_case_counts(name: str) -> None:
    """The files hold exactly the cases we count below (nothing added or dropped)."""
    assert count_cases(name) == EXPECTED[name]


def signers(group: Group, case: Case) -> frost.SignersContext:
    return frost.SignersContext(
        group["n"],
        group["t"],
        case["ids"],
        pick(group["pubshares"], case["pubshare_indices"]),
        hb(group["thresh_pk"]),
    )


def expect_error(case: Case, action: Callable[[], object]) -> None:
    err = case["error"]
    if err["type"] == "ValueError":
        with pytest.raises(InvalidInputError) as info:
            action()
        assert str(info.value) == err["message"], case["comment"]
        return
    assert err["type"] == "InvalidContributionError"
    with pytest.raises(InvalidContributionError) as contrib_info:
        action()
    exc = contrib_info.value
    assert exc.contrib == err["contrib"], case["comment"]
    index = err["signer_index"]
    if index is None:
        assert exc.participant is None, case["comment"]
    else:
        ids = case.get("ids", list(range(len(case.get("pubnonce_indices", [])))))
        assert exc.participant == ids[index], case["comment"]


# ---------------------------------------------------------------- nonce_gen


def test_nonce_gen_vectors() -> None:
    data = load_vector_json("bip445", "nonce_gen_vectors.json")
    ran = 0
    for case in data["valid_tests"]:
        secnonce, pubnonce = frost.nonce_gen_internal(
            hb(case["rand"]),
            h(case["secshare"]),
            h(case["pubshare"]),
            h(case["thresh_pk_xonly"]),
            h(case["msg"]),
            h(case["extra_in"]),
        )
        expected_sec, expected_pub = case["expected"]
        assert pubnonce == hb(expected_pub), case["comment"]
        assert secnonce.pubnonce() == pubnonce
        assert secnonce.export_bytes() == hb(expected_sec), case["comment"]
        ran += 1
    assert ran == EXPECTED["nonce_gen_vectors.json"]["valid_tests"]


# ---------------------------------------------------------------- nonce_agg


def test_nonce_agg_vectors() -> None:
    data = load_vector_json("bip445", "nonce_agg_vectors.json")
    pool = data["pubnonces"]
    valid = errors = 0
    for case in data["valid_tests"]:
        assert frost.nonce_agg(pick(pool, case["pubnonce_indices"])) == hb(case["expected"])
        valid += 1
    for case in data["error_tests"]:
        nonces = pick(pool, case["pubnonce_indices"])
        expect_error(case, partial(frost.nonce_agg, nonces))
        # With identifiers, the blame names the identifier at that index.
        ids = [7, 9]
        with pytest.raises(InvalidContributionError) as info:
            frost.nonce_agg(nonces, ids)
        assert info.value.participant == ids[case["error"]["signer_index"]]
        errors += 1
    assert valid == EXPECTED["nonce_agg_vectors.json"]["valid_tests"]
    assert errors == EXPECTED["nonce_agg_vectors.json"]["error_tests"]


# ---------------------------------------------------------------- sign / verify


def sign_case(group: Group, case: Case, tweaks: list[bytes], modes: list[bool]) -> bytes:
    ctx = signers(group, case)
    session = frost.SessionContext(ctx, hb(case["aggnonce"]), tweaks, modes, hb(case["msg"]))
    secnonce = frost.SecretNonce.from_bytes(hb(group["secnonces"][case["secnonce_index"]]))
    return frost.sign(
        secnonce, hb(group["secshares"][case["secshare_index"]]), case["my_id"], session
    )


def verify_case(group: Group, case: Case, psig: bytes) -> bool:
    ctx = signers(group, case)
    nonces = pick(group["pubnonces"], case["pubnonce_indices"])
    return frost.partial_sig_verify(
        psig, nonces, ctx, [], [], hb(case["msg"]), case["signer_index"]
    )


def test_sign_verify_vectors() -> None:
    counts = dict.fromkeys(EXPECTED["sign_verify_vectors.json"], 0)
    for group in groups("sign_verify_vectors.json"):
        for case in group["valid_tests"]:
            psig = sign_case(group, case, [], [])
            assert psig == hb(case["expected"]), case["comment"]
            # The same psig verifies for the signer at the position of my_id.
            ctx = signers(group, case)
            nonces = pick(group["pubnonces"], case["pubnonce_indices"])
            i = case["ids"].index(case["my_id"])
            assert frost.partial_sig_verify(psig, nonces, ctx, [], [], hb(case["msg"]), i)
            counts["valid_tests"] += 1
        for case in group["sign_error_tests"]:
            expect_error(case, partial(sign_case, group, case, [], []))
            counts["sign_error_tests"] += 1
        for case in group["verify_fail_tests"]:
            assert verify_case(group, case, hb(case["psig"])) is False, case["comment"]
            counts["verify_fail_tests"] += 1
        for case in group["verify_error_tests"]:
            expect_error(case, partial(verify_case, group, case, hb(case["psig"])))
            counts["verify_error_tests"] += 1
    assert counts == EXPECTED["sign_verify_vectors.json"]


def test_sign_consumes_the_vector_nonce() -> None:
    group = groups("sign_verify_vectors.json")[0]
    case = group["valid_tests"][0]
    ctx = signers(group, case)
    session = frost.SessionContext(ctx, hb(case["aggnonce"]), [], [], hb(case["msg"]))
    secnonce = frost.SecretNonce.from_bytes(hb(group["secnonces"][case["secnonce_index"]]))
    share = hb(group["secshares"][case["secshare_index"]])
    assert frost.sign(secnonce, share, case["my_id"], session) == hb(case["expected"])
    assert secnonce.consumed


# ---------------------------------------------------------------- tweaks


def test_tweak_vectors() -> None:
    counts = dict.fromkeys(EXPECTED["tweak_vectors.json"], 0)
    for group in groups("tweak_vectors.json"):
        for case in group["valid_tests"]:
            tweaks = pick(group["tweaks"], case["tweak_indices"])
            psig = sign_case(group, case, tweaks, case["is_xonly"])
            assert psig == hb(case["expected"]), case["comment"]
            ctx = signers(group, case)
            nonces = pick(group["pubnonces"], case["pubnonce_indices"])
            i = case["ids"].index(case["my_id"])
            assert frost.partial_sig_verify(
                psig, nonces, ctx, tweaks, case["is_xonly"], hb(case["msg"]), i
            )
            counts["valid_tests"] += 1
        for case in group["error_tests"]:
            tweaks = pick(group["tweaks"], case["tweak_indices"])
            expect_error(case, partial(sign_case, group, case, tweaks, case["is_xonly"]))
            counts["error_tests"] += 1
    assert counts == EXPECTED["tweak_vectors.json"]


# ---------------------------------------------------------------- deterministic sign


def det_sign_case(group: Group, case: Case) -> tuple[bytes, bytes]:
    return frost.deterministic_sign(
        hb(group["secshares"][case["secshare_index"]]),
        case["my_id"],
        h(case["aggothernonce"]),
        signers(group, case),
        [hb(t) for t in case["tweaks"]],
        case["is_xonly"],
        hb(case["msg"]),
        h(case["aux_rand"]),
    )


def test_det_sign_vectors() -> None:
    counts = dict.fromkeys(EXPECTED["det_sign_vectors.json"], 0)
    for group in groups("det_sign_vectors.json"):
        for case in group["valid_tests"]:
            pubnonce, psig = det_sign_case(group, case)
            assert [pubnonce.hex().upper(), psig.hex().upper()] == case["expected"], case["comment"]
            counts["valid_tests"] += 1
        for case in group["error_tests"]:
            expect_error(case, partial(det_sign_case, group, case))
            counts["error_tests"] += 1
    assert counts == EXPECTED["det_sign_vectors.json"]


# ---------------------------------------------------------------- signature aggregation


def sig_agg_case(group: Group, case: Case) -> bytes:
    tweaks = pick(group["tweaks"], case["tweak_indices"])
    session = frost.SessionContext(
        signers(group, case), hb(case["aggnonce"]), tweaks, case["is_xonly"], hb(case["msg"])
    )
    return frost.partial_sig_agg([hb(p) for p in case["psigs"]], session)


def test_sig_agg_vectors() -> None:
    counts = dict.fromkeys(EXPECTED["sig_agg_vectors.json"], 0)
    for group in groups("sig_agg_vectors.json"):
        for case in group["valid_tests"]:
            sig = sig_agg_case(group, case)
            assert sig == hb(case["expected"]), case["comment"]
            tweaks = pick(group["tweaks"], case["tweak_indices"])
            key = frost.group_pubkey_xonly(hb(group["thresh_pk"]), tweaks, case["is_xonly"])
            assert bip340.verify(key, hb(case["msg"]), sig), case["comment"]
            counts["valid_tests"] += 1
        for case in group["error_tests"]:
            expect_error(case, partial(sig_agg_case, group, case))
            counts["error_tests"] += 1
    assert counts == EXPECTED["sig_agg_vectors.json"]
