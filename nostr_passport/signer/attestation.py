"""Share attestations: statements about a held share, signed by the provider's HSM key.

The statement is canonical JSON (sorted keys, no whitespace) so that anyone can check
the signature offline with the attestation public key, and re-encode the fields to the
same bytes. Its fields are listed in `signer.protocol.Attestation`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nostr_passport.hsm.provider import HsmProvider, ProviderInfo, verify_attestation_signature
from nostr_passport.signer.errors import InvalidAttestationError
from nostr_passport.signer.protocol import Attestation

STATEMENT_FIELDS = frozenset(
    {
        "identity_id",
        "group_pubkey",
        "participant",
        "pubshare",
        "epoch",
        "threshold",
        "signer_id",
        "provider",
        "issued_at",
    }
)
PROVIDER_FIELDS = frozenset({"name", "kind", "vendor", "model", "serial", "simulated"})


@dataclass(frozen=True)
class AttestationStatement:
    identity_id: str
    group_pubkey: bytes
    participant: int
    pubshare: bytes
    epoch: int
    threshold: int
    signer_id: str
    provider_name: str
    provider_kind: str
    provider_vendor: str
    provider_model: str
    provider_serial: str
    provider_simulated: bool
    issued_at: int

    def to_bytes(self) -> bytes:
        """The canonical JSON encoding that is signed."""
        return canonical_json(
            {
                "identity_id": self.identity_id,
                "group_pubkey": self.group_pubkey.hex(),
                "participant": self.participant,
                "pubshare": self.pubshare.hex(),
                "epoch": self.epoch,
                "threshold": self.threshold,
                "signer_id": self.signer_id,
                "provider": {
                    "name": self.provider_name,
                    "kind": self.provider_kind,
                    "vendor": self.provider_vendor,
                    "model": self.provider_model,
                    "serial": self.provider_serial,
                    "simulated": self.provider_simulated,
                },
                "issued_at": self.issued_at,
            }
        )


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement_for(
    *,
    identity_id: str,
    group_pubkey: bytes,
    participant: int,
    pubshare: bytes,
    epoch: int,
    threshold: int,
    signer_id: str,
    provider: ProviderInfo,
    issued_at: int,
) -> AttestationStatement:
    return AttestationStatement(
        identity_id=identity_id,
        group_pubkey=group_pubkey,
        participant=participant,
        pubshare=pubshare,
        epoch=epoch,
        threshold=threshold,
        signer_id=signer_id,
        provider_name=provider.name,
        provider_kind=provider.kind,
        provider_vendor=provider.vendor,
        provider_model=provider.model,
        provider_serial=provider.serial,
        provider_simulated=provider.simulated,
        issued_at=issued_at,
    )


def signed_attestation(provider: HsmProvider, statement: AttestationStatement) -> Attestation:
    message = statement.to_bytes()
    return Attestation(
        statement=message,
        signature=provider.attestation_sign(message),
        public_key=provider.attestation_public_key(),
    )


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidAttestationError(f"attestation field {name!r} is missing or malformed")
    return value


def _hex_field(data: dict[str, Any], name: str) -> bytes:
    try:
        return bytes.fromhex(_field(data, name, str))
    except ValueError:
        raise InvalidAttestationError(f"attestation field {name!r} is not hex") from None


def verified_statement(
    attestation: Attestation, expected_public_key: bytes | None = None
) -> AttestationStatement:
    """The statement of a correctly signed attestation; InvalidAttestationError otherwise.

    `expected_public_key` pins the signer's attestation key (e.g. from SignerInfo);
    without it the check only proves the statement is intact under the key it carries.
    """
    if expected_public_key is not None and attestation.public_key != expected_public_key:
        raise InvalidAttestationError("attestation is signed by an unexpected key")
    if not verify_attestation_signature(
        attestation.public_key, attestation.statement, attestation.signature
    ):
        raise InvalidAttestationError("attestation signature does not verify")
    try:
        data = json.loads(attestation.statement)
    except (ValueError, UnicodeDecodeError):
        raise InvalidAttestationError("attestation statement is not JSON") from None
    if not isinstance(data, dict) or set(data) != STATEMENT_FIELDS:
        raise InvalidAttestationError("attestation statement has the wrong fields")
    provider = _field(data, "provider", dict)
    if set(provider) != PROVIDER_FIELDS:
        raise InvalidAttestationError("attestation provider has the wrong fields")
    statement = AttestationStatement(
        identity_id=_field(data, "identity_id", str),
        group_pubkey=_hex_field(data, "group_pubkey"),
        participant=_field(data, "participant", int),
        pubshare=_hex_field(data, "pubshare"),
        epoch=_field(data, "epoch", int),
        threshold=_field(data, "threshold", int),
        signer_id=_field(data, "signer_id", str),
        provider_name=_field(provider, "name", str),
        provider_kind=_field(provider, "kind", str),
        provider_vendor=_field(provider, "vendor", str),
        provider_model=_field(provider, "model", str),
        provider_serial=_field(provider, "serial", str),
        provider_simulated=_field(provider, "simulated", bool),
        issued_at=_field(data, "issued_at", int),
    )
    if statement.to_bytes() != attestation.statement:
        raise InvalidAttestationError("attestation statement is not in canonical form")
    return statement
