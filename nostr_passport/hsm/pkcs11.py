"""The pkcs11 provider: the HSM protocol over any PKCS#11 module (python-pkcs11).

Keys are token objects created in the HSM as sensitive and non-extractable, and are
found by label (`<prefix>-kek-<n>`, `<prefix>-attest`, `<prefix>-audit-hmac`,
`<prefix>-transport`). Should a race between processes ever create two objects with
one label, the one with the smallest CKA_ID (16 random bytes from the HSM) wins, so
every process picks the same key; unwrap tries every KEK of the label.

Every call runs under the loaded module's lock (see hsm/modules.py). Vendor
differences come from the profile (hsm/profiles.py); nothing here is SoftHSM-specific.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pkcs11 import KDF, Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11e

from nostr_passport.errors import (
    ConfigError,
    HsmError,
    KeyInUseError,
    KeyNotFoundError,
    PassportError,
    ProviderAuthenticationError,
    ProviderUnavailableError,
    TamperedCiphertextError,
    UnsupportedOperationError,
)
from nostr_passport.hsm import modules
from nostr_passport.hsm.p11_params import GcmParams, mechanism
from nostr_passport.hsm.p256 import (
    EC_PARAMS_P256,
    der_signature_from_raw,
    point_from_ec_point_attribute,
    spki_from_point,
)
from nostr_passport.hsm.profiles import Pkcs11Profile
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
    AES_KEY_LEN,
    TransportBlob,
    TransportKdf,
    TransportKey,
    gcm_aad,
    seal,
    shared_info,
)

T = TypeVar("T")

# SoftHSM2 (and others) answer a bad GCM tag with CKR_GENERAL_ERROR, not the
# CKR_ENCRYPTED_DATA_INVALID the standard asks for; on a GCM decrypt both mean
# "authentication failed".
_TAMPERED = (
    p11e.GeneralError,
    p11e.EncryptedDataInvalid,
    p11e.EncryptedDataLenRange,
    p11e.DataLenRange,
    p11e.FunctionFailed,
)
_SESSION_BROKEN = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.DeviceRemoved,
    p11e.DeviceError,
    p11e.TokenNotPresent,
    p11e.TokenNotRecognised,
    p11e.UserNotLoggedIn,
)
_STALE_HANDLE = (p11e.ObjectHandleInvalid, p11e.KeyHandleInvalid)
_UNSUPPORTED = (p11e.MechanismInvalid, p11e.MechanismParamInvalid, p11e.FunctionNotSupported)
_LOGIN = (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange, p11e.PinExpired, p11e.PinLocked)

_SECRET_TEMPLATE: Mapping[Attribute, Any] = {
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
}
_KEY_ID_BYTES = 16


class Pkcs11Provider:
    """HsmProvider over one token of one PKCS#11 module."""

    def __init__(
        self,
        name: str,
        *,
        module_path: str,
        profile: Pkcs11Profile,
        user_pin: str,
        token_label: str | None = None,
        slot: int | None = None,
        key_label_prefix: str = "np",
        module_env: Mapping[str, str] | None = None,
        gcm_iv_from_hsm: bool | None = None,
    ) -> None:
        if token_label is None and slot is None:
            raise ConfigError(f"pkcs11 provider {name!r} needs token_label or slot")
        self._name = name
        self._profile = profile
        self._pin = user_pin
        self._token_label = token_label
        self._slot = slot
        self._prefix = key_label_prefix
        self._iv_from_hsm = profile.gcm_iv_from_hsm if gcm_iv_from_hsm is None else gcm_iv_from_hsm
        self._gcm = mechanism(profile.gcm_mechanism)
        self._closed = False
        self._generation = -1
        self._token: Any = None
        self._cache: dict[str, Any] = {}
        self._info: ProviderInfo | None = None
        self._module = modules.acquire(module_path, module_env or {})

    def __repr__(self) -> str:
        return (
            f"Pkcs11Provider(name={self._name!r}, profile={self._profile.name!r}, "
            f"token={self._token_label or self._slot!r})"
        )

    # ------------------------------------------------------------------ identity

    @property
    def info(self) -> ProviderInfo:
        if self._info is None:
            token = self._run("info", lambda _session: self._token)
            self._info = ProviderInfo(
                name=self._name,
                kind="pkcs11",
                vendor=token.manufacturer_id,
                model=token.model,
                serial=token.serial.decode("ascii", "replace").strip(),
                label=token.label,
                profile=self._profile.name,
                simulated=self._profile.software_token,
            )
        return self._info

    def health(self) -> HealthStatus:
        start = time.perf_counter()
        try:
            self._run("health", lambda s: s.generate_random(8 * self._profile.random_chunk_min))
            ok, detail = True, f"{self._profile.name}: token reachable, logged in"
        except PassportError as exc:  # health reports, it never raises
            ok, detail = False, str(exc)
        return HealthStatus(ok=ok, detail=detail, latency_ms=(time.perf_counter() - start) * 1e3)

    def random_bytes(self, n: int) -> bytes:
        check_random_length(n)
        return self._run("random_bytes", lambda s: self._random(s, n))

    # ------------------------------------------------------------------ KEKs

    def current_kek_id(self) -> str:
        return self._run("current_kek_id", lambda s: self._current_kek(s)[0])

    def create_kek(self) -> str:
        def create(session: Any) -> str:
            numbers = [n for n, _, _ in self._keks(session)]
            label = kek_label(self._prefix, max(numbers, default=0) + 1)
            self._create_secret(session, label, KeyType.AES, _ENCRYPT_DECRYPT, "raw-encryption")
            return label

        return self._run("create_kek", create)

    def destroy_kek(self, kek_id: str) -> None:
        def destroy(session: Any) -> None:
            keks = self._keks(session)
            if not any(label == kek_id for _, label, _ in keks):
                raise KeyNotFoundError(f"KEK {kek_id!r} does not exist on this token")
            if keks[-1][1] == kek_id:
                raise KeyInUseError(f"KEK {kek_id!r} is the current KEK; create a new one first")
            self._cache.pop(f"kek:{kek_id}", None)
            for _, label, key in keks:
                if label == kek_id:
                    key.destroy()

        self._run("destroy_kek", destroy)

    def list_kek_ids(self) -> list[str]:
        return self._run("list_kek_ids", lambda s: [label for _, label, _ in self._keks(s)])

    def wrap(self, plaintext: bytes, aad: bytes) -> WrappedBlob:
        def wrap(session: Any) -> WrappedBlob:
            kek_id, key = self._current_kek(session)
            iv = bytes(GCM_NONCE_LEN) if self._iv_from_hsm else self._random(session, GCM_NONCE_LEN)
            params = GcmParams(iv, kek_aad(aad))
            ciphertext = bytes(
                key.encrypt(plaintext, mechanism=self._gcm, mechanism_param=params.raw)
            )
            nonce = params.iv()
            if self._iv_from_hsm and nonce == bytes(GCM_NONCE_LEN):
                raise HsmError("the HSM did not return the AES-GCM IV it chose")
            return WrappedBlob(kek_id=kek_id, nonce=nonce, ciphertext=ciphertext)

        return self._run("wrap", wrap)

    def unwrap(self, blob: WrappedBlob, aad: bytes) -> bytes:
        def decrypt(key: Any) -> bytes:
            params = GcmParams(blob.nonce, kek_aad(aad))
            return bytes(
                key.decrypt(blob.ciphertext, mechanism=self._gcm, mechanism_param=params.raw)
            )

        def unwrap(session: Any) -> bytes:
            if kek_number(self._prefix, blob.kek_id) is None:
                raise KeyNotFoundError(f"{blob.kek_id!r} is not a KEK of this provider")
            # The hot path (every signature unwraps a share) skips the object search.
            # Any failure with a cached handle falls back to a fresh search, so a KEK
            # destroyed by another process reads as KeyNotFoundError, not as tampering.
            cache_key = f"kek:{blob.kek_id}"
            cached = self._cache.pop(cache_key, None)
            if cached is not None:
                with contextlib.suppress(*_TAMPERED, *_STALE_HANDLE):
                    plaintext = decrypt(cached)
                    self._cache[cache_key] = cached
                    return plaintext
            keys = self._find(session, ObjectClass.SECRET_KEY, blob.kek_id)
            if not keys:
                raise KeyNotFoundError(f"KEK {blob.kek_id!r} does not exist on this token")
            for key in keys:
                try:
                    plaintext = decrypt(key)
                except _TAMPERED:
                    continue
                self._cache[cache_key] = key
                return plaintext
            raise TamperedCiphertextError("wrapped blob failed authentication")

        return self._run("unwrap", unwrap)

    def rewrap(self, blob: WrappedBlob, aad: bytes) -> WrappedBlob:
        # No standard mechanism re-encrypts inside the HSM, so the plaintext passes
        # through memory, as it does for every unwrap.
        return self.wrap(self.unwrap(blob, aad), aad)

    # ------------------------------------------------------------------ signing keys

    def attestation_public_key(self) -> bytes:
        def public(session: Any) -> bytes:
            _, pub = self._keypair(session, "attest", _SIGN_VERIFY)
            return spki_from_point(point_from_ec_point_attribute(pub[Attribute.EC_POINT]))

        return self._run("attestation_public_key", public)

    def attestation_sign(self, message: bytes) -> bytes:
        # CKM_ECDSA over a SHA-256 digest computed here: every target HSM supports it
        # (SoftHSM2 and kmsp11 lack or restrict CKM_ECDSA_SHA256), same signature.
        digest = hashlib.sha256(message).digest()

        def sign(session: Any) -> bytes:
            priv, _ = self._keypair(session, "attest", _SIGN_VERIFY)
            return der_signature_from_raw(bytes(priv.sign(digest, mechanism=Mechanism.ECDSA)))

        return self._run("attestation_sign", sign)

    def audit_hmac(self, message: bytes) -> bytes:
        def mac(session: Any) -> bytes:
            key = self._singleton_secret(session, "audit-hmac")
            return bytes(key.sign(message, mechanism=Mechanism.SHA256_HMAC))

        return self._run("audit_hmac", mac)

    # ------------------------------------------------------------------ transport

    def transport_public_key(self) -> bytes:
        kdf = self._transport_kdf()

        def public(session: Any) -> bytes:
            return TransportKey(kdf, self._transport_point(session)).to_bytes()

        return self._run("transport_public_key", public)

    def wrap_for(self, recipient_transport_key: bytes, secret: bytes, aad: bytes) -> bytes:
        recipient = TransportKey.from_bytes(recipient_transport_key)
        return seal(recipient, secret, aad, self.random_bytes(GCM_NONCE_LEN))

    def unwrap_transported(self, blob: bytes, aad: bytes) -> bytes:
        kdf = self._transport_kdf()
        parsed = TransportBlob.from_bytes(blob)
        if parsed.kdf != kdf:
            raise TamperedCiphertextError("transport blob was not sealed to this provider")

        def unwrap(session: Any) -> bytes:
            priv, _ = self._keypair(session, "transport", MechanismFlag.DERIVE)
            own = self._transport_point(session)
            info = None if kdf is TransportKdf.RAW_X else shared_info(parsed.ephemeral_point, own)
            ckd = KDF.NULL if kdf is TransportKdf.RAW_X else KDF.SHA256
            try:
                aes = priv.derive_key(
                    KeyType.AES,
                    AES_KEY_LEN * 8,
                    store=False,
                    capabilities=MechanismFlag.DECRYPT,
                    mechanism=Mechanism.ECDH1_DERIVE,
                    mechanism_param=(ckd, info, parsed.ephemeral_point),
                    template=_SECRET_TEMPLATE,
                )
            except (p11e.PublicKeyInvalid, p11e.DomainParamsInvalid):
                raise TamperedCiphertextError(
                    "transport blob has an unusable ephemeral key"
                ) from None
            try:
                params = GcmParams(parsed.nonce, gcm_aad(parsed, own, aad))
                return bytes(
                    aes.decrypt(
                        parsed.ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params.raw
                    )
                )
            except _TAMPERED:
                raise TamperedCiphertextError("transport blob failed authentication") from None
            finally:
                with contextlib.suppress(p11e.PKCS11Error):
                    aes.destroy()

        return self._run("unwrap_transported", unwrap)

    # ------------------------------------------------------------------ lifecycle

    def ensure_keys(self) -> None:
        """Create every key this provider uses, so workers forked later only find them."""

        def ensure(session: Any) -> None:
            self._current_kek(session)
            self._keypair(session, "attest", _SIGN_VERIFY)
            self._singleton_secret(session, "audit-hmac")
            if self._profile.transport_kdf is not None:
                self._keypair(session, "transport", MechanismFlag.DERIVE)

        self._run("ensure_keys", ensure)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cache.clear()
            modules.release(self._module)

    # ------------------------------------------------------------------ the call path

    def _run(self, op: str, fn: Callable[[Any], T]) -> T:
        if self._closed:
            raise ProviderUnavailableError(f"provider {self._name!r} is closed")
        module = self._module
        with module.lock:
            for attempt in (1, 2):
                module.ensure_current()
                if self._generation != module.generation:
                    self._generation = module.generation
                    self._token = None
                    self._cache.clear()
                token = self._resolve_token()
                slot_id = token.slot.slot_id
                session = module.session(slot_id, token, self._pin)
                try:
                    return fn(session)
                except _STALE_HANDLE:
                    # Another process destroyed or replaced a key we had cached.
                    self._cache.clear()
                    if attempt == 2:
                        raise KeyNotFoundError(f"{op}: key handle no longer valid") from None
                except _SESSION_BROKEN as exc:
                    module.drop_session(slot_id)
                    self._token = None
                    self._cache.clear()
                    raise ProviderUnavailableError(
                        f"{op}: HSM session lost ({type(exc).__name__}); will reconnect"
                    ) from None
                except p11e.PKCS11Error as exc:
                    raise _translate(exc, op) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _resolve_token(self) -> Any:
        if self._token is not None:
            return self._token
        lib = self._module.lib
        try:
            if self._slot is not None:
                slots = [s for s in lib.get_slots(token_present=True) if s.slot_id == self._slot]
                if not slots:
                    raise ProviderUnavailableError(f"no token present in slot {self._slot}")
                token = slots[0].get_token()
                if self._token_label is not None and token.label != self._token_label:
                    raise ConfigError(
                        f"slot {self._slot} holds token {token.label!r}, not {self._token_label!r}"
                    )
            else:
                token = lib.get_token(token_label=self._token_label)
        except p11e.NoSuchToken:
            raise ProviderUnavailableError(
                f"no token labelled {self._token_label!r} in module {self._module.path}"
            ) from None
        except p11e.MultipleTokensReturned:
            raise ConfigError(
                f"several tokens are labelled {self._token_label!r}; configure slot instead"
            ) from None
        except p11e.PKCS11Error as exc:
            raise ProviderUnavailableError(
                f"cannot list tokens of {self._module.path}: {type(exc).__name__}"
            ) from None
        self._token = token
        return token

    # ------------------------------------------------------------------ keys

    def _random(self, session: Any, n: int) -> bytes:
        low, high = self._profile.random_chunk_min, self._profile.random_chunk_max
        out = bytearray()
        while len(out) < n:
            want = min(n - len(out), high)
            out += bytes(session.generate_random(8 * max(want, low)))[:want]
        return bytes(out)

    def _find(self, session: Any, object_class: ObjectClass, label: str) -> list[Any]:
        found = session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label})
        return sorted(found, key=_key_id)

    def _keks(self, session: Any) -> list[tuple[int, str, Any]]:
        """(number, label, key) of our KEKs, oldest first."""
        keks = []
        for key in session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
        ):
            label = key[Attribute.LABEL]
            number = kek_number(self._prefix, label)
            if number is not None:
                keks.append((number, label, key))
        keks.sort(key=lambda item: (item[0], _key_id(item[2])))
        return keks

    def _current_kek(self, session: Any) -> tuple[str, Any]:
        keks = self._keks(session)
        if not keks:
            label = kek_label(self._prefix, 1)
            self._create_secret(session, label, KeyType.AES, _ENCRYPT_DECRYPT, "raw-encryption")
            keks = self._keks(session)
        top = keks[-1][0]
        _, label, key = next(k for k in keks if k[0] == top)  # smallest CKA_ID of the newest
        return label, key

    def _singleton_secret(self, session: Any, role: str) -> Any:
        cached = self._cache.get(role)
        if cached is not None:
            return cached
        label = f"{self._prefix}-{role}"
        found = self._find(session, ObjectClass.SECRET_KEY, label)
        if not found:
            self._create_secret(
                session,
                label,
                KeyType.GENERIC_SECRET,
                MechanismFlag.SIGN | MechanismFlag.VERIFY,
                "mac",
            )
            found = self._find(session, ObjectClass.SECRET_KEY, label)
        self._cache[role] = found[0]
        return found[0]

    def _keypair(self, session: Any, role: str, capabilities: MechanismFlag) -> tuple[Any, Any]:
        cached = self._cache.get(role)
        if cached is not None:
            pair: tuple[Any, Any] = cached
            return pair
        label = f"{self._prefix}-{role}"
        privs = self._find(session, ObjectClass.PRIVATE_KEY, label)
        if not privs:
            self._require_creation(label, "asymmetric-signing" if role == "attest" else None)
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: EC_PARAMS_P256}, local=True
            )
            params.generate_keypair(
                id=self._random(session, _KEY_ID_BYTES),
                label=label,
                store=True,
                capabilities=capabilities,
                private_template=_SECRET_TEMPLATE,
            )
            privs = self._find(session, ObjectClass.PRIVATE_KEY, label)
        priv = privs[0]
        pubs = [
            p
            for p in self._find(session, ObjectClass.PUBLIC_KEY, label)
            if _key_id(p) == _key_id(priv)
        ]
        if not pubs:
            raise KeyNotFoundError(f"public half of {label!r} is missing on the token")
        self._cache[role] = (priv, pubs[0])
        return priv, pubs[0]

    def _transport_point(self, session: Any) -> bytes:
        _, pub = self._keypair(session, "transport", MechanismFlag.DERIVE)
        return point_from_ec_point_attribute(pub[Attribute.EC_POINT])

    def _create_secret(
        self,
        session: Any,
        label: str,
        key_type: KeyType,
        capabilities: MechanismFlag,
        gcloud_purpose: str,
    ) -> None:
        self._require_creation(label, gcloud_purpose)
        session.generate_key(
            key_type,
            256,
            id=self._random(session, _KEY_ID_BYTES),
            label=label,
            store=True,
            capabilities=capabilities,
            template=_SECRET_TEMPLATE,
        )

    def _require_creation(self, label: str, gcloud_purpose: str | None) -> None:
        if self._profile.creates_keys:
            return
        hint = _GCLOUD_HINTS.get(gcloud_purpose or "", "")
        raise UnsupportedOperationError(
            f"profile {self._profile.name!r} cannot create keys through PKCS#11; key "
            f"{label!r} is missing. {hint.format(label=label)}".strip()
        )

    def _transport_kdf(self) -> TransportKdf:
        kdf = self._profile.transport_kdf
        if kdf is None:
            raise UnsupportedOperationError(
                f"profile {self._profile.name!r} has no C_DeriveKey (ECDH), so this provider "
                "cannot receive transported secrets; it can still send them with wrap_for"
            )
        return kdf


