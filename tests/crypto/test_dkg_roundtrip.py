"""Whole ChillDKG sessions in memory: agreement, reconstruction, recovery and blame."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import pytest
from coincurve import PrivateKey, PublicKeyXOnly
from hypothesis import given, settings
from hypothesis import strategies as st

from nostr_passport.crypto import dkg
from nostr_passport.crypto.curve import (
    N,
    bytes_from_int,
    lagrange_coefficient,
    point_from_cbytes,
    point_mul_g,
)
from nostr_passport.crypto.dkg import (
    DKGOutput,
    FaultyCoordinatorError,
    SessionParams,
    UnknownFaultyPartyError,
    encpedpop,
    schnorr,
)
from nostr_passport.crypto.errors import InvalidContributionError


def det_bytes(*labels: object) -> bytes:
    """Deterministic 32 'random' bytes, so a failing run can be replayed."""
    return hashlib.sha256(repr(labels).encode()).digest()


@dataclass(frozen=True)
class Session:
    params: SessionParams
    hostseckeys: list[bytes]
    pmsgs1: list[bytes]
    outputs: list[DKGOutput]
    coordinator_output: DKGOutput
    recovery_data: bytes


def session_params(t: int, n: int, seed: object) -> tuple[SessionParams, list[bytes]]:
    hostseckeys = [det_bytes("host", seed, i) for i in range(n)]
    params = SessionParams(tuple(dkg.hostpubkey_gen(k) for k in hostseckeys), t)
    return params, hostseckeys


def round1(
    params: SessionParams, hostseckeys: list[bytes], seed: object
) -> tuple[list[dkg.ParticipantState1], list[bytes]]:
    states, pmsgs1 = [], []
    for i, hostseckey in enumerate(hostseckeys):
        state1, pmsg1 = dkg.participant_step1(hostseckey, params, det_bytes("rand", seed, i))
        states.append(state1)
        pmsgs1.append(pmsg1)
    return states, pmsgs1


def run_session(t: int, n: int, seed: object = 0) -> Session:
    params, hostseckeys = session_params(t, n, seed)
    states1, pmsgs1 = round1(params, hostseckeys, seed)
    cstate, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    states2, pmsgs2 = [], []
    for i, hostseckey in enumerate(hostseckeys):
        state2, pmsg2 = dkg.participant_step2(
            hostseckey, states1[i], cmsg1, det_bytes("aux", seed, i)
        )
        states2.append(state2)
        pmsgs2.append(pmsg2)
    cmsg2, coordinator_output, recovery_data = dkg.coordinator_finalize(cstate, pmsgs2)
    outputs = []
    for state2 in states2:
        output, participant_recovery_data = dkg.participant_finalize(state2, cmsg2)
        assert participant_recovery_data == recovery_data
        outputs.append(output)
    return Session(params, hostseckeys, pmsgs1, outputs, coordinator_output, recovery_data)


def secret_from(outputs: list[DKGOutput], ids: tuple[int, ...]) -> int:
    """Lagrange interpolation at 0 of the shares of `ids` (evaluation points id + 1)."""
    xs = [i + 1 for i in ids]
    total = 0
    for i in ids:
        secshare = outputs[i].secshare
        assert secshare is not None
        total += lagrange_coefficient(xs, i + 1) * int.from_bytes(secshare, "big")
    return total % N


def check_session(session: Session) -> None:
    t, n = session.params.t, session.params.n
    public = session.coordinator_output
    assert public.secshare is None
    for i, output in enumerate(session.outputs):
        # Everyone agrees on the public output, and each share matches its pubshare.
        assert (output.threshold_pubkey, output.pubshares) == (
            public.threshold_pubkey,
            public.pubshares,
        )
        assert output.secshare is not None
        pubshare = point_mul_g(int.from_bytes(output.secshare, "big"))
        assert pubshare is not None and pubshare.format() == public.pubshares[i]
    threshold_point = point_from_cbytes(public.threshold_pubkey)
    for ids in itertools.combinations(range(n), t):
        secret = secret_from(session.outputs, ids)
        assert point_mul_g(secret) == threshold_point, f"subset {ids} does not reconstruct"
    # t-1 shares say nothing: they interpolate to some other key.
    if t > 1:
        assert point_mul_g(secret_from(session.outputs, tuple(range(t - 1)))) != threshold_point


def check_recovery(session: Session) -> None:
    for hostseckey, output in zip(session.hostseckeys, session.outputs, strict=True):
        assert dkg.recover(hostseckey, session.recovery_data) == (output, session.params)
    assert dkg.recover(None, session.recovery_data) == (
        session.coordinator_output,
        session.params,
    )


@pytest.mark.parametrize(("t", "n"), [(2, 3), (3, 5)])
def test_session_outputs_shares_of_the_threshold_key(t: int, n: int) -> None:
    session = run_session(t, n)
    check_session(session)
    check_recovery(session)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(min_value=1, max_value=5), data=st.data(), seed=st.binary(max_size=8))
def test_any_t_of_n_up_to_5(n: int, data: st.DataObject, seed: bytes) -> None:
    t = data.draw(st.integers(min_value=1, max_value=n), label="t")
    session = run_session(t, n, seed)
    check_session(session)
    check_recovery(session)


def test_npub_is_the_threshold_key_as_returned() -> None:
    """BIP-340 signatures by the reconstructed key verify under the x-only threshold key.

    ChillDKG's Taproot tweak is already inside threshold_pubkey and the shares, so a Nostr
    identity uses threshold_pubkey's x coordinate with no further tweak.
    """
    session = run_session(2, 3)
    output = session.outputs[0]
    assert output.threshold_xonly == output.threshold_pubkey[1:]
    secret = secret_from(session.outputs, (0, 2))
    msg = det_bytes("nostr event id")
    sig = PrivateKey(bytes_from_int(secret)).sign_schnorr(msg, det_bytes("aux"))
    assert PublicKeyXOnly(output.threshold_xonly).verify(sig, msg)


def test_recovery_data_parses_to_the_session_parameters() -> None:
    session = run_session(2, 3)
    data = dkg.RecoveryData.from_bytes(session.recovery_data)
    assert data.params == session.params
    assert data.to_bytes() == session.recovery_data


def tampered_share_pmsg1(pmsg1: bytes, t: int, n: int, recipient: int) -> bytes:
    """pmsg1 with the encrypted share for `recipient` changed (still a valid scalar)."""
    offset = len(pmsg1) - 32 * (n - recipient)
    share = int.from_bytes(pmsg1[offset : offset + 32], "big")
    return pmsg1[:offset] + bytes_from_int((share + 1) % N) + pmsg1[offset + 32 :]


def test_garbage_share_is_blamed_after_investigation() -> None:
    params, hostseckeys = session_params(2, 3, "garbage share")
    states1, pmsgs1 = round1(params, hostseckeys, "garbage share")
    pmsgs1[2] = tampered_share_pmsg1(pmsgs1[2], 2, 3, recipient=0)
    _, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    with pytest.raises(UnknownFaultyPartyError) as info:
        dkg.participant_step2(hostseckeys[0], states1[0], cmsg1, det_bytes("aux"))
    cinvs = dkg.coordinator_investigate(pmsgs1, params)
    with pytest.raises(InvalidContributionError) as blame:
        dkg.participant_investigate(info.value, cinvs[0])
    assert (type(blame.value), blame.value.participant, blame.value.contrib) == (
        InvalidContributionError,
        2,
        "secshare",
    )
    # Participant 1 got valid shares and carries on.
    dkg.participant_step2(hostseckeys[1], states1[1], cmsg1, det_bytes("aux"))


def test_coordinator_tampering_with_the_investigation_is_blamed_on_it() -> None:
    params, hostseckeys = session_params(2, 3, "lying coordinator")
    states1, pmsgs1 = round1(params, hostseckeys, "lying coordinator")
    pmsgs1[1] = tampered_share_pmsg1(pmsgs1[1], 2, 3, recipient=0)
    _, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    with pytest.raises(UnknownFaultyPartyError) as info:
        dkg.participant_step2(hostseckeys[0], states1[0], cmsg1, det_bytes("aux"))
    honest = dkg.coordinator_investigate(
        round1(params, hostseckeys, "lying coordinator")[1], params
    )
    # Showing the untampered shares contradicts the sum the coordinator sent before.
    with pytest.raises(FaultyCoordinatorError) as blame:
        dkg.participant_investigate(info.value, honest[0])
    assert blame.value.participant is None


def test_garbage_pop_is_blamed() -> None:
    params, hostseckeys = session_params(3, 4, "garbage pop")
    states1, pmsgs1 = round1(params, hostseckeys, "garbage pop")
    pop_at = 33 * 3  # after the commitment in the SimplPedPop part
    pmsgs1[3] = pmsgs1[3][:pop_at] + bytes(64) + pmsgs1[3][pop_at + 64 :]
    _, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    for i in range(3):
        with pytest.raises(InvalidContributionError) as blame:
            dkg.participant_step2(hostseckeys[i], states1[i], cmsg1, det_bytes("aux"))
        assert (blame.value.participant, blame.value.contrib) == (3, "pop")


def test_malformed_pmsg1_is_blamed_by_the_coordinator() -> None:
    params, hostseckeys = session_params(2, 3, "malformed")
    _, pmsgs1 = round1(params, hostseckeys, "malformed")
    pmsgs1[1] = b"\x05" + pmsgs1[1][1:]  # first commitment point: no such prefix
    with pytest.raises(InvalidContributionError) as blame:
        dkg.coordinator_step1(pmsgs1, params)
    assert (blame.value.participant, blame.value.contrib) == (1, "pmsg1")


def test_garbage_signature_is_blamed_by_the_coordinator() -> None:
    params, hostseckeys = session_params(2, 3, "garbage sig")
    states1, pmsgs1 = round1(params, hostseckeys, "garbage sig")
    cstate, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    pmsgs2 = [
        dkg.participant_step2(k, s, cmsg1, det_bytes("aux"))[1]
        for k, s in zip(hostseckeys, states1, strict=True)
    ]
    pmsgs2[1] = det_bytes("not a signature") * 2
    with pytest.raises(InvalidContributionError) as blame:
        dkg.coordinator_finalize(cstate, pmsgs2)
    assert (blame.value.participant, blame.value.contrib) == (1, "signature")


def test_secrets_stay_out_of_reprs_and_messages() -> None:
    session = run_session(2, 3, "repr")
    output = session.outputs[0]
    assert output.secshare is not None
    assert output.secshare.hex() not in repr(output)
    assert output.secshare.hex() not in repr(
        dkg.recover(session.hostseckeys[0], session.recovery_data)
    )

    params, hostseckeys = session_params(2, 3, "repr error")
    states1, pmsgs1 = round1(params, hostseckeys, "repr error")
    pmsgs1[2] = tampered_share_pmsg1(pmsgs1[2], 2, 3, recipient=0)
    _, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    with pytest.raises(UnknownFaultyPartyError) as info:
        dkg.participant_step2(hostseckeys[0], states1[0], cmsg1, det_bytes("aux"))
    shown = repr(info.value) + str(info.value) + repr(info.value.inv_data)
    inv_data = info.value.inv_data
    assert isinstance(inv_data, encpedpop.ParticipantInvestigationData)
    secshare = inv_data.simpl_inv_data.secshare
    for secret in (secshare, *inv_data.pads):
        assert str(secret) not in shown and format(secret, "x") not in shown
    assert hostseckeys[0].hex() not in shown


def test_schnorr_matches_libsecp256k1_under_the_bip340_prefix() -> None:
    seckey = int.from_bytes(det_bytes("schnorr key"), "big") % N
    msg, aux = det_bytes("msg"), det_bytes("aux")
    ours = schnorr.sign(msg, seckey, aux)
    assert ours == PrivateKey(bytes_from_int(seckey)).sign_schnorr(msg, aux)
    pubkey_x = PublicKeyXOnly.from_secret(bytes_from_int(seckey)).format()
    long_msg = msg * 5
    pop_sig = schnorr.sign(long_msg, seckey, aux, "BIP DKG/pop message")
    assert schnorr.verify(long_msg, pubkey_x, pop_sig, "BIP DKG/pop message")
    assert not schnorr.verify(long_msg, pubkey_x, pop_sig)  # other tags, other signature
    assert not schnorr.verify(long_msg + b"x", pubkey_x, pop_sig, "BIP DKG/pop message")
