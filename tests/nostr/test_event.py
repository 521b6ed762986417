"""NIP-01 serialisation, ids and verification, checked against nostr-sdk (rust-nostr)."""

from __future__ import annotations

import hashlib
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
    EventTemplate,
    computed_id,
    event_id,
    is_valid_event_dict,
    json_string,
    serialize,
    template_from_dict,
    template_to_dict,
    verify_event,
)

TRICKY = [
    "plain",
    "emoji 🔐🗝️ and CJK 鍵 and RTL مفتاح \u200f",
    'quotes " and backslash \\ and slash /',
    "controls \n \r \t \b \f \x00 \x01 \x1f \x7f",
    "line sep \u2028 para sep \u2029 bom \ufeff",
    "astral 𝔘 and combining é",
    "",
]
PK = "b" * 64

valid_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)


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


# ---------------------------------------------------------------- serialisation


def test_serialisation_by_hand() -> None:
    raw = serialize(PK, 1, 7, [["e", "x"], ["p", "y", "wss://r"]], 'hi "you"\n')
    expected = '[0,"' + PK + '",1,7,[["e","x"],["p","y","wss://r"]],"hi \\"you\\"\\n"]'
    assert raw == expected.encode()
    assert event_id(PK, 1, 7, [["e", "x"], ["p", "y", "wss://r"]], 'hi "you"\n') == (
        hashlib.sha256(raw).digest()
    )
    assert serialize(PK, 0, 0, [], "") == ('[0,"' + PK + '",0,0,[],""]').encode()


@pytest.mark.parametrize(
    ("char", "escaped"),
    [
        ("\n", "\\n"),
        ('"', '\\"'),
        ("\\", "\\\\"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\b", "\\b"),
        ("\f", "\\f"),
        # Not in NIP-01's list, but raw they are not JSON: everyone writes \u00XX.
        ("\x00", "\\u0000"),
        ("\x1f", "\\u001f"),
        ("\x0b", "\\u000b"),
        # Verbatim.
        ("/", "/"),
        ("\x7f", "\x7f"),
        ("\u2028", "\u2028"),
        ("é", "é"),
        ("🔐", "🔐"),
    ],
)
def test_nip01_escaping(char: str, escaped: str) -> None:
    assert json_string(char) == '"' + escaped + '"'


@settings(max_examples=300, deadline=None)
@given(valid_text)
def test_json_string_agrees_with_json_dumps(text: str) -> None:
    assert json_string(text) == json.dumps(text, ensure_ascii=False)
    assert json.loads(json_string(text)) == text


# ---------------------------------------------------------------- nostr-sdk


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
    tags = [Tag.parse(["t", content]), Tag.parse(["subject", content, "x"])]
    sdk_event = EventBuilder(Kind(30023), content).tags(tags).finalize(keys)
    event = Event.from_json(sdk_event.as_json())
    verify_event(event)
    assert computed_id(event).hex() == sdk_event.id().to_hex()


@settings(max_examples=60, deadline=None)
@given(
    valid_text,
    st.lists(st.lists(st.text(max_size=20), min_size=1, max_size=3), max_size=3),
    st.integers(0, 65535),
)
def test_random_events_match_nostr_sdk(content: str, tags: list[list[str]], kind: int) -> None:
    try:
        for t in tags:
            for x in t:
                x.encode()
    except UnicodeEncodeError:
        with pytest.raises(InvalidEventError):
            event_id(PK, 1, kind, tags, content)
        return
    event = sign(PrivateKey(b"\x01" * 32), kind, tags, content)
    sdk = SdkEvent.from_json(event.to_json())
    assert sdk.verify()
    assert sdk.id().to_hex() == event.id


# ---------------------------------------------------------------- verification


def test_tampering_is_detected() -> None:
    event = sign(PrivateKey(), 1, [["t", "x"]], "hello")
    assert is_valid_event_dict(event.to_dict())
    ran = 0
    for field, value in [
        ("content", "hellO"),
        ("kind", 2),
        ("created_at", 1),
        ("tags", [["t", "y"]]),
        ("tags", []),
        ("pubkey", PrivateKey().public_key.format()[1:].hex()),
        ("sig", "00" * 64),
        ("id", "00" * 32),
    ]:
        d = event.to_dict()
        d[field] = value
        assert not is_valid_event_dict(d), field
        ran += 1
    assert ran == 8


def test_the_id_is_recomputed_never_trusted() -> None:
    key = PrivateKey()
    event = sign(key, 1, [], "real")
    # A correct signature over a wrong id: the id does not match the content.
    fake_id = hashlib.sha256(b"something else").digest()
    forged = Event(
        id=fake_id.hex(),
        pubkey=event.pubkey,
        created_at=event.created_at,
        kind=event.kind,
        tags=event.tags,
        content=event.content,
        sig=key.sign_schnorr(fake_id).hex(),
    )
    with pytest.raises(InvalidEventError, match="id does not match"):
        verify_event(forged)


def test_signature_checks() -> None:
    event = sign(PrivateKey(), 1, [], "x")
    with pytest.raises(InvalidEventError, match="signature"):
        verify_event(Event(**{**event.__dict__, "sig": "ff" * 64}))
    # A pubkey that is not an x coordinate on the curve (x = 5 has no point).
    off_curve = "00" * 31 + "05"
    eid = event_id(off_curve, 1, 1, [], "x").hex()
    with pytest.raises(InvalidEventError, match="signature"):
        verify_event(Event(eid, off_curve, 1, 1, (), "x", "00" * 64))
    with pytest.raises(InvalidEventError, match="sig must be"):
        verify_event(Event(**{**event.__dict__, "sig": "zz" * 64}))
    with pytest.raises(InvalidEventError):
        verify_event(event.to_dict())  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    event = sign(PrivateKey(), 5, [["e", "a" * 64]], "bye")
    assert Event.from_json(event.to_json()) == event
    assert Event.from_dict(json.loads(event.to_json())) == event


# ---------------------------------------------------------------- malformed input

GOOD: dict[str, object] = {
    "id": "a" * 64,
    "pubkey": "a" * 64,
    "created_at": 1,
    "kind": 1,
    "tags": [],
    "content": "",
    "sig": "0" * 128,
}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"kind": 1}, "lacks field"),
        ({**GOOD, "id": "zz" * 32}, "id must be"),
        ({**GOOD, "id": "A" * 64}, "id must be"),
        ({**GOOD, "id": "a" * 63}, "id must be"),
        ({**GOOD, "id": 5}, "id must be"),
        ({**GOOD, "pubkey": "a" * 66}, "pubkey must be"),
        ({**GOOD, "pubkey": "0x" + "a" * 62}, "pubkey must be"),
        ({**GOOD, "sig": "0" * 127}, "sig must be"),
        ({**GOOD, "created_at": -1}, "out of range"),
        ({**GOOD, "created_at": 2**53}, "out of range"),
        ({**GOOD, "created_at": 1.0}, "created_at must be"),
        ({**GOOD, "created_at": "1"}, "created_at must be"),
        ({**GOOD, "created_at": True}, "created_at must be"),
        ({**GOOD, "kind": 65536}, "between 0 and 65535"),
        ({**GOOD, "kind": -1}, "between 0 and 65535"),
        ({**GOOD, "kind": True}, "kind must be"),
        ({**GOOD, "kind": None}, "kind must be"),
        ({**GOOD, "tags": [[1]]}, "tags must be"),
        ({**GOOD, "tags": [["e", None]]}, "tags must be"),
        ({**GOOD, "tags": ["e"]}, "tags must be"),
        ({**GOOD, "tags": "x"}, "tags must be"),
        ({**GOOD, "tags": {"e": "x"}}, "tags must be"),
        ({**GOOD, "tags": [[]]}, "at least one string"),
        ({**GOOD, "tags": [["e", "\udc00"]]}, "lone surrogate"),
        ({**GOOD, "content": 5}, "content must be"),
        ({**GOOD, "content": None}, "content must be"),
        ({**GOOD, "content": "\ud800"}, "lone surrogate"),
    ],
)
def test_malformed_events_are_refused(bad: object, reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason):
        Event.from_dict(bad)


