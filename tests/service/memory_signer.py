"""THROWAWAY test double of a FROST signer (until signer/local.py lands): in memory, on the
HSM simulator for transport wrapping and attestations. Not used once LocalSigner exists."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time

from nostr_passport.crypto import curve, dealer, ecdh, frost
from nostr_passport.errors import NotFoundError
from nostr_passport.hsm import HsmProvider
from nostr_passport.signer.protocol import (
    Attestation,
    DealtIdentity,
    EcdhRequest,
    EcdhShareReply,
    HeldShare,
    NonceCommitment,
    PartialSignature,
    ShareSlot,
    SignerInfo,
    SignRequest,
    WrappedShare,
)


def nip01_id(event) -> bytes:  # type: ignore[no-untyped-def]
    import hashlib

    data = [
        0,
        event.pubkey,
        event.created_at,
        event.kind,
        [list(t) for t in event.tags],
        event.content,
    ]
    return hashlib.sha256(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    ).digest()


class MemorySigner:
    def __init__(self, signer_id: str, provider: HsmProvider) -> None:
        self._id = signer_id
        self.provider = provider
        self.shares: dict[str, tuple[int, int, int, int, bytes, tuple[bytes, ...]]] = {}
        self.nonces: dict[str, frost.SecretNonce] = {}
        self.lock = threading.Lock()
        self.calls = 0

    @property
    def signer_id(self) -> str:
        return self._id

    def info(self) -> SignerInfo:
        i = self.provider.info
        return SignerInfo(
            signer_id=self._id,
            provider_name=i.name,
            provider_kind=i.kind,
            vendor=i.vendor,
            model=i.model,
            serial=i.serial,
            simulated=i.simulated,
            transport_public_key=self.provider.transport_public_key(),
            attestation_public_key=self.provider.attestation_public_key(),
        )

    def health(self) -> bool:
        return True

    def _attest(self, identity_id: str) -> Attestation:
        from nostr_passport.signer.attestation import signed_attestation, statement_for

        participant, epoch, t, _share, gpk, comms = self.shares[identity_id]
        statement = statement_for(
            identity_id=identity_id,
            group_pubkey=gpk,
            participant=participant,
            pubshare=dealer.pubshare_from_commitments(participant, comms),
            epoch=epoch,
            threshold=t,
            signer_id=self._id,
            provider=self.provider.info,
            issued_at=int(time.time()),
        )
        return signed_attestation(self.provider, statement)

    def deal_identity(self, identity_id, threshold, slots: tuple[ShareSlot, ...], epoch=0):  # type: ignore[no-untyped-def]
        out = dealer.split(dealer.generate_secret(), threshold, len(slots))
        wrapped = []
        for slot in slots:
            value = out.shares[slot.participant].value
            if slot.signer_id == self._id:
                self.shares[identity_id] = (
                    slot.participant,
                    epoch,
                    threshold,
                    value,
                    out.group_pubkey,
                    out.vss_commitments,
                )
                continue
            aad = f"{identity_id}|{slot.participant}|{epoch}".encode()
            blob = self.provider.wrap_for(slot.transport_public_key, value.to_bytes(32, "big"), aad)
            wrapped.append(WrappedShare(slot.participant, slot.signer_id, blob))
        return DealtIdentity(
            identity_id,
            threshold,
            out.group_pubkey,
            out.vss_commitments,
            out.pubshares,
            tuple(wrapped),
            self._attest(identity_id),
        )

    def receive_share(
        self, identity_id, participant, epoch, threshold, group_pubkey, vss_commitments, blob
    ):  # type: ignore[no-untyped-def]
        aad = f"{identity_id}|{participant}|{epoch}".encode()
        value = int.from_bytes(self.provider.unwrap_transported(blob, aad), "big")
        dealer.verify_share(participant, value, vss_commitments)
        self.shares[identity_id] = (
            participant,
            epoch,
            threshold,
            value,
            group_pubkey,
            tuple(vss_commitments),
        )
        return self._attest(identity_id)

    def commitments(self, count: int) -> tuple[NonceCommitment, ...]:
        out = []
        with self.lock:
            for _ in range(count):
                sec, pub = frost.nonce_gen()
                nid = secrets.token_hex(8)
                self.nonces[nid] = sec
                out.append(NonceCommitment(nid, pub))
        return tuple(out)

    def partial_sign(self, requests: tuple[SignRequest, ...]) -> tuple[PartialSignature, ...]:
        self.calls += 1
        out = []
        for r in requests:
            participant, epoch, t, value, gpk, comms = self.shares[r.identity_id]
            with self.lock:
                sec = self.nonces.pop(r.nonce_id)
            n = 255  # the double does not know n; it only bounds id validation
            pubshares = tuple(dealer.pubshare_from_commitments(i, comms) for i in r.ids)
            ctx = frost.SignersContext(max(n, len(r.ids)), t, r.ids, pubshares, gpk)
            session = frost.SessionContext(
                ctx, frost.nonce_agg(r.pubnonces, r.ids), (), (), nip01_id(r.event)
            )
            psig = frost.sign(sec, value.to_bytes(32, "big"), participant, session)
            out.append(PartialSignature(participant, r.nonce_id, psig))
        return tuple(out)

    def ecdh_share(self, request: EcdhRequest) -> EcdhShareReply:
        participant, epoch, t, value, gpk, comms = self.shares[request.identity_id]
        s = ecdh.ecdh_share(value, participant, request.ids, request.peer_pubkey, os.urandom(32))
        return EcdhShareReply(participant, s.point, s.proof)

    def attest(self, identity_id: str) -> Attestation:
        return self._attest(identity_id)

    def held_share(self, identity_id: str) -> HeldShare:
        participant, epoch, t, value, gpk, comms = self.shares[identity_id]
        return HeldShare(
            identity_id,
            participant,
            epoch,
            t,
            gpk,
            dealer.pubshare_from_commitments(participant, comms),
            comms,
        )

    def export_share(self, identity_id: str, recipient_transport_key: bytes) -> bytes:
        raise NotImplementedError

    def delete_share(self, identity_id: str) -> None:
        if identity_id not in self.shares:
            raise NotFoundError("no share")
        del self.shares[identity_id]

    def secret(self, identity_id: str) -> int:
        return self.shares[identity_id][3]


_ = curve
