"""Pure parts of the relay client: backoff, URLs, resume filters, shapes, filters."""

from __future__ import annotations

import random
from typing import Any

import coincurve
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nostr_passport.errors import BadRequestError, ConfigError, PassportError, UnavailableError
from nostr_passport.nostr.relay import (
    Backoff,
    PublishStatus,
    RelayPublishResult,
    RelayRejectedError,
    RelaySettings,
    RelayUnavailableError,
    RelayUrlError,
    describe_filters,
    encode_message,
    is_event_shaped,
    normalize_relay_url,
    resume_filters,
)
from nostr_passport.nostr.relay_pool import (
    PoolSettings,
    PublishReport,
    event_matches_filter,
    validate_filters,
)
from tests.relays import signed_event, verify_test_event

SECRET = coincurve.PrivateKey(bytes.fromhex("11" * 32))


# ---------------------------------------------------------------- backoff


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, 0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


@given(st.integers(min_value=0, max_value=2000), st.floats(min_value=0.0, max_value=1.0))
def test_backoff_jitter_stays_within_bounds(attempts: int, jitter: float) -> None:
    backoff = Backoff(0.25, 30.0, jitter, random.Random(attempts))
    for _ in range(attempts):
        backoff.next_delay()
    ceiling = min(30.0, 0.25 * 2.0 ** min(attempts, 64))
    delay = backoff.next_delay()
    assert ceiling * (1 - jitter) - 1e-9 <= delay <= ceiling + 1e-9


def test_backoff_jitter_spreads_clients() -> None:
    delays = {Backoff(1.0, 60.0, 0.5, random.Random(seed)).next_delay() for seed in range(20)}
    assert len(delays) == 20


# ---------------------------------------------------------------- URLs and settings


@pytest.mark.parametrize(
    ("given_url", "expected"),
    [
        ("ws://127.0.0.1:7777", "ws://127.0.0.1:7777"),
        ("ws://127.0.0.1:7777/", "ws://127.0.0.1:7777"),
        ("WSS://Relay.Example.COM/", "wss://relay.example.com"),
        ("wss://relay.example.com/nostr", "wss://relay.example.com/nostr"),
        ("  ws://[::1]:8080  ", "ws://[::1]:8080"),
    ],
)
def test_normalize_relay_url(given_url: str, expected: str) -> None:
    assert normalize_relay_url(given_url) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "http://relay.example.com",
        "relay.example.com",
        "ws://",
        "ws://user:pw@relay.example.com",
        "ws://relay.example.com#frag",
        "ws://relay.example.com:99999",
        "",
    ],
)
def test_bad_relay_urls_are_config_errors(bad: str) -> None:
    with pytest.raises(RelayUrlError) as info:
        normalize_relay_url(bad)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, PassportError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connect_timeout": 0},
        {"backoff_initial": 2.0, "backoff_max": 1.0},
        {"backoff_jitter": 1.5},
        {"max_incoming_bytes": 0},
        {"resubscribe_margin": -1},
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        RelaySettings(**kwargs)


def test_bad_pool_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        PoolSettings(queue_size=0)


# ---------------------------------------------------------------- resubscribe filters


def test_resume_without_eose_resends_original_filters() -> None:
    filters = [{"kinds": [24133], "since": 100}]
    resumed = resume_filters(filters, None, 60)
    assert resumed == filters
    assert resumed[0] is not filters[0]


def test_resume_moves_since_to_watermark_minus_margin() -> None:
    filters: list[dict[str, Any]] = [
        {"kinds": [24133]},
        {"authors": ["a" * 64], "since": 5000},
        {"since": 100},
    ]
    resumed = resume_filters(filters, 1000, 60)
    assert resumed == [
        {"kinds": [24133], "since": 940},
        {"authors": ["a" * 64], "since": 5000},  # a later original since is kept
        {"since": 940},
    ]
    assert filters[0] == {"kinds": [24133]}  # originals untouched


def test_resume_never_goes_below_zero() -> None:
    assert resume_filters([{}], 10, 60) == [{"since": 0}]


