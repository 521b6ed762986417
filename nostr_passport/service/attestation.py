"""Key attestation bundles: everything needed to check, offline, who holds an identity's key.

A bundle (canonical JSON, see docs/audit.md) holds the identity (id, x-only pubkey, npub,
compressed group key, threshold, participants, epoch); for every participant the
signer's attestation (the statement exactly as signed, the ECDSA P-256 signature, the
HSM attestation public key) and the provider it names; and the audit record of the
identity's creation with its inclusion proof to a signed checkpoint, which carries the
audit public key.

`verify_bundle` needs nothing but the bundle (and, optionally, keys to pin). It checks:
every statement's signature; that every statement names this identity, group key,
threshold, epoch, participant, signer and provider; that the public shares are shares
of the group key (every subset of t participants gives Σ λ_i·P_i = group key, where
λ_i is the Lagrange coefficient at 0 over the evaluation points id+1 of the subset and
P_i the public share: BIP 445's DeriveThreshPubkey, computed with coincurve in
crypto.frost.SignersContext; `_interpolation_problems` says why n-t+1 subsets suffice);
that the creation record names this identity and key and
is in the signed audit tree. Every byte of a canonical bundle is covered by one of these
checks, so no byte can change and still verify.

Honest limit: without pinned keys, a bundle proves internal consistency, not that the
keys belong to real HSMs; the report gives every key id so they can be compared with
the operator's published keys. A statement's `simulated` flag is self-declared; the
report also treats any SoftHSM token as software.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from sqlalchemy import select

from nostr_passport.crypto import frost
from nostr_passport.crypto.errors import CryptoError
from nostr_passport.errors import (
    AuditIntegrityError,
    ConflictError,
    MalformedAuditDataError,
    NotFoundError,
    PassportError,
)
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.nostr.nip19 import npub_encode
from nostr_passport.signer.attestation import AttestationStatement, verified_statement
from nostr_passport.signer.protocol import Attestation
from nostr_passport.store import Store
from nostr_passport.store import checkpoints as stored
from nostr_passport.store.checkpoints import key_id_of
from nostr_passport.store.identities import IdentityRecord, identity_by_id
from nostr_passport.store.tables import audit_log

from .audit_checkpoints import DEFAULT_LOG_ID, create_checkpoint
from .audit_proofs import InclusionProof, inclusion_proof_for, verify_inclusion_proof
from .audit_records import (
    canonical_document,
    json_bool,
    json_hex,
    json_int,
    json_object,
    json_str,
)

BUNDLE_FORMAT = "nostr-passport/attestation-bundle/v1"
CREATE_ACTION = "identity.create"  # service.access.IDENTITY_CREATE
CREATED_OUTCOME = "ok"  # service.audit.OK

BUNDLE_KEYS = frozenset({"format", "identity", "shares", "creation"})
IDENTITY_KEYS = frozenset(
    {"id", "pubkey", "npub", "group_key", "threshold", "participants", "epoch"}
)
SHARE_KEYS = frozenset({"participant", "signer_id", "provider", "attestation"})
PROVIDER_KEYS = frozenset({"name", "kind", "vendor", "model", "serial", "simulated"})
ATTESTATION_KEYS = frozenset({"statement", "signature", "public_key"})


# ---------------------------------------------------------------- building


def _provider_json(statement: AttestationStatement) -> dict[str, Any]:
    return {
        "name": statement.provider_name,
        "kind": statement.provider_kind,
        "vendor": statement.provider_vendor,
        "model": statement.provider_model,
        "serial": statement.provider_serial,
        "simulated": statement.provider_simulated,
    }


def _identity_json(identity: IdentityRecord) -> dict[str, Any]:
    return {
        "id": identity.id,
        "pubkey": identity.group_pubkey,
        "npub": npub_encode(bytes.fromhex(identity.group_pubkey)),
        "group_key": identity.group_pubkey_dealt,
        "threshold": identity.threshold,
        "participants": identity.participants,
        "epoch": identity.epoch,
    }


def _shares_json(identity: IdentityRecord) -> list[dict[str, Any]]:
    shares = []
    for record in identity.attestations:
        attestation = Attestation(
            statement=record.statement.encode("utf-8"),
            signature=bytes.fromhex(record.signature),
            public_key=bytes.fromhex(record.public_key),
        )
        try:
            statement = verified_statement(attestation)
        except (PassportError, UnsupportedAlgorithm):
            raise AuditIntegrityError(
                f"the stored attestation of participant {record.participant} does not verify"
            ) from None
        shares.append(
            {
                "participant": record.participant,
                "signer_id": record.signer_id,
                "provider": _provider_json(statement),
                "attestation": {
                    "statement": record.statement,
                    "signature": record.signature,
                    "public_key": record.public_key,
                },
            }
        )
    return shares


def attestation_bundle(
    store: Store,
    identity_id: str,
    *,
    audit_provider: HsmProvider | None = None,
    log_id: str = DEFAULT_LOG_ID,
) -> dict[str, Any]:
    """The JSON-ready bundle of `identity_id` (caller checks the caller may see it).

    The creation record is proven against the latest checkpoint; when none covers it
    yet, one is made with `audit_provider`, or ConflictError says to make one.
    """
    with store.read() as conn:
        identity = identity_by_id(conn, identity_id)
        if identity is None:
            raise NotFoundError(f"identity {identity_id} not found")
        creation = conn.execute(
            select(audit_log.c.idx)
            .where(
                audit_log.c.identity_id == identity_id,
                audit_log.c.action == CREATE_ACTION,
                audit_log.c.outcome == CREATED_OUTCOME,
            )
            .order_by(audit_log.c.idx)
        ).first()
        latest = stored.latest_checkpoint(conn)
    if creation is None:
        raise AuditIntegrityError(f"the audit log has no creation record of {identity_id}")
    index = int(creation[0])
    if latest is None or latest.tree_size <= index:
        if audit_provider is None:
            raise ConflictError(
                "no signed checkpoint covers this identity's creation yet: "
                "run `nostr-passport audit checkpoint`"
            )
        create_checkpoint(store, audit_provider, log_id=log_id)
    proof = inclusion_proof_for(store, index)
    return {
        "format": BUNDLE_FORMAT,
        "identity": _identity_json(identity),
        "shares": _shares_json(identity),
        "creation": proof.to_json(),
    }


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Provider:
    name: str
    kind: str
    vendor: str
    model: str
    serial: str
    simulated: bool


@dataclass(frozen=True)
class _Share:
    participant: int
    signer_id: str
    provider: _Provider
    attestation: Attestation


@dataclass(frozen=True)
class _Identity:
    id: str
    pubkey: str
    npub: str
    group_key: str
    threshold: int
    participants: int
    epoch: int


@dataclass(frozen=True)
class _Bundle:
    identity: _Identity
    shares: tuple[_Share, ...]
    creation: InclusionProof


def _share(value: object, what: str) -> _Share:
    data = json_object(value, SHARE_KEYS, what)
    provider = json_object(data["provider"], PROVIDER_KEYS, f"{what}.provider")
    attestation = json_object(data["attestation"], ATTESTATION_KEYS, f"{what}.attestation")
    return _Share(
        participant=json_int(data, "participant", what),
        signer_id=json_str(data, "signer_id", what),
        provider=_Provider(
            name=json_str(provider, "name", what),
            kind=json_str(provider, "kind", what),
            vendor=json_str(provider, "vendor", what),
            model=json_str(provider, "model", what),
            serial=json_str(provider, "serial", what),
            simulated=json_bool(provider, "simulated", what),
        ),
        attestation=Attestation(
            statement=json_str(attestation, "statement", what).encode("utf-8"),
            signature=bytes.fromhex(json_hex(attestation, "signature", what)),
            public_key=bytes.fromhex(json_hex(attestation, "public_key", what)),
        ),
    )


def _parsed(bundle: bytes | str | Mapping[str, Any]) -> _Bundle:
    value = dict(bundle) if isinstance(bundle, Mapping) else canonical_document(bundle, "bundle")
    data = json_object(value, BUNDLE_KEYS, "bundle")
    if data["format"] != BUNDLE_FORMAT:
        raise MalformedAuditDataError(f"not an attestation bundle of format {BUNDLE_FORMAT}")
    identity = json_object(data["identity"], IDENTITY_KEYS, "identity")
    shares = data["shares"]
    if not isinstance(shares, list):
        raise MalformedAuditDataError("bundle.shares must be a list")
    return _Bundle(
        identity=_Identity(
            id=json_str(identity, "id", "identity"),
            pubkey=json_hex(identity, "pubkey", "identity", length=64),
            npub=json_str(identity, "npub", "identity"),
            group_key=json_hex(identity, "group_key", "identity", length=66),
            threshold=json_int(identity, "threshold", "identity", minimum=1),
            participants=json_int(identity, "participants", "identity", minimum=1),
            epoch=json_int(identity, "epoch", "identity"),
        ),
        shares=tuple(_share(s, f"shares[{i}]") for i, s in enumerate(shares)),
        creation=InclusionProof.from_json(data["creation"], "creation"),
    )


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ShareHolder:
    """Who holds one participant's share, as its signed statement says."""

    participant: int
    signer_id: str
    provider_name: str
    provider_kind: str
    vendor: str
    model: str
    serial: str
    simulated: bool  # as the statement declares it
    software: bool  # simulated, our simulator, or a SoftHSM token: no hardware protects it
    attestation_key_id: str  # SHA-256 of the attestation key's SPKI DER, hex

    def describe(self) -> str:
        where = f"{self.vendor} {self.model} serial {self.serial} ({self.provider_kind})"
        flag = " -- SOFTWARE/SIMULATED, not a hardware HSM" if self.software else ""
        return f"participant {self.participant} ({self.signer_id}): {where}{flag}"

    def to_json(self) -> dict[str, Any]:
        return {
            "participant": self.participant,
            "signer_id": self.signer_id,
            "provider_name": self.provider_name,
            "provider_kind": self.provider_kind,
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial,
            "simulated": self.simulated,
            "software": self.software,
            "attestation_key_id": self.attestation_key_id,
        }


