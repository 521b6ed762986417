"""CertEq: the equality check that makes ChillDKG standalone.

(BIP-FROST-DKG, "Equality Check Protocol CertEq".) Every participant signs the session
transcript `eq_input` with its host key; the n signatures together form a success
certificate that convinces any honest participant, even later, that the session
succeeded. The signed message is a 33-byte zero-padded domain-separation prefix, the
signer's index and the transcript, as BIP 340 recommends for application messages.
"""

from __future__ import annotations

from . import schnorr
from .common import BIP_TAG, u32

MESSAGE_PREFIX = (BIP_TAG + "certeq message").encode().ljust(33, b"\x00")


def certeq_message(x: bytes, idx: int) -> bytes:
    return MESSAGE_PREFIX + u32(idx) + x


def participant_step(hostseckey: int, idx: int, x: bytes, aux_rand: bytes) -> bytes:
    """Participant idx's 64-byte signature on the transcript x."""
    return schnorr.sign(certeq_message(x, idx), hostseckey, aux_rand)


def cert_len(n: int) -> int:
    return 64 * n


def coordinator_step(sigs: list[bytes]) -> bytes:
    """The certificate: all n signatures, in participant order."""
    return b"".join(sigs)


def first_invalid_signature(hostpubkeys: tuple[bytes, ...], x: bytes, cert: bytes) -> int | None:
    """The index of the first participant whose signature in `cert` is invalid, or None.

    The caller checks that `cert` is 64*n bytes. Only the x coordinate of each host key
    is used: the transcript contains all full host keys, so the parity is covered.
    """
    for i, hostpubkey in enumerate(hostpubkeys):
        sig = cert[64 * i : 64 * (i + 1)]
        if not schnorr.verify(certeq_message(x, i), hostpubkey[1:33], sig):
            return i
    return None
