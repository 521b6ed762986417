"""JSON encoding of the signer protocol for HTTP: dataclasses <-> JSON, bytes as hex.

Decoding is strict (exact field sets, exact types) because the server decodes what an
authenticated but possibly faulty coordinator sent, and the client decodes what a
possibly faulty signer sent. Every failure is a `WireFormatError`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from nostr_passport.errors import BadRequestError
from nostr_passport.signer.protocol import (
    EcdhRequest,
    ShareSlot,
    SignRequest,
)

T = TypeVar("T")

MAX_DEPTH = 8


class WireFormatError(BadRequestError):
    """A message that does not decode to the expected protocol type."""

    code = "malformed_message"


# ---------------------------------------------------------------- operation arguments


@dataclass(frozen=True)
class NoArgs:
    pass


@dataclass(frozen=True)
class DealIdentityArgs:
    identity_id: str
    threshold: int
    slots: tuple[ShareSlot, ...]
    epoch: int = 0


@dataclass(frozen=True)
class ReceiveShareArgs:
    identity_id: str
    participant: int
    epoch: int
    threshold: int
    group_pubkey: bytes
    vss_commitments: tuple[bytes, ...]
    blob: bytes
    participants: int = 0


@dataclass(frozen=True)
class CommitmentsArgs:
    count: int


@dataclass(frozen=True)
class PartialSignArgs:
    requests: tuple[SignRequest, ...]


@dataclass(frozen=True)
class EcdhArgs:
    request: EcdhRequest


@dataclass(frozen=True)
class IdentityArgs:
    identity_id: str


@dataclass(frozen=True)
class ExportShareArgs:
    identity_id: str
    recipient_transport_key: bytes


@dataclass(frozen=True)
class DeleteShareArgs:
    identity_id: str
    epoch: int | None = None


# ---------------------------------------------------------------- encoding


def to_jsonable(value: Any) -> Any:
    """Dataclasses to dicts, bytes to lowercase hex, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | bool | float):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes, tp: type[T]) -> T:
    """Parse and decode `data` as `tp`; WireFormatError on any mismatch."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise WireFormatError("message is not valid JSON") from None
    return from_jsonable(raw, tp)


def from_jsonable(raw: Any, tp: type[T]) -> T:
    value: T = _decode(raw, tp, "message", 0)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(raw: Any, tp: Any, where: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireFormatError(f"{where}: nested too deeply")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(raw, tp, where, depth)
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"unsupported tuple type {tp}")
        if not isinstance(raw, list):
            raise WireFormatError(f"{where}: expected a list")
        return tuple(_decode(v, args[0], f"{where}[{i}]", depth + 1) for i, v in enumerate(raw))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if raw is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        if len(others) != 1:
            raise TypeError(f"unsupported union {tp}")
        return _decode(raw, others[0], where, depth)
    if tp is bytes:
        if not isinstance(raw, str) or len(raw) % 2 or raw != raw.lower():
            raise WireFormatError(f"{where}: expected lowercase hex")
        try:
            return bytes.fromhex(raw)
        except ValueError:
            raise WireFormatError(f"{where}: expected lowercase hex") from None
    if tp is bool:
        if not isinstance(raw, bool):
            raise WireFormatError(f"{where}: expected a boolean")
        return raw
    if tp is int:
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise WireFormatError(f"{where}: expected an integer")
        return raw
    if tp is str:
        if not isinstance(raw, str):
            raise WireFormatError(f"{where}: expected a string")
        return raw
    raise TypeError(f"unsupported type {tp}")


def _decode_dataclass(raw: Any, cls: type, where: str, depth: int) -> Any:
    if not isinstance(raw, dict):
        raise WireFormatError(f"{where}: expected an object")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise WireFormatError(f"{where}: unknown fields {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in raw:
            has_default = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if not has_default:
                raise WireFormatError(f"{where}: missing field {name}")
            continue
        kwargs[name] = _decode(raw[name], hints[name], f"{where}.{name}", depth + 1)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise WireFormatError(f"{where}: {exc}") from None