@dataclass(frozen=True)
class BundleReport:
    ok: bool
    identity_id: str
    pubkey: str
    npub: str
    threshold: int
    participants: int
    epoch: int
    holders: tuple[ShareHolder, ...]
    creation_index: int
    checkpoint_size: int
    audit_key_id: str
    keys_pinned: bool  # both the audit key and the attestation keys were pinned
    problems: tuple[str, ...]

    @property
    def software(self) -> bool:
        """True when any share sits in software (a simulator or SoftHSM2)."""
        return any(h.software for h in self.holders)

    def summary(self) -> list[str]:
        verdict = "VERIFIED" if self.ok else "NOT VERIFIED"
        lines = [
            f"{verdict}: identity {self.identity_id} ({self.npub}), "
            f"{self.threshold}-of-{self.participants}, epoch {self.epoch}",
            *(f"  {h.describe()}" for h in self.holders),
            f"  created at audit record {self.creation_index}, in the checkpoint of size "
            f"{self.checkpoint_size} signed by audit key {self.audit_key_id[:16]}...",
        ]
        if self.software:
            lines.append("  WARNING: some shares are held in software (simulator/SoftHSM2)")
        if not self.keys_pinned:
            lines.append("  note: keys were not pinned; compare the key ids with published ones")
        lines.extend(f"  problem: {p}" for p in self.problems)
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "identity": {
                "id": self.identity_id,
                "pubkey": self.pubkey,
                "npub": self.npub,
                "threshold": self.threshold,
                "participants": self.participants,
                "epoch": self.epoch,
            },
            "holders": [h.to_json() for h in self.holders],
            "software": self.software,
            "creation_index": self.creation_index,
            "checkpoint_size": self.checkpoint_size,
            "audit_key_id": self.audit_key_id,
            "keys_pinned": self.keys_pinned,
            "problems": list(self.problems),
            "summary": self.summary(),
        }


