"""The composition root: from a Config to a running Passport (store, signers, coordinator).

`assemble` wires given signer clients (tests pass real in-process signers); `open_gateway`
builds the clients the config describes: LocalSigner on an HSM provider for `local`
signers, HttpSignerClient for `http` ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nostr_passport.config import Config, HttpSignerSettings, LocalSignerSettings, Settings
from nostr_passport.errors import ConfigError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.signer.protocol import SignerClient
from nostr_passport.store import Store

from .audit import AuditLog
from .coalescing import CoalescingSigner
from .commitments import CommitmentCache
from .coordinator import SigningCoordinator
from .keys import KeyCache
from .passport import Limits, Passport, SignerEndpoint
from .ratelimit import NoRateLimit, RateLimiter
from .signer_pool import SignerPool

log = logging.getLogger(__name__)


def assemble(
    store: Store,
    clients: Mapping[str, SignerClient],
    settings: Settings,
    *,
    endpoints: Mapping[str, SignerEndpoint] | None = None,
) -> Passport:
    """A Passport over `store` and `clients`, tuned by `settings`."""
    signing = settings.signing
    wrapped: dict[str, SignerClient] = {
        sid: CoalescingSigner(client) if signing.coalesce else client
        for sid, client in clients.items()
    }
    pool = SignerPool(
        wrapped,
        backoff_seconds=signing.signer_backoff_seconds,
        max_workers=max(16, 4 * len(clients)),
    )
    keys = KeyCache()
    coordinator = SigningCoordinator(
        pool,
        commitments=CommitmentCache(signing.commitment_batch_size),
        keys=keys,
        deadline_seconds=signing.deadline_seconds,
        signer_timeout_seconds=signing.signer_timeout_seconds,
    )
    limits = Limits(
        max_participants=settings.limits.max_participants,
        max_threshold=settings.limits.max_threshold,
        max_batch_events=settings.limits.max_batch_events,
        max_label_length=settings.limits.max_label_length,
    )
    rate = settings.rate_limit
    limiter = RateLimiter(rate.requests_per_second, rate.burst) if rate.enabled else NoRateLimit()
    return Passport(
        store,
        pool,
        coordinator,
        AuditLog(store),
        keys,
        endpoints=endpoints or {sid: SignerEndpoint(kind="local") for sid in clients},
        limits=limits,
        rate_limiter=limiter,
        signer_timeout=signing.signer_timeout_seconds,
        record_sessions=signing.record_sessions,
    )


def provider_mapping(config: Config, signer: LocalSignerSettings) -> dict[str, Any]:
    """The signer's provider table with paths made absolute (relative to the data dir)."""
    return resolved_provider(config, signer.provider)


def resolved_provider(config: Config, provider: Mapping[str, Any]) -> dict[str, Any]:
    """A provider table with paths made absolute (relative to the data dir)."""
    mapping = dict(provider)
    for key in ("state_dir", "softhsm2_conf", "kms_pkcs11_config"):
        value = mapping.get(key)
        if isinstance(value, str) and value:
            mapping[key] = str(config.resolve(value))
    mapping.setdefault("production", config.production)
    return mapping


def coordinator_key(config: Config) -> bytes:
    """The gateway's Ed25519 private key (raw 32 bytes) for signing requests to signers."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = config.resolve(config.settings.signing.coordinator_key_file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"coordinator key {path} cannot be read: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise ConfigError(f"coordinator key {path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"coordinator key {path} is not an Ed25519 key")
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def signer_clients(config: Config) -> tuple[dict[str, SignerClient], dict[str, SignerEndpoint]]:
    """Clients for every configured signer (local ones open their HSM provider now)."""
    from nostr_passport.hsm import ProviderConfig, open_provider
    from nostr_passport.signer.local import LocalSigner

    settings = config.settings
    clients: dict[str, SignerClient] = {}
    endpoints: dict[str, SignerEndpoint] = {}
    key: bytes | None = None
    try:
        for signer in settings.signers:
            if isinstance(signer, LocalSignerSettings):
                provider = open_provider(
                    ProviderConfig.from_mapping(provider_mapping(config, signer))
                )
                state_dir = config.resolve(signer.state_dir)
                Path(state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
                clients[signer.id] = LocalSigner(
                    signer.id,
                    provider,
                    state_dir,
                    nonce_batch_size=signer.nonce_batch_size,
                    production=config.production,
                )
                endpoints[signer.id] = SignerEndpoint(kind="local")
            elif isinstance(signer, HttpSignerSettings):
                from nostr_passport.signer.http_client import HttpSignerClient

                key = key if key is not None else coordinator_key(config)
                clients[signer.id] = HttpSignerClient(
                    signer.url,
                    signer.id,
                    key,
                    bytes.fromhex(signer.public_key),
                    settings.signing.signer_timeout_seconds,
                )
                endpoints[signer.id] = SignerEndpoint(
                    kind="http", url=signer.url, signer_public_key=signer.public_key
                )
    except BaseException:
        for client in clients.values():
            closer = getattr(client, "close", None)
            if callable(closer):
                closer()
        raise
    return clients, endpoints


def open_audit_provider(config: Config) -> HsmProvider | None:
    """The [audit] provider (its attestation key signs checkpoints), or None if unset."""
    from nostr_passport.hsm import ProviderConfig, open_provider

    table = config.settings.audit.provider
    if table is None:
        return None
    provider_config = ProviderConfig.from_mapping(resolved_provider(config, table))
    if provider_config.kind == "simulator":
        log.warning("audit checkpoints are signed by the HSM simulator, not an HSM")
    return open_provider(provider_config)


def open_gateway(config: Config) -> Passport:
    """Store migrated, signers and the audit provider opened, signers registered."""
    store = Store.open(config.store_url)
    try:
        clients, endpoints = signer_clients(config)
    except BaseException:
        store.close()
        raise
    try:
        audit_provider = open_audit_provider(config)
    except BaseException:
        for client in clients.values():
            closer = getattr(client, "close", None)
            if callable(closer):
                closer()
        store.close()
        raise
    passport = assemble(store, clients, config.settings, endpoints=endpoints)
    passport.audit_provider = audit_provider
    passport.audit_log_id = config.settings.audit.log_id
    unreachable = passport.register_signers()
    for signer_id, reason in sorted(unreachable.items()):
        log.warning("signer %s unreachable at start: %s", signer_id, reason)
    return passport
