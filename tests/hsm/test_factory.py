"""Provider configuration and profiles."""

from __future__ import annotations

import pytest

from nostr_passport.errors import ConfigError
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.profiles import CKM_AES_GCM, PROFILES, profile_named


def test_from_mapping_builds_a_config() -> None:
    config = ProviderConfig.from_mapping(
        {
            "kind": "pkcs11",
            "name": "a",
            "profile": "luna",
            "token_label": "p1",
            "user_pin": "pin-7e3d",
        }
    )
    assert (config.kind, config.profile, config.token_label) == ("pkcs11", "luna", "p1")
    assert "pin-7e3d" not in repr(config)
    assert config.resolved_pin() == "pin-7e3d"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "pkcs11", "name": "a", "pin": "1"}, "unknown provider config keys: pin"),
        ({"kind": "yubi", "name": "a"}, "kind"),
        ({"kind": "simulator"}, "name"),
        ({"kind": "simulator", "name": ""}, "name"),
    ],
)
def test_from_mapping_rejects_bad_config(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProviderConfig.from_mapping(data)


def test_pin_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ProviderConfig(kind="pkcs11", name="a", user_pin_env="NP_TEST_PIN")
    monkeypatch.delenv("NP_TEST_PIN", raising=False)
    with pytest.raises(ConfigError, match="NP_TEST_PIN"):
        config.resolved_pin()
    monkeypatch.setenv("NP_TEST_PIN", "s3cret")
    assert config.resolved_pin() == "s3cret"
    with pytest.raises(ConfigError, match="user_pin"):
        ProviderConfig(kind="pkcs11", name="a").resolved_pin()


def test_module_env_must_fit_the_profile() -> None:
    config = ProviderConfig(
        kind="pkcs11",
        name="a",
        profile="aws-cloudhsm",
        module_path="/usr/lib/softhsm/libsofthsm2.so",
        token_label="t",
        user_pin="p",
        softhsm2_conf="/tmp/x.conf",
    )
    with pytest.raises(ConfigError, match="softhsm2_conf"):
        open_provider(config)


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="known: aws-cloudhsm, gcp-kmsp11, luna, softhsm2"):
        profile_named("nshield")


def test_profiles_declare_their_differences() -> None:
    assert set(PROFILES) == {"softhsm2", "aws-cloudhsm", "luna", "gcp-kmsp11"}
    for profile in PROFILES.values():
        assert profile.default_module_path and profile.default_module_path.endswith(".so")
        assert profile.lacks, f"{profile.name} must list what it lacks"
        assert 1 <= profile.random_chunk_min <= profile.random_chunk_max
    # Only SoftHSM2 is tested for real, and only it is a software token.
    assert [p.name for p in PROFILES.values() if p.tested_for_real] == ["softhsm2"]
    assert [p.name for p in PROFILES.values() if p.software_token] == ["softhsm2"]
    assert PROFILES["softhsm2"].module_env == ("SOFTHSM2_CONF",)
    assert PROFILES["gcp-kmsp11"].module_env == ("KMS_PKCS11_CONFIG",)
    kms = PROFILES["gcp-kmsp11"]
    assert kms.gcm_mechanism != CKM_AES_GCM and kms.gcm_iv_from_hsm
    assert kms.transport_kdf is None and not kms.creates_keys
    assert PROFILES["aws-cloudhsm"].gcm_iv_from_hsm
