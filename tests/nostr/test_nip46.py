"""NIP-46 message model: requests, responses, permissions, bunker:// and nostrconnect://."""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import NostrConnectUri as SdkNostrConnectUri

from nostr_passport.nostr import nip46
from nostr_passport.nostr.errors import InvalidPayloadError, InvalidRequestError
from nostr_passport.nostr.event import EventTemplate

USER = "fa984bd7dbb282f07e16e7ae87b26a2a7b9b90b7246a44771f0cf5ae58018f52"
CLIENT = "eff37350d839ce3707332348af4549a96051bd695d3223af4aabce4993531d86"
OTHER = "83f3b2ae6aa368e8275397b9c26cf550101d63ebaab900d19dd4a4429f5ad8f5"

# The NIP's nostrconnect:// example, byte for byte.
SPEC_NOSTRCONNECT = (
    "nostrconnect://83f3b2ae6aa368e8275397b9c26cf550101d63ebaab900d19dd4a4429f5ad8f5"
    "?relay=wss%3A%2F%2Frelay1.example.com&perms=nip44_encrypt%2Cnip44_decrypt%2C"
    "sign_event%3A13%2Csign_event%3A14%2Csign_event%3A1059&name=My+Client"
    "&secret=0s8j2djs&relay=wss%3A%2F%2Frelay2.example2.com"
)


def request_text(method: str, params: Sequence[object], rid: object = "r1") -> str:
    return json.dumps({"id": rid, "method": method, "params": list(params)})


def spec_template() -> str:
    # The NIP's sign_event example: the template travels JSON-stringified.
    return json.dumps(
        {
            "content": "Hello, I'm signing remotely",
            "kind": 1,
            "tags": [],
            "created_at": 1714078911,
        }
    )


# ---------------------------------------------------------------- requests


def test_spec_sign_event_request() -> None:
    request = nip46.parse_request(request_text("sign_event", [spec_template()]))
    assert request.method == nip46.SIGN_EVENT
    assert nip46.checked_request(request) is request
    template = nip46.sign_event_template(request, pubkey=USER)
    assert template == EventTemplate(1, "Hello, I'm signing remotely", (), 1714078911)


def test_request_json_round_trip() -> None:
    request = nip46.Request("abc", nip46.NIP44_ENCRYPT, (OTHER, "secret text"))
    assert nip46.parse_request(request.to_json()) == request
    assert "secret text" not in repr(request)


def test_params_may_be_absent() -> None:
    assert nip46.parse_request('{"id":"1","method":"ping"}').params == ()


