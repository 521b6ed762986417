"""The published ChillDKG (BIP-FROST-DKG) vectors: every case of every file.

The vectors name the BIP reference's exception classes; `EXPECTED_TYPE` maps them to
ours (see `nostr_passport.crypto.dkg.chilldkg`) and each error is checked for its exact
type, the blamed participant(s) and, for blame, the contribution named in the error.
Every test counts the cases it ran, per array, and compares with the file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nostr_passport.crypto import dkg
from nostr_passport.crypto.dkg import (
    DuplicateHostPubkeyError,
    FaultyCoordinatorError,
    HostSeckeyError,
    RandomnessError,
    RecoveryDataError,
    SessionParams,
    ThresholdOrCountError,
    UnknownFaultyPartyError,
)
from nostr_passport.crypto.errors import InvalidContributionError, InvalidInputError
from tests.conftest import load_vector_json

EXPECTED_TYPE: dict[str, type[Exception]] = {
    "ValueError": InvalidInputError,
    "HostSeckeyError": HostSeckeyError,
    "ThresholdOrCountError": ThresholdOrCountError,
    "RandomnessError": RandomnessError,
    "RecoveryDataError": RecoveryDataError,
    "InvalidHostPubkeyError": InvalidContributionError,
    "DuplicateHostPubkeyError": DuplicateHostPubkeyError,
    "FaultyParticipantOrCoordinatorError": InvalidContributionError,
    "FaultyParticipantError": InvalidContributionError,
    "FaultyCoordinatorError": FaultyCoordinatorError,
    "UnknownFaultyParticipantOrCoordinatorError": UnknownFaultyPartyError,
}

# The reference says what was wrong in its message; we say it in `contrib`.
CONTRIB_BY_MESSAGE = {
    "invalid public nonce": "pubnonce",
    "Participant sent invalid commitment": "commitment",
    "Participant sent invalid proof-of-knowledge": "pop",
    "Participant sent invalid partial secshare": "secshare",
    "Participant has provided an invalid signature for the certificate": "signature",
    "Coordinator replied with wrong pubnonce": "pubnonce",
    "Coordinator sent unexpected first group element for local participant id": "commitment",
    "Coordinator has provided a certificate with an invalid signature": "cert",
    "Sum of encrypted partial secshares not equal to encrypted secshare": "enc_partial_secshares",
    "Coordinator fiddled with the share from me to myself": "secshare",
    "Sum of partial pubshares not equal to pubshare": "partial_pubshares",
}
CONTRIB_BY_TYPE = {"InvalidHostPubkeyError": "hostpubkey", "DuplicateHostPubkeyError": "hostpubkey"}


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def params_of(obj: dict[str, Any]) -> SessionParams:
    return SessionParams(tuple(h(pk) for pk in obj["hostpubkeys"]), obj["t"])


def check_error(exc: BaseException, expected: dict[str, Any]) -> None:
    kind = expected["type"]
    assert type(exc) is EXPECTED_TYPE[kind], f"{type(exc).__name__} for {kind}: {exc}"
    if isinstance(exc, InvalidContributionError):
        contrib = CONTRIB_BY_TYPE.get(kind) or CONTRIB_BY_MESSAGE[expected["message"]]
        assert exc.contrib == contrib
        assert exc.participant == expected.get("participantId", expected.get("participantId2"))
    else:
        assert "participantId" not in expected
    if "participantId1" in expected:
        assert isinstance(exc, DuplicateHostPubkeyError)
        assert (exc.participant1, exc.participant2) == (
            expected["participantId1"],
            expected["participantId2"],
        )


def expect_error(
    expected: dict[str, Any], call: Callable[..., object], *args: Any
) -> BaseException:
    """The exception `call(*args)` raises, checked against the vector's error object."""
    with pytest.raises(Exception) as info:
        call(*args)
    check_error(info.value, expected)
    return info.value


def check_output(output: dkg.DKGOutput, expected: dict[str, Any]) -> None:
    secshare = expected["secshare"]
    assert output.secshare == (None if secshare is None else h(secshare))
    assert output.threshold_pubkey == h(expected["threshPk"])
    assert output.pubshares == tuple(h(pk) for pk in expected["pubshares"])


class Tally:
    """Counts the cases run per (group, array), to compare with the file."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.ran: Counter[tuple[int, str]] = Counter()

    def groups(self) -> Iterator[tuple[int, dict[str, Any]]]:
        yield from enumerate(self.data.get("testGroups", [self.data]))

    def cases(self, group_idx: int, group: dict[str, Any], array: str) -> Iterator[Any]:
        for case in group.get(array, []):
            yield case
            self.ran[(group_idx, array)] += 1

    def check(self) -> None:
        expected: Counter[tuple[int, str]] = Counter()
        for group_idx, group in self.groups():
            for array in ("validTestCases", "errorTestCases"):
                if group.get(array):
                    expected[(group_idx, array)] = len(group[array])
        assert self.ran == expected
        assert sum(self.ran.values()) == self.data["totalTests"]


def test_hostpubkey_gen_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "hostpubkey_gen_vectors.json"))
    for g, group in tally.groups():
        for case in tally.cases(g, group, "validTestCases"):
            assert dkg.hostpubkey_gen(h(case["hostseckey"])) == h(case["expectedHostpubkey"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], dkg.hostpubkey_gen, h(case["hostseckey"]))
    tally.check()


def test_params_hash_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "params_hash_vectors.json"))
    for g, group in tally.groups():
        for case in tally.cases(g, group, "validTestCases"):
            assert dkg.params_id(params_of(case["params"])) == h(case["expectedParamsHash"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], dkg.params_id, params_of(case["params"]))
    tally.check()


def test_participant_step1_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "participant_step1_vectors.json"))

    def step1(case: dict[str, Any]) -> bytes:
        _, pmsg1 = dkg.participant_step1(
            h(case["hostseckey"]), params_of(case["params"]), h(case["random"])
        )
        return pmsg1

    for g, group in tally.groups():
        for case in tally.cases(g, group, "validTestCases"):
            assert step1(case) == h(case["expectedPmsg1"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], step1, case)
    tally.check()


def state1_of(group: dict[str, Any]) -> dkg.ParticipantState1:
    """Re-derive a group's participant state after step 1, checking its pmsg1."""
    state1, pmsg1 = dkg.participant_step1(
        h(group["hostseckey"]), params_of(group["params"]), h(group["random"])
    )
    assert pmsg1 == h(group["pmsg1"])
    return state1


