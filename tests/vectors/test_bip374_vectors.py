"""BIP 374 DLEQ proofs against the published CSV vectors (every row, counted)."""

from __future__ import annotations

import csv

import pytest

from nostr_passport.crypto import curve, dleq
from nostr_passport.crypto.curve import MaybePoint
from nostr_passport.crypto.errors import InvalidInputError
from tests.conftest import vector_path

# Rows in the files as published (bitcoin/bips @ 7fe0b034); guards against truncation.
PUBLISHED_GENERATE_ROWS = 11
PUBLISHED_VERIFY_ROWS = 15


def _rows(name: str) -> list[dict[str, str]]:
    with vector_path("bip374", name).open(newline="") as f:
        return list(csv.DictReader(f))


def _point(hex_or_infinity: str) -> MaybePoint:
    if hex_or_infinity == "INFINITY":
        return None
    return curve.point_from_cbytes(bytes.fromhex(hex_or_infinity))


def _message(hex_str: str) -> bytes | None:
    # The vectors write an absent message as an empty field.
    return bytes.fromhex(hex_str) or None


def test_generate_proof_vectors() -> None:
    rows = _rows("test_vectors_generate_proof.csv")
    assert len(rows) == PUBLISHED_GENERATE_ROWS
    ran = 0
    for row in rows:
        label = f"#{row['index']} {row['comment']}"
        G = _point(row["point_G"])
        a = int(row["scalar_a"], 16)
        B = _point(row["point_B"])
        r = bytes.fromhex(row["auxrand_r"])
        m = _message(row["message"])
        if row["result_proof"] == "INVALID":
            with pytest.raises(InvalidInputError):
                dleq.generate_proof(a, B, r, G, m)
        else:
            proof = dleq.generate_proof(a, B, r, G, m)
            assert proof.hex() == row["result_proof"], label
            assert G is not None and B is not None
            A, C = curve.point_mul(G, a), curve.point_mul(B, a)
            assert dleq.verify_proof(A, B, C, proof, G, m), label
        ran += 1
    assert ran == len(rows)


def test_verify_proof_vectors() -> None:
    rows = _rows("test_vectors_verify_proof.csv")
    assert len(rows) == PUBLISHED_VERIFY_ROWS
    ran = 0
    for row in rows:
        label = f"#{row['index']} {row['comment']}"
        expected = {"TRUE": True, "FALSE": False}[row["result_success"]]
        actual = dleq.verify_proof(
            _point(row["point_A"]),
            _point(row["point_B"]),
            _point(row["point_C"]),
            bytes.fromhex(row["proof"]),
            _point(row["point_G"]),
            _message(row["message"]),
        )
        assert actual is expected, label
        ran += 1
    assert ran == len(rows)


def test_both_outcomes_are_exercised() -> None:
    """The files contain failures as well as successes; make sure we saw both kinds."""
    gen = _rows("test_vectors_generate_proof.csv")
    ver = _rows("test_vectors_verify_proof.csv")
    assert {r["result_proof"] == "INVALID" for r in gen} == {True, False}
    assert {r["result_success"] for r in ver} == {"TRUE", "FALSE"}
