"""The signer protocol: what the gateway (coordinator) may ask of one FROST participant.

The same operations are served in-process (embedded default) and over HTTP by
`nostr-passport signer serve`. Everything crossing this boundary is public data or a
secret wrapped to a specific HSM's transport key: no share and no secret nonce ever
appears in a request or a reply.

Participant ids follow BIP 445: 0..n-1, shares evaluated at id + 1. Byte fields are raw
bytes here; the HTTP transport encodes them as lowercase hex.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SignerInfo:
    """Who a signer is; public."""

    signer_id: str
    provider_name: str
    provider_kind: str  # "simulator" | "pkcs11"
    vendor: str
    model: str
    serial: str
    simulated: bool
    transport_public_key: bytes  # shares are wrapped TO this key (HSM-held private key)
    attestation_public_key: bytes  # P-256 SubjectPublicKeyInfo DER
    supports_dkg: bool = False


@dataclass(frozen=True)
class ShareSlot:
    """Where one participant's share of an identity goes."""

    participant: int
    signer_id: str
    transport_public_key: bytes


@dataclass(frozen=True)
class WrappedShare:
    """A share wrapped by the dealer signer to the recipient signer's transport key."""

    participant: int
    signer_id: str
    blob: bytes


@dataclass(frozen=True)
class Attestation:
    """A statement about one share, signed by the holding signer's HSM attestation key.

    `statement` is canonical JSON (sorted keys, no whitespace) of: identity_id,
    group_pubkey (hex), participant, pubshare (hex), epoch, threshold, signer_id,
    provider {name, kind, vendor, model, serial, simulated}, issued_at (unix seconds).
    """

    statement: bytes
    signature: bytes  # ECDSA P-256 SHA-256, DER
    public_key: bytes  # the attestation key, SubjectPublicKeyInfo DER


@dataclass(frozen=True)
class DealtIdentity:
    """Public result of dealer keygen inside one signer's provider."""

    identity_id: str
    threshold: int
    group_pubkey: bytes  # 33-byte compressed, as dealt (not parity-adjusted)
    vss_commitments: tuple[bytes, ...]
    pubshares: tuple[bytes, ...]  # index = participant id
    wrapped_shares: tuple[WrappedShare, ...]  # for every participant but the dealer's own
    dealer_attestation: Attestation


@dataclass(frozen=True)
class NonceCommitment:
    """A preprocessed public nonce (66 bytes) and the id the signer knows its secret by."""

    nonce_id: str
    pubnonce: bytes


@dataclass(frozen=True)
class EventToSign:
    """A NIP-01 event without id and sig: the signer computes the id (the message) itself."""

    pubkey: str  # hex x-only, must equal the identity's group key
    created_at: int
    kind: int
    tags: tuple[tuple[str, ...], ...]
    content: str


@dataclass(frozen=True)
class SignRequest:
    """One partial-signing request for one event.

    `pubnonces` holds every participant's public nonce of this session (including the
    signer's own, which the signer checks is the one it handed out as `nonce_id`).
    """

    identity_id: str
    epoch: int
    ids: tuple[int, ...]
    pubnonces: tuple[bytes, ...]  # aligned with ids
    nonce_id: str
    event: EventToSign
    request_id: str = ""


@dataclass(frozen=True)
class PartialSignature:
    participant: int
    nonce_id: str
    psig: bytes  # 32 bytes


@dataclass(frozen=True)
class EcdhRequest:
    identity_id: str
    epoch: int
    ids: tuple[int, ...]
    peer_pubkey: bytes  # 32-byte x-only (Nostr) or 33-byte compressed
    request_id: str = ""


@dataclass(frozen=True)
class EcdhShareReply:
    participant: int
    point: bytes  # 33 bytes: lambda_i * s_i * P
    proof: bytes  # 64-byte BIP-374 DLEQ proof