def test_participant_step2_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "participant_step2_vectors.json"))
    for g, group in tally.groups():
        state1 = state1_of(group)
        for case in tally.cases(g, group, "validTestCases"):
            _, pmsg2 = dkg.participant_step2(
                h(group["hostseckey"]), state1, h(case["cmsg1"]), h(group["auxRand"])
            )
            assert pmsg2 == h(case["expectedPmsg2"])
        for case in tally.cases(g, group, "errorTestCases"):
            hostseckey = h(case.get("hostseckey", group["hostseckey"]))
            aux_rand = h(case.get("auxRand", group["auxRand"]))
            expect_error(
                case["expectedError"],
                dkg.participant_step2,
                hostseckey,
                state1,
                h(case["cmsg1"]),
                aux_rand,
            )
    tally.check()


def test_participant_finalize_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "participant_finalize_vectors.json"))
    for g, group in tally.groups():
        state2, pmsg2 = dkg.participant_step2(
            h(group["hostseckey"]), state1_of(group), h(group["cmsg1"]), h(group["auxRand"])
        )
        assert pmsg2 == h(group["pmsg2"])
        for case in tally.cases(g, group, "validTestCases"):
            output, recovery_data = dkg.participant_finalize(state2, h(case["cmsg2"]))
            check_output(output, case["expectedOutput"]["dkgOutput"])
            assert recovery_data == h(case["expectedOutput"]["recoveryData"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], dkg.participant_finalize, state2, h(case["cmsg2"]))
    tally.check()


def test_participant_investigate_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "participant_investigate_vectors.json"))
    unknown = {"type": "UnknownFaultyParticipantOrCoordinatorError"}
    for g, group in tally.groups():
        state1 = state1_of(group)
        for case in tally.cases(g, group, "errorTestCases"):
            cmsg1 = h(group["cmsg1Pool"][case["cmsg1Index"]])
            error = expect_error(
                unknown,
                dkg.participant_step2,
                h(group["hostseckey"]),
                state1,
                cmsg1,
                h(group["auxRand"]),
            )
            assert isinstance(error, UnknownFaultyPartyError)
            expect_error(
                case["expectedError"], dkg.participant_investigate, error, h(case["cinvMsg"])
            )
    tally.check()


def test_coordinator_step1_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "coordinator_step1_vectors.json"))
    for g, group in tally.groups():

        def step1(case: dict[str, Any], pool: list[str] = group["pmsg1Pool"]) -> bytes:
            pmsgs1 = [h(pool[i]) for i in case["pmsg1Indices"]]
            _, cmsg1 = dkg.coordinator_step1(pmsgs1, params_of(case["params"]))
            return cmsg1

        for case in tally.cases(g, group, "validTestCases"):
            assert step1(case) == h(case["expectedCmsg1"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], step1, case)
    tally.check()


def test_coordinator_finalize_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "coordinator_finalize_vectors.json"))
    for g, group in tally.groups():
        params = params_of(group["params"])
        state, cmsg1 = dkg.coordinator_step1([h(m) for m in group["pmsgs1"]], params)
        assert cmsg1 == h(group["cmsg1"])

        def pmsgs2(case: dict[str, Any], pool: list[str] = group["pmsg2Pool"]) -> list[bytes]:
            return [h(pool[i]) for i in case["pmsg2Indices"]]

        for case in tally.cases(g, group, "validTestCases"):
            cmsg2, output, recovery_data = dkg.coordinator_finalize(state, pmsgs2(case))
            expected = case["expectedOutput"]
            assert cmsg2 == h(expected["cmsg2"])
            check_output(output, expected["dkgOutput"])
            assert recovery_data == h(expected["recoveryData"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], dkg.coordinator_finalize, state, pmsgs2(case))
    tally.check()


def test_coordinator_investigate_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "coordinator_investigate_vectors.json"))
    for g, group in tally.groups():
        pmsgs1 = [h(m) for m in group["pmsgs1"]]
        for case in tally.cases(g, group, "validTestCases"):
            cinvs = dkg.coordinator_investigate(pmsgs1, params_of(group["params"]))
            assert cinvs == [h(m) for m in case["expectedCinvMsgs"]]
        assert not group["errorTestCases"]
    tally.check()


def test_recover_vectors() -> None:
    tally = Tally(load_vector_json("chilldkg", "recover_vectors.json"))

    def recover(case: dict[str, Any]) -> tuple[dkg.DKGOutput, SessionParams]:
        hostseckey = None if case["hostseckey"] is None else h(case["hostseckey"])
        return dkg.recover(hostseckey, h(case["recoveryData"]))

    for g, group in tally.groups():
        for case in tally.cases(g, group, "validTestCases"):
            output, params = recover(case)
            check_output(output, case["expectedOutput"]["dkgOutput"])
            assert params == params_of(case["expectedOutput"]["params"])
        for case in tally.cases(g, group, "errorTestCases"):
            expect_error(case["expectedError"], recover, case)
    tally.check()