@pytest.mark.parametrize("text", ["", "{", "[1,2]", b"\xff", "null", "[" * 100_000])
def test_malformed_event_json(text: str | bytes) -> None:
    with pytest.raises(InvalidEventError):
        Event.from_json(text)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("A" * 64, 1, 1, [], ""), "pubkey must be"),
        ((PK, -1, 1, [], ""), "out of range"),
        ((PK, 1, 70000, [], ""), "between 0 and 65535"),
        ((PK, 1, 1, [[1]], ""), "tags must be"),
        ((PK, 1, 1, [[]], ""), "at least one string"),
        ((PK, 1, 1, [], b"bytes"), "content must be"),
        ((PK, 1, 1, [], "\ud800"), "lone surrogate"),
    ],
)
def test_serialize_refuses_bad_fields(args: tuple[object, ...], reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason):
        serialize(*args)  # type: ignore[arg-type]


# ---------------------------------------------------------------- templates


def test_templates() -> None:
    t = template_from_dict({"kind": 1, "content": "x", "tags": [["t", "y"]]}, pubkey=PK)
    assert t == EventTemplate(1, "x", (("t", "y"),), None)
    assert template_from_dict({"kind": 1, "pubkey": PK}, pubkey=PK).content == ""
    timed = template_from_dict({"kind": 0, "created_at": 1714078911})
    assert timed.created_at == 1714078911
    assert template_from_dict(template_to_dict(t)) == t
    assert template_from_dict(template_to_dict(timed)) == timed


@pytest.mark.parametrize(
    ("bad", "pubkey", "reason"),
    [
        ({"kind": 1, "pubkey": "c" * 64}, PK, "not this identity"),
        ({"kind": 1, "pubkey": PK}, None, "not this identity"),
        ({"kind": 1, "pubkey": PK.upper()}, PK, "must be 64 lowercase hex"),
        ({"kind": 1, "id": "a" * 64}, PK, "must not carry id or sig"),
        ({"kind": 1, "sig": "a" * 128}, PK, "must not carry id or sig"),
        ({"kind": 1, "id": None}, PK, "must not carry id or sig"),
        ({"kind": 1, "extra": 1}, PK, "unknown event template field"),
        ({"content": "no kind"}, PK, "lacks kind"),
        ({"kind": "1"}, PK, "kind must be"),
        ({"kind": 65536}, PK, "between 0 and 65535"),
        ({"kind": 1, "created_at": 1.5}, PK, "created_at must be"),
        ({"kind": 1, "created_at": -1}, PK, "out of range"),
        ({"kind": 1, "tags": [["a"], []]}, PK, "at least one string"),
        ({"kind": 1, "content": ["x"]}, PK, "content must be"),
        ("not an object", PK, "JSON object"),
        ([("kind", 1)], PK, "JSON object"),
    ],
)
def test_bad_templates(bad: object, pubkey: str | None, reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason):
        template_from_dict(bad, pubkey=pubkey)
