"""`nostr-passport init`: a data directory with config, store, three signers, an admin token.

The embedded default puts three local signers on three SoftHSM2 tokens created inside the
data directory when SoftHSM2 is installed; otherwise on the software simulator, with a
loud warning, because then no HSM protects anything. The data directory then holds
every secret of the installation (token PINs in the config file, wrapped shares in the
signer state): it is created 0700 and its files 0600.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.config import (
    CONFIG_FILE_NAME,
    DEFAULT_BODY_LIMIT,
    DEFAULT_HOST,
    DEFAULT_PORT,
    Config,
    render_toml,
    settings_from,
)
from nostr_passport.errors import ConflictError
from nostr_passport.store.tokens import TokenScopes

from .access import SYSTEM_TENANT
from .gateway import open_gateway
from .tokens import issue_token

log = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "softhsm2", "simulator"]
SIGNER_COUNT = 3
SOFTHSM_DIR = "softhsm"
AUDIT_TOKEN_LABEL = "np-audit"  # noqa: S105 - an HSM token label, not a secret
COORDINATOR_KEY_FILE = "coordinator.key"

SIMULATOR_WARNING = (
    "WARNING: SoftHSM2 is not installed, so the three signers use the SOFTWARE SIMULATOR. "
    "No HSM protects the key shares: this installation is for development only. "
    "Install Debian's softhsm2 (or configure a real HSM) before keeping real identities."
)


@dataclass(frozen=True)
class InitResult:
    admin_token: str = field(repr=False)
    admin_token_id: str
    data_dir: Path
    config_path: Path
    store_url: str
    provider_kind: str
    warnings: tuple[str, ...]


def softhsm2_available() -> bool:
    from nostr_passport.hsm.profiles import profile_named

    module = profile_named("softhsm2").default_module_path
    return shutil.which("softhsm2-util") is not None and bool(module) and Path(str(module)).exists()


def is_initialised(data_dir: Path) -> bool:
    return (data_dir / CONFIG_FILE_NAME).is_file()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _coordinator_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _softhsm_signers(data_dir: Path) -> list[dict[str, Any]]:
    from nostr_passport.hsm.softhsm import init_token

    signers = []
    for i in range(1, SIGNER_COUNT + 1):
        label = f"np-signer-{i}"
        pin = secrets.token_urlsafe(18)
        init_token(data_dir / SOFTHSM_DIR, label, pin, so_pin=secrets.token_urlsafe(18))
        signers.append(
            {
                "id": f"signer-{i}",
                "kind": "local",
                "state_dir": f"signers/signer-{i}",
                "provider": {
                    "kind": "pkcs11",
                    "name": f"softhsm-{i}",
                    "profile": "softhsm2",
                    "token_label": label,
                    "user_pin": pin,
                    "softhsm2_conf": f"{SOFTHSM_DIR}/softhsm2.conf",
                },
            }
        )
    return signers


def _softhsm_audit(data_dir: Path) -> dict[str, Any]:
    """A 4th SoftHSM2 token, "np-audit", whose key signs audit checkpoints only.

    Created with the signers' tokens, before any PKCS#11 provider opens in this process.
    """
    from nostr_passport.hsm.softhsm import init_token

    pin = secrets.token_urlsafe(18)
    init_token(data_dir / SOFTHSM_DIR, AUDIT_TOKEN_LABEL, pin, so_pin=secrets.token_urlsafe(18))
    return {
        "kind": "pkcs11",
        "name": "softhsm-audit",
        "profile": "softhsm2",
        "token_label": AUDIT_TOKEN_LABEL,
        "user_pin": pin,
        "softhsm2_conf": f"{SOFTHSM_DIR}/softhsm2.conf",
    }


def _simulator_audit() -> dict[str, Any]:
    return {"kind": "simulator", "name": "simulator-audit", "state_dir": "audit/hsm"}


def _simulator_signers() -> list[dict[str, Any]]:
    return [
        {
            "id": f"signer-{i}",
            "kind": "local",
            "state_dir": f"signers/signer-{i}",
            "provider": {
                "kind": "simulator",
                "name": f"simulator-{i}",
                "state_dir": f"signers/signer-{i}/hsm",
            },
        }
        for i in range(1, SIGNER_COUNT + 1)
    ]


def config_document(
    signers: list[dict[str, Any]],
    *,
    store_url: str | None,
    host: str,
    port: int,
    audit_provider: dict[str, Any] | None = None,
) -> dict[str, Any]:
    store: dict[str, Any] = {} if store_url is None else {"url": store_url}
    return {
        "server": {
            "host": host,
            "port": port,
            "mode": "development",
            "max_body_bytes": DEFAULT_BODY_LIMIT,
        },
        "store": store,
        "limits": {"max_participants": SIGNER_COUNT, "max_threshold": SIGNER_COUNT},
        "signing": {
            "deadline_seconds": 5.0,
            "signer_timeout_seconds": 2.0,
            "commitment_batch_size": 64,
            "coordinator_key_file": COORDINATOR_KEY_FILE,
        },
        "rate_limit": {"enabled": True, "requests_per_second": 50.0, "burst": 100},
        "relays": {"urls": []},
        **({} if audit_provider is None else {"audit": {"provider": audit_provider}}),
        "signers": signers,
    }


HEADER = """NostrPassport configuration (written by `nostr-passport init`).
Environment variables override any key: NOSTR_PASSPORT_<SECTION>__<KEY>, e.g.
NOSTR_PASSPORT_SERVER__PORT=9000. Relative paths are relative to this directory.
This file holds HSM token PINs: keep it 0600. See docs/configuration.md."""


def initialise(
    data_dir: Path,
    *,
    provider: ProviderChoice = "auto",
    store_url: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> InitResult:
    """Create and populate `data_dir`; ConflictError if it is already initialised.

    The config file is written last, after the signers opened and the first admin token
    exists, so an interrupted init leaves no half-configured directory: what it created
    is removed and `init` can simply be run again.
    """
    data_dir = data_dir.expanduser().resolve()
    if is_initialised(data_dir):
        raise ConflictError(f"{data_dir} is already initialised ({CONFIG_FILE_NAME} exists)")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)
    before = set(data_dir.iterdir())
    previous_umask = os.umask(0o077)  # every file init creates is private
    try:
        return _initialise(data_dir, provider, store_url, host, port)
    except BaseException:
        for created in set(data_dir.iterdir()) - before:
            if created.is_dir():
                shutil.rmtree(created, ignore_errors=True)
            else:
                created.unlink(missing_ok=True)
        raise
    finally:
        os.umask(previous_umask)


def _initialise(
    data_dir: Path, provider: ProviderChoice, store_url: str | None, host: str, port: int
) -> InitResult:
    warnings: list[str] = []
    use_softhsm = provider == "softhsm2" or (provider == "auto" and softhsm2_available())
    if use_softhsm:
        signers = _softhsm_signers(data_dir)
        audit_provider = _softhsm_audit(data_dir)
        kind = "softhsm2"
    else:
        signers = _simulator_signers()
        audit_provider = _simulator_audit()
        kind = "simulator"
        warnings.append(SIMULATOR_WARNING)
    key_path = data_dir / COORDINATOR_KEY_FILE
    if not key_path.exists():
        _write_private(key_path, _coordinator_key_pem())
    document = config_document(
        signers, store_url=store_url, host=host, port=port, audit_provider=audit_provider
    )
    path = data_dir / CONFIG_FILE_NAME
    config = Config(data_dir=data_dir, path=path, settings=settings_from(document, path))
    passport = open_gateway(config)
    try:
        issued = passport.store.run_write(
            lambda conn: issue_token(
                conn,
                passport.audit,
                actor="init",
                tenant_id=SYSTEM_TENANT,
                name="first admin",
                role="admin",
                scopes=TokenScopes(),
                expires_at=None,
                request_id="init",
                now=passport.now(),
            )
        )
    finally:
        passport.close()
    _write_private(path, render_toml(document, HEADER).encode("utf-8"))
    return InitResult(
        admin_token=issued.token,
        admin_token_id=issued.view.id,
        data_dir=data_dir,
        config_path=path,
        store_url=config.store_url,
        provider_kind=kind,
        warnings=tuple(warnings),
    )
