"""The simulator provider: the HSM interface in pure software, for development and tests.

Its keys live in process memory or, with a state directory, in a plain JSON file
(`simulator-keys.DEV-ONLY.json`, mode 0600). That file IS the secret: anyone who reads
it holds every KEK. It refuses to start in production mode.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nostr_passport.errors import (
    HsmError,
    KeyInUseError,
    KeyNotFoundError,
    ProductionModeError,
    ProviderUnavailableError,
    TamperedCiphertextError,
)
from nostr_passport.hsm.p256 import point_of
from nostr_passport.hsm.provider import (
    GCM_NONCE_LEN,
    HealthStatus,
    ProviderInfo,
    WrappedBlob,
    check_random_length,
    kek_aad,
    kek_label,
    kek_number,
)
from nostr_passport.hsm.transport import (
    TransportBlob,
    TransportKdf,
    TransportKey,
    open_with_shared_secret,
    seal,
)

STATE_FILE = "simulator-keys.DEV-ONLY.json"
STATE_VERSION = 1
VENDOR = "NostrPassport simulator"


class SimulatorProvider:
    """Software stand-in for an HSM; same contract as the pkcs11 provider."""

    def __init__(
        self,
        name: str = "simulator",
        *,
        state_dir: str | Path | None = None,
        production: bool = False,
        key_label_prefix: str = "np",
        transport_kdf: TransportKdf = TransportKdf.X963_SHA256,
    ) -> None:
        if production:
            raise ProductionModeError(
                "the simulator provider keeps keys in software and cannot run in production "
                "mode; configure a pkcs11 provider"
            )
        self._name = name
        self._prefix = key_label_prefix
        self._kdf = transport_kdf
        self._lock = threading.RLock()
        self._closed = False
        self._path = Path(state_dir) / STATE_FILE if state_dir is not None else None
        loaded = self._load() if self._path is not None else None
        self._state = loaded if loaded is not None else self._fresh_state()
        if loaded is None:
            self._add_kek()  # like pkcs11's ensure_keys: a fresh provider has its first KEK
        state = self._state
        self._attestation = _ec_key(state["attestation"])
        self._transport = _ec_key(state["transport"])

    # ------------------------------------------------------------------ identity

    @property
    def info(self) -> ProviderInfo:
        return ProviderInfo(
            name=self._name,
            kind="simulator",
            vendor=VENDOR,
            model="software",
            serial=str(self._state["serial"]),
            label=str(self._path.parent) if self._path is not None else "memory",
            profile="simulator",
            simulated=True,
        )

    def health(self) -> HealthStatus:
        start = time.perf_counter()
        ok = not self._closed
        detail = "simulator (software keys, not for production)" if ok else "closed"
        return HealthStatus(ok=ok, detail=detail, latency_ms=(time.perf_counter() - start) * 1e3)

    def random_bytes(self, n: int) -> bytes:
        check_random_length(n)
        self._check_open()
        return secrets.token_bytes(n)

    # ------------------------------------------------------------------ KEKs

    def current_kek_id(self) -> str:
        with self._lock:
            self._check_open()
            ids = self.list_kek_ids()
            if ids:
                return ids[-1]
            return self._add_kek()

    def create_kek(self) -> str:
        with self._lock:
            self._check_open()
            return self._add_kek()

    def destroy_kek(self, kek_id: str) -> None:
        with self._lock:
            self._check_open()
            if kek_id not in self._keks():
                raise KeyNotFoundError(f"KEK {kek_id!r} does not exist")
            if kek_id == self.current_kek_id():
                raise KeyInUseError(f"KEK {kek_id!r} is the current KEK; create a new one first")
            del self._keks()[kek_id]
            self._save()

    def list_kek_ids(self) -> list[str]:
        with self._lock:
            numbered = [(kek_number(self._prefix, k), k) for k in self._keks()]
            return [k for n, k in sorted((n, k) for n, k in numbered if n is not None)]

    def wrap(self, plaintext: bytes, aad: bytes) -> WrappedBlob:
        kek_id = self.current_kek_id()
        nonce = self.random_bytes(GCM_NONCE_LEN)
        ciphertext = AESGCM(self._kek(kek_id)).encrypt(nonce, plaintext, kek_aad(aad))
        return WrappedBlob(kek_id=kek_id, nonce=nonce, ciphertext=ciphertext)

    def unwrap(self, blob: WrappedBlob, aad: bytes) -> bytes:
        key = self._kek(blob.kek_id)
        try:
            return AESGCM(key).decrypt(blob.nonce, blob.ciphertext, kek_aad(aad))
        except InvalidTag:
            raise TamperedCiphertextError("wrapped blob failed authentication") from None

    def rewrap(self, blob: WrappedBlob, aad: bytes) -> WrappedBlob:
        return self.wrap(self.unwrap(blob, aad), aad)

    # ------------------------------------------------------------------ signing keys

    def attestation_public_key(self) -> bytes:
        self._check_open()
        return self._attestation.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def attestation_sign(self, message: bytes) -> bytes:
        self._check_open()
        return self._attestation.sign(message, ec.ECDSA(hashes.SHA256()))

    def audit_hmac(self, message: bytes) -> bytes:
        self._check_open()
        return hmac.digest(bytes.fromhex(self._state["audit"]), message, "sha256")

    # ------------------------------------------------------------------ transport

    def transport_public_key(self) -> bytes:
        self._check_open()
        return TransportKey(self._kdf, point_of(self._transport.public_key())).to_bytes()

    def wrap_for(self, recipient_transport_key: bytes, secret: bytes, aad: bytes) -> bytes:
        recipient = TransportKey.from_bytes(recipient_transport_key)
        return seal(recipient, secret, aad, self.random_bytes(GCM_NONCE_LEN))

    def unwrap_transported(self, blob: bytes, aad: bytes) -> bytes:
        self._check_open()
        parsed = TransportBlob.from_bytes(blob)
        if parsed.kdf != self._kdf:
            raise TamperedCiphertextError("transport blob was not sealed to this provider")
        eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), parsed.ephemeral_point)
        z = self._transport.exchange(ec.ECDH(), eph)
        own_point = point_of(self._transport.public_key())
        return open_with_shared_secret(parsed, own_point, z, aad)

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"SimulatorProvider(name={self._name!r})"

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise ProviderUnavailableError(f"provider {self._name!r} is closed")

    def _keks(self) -> dict[str, str]:
        keks: dict[str, str] = self._state["keks"]
        return keks

    def _kek(self, kek_id: str) -> bytes:
        self._check_open()
        with self._lock:
            hex_key = self._keks().get(kek_id)
        if hex_key is None:
            raise KeyNotFoundError(f"KEK {kek_id!r} does not exist in this provider")
        return bytes.fromhex(hex_key)

    def _add_kek(self) -> str:
        numbers = [kek_number(self._prefix, k) for k in self._keks()]
        kek_id = kek_label(self._prefix, max((n for n in numbers if n is not None), default=0) + 1)
        self._keks()[kek_id] = secrets.token_bytes(32).hex()
        self._save()
        return kek_id

    def _fresh_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "warning": "DEVELOPMENT ONLY: these are the simulator's secret keys in clear",
            "serial": secrets.token_hex(8),
            "keks": {},
            "attestation": _new_scalar_hex(),
            "transport": _new_scalar_hex(),
            "audit": secrets.token_bytes(32).hex(),
        }

    def _load(self) -> dict[str, Any] | None:
        assert self._path is not None
        try:
            raw = self._path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProviderUnavailableError(
                f"cannot read simulator state in {self._path.parent}: {exc.strerror}"
            ) from None
        try:
            state = json.loads(raw)
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise ValueError
            for field in ("serial", "attestation", "transport", "audit"):
                if not isinstance(state.get(field), str):
                    raise ValueError
            if not isinstance(state.get("keks"), dict):
                raise ValueError
        except ValueError:
            raise HsmError(f"simulator state file in {self._path.parent} is corrupt") from None
        return state

    def _save(self) -> None:
        if self._path is None:
            return
        directory = self._path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sim-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as fh:
                    json.dump(self._state, fh, indent=1, sort_keys=True)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self._path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise ProviderUnavailableError(
                f"cannot write simulator state in {directory}: {exc.strerror}"
            ) from None


def _new_scalar_hex() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return format(key.private_numbers().private_value, "064x")


def _ec_key(scalar_hex: str) -> ec.EllipticCurvePrivateKey:
    try:
        return ec.derive_private_key(int(scalar_hex, 16), ec.SECP256R1())
    except ValueError:
        raise HsmError("simulator state holds an invalid P-256 key") from None
