"""FROST threshold signing for BIP-340 signatures, as specified by BIP 445 (v0.8.0).

One function per algorithm of the BIP, named as there: `nonce_gen`, `nonce_agg`,
`sign`, `partial_sig_verify`, `partial_sig_agg`, `deterministic_sign`, the tweak
algorithms, and the data structures Signers Context, Tweak Context and Session Context.

Conventions (BIP 445):
- participant identifiers are 0..n-1 and a share is the polynomial at x = id + 1;
- public shares and the threshold public key are 33-byte compressed points, the final
  signature verifies under the 32-byte x-only (possibly tweaked) threshold key.

Validation happens when a context object is built: a `SignersContext` runs
ValidateSignersCtx, a `SessionContext` runs GetSessionValues and keeps the result, so
an existing context is a valid one, and every signer and verifier sharing it reuses
the values (the BIP allows caching them; it recomputes them only for clarity).

Errors: malformed input raises `InvalidInputError` (the BIP's ValueError; messages
are the reference implementation's); a bad contribution raises
`InvalidContributionError(participant, contrib)` where `participant` is the
*identifier* of the blamed signer (the BIP's list index mapped through `ids`), or
None for the coordinator (`aggnonce`, `aggothernonce`). `nonce_agg` called without
`ids` blames by list index. A second use of a secret nonce raises `NonceReuseError`.

Hot path (a 2-of-3 signature costs about four single-key BIP-340 signatures, see
benchmarks/signing.py): a coordinator parses each public nonce once on receipt
(`PublicNonce`), builds the session with `SessionContext.from_pubnonces` (no re-parse
of the aggregate), signers share that context, and `verified_signature` runs the
final BIP-340 check and spends PartialSigVerify work only when it fails. Sign's
recommended self-verification is evaluated with the signer's own P = d'·G (see
`_own_partial_sig_holds`), which needs one variable-base multiplication, not two.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from coincurve import PublicKeyXOnly

from .curve import (
    G,
    MaybePoint,
    N,
    Point,
    bytes_from_int,
    cbytes,
    cbytes_ext,
    has_even_y,
    lagrange_coefficient,
    point_add,
    point_from_cbytes,
    point_from_cbytes_ext,
    point_mul,
    point_mul_g,
    point_neg,
    point_sum,
    xbytes,
)
from .errors import CryptoError, InvalidContributionError, InvalidInputError, NonceReuseError

__all__ = [
    "PublicNonce",
    "SecretNonce",
    "SessionContext",
    "SessionValues",
    "SignersContext",
    "TweakContext",
    "apply_tweak",
    "deterministic_sign",
    "final_nonce_and_challenge",
    "find_invalid_partial_sig",
    "get_plain_pk",
    "get_session_values",
    "get_xonly_pk",
    "group_pubkey_xonly",
    "nonce_agg",
    "nonce_gen",
    "nonce_gen_internal",
    "partial_sig_agg",
    "partial_sig_verify",
    "partial_sig_verify_internal",
    "sign",
    "thresh_pubkey_and_tweak",
    "tweak_ctx_init",
    "verified_signature",
]

MAX_PARTICIPANTS = 2**32  # ids are hashed as 4-byte integers

T = TypeVar("T")

# ---------------------------------------------------------------- hashing


def _hasher(tag: str) -> hashlib._Hash:
    """A SHA-256 state that has already absorbed the tag prefix (one 64-byte block)."""
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(tag_hash + tag_hash)


# The 64-byte tag prefix is exactly one SHA-256 block: copying a state that absorbed
# it saves a compression per hash on the signing path.
_AUX = _hasher("BIP0445/aux")
_NONCE = _hasher("BIP0445/nonce")
_NONCECOEF = _hasher("BIP0445/noncecoef")
_DET_NONCE = _hasher("BIP0445/deterministic/nonce")
_CHALLENGE = _hasher("BIP0340/challenge")


def _tagged(state: hashlib._Hash, *parts: bytes) -> bytes:
    h = state.copy()
    for part in parts:
        h.update(part)
    return h.digest()


def _scalar_wrapping(digest: bytes) -> int:
    return int.from_bytes(digest, "big") % N


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _negligible(what: str) -> NoReturn:
    # Events of probability ~2^-256 that no party can provoke; the BIP "fails" here.
    raise CryptoError(f"{what} (negligible-probability event)")


# ---------------------------------------------------------------- input checks


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _require_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise InvalidInputError(f"{what} must be bytes")
    return bytes(value)


def _optional_fixed(value: object, length: int, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise InvalidInputError(f"The optional byte array {what} must have length {length}.")
    return bytes(value)


def _sequence(value: Sequence[T], what: str) -> tuple[T, ...]:
    """A tuple copy of a list argument (elements are checked where they are used)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise InvalidInputError(f"{what} must be a sequence")
    return tuple(value)


def _secshare_scalar(secshare: object) -> int:
    if not isinstance(secshare, bytes | bytearray) or len(secshare) != 32:
        raise InvalidInputError("The signer's secret share must be a 32-byte array.")
    d = int.from_bytes(secshare, "big")
    if not 0 < d < N:
        raise InvalidInputError("The signer's secret share value is out of range.")
    return d


