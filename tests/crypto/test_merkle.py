"""RFC 6962 Merkle tree: roots, inclusion and consistency proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nostr_passport.crypto.errors import InvalidInputError
from nostr_passport.crypto.merkle import (
    consistency_proof,
    empty_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# The leaf inputs of Certificate Transparency's reference merkle tree tests, with the
# published roots of the first 1 and 8 leaves.
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]


def recursive_mth(leaves: list[bytes]) -> bytes:
    """The RFC's recursive definition, as an independent oracle."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(recursive_mth(leaves[:k]), recursive_mth(leaves[k:]))


def hashes(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_ct_reference_roots() -> None:
    leaves = [leaf_hash(d) for d in CT_LEAVES]
    assert root_hash(leaves[:1]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert root_hash(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert root_hash([]) == empty_root()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_proofs_verify_and_bind(n: int, data: st.DataObject) -> None:
    leaves = hashes(n)
    root = root_hash(leaves)
    assert root == recursive_mth(leaves)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(i, leaves)
    assert verify_inclusion(i, n, leaves[i], proof, root)
    assert not verify_inclusion(i, n, leaf_hash(b"other"), proof, root)
    if n > 1:
        assert not verify_inclusion((i + 1) % n, n, leaves[i], proof, root)
    if proof:
        bad = [*proof]
        bad[0] = bytes(32)
        assert not verify_inclusion(i, n, leaves[i], bad, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs_verify_and_bind(n: int, data: st.DataObject) -> None:
    leaves = hashes(n)
    m = data.draw(st.integers(min_value=0, max_value=n))
    proof = consistency_proof(m, leaves)
    first, second = root_hash(leaves[:m]), root_hash(leaves)
    assert verify_consistency(m, n, first, second, proof)
    if 0 < m < n:
        assert not verify_consistency(m, n, leaf_hash(b"x"), second, proof)
        assert not verify_consistency(m, n, first, leaf_hash(b"x"), proof)
        # A rewritten history: same sizes, one old leaf changed.
        forged = [*leaves]
        forged[m - 1] = leaf_hash(b"forged")
        assert not verify_consistency(m, n, root_hash(forged[:m]), second, proof)


def test_input_validation() -> None:
    with pytest.raises(InvalidInputError):
        root_hash([b"short"])
    with pytest.raises(InvalidInputError):
        inclusion_proof(3, hashes(3))
    with pytest.raises(InvalidInputError):
        consistency_proof(4, hashes(3))
    assert not verify_inclusion(5, 3, leaf_hash(b""), [], root_hash(hashes(3)))
    assert not verify_consistency(4, 3, b"", b"", [])
