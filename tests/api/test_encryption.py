"""NIP-44 and NIP-04 through threshold ECDH, interoperating with nostr-sdk both ways."""

from __future__ import annotations

from nostr_sdk import (
    Keys,
    Nip44Version,
    PublicKey,
    nip04_decrypt,
    nip04_encrypt,
    nip44_decrypt,
    nip44_encrypt,
)

from .conftest import Server

MESSAGES = ["hello", "ünïcödé ☃ 🎉 " * 20, "x" * 5000]


def test_nip44_and_nip04_round_trips_with_nostr_sdk(server: Server) -> None:
    admin = server.admin
    identity = admin.post("/v1/identities", json={"threshold": 2, "participants": 3}).json()
    base = f"/v1/identities/{identity['id']}"
    peer = Keys.generate()
    peer_hex = peer.public_key().to_hex()
    ours = PublicKey.parse(identity["pubkey"])
    for message in MESSAGES:
        # we encrypt, the peer decrypts with nostr-sdk
        c44 = admin.post(f"{base}/nip44/encrypt", json={"pubkey": peer_hex, "plaintext": message})
        assert c44.status_code == 200, c44.text
        assert nip44_decrypt(peer.secret_key(), ours, c44.json()["ciphertext"]) == message
        c04 = admin.post(f"{base}/nip04/encrypt", json={"pubkey": peer_hex, "plaintext": message})
        assert c04.status_code == 200, c04.text
        assert nip04_decrypt(peer.secret_key(), ours, c04.json()["ciphertext"]) == message
        # the peer encrypts with nostr-sdk, we decrypt
        p44 = nip44_encrypt(peer.secret_key(), ours, message, Nip44Version.V2)
        got = admin.post(f"{base}/nip44/decrypt", json={"pubkey": peer_hex, "ciphertext": p44})
        assert got.status_code == 200 and got.json()["plaintext"] == message
        p04 = nip04_encrypt(peer.secret_key(), ours, message)
        got = admin.post(f"{base}/nip04/decrypt", json={"pubkey": peer_hex, "ciphertext": p04})
        assert got.status_code == 200 and got.json()["plaintext"] == message


def test_decryption_failures_and_scopes(server: Server) -> None:
    admin = server.admin
    identity = admin.post("/v1/identities", json={"threshold": 2, "participants": 3}).json()
    base = f"/v1/identities/{identity['id']}"
    peer = Keys.generate()
    peer_hex = peer.public_key().to_hex()
    ours = PublicKey.parse(identity["pubkey"])
    payload = nip44_encrypt(peer.secret_key(), ours, "secret", Nip44Version.V2)
    other = Keys.generate().public_key().to_hex()  # wrong peer: the MAC fails
    wrong = admin.post(f"{base}/nip44/decrypt", json={"pubkey": other, "ciphertext": payload})
    assert wrong.status_code == 400 and wrong.json()["error"] == "decryption_failed"
    assert "secret" not in wrong.text
    garbage = admin.post(f"{base}/nip04/decrypt", json={"pubkey": peer_hex, "ciphertext": "nope"})
    assert garbage.status_code == 400

    scoped = admin.post(
        "/v1/tokens",
        json={
            "role": "app",
            "scopes": {"identities": [identity["id"]], "methods": ["nip44_encrypt"]},
        },
    ).json()["token"]
    client = server.client(scoped)
    assert (
        client.post(
            f"{base}/nip44/encrypt", json={"pubkey": peer_hex, "plaintext": "x"}
        ).status_code
        == 200
    )
    denied = client.post(f"{base}/nip44/decrypt", json={"pubkey": peer_hex, "ciphertext": payload})
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
