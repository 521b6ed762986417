"""Request bodies, as pydantic models (strict: "2" is not an integer, unknown keys refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateIdentityBody(_Body):
    threshold: StrictInt = Field(default=2, description="signers needed to sign (t)")
    participants: StrictInt = Field(default=3, description="shares, one per signer (n)")
    label: StrictStr | None = Field(default=None, max_length=200)
    keygen: Literal["dkg", "dealer"] | None = Field(
        default=None,
        description="dkg (ChillDKG: no HSM ever holds the whole key) or dealer (one HSM "
        "deals the shares); absent: dkg when every chosen signer supports it",
    )


class EventTemplateBody(_Body):
    """A NIP-01 event without id and sig. pubkey/id/sig may be present only if they agree."""

    kind: StrictInt = Field(ge=0, le=65535)
    content: StrictStr = ""
    tags: list[list[StrictStr]] = Field(default_factory=list)
    created_at: StrictInt | None = Field(default=None, ge=0, description="default: now")
    pubkey: StrictStr | None = None
    id: StrictStr | None = None
    sig: StrictStr | None = None


class SignBatchBody(_Body):
    events: list[EventTemplateBody] = Field(min_length=1)


class EncryptBody(_Body):
    pubkey: StrictStr = Field(description="the peer's x-only public key, hex")
    plaintext: StrictStr


class DecryptBody(_Body):
    pubkey: StrictStr = Field(description="the peer's x-only public key, hex")
    ciphertext: StrictStr


class TokenScopesBody(_Body):
    identities: list[StrictStr] | None = None
    methods: list[StrictStr] | None = None
    kinds: list[StrictInt] | None = None


class CreateTokenBody(_Body):
    name: StrictStr = Field(default="token", min_length=1, max_length=200)
    role: Literal["admin", "operator", "auditor", "app"]
    scopes: TokenScopesBody = Field(default_factory=TokenScopesBody)
    expires_in: StrictInt | None = Field(default=None, gt=0, description="seconds from now")
    expires_at: StrictInt | None = Field(default=None, gt=0, description="unix seconds")
    tenant: StrictStr | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="default tenant admins only",
    )


class BackupBody(_Body):
    to: dict[StrictStr, StrictStr] = Field(
        min_length=1,
        max_length=255,
        description="participant number -> target: a registered signer id or a transport "
        'public key (hex), e.g. {"0": "signer-d", "1": "4e50544b..."}',
    )
    allow_software: bool = Field(
        default=False,
        description="allow targets that keep keys in software (simulator, SoftHSM2, or a "
        "key no registered signer has)",
    )


class RotateKekBody(_Body):
    signers: list[StrictStr] | None = Field(
        default=None, min_length=1, max_length=255, description="default: every signer"
    )
