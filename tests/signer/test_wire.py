"""Wire encoding, error mapping and the small pieces around the HTTP transport."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.errors import (
    ConfigError,
    KeyInUseError,
    NotFoundError,
    PassportError,
    ProductionModeError,
    TamperedCiphertextError,
)
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.signer.cli_support import coordinator_keys, provider_config
from nostr_passport.signer.error_codes import error_body, exception_from_reply, status_of
from nostr_passport.signer.errors import (
    NonceConsumedError,
    ReplayedRequestError,
    ShareNotFoundError,
)
from nostr_passport.signer.http_auth import public_key_bytes
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.protocol import (
    Attestation,
    DealtIdentity,
    EventToSign,
    SignRequest,
    WrappedShare,
)
from nostr_passport.signer.wire import (
    DeleteShareArgs,
    PartialSignArgs,
    WireFormatError,
    dumps,
    loads,
)

EVENT = EventToSign("ab" * 32, 1, 1, (("e", "x", ""), ("p",)), "hé\n")
REQUEST = SignRequest("id", 3, (0, 2), (b"\x02" * 66, b"\x03" * 66), "n.1", EVENT, "r")


def test_protocol_values_round_trip() -> None:
    args = PartialSignArgs((REQUEST, REQUEST))
    assert loads(dumps(args), PartialSignArgs) == args
    dealt = DealtIdentity(
        "id",
        2,
        b"\x02" * 33,
        (b"\x02" * 33, b"\x03" * 33),
        (b"\x02" * 33,) * 3,
        (WrappedShare(1, "s1", b"blob"),),
        Attestation(b"{}", b"sig", b"key"),
    )
    assert loads(dumps(dealt), DealtIdentity) == dealt
    assert loads(dumps(DeleteShareArgs("id")), DeleteShareArgs) == DeleteShareArgs("id", None)
    assert loads(dumps(DeleteShareArgs("id", 4)), DeleteShareArgs).epoch == 4


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"requests": "x"}',
        b'{"requests": [], "extra": 1}',
        b'{"requests": [{"identity_id": "id"}]}',
        b'{"identity_id": 1}',
    ],
)
def test_malformed_messages_are_refused(body: bytes) -> None:
    with pytest.raises(WireFormatError):
        loads(body, PartialSignArgs)


def test_types_are_checked_strictly() -> None:
    good = dumps(DeleteShareArgs("id", 4))
    assert loads(good, DeleteShareArgs).epoch == 4
    for bad in (b'{"identity_id":"id","epoch":true}', b'{"identity_id":"id","epoch":"4"}'):
        with pytest.raises(WireFormatError):
            loads(bad, DeleteShareArgs)
    args = dumps(PartialSignArgs((REQUEST,))).decode()
    for bad_hex in (args.replace("02" * 66, "0G" * 66), args.replace("02" * 66, "02" * 65 + "2")):
        with pytest.raises(WireFormatError):
            loads(bad_hex.encode(), PartialSignArgs)
    with pytest.raises(WireFormatError):
        loads(args.replace("02" * 66, "02" * 65 + "AB").encode(), PartialSignArgs)


def test_errors_map_to_status_and_back_to_the_same_class() -> None:
    for exc, status in [
        (NonceConsumedError("used"), 409),
        (ShareNotFoundError("none"), 404),
        (ReplayedRequestError("again"), 401),
        (TamperedCiphertextError("bits"), 502),
        (KeyInUseError("current"), 409),
        (PassportError("x"), 500),
    ]:
        assert status_of(exc) == status
        body = error_body(exc)
        back = exception_from_reply(status, body["error"], body["message"])
        assert type(back) is type(exc)
        assert str(back) == str(exc)
    # Foreign exceptions say nothing about themselves.
    assert error_body(ValueError("secret 1234")) == {
        "error": "internal_error",
        "message": "internal error in the signer",
    }
    assert status_of(ValueError()) == 500
    # An unknown code becomes the family its status stands for.
    assert type(exception_from_reply(404, "brand_new", "m")) is NotFoundError


def test_the_simulator_is_refused_in_production_mode(tmp_path: Path) -> None:
    provider = SimulatorProvider("dev", state_dir=tmp_path / "sim")
    with pytest.raises(ProductionModeError):
        LocalSigner("s0", provider, tmp_path / "signer", production=True)
    provider.close()


def test_cli_provider_specs_and_coordinator_keys(tmp_path: Path) -> None:
    sim = provider_config("simulator", "s1", tmp_path, False)
    assert sim.kind == "simulator"
    assert sim.state_dir == str(tmp_path / "simulator-hsm")
    soft = provider_config("softhsm2:tok", "s1", tmp_path, True)
    assert (soft.kind, soft.token_label, soft.production) == ("pkcs11", "tok", True)
    table = tmp_path / "provider.toml"
    table.write_text('[provider]\nkind = "simulator"\nname = "x"\n')
    assert provider_config(str(table), "s1", tmp_path, False).name == "x"
    with pytest.raises(ConfigError):
        provider_config("softhsm2:", "s1", tmp_path, False)

    key = Ed25519PrivateKey.generate()
    raw = public_key_bytes(key)
    assert coordinator_keys(raw.hex()) == (raw,)
    other = public_key_bytes(Ed25519PrivateKey.generate())
    assert coordinator_keys(f"{raw.hex()},{other.hex()}") == (raw, other)
    pem = tmp_path / "coordinator.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert coordinator_keys(str(pem)) == (raw,)
    hexfile = tmp_path / "keys.txt"
    hexfile.write_text(f"{raw.hex()}\n\n{other.hex()}\n")
    assert coordinator_keys(str(hexfile)) == (raw, other)
    with pytest.raises(ConfigError):
        coordinator_keys("zz")


def test_the_signed_message_is_the_nip01_id_of_the_event() -> None:
    import hashlib

    from nostr_passport.errors import BadRequestError
    from nostr_passport.signer.message import event_message

    event = EventToSign("ab" * 32, 1700000000, 1, (("t", "x"),), 'a"b\\c\nd\x01é')
    # Written out by hand: NIP-01 escaping, no whitespace, UTF-8.
    serialized = (
        '[0,"' + "ab" * 32 + '",1700000000,1,[["t","x"]],"a\\"b\\\\c\\nd\\u0001é"]'
    ).encode()
    assert event_message(event) == hashlib.sha256(serialized).digest()
    from dataclasses import replace

    for bad in (
        replace(event, pubkey="AB" * 32),
        replace(event, kind=-1),
        replace(event, content="\ud800"),
        replace(event, tags=(("t", 1),)),  # type: ignore[arg-type]
    ):
        with pytest.raises(BadRequestError):
            event_message(bad)
