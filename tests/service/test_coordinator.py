"""The signing coordinator over real signers: batches, failover, faulty signers, deadlines."""

from __future__ import annotations

import json

import pytest
from nostr_sdk import Event

from nostr_passport.crypto import bip340
from nostr_passport.errors import SignersUnavailableError
from nostr_passport.service.passport import Passport

from .harness import SIGNER_IDS, Harness, build_harness, settings_for_tests


def templates(count: int) -> list[dict[str, object]]:
    kinds = [0, 1, 3, 4, 7, 1984, 30023, 10002]
    return [
        {
            "kind": kinds[i % len(kinds)],
            "content": f'événement {i} ☃ \n\t"quoted" \\ 🎉',
            "tags": [["t", f"tag{i}"], ["p", "ab" * 32, "wss://relay.example", "ünï"]],
            "created_at": 1_700_000_000 + i,
        }
        for i in range(count)
    ]


def assert_valid(events: list[dict[str, object]], pubkey: str) -> None:
    for event in events:
        assert event["pubkey"] == pubkey
        assert Event.from_json(json.dumps(event)).verify()
        assert bip340.verify(
            bytes.fromhex(pubkey), bytes.fromhex(str(event["id"])), bytes.fromhex(str(event["sig"]))
        )


def create(h: Harness, t: int = 2, n: int = 3) -> str:
    return h.passport.create_identity(h.admin, threshold=t, participants=n).id


def test_batch_uses_one_partial_sign_call_per_signer(harness: Harness) -> None:
    p = harness.passport
    identity = p.identity(harness.admin, create(harness))
    before = {sid: s.count("partial_sign") for sid, s in harness.signers.items()}
    events = p.sign_events(harness.admin, identity.id, templates(40))
    assert_valid(events, identity.pubkey)
    assert len({e["id"] for e in events}) == 40
    calls = {sid: s.count("partial_sign") - before[sid] for sid, s in harness.signers.items()}
    assert sorted(calls.values()) == [0, 1, 1]


def test_three_of_three_and_every_pair_of_two_of_three(fast_harness: Harness) -> None:
    h = fast_harness
    three = h.passport.identity(h.admin, create(h, 3, 3))
    assert_valid(h.passport.sign_events(h.admin, three.id, templates(3)), three.pubkey)
    two = h.passport.identity(h.admin, create(h, 2, 3))
    for down in SIGNER_IDS:
        for sid, s in h.signers.items():
            s.down = sid == down
            h.passport.pool.mark_ok(sid)
        assert_valid(h.passport.sign_events(h.admin, two.id, templates(2)), two.pubkey)


def test_one_signer_down_fails_over_within_the_request(fast_harness: Harness) -> None:
    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    for s in h.signers.values():  # empty caches: every attempt must fetch
        h.passport.coordinator.commitments.drop(s.signer_id)
    first_choice = h.passport.pool.preferred_order(SIGNER_IDS)[0]
    h.signers[first_choice].down = True
    events = h.passport.sign_events(h.admin, identity.id, templates(5))
    assert_valid(events, identity.pubkey)
    assert h.passport.pool.recently_failed(first_choice)


def test_two_down_is_unavailable_with_reasons_then_recovers(fast_harness: Harness) -> None:
    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    h.signers["signer-2"].down = True
    h.signers["signer-3"].down = True
    with pytest.raises(SignersUnavailableError) as info:
        h.passport.sign_events(h.admin, identity.id, templates(1))
    message = str(info.value)
    assert "needs 2 of the 3 signers" in message
    assert "signer-2" in message and "signer-3" in message and "down" in message
    h.signers["signer-3"].down = False  # restarted: found again although it failed recently
    assert_valid(h.passport.sign_events(h.admin, identity.id, templates(1)), identity.pubkey)


