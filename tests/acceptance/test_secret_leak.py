"""No secret anywhere it should not be, after a full session against `nostr-passport serve`.

A real data directory (`init`: three signers on SoftHSM2 tokens, SQLite store), a real
server process (`serve --log-level debug`, stdout and stderr captured), a session over
HTTP: create identities, sign, NIP-44 and NIP-04 both ways with a third party, create and
revoke tokens, read the audit log, refresh, back up, import an nsec by ceremony. Then the
test learns the secrets it can:

- every share (of the epoch each identity is at in the end), through the signers' public
  backup path (export_share sealed to a simulator "vault" the test owns, opened there),
  and the whole identity key (nsec)
  reconstructed from them — a test-only reconstruction path;
- every API token (from the one response that creates each);
- every plaintext exchanged (random, so a hit cannot be a coincidence).

and searches for each (raw bytes, hex lower/upper, bech32 nsec) in: the server's stdout
and stderr, the audit log rows, the store files (SQLite db, WAL, shm), every file under
the data directory (signer state dirs and SoftHSM2 token dirs included — the HSM's own
objects are encrypted, so nothing may match there either), and every HTTP response body
(except the one reply that creates a token, for that token, and the decrypt replies,
for their plaintext).

Not covered here: secret nonces (the server process draws them from the HSM; the signer
suite re-derives and searches them, tests/signer/test_store_secrets.py) and the NIP-46
bunker (tests/bunker/test_secrets.py covers its secrets).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import coincurve
import httpx
import pytest
from sqlalchemy import select

from nostr_passport.config import load_config
from nostr_passport.crypto import curve, dealer
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.nostr import nip04, nip19, nip44
from nostr_passport.service.gateway import signer_clients
from nostr_passport.signer.aad import transport_aad
from nostr_passport.signer.local import LocalSigner
from nostr_passport.store import Store
from nostr_passport.store.tables import audit_log

from ..e2e.processes import cli_command, cli_env, free_port, init_data_dir, wait_http

pytestmark = pytest.mark.timeout(300)


class Session:
    """An HTTP client that keeps every response body it received."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.bodies: list[tuple[str, bytes]] = []

    def call(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        reply = self.client.request(method, path, json=body)
        self.bodies.append((f"{method} {path}", reply.content))
        assert reply.status_code == expect, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json()

    def as_token(self, token: str) -> Session:
        other = Session(str(self.client.base_url), token)
        other.bodies = self.bodies
        return other


def needles(secret: bytes | str) -> list[bytes]:
    if isinstance(secret, str):
        return [secret.encode("utf-8")]
    return [secret, secret.hex().encode(), secret.hex().upper().encode()]


def learn_shares(
    data_dir: Path, identities: list[dict[str, Any]], vault_dir: Path
) -> tuple[list[bytes], list[bytes]]:
    """Every share, and each identity's secret key (both signs of it), via a test vault."""
    config = load_config(data_dir)
    clients, _ = signer_clients(config)
    vault = SimulatorProvider("vault", state_dir=vault_dir)
    shares: list[bytes] = []
    keys: list[bytes] = []
    try:
        for identity in identities:
            values: dict[int, int] = {}
            for held in identity["signers"]:
                signer = clients[held["signer_id"]]
                assert isinstance(signer, LocalSigner)
                blob = signer.export_share(identity["id"], vault.transport_public_key())
                aad = transport_aad(identity["id"], held["participant"], identity["epoch"])
                value = vault.unwrap_transported(blob, aad)
                values[held["participant"]] = int.from_bytes(value, "big")
                shares.append(value)
            secret = dealer.reconstruct(values, identity["threshold"])
            point = curve.point_mul_g(secret)
            assert point is not None and curve.xbytes(point).hex() == identity["pubkey"]
            keys += [curve.bytes_from_int(secret), curve.bytes_from_int(curve.N - secret)]
    finally:
        for client in clients.values():
            closer = getattr(client, "close", None)
            if callable(closer):
                closer()
        vault.close()
    return shares, keys


def run_session(
    url: str, admin_token: str
) -> tuple[Session, list[dict[str, Any]], list[str], list[str], set[str]]:
    s = Session(url, admin_token)
    tokens: list[str] = []
    plaintexts: list[str] = []
    creation_paths: set[str] = set()
    identities = [
        s.call("POST", "/v1/identities", {"label": "leak-test"}, expect=201),
        s.call("POST", "/v1/identities", {"threshold": 2, "participants": 3}, expect=201),
    ]
    peer_secret = secrets.token_bytes(32)
    peer = coincurve.PrivateKey(peer_secret).public_key_xonly.format()
    for identity in identities:
        iid = identity["id"]
        pubkey = bytes.fromhex(identity["pubkey"])
        s.call("POST", f"/v1/identities/{iid}/sign", {"kind": 1, "content": "public note"})
        s.call("POST", f"/v1/identities/{iid}/sign-batch", {"events": [{"kind": 1}, {"kind": 7}]})
        # The identity encrypts to the peer; the peer decrypts locally.
        text = "to-peer-" + secrets.token_hex(16)
        plaintexts.append(text)
        sent = s.call(
            "POST", f"/v1/identities/{iid}/nip44/encrypt", {"pubkey": peer.hex(), "plaintext": text}
        )
        assert (
            nip44.decrypt(sent["ciphertext"], nip44.conversation_key(peer_secret, pubkey)) == text
        )
        text04 = "to-peer-04-" + secrets.token_hex(16)
        plaintexts.append(text04)
        sent04 = s.call(
            "POST",
            f"/v1/identities/{iid}/nip04/encrypt",
            {"pubkey": peer.hex(), "plaintext": text04},
        )
        shared = nip44.shared_x(peer_secret, pubkey)
        assert nip04.decrypt(sent04["ciphertext"], shared) == text04
        # The peer encrypts to the identity; the server decrypts.
        text = "from-peer-" + secrets.token_hex(16)
        plaintexts.append(text)
        ciphertext = nip44.encrypt(text, nip44.conversation_key(peer_secret, pubkey))
        got = s.call(
            "POST",
            f"/v1/identities/{iid}/nip44/decrypt",
            {"pubkey": peer.hex(), "ciphertext": ciphertext},
        )
        assert got["plaintext"] == text
        text04 = "from-peer-04-" + secrets.token_hex(16)
        plaintexts.append(text04)
        got = s.call(
            "POST",
            f"/v1/identities/{iid}/nip04/decrypt",
            {"pubkey": peer.hex(), "ciphertext": nip04.encrypt(text04, shared)},
        )
        assert got["plaintext"] == text04
    # Tokens: create (shown once), use, revoke.
    for role in ("app", "auditor", "operator"):
        scopes = {"identities": [identities[0]["id"]], "kinds": [1]} if role == "app" else {}
        issued = s.call(
            "POST", "/v1/tokens", {"role": role, "name": role, "scopes": scopes}, expect=201
        )
        tokens.append(issued["token"])
        creation_paths.add(f"{len(s.bodies) - 1}")
        s.as_token(issued["token"]).call("GET", "/v1/identities")
        s.call("DELETE", f"/v1/tokens/{issued['id']}")
        s.as_token(issued["token"]).call("GET", "/v1/identities", expect=401)
    app = s.call("POST", "/v1/tokens", {"role": "app", "name": "kept"}, expect=201)
    tokens.append(app["token"])
    creation_paths.add(f"{len(s.bodies) - 1}")
    s.as_token(app["token"]).call("POST", f"/v1/identities/{identities[1]['id']}/sign", {"kind": 1})
    s.call("GET", "/v1/tokens")
    s.call("GET", "/v1/audit?limit=1000")
    # Denied and failing requests write records and messages too.
    s.as_token(app["token"]).call("POST", "/v1/tokens", {"role": "admin"}, expect=403)
    s.call(
        "POST",
        f"/v1/identities/{identities[0]['id']}/nip44/decrypt",
        {"pubkey": peer.hex(), "ciphertext": "AAAA" + secrets.token_hex(40)},
        expect=400,
    )
    identities = [*identities, run_lifecycle(s, identities[0]["id"])]
    # Shares are learned at the epoch each identity has now.
    identities = [s.call("GET", f"/v1/identities/{i['id']}") for i in identities]
    return s, identities, tokens, plaintexts, creation_paths


def run_lifecycle(s: Session, identity_id: str) -> dict[str, Any]:
    """Refresh, a sealed backup, and an nsec import by ceremony: the nsec travels in the
    execute request only. Returns the imported identity."""
    assert s.call("POST", f"/v1/identities/{identity_id}/refresh")["to_epoch"] == 1
    signer_ids = [signer["id"] for signer in s.call("GET", "/v1/signers")["signers"]]
    backup = {"to": {"0": signer_ids[0], "1": signer_ids[1]}, "allow_software": True}
    assert s.call("POST", f"/v1/identities/{identity_id}/backup", backup)["shares"]
    key = coincurve.PrivateKey().secret
    material = nip19.encode("nsec", key)
    params = {
        "threshold": 2,
        "signers": signer_ids[:3],
        "material_sha256": hashlib.sha256(material.encode()).hexdigest(),
    }
    proposed = s.call(
        "POST", "/v1/ceremonies", {"operation": "import_identity", "params": params}, expect=201
    )
    done = s.call("POST", f"/v1/ceremonies/{proposed['id']}/execute", {"material": material})
    imported: dict[str, Any] = s.call("GET", f"/v1/identities/{done['result']['id']}")
    assert imported["imported_from_software"] is True
    assert imported["pubkey"] == coincurve.PrivateKey(key).public_key_xonly.format().hex()
    return imported


def test_no_secret_in_logs_store_audit_files_or_responses(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    info = init_data_dir(data_dir)
    admin_token = str(info["admin_token"])
    port = free_port()
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [
                *cli_command(),
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--log-level",
                "debug",
            ],
            env=cli_env(),
            stdout=out,
            stderr=err,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/healthz")
            session, identities, tokens, plaintexts, creations = run_session(url, admin_token)
        finally:
            process.terminate()
            process.wait(timeout=30)
    logs = stdout_path.read_bytes() + stderr_path.read_bytes()
    assert b"listening on" in logs  # positive control: the output was captured

    shares, keys = learn_shares(data_dir, identities, tmp_path / "vault")
    nsecs = [nip19.encode("nsec", key) for key in keys]
    all_tokens = [admin_token, *tokens]

    # ---- where to look
    places: dict[str, bytes] = {"server stdout+stderr": logs}
    config = load_config(data_dir)
    store = Store.open(config.store_url, migrate=False)
    try:
        with store.read() as conn:
            rows = conn.execute(select(audit_log)).mappings().all()
    finally:
        store.close()
    audit_text = "\n".join(json.dumps(dict(r), default=str) for r in rows).encode()
    assert identities[0]["id"].encode() in audit_text  # positive control
    places["audit log rows"] = audit_text
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            places[f"file {path.relative_to(data_dir)}"] = path.read_bytes()
    assert any(name.endswith("-wal") or name.endswith(".db") for name in places)

    # ---- search
    found: list[str] = []
    secrets_named: list[tuple[str, bytes | str]] = [
        *((f"share #{i}", v) for i, v in enumerate(shares)),
        *((f"identity key #{i}", v) for i, v in enumerate(keys)),
        *((f"nsec #{i}", v) for i, v in enumerate(nsecs)),
        *((f"token #{i}", v) for i, v in enumerate(all_tokens)),
        *((f"plaintext #{i}", v) for i, v in enumerate(plaintexts)),
    ]
    for where, haystack in places.items():
        for name, secret in secrets_named:
            for needle in needles(secret):
                if needle in haystack:
                    found.append(f"{name} in {where}")
    for i, (what, body) in enumerate(session.bodies):
        for name, secret in secrets_named:
            if name.startswith("token") and str(i) in creations:
                continue  # the one reply that creates a token carries it
            if name.startswith("plaintext") and what.endswith("/decrypt"):
                continue  # a decrypt reply carries its plaintext, by definition
            for needle in needles(secret):
                if needle in body:
                    found.append(f"{name} in response {i} ({what})")
    assert not found, "\n".join(found)
    # Positive controls: the search does find a secret where it legitimately is.
    created = [body for i, (_, body) in enumerate(session.bodies) if str(i) in creations]
    assert all(any(t.encode() in body for body in created) for t in tokens)
    decrypted = b"".join(body for what, body in session.bodies if what.endswith("/decrypt"))
    assert sum(p.encode() in decrypted for p in plaintexts) == len(plaintexts) // 2