def _serialize_ids(ids: Sequence[int]) -> bytes:
    """SerializeIds: sorted, so that b commits to the signer *set*, not its order."""
    return b"".join(i.to_bytes(4, "big") for i in sorted(ids))


def _derive_interpolating_value(ids: Sequence[int], my_id: int) -> int:
    """DeriveInterpolatingValue on BIP 445 ids: Lagrange at 0 on x = id + 1."""
    return lagrange_coefficient([i + 1 for i in ids], my_id + 1)


# ---------------------------------------------------------------- signers context


@dataclass(frozen=True)
class SignersContext:
    """Signers Context (n, t, ids, pubshares, thresh_pk); built only if valid.

    Construction runs ValidateSignersCtx and keeps the parsed public shares and each
    signer's interpolating value, so build one per signer set and reuse it.
    """

    n: int
    t: int
    ids: Sequence[int]
    pubshares: Sequence[bytes]
    thresh_pk: bytes
    _points: tuple[Point, ...] = field(init=False, repr=False, compare=False)
    _lambdas: dict[int, int] = field(init=False, repr=False, compare=False)
    _thresh_point: Point = field(init=False, repr=False, compare=False)
    _xonly_key: PublicKeyXOnly = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = _sequence(self.ids, "ids")
        pubshares = _sequence(self.pubshares, "pubshares")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "pubshares", pubshares)
        n, t = self.n, self.t
        if not (_is_int(n) and _is_int(t)) or not 2 <= n < MAX_PARTICIPANTS:
            raise InvalidInputError("The number of participants n must be in [2, 2^32).")
        if not 1 <= t <= n:
            raise InvalidInputError("The threshold must be 1 <= t <= n.")
        if not t <= len(ids) <= n:
            raise InvalidInputError("The number of signers must be between t and n.")
        if len(pubshares) != len(ids):
            raise InvalidInputError("The pubshares and ids arrays must have the same length.")
        points = []
        for idx, (my_id, pubshare) in enumerate(zip(ids, pubshares, strict=True)):
            if not _is_int(my_id) or not 0 <= my_id <= n - 1:
                raise InvalidInputError(
                    f"The participant identifier at index {idx} is out of range."
                )
            try:
                points.append(point_from_cbytes(pubshare))
            except InvalidInputError:
                raise InvalidInputError(f"Invalid pubshare at index {idx}.") from None
        object.__setattr__(self, "pubshares", tuple(cbytes(p) for p in points))
        if len(set(ids)) != len(ids):
            raise InvalidInputError("The participant identifier list contains duplicate elements.")
        lambdas = {i: _derive_interpolating_value(ids, i) for i in ids}
        thresh_point = _derive_thresh_pubkey(ids, points, lambdas)
        if not isinstance(self.thresh_pk, bytes | bytearray) or cbytes(thresh_point) != bytes(
            self.thresh_pk
        ):
            raise InvalidInputError("The provided key material is incorrect.")
        object.__setattr__(self, "thresh_pk", bytes(self.thresh_pk))
        object.__setattr__(self, "_points", tuple(points))
        object.__setattr__(self, "_lambdas", lambdas)
        object.__setattr__(self, "_thresh_point", thresh_point)
        object.__setattr__(self, "_xonly_key", PublicKeyXOnly(xbytes(thresh_point)))

    @property
    def u(self) -> int:
        """The number of signing participants."""
        return len(self.ids)

    def interpolating_value(self, my_id: int) -> int:
        """λ of `my_id` in this signer set (InvalidInputError if it is not a member)."""
        try:
            return self._lambdas[my_id]
        except (KeyError, TypeError):
            raise InvalidInputError(
                "The signer's id must be present in the participant identifier list."
            ) from None


def _derive_thresh_pubkey(
    ids: Sequence[int], points: Sequence[Point], lambdas: dict[int, int]
) -> Point:
    """DeriveThreshPubkey: Σ λ_i·P_i over the signer set."""
    terms = [point_mul(p, lambdas[i]) for i, p in zip(ids, points, strict=True)]
    q = point_sum([p for p in terms if p is not None])
    if q is None:
        raise InvalidInputError("The threshold pubkey must not be the point at infinity.")
    return q


# ---------------------------------------------------------------- tweaking


@dataclass(frozen=True)
class TweakContext:
    """Tweak Context: the (tweaked) threshold key Q, sign accumulator and tweak sum."""

    Q: Point
    gacc: int
    tacc: int


def tweak_ctx_init(thresh_pk: bytes) -> TweakContext:
    """TweakCtxInit from a 33-byte compressed threshold public key."""
    return TweakContext(
        point_from_cbytes(_require_bytes(thresh_pk, "thresh_pk"), what="thresh_pk"), 1, 0
    )


def get_xonly_pk(tweak_ctx: TweakContext) -> bytes:
    return xbytes(tweak_ctx.Q)


def get_plain_pk(tweak_ctx: TweakContext) -> bytes:
    return cbytes(tweak_ctx.Q)