def _is_software(provider: _Provider) -> bool:
    names = f"{provider.vendor} {provider.model} {provider.name}".lower()
    return provider.simulated or provider.kind == "simulator" or "softhsm" in names


def _identity_problems(identity: _Identity, shares: tuple[_Share, ...]) -> list[str]:
    problems = []
    try:
        xonly = frost.group_pubkey_xonly(bytes.fromhex(identity.group_key)).hex()
    except CryptoError:
        xonly = None
        problems.append("the group key is not a valid compressed secp256k1 point")
    if xonly is not None and xonly != identity.pubkey:
        problems.append("the pubkey is not the x-only form of the group key")
    if npub_encode(bytes.fromhex(identity.pubkey)) != identity.npub:
        problems.append("the npub does not encode the pubkey")
    if not identity.threshold <= identity.participants:
        problems.append("the threshold exceeds the number of participants")
    if [s.participant for s in shares] != list(range(identity.participants)):
        problems.append("the shares are not exactly participants 0..n-1, in order")
    return problems


def _statement_problems(
    identity: _Identity, share: _Share, trusted_keys: Collection[bytes] | None
) -> tuple[AttestationStatement | None, list[str]]:
    who = f"participant {share.participant}"
    if trusted_keys is not None and share.attestation.public_key not in trusted_keys:
        return None, [f"{who}: attestation key is not a trusted key"]
    try:
        statement = verified_statement(share.attestation)
    except PassportError as exc:
        return None, [f"{who}: {exc}"]
    except UnsupportedAlgorithm:  # a key of an unknown algorithm (see signature_valid)
        return None, [f"{who}: the attestation key is not a P-256 key"]
    expected = (
        identity.id,
        bytes.fromhex(identity.group_key),
        identity.threshold,
        identity.epoch,
        share.participant,
        share.signer_id,
    )
    stated = (
        statement.identity_id,
        statement.group_pubkey,
        statement.threshold,
        statement.epoch,
        statement.participant,
        statement.signer_id,
    )
    problems = []
    if stated != expected:
        problems.append(f"{who}: the statement names another identity, key, threshold or share")
    if _provider_json(statement) != asdict(share.provider):
        problems.append(f"{who}: the provider differs from the one the statement names")
    return statement, problems


