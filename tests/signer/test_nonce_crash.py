"""Nonce safety under crashes: SIGKILL a signer mid-request, restart it, replay the request.

Whatever the moment of the kill, no secret nonce may ever produce partial signatures for
two different messages. The test records every (public nonce, message, psig) the signer
ever answered, across >= 200 crash/replay rounds, and checks that each public nonce
signed at most one message.

Speed: the test process has imported everything; each signer incarnation is a fork()
serving requests over a socketpair on the same state directory, so a round costs a
fork and a few milliseconds rather than an interpreter start.

The provider is the simulator here, on purpose: the property under test lives in the
signer's store and the order of its steps (durable consumption before signing), not in
the provider, which only unwraps. Forking a fresh PKCS#11 session hundreds of times
would test SoftHSM2's start-up instead; the SoftHSM2 paths are covered by the contract
and concurrency tests.
"""

from __future__ import annotations

import os
import pickle
import random
import select
import signal
import socket
import struct
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from coincurve import PublicKeyXOnly

from nostr_passport.crypto import frost
from nostr_passport.errors import PassportError
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.message import event_message
from nostr_passport.signer.protocol import SignRequest

from .helpers import Identity, aggregate, deal, event_for

ROUNDS = 200
REPLY_TIMEOUT = 20.0


# ---------------------------------------------------------------- framing


def _send(sock: socket.socket, value: Any) -> None:
    data = pickle.dumps(value)
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int, timeout: float) -> bytes | None:
    buf = b""
    while len(buf) < n:
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return None
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv(sock: socket.socket, timeout: float = REPLY_TIMEOUT) -> Any | None:
    header = _recv_exact(sock, 4, timeout)
    if header is None:
        return None
    body = _recv_exact(sock, struct.unpack(">I", header)[0], timeout)
    return None if body is None else pickle.loads(body)


# ---------------------------------------------------------------- the forked signer


def _serve(sock: socket.socket, state_dir: Path, sim_dir: Path) -> None:
    signer = LocalSigner("s0", SimulatorProvider("sim-0", state_dir=sim_dir), state_dir)
    while True:
        message = _recv(sock, timeout=60.0)
        if message is None:
            return
        operation, argument = message
        try:
            _send(sock, ("ok", getattr(signer, operation)(argument)))
        except PassportError as exc:
            _send(sock, ("error", type(exc).__name__))


class ForkedSigner:
    def __init__(self, state_dir: Path, sim_dir: Path) -> None:
        self.state_dir = state_dir
        self.sim_dir = sim_dir
        self.pid = 0
        self.sock: socket.socket | None = None

    def start(self) -> None:
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 0
            try:
                parent.close()
                _serve(child, self.state_dir, self.sim_dir)
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        child.close()
        self.pid, self.sock = pid, parent

    def call(self, operation: str, argument: Any) -> Any:
        assert self.sock is not None
        _send(self.sock, (operation, argument))
        reply = _recv(self.sock)
        assert reply is not None, f"signer child gave no reply to {operation}"
        return reply

    def send(self, operation: str, argument: Any) -> None:
        assert self.sock is not None
        _send(self.sock, (operation, argument))

    def kill(self) -> Any | None:
        """SIGKILL the child; the reply it managed to send before dying, if any."""
        assert self.sock is not None
        sock, self.sock = self.sock, None
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        try:
            # A reply fully written before the kill is still in our receive buffer.
            return _recv(sock, timeout=0.0)
        except OSError:  # reset: the child died with our request unread
            return None
        finally:
            sock.close()

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()  # the child sees EOF and exits
            os.waitpid(self.pid, 0)
            self.sock = None


# ---------------------------------------------------------------- the test


