"""`nostr-passport signer serve`: from command-line arguments to a serving signer.

The CLI (cli.py) parses; this module interprets: the provider spec, the coordinator
key(s), and what to print once the signer listens (its Ed25519 public key, which goes
into the gateway's config as the signer's `public_key`).
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

from nostr_passport.errors import ConfigError
from nostr_passport.hsm.factory import ProviderConfig
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
    config = SignerServerConfig(
        signer_id=args.id,
        provider=provider_config(args.provider, args.id, state_dir, bool(args.production)),
        state_dir=state_dir,
        allowed_coordinator_keys=keys,
        host=args.host,
        port=args.port,
        production=bool(args.production),
    )
    serve_signer(config, on_ready=_announce)
    return 0