def _interpolation_problems(
    identity: _Identity, statements: list[AttestationStatement]
) -> list[str]:
    """Do the public shares lie on one polynomial whose value at 0 is the group key?

    Participants B = 0..t-1 interpolate (Σ λ_i·P_i over B, SignersContext) to f(0), f
    being the polynomial through B; then for each other participant j, the set
    B - {0} + {j} must interpolate to the group key too. Its polynomial agrees with f
    at the t-1 shared points and at 0, so it IS f, and P_j = f(j+1)·G. Hence every
    t-subset gives the group key, checked with n-t+1 interpolations instead of C(n, t).
    """
    n, t = identity.participants, identity.threshold
    if n < 2:
        return ["a threshold key needs at least two participants"]
    group_key = bytes.fromhex(identity.group_key)
    base = tuple(range(t))
    for ids in (base, *((*base[1:], j) for j in range(t, n))):
        try:
            frost.SignersContext(n, t, ids, tuple(statements[i].pubshare for i in ids), group_key)
        except CryptoError:
            return [f"public shares of participants {list(ids)} do not give the group key"]
    return []


def _creation_problems(
    identity: _Identity, proof: InclusionProof, trusted_keys: Collection[str] | None
) -> list[str]:
    problems = []
    verdict = verify_inclusion_proof(proof, trusted_keys=trusted_keys)
    if not verdict.ok:
        problems.append(f"creation record: {verdict.reason}")
    record = proof.record
    created = (record.action, record.outcome, record.identity_id, record.details.get("pubkey"))
    if created != (CREATE_ACTION, CREATED_OUTCOME, identity.id, identity.pubkey):
        problems.append("the audit record is not this identity's successful creation")
    return problems


def verify_bundle(
    bundle: bytes | str | Mapping[str, Any],
    *,
    trusted_audit_keys: Collection[str] | None = None,
    trusted_attestation_keys: Collection[bytes] | None = None,
) -> BundleReport:
    """Check a bundle offline (module docstring). A bundle that does not even parse raises
    MalformedAuditDataError; one that parses but does not check out gives ok=False.

    `trusted_audit_keys` (hex SPKI DER) and `trusted_attestation_keys` (SPKI DER bytes)
    pin the keys; without them the keys the bundle carries are used and reported.
    """
    parsed = _parsed(bundle)
    identity = parsed.identity
    problems = _identity_problems(identity, parsed.shares)
    statements: list[AttestationStatement] = []
    holders = []
    for share in parsed.shares:
        statement, share_problems = _statement_problems(identity, share, trusted_attestation_keys)
        problems.extend(share_problems)
        if statement is not None:
            statements.append(statement)
        holders.append(
            ShareHolder(
                participant=share.participant,
                signer_id=share.signer_id,
                provider_name=share.provider.name,
                provider_kind=share.provider.kind,
                vendor=share.provider.vendor,
                model=share.provider.model,
                serial=share.provider.serial,
                simulated=share.provider.simulated,
                software=_is_software(share.provider),
                attestation_key_id=key_id_of(share.attestation.public_key.hex()),
            )
        )
    if not problems:
        problems.extend(_interpolation_problems(identity, statements))
    problems.extend(_creation_problems(identity, parsed.creation, trusted_audit_keys))
    checkpoint = parsed.creation.checkpoint
    return BundleReport(
        ok=not problems,
        identity_id=identity.id,
        pubkey=identity.pubkey,
        npub=identity.npub,
        threshold=identity.threshold,
        participants=identity.participants,
        epoch=identity.epoch,
        holders=tuple(holders),
        creation_index=parsed.creation.record.index,
        checkpoint_size=checkpoint.tree_size,
        audit_key_id=checkpoint.key_id,
        keys_pinned=trusted_audit_keys is not None and trusted_attestation_keys is not None,
        problems=tuple(problems),
    )
