"""HTTP argument types of the key-lifecycle operations (signer/wire.py encodes them)."""

from __future__ import annotations

from dataclasses import dataclass

from nostr_passport.signer.protocol import RefreshDeal, ReshapeDeal, ShareSlot


@dataclass(frozen=True)
class RefreshDealArgs:
    identity_id: str
    from_epoch: int
    to_epoch: int
    slots: tuple[ShareSlot, ...]


@dataclass(frozen=True)
class RefreshReceiveArgs:
    identity_id: str
    from_epoch: int
    to_epoch: int
    deals: tuple[RefreshDeal, ...]
    participants: int


@dataclass(frozen=True)
class ReshapeDealArgs:
    identity_id: str
    from_epoch: int
    to_epoch: int
    quorum: tuple[int, ...]
    new_threshold: int
    slots: tuple[ShareSlot, ...]


@dataclass(frozen=True)
class ReshapeReceiveArgs:
    identity_id: str
    to_epoch: int
    participant: int
    new_threshold: int
    new_participants: int
    group_pubkey: bytes
    deals: tuple[ReshapeDeal, ...]


@dataclass(frozen=True)
class DealImportedArgs:
    identity_id: str
    threshold: int
    slots: tuple[ShareSlot, ...]
    wrapped_secret: bytes
    epoch: int = 0


@dataclass(frozen=True)
class DkgStep1Args:
    identity_id: str
    hostpubkeys: tuple[bytes, ...]
    threshold: int


@dataclass(frozen=True)
class DkgMessageArgs:
    identity_id: str
    message: bytes


@dataclass(frozen=True)
class DkgBytes:
    value: bytes
