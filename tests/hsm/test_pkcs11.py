"""pkcs11-specific behaviour, for real against SoftHSM2: login, module sharing, key
attributes, session recovery, and each vendor profile's declared lacks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e

from nostr_passport.errors import (
    ConfigError,
    HsmError,
    KeyNotFoundError,
    ProviderAuthenticationError,
    ProviderUnavailableError,
    UnsupportedOperationError,
)
from nostr_passport.hsm import modules
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.pkcs11 import Pkcs11Provider
from nostr_passport.hsm.profiles import AWS_CLOUDHSM, GCP_KMSP11, LUNA, Pkcs11Profile
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.hsm.softhsm import init_token
from tests.hsm.conftest import PIN, SOFTHSM_MODULE

pytestmark = pytest.mark.softhsm

AAD = b"aad"
SHARE = b"\x42" * 32
TokenFactory = Callable[[str], ProviderConfig]


@pytest.fixture
def closing() -> Iterator[Callable[[HsmProvider], HsmProvider]]:
    opened: list[HsmProvider] = []

    def track(provider: HsmProvider) -> HsmProvider:
        opened.append(provider)
        return provider

    yield track
    for provider in opened:
        provider.close()


def with_pin(config: ProviderConfig, pin: str) -> ProviderConfig:
    return replace(config, user_pin=pin)


def test_wrong_pin_is_an_authentication_error(softhsm_token: TokenFactory) -> None:
    config = softhsm_token("pin")
    with pytest.raises(ProviderAuthenticationError) as info:
        open_provider(with_pin(config, "wrong-pin-9876"))
    assert "wrong-pin-9876" not in str(info.value)
    assert PIN not in str(info.value)


def test_wrong_pin_rejected_while_token_already_logged_in(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    config = softhsm_token("shared")
    closing(open_provider(config))
    # The module keeps one logged-in session per token; a second opener must still
    # present the right PIN.
    with pytest.raises(ProviderAuthenticationError):
        open_provider(with_pin(config, "wrong-pin-9876"))
    second = closing(open_provider(config))
    assert second.unwrap(second.wrap(SHARE, AAD), AAD) == SHARE


def test_missing_module_is_unavailable_with_clear_message(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "libvendor.so")
    config = ProviderConfig(
        kind="pkcs11", name="x", profile="luna", module_path=missing, token_label="t", user_pin=PIN
    )
    with pytest.raises(ProviderUnavailableError) as info:
        open_provider(config)
    assert missing in str(info.value)
    assert "not found" in str(info.value)


def test_file_that_is_not_a_module_is_unavailable(tmp_path: Path) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_text("not a shared object")
    config = ProviderConfig(
        kind="pkcs11", name="x", module_path=str(fake), token_label="t", user_pin=PIN
    )
    with pytest.raises(ProviderUnavailableError):
        open_provider(config)


def test_unknown_token_label_is_unavailable(softhsm_token: TokenFactory) -> None:
    config = softhsm_token("real")
    with pytest.raises(ProviderUnavailableError, match="no-such-token"):
        open_provider(replace(config, token_label="no-such-token"))


def test_three_providers_on_three_tokens_share_one_module(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    configs = [softhsm_token(f"signer-{i}") for i in range(3)]
    providers = [closing(open_provider(c)) for c in configs]
    module = modules._registry[SOFTHSM_MODULE]
    assert module.users == 3
    assert len({p.info.serial for p in providers}) == 3
    # A ring of transports: each signer seals to the next, which opens it.
    for i, sender in enumerate(providers):
        recipient = providers[(i + 1) % 3]
        blob = sender.wrap_for(recipient.transport_public_key(), SHARE, AAD)
        assert recipient.unwrap_transported(blob, AAD) == SHARE
        assert recipient.unwrap(recipient.wrap(SHARE, AAD), AAD) == SHARE
    providers[0].close()
    assert module.users == 2
    assert providers[1].audit_hmac(b"still works")


def test_module_in_use_with_other_config_is_refused(
    softhsm_token: TokenFactory, tmp_path: Path, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    closing(open_provider(softhsm_token("first")))
    other_conf = init_token(tmp_path / "other", "other", PIN)
    config = ProviderConfig(
        kind="pkcs11",
        name="other",
        module_path=SOFTHSM_MODULE,
        token_label="other",
        user_pin=PIN,
        softhsm2_conf=str(other_conf),
    )
    with pytest.raises(ConfigError, match="SOFTHSM2_CONF"):
        open_provider(config)


def test_open_by_slot(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    config = softhsm_token("by-slot")
    by_label = closing(open_provider(config))
    slot_id = by_label._token.slot.slot_id  # type: ignore[attr-defined]
    by_slot = closing(open_provider(replace(config, token_label=None, slot=slot_id)))
    assert by_slot.info.serial == by_label.info.serial
    assert by_slot.unwrap(by_label.wrap(SHARE, AAD), AAD) == SHARE


def test_keys_are_sensitive_non_extractable_token_objects(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    provider = closing(open_provider(softhsm_token("attrs")))
    provider.create_kek()
    module = modules._registry[SOFTHSM_MODULE]
    with module.lock:
        token = module.lib.get_token(token_label="attrs")
        session = token.open()  # shares the provider's login (per application)
        try:
            secrets_found = 0
            for cls in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY):
                for obj in session.get_objects({Attribute.CLASS: cls}):
                    secrets_found += 1
                    assert obj[Attribute.LABEL].startswith("np-")
                    assert obj[Attribute.TOKEN] is True
                    assert obj[Attribute.SENSITIVE] is True
                    assert obj[Attribute.EXTRACTABLE] is False
                    assert obj[Attribute.NEVER_EXTRACTABLE] is True
                    with pytest.raises(p11e.AttributeSensitive):
                        obj[Attribute.VALUE]
            # two KEKs, audit HMAC key, attestation and transport private keys
            assert secrets_found == 5
        finally:
            session.close()


# python-pkcs11 reports, from a finaliser, the search it could not close on the dead
# session; the provider has already dropped that session.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_lost_session_reconnects(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    provider = closing(open_provider(softhsm_token("flaky")))
    blob = provider.wrap(SHARE, AAD)
    module = modules._registry[SOFTHSM_MODULE]
    with module.lock:
        for session, _ in module._sessions.values():
            session.close()  # the HSM dropped us (network blip, HSM restart)
    with pytest.raises(ProviderUnavailableError):
        provider.unwrap(blob, AAD)
    assert provider.unwrap(blob, AAD) == SHARE
    assert provider.health().ok


def test_secrets_not_in_repr(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    config = softhsm_token("repr")
    provider = closing(open_provider(config))
    assert PIN not in repr(config)
    assert PIN not in repr(provider)
    assert PIN not in repr(provider.info)
    blob = provider.wrap(SHARE, AAD)
    assert SHARE.hex() not in repr(blob) and repr(SHARE) not in repr(blob)


# ---------------------------------------------------------------- vendor profiles on SoftHSM2
# The vendors' modules are not available here; running their profiles over SoftHSM2
# checks that every declared lack turns into the documented error, for real.


def profile_provider(
    profile: Pkcs11Profile, config: ProviderConfig, closing: Callable[[HsmProvider], HsmProvider]
) -> Pkcs11Provider:
    provider = Pkcs11Provider(
        f"as-{profile.name}",
        module_path=SOFTHSM_MODULE,
        profile=profile,
        user_pin=PIN,
        token_label=config.token_label,
        module_env={"SOFTHSM2_CONF": str(config.softhsm2_conf)},
    )
    closing(provider)
    return provider


def test_kmsp11_profile_lacks_become_unsupported(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    provider = profile_provider(GCP_KMSP11, softhsm_token("kms"), closing)
    assert provider.info.profile == "gcp-kmsp11"
    with pytest.raises(UnsupportedOperationError, match="gcloud kms keys create np-kek-1"):
        provider.create_kek()
    with pytest.raises(UnsupportedOperationError, match="cannot receive"):
        provider.transport_public_key()
    with pytest.raises(UnsupportedOperationError):
        provider.unwrap_transported(b"anything", AAD)
    # Sending only needs the recipient's public key: it works without C_DeriveKey.
    recipient = SimulatorProvider("sim")
    blob = provider.wrap_for(recipient.transport_public_key(), SHARE, AAD)
    assert recipient.unwrap_transported(blob, AAD) == SHARE
    # kmsp11 returns 8..1024 bytes per C_GenerateRandom: short and long requests still work.
    assert len(provider.random_bytes(3)) == 3
    assert len(provider.random_bytes(3000)) == 3000


def test_kmsp11_vendor_gcm_mechanism_is_reported_unsupported_elsewhere(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    config = softhsm_token("kms-gcm")
    closing(open_provider(config))  # creates np-kek-1 the standard way
    provider = profile_provider(GCP_KMSP11, config, closing)
    # SoftHSM2 does not know CKM_CLOUDKMS_AES_GCM; the vendor code reaches the module.
    with pytest.raises(UnsupportedOperationError, match="MechanismInvalid"):
        provider.wrap(SHARE, AAD)


def test_hsm_chosen_iv_profile_detects_a_module_that_does_not_write_it(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    provider = profile_provider(AWS_CLOUDHSM, softhsm_token("cloudhsm"), closing)
    provider.ensure_keys()
    # SoftHSM2 leaves pIv alone, so the all-zero buffer comes back: refuse, never store
    # a blob whose IV we do not know.
    with pytest.raises(HsmError, match="IV"):
        provider.wrap(SHARE, AAD)


@pytest.mark.parametrize("profile", [AWS_CLOUDHSM, LUNA], ids=lambda p: p.name)
def test_x963_kdf_profiles_report_softhsm_lack(
    profile: Pkcs11Profile,
    softhsm_token: TokenFactory,
    closing: Callable[[HsmProvider], HsmProvider],
) -> None:
    provider = profile_provider(profile, softhsm_token("x963"), closing)
    provider.ensure_keys()
    blob = SimulatorProvider("sim").wrap_for(provider.transport_public_key(), SHARE, AAD)
    with pytest.raises(UnsupportedOperationError):
        provider.unwrap_transported(blob, AAD)


def test_kek_destroyed_elsewhere_reads_as_missing_not_tampered(
    softhsm_token: TokenFactory, closing: Callable[[HsmProvider], HsmProvider]
) -> None:
    config = softhsm_token("two-views")
    a = closing(open_provider(config))
    b = closing(open_provider(replace(config, name="other-view")))
    blob = a.wrap(SHARE, AAD)
    assert a.unwrap(blob, AAD) == SHARE  # `a` now holds the KEK handle in its cache
    b.create_kek()
    b.destroy_kek(blob.kek_id)
    with pytest.raises(KeyNotFoundError):
        a.unwrap(blob, AAD)
    assert a.current_kek_id() == b.current_kek_id()


def test_module_environment_is_restored_after_last_close(
    softhsm_token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", "/before/softhsm2.conf")
    config = softhsm_token("env")
    provider = open_provider(config)
    assert os.environ["SOFTHSM2_CONF"] == config.softhsm2_conf
    provider.close()
    assert os.environ["SOFTHSM2_CONF"] == "/before/softhsm2.conf"