@dataclass(frozen=True)
class HeldShare:
    """Public view of a share a signer holds."""

    identity_id: str
    participant: int
    epoch: int
    threshold: int
    group_pubkey: bytes
    pubshare: bytes
    vss_commitments: tuple[bytes, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RefreshDeal:
    """One participant's zero-constant resharing contribution (share refresh).

    `commitments` are Feldman commitments to a polynomial with constant 0 (the first is
    33 zero bytes); `sealed` holds one sub-share per participant, the dealer's own
    included, each sealed to that participant's transport key.
    """

    identity_id: str
    dealer: int  # participant id of the dealing signer
    from_epoch: int
    to_epoch: int
    commitments: tuple[bytes, ...]
    sealed: tuple[WrappedShare, ...]


@dataclass(frozen=True)
class ReshapeDeal:
    """One quorum member's contribution to a threshold/signer-set change (signer/reshape.py).

    `commitments` are t' Feldman commitments to a polynomial whose constant is λ_i·s_i
    (so the first is λ_i times the dealer's public share); `sealed` holds one sub-share
    per NEW participant, sealed to its transport key. `from_commitments` are the old
    epoch's VSS commitments as the dealer holds them: a receiver without an old share
    needs them to compute the dealers' public shares.
    """

    identity_id: str
    dealer: int  # participant id of the dealing signer at from_epoch
    from_epoch: int
    to_epoch: int
    quorum: tuple[int, ...]  # the old participant ids dealing, ascending
    new_threshold: int
    new_participants: int
    from_commitments: tuple[bytes, ...]
    commitments: tuple[bytes, ...]
    sealed: tuple[WrappedShare, ...]


@dataclass(frozen=True)
class KekRotation:
    """The outcome of a signer's KEK rotation (ids are public labels, not keys)."""

    new_kek_id: str
    destroyed_kek_ids: tuple[str, ...]
    rewrapped: int  # wrapped values moved to the new KEK


class SignerClient(Protocol):
    """The gateway's view of one signer. Implemented in-process and over HTTP."""

    @property
    def signer_id(self) -> str: ...

    def info(self) -> SignerInfo: ...

    def health(self) -> bool: ...

    def deal_identity(
        self,
        identity_id: str,
        threshold: int,
        slots: tuple[ShareSlot, ...],
        epoch: int = 0,
        wrapped_secret: bytes | None = None,
    ) -> DealtIdentity:
        """Dealer keygen inside this signer's provider; keeps its own share, wipes the rest.

        `wrapped_secret`: an imported key, sealed to this signer's transport key.
        """
        ...

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
        """Unwrap a share sent to us, verify it against the commitments, store it wrapped."""
        ...

    def commitments(self, count: int) -> tuple[NonceCommitment, ...]:
        """Hand out `count` fresh preprocessed public nonces."""
        ...

    def partial_sign(self, requests: tuple[SignRequest, ...]) -> tuple[PartialSignature, ...]:
        """Partial-sign a batch (one round for the batch); each request its own nonce."""
        ...

    def ecdh_share(self, request: EcdhRequest) -> EcdhShareReply: ...

    def attest(self, identity_id: str) -> Attestation: ...

    def held_share(self, identity_id: str) -> HeldShare: ...

    def export_share(self, identity_id: str, recipient_transport_key: bytes) -> bytes:
        """The share wrapped to another HSM's transport key (backup/migration)."""
        ...

    def delete_share(self, identity_id: str, epoch: int | None = None) -> None:
        """Delete every epoch's share, or only `epoch`'s."""
        ...


class LifecycleSigner(SignerClient, Protocol):
    """The key-lifecycle operations (docs/lifecycle.md), beside the signing protocol."""

    def refresh_deal(
        self, identity_id: str, from_epoch: int, to_epoch: int, slots: tuple[ShareSlot, ...]
    ) -> RefreshDeal:
        """Our zero-constant resharing contribution, sealed per participant; stores nothing."""
        ...

    def refresh_receive(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        deals: tuple[RefreshDeal, ...],
        participants: int,
    ) -> Attestation:
        """Keep old share + Σ verified sub-shares at `to_epoch`; the old epoch stays."""
        ...

    def reshape_deal(
        self,
        identity_id: str,
        from_epoch: int,
        to_epoch: int,
        quorum: tuple[int, ...],
        new_threshold: int,
        slots: tuple[ShareSlot, ...],
    ) -> ReshapeDeal:
        """Our λ-weighted resharing contribution to the new t'-of-n' set; stores nothing."""
        ...

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
        """Keep Σ verified sub-shares as `participant`'s share at `to_epoch` (old epochs stay)."""
        ...

    def rotate_kek(self) -> KekRotation:
        """New KEK in the HSM, everything rewrapped under it, older KEKs destroyed."""
        ...


class DkgSigner(SignerClient, Protocol):
    """ChillDKG participant operations (the gateway is the untrusted coordinator)."""

    def dkg_host_pubkey(self) -> bytes:
        """The signer's long-term host public key (33 bytes); its secret stays wrapped."""
        ...

    def dkg_step1(self, identity_id: str, hostpubkeys: tuple[bytes, ...], threshold: int) -> bytes:
        """pmsg1 of a new session for `identity_id`."""
        ...

    def dkg_step2(self, identity_id: str, cmsg1: bytes) -> bytes:
        """pmsg2: our signature on the session transcript after checking cmsg1."""
        ...

    def dkg_finalize(self, identity_id: str, cmsg2: bytes) -> Attestation:
        """Check the certificate and keep our share as epoch 0."""
        ...