# ---------------------------------------------------------------- events and filters


def test_signed_test_event_is_shaped_and_verifies() -> None:
    event = signed_event(SECRET, content="hé ☃", tags=[["p", "b" * 64]])
    assert is_event_shaped(event)
    assert verify_test_event(event)
    assert not verify_test_event({**event, "content": "changed"})


@pytest.mark.parametrize(
    "change",
    [
        {"id": "A" * 64},
        {"id": "a" * 63},
        {"pubkey": 7},
        {"sig": "00" * 63},
        {"created_at": "1"},
        {"created_at": True},
        {"created_at": -1},
        {"kind": 70000},
        {"kind": 1.0},
        {"tags": [["p", 1]]},
        {"tags": "p"},
        {"content": None},
    ],
)
def test_malformed_events_are_not_event_shaped(change: dict[str, Any]) -> None:
    event = {**signed_event(SECRET), **change}
    assert not is_event_shaped(event)


def test_missing_field_is_not_event_shaped() -> None:
    event = signed_event(SECRET)
    del event["sig"]
    assert not is_event_shaped(event)
    assert not is_event_shaped([event])


def test_event_matches_filter_semantics() -> None:
    other = "c" * 64
    event = signed_event(SECRET, kind=24133, tags=[["p", other], ["e", "d" * 64]], created_at=500)
    assert event_matches_filter(event, {})
    assert event_matches_filter(event, {"kinds": [1, 24133], "#p": [other], "since": 500})
    assert event_matches_filter(event, {"authors": [event["pubkey"]], "until": 500})
    assert event_matches_filter(event, {"ids": [event["id"]], "limit": 1, "search": "x"})
    assert not event_matches_filter(event, {"kinds": [1]})
    assert not event_matches_filter(event, {"authors": [other]})
    assert not event_matches_filter(event, {"#p": ["e" * 64]})
    assert not event_matches_filter(event, {"#t": ["x"]})
    assert not event_matches_filter(event, {"since": 501})
    assert not event_matches_filter(event, {"until": 499})
    assert not event_matches_filter(event, {"ids": [other]})


@pytest.mark.parametrize(
    "filters",
    [
        [],
        {"kinds": [1]},
        [{"kinds": 1}],
        [{"#p": "x"}],
        [{"since": "1"}],
        [{"limit": -1}],
        [{"until": True}],
        ["kinds"],
        [{"kinds": [object()]}],
    ],
)
def test_invalid_filters_are_bad_requests(filters: Any) -> None:
    with pytest.raises(BadRequestError):
        validate_filters(filters)


def test_describe_filters_hides_values() -> None:
    secretish = "f" * 64
    text = describe_filters([{"#p": [secretish], "kinds": [24133], "since": 5}])
    assert secretish not in text
    assert text == "{#p[1],kinds[1],since}"


def test_encode_message_is_compact_utf8() -> None:
    assert encode_message(["NOTICE", "ünï ☃"]) == '["NOTICE","ünï ☃"]'


# ---------------------------------------------------------------- publish report


def _result(url: str, status: PublishStatus, message: str = "") -> RelayPublishResult:
    return RelayPublishResult(url, "e" * 64, status, message)


def test_publish_report_require_accepted() -> None:
    report = PublishReport(
        "e" * 64,
        (_result("ws://a", PublishStatus.ACCEPTED), _result("ws://b", PublishStatus.TIMEOUT)),
    )
    assert report.accepted_by == ("ws://a",)
    report.require_accepted()
    with pytest.raises(RelayUnavailableError) as info:
        report.require_accepted(minimum=2)
    assert isinstance(info.value, UnavailableError)


def test_publish_report_prefers_rejection_over_unavailability() -> None:
    report = PublishReport(
        "e" * 64,
        (
            _result("ws://a", PublishStatus.REJECTED, "invalid: bad signature"),
            _result("ws://b", PublishStatus.UNAVAILABLE),
        ),
    )
    with pytest.raises(RelayRejectedError, match="bad signature"):
        report.require_accepted()
