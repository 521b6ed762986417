"""The signer's store on disk (database + WAL) holds no share and no secret nonce in the clear.

The test learns every secret first, through public paths only: shares are exported to
a provider the test owns (export_share) and opened there; nonce seeds and every other
secret drawn from the HSM are recorded by a provider wrapper, and the secret nonces
are re-derived from the seeds. Then it searches the raw files for each value, as
32-byte big-endian bytes and as hex.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from coincurve import PrivateKey

from nostr_passport.crypto import curve, dealer
from nostr_passport.hsm.factory import open_provider
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.signer.aad import transport_aad
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.nonce_pool import derive_nonce
from nostr_passport.signer.protocol import EcdhRequest

from .conftest import provider_configs
from .helpers import deal, event_for, sign_events, sign_requests


class RecordingProvider:
    """A provider that remembers every random byte string it handed out (test only)."""

    def __init__(self, inner: HsmProvider) -> None:
        self._inner = inner
        self.randomness: list[bytes] = []

    def random_bytes(self, n: int) -> bytes:
        out = self._inner.random_bytes(n)
        self.randomness.append(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _raw_store(signer: LocalSigner) -> bytes:
    path = signer.store.path
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in files if p.exists())


def _needles(value: bytes) -> list[bytes]:
    return [value, value.hex().encode(), value.hex().upper().encode()]


def _stored_pubnonces(signer: LocalSigner) -> set[bytes]:
    import sqlite3

    with sqlite3.connect(signer.store.path) as conn:
        return {bytes(r[0]) for r in conn.execute("SELECT pubnonce FROM nonces")}


def test_raw_store_files_hold_no_share_and_no_secret_nonce(
    kind: str, tmp_path: Path, simulator: Any
) -> None:
    batch = 20
    recorders = [
        RecordingProvider(open_provider(c)) for c in provider_configs(kind, tmp_path / "hsm", 3)
    ]
    signers = [
        LocalSigner(f"s{i}", p, tmp_path / f"signer-{i}", nonce_batch_size=batch)
        for i, p in enumerate(recorders)
    ]
    try:
        identities = [deal(signers, 2), deal(signers, 2, dealer=1)]
        for identity in identities:
            for ids in itertools.combinations(range(3), 2):
                sign_events(identity, ids, [event_for(identity), event_for(identity)])
            sign_requests(identity, (0, 2), [event_for(identity)])  # handed out, unused
            peer = PrivateKey().public_key.format()[1:]
            for i in (0, 1):
                identities[0].signers[i].ecdh_share(
                    EcdhRequest(identity.identity_id, 0, (0, 1), peer)
                )
        for signer in signers:
            signer.response_signing_key()

        # ---- learn every secret, through public paths only
        vault = simulator("vault")
        secrets: list[bytes] = []
        for identity in identities:
            shares = {}
            for i, signer in enumerate(signers):
                blob = signer.export_share(identity.identity_id, vault.transport_public_key())
                value = vault.unwrap_transported(blob, transport_aad(identity.identity_id, i, 0))
                shares[i] = int.from_bytes(value, "big")
                secrets.append(value)
            group_secret = dealer.reconstruct(shares, 2)
            assert curve.cbytes_ext(curve.point_mul_g(group_secret)) == identity.dealt.group_pubkey
            secrets.append(curve.bytes_from_int(group_secret))
        nonce_secrets = 0
        for signer, recorder in zip(signers, recorders, strict=True):
            pubnonces = _stored_pubnonces(signer)
            for drawn in recorder.randomness:
                # Every 32-byte piece the HSM gave us is secret (seeds, dealer
                # coefficients, DLEQ and key randomness).
                secrets += [drawn[k : k + 32] for k in range(0, len(drawn) - 31, 32)]
                if len(drawn) != 32:
                    continue
                for idx in range(batch):
                    secnonce, pubnonce = derive_nonce(drawn, idx)
                    if pubnonce not in pubnonces:
                        break
                    k = secnonce.export_bytes()
                    secrets += [k[:32], k[32:], k]
                    nonce_secrets += 1
        # Every stored nonce was re-derived: the test knows all the secret nonces.
        assert nonce_secrets == sum(len(_stored_pubnonces(s)) for s in signers)
        assert nonce_secrets >= 3 * batch

        # ---- search the raw files
        for signer in signers:
            raw = _raw_store(signer)
            # Positive control: public data is there in the clear, so the search works.
            assert identities[0].dealt.group_pubkey in raw
            assert next(iter(_stored_pubnonces(signer))) in raw
            for secret in secrets:
                for needle in _needles(secret):
                    assert needle not in raw, "a secret value is stored in the clear"
    finally:
        for signer in signers:
            signer.close()
