"""Configuration profiles: what differs between PKCS#11 vendors, in one place.

The pkcs11 provider is written against standard PKCS#11 2.40 and reads every
vendor difference from the profile: default module path, environment the module
reads, how AES-GCM IVs are chosen, the KDF its ECDH runs, how much randomness one
C_GenerateRandom may return, whether keys can be created through PKCS#11 at all, and
the mechanisms it lacks (each turned into UnsupportedOperationError or a documented
fallback). Only `softhsm2` is tested for real; see docs/providers.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from nostr_passport.errors import ConfigError
from nostr_passport.hsm.transport import TransportKdf

CKM_AES_GCM = 0x00001087
# Google's vendor mechanism: like CKM_AES_GCM, but Cloud KMS chooses the IV and writes
# it into the caller's pIv buffer during C_Encrypt.
CKM_CLOUDKMS_AES_GCM = 0x80000000 | 0x1E100 | 0x01


@dataclass(frozen=True)
class Pkcs11Profile:
    name: str
    description: str
    default_module_path: str | None
    # Environment variables the module reads at C_Initialize; set from config.
    module_env: tuple[str, ...] = ()
    pin_hint: str = "the token's user PIN"
    gcm_mechanism: int = CKM_AES_GCM
    # True: the HSM ignores a caller IV and writes its own into CK_GCM_PARAMS.pIv.
    gcm_iv_from_hsm: bool = False
    random_chunk_min: int = 1
    random_chunk_max: int = 65536
    # None: the token cannot derive ECDH keys, so it cannot RECEIVE transported secrets.
    transport_kdf: TransportKdf | None = TransportKdf.RAW_X
    # False: keys must be created by the operator with the vendor's tools (see docs).
    creates_keys: bool = True
    # Shares the lack of hardware protection with the simulator (ProviderInfo.simulated).
    software_token: bool = False
    tested_for_real: bool = False
    lacks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


SOFTHSM2 = Pkcs11Profile(
    name="softhsm2",
    description="SoftHSM2 2.6 (development and CI only: keys are files on disk)",
    default_module_path="/usr/lib/softhsm/libsofthsm2.so",
    module_env=("SOFTHSM2_CONF",),
    transport_kdf=TransportKdf.RAW_X,
    software_token=True,
    tested_for_real=True,
    lacks=MappingProxyType(
        {
            "CKM_ECDSA_SHA256": "we hash in software and sign the digest with CKM_ECDSA",
            "CKD_SHA256_KDF": "ECDH uses CKD_NULL (raw x-coordinate), see hsm/transport.py",
            "CKM_RSA_PKCS_OAEP with SHA-256": "not used; transport is ECDH-based",
            "CKR_ENCRYPTED_DATA_INVALID on bad GCM tag": "it returns CKR_GENERAL_ERROR, "
            "which a GCM decrypt maps to TamperedCiphertextError",
        }
    ),
)

AWS_CLOUDHSM = Pkcs11Profile(
    name="aws-cloudhsm",
    description="AWS CloudHSM, Client SDK 5 PKCS#11 library",
    default_module_path="/opt/cloudhsm/lib/libcloudhsm_pkcs11.so",
    pin_hint='crypto user login as "<CU user name>:<password>"',
    gcm_iv_from_hsm=True,
    transport_kdf=TransportKdf.X963_SHA256,
    lacks=MappingProxyType(
        {
            "caller-chosen AES-GCM IV": "the HSM writes its own 12-byte IV into pIv; we "
            "read it back and store it in the blob",
            "CKD_NULL for CKM_ECDH1_DERIVE": "transport keys announce the X9.63 SHA-256 KDF",
            "in-HSM ECDH KDF": "AWS documents that its ECDH KDF runs partly in the client "
            "library: the shared secret is visible to the host process",
            "AES-GCM buffers over 16 KiB": "shares and nonces are far smaller",
        }
    ),
)

LUNA = Pkcs11Profile(
    name="luna",
    description="Thales Luna Network HSM 7 / Azure Dedicated HSM (Luna client)",
    default_module_path="/usr/safenet/lunaclient/lib/libCryptoki2_64.so",
    pin_hint="the partition's Crypto Officer (or Crypto User) password",
    transport_kdf=TransportKdf.X963_SHA256,
    lacks=MappingProxyType(
        {
            "caller-chosen AES-GCM IV in FIPS mode": "a partition in FIPS-approved mode may "
            "require HSM-generated IVs: set gcm_iv_from_hsm = true in the provider config",
        }
    ),
)

GCP_KMSP11 = Pkcs11Profile(
    name="gcp-kmsp11",
    description="Google Cloud HSM through the Cloud KMS PKCS#11 library (libkmsp11.so)",
    default_module_path="/opt/kmsp11/libkmsp11.so",
    module_env=("KMS_PKCS11_CONFIG",),
    pin_hint="ignored by kmsp11 (authentication is the service account); any value",
    gcm_mechanism=CKM_CLOUDKMS_AES_GCM,
    gcm_iv_from_hsm=True,
    random_chunk_min=8,
    random_chunk_max=1024,
    transport_kdf=None,
    creates_keys=False,
    lacks=MappingProxyType(
        {
            "C_DeriveKey (CKM_ECDH1_DERIVE)": "this signer cannot receive transported "
            "secrets (unwrap_transported/transport_public_key raise "
            "UnsupportedOperationError); it can still send with wrap_for",
            "C_GenerateKey/C_GenerateKeyPair with standard templates": "create the keys "
            "with gcloud (docs/providers.md); the provider finds them by label",
            "CKM_AES_GCM with a caller IV": "uses CKM_CLOUDKMS_AES_GCM; Cloud KMS writes "
            "the IV into pIv",
            "C_GenerateRandom outside 8..1024 bytes": "requests are split and padded",
            "C_WrapKey/C_UnwrapKey": "not used by this provider",
        }
    ),
)

PROFILES: Mapping[str, Pkcs11Profile] = MappingProxyType(
    {p.name: p for p in (SOFTHSM2, AWS_CLOUDHSM, LUNA, GCP_KMSP11)}
)


def profile_named(name: str) -> Pkcs11Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(f"unknown pkcs11 profile {name!r} (known: {known})") from None
