"""An identity's public key material as the coordinator uses it, and a cache of it.

Only public data is cached (group key, public shares, which signer holds which share),
keyed by (identity, epoch) so a refresh that bumps the epoch can never be served stale
key material; the identity row itself (status, epoch) is read from the store on every
request so that a disable on any gateway takes effect at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from nostr_passport.crypto import frost
from nostr_passport.store.identities import IdentityRecord


@dataclass(frozen=True)
class IdentityKeys:
    identity_id: str
    epoch: int
    threshold: int
    participants: int
    thresh_pk: bytes  # 33-byte compressed threshold key, as dealt
    pubkey: bytes  # 32-byte x-only: the Nostr public key
    pubshares: tuple[bytes, ...]  # index = participant id
    signer_ids: tuple[str, ...]  # index = participant id

    @classmethod
    def from_record(cls, record: IdentityRecord) -> IdentityKeys:
        shares = sorted(record.shares, key=lambda s: s.participant)
        if [s.participant for s in shares] != list(range(record.participants)):
            raise ValueError(f"identity {record.id} has incomplete share records")
        return cls(
            identity_id=record.id,
            epoch=record.epoch,
            threshold=record.threshold,
            participants=record.participants,
            thresh_pk=bytes.fromhex(record.group_pubkey_dealt),
            pubkey=bytes.fromhex(record.group_pubkey),
            pubshares=tuple(bytes.fromhex(s.pubshare) for s in shares),
            signer_ids=tuple(s.signer_id for s in shares),
        )

    def participant_of(self, signer_id: str) -> int:
        return self.signer_ids.index(signer_id)

    def signers_context(self, ids: tuple[int, ...]) -> frost.SignersContext:
        """BIP 445 signers context for the participant set `ids` (validated on build)."""
        return frost.SignersContext(
            self.participants,
            self.threshold,
            ids,
            tuple(self.pubshares[i] for i in ids),
            self.thresh_pk,
        )


class KeyCache:
    """A small LRU of IdentityKeys and their per-signer-set contexts (public data only)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[tuple[str, int], IdentityKeys] = OrderedDict()
        self._contexts: OrderedDict[tuple[str, int, tuple[int, ...]], frost.SignersContext] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def cached(self, identity_id: str, epoch: int) -> IdentityKeys | None:
        key = (identity_id, epoch)
        with self._lock:
            found = self._keys.get(key)
            if found is not None:
                self._keys.move_to_end(key)
            return found

    def keys(self, record: IdentityRecord) -> IdentityKeys:
        key = (record.id, record.epoch)
        with self._lock:
            found = self._keys.get(key)
            if found is not None:
                self._keys.move_to_end(key)
                return found
        built = IdentityKeys.from_record(record)
        with self._lock:
            self._keys[key] = built
            while len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
        return built

    def signers_context(self, keys: IdentityKeys, ids: tuple[int, ...]) -> frost.SignersContext:
        key = (keys.identity_id, keys.epoch, ids)
        with self._lock:
            found = self._contexts.get(key)
            if found is not None:
                self._contexts.move_to_end(key)
                return found
        built = keys.signers_context(ids)
        with self._lock:
            self._contexts[key] = built
            while len(self._contexts) > self._capacity:
                self._contexts.popitem(last=False)
        return built

    def forget(self, identity_id: str) -> None:
        with self._lock:
            for k in [k for k in self._keys if k[0] == identity_id]:
                del self._keys[k]
            for c in [c for c in self._contexts if c[0] == identity_id]:
                del self._contexts[c]