def apply_tweak(tweak_ctx: TweakContext, tweak: bytes, is_xonly: bool) -> TweakContext:
    """ApplyTweak: Q' = g·Q + t·G with g = -1 only for an x-only tweak of an odd-y Q."""
    if not isinstance(tweak, bytes | bytearray) or len(tweak) != 32:
        raise InvalidInputError("The tweak must be a 32-byte array.")
    if not isinstance(is_xonly, bool):
        raise InvalidInputError("The tweak mode is_xonly must be a boolean.")
    q, gacc, tacc = tweak_ctx.Q, tweak_ctx.gacc, tweak_ctx.tacc
    negate = is_xonly and not has_even_y(q)
    t = int.from_bytes(tweak, "big")
    if t >= N:
        raise InvalidInputError("The tweak value is out of range.")
    q_new = point_add(point_neg(q) if negate else q, point_mul_g(t))
    if q_new is None:
        raise InvalidInputError("The result of tweaking cannot be infinity.")
    g = N - 1 if negate else 1
    return TweakContext(q_new, g * gacc % N, (t + g * tacc) % N)


def thresh_pubkey_and_tweak(
    thresh_pk: bytes, tweaks: Sequence[bytes], is_xonly: Sequence[bool]
) -> TweakContext:
    """The Tweak Context after applying `tweaks` in order (the BIP's loop)."""
    tweak_list = _sequence(tweaks, "tweaks")
    mode_list = _sequence(is_xonly, "is_xonly")
    if len(tweak_list) != len(mode_list):
        raise InvalidInputError("The tweaks and is_xonly arrays must have the same length.")
    return _tweaked(tweak_ctx_init(thresh_pk), tweak_list, mode_list)


def _tweaked(ctx: TweakContext, tweaks: Sequence[bytes], is_xonly: Sequence[bool]) -> TweakContext:
    if len(tweaks) != len(is_xonly):
        raise InvalidInputError("The tweaks and is_xonly arrays must have the same length.")
    for tweak, mode in zip(tweaks, is_xonly, strict=True):
        ctx = apply_tweak(ctx, tweak, mode)
    return ctx


def group_pubkey_xonly(
    thresh_pk: bytes, tweaks: Sequence[bytes] = (), is_xonly: Sequence[bool] = ()
) -> bytes:
    """The 32-byte x-only key the final signature verifies under (the Nostr pubkey)."""
    return get_xonly_pk(thresh_pubkey_and_tweak(thresh_pk, tweaks, is_xonly))


# ---------------------------------------------------------------- nonces