_ENCRYPT_DECRYPT = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
_SIGN_VERIFY = MechanismFlag.SIGN | MechanismFlag.VERIFY

_GCLOUD_HINTS = {
    "raw-encryption": "Create it with: gcloud kms keys create {label} --keyring=RING "
    "--location=LOC --purpose=raw-encryption --default-algorithm=aes-256-gcm "
    "--protection-level=hsm",
    "asymmetric-signing": "Create it with: gcloud kms keys create {label} --keyring=RING "
    "--location=LOC --purpose=asymmetric-signing --default-algorithm=ec-sign-p256-sha256 "
    "--protection-level=hsm",
    "mac": "Create it with: gcloud kms keys create {label} --keyring=RING --location=LOC "
    "--purpose=mac --default-algorithm=hmac-sha256 --protection-level=hsm",
}


def _key_id(obj: Any) -> bytes:
    try:
        value = obj[Attribute.ID]
    except p11e.PKCS11Error:
        return b""
    return bytes(value) if value is not None else b""


def _translate(exc: p11e.PKCS11Error, op: str) -> HsmError:
    name = type(exc).__name__
    if isinstance(exc, _LOGIN):
        return ProviderAuthenticationError(f"{op}: the HSM refused the login ({name})")
    if isinstance(exc, _UNSUPPORTED):
        return UnsupportedOperationError(
            f"{op}: the token lacks a mechanism this needs ({name}); see docs/providers.md"
        )
    if isinstance(exc, (p11e.DeviceMemory, p11e.HostMemory, p11e.SessionCount)):
        return ProviderUnavailableError(f"{op}: HSM out of resources ({name})")
    return HsmError(f"{op} failed in the HSM ({name})")