@pytest.mark.parametrize(
    "text",
    [
        None,
        5,
        "",
        "not json",
        "[]",
        '"a string"',
        '{"method":"ping","params":[]}',
        '{"id":5,"method":"ping","params":[]}',
        '{"id":"","method":"ping","params":[]}',
        json.dumps({"id": "x" * 129, "method": "ping", "params": []}),
        '{"id":"1","method":"ping","params":[],"x":NaN}',
        "[" * 100_000,
    ],
)
def test_malformed_requests_without_a_usable_id(text: object) -> None:
    with pytest.raises(InvalidPayloadError) as err:
        nip46.parse_request(text)
    assert getattr(err.value, "request_id", None) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"r1","params":[]}',
        '{"id":"r1","method":5,"params":[]}',
        '{"id":"r1","method":"Sign_Event","params":[]}',
        '{"id":"r1","method":"ping","params":"x"}',
        '{"id":"r1","method":"ping","params":{}}',
        '{"id":"r1","method":"sign_event","params":[{"kind":1}]}',
        '{"id":"r1","method":"nip44_encrypt","params":["' + OTHER + '",5]}',
        json.dumps({"id": "r1", "method": "ping", "params": ["x"] * 17}),
    ],
)
def test_malformed_requests_name_their_id(text: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        nip46.parse_request(text)
    assert err.value.request_id == "r1"


def test_request_id_hint() -> None:
    assert nip46.request_id_hint('{"id":"r9","method":5}') == "r9"
    assert nip46.request_id_hint("garbage") == ""
    assert nip46.request_id_hint('{"id":7}') == ""


@pytest.mark.parametrize(
    ("method", "params", "reason"),
    [
        ("get_relays", [], "unsupported method"),
        ("describe", [], "unsupported method"),
        ("ping", ["x"], "takes 0 params"),
        ("get_public_key", ["x"], "takes 0 params"),
        ("switch_relays", ["x"], "takes 0 params"),
        ("logout", ["x"], "takes 0 params"),
        ("sign_event", [], "takes 1 params"),
        ("sign_event", ["{}", "{}"], "takes 1 params"),
        ("connect", [], "takes 1 to 3 params"),
        ("connect", [USER, "s", "", "x"], "takes 1 to 3 params"),
        ("nip44_encrypt", [OTHER], "takes 2 params"),
        ("nip04_decrypt", [OTHER, "a", "b"], "takes 2 params"),
        ("connect", ["npub1xyz"], "64 lowercase hex"),
        ("connect", [USER.upper()], "64 lowercase hex"),
        ("nip44_decrypt", ["zz" * 32, "payload"], "64 lowercase hex"),
        ("nip04_encrypt", [OTHER[:-2], "text"], "64 lowercase hex"),
        ("sign_event", ["not json"], "not a JSON event template"),
        ("sign_event", ['{"content":"no kind"}'], "lacks kind"),
        ("sign_event", ['{"kind":70000}'], "between 0 and 65535"),
        ("sign_event", ['{"kind":1,"id":"' + "a" * 64 + '"}'], "must not carry id or sig"),
        ("sign_event", ['{"kind":1,"sig":"' + "a" * 128 + '"}'], "must not carry id or sig"),
        ("sign_event", ['{"kind":1,"pubkey":"nope"}'], "64 lowercase hex"),
        ("sign_event", ['{"kind":1,"tags":[[]]}'], "at least one string"),
        ("sign_event", ['{"kind":1,"surprise":1}'], "unknown event template field"),
        ("sign_event", ["[1]"], "must be a JSON object"),
    ],
)
def test_checked_request_table(method: str, params: list[str], reason: str) -> None:
    request = nip46.parse_request(request_text(method, list(params), "q7"))
    with pytest.raises(InvalidRequestError) as err:
        nip46.checked_request(request)
    assert err.value.request_id == "q7"
    assert reason in str(err.value)


def test_every_method_with_its_arity_passes() -> None:
    examples = {
        nip46.CONNECT: [USER, "secret", "sign_event:1,nip44_encrypt"],
        nip46.SIGN_EVENT: [spec_template()],
        nip46.PING: [],
        nip46.GET_PUBLIC_KEY: [],
        nip46.NIP04_ENCRYPT: [OTHER, "hello"],
        nip46.NIP04_DECRYPT: [OTHER, "abc?iv=def"],
        nip46.NIP44_ENCRYPT: [OTHER, "hello"],
        nip46.NIP44_DECRYPT: [OTHER, "AgAAAA"],
        nip46.SWITCH_RELAYS: [],
        nip46.LOGOUT: [],
    }
    assert set(examples) == nip46.METHODS == set(nip46.ARITY)
    for method, params in examples.items():
        nip46.checked_request(nip46.parse_request(request_text(method, params)))


def test_connect_params() -> None:
    full = nip46.parse_request(request_text("connect", [USER, "s3cr3t", "sign_event:4,x_y"]))
    params = nip46.connect_params(full)
    assert params.remote_signer_pubkey == USER
    assert params.secret == "s3cr3t"
    assert params.perms == (nip46.Permission("sign_event", 4),)  # unknown x_y dropped
    assert "s3cr3t" not in repr(params)
    bare = nip46.connect_params(nip46.parse_request(request_text("connect", [USER, ""])))
    assert bare.secret is None and bare.perms == ()
    with pytest.raises(InvalidRequestError):
        nip46.connect_params(nip46.parse_request(request_text("ping", [])))


def test_cipher_params() -> None:
    for method in sorted(nip46.CIPHER_METHODS):
        request = nip46.parse_request(request_text(method, [OTHER, "very private"]))
        params = nip46.cipher_params(request)
        assert (params.third_party_pubkey, params.text) == (OTHER, "very private")
        assert "very private" not in repr(params)
    with pytest.raises(InvalidRequestError):
        nip46.cipher_params(nip46.parse_request(request_text("sign_event", [spec_template()])))


def test_sign_event_template_checks_the_pubkey() -> None:
    own = json.dumps({"kind": 1, "content": "x", "pubkey": USER})
    request = nip46.parse_request(request_text("sign_event", [own]))
    assert nip46.sign_event_template(request, pubkey=USER).content == "x"
    with pytest.raises(InvalidRequestError, match="not this identity"):
        nip46.sign_event_template(request, pubkey=OTHER)
    defaults = nip46.parse_request(request_text("sign_event", ['{"kind":7}']))
    assert nip46.sign_event_template(defaults, pubkey=USER) == EventTemplate(7, "", (), None)


# ---------------------------------------------------------------- responses


def test_responses() -> None:
    ok = nip46.ok("r1", "pong")
    assert nip46.parse_response(ok.to_json()) == ok
    assert json.loads(ok.to_json()) == {"id": "r1", "result": "pong"}
    err = nip46.error("r1", "denied")
    assert json.loads(err.to_json()) == {"id": "r1", "error": "denied"}
    assert nip46.parse_response(err.to_json()) == err
    auth = nip46.auth_challenge("r1", "https://signer.example/auth?x=1")
    assert auth.is_auth_url and not ok.is_auth_url
    assert nip46.parse_response(auth.to_json()) == auth
    assert "plaintext!" not in repr(nip46.ok("r2", "plaintext!"))


@pytest.mark.parametrize(
    "text",
    [
        "nope",
        "[]",
        '{"result":"x"}',
        '{"id":1,"result":"x"}',
        '{"id":"r","result":5}',
        '{"id":"r","result":["wss://a"]}',
        '{"id":"r","error":{"code":1}}',
        '{"id":"r"}',
        '{"id":"r","result":"","error":""}',
        '{"id":"r","result":"pubkey","error":"both"}',
    ],
)
def test_malformed_responses(text: str) -> None:
    with pytest.raises(InvalidPayloadError):
        nip46.parse_response(text)


def test_nip04_payload_detection() -> None:
    assert nip46.is_nip04_payload("YWJj?iv=ZGVm")
    assert not nip46.is_nip04_payload("AgAAAAAAAAAA")


# ---------------------------------------------------------------- permissions


def test_permission_grammar() -> None:
    perms = nip46.parse_permissions("nip44_encrypt,sign_event:4,sign_event:4,nip04_decrypt")
    assert nip46.format_permissions(perms) == "nip04_decrypt,nip44_encrypt,sign_event:4"
    assert nip46.permits(perms, "sign_event", 4)
    assert not nip46.permits(perms, "sign_event", 1)
    assert not nip46.permits(perms, "sign_event", None)
    assert nip46.permits(perms, "nip44_encrypt")
    assert not nip46.permits(perms, "nip44_decrypt")
    everything = nip46.parse_permissions("sign_event")
    assert nip46.permits(everything, "sign_event", 30023)
    assert nip46.parse_permissions("") == () == nip46.parse_permissions(None)


@pytest.mark.parametrize(
    "text",
    [
        "sign_events:1",
        "describe",
        "get_public_key",
        "sign_event:-1",
        "sign_event:65536",
        "sign_event:one",
        "nip44_encrypt:4",
        "x" * 5000,
    ],
)
def test_strict_permissions_refuse(text: str) -> None:
    with pytest.raises(InvalidPayloadError):
        nip46.parse_permissions(text)


def test_lenient_permissions_drop_what_they_do_not_know() -> None:
    perms = nip46.parse_permissions("sign_event:1,get_public_key,sign_event:x", strict=False)
    assert perms == (nip46.Permission("sign_event", 1),)


def test_intersect_permissions() -> None:
    wanted = nip46.parse_permissions("sign_event,nip44_encrypt,nip04_decrypt")
    allowed = nip46.parse_permissions("sign_event:1,sign_event:7,nip44_encrypt")
    got = nip46.intersect_permissions(wanted, allowed)
    assert nip46.format_permissions(got) == "nip44_encrypt,sign_event:1,sign_event:7"
    assert nip46.intersect_permissions(wanted, None) == wanted


# ---------------------------------------------------------------- URIs


def test_bunker_uri_round_trip_and_nostr_sdk() -> None:
    uri = nip46.BunkerUri(USER, ("wss://relay.nsec.app", "wss://r2.example/path?x=1"), "s&t=")
    text = str(uri)
    assert text.startswith(f"bunker://{USER}?relay=wss%3A%2F%2Frelay.nsec.app&")
    assert nip46.parse_bunker_uri(text) == uri
    assert "s&t=" not in repr(uri)
    sdk = SdkNostrConnectUri.parse(text)
    assert USER in str(sdk)


def test_bunker_uri_from_another_signer() -> None:
    parsed = nip46.parse_bunker_uri(f"BUNKER://{USER}?relay=wss://relay.damus.io")
    assert parsed == nip46.BunkerUri(USER, ("wss://relay.damus.io",), None)


@pytest.mark.parametrize(
    "uri",
    [
        None,
        "",
        f"nostrconnect://{USER}?relay=wss%3A%2F%2Fr.example&secret=x",
        f"bunker://{USER}",
        f"bunker://{USER}?secret=abc",
        f"bunker://{USER}?relay=https%3A%2F%2Fr.example",
        f"bunker://{USER}?relay=wss%3A%2F%2F",
        f"bunker://{USER}?relay=wss%3A%2F%2Fr.example%3Aport",
        f"bunker://{USER.upper()}?relay=wss%3A%2F%2Fr.example",
        "bunker://npub1xyz?relay=wss%3A%2F%2Fr.example",
        f"bunker://{USER}?relay=wss%3A%2F%2Fr.example&secret=" + "s" * 300,
    ],
)
def test_bad_bunker_uris(uri: object) -> None:
    with pytest.raises(InvalidPayloadError):
        nip46.parse_bunker_uri(uri)


def test_spec_nostrconnect_example() -> None:
    uri = nip46.parse_nostrconnect_uri(SPEC_NOSTRCONNECT)
    assert uri.client_pubkey == OTHER
    assert uri.relays == ("wss://relay1.example.com", "wss://relay2.example2.com")
    assert uri.secret == "0s8j2djs"
    assert uri.name == "My Client"
    assert nip46.format_permissions(uri.perms) == (
        "nip44_decrypt,nip44_encrypt,sign_event:13,sign_event:14,sign_event:1059"
    )
    assert nip46.parse_nostrconnect_uri(str(uri)) == uri


def test_nostrconnect_optional_fields_and_unsafe_urls() -> None:
    uri = nip46.NostrConnectUri(
        CLIENT,
        ("wss://r.example",),
        "sec",
        nip46.parse_permissions("sign_event:1"),
        name="App & Co",
        url="https://app.example",
        image="https://app.example/i.png",
    )
    assert nip46.parse_nostrconnect_uri(str(uri)) == uri
    hostile = (
        f"nostrconnect://{CLIENT}?relay=wss%3A%2F%2Fr.example&secret=s"
        "&url=javascript%3Aalert(1)&image=data%3Aimage%2Fpng%3Bbase64%2CAAAA"
    )
    parsed = nip46.parse_nostrconnect_uri(hostile)
    assert parsed.url is None and parsed.image is None


def test_nostrconnect_legacy_metadata_form() -> None:
    # The older text carried name and url in one URL-encoded `metadata` JSON parameter.
    meta = quote(json.dumps({"name": "Example", "url": "https://example.com"}), safe="")
    text = f"nostrconnect://{CLIENT}?relay=wss%3A%2F%2Fr.example&secret=s&metadata={meta}"
    parsed = nip46.parse_nostrconnect_uri(text)
    assert parsed.name == "Example" and parsed.url == "https://example.com"


@pytest.mark.parametrize(
    "uri",
    [
        f"nostrconnect://{CLIENT}?relay=wss%3A%2F%2Fr.example",  # no secret
        f"nostrconnect://{CLIENT}?secret=s",  # no relay
        f"nostrconnect://{CLIENT}?relay=ftp%3A%2F%2Fr.example&secret=s",
        f"bunker://{CLIENT}?relay=wss%3A%2F%2Fr.example&secret=s",
        f"nostrconnect://{CLIENT}?relay=wss%3A%2F%2Fr.example&secret=s&metadata=%5B1%5D",
        f"nostrconnect://{CLIENT}?relay=wss%3A%2F%2Fr.example&secret=s&metadata=%7Bx",
        "nostrconnect://abc?relay=wss%3A%2F%2Fr.example&secret=s",
    ],
)
def test_bad_nostrconnect_uris(uri: str) -> None:
    with pytest.raises(InvalidPayloadError):
        nip46.parse_nostrconnect_uri(uri)


relay_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}\.[a-z]{2,6}", fullmatch=True)
secrets_text = st.text(
    st.characters(min_codepoint=33, max_codepoint=0xD7FF), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(st.lists(relay_hosts, min_size=1, max_size=4, unique=True), secrets_text)
def test_uri_round_trips(hosts: list[str], secret: str) -> None:
    relays = tuple(f"wss://{h}" for h in hosts)
    bunker = nip46.BunkerUri(USER, relays, secret)
    assert nip46.parse_bunker_uri(str(bunker)) == bunker
    conn = nip46.NostrConnectUri(CLIENT, relays, secret, name=secret)
    assert nip46.parse_nostrconnect_uri(str(conn)) == conn
