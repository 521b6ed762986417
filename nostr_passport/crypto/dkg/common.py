"""What every ChillDKG layer shares: the BIP's hash tags and the wire encodings.

Group elements on the wire are 33-byte compressed points, with 33 zero bytes for the
point at infinity where the BIP allows it (VSS commitments and their sums); scalars are
32-byte big-endian integers below n. A message of the wrong *length* is the caller's
mistake (`InvalidInputError`); a message of the right length with a bad point or scalar
inside raises `MalformedMessageError`, which each protocol step turns into blame of the
party that sent it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..curve import MaybePoint, N, cbytes_ext, point_from_cbytes_ext, point_sum, tagged_hash
from ..errors import InvalidInputError

BIP_TAG = "BIP DKG/"


class MalformedMessageError(InvalidInputError):
    """A well-sized protocol message holds an invalid point or scalar.

    Internal to the DKG package: every caller converts it into blame of the sender.
    """


def dkg_hash(tag: str, msg: bytes) -> bytes:
    """The BIP's tagged hash, with tags in the "BIP DKG/" namespace."""
    return tagged_hash(BIP_TAG + tag, msg)


def u32(value: int) -> bytes:
    """4-byte big-endian encoding of a participant index or a threshold."""
    return value.to_bytes(4, "big")


def chunks(data: bytes, size: int, count: int) -> list[bytes]:
    """`count` consecutive `size`-byte pieces of `data` (whose length the caller checked)."""
    return [data[i * size : (i + 1) * size] for i in range(count)]


def check_length(data: bytes, expected: int, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray) or len(data) != expected:
        raise InvalidInputError(f"{what} must be {expected} bytes")
    return bytes(data)


def points_from_bytes(data: bytes, count: int, what: str) -> list[MaybePoint]:
    """`count` 33-byte points (infinity allowed) from `data` of exactly 33*count bytes."""
    try:
        return [point_from_cbytes_ext(c, what=what) for c in chunks(data, 33, count)]
    except InvalidInputError as exc:
        raise MalformedMessageError(f"invalid {what}") from exc


def points_to_bytes(points: Iterable[MaybePoint]) -> bytes:
    return b"".join(cbytes_ext(pt) for pt in points)


def scalars_from_bytes(data: bytes, count: int, what: str) -> list[int]:
    """`count` 32-byte scalars below n from `data` of exactly 32*count bytes."""
    values = [int.from_bytes(c, "big") for c in chunks(data, 32, count)]
    if any(v >= N for v in values):
        raise MalformedMessageError(f"invalid {what}")
    return values


def scalars_to_bytes(values: Iterable[int]) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in values)


def sum_points(points: Iterable[MaybePoint]) -> MaybePoint:
    """The sum of points any of which may be infinity (None)."""
    return point_sum([pt for pt in points if pt is not None])


def sum_scalars(values: Iterable[int]) -> int:
    return sum(values) % N
