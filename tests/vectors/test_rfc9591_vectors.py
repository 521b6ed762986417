"""RFC 9591 dealer vectors: our dealer must reproduce the published shares and group key.

RFC 9591 identifiers are 1..n; ours (BIP 445) are 0..n-1, so identifier j is our id j-1.

frost-secp256k1-sha256.json is plain RFC 9591: its signature uses the RFC challenge
(hash_to_field, no even-y rule) and must NOT pass BIP-340 verification. We check it is a
valid RFC 9591 signature first, so the negative result is not an artefact of parsing.
zf-frost-secp256k1-tr-vectors.json (ZcashFoundation frost-secp256k1-tr) produces a
BIP-340 signature, which must verify under the x-only group key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from coincurve import PublicKeyXOnly

from nostr_passport.crypto import curve, dealer
from nostr_passport.crypto.curve import N
from tests.conftest import load_vector_json

RFC_FILE = ("rfc9591", "frost-secp256k1-sha256.json")
ZF_TR_FILE = ("rfc9591", "zf-frost-secp256k1-tr-vectors.json")

# Published shapes: one 2-of-3 dealing and one signing session by identifiers 1 and 3.
PUBLISHED_SHARES_PER_FILE = 3


def _check_dealing(vec: dict[str, Any], group_key_field: str) -> int:
    """Deal with the vector's secret and coefficients; compare every share. Returns count."""
    cfg, inputs = vec["config"], vec["inputs"]
    t, n = int(cfg["MIN_PARTICIPANTS"]), int(cfg["MAX_PARTICIPANTS"])
    secret = int(inputs["group_secret_key"], 16)
    coefficients = [int(c, 16) for c in inputs["share_polynomial_coefficients"]]
    out = dealer.split(secret, t, n, coefficients=coefficients)

    assert out.group_pubkey.hex() == inputs[group_key_field]
    assert out.vss_commitments[0] == out.group_pubkey
    assert len(out.shares) == n
    checked = 0
    for published in inputs["participant_shares"]:
        participant = published["identifier"] - 1
        value = int(published["participant_share"], 16)
        ours = out.shares[participant]
        assert ours.participant == participant
        assert ours.value == value, f"identifier {published['identifier']}"
        dealer.verify_share(participant, value, out.vss_commitments)
        assert out.pubshares[participant] == curve.cbytes_ext(curve.point_mul_g(value))
        checked += 1

    signers = {
        i - 1: out.shares[i - 1].value for i in inputs["participant_list"]
    }  # the vector's signing set
    assert dealer.reconstruct(signers, t) == secret
    return checked


def _sum_scalars(hexes: list[str]) -> int:
    return sum(int(h, 16) for h in hexes) % N


def _group_commitment(vec: dict[str, Any]) -> curve.Point:
    """R = Σ (D_i + ρ_i·E_i) from the published round-one outputs and binding factors."""
    parts = []
    for o in vec["round_one_outputs"]["outputs"]:
        D = curve.point_from_cbytes(bytes.fromhex(o["hiding_nonce_commitment"]))
        E = curve.point_from_cbytes(bytes.fromhex(o["binding_nonce_commitment"]))
        part = curve.point_add(D, curve.point_mul(E, int(o["binding_factor"], 16)))
        assert part is not None
        parts.append(part)
    R = curve.point_sum(parts)
    assert R is not None
    return R


# RFC 9380 expand_message_xmd(SHA-256) + hash_to_field, as RFC 9591 H2 uses for secp256k1.
def _expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime)
    b0d = b0.digest()
    blocks = [hashlib.sha256(b0d + b"\x01" + dst_prime).digest()]
    while 32 * len(blocks) < length:
        mixed = bytes(x ^ y for x, y in zip(b0d, blocks[-1], strict=True))
        blocks.append(hashlib.sha256(mixed + bytes([len(blocks) + 1]) + dst_prime).digest())
    return b"".join(blocks)[:length]


def _rfc9591_challenge(R: bytes, group_pk: bytes, msg: bytes) -> int:
    dst = b"FROST-secp256k1-SHA256-v1chal"
    return int.from_bytes(_expand_message_xmd(R + group_pk + msg, dst, 48), "big") % N


def test_rfc9591_dealer_shares_and_signature_is_not_bip340() -> None:
    vec = load_vector_json(*RFC_FILE)
    assert len(vec["inputs"]["participant_shares"]) == PUBLISHED_SHARES_PER_FILE
    checked = _check_dealing(vec, "group_public_key")
    assert checked == len(vec["inputs"]["participant_shares"])

    sig = bytes.fromhex(vec["final_output"]["sig"])
    msg = bytes.fromhex(vec["inputs"]["message"])
    group_pk = bytes.fromhex(vec["inputs"]["group_public_key"])
    R_bytes, z = sig[:33], int.from_bytes(sig[33:], "big")
    assert len(sig) == 65
    # Structure: R is the group commitment, z the sum of the published signature shares.
    assert curve.cbytes(_group_commitment(vec)) == R_bytes
    assert z == _sum_scalars([o["sig_share"] for o in vec["round_two_outputs"]["outputs"]])
    # Positive control: z·G == R + c·PK with the RFC 9591 challenge.
    c = _rfc9591_challenge(R_bytes, group_pk, msg)
    R = curve.point_from_cbytes(R_bytes)
    PK = curve.point_from_cbytes(group_pk)
    assert curve.point_eq(curve.point_mul_g(z), curve.point_add(R, curve.point_mul(PK, c)))
    # Negative test of the BIP-340 path: same (x(R), z), BIP-340 challenge, must fail.
    bip340_sig = curve.xbytes(R) + sig[33:]
    assert not PublicKeyXOnly(curve.xbytes(PK)).verify(bip340_sig, msg)


def test_zf_tr_dealer_shares_and_signature_is_bip340_valid() -> None:
    vec = load_vector_json(*ZF_TR_FILE)
    assert len(vec["inputs"]["participant_shares"]) == PUBLISHED_SHARES_PER_FILE
    checked = _check_dealing(vec, "verifying_key_key")
    assert checked == len(vec["inputs"]["participant_shares"])

    sig = bytes.fromhex(vec["final_output"]["sig"])
    msg = bytes.fromhex(vec["inputs"]["message"])
    group_pk = bytes.fromhex(vec["inputs"]["verifying_key_key"])
    assert len(sig) == 64
    assert int.from_bytes(sig[32:], "big") == _sum_scalars(
        [o["sig_share"] for o in vec["round_two_outputs"]["outputs"]]
    )
    assert PublicKeyXOnly(group_pk[1:]).verify(sig, msg)
