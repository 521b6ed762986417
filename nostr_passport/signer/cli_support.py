"""`nostr-passport signer serve` and `signer key`: from command-line arguments to a signer.

The CLI (cli.py) parses; this module interprets: the provider spec, the coordinator
key(s), and what to print once the signer listens (its Ed25519 public key, which goes
into the gateway's config as the signer's `public_key`). `signer key` prints the same
key (and the provider's transport key, a `backup --to` target) without serving, so a
signer host can hand it to the gateway's operator before the gateway is configured.

`--production` refuses the simulator and SoftHSM2: both keep keys in software, so on a
signer host of its own they protect nothing that the host's files do not already give
away (the gateway's `config check` reports SoftHSM2 in production mode the same way).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from nostr_passport.errors import ConfigError, ProductionModeError, UnsupportedOperationError
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.transport import key_fingerprint
from nostr_passport.signer.http_auth import public_key_bytes
from nostr_passport.signer.http_server import ServingSigner, SignerServerConfig, serve_signer

PIN_ENV = "NOSTR_PASSPORT_HSM_PIN"


def provider_config(spec: str, signer_id: str, state_dir: Path, production: bool) -> ProviderConfig:
    """`simulator`, `softhsm2:<token-label>` (PIN in $NOSTR_PASSPORT_HSM_PIN), or a TOML file.

    A TOML file holds one provider table, top level or under `[provider]`, in the form
    hsm.ProviderConfig.from_mapping reads.
    """
    if spec == "simulator":
        return ProviderConfig(
            kind="simulator",
            name=f"{signer_id}-simulator",
            state_dir=str(state_dir / "simulator-hsm"),
            production=production,
        )
    if spec.startswith("softhsm2:"):
        label = spec.removeprefix("softhsm2:")
        if not label:
            raise ConfigError("softhsm2:<token-label> needs a token label")
        return ProviderConfig(
            kind="pkcs11",
            name=f"{signer_id}-softhsm2",
            profile="softhsm2",
            token_label=label,
            user_pin_env=PIN_ENV,
            softhsm2_conf=os.environ.get("SOFTHSM2_CONF"),
            production=production,
        )
    path = Path(spec)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"provider file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"provider file {path} is not valid TOML: {exc}") from None
    table = data.get("provider", data)
    if not isinstance(table, dict):
        raise ConfigError(f"provider file {path} holds no provider table")
    table = {"production": production, **table}
    return ProviderConfig.from_mapping(table)


def refuse_software_token(config: ProviderConfig, production: bool) -> None:
    """In production, SoftHSM2 is refused like the simulator (which refuses itself)."""
    if production and config.kind == "pkcs11" and config.profile == "softhsm2":
        raise ProductionModeError(
            f"provider {config.name!r}: SoftHSM2 is a software token, not an HSM, and "
            "cannot be used with --production (rehearse without it; docs/deployment.md)"
        )


def _key_from_text(text: str, where: str) -> bytes:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        data = text.encode()
        key: object
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError):
                raise ConfigError(f"{where} is not a PEM Ed25519 key") from None
        if not isinstance(key, Ed25519PublicKey | Ed25519PrivateKey):
            raise ConfigError(f"{where} is not an Ed25519 key")
        return public_key_bytes(key)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{where}: an Ed25519 public key is 64 hex characters")
    return raw


def coordinator_keys(value: str) -> tuple[bytes, ...]:
    """Public keys from hex (comma-separated) or from a file (PEM, or hex one per line)."""
    path = Path(value)
    if len(value) != 64 and path.is_file():
        text = path.read_text()
        if "-----BEGIN" in text:
            return (_key_from_text(text, str(path)),)
        lines = [line for line in text.splitlines() if line.strip()]
        return tuple(_key_from_text(line, str(path)) for line in lines)
    return tuple(_key_from_text(part, "--coordinator-key") for part in value.split(","))


def _announce(serving: ServingSigner) -> None:
    print(f"signer listening on http://{serving.host}:{serving.port}", flush=True)
    print(f"signer public key: {serving.signer_public_key.hex()}", flush=True)


def serve_signer_from_cli(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    keys = coordinator_keys(args.coordinator_key)
    if not keys:
        raise ConfigError("--coordinator-key names no key")
    provider = provider_config(args.provider, args.id, state_dir, bool(args.production))
    refuse_software_token(provider, bool(args.production))
    config = SignerServerConfig(
        signer_id=args.id,
        provider=provider,
        state_dir=state_dir,
        allowed_coordinator_keys=keys,
        host=args.host,
        port=args.port,
        production=bool(args.production),
    )
    serve_signer(config, on_ready=_announce)
    return 0


def signer_key_from_cli(args: argparse.Namespace) -> int:
    """Print what the gateway's operator needs from this signer host, without serving.

    Opens the provider and the signer's state like `signer serve` does (creating the
    reply-signing key on first use, from HSM randomness), prints, closes. It touches no
    share or nonce, so it may run next to a serving signer of the same state directory.
    """
    from nostr_passport.signer.local import LocalSigner

    state_dir = Path(args.state_dir)
    provider = open_provider(provider_config(args.provider, args.id, state_dir, False))
    try:
        signer = LocalSigner(args.id, provider, state_dir)
    except BaseException:
        provider.close()
        raise
    try:
        public_key = public_key_bytes(signer.response_signing_key()).hex()
        try:
            transport: str | None = provider.transport_public_key().hex()
        except UnsupportedOperationError:
            transport = None  # e.g. kmsp11: can send sealed shares, cannot receive them
        info = provider.info
    finally:
        signer.close()
    print(f"signer id: {args.id}")
    print(f"signer public key: {public_key}")
    if transport is None:
        print("transport key: none (this provider cannot receive sealed shares)")
    else:
        print(f"transport key fingerprint: {key_fingerprint(bytes.fromhex(transport))}")
        print(f"transport key: {transport}")
    print(f"provider: {info.kind} {info.vendor} / {info.model} / serial {info.serial}")
    print(f"keys in software: {'yes' if info.simulated else 'no'}")
    return 0