def test_sigkill_and_replay_never_sign_two_messages_with_one_nonce(tmp_path: Path) -> None:
    rng = random.Random(0x5EED)
    sim_dirs = [tmp_path / f"sim-{i}" for i in range(3)]
    signers = [
        LocalSigner(
            f"s{i}", SimulatorProvider(f"sim-{i}", state_dir=sim_dirs[i]), tmp_path / f"s{i}"
        )
        for i in range(3)
    ]
    identity = deal(signers, 2)
    signers[0].close()  # from now on signer 0 lives in forked children only
    helper = signers[1]
    ids = (0, 1)
    forked = ForkedSigner(tmp_path / "s0", sim_dirs[0])

    # Every partial signature signer 0 ever answered: pubnonce -> {message: psig}.
    answered: dict[bytes, dict[bytes, bytes]] = defaultdict(dict)
    outcomes: dict[str, int] = defaultdict(int)
    helper_psigs: dict[str, bytes] = {}
    durations: list[float] = []

    def record(request: SignRequest, reply: Any) -> bool:
        if reply is None or reply[0] != "ok":
            if reply is not None:
                outcomes[f"refused:{reply[1]}"] += 1
            return False
        (psig,) = reply[1]
        message = event_message(request.event)
        answered[request.pubnonces[0]].setdefault(message, psig.psig)
        assert answered[request.pubnonces[0]][message] == psig.psig
        _check_psig(identity, ids, request, psig.psig)
        return True

    try:
        forked.start()
        # Calibrate the kill delays on a few uninterrupted requests (not an assertion).
        import time

        for _ in range(5):
            request, helper_request = _requests(identity, forked, helper, ids)
            start = time.perf_counter()
            record(request, forked.call("partial_sign", (request,)))
            durations.append(time.perf_counter() - start)
        typical = sorted(durations)[len(durations) // 2]

        for round_no in range(ROUNDS):
            if forked.sock is None:
                forked.start()
            request, helper_request = _requests(identity, forked, helper, ids)
            helper_psigs[request.nonce_id] = helper.partial_sign((helper_request,))[0].psig
            mode = round_no % 10
            if mode == 0:  # no crash: the replay must be refused
                first = forked.call("partial_sign", (request,))
                assert record(request, first)
            else:
                forked.send("partial_sign", (request,))
                delay = 0.0 if mode == 1 else rng.uniform(0.0, 1.5 * typical)
                if delay:
                    time.sleep(delay)
                first = forked.kill()
                signed_before_kill = record(request, first)
                outcomes["killed:answered" if signed_before_kill else "killed:silent"] += 1
                forked.start()
            # Replay: the very same request, or the same nonce under another message.
            replay = (
                request
                if rng.random() < 0.5
                else replace(request, event=event_for(identity, f"forged {round_no}"))
            )
            if record(replay, forked.call("partial_sign", (replay,))):
                outcomes["replay:signed"] += 1
                if replay is request:
                    _check_full_signature(identity, ids, request, answered, helper_psigs)
            else:
                outcomes["replay:refused"] += 1
    finally:
        forked.stop()
        for signer in signers[1:]:
            signer.close()

    # The property: one public nonce, at most one message.
    for pubnonce, messages in answered.items():
        assert len(messages) == 1, f"nonce {pubnonce.hex()[:16]} signed {len(messages)} messages"
    # The rounds exercised both sides of the durable commit.
    assert outcomes["replay:refused"] >= ROUNDS // 10
    assert outcomes["replay:signed"] >= 1
    assert outcomes["killed:silent"] >= 1
    print(dict(outcomes))


def _requests(
    identity: Identity, forked: ForkedSigner, helper: LocalSigner, ids: tuple[int, int]
) -> tuple[SignRequest, SignRequest]:
    status, (mine,) = forked.call("commitments", 1)
    assert status == "ok"
    (theirs,) = helper.commitments(1)
    event = event_for(identity)
    base = SignRequest(
        identity_id=identity.identity_id,
        epoch=0,
        ids=ids,
        pubnonces=(mine.pubnonce, theirs.pubnonce),
        nonce_id=mine.nonce_id,
        event=event,
    )
    return base, replace(base, nonce_id=theirs.nonce_id)


def _check_psig(
    identity: Identity, ids: tuple[int, int], request: SignRequest, psig: bytes
) -> None:
    signers_ctx = frost.SignersContext(
        identity.n,
        identity.dealt.threshold,
        ids,
        tuple(identity.dealt.pubshares[i] for i in ids),
        identity.dealt.group_pubkey,
    )
    assert frost.partial_sig_verify(
        psig, request.pubnonces, signers_ctx, (), (), event_message(request.event), 0
    )


def _check_full_signature(
    identity: Identity,
    ids: tuple[int, int],
    request: SignRequest,
    answered: dict[bytes, dict[bytes, bytes]],
    helper_psigs: dict[str, bytes],
) -> None:
    message = event_message(request.event)
    psig = answered[request.pubnonces[0]][message]
    sig = aggregate(identity, ids, request, [psig, helper_psigs[request.nonce_id]])
    assert PublicKeyXOnly(identity.xonly).verify(sig, message)
