"""BIP-340 against the published vectors (bitcoin/bips bip-0340/test-vectors.csv)."""

from __future__ import annotations

import csv

import pytest

from nostr_passport.crypto import bip340
from nostr_passport.crypto.errors import InvalidInputError
from tests.conftest import vector_path

EXPECTED_CASES = 19


def _rows() -> list[dict[str, str]]:
    with vector_path("bip340", "test-vectors.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_all_bip340_vectors() -> None:
    rows = _rows()
    assert len(rows) == EXPECTED_CASES
    signed = verified = 0
    for row in rows:
        pubkey = bytes.fromhex(row["public key"])
        msg = bytes.fromhex(row["message"])
        sig = bytes.fromhex(row["signature"])
        expected = row["verification result"] == "TRUE"
        if row["secret key"]:
            seckey = bytes.fromhex(row["secret key"])
            aux = bytes.fromhex(row["aux_rand"])
            assert bip340.pubkey_from_seckey(seckey) == pubkey, row["index"]
            assert bip340.sign(seckey, msg, aux) == sig, row["index"]
            signed += 1
        assert bip340.verify(pubkey, msg, sig) is expected, row["index"]
        verified += 1
    assert verified == EXPECTED_CASES
    assert signed == sum(1 for r in rows if r["secret key"])
    assert signed == 8


def test_random_aux_signatures_verify_for_every_message_length() -> None:
    seckey = bytes.fromhex("B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF")
    pub = bip340.pubkey_from_seckey(seckey)
    for length in (0, 1, 31, 32, 33, 100, 1000):
        msg = bytes(i % 251 for i in range(length))
        sig = bip340.sign(seckey, msg)
        assert bip340.verify(pub, msg, sig)
        assert not bip340.verify(pub, msg + b"\x00", sig)


def test_both_signing_paths_agree() -> None:
    """The spec-step path and libsecp256k1 give the same signature for 32-byte messages."""
    seckey = bytes.fromhex("0B432B2677937381AEF05BB02A66ECD012773062CF3FA2549E44F58ED2401710")
    aux = bytes(range(32))
    msg = bytes(range(100, 132))
    d = int.from_bytes(seckey, "big")
    assert bip340._sign_any_length(d, msg, aux) == bip340.sign(seckey, msg, aux)


@pytest.mark.parametrize(
    ("pubkey", "msg", "sig"),
    [
        (bytes(31), b"", bytes(64)),
        (bytes(33), b"", bytes(64)),
        (bytes(32), b"", bytes(63)),
        (bytes(32), "text", bytes(64)),
        ("00" * 32, b"", bytes(64)),
    ],
)
def test_verify_rejects_malformed_lengths_and_types(
    pubkey: object, msg: object, sig: object
) -> None:
    with pytest.raises(InvalidInputError):
        bip340.verify(pubkey, msg, sig)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "seckey",
    [bytes(32), bytes(31), (2**256 - 1).to_bytes(32, "big"), None, "11" * 32],
)
def test_sign_rejects_bad_secret_keys(seckey: object) -> None:
    with pytest.raises(InvalidInputError):
        bip340.sign(seckey, bytes(32), bytes(32))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        bip340.pubkey_from_seckey(seckey)  # type: ignore[arg-type]


def test_sign_rejects_bad_aux_and_message() -> None:
    seckey = (3).to_bytes(32, "big")
    with pytest.raises(InvalidInputError):
        bip340.sign(seckey, bytes(32), bytes(31))
    with pytest.raises(InvalidInputError):
        bip340.sign(seckey, "not bytes", bytes(32))  # type: ignore[arg-type]


def test_xonly_pubkey_parsing() -> None:
    with pytest.raises(InvalidInputError):
        bip340.xonly_pubkey(
            bytes.fromhex("EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34")
        )
    assert bip340.xonly_pubkey(
        bytes.fromhex("DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659")
    )
