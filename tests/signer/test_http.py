"""The signer over HTTP, as a separate process (uvicorn on 127.0.0.1, a free port).

Only correctly signed, fresh, never-seen requests from a configured coordinator key are
served; replies are signed by the signer and checked by the client.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.crypto import curve, ecdh
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.signer.attestation import verified_statement
from nostr_passport.signer.errors import (
    NonceConsumedError,
    ResponseAuthenticationError,
    ShareNotFoundError,
)
from nostr_passport.signer.http_auth import (
    HEADER_RESPONSE_SIGNATURE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    public_key_bytes,
    public_key_from_bytes,
    signed_request_headers,
    verify_response,
)
from nostr_passport.signer.http_client import HttpSignerClient
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.protocol import EcdhRequest, SignerClient

from .helpers import deal, event_for, sign_events, sign_requests

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


@dataclass
class ServedSigner:
    signer_id: str
    url: str
    public_key: bytes
    process: subprocess.Popen[str]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_signer(signer_id: str, state_dir: Path, coordinator: Ed25519PrivateKey) -> ServedSigner:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.signer.http_child",
            signer_id,
            str(state_dir),
            public_key_bytes(coordinator).hex(),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    lines = []
    for _ in range(2):
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=START_TIMEOUT)
            assert process.stderr is not None
            pytest.fail(f"signer process did not start: {process.stderr.read()}")
        lines.append(line.strip())
    url = lines[0].removeprefix("signer listening on ")
    key = bytes.fromhex(lines[1].removeprefix("signer public key: "))
    return ServedSigner(signer_id, url, key, process)


@pytest.fixture(scope="module")
def coordinator() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, coordinator: Ed25519PrivateKey
) -> Iterator[ServedSigner]:
    server = start_signer("h1", tmp_path_factory.mktemp("http-signer"), coordinator)
    yield server
    server.stop()


def _client(server: ServedSigner, coordinator: Ed25519PrivateKey) -> HttpSignerClient:
    return HttpSignerClient(server.url, server.signer_id, coordinator, server.public_key, 10.0)


def _post(server: ServedSigner, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        server.url + path,
        content=body,
        headers={**headers, "content-type": "application/json"},
        timeout=10.0,
    )


def _error_code(server: ServedSigner, response: httpx.Response, nonce: str = "") -> str:
    # Even refusals are signed by the signer.
    verify_response(
        public_key_from_bytes(server.public_key),
        nonce,
        response.status_code,
        response.content,
        response.headers.get(HEADER_RESPONSE_SIGNATURE),
    )
    code: str = json.loads(response.content)["error"]
    return code


# ---------------------------------------------------------------- a valid client


def test_valid_client_deals_signs_and_derives_over_http(
    served: ServedSigner, coordinator: Ed25519PrivateKey, tmp_path: Path
) -> None:
    remote = _client(served, coordinator)
    locals_ = [
        LocalSigner(
            name, SimulatorProvider(name, state_dir=tmp_path / name), tmp_path / f"st-{name}"
        )
        for name in ("l0", "l2")
    ]
    try:
        assert remote.health()
        info = remote.info()
        assert info.signer_id == "h1"
        assert info.provider_kind == "simulator"
        signers: list[SignerClient] = [locals_[0], remote, locals_[1]]
        identity = deal(signers, 2)
        held = remote.held_share(identity.identity_id)
        assert held.pubshare == identity.dealt.pubshares[1]
        statement = verified_statement(
            remote.attest(identity.identity_id), info.attestation_public_key
        )
        assert statement.signer_id == "h1"
        for ids in itertools.combinations(range(3), 2):
            sign_events(identity, ids, [event_for(identity), event_for(identity, "two")])

        peer = PrivateKey()
        peer_xonly = peer.public_key.format()[1:]
        request = EcdhRequest(identity.identity_id, 0, (0, 1), peer_xonly)
        replies = [signers[i].ecdh_share(request) for i in (0, 1)]
        shares = [ecdh.EcdhShare(r.participant, r.point, r.proof) for r in replies]
        expected = curve.xbytes(PublicKey(identity.dealt.group_pubkey).multiply(peer.secret))
        pubshares = dict(enumerate(identity.dealt.pubshares))
        assert ecdh.combine_ecdh_shares(shares, pubshares, (0, 1), peer_xonly) == expected

        # Errors come back as the signer's own exception classes.
        batches = sign_requests(identity, (0, 1), [event_for(identity)])
        remote.partial_sign(batches[1])
        with pytest.raises(NonceConsumedError):
            remote.partial_sign(batches[1])
        with pytest.raises(ShareNotFoundError):
            remote.held_share("no-such-identity")

        # Backup to another HSM and deletion, over HTTP.
        vault = locals_[1]
        blob = remote.export_share(identity.identity_id, vault.info().transport_public_key)
        assert blob
        remote.delete_share(identity.identity_id)
        with pytest.raises(ShareNotFoundError):
            remote.held_share(identity.identity_id)
    finally:
        remote.close()
        for signer in locals_:
            signer.close()


def test_client_refuses_replies_not_signed_by_the_expected_signer(
    served: ServedSigner, coordinator: Ed25519PrivateKey
) -> None:
    impostor = public_key_bytes(Ed25519PrivateKey.generate())
    client = HttpSignerClient(served.url, served.signer_id, coordinator, impostor, 10.0)
    try:
        with pytest.raises(ResponseAuthenticationError):
            client.info()
        assert not client.health()
    finally:
        client.close()


# ---------------------------------------------------------------- refusals


def test_requests_without_valid_authentication_are_refused(
    served: ServedSigner, coordinator: Ed25519PrivateKey
) -> None:
    path = "/v1/info"
    body = b"{}"

    def signed(key: Ed25519PrivateKey = coordinator, **kw: object) -> dict[str, str]:
        return signed_request_headers(key, "POST", path, served.signer_id, body, **kw)  # type: ignore[arg-type]

    # No authentication at all.
    response = _post(served, path, body, {})
    assert response.status_code == 401
    assert _error_code(served, response) == "signer_request_unauthenticated"

    cases: dict[str, dict[str, str]] = {}
    cases["unknown coordinator key"] = signed(Ed25519PrivateKey.generate())
    tampered = signed()
    tampered[HEADER_SIGNATURE] = ("00" if tampered[HEADER_SIGNATURE][:2] != "00" else "11") + (
        tampered[HEADER_SIGNATURE][2:]
    )
    cases["bad signature"] = tampered
    cases["stale timestamp"] = signed(timestamp=int(time.time()) - 3600)
    cases["future timestamp"] = signed(timestamp=int(time.time()) + 3600)
    cases["another signer"] = signed_request_headers(coordinator, "POST", path, "h9", body)
    moved = signed()
    moved[HEADER_TIMESTAMP] = str(int(moved[HEADER_TIMESTAMP]) - 1)  # signed field changed
    cases["changed timestamp"] = moved
    for name, headers in cases.items():
        response = _post(served, path, body, headers)
        assert response.status_code == 401, name
        assert _error_code(served, response, headers["x-np-nonce"]) == (
            "signer_request_unauthenticated"
        ), name
    # A body other than the signed one.
    headers = signed()
    response = _post(served, path, b'{"x":1}', headers)
    assert response.status_code == 401

    # A valid request once; its replay is refused.
    headers = signed()
    first = _post(served, path, body, headers)
    assert first.status_code == 200
    replay = _post(served, path, body, headers)
    assert replay.status_code == 401
    assert _error_code(served, replay, headers["x-np-nonce"]) == "signer_request_replayed"

    # Authenticated but unknown operation: a plain 400.
    headers = signed_request_headers(coordinator, "POST", "/v1/nope", served.signer_id, body)
    response = _post(served, "/v1/nope", body, headers)
    assert response.status_code == 400

    # The one unauthenticated route says only whether the signer is healthy.
    health = httpx.get(served.url + "/healthz", timeout=10.0)
    assert health.status_code == 200
    assert health.json() == {"ok": True}


def test_replays_stay_refused_across_a_signer_restart(
    tmp_path: Path, coordinator: Ed25519PrivateKey
) -> None:
    state_dir = tmp_path / "restarting"
    server = start_signer("h2", state_dir, coordinator)
    body = b'{"count":2}'
    headers = signed_request_headers(coordinator, "POST", "/v1/commitments", "h2", body)
    try:
        assert _post(server, "/v1/commitments", body, headers).status_code == 200
    finally:
        server.stop()
    restarted = start_signer("h2", state_dir, coordinator)
    try:
        # The reply key is kept (wrapped) in the store: same signer identity after restart.
        assert restarted.public_key == server.public_key
        replay = _post(restarted, "/v1/commitments", body, headers)
        assert replay.status_code == 401
        assert _error_code(restarted, replay, headers["x-np-nonce"]) == "signer_request_replayed"
    finally:
        restarted.stop()
