"""NIP-01 serialisation and verification, checked against nostr-sdk (rust-nostr)."""

from __future__ import annotations

import json

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import Event as SdkEvent
from nostr_sdk import EventBuilder, Keys, Kind, Tag

from nostr_passport.nostr.errors import InvalidEventError
from nostr_passport.nostr.event import (
    Event,
    event_id,
    is_valid_event_dict,
    template_from_dict,
    verify_event,
)

TRICKY = [
    "plain",
    "emoji 🔐🗝️ and CJK 鍵 and RTL مفتاح",
    'quotes " and backslash \\ and slash /',
    "controls \n \r \t \b \f \x00 \x01 \x1f \x7f",
    "line sep \u2028 para sep \u2029",
    "",
]


def sign(key: PrivateKey, kind: int, tags: list[list[str]], content: str) -> Event:
    pubkey = key.public_key.format()[1:].hex()
    eid = event_id(pubkey, 1_700_000_000, kind, tags, content)
    return Event(
        id=eid.hex(),
        pubkey=pubkey,
        created_at=1_700_000_000,
        kind=kind,
        tags=tuple(tuple(t) for t in tags),
        content=content,
        sig=key.sign_schnorr(eid).hex(),
    )


@pytest.mark.parametrize("content", TRICKY)
def test_our_events_verify_in_nostr_sdk(content: str) -> None:
    key = PrivateKey()
    event = sign(key, 1, [["t", content], ["p", "a" * 64, "wss://r.example"]], content)
    verify_event(event)
    sdk = SdkEvent.from_json(event.to_json())
    assert sdk.verify()
    assert sdk.id().to_hex() == event.id


@pytest.mark.parametrize("content", TRICKY)
def test_nostr_sdk_events_verify_here(content: str) -> None:
    keys = Keys.generate()
    sdk_event = EventBuilder(Kind(1), content).tags([Tag.parse(["t", content])]).finalize(keys)
    event = Event.from_dict(json.loads(sdk_event.as_json()))
    verify_event(event)


@settings(max_examples=50, deadline=None)
@given(
    st.text(max_size=200),
    st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=3), max_size=3),
)
def test_random_content_matches_nostr_sdk(content: str, tags: list[list[str]]) -> None:
    try:
        content.encode()
        for t in tags:
            for x in t:
                x.encode()
    except UnicodeEncodeError:
        return
    event = sign(PrivateKey(b"\x01" * 32), 7, tags, content)
    assert SdkEvent.from_json(event.to_json()).verify()


def test_tampering_is_detected() -> None:
    event = sign(PrivateKey(), 1, [], "hello")
    assert is_valid_event_dict(event.to_dict())
    for field, value in [("content", "hellO"), ("kind", 2), ("created_at", 1), ("tags", [["x"]])]:
        d = event.to_dict()
        d[field] = value
        assert not is_valid_event_dict(d)
    d = event.to_dict()
    d["sig"] = "00" * 64
    assert not is_valid_event_dict(d)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"kind": 1},
        {
            "id": "zz" * 32,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 1,
            "tags": [],
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "A" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 1,
            "tags": [],
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": -1,
            "kind": 1,
            "tags": [],
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 70000,
            "tags": [],
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": True,
            "tags": [],
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 1,
            "tags": [[1]],
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 1,
            "tags": "x",
            "content": "",
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 1,
            "tags": [],
            "content": 5,
            "sig": "0" * 128,
        },
        {
            "id": "a" * 64,
            "pubkey": "a" * 64,
            "created_at": 1,
            "kind": 1,
            "tags": [],
            "content": "\ud800",
            "sig": "0" * 128,
        },
    ],
)
def test_malformed_events_are_refused(bad: object) -> None:
    with pytest.raises(InvalidEventError):
        Event.from_dict(bad)


def test_templates() -> None:
    pk = "b" * 64
    t = template_from_dict({"kind": 1, "content": "x", "tags": [["t", "y"]]}, pubkey=pk)
    assert t.kind == 1 and t.created_at is None
    assert template_from_dict({"kind": 1, "pubkey": pk}, pubkey=pk).content == ""
    for bad in [
        {"kind": 1, "pubkey": "c" * 64},
        {"kind": 1, "id": "a" * 64},
        {"kind": 1, "sig": "a" * 128},
        {"kind": 1, "extra": 1},
        {"content": "no kind"},
        {"kind": "1"},
        {"kind": 1, "created_at": 1.5},
        "not an object",
    ]:
        with pytest.raises(InvalidEventError):
            template_from_dict(bad, pubkey=pk)
