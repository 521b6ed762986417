"""`SignerClient` over HTTP: the gateway's view of a signer running as its own process.

Each call signs its request with the coordinator's Ed25519 key and accepts a reply only
if the expected signer key signed it for this very request (signer/http_auth.py), so a
man in the middle can neither forge requests nor replies, and a reply cannot be replayed
as the answer to another request. Error replies become the same exception classes the
signer raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.errors import BadRequestError, PassportError
from nostr_passport.signer.error_codes import exception_from_reply
from nostr_passport.signer.errors import SignerUnreachableError
from nostr_passport.signer.http_auth import (
    HEADER_NONCE,
    HEADER_RESPONSE_SIGNATURE,
    private_key_from_bytes,
    public_key_from_bytes,
    signed_request_headers,
    verify_response,
)
from nostr_passport.signer.lifecycle_wire import (
    DealImportedArgs,
    DkgBytes,
    DkgMessageArgs,
    DkgStep1Args,
    RefreshDealArgs,
    RefreshReceiveArgs,
    ReshapeDealArgs,
    ReshapeReceiveArgs,
)
from nostr_passport.signer.protocol import (
    Attestation,
    DealtIdentity,
    EcdhRequest,
    EcdhShareReply,
    HeldShare,
    KekRotation,
    NonceCommitment,
    PartialSignature,
    RefreshDeal,
    ReshapeDeal,
    ShareSlot,
    SignerInfo,
    SignRequest,
)
from nostr_passport.signer.wire import (
    CommitmentsArgs,
    DealIdentityArgs,
    DeleteShareArgs,
    EcdhArgs,
    ExportShareArgs,
    IdentityArgs,
    NoArgs,
    PartialSignArgs,
    ReceiveShareArgs,
    WireFormatError,
    dumps,
    loads,
)

T = TypeVar("T")


@dataclass(frozen=True)
class _Commitments:
    commitments: tuple[NonceCommitment, ...]


@dataclass(frozen=True)
class _PartialSignatures:
    partial_signatures: tuple[PartialSignature, ...]


@dataclass(frozen=True)
class _Health:
    ok: bool


@dataclass(frozen=True)
class _Blob:
    blob: bytes


@dataclass(frozen=True)
class _Empty:
    pass


class HttpSignerClient:
    """A remote signer. Thread-safe (one pooled httpx client)."""

    def __init__(
        self,
        base_url: str,
        signer_id: str,
        coordinator_key: bytes | Ed25519PrivateKey,
        signer_public_key: bytes,
        timeout: float = 5.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadRequestError(f"signer URL must be http(s)://host[:port], not {base_url!r}")
        self._signer_id = signer_id
        self._key = (
            coordinator_key
            if isinstance(coordinator_key, Ed25519PrivateKey)
            else private_key_from_bytes(coordinator_key)
        )
        self._signer_key = public_key_from_bytes(signer_public_key)
        self._prefix = parts.path.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{parts.scheme}://{parts.netloc}",
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    @property
    def signer_id(self) -> str:
        return self._signer_id

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"HttpSignerClient({self._signer_id!r}, {self._http.base_url!s})"

    # ------------------------------------------------------------------ one call

    def _call(self, operation: str, args: Any, reply_type: type[T]) -> T:
        path = f"{self._prefix}/v1/{operation}"
        body = dumps(args)
        headers = signed_request_headers(self._key, "POST", path, self._signer_id, body)
        headers["content-type"] = "application/json"
        try:
            response = self._http.post(path, content=body, headers=headers)
            payload = response.content
        except httpx.TimeoutException:
            raise SignerUnreachableError(
                f"signer {self._signer_id} did not answer {operation} in time"
            ) from None
        except httpx.HTTPError as exc:
            raise SignerUnreachableError(
                f"signer {self._signer_id} unreachable ({type(exc).__name__})"
            ) from None
        # Nothing in the reply is looked at before its signature checks out.
        verify_response(
            self._signer_key,
            headers[HEADER_NONCE],
            response.status_code,
            payload,
            response.headers.get(HEADER_RESPONSE_SIGNATURE),
        )
        if response.status_code != 200:
            try:
                data = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                data = {}
            if not isinstance(data, dict):
                data = {}
            raise exception_from_reply(response.status_code, data.get("error"), data.get("message"))
        try:
            return loads(payload, reply_type)
        except WireFormatError as exc:
            raise SignerUnreachableError(
                f"signer {self._signer_id} sent a malformed {operation} reply: {exc}"
            ) from None

    # ------------------------------------------------------------------ SignerClient

    def info(self) -> SignerInfo:
        return self._call("info", NoArgs(), SignerInfo)

    def health(self) -> bool:
        try:
            return self._call("health", NoArgs(), _Health).ok
        except PassportError:  # health never raises: an unreachable signer is unhealthy
            return False

    def deal_identity(
        self,
        identity_id: str,
        threshold: int,
        slots: tuple[ShareSlot, ...],
        epoch: int = 0,
        wrapped_secret: bytes | None = None,
    ) -> DealtIdentity:
        if wrapped_secret is not None:
            args = DealImportedArgs(identity_id, threshold, tuple(slots), wrapped_secret, epoch)
            return self._call("deal_imported_identity", args, DealtIdentity)
        return self._call(
            "deal_identity",
            DealIdentityArgs(identity_id, threshold, tuple(slots), epoch),
            DealtIdentity,
        )

    def receive_share(
        self,
        identity_id: str,
        participant: int,
        epoch: int,
        threshold: int,
        group_pubkey: bytes,
        vss_commitments: tuple[bytes, ...],
        blob: bytes,
        participants: int = 0,
    ) -> Attestation:
        args = ReceiveShareArgs(
            identity_id,
            participant,
            epoch,
            threshold,
            group_pubkey,
            tuple(vss_commitments),
            blob,
            participants,
        )
        return self._call("receive_share", args, Attestation)

    def commitments(self, count: int) -> tuple[NonceCommitment, ...]:
        return self._call("commitments", CommitmentsArgs(count), _Commitments).commitments

    def partial_sign(self, requests: tuple[SignRequest, ...]) -> tuple[PartialSignature, ...]:
        reply = self._call("partial_sign", PartialSignArgs(tuple(requests)), _PartialSignatures)
        return reply.partial_signatures

    def ecdh_share(self, request: EcdhRequest) -> EcdhShareReply:
        return self._call("ecdh_share", EcdhArgs(request), EcdhShareReply)

    def attest(self, identity_id: str) -> Attestation:
        return self._call("attest", IdentityArgs(identity_id), Attestation)

    def held_share(self, identity_id: str) -> HeldShare:
        return self._call("held_share", IdentityArgs(identity_id), HeldShare)

    def export_share(self, identity_id: str, recipient_transport_key: bytes) -> bytes:
        args = ExportShareArgs(identity_id, recipient_transport_key)
        return self._call("export_share", args, _Blob).blob

    def delete_share(self, identity_id: str, epoch: int | None = None) -> None:
        self._call("delete_share", DeleteShareArgs(identity_id, epoch), _Empty)

    # ------------------------------------------------------------------ LifecycleSigner

    def refresh_deal(
        self, identity_id: str, from_epoch: int, to_epoch: int, slots: tuple[ShareSlot, ...]
    ) -> RefreshDeal:
        args = RefreshDealArgs(identity_id, from_epoch, to_epoch, tuple(slots))
        return self._call("refresh_deal", args, RefreshDeal)

    def refresh_receive(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        deals: tuple[RefreshDeal, ...],
        participants: int,
    ) -> Attestation:
        args = RefreshReceiveArgs(identity_id, from_epoch, to_epoch, tuple(deals), participants)
        return self._call("refresh_receive", args, Attestation)

    def reshape_deal(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        quorum: tuple[int, ...],
        new_threshold: int,
        slots: tuple[ShareSlot, ...],
    ) -> ReshapeDeal:
        args = ReshapeDealArgs(
            identity_id, from_epoch, to_epoch, tuple(quorum), new_threshold, tuple(slots)
        )
        return self._call("reshape_deal", args, ReshapeDeal)

    def reshape_receive(
        self,
        identity_id: str,
        to_epoch: int,
        participant: int,
        new_threshold: int,
        new_participants: int,
        group_pubkey: bytes,
        deals: tuple[ReshapeDeal, ...],
    ) -> Attestation:
        args = ReshapeReceiveArgs(
            identity_id,
            to_epoch,
            participant,
            new_threshold,
            new_participants,
            group_pubkey,
            tuple(deals),
        )
        return self._call("reshape_receive", args, Attestation)

    def rotate_kek(self) -> KekRotation:
        return self._call("rotate_kek", NoArgs(), KekRotation)

    # ------------------------------------------------------------------ DkgSigner

    def dkg_host_pubkey(self) -> bytes:
        return self._call("dkg_host_pubkey", NoArgs(), DkgBytes).value

    def dkg_step1(self, identity_id: str, hostpubkeys: tuple[bytes, ...], threshold: int) -> bytes:
        args = DkgStep1Args(identity_id, tuple(hostpubkeys), threshold)
        return self._call("dkg_step1", args, DkgBytes).value

    def dkg_step2(self, identity_id: str, cmsg1: bytes) -> bytes:
        return self._call("dkg_step2", DkgMessageArgs(identity_id, cmsg1), DkgBytes).value

    def dkg_finalize(self, identity_id: str, cmsg2: bytes) -> Attestation:
        return self._call("dkg_finalize", DkgMessageArgs(identity_id, cmsg2), Attestation)