class SecretNonce:
    """A signer's secret nonce (k1, k2): single use, never printed.

    `sign` consumes it: the stored bytes are overwritten with zeros and any later use
    raises NonceReuseError. The public nonce travels with it (public data). Copying or
    pickling is refused because a copy would be a second use waiting to happen.

    Persisting a nonce (to wrap it under an HSM key and sign after a restart) goes
    through `export_bytes`, which is the hazardous path: it hands out the only copy
    and consumes this object, so the caller owns single use from then on.
    """

    __slots__ = ("_buf", "_lock", "_points")

    def __init__(self, k1: int, k2: int, points: tuple[Point, Point] | None = None) -> None:
        if not (_is_int(k1) and _is_int(k2)):
            raise InvalidInputError("secret nonce values must be integers")
        if not 0 < k1 < N:
            raise InvalidInputError("first secnonce value is out of range.")
        if not 0 < k2 < N:
            raise InvalidInputError("second secnonce value is out of range.")
        self._buf = bytearray(bytes_from_int(k1) + bytes_from_int(k2))
        self._lock = threading.Lock()
        self._points = points

    @classmethod
    def from_bytes(cls, secnonce: bytes, pubnonce: bytes | None = None) -> SecretNonce:
        """Load a 64-byte secnonce (k1 || k2), e.g. after unwrapping it from storage.

        `pubnonce` may be given to skip recomputing it; `sign`'s own verification of
        the partial signature catches a pubnonce that does not match the secret.
        """
        if not isinstance(secnonce, bytes | bytearray) or len(secnonce) != 64:
            raise InvalidInputError("secnonce must be 64 bytes")
        k1 = int.from_bytes(secnonce[:32], "big")
        k2 = int.from_bytes(secnonce[32:], "big")
        points = None if pubnonce is None else _parse_pubnonce(pubnonce, None)
        return cls(k1, k2, points)

    @property
    def consumed(self) -> bool:
        return not any(self._buf)

    def pubnonce(self) -> bytes:
        """The 66-byte public nonce belonging to this secret nonce."""
        r1, r2 = self._public_points()
        return cbytes(r1) + cbytes(r2)

    def public_nonce(self) -> PublicNonce:
        """The public nonce as an already parsed PublicNonce."""
        r1, r2 = self._public_points()
        return PublicNonce._of(cbytes(r1) + cbytes(r2), (r1, r2))

    def _public_points(self) -> tuple[Point, Point]:
        if self._points is None:
            with self._lock:
                if not any(self._buf):
                    raise NonceReuseError("secret nonce already used")
                k1 = int.from_bytes(self._buf[:32], "big")
                k2 = int.from_bytes(self._buf[32:], "big")
            r1, r2 = point_mul_g(k1), point_mul_g(k2)
            assert r1 is not None and r2 is not None  # k1, k2 are nonzero
            self._points = (r1, r2)
        return self._points

    def _take(self) -> tuple[int, int]:
        """(k1, k2), wiping the stored copy; NonceReuseError on a second call."""
        with self._lock:
            buf = self._buf
            if not any(buf):
                raise NonceReuseError("secret nonce already used")
            k1 = int.from_bytes(buf[:32], "big")
            k2 = int.from_bytes(buf[32:], "big")
            buf[:] = bytes(64)
        return k1, k2

    def export_bytes(self) -> bytes:
        """HAZARDOUS: the 64-byte secnonce, once, for wrapping; consumes this object."""
        k1, k2 = self._take()
        return bytes_from_int(k1) + bytes_from_int(k2)

    def __repr__(self) -> str:
        return f"SecretNonce(<secret>, consumed={self.consumed})"

    def __copy__(self) -> NoReturn:
        raise NonceReuseError("secret nonces cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise NonceReuseError("secret nonces cannot be copied")

    def __reduce__(self) -> NoReturn:
        raise NonceReuseError("secret nonces cannot be serialised except by export_bytes")


@dataclass(frozen=True)
class PublicNonce:
    """A signer's 66-byte public nonce, parsed once (as libsecp256k1's musig API does).

    A coordinator parses each pubnonce when it receives it (and blames the sender
    then); aggregation and verification take these objects or plain bytes.
    """

    data: bytes
    _points: tuple[Point, Point] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_points", _parse_pubnonce(self.data, None))
        object.__setattr__(self, "data", bytes(self.data))

    @classmethod
    def from_bytes(cls, pubnonce: bytes, participant: int | None = None) -> PublicNonce:
        """Parse; InvalidContributionError(participant, "pubnonce") if malformed."""
        return cls._of(
            bytes(pubnonce) if isinstance(pubnonce, bytearray) else pubnonce,
            _parse_pubnonce(pubnonce, participant),
        )

    @classmethod
    def _of(cls, data: bytes, points: tuple[Point, Point]) -> PublicNonce:
        """A PublicNonce from points already known to encode to `data` (no re-parse)."""
        nonce = object.__new__(cls)
        object.__setattr__(nonce, "data", data)
        object.__setattr__(nonce, "_points", points)
        return nonce


PubNonceLike = bytes | PublicNonce


def _parse_pubnonce(pubnonce: object, participant: int | None) -> tuple[Point, Point]:
    if isinstance(pubnonce, PublicNonce):
        return pubnonce._points
    if not isinstance(pubnonce, bytes | bytearray) or len(pubnonce) != 66:
        raise InvalidContributionError(participant, "pubnonce")
    try:
        return point_from_cbytes(bytes(pubnonce[:33])), point_from_cbytes(bytes(pubnonce[33:]))
    except InvalidInputError:
        raise InvalidContributionError(participant, "pubnonce") from None


def _nonce_hash(
    rand: bytes, pubshare: bytes, thresh_pk: bytes, msg_prefixed: bytes, extra_in: bytes, i: int
) -> bytes:
    return _tagged(
        _NONCE,
        rand,
        len(pubshare).to_bytes(1, "big"),
        pubshare,
        len(thresh_pk).to_bytes(1, "big"),
        thresh_pk,
        msg_prefixed,
        len(extra_in).to_bytes(4, "big"),
        extra_in,
        i.to_bytes(1, "big"),
    )


def _nonce_from_scalars(k1: int, k2: int) -> tuple[SecretNonce, bytes]:
    if k1 == 0 or k2 == 0:
        _negligible("nonce derivation produced zero")
    r1, r2 = point_mul_g(k1), point_mul_g(k2)
    assert r1 is not None and r2 is not None
    return SecretNonce(k1, k2, (r1, r2)), cbytes(r1) + cbytes(r2)


def nonce_gen_internal(
    rand_: bytes,
    secshare: bytes | None,
    pubshare: bytes | None,
    thresh_pk: bytes | None,
    msg: bytes | None,
    extra_in: bytes | None,
) -> tuple[SecretNonce, bytes]:
    """NonceGen with the random input `rand_` given (for test vectors only)."""
    if not isinstance(rand_, bytes | bytearray) or len(rand_) != 32:
        raise InvalidInputError("rand' must be 32 bytes")
    share = _optional_fixed(secshare, 32, "secshare")
    pub = _optional_fixed(pubshare, 33, "pubshare")
    tpk = _optional_fixed(thresh_pk, 32, "thresh_pk")
    rand = bytes(rand_) if share is None else _xor(share, _tagged(_AUX, bytes(rand_)))
    if msg is None:
        msg_prefixed = b"\x00"
    else:
        m = _require_bytes(msg, "msg")
        msg_prefixed = b"\x01" + len(m).to_bytes(8, "big") + m
    extra = b"" if extra_in is None else _require_bytes(extra_in, "extra_in")
    if len(extra) >= 2**32:
        raise InvalidInputError("extra_in is too long")
    pub = pub or b""
    tpk = tpk or b""
    k1 = _scalar_wrapping(_nonce_hash(rand, pub, tpk, msg_prefixed, extra, 0))
    k2 = _scalar_wrapping(_nonce_hash(rand, pub, tpk, msg_prefixed, extra, 1))
    return _nonce_from_scalars(k1, k2)


def nonce_gen(
    secshare: bytes | None = None,
    pubshare: bytes | None = None,
    thresh_pk: bytes | None = None,
    msg: bytes | None = None,
    extra_in: bytes | None = None,
) -> tuple[SecretNonce, bytes]:
    """NonceGen: a fresh (secret nonce, 66-byte public nonce) from OS randomness.

    The optional arguments are the BIP's defence in depth against a bad RNG; pass
    what is known (thresh_pk is the 32-byte x-only, possibly tweaked, key).
    """
    return nonce_gen_internal(os.urandom(32), secshare, pubshare, thresh_pk, msg, extra_in)


def nonce_agg(pubnonces: Sequence[PubNonceLike], ids: Sequence[int] | None = None) -> bytes:
    """NonceAgg: the 66-byte aggregate nonce; blames the first invalid pubnonce.

    With `ids`, the blamed participant is ids[index]; without, it is the list index.
    """
    r1, r2 = _aggregate_nonce_points(pubnonces, ids)
    return cbytes_ext(r1) + cbytes_ext(r2)


def _aggregate_nonce_points(
    pubnonces: Sequence[PubNonceLike], ids: Sequence[int] | None
) -> tuple[MaybePoint, MaybePoint]:
    """NonceAgg's two sums as points (None is infinity)."""
    nonces = _sequence(pubnonces, "pubnonces")
    if not nonces:
        raise InvalidInputError("NonceAgg needs at least one pubnonce.")
    blame: Sequence[int] = range(len(nonces)) if ids is None else _sequence(ids, "ids")
    if len(blame) != len(nonces):
        raise InvalidInputError("The pubnonces and ids arrays must have the same length.")
    firsts: list[Point] = []
    seconds: list[Point] = []
    for who, pubnonce in zip(blame, nonces, strict=True):
        r1, r2 = _parse_pubnonce(pubnonce, who)
        firsts.append(r1)
        seconds.append(r2)
    return point_sum(firsts), point_sum(seconds)


# ---------------------------------------------------------------- session


@dataclass(frozen=True)
class SessionValues:
    """The output of GetSessionValues, plus the parities every later step needs."""

    Q: Point
    gacc: int
    tacc: int
    b: int
    R: Point
    e: int
    q_xonly: bytes
    r_xonly: bytes
    q_even: bool
    r_even: bool


@dataclass(frozen=True)
class SessionContext:
    """Session Context (signers_ctx, aggnonce, tweaks, is_xonly, msg).

    Construction runs GetSessionValues once; `values` holds the result for every
    signer, verifier and the aggregator of this session. Keep it out of reach of
    untrusted parties: it fixes the key and message being signed.
    """

    signers: SignersContext
    aggnonce: bytes
    tweaks: Sequence[bytes] = ()
    is_xonly: Sequence[bool] = ()
    msg: bytes = b""
    values: SessionValues = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._complete(None)

    @classmethod
    def from_pubnonces(
        cls,
        signers: SignersContext,
        pubnonces: Sequence[PubNonceLike],
        tweaks: Sequence[bytes] = (),
        is_xonly: Sequence[bool] = (),
        msg: bytes = b"",
    ) -> SessionContext:
        """The coordinator's session: NonceAgg over `pubnonces` (in the order of
        signers.ids, blaming by id), then GetSessionValues without re-parsing the
        aggregate it has just computed."""
        if not isinstance(signers, SignersContext):
            raise InvalidInputError("signers must be a SignersContext")
        points = _aggregate_nonce_points(pubnonces, signers.ids)
        ctx = object.__new__(cls)
        for name, value in (
            ("signers", signers),
            ("aggnonce", cbytes_ext(points[0]) + cbytes_ext(points[1])),
            ("tweaks", tweaks),
            ("is_xonly", is_xonly),
            ("msg", msg),
        ):
            object.__setattr__(ctx, name, value)
        ctx._complete(points)
        return ctx

    def _complete(self, nonce_points: tuple[MaybePoint, MaybePoint] | None) -> None:
        if not isinstance(self.signers, SignersContext):
            raise InvalidInputError("signers must be a SignersContext")
        object.__setattr__(self, "tweaks", _sequence(self.tweaks, "tweaks"))
        object.__setattr__(self, "is_xonly", _sequence(self.is_xonly, "is_xonly"))
        object.__setattr__(self, "msg", _require_bytes(self.msg, "msg"))
        object.__setattr__(self, "aggnonce", _require_bytes(self.aggnonce, "aggnonce"))
        object.__setattr__(self, "values", _session_values(self, nonce_points))


def _session_values(
    ctx: SessionContext, nonce_points: tuple[MaybePoint, MaybePoint] | None
) -> SessionValues:
    """GetSessionValues (ValidateSignersCtx already ran when ctx.signers was built).

    `nonce_points` are the aggregate nonce's points when the caller has just built
    aggnonce from them, so that they are not parsed back.
    """
    signers = ctx.signers
    # TweakCtxInit from the group key the signers context has already parsed.
    tweak = _tweaked(TweakContext(signers._thresh_point, 1, 0), ctx.tweaks, ctx.is_xonly)
    q = tweak.Q
    q_c = signers.thresh_pk if q is signers._thresh_point else cbytes(q)
    q_xonly = q_c[1:]
    aggnonce, msg = ctx.aggnonce, ctx.msg
    ser_ids = _serialize_ids(signers.ids)
    # The reference code (v0.8.0, which the vectors follow) prefixes the *byte length*
    # of ser_ids (4·u), so that the variable-length id list parses unambiguously.
    b = _scalar_wrapping(
        _tagged(_NONCECOEF, len(ser_ids).to_bytes(4, "big"), ser_ids, aggnonce, q_xonly, msg)
    )
    if b == 0:
        _negligible("nonce coefficient is zero")
    if nonce_points is None:
        nonce_points = _parse_aggnonce(aggnonce)
    r1, r2 = nonce_points
    r_sum = point_add(r1, point_mul(r2, b))
    # Infinity here means someone cheated; continuing with G lets PartialSigVerify
    # find out who (BIP 445, "Dealing with Infinity in Nonce Aggregation").
    r = G if r_sum is None else r_sum
    r_c = cbytes(r)
    r_xonly = r_c[1:]
    e = _scalar_wrapping(_tagged(_CHALLENGE, r_xonly, q_xonly, msg))
    if e == 0:
        _negligible("challenge is zero")
    return SessionValues(
        Q=q,
        gacc=tweak.gacc,
        tacc=tweak.tacc,
        b=b,
        R=r,
        e=e,
        q_xonly=q_xonly,
        r_xonly=r_xonly,
        q_even=q_c[0] == 2,
        r_even=r_c[0] == 2,
    )


def _parse_aggnonce(aggnonce: bytes) -> tuple[MaybePoint, MaybePoint]:
    if len(aggnonce) != 66:
        raise InvalidContributionError(None, "aggnonce")
    try:
        return point_from_cbytes_ext(aggnonce[:33]), point_from_cbytes_ext(aggnonce[33:])
    except InvalidInputError:
        raise InvalidContributionError(None, "aggnonce") from None


def get_session_values(session_ctx: SessionContext) -> SessionValues:
    """GetSessionValues (computed when the context was built)."""
    return session_ctx.values


def final_nonce_and_challenge(session_ctx: SessionContext) -> tuple[bytes, int]:
    """(xbytes(R), e): the final signature's nonce and BIP-340 challenge."""
    sv = session_ctx.values
    return sv.r_xonly, sv.e


def _key_sign(sv: SessionValues) -> int:
    """g·gacc: the sign applied to every share so the group key has even y."""
    return sv.gacc if sv.q_even else N - sv.gacc


# ---------------------------------------------------------------- signing


def sign(secnonce: SecretNonce, secshare: bytes, my_id: int, session_ctx: SessionContext) -> bytes:
    """Sign: signer `my_id`'s 32-byte partial signature; consumes `secnonce`.

    The partial signature is verified (PartialSigVerifyInternal) before it is returned,
    so a computation fault never releases a value that could leak the share.
    """
    if not isinstance(secnonce, SecretNonce):
        raise InvalidInputError("secnonce must be a SecretNonce")
    if not isinstance(session_ctx, SessionContext):
        raise InvalidInputError("session_ctx must be a SessionContext")
    if not _is_int(my_id):
        raise InvalidInputError("my_id must be an integer")
    sv = session_ctx.values
    signers = session_ctx.signers
    points = secnonce._public_points()
    k1_, k2_ = secnonce._take()
    k1, k2 = (k1_, k2_) if sv.r_even else (N - k1_, N - k2_)
    d_ = _secshare_scalar(secshare)
    p_point = point_mul_g(d_)
    assert p_point is not None
    pubshare = cbytes(p_point)
    if pubshare not in signers.pubshares:
        raise InvalidInputError("The signer's pubshare must be included in the list of pubshares.")
    lam = signers.interpolating_value(my_id)
    # Beyond the BIP (which checks membership only): the share must be the one listed
    # for this id, or the aggregate would be wrong while each check passes.
    if signers.pubshares[signers.ids.index(my_id)] != pubshare:
        raise InvalidInputError("The signer's pubshare does not belong to the signer's id.")
    g_acc = _key_sign(sv)
    d = g_acc * d_ % N
    s = (k1 + sv.b * k2 + sv.e * lam * d) % N
    if not _own_partial_sig_holds(s, d_, g_acc, lam, points, sv):
        raise CryptoError("partial signature failed its own verification")
    return bytes_from_int(s)


def _own_partial_sig_holds(
    s: int, d_: int, g_acc: int, lam: int, nonce_points: tuple[Point, Point], sv: SessionValues
) -> bool:
    """Sign's self-check: PartialSigVerifyInternal's equation for our own psig.

    The equation is s·G == Re + e·λ·g'·P. Sign has just computed P = d'·G itself (and
    found it among the pubshares), so e·λ·g'·P = (e·λ·g'·d')·G and the equation reads
    (s − e·λ·g'·d')·G == Re: the same check, with one variable-base multiplication
    (b·R*2) instead of two. e·λ·g'·d' is recomputed here in another order, so a fault
    in the arithmetic of s shows; Re comes from the public nonce, so a secret nonce
    that does not match the published pubnonce shows too.
    """
    nonce_part = (s - d_ * g_acc % N * (lam * sv.e % N)) % N  # k1 + b·k2, signs included
    if not sv.r_even:
        nonce_part = N - nonce_part  # Re = -(R*1 + b·R*2) when R has odd y
    r1, r2 = nonce_points
    # R*1 + b·R*2 - (nonce part)·G must be the point at infinity: one combine, no
    # serialisation of either side.
    terms = [r1, point_mul(r2, sv.b), point_mul_g(N - nonce_part)]
    return point_sum([t for t in terms if t is not None]) is None


def _partial_sig_equation_holds(
    s: int, lam: int, nonce_points: tuple[Point, Point], p_point: Point, sv: SessionValues
) -> bool:
    """s·G == Re + e·λ·g'·P, with Re = ±(R*1 + b·R*2) by the parity of R.

    The sign of Re is moved onto the scalars (±s, ±e·λ·g') so no point is negated,
    and the equation is checked as R*1 + b·R*2 + c·P - s·G == infinity.
    """
    c = sv.e * lam * _key_sign(sv) % N
    if not sv.r_even:
        s, c = (N - s) % N, (N - c) % N
    r1, r2 = nonce_points
    terms = [r1, point_mul(r2, sv.b), point_mul(p_point, c), point_mul_g(N - s)]
    return point_sum([t for t in terms if t is not None]) is None


def partial_sig_verify_internal(
    psig: bytes, my_id: int, pubnonce: PubNonceLike, pubshare: bytes, session_ctx: SessionContext
) -> bool:
    """PartialSigVerifyInternal: whether `psig` is valid for this signer and session."""
    if not isinstance(session_ctx, SessionContext):
        raise InvalidInputError("session_ctx must be a SessionContext")
    psig_b = _require_bytes(psig, "psig")
    if not _is_int(my_id):
        raise InvalidInputError("my_id must be an integer")
    signers = session_ctx.signers
    if len(psig_b) != 32:
        return False
    s = int.from_bytes(psig_b, "big")
    if s >= N:
        return False
    if pubshare not in signers.pubshares:
        return False
    if my_id not in signers._lambdas:
        return False
    try:
        points = _parse_pubnonce(pubnonce, None)
        p_point = point_from_cbytes(pubshare)
    except (InvalidContributionError, InvalidInputError):
        return False
    return _partial_sig_equation_holds(
        s, signers._lambdas[my_id], points, p_point, session_ctx.values
    )


def partial_sig_verify(
    psig: bytes,
    pubnonces: Sequence[PubNonceLike],
    signers_ctx: SignersContext,
    tweaks: Sequence[bytes],
    is_xonly: Sequence[bool],
    msg: bytes,
    i: int,
) -> bool:
    """PartialSigVerify: whether the i-th (list index) signer's `psig` is valid."""
    if not isinstance(signers_ctx, SignersContext):
        raise InvalidInputError("signers_ctx must be a SignersContext")
    nonces = _sequence(pubnonces, "pubnonces")
    if len(nonces) != signers_ctx.u:
        raise InvalidInputError("The pubnonces and ids arrays must have the same length.")
    if not _is_int(i) or not 0 <= i < signers_ctx.u:
        raise InvalidInputError("The signer index i is out of range.")
    aggnonce = nonce_agg(nonces, signers_ctx.ids)
    session_ctx = SessionContext(signers_ctx, aggnonce, tweaks, is_xonly, msg)
    return partial_sig_verify_internal(
        psig,
        signers_ctx.ids[i],
        nonces[i],
        signers_ctx.pubshares[i],
        session_ctx,
    )


def find_invalid_partial_sig(
    psigs: Sequence[bytes], pubnonces: Sequence[PubNonceLike], session_ctx: SessionContext
) -> None:
    """Raise InvalidContributionError naming the first signer whose psig is invalid.

    `psigs` and `pubnonces` are in the order of session_ctx.signers.ids, and the
    session's aggnonce must be the aggregate of `pubnonces` (the coordinator's own).
    Returns None when every partial signature is valid.
    """
    if not isinstance(session_ctx, SessionContext):
        raise InvalidInputError("session_ctx must be a SessionContext")
    signers = session_ctx.signers
    sigs = _sequence(psigs, "psigs")
    nonces = _sequence(pubnonces, "pubnonces")
    if len(sigs) != signers.u or len(nonces) != signers.u:
        raise InvalidInputError("The psigs, pubnonces and ids arrays must have the same length.")
    if nonce_agg(nonces, signers.ids) != session_ctx.aggnonce:
        raise InvalidInputError("The session's aggnonce is not the aggregate of these pubnonces.")
    for idx, (psig, pubnonce) in enumerate(zip(sigs, nonces, strict=True)):
        my_id, pubshare = signers.ids[idx], signers.pubshares[idx]
        if not partial_sig_verify_internal(psig, my_id, pubnonce, pubshare, session_ctx):
            raise InvalidContributionError(my_id, "psig")


def partial_sig_agg(psigs: Sequence[bytes], session_ctx: SessionContext) -> bytes:
    """PartialSigAgg: the 64-byte BIP-340 signature (not verified here)."""
    if not isinstance(session_ctx, SessionContext):
        raise InvalidInputError("session_ctx must be a SessionContext")
    sv = session_ctx.values
    ids = session_ctx.signers.ids
    sigs = _sequence(psigs, "psigs")
    if len(sigs) != len(ids):
        raise InvalidInputError("The psigs and ids arrays must have the same length.")
    s = 0
    for my_id, psig in zip(ids, sigs, strict=True):
        if not isinstance(psig, bytes | bytearray):
            raise InvalidInputError("psigs must be bytes")
        if len(psig) != 32:
            raise InvalidContributionError(my_id, "psig")
        s_i = int.from_bytes(psig, "big")
        if s_i >= N:
            raise InvalidContributionError(my_id, "psig")
        s += s_i
    g = 1 if sv.q_even else N - 1
    s = (s + sv.e * g * sv.tacc) % N
    return sv.r_xonly + bytes_from_int(s)


def verified_signature(
    psigs: Sequence[bytes], pubnonces: Sequence[PubNonceLike], session_ctx: SessionContext
) -> bytes:
    """The aggregate signature, BIP-340-verified; on failure, blame the bad signer.

    This is the coordinator's path: aggregate, verify once, and only if that fails
    spend the per-signer PartialSigVerify work to identify who to blame.
    """
    sig = partial_sig_agg(psigs, session_ctx)
    sv = session_ctx.values
    signers = session_ctx.signers
    key = signers._xonly_key if sv.Q is signers._thresh_point else PublicKeyXOnly(sv.q_xonly)
    if key.verify(sig, session_ctx.msg):
        return sig
    find_invalid_partial_sig(psigs, pubnonces, session_ctx)
    raise CryptoError("aggregate signature is invalid but every partial signature verifies")


# ---------------------------------------------------------------- deterministic signing


def _det_nonce_hash(
    secshare_: bytes,
    my_id: int,
    ids: Sequence[int],
    aggothernonce: bytes,
    tweaked_tpk: bytes,
    msg: bytes,
    i: int,
) -> bytes:
    return _tagged(
        _DET_NONCE,
        secshare_,
        my_id.to_bytes(4, "big"),
        len(ids).to_bytes(4, "big"),
        _serialize_ids(ids),
        aggothernonce,
        tweaked_tpk,
        len(msg).to_bytes(8, "big"),
        msg,
        i.to_bytes(1, "big"),
    )


def deterministic_sign(
    secshare: bytes,
    my_id: int,
    aggothernonce: bytes | None,
    signers_ctx: SignersContext,
    tweaks: Sequence[bytes],
    is_xonly: Sequence[bool],
    msg: bytes,
    rand: bytes | None = None,
) -> tuple[bytes, bytes]:
    """DeterministicSign: (pubnonce, psig) for the *last* signer, who needs no nonce state.

    Only for the one signer that sees the aggregate nonce of all others
    (`aggothernonce`), or a sole signer (None). A bad aggothernonce blames the
    coordinator.
    """
    if not isinstance(signers_ctx, SignersContext):
        raise InvalidInputError("signers_ctx must be a SignersContext")
    if not isinstance(secshare, bytes | bytearray) or len(secshare) != 32:
        raise InvalidInputError("The signer's secret share must be a 32-byte array.")
    if rand is not None:
        if not isinstance(rand, bytes | bytearray) or len(rand) != 32:
            raise InvalidInputError("rand must be 32 bytes")
        secshare_ = _xor(bytes(secshare), _tagged(_AUX, bytes(rand)))
    else:
        secshare_ = bytes(secshare)
    other = b"" if aggothernonce is None else _require_bytes(aggothernonce, "aggothernonce")
    if not _is_int(my_id) or not 0 <= my_id < MAX_PARTICIPANTS:
        raise InvalidInputError(
            "The signer's id must be present in the participant identifier list."
        )
    tweaked_tpk = get_xonly_pk(thresh_pubkey_and_tweak(signers_ctx.thresh_pk, tweaks, is_xonly))
    m = _require_bytes(msg, "msg")
    ids = signers_ctx.ids
    k1 = _scalar_wrapping(_det_nonce_hash(secshare_, my_id, ids, other, tweaked_tpk, m, 0))
    k2 = _scalar_wrapping(_det_nonce_hash(secshare_, my_id, ids, other, tweaked_tpk, m, 1))
    secnonce, pubnonce = _nonce_from_scalars(k1, k2)
    if aggothernonce is None:
        aggnonce = pubnonce
    else:
        try:
            aggnonce = nonce_agg([pubnonce, other])
        except InvalidContributionError:
            # Our own pubnonce is valid by construction, so the fault is the other one.
            raise InvalidContributionError(None, "aggothernonce") from None
    session_ctx = SessionContext(signers_ctx, aggnonce, tweaks, is_xonly, m)
    return pubnonce, sign(secnonce, secshare, my_id, session_ctx)