def test_slow_signer_is_abandoned_and_another_subset_signs(sqlite_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    h = build_harness(sqlite_store, tmp_path, settings_for_tests(signer_timeout_seconds=0.3))
    try:
        identity = h.passport.identity(h.admin, create(h))
        slow = h.passport.pool.preferred_order(SIGNER_IDS)[0]
        h.signers[slow].delay = 1.0
        events = h.passport.sign_events(h.admin, identity.id, templates(2))
        assert_valid(events, identity.pubkey)
        assert slow not in {
            s for s in h.passport.pool.ids if not h.passport.pool.recently_failed(s)
        }
    finally:
        h.signers[slow].delay = 0
        h.close()


def test_deadline_bounds_a_request_when_every_signer_hangs(sqlite_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    h = build_harness(
        sqlite_store, tmp_path, settings_for_tests(signer_timeout_seconds=0.2, deadline_seconds=0.5)
    )
    try:
        identity = h.passport.identity(h.admin, create(h))
        for s in h.signers.values():
            s.delay = 0.6
        with pytest.raises(SignersUnavailableError) as info:
            h.passport.sign_events(h.admin, identity.id, templates(1))
        assert "timed out" in str(info.value) or "deadline" in str(info.value)
    finally:
        for s in h.signers.values():
            s.delay = 0
        h.close()


def test_faulty_partial_signature_is_blamed_and_routed_around(fast_harness: Harness) -> None:
    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    bad = h.passport.pool.preferred_order(SIGNER_IDS)[0]
    h.signers[bad].corrupt_psig = True
    events = h.passport.sign_events(h.admin, identity.id, templates(3), request_id="req_fault")
    assert_valid(events, identity.pubkey)
    with h.store.read() as conn:
        from nostr_passport.store.audit_log import audit_records

        faults = [r for r in audit_records(conn) if r.action == "signer.fault"]
    assert [f.details["signer_id"] for f in faults] == [bad]
    assert faults[0].details["contribution"] == "psig" and faults[0].request_id == "req_fault"


def test_two_faulty_signers_make_signing_unavailable_naming_them(fast_harness: Harness) -> None:
    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    h.signers["signer-1"].corrupt_psig = True
    h.signers["signer-2"].corrupt_psig = True
    with pytest.raises(SignersUnavailableError) as info:
        h.passport.sign_events(h.admin, identity.id, templates(1))
    assert "faulty signer" in str(info.value)


def test_no_nonce_is_ever_offered_to_two_sessions(fast_harness: Harness) -> None:
    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    seen: list[str] = []
    for s in h.signers.values():
        original = s.inner.partial_sign

        def spy(requests, original=original):  # type: ignore[no-untyped-def]
            seen.extend(r.nonce_id for r in requests)
            return original(requests)

        s.inner.partial_sign = spy
    h.signers["signer-1"].down = True  # forces retries that discard taken commitments
    for _ in range(5):
        h.passport.sign_events(h.admin, identity.id, templates(3))
    # Every nonce offered once. At least 30 offers; more when a session was started with
    # the down signer's cached commitments (DKG's probe signature warmed the cache) and its
    # partner's nonces were spent on the failed attempt: spent, never offered again.
    assert len(seen) == len(set(seen)) >= 5 * 3 * 2


def test_threshold_ecdh_matches_the_group_secret(fast_harness: Harness) -> None:
    from coincurve import PrivateKey

    from nostr_passport.crypto import curve

    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    peer = PrivateKey()
    peer_x = peer.public_key.format()[1:]
    record_keys = h.passport.keys.keys(h.passport._visible_identity(h.admin, identity.id))
    outcome = h.passport.coordinator.shared_x(record_keys, peer_x)
    # ECDH is symmetric: x(s·P) == x(p·S) with the peer's secret p and the group key S.
    group = curve.lift_x(bytes.fromhex(identity.pubkey))
    point = curve.point_mul(group, int.from_bytes(peer.secret, "big"))
    assert point is not None and outcome.shared_x == curve.xbytes(point)
    # a faulty ECDH share is caught by its DLEQ proof and routed around
    h.signers[outcome.signer_ids[0]].corrupt_ecdh = True
    again = h.passport.coordinator.shared_x(record_keys, peer_x)
    assert again.shared_x == outcome.shared_x
    assert [f.contribution for f in again.faults] == ["ecdh_share"]


def test_batch_limit_and_empty_batch_are_bad_requests(fast_harness: Harness) -> None:
    from nostr_passport.errors import BadRequestError

    h = fast_harness
    identity_id = create(h)
    with pytest.raises(BadRequestError):
        h.passport.sign_events(h.admin, identity_id, [])
    limit = h.passport.limits.max_batch_events
    with pytest.raises(BadRequestError):
        h.passport.sign_events(h.admin, identity_id, templates(limit + 1))


_ = Passport


def test_concurrent_requests_share_partial_sign_calls(fast_harness: Harness) -> None:
    from concurrent.futures import ThreadPoolExecutor

    h = fast_harness
    identity = h.passport.identity(h.admin, create(h))
    h.passport.sign_events(h.admin, identity.id, templates(1))  # warm the nonce caches
    before = {sid: s.count("partial_sign") for sid, s in h.signers.items()}
    for s in h.signers.values():
        s.delay = 0.15  # calls overlap, so later ones queue behind the one in flight
    try:
        with ThreadPoolExecutor(6) as pool:
            results = list(
                pool.map(
                    lambda i: h.passport.sign_events(h.admin, identity.id, templates(1)), range(6)
                )
            )
    finally:
        for s in h.signers.values():
            s.delay = 0
    for events in results:
        assert_valid(events, identity.pubkey)
    calls = [s.count("partial_sign") - before[sid] for sid, s in h.signers.items()]
    assert sum(calls) < 2 * 6  # without coalescing: exactly two calls per request


def test_a_failed_batched_call_fails_every_caller_in_it(fast_harness: Harness) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from nostr_passport.service.coalescing import CoalescingSigner

    inner = fast_harness.signers["signer-1"]
    inner.down = True
    wrapper = CoalescingSigner(inner)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(wrapper.partial_sign, ()) for _ in range(4)]
    for future in futures:
        with pytest.raises(ConnectionRefusedError):
            future.result()
    inner.down = False
    assert 1 <= wrapper.batches <= 4
