"""NIP-46 (remote signing) messages, connection URIs and the permission grammar.

Pure parsing and building, no I/O. What travels inside a kind 24133 event's encrypted
content is a JSON-RPC-like object:

- request  `{"id": <string>, "method": <string>, "params": [<string>, ...]}`;
- response `{"id": <request id>, "result": <string>}` or `{"id": ..., "error": <string>}`;
  an auth challenge is `{"id": ..., "result": "auth_url", "error": <url>}`.

A response always carries a non-empty result or an error: nostr-tools waits forever on
an empty result without error, and rust-nostr reads `result` before `error`, so an error
reply carries no `result` key at all.

URIs: `bunker://<remote-signer-pubkey>?relay=...&secret=...` (made by the signer) and
`nostrconnect://<client-pubkey>?relay=...&secret=...&perms=...&name=...` (made by the
client). Permissions: `method[:param]` joined by commas, e.g. `sign_event:1,nip44_encrypt`;
only sign_event takes a parameter (an event kind).

`parse_request` checks the form every request shares and lets an unknown method through,
so that the signer can answer it with an error; `checked_request` then checks a known
method's arity and the form of its params (hex pubkeys, permission list, the sign_event
template), and `connect_params`, `cipher_params`, `sign_event_template` read them typed.

Errors are InvalidPayloadError; messages never quote secrets or decrypted content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .errors import InvalidEventError, InvalidPayloadError, InvalidRequestError
from .event import EventTemplate, template_from_dict

KIND = 24133

CONNECT = "connect"
GET_PUBLIC_KEY = "get_public_key"
SIGN_EVENT = "sign_event"
PING = "ping"
NIP04_ENCRYPT = "nip04_encrypt"
NIP04_DECRYPT = "nip04_decrypt"
NIP44_ENCRYPT = "nip44_encrypt"
NIP44_DECRYPT = "nip44_decrypt"
SWITCH_RELAYS = "switch_relays"
LOGOUT = "logout"

METHODS = frozenset(
    {
        CONNECT,
        GET_PUBLIC_KEY,
        SIGN_EVENT,
        PING,
        NIP04_ENCRYPT,
        NIP04_DECRYPT,
        NIP44_ENCRYPT,
        NIP44_DECRYPT,
        SWITCH_RELAYS,
        LOGOUT,
    }
)
# Methods a grant is about: the rest are allowed to every connected client.
GRANTABLE_METHODS = frozenset(
    {SIGN_EVENT, NIP04_ENCRYPT, NIP04_DECRYPT, NIP44_ENCRYPT, NIP44_DECRYPT}
)

ACK = "ack"
PONG = "pong"
AUTH_URL = "auth_url"

MAX_ID_LENGTH = 128
MAX_METHOD_LENGTH = 64
MAX_PARAMS = 16
MAX_SECRET_LENGTH = 256
MAX_RELAYS = 16
MAX_KIND = 65535
_METHOD = re.compile(r"^[a-z0-9_]{1,64}$")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Request:
    id: str
    method: str
    params: tuple[str, ...] = field(default=(), repr=False)  # plaintexts, connect secret

    def to_json(self) -> str:
        return _dumps({"id": self.id, "method": self.method, "params": list(self.params)})


@dataclass(frozen=True)
class Response:
    """A reply: `result`, or `error`, or both only for an auth challenge."""

    id: str
    result: str | None = field(default=None, repr=False)  # may be a decrypted plaintext
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.result and not self.error:
            raise InvalidPayloadError("a response needs a non-empty result or an error")
        if self.result and self.error and self.result != AUTH_URL:
            raise InvalidPayloadError("only an auth_url response carries result and error")

    @property
    def is_auth_url(self) -> bool:
        return self.result == AUTH_URL and bool(self.error)

    def to_json(self) -> str:
        data: dict[str, Any] = {"id": self.id}
        if self.result:
            data["result"] = self.result
        if self.error:
            data["error"] = self.error
        return _dumps(data)


def ok(request_id: str, result: str) -> Response:
    return Response(request_id, result=result)


def error(request_id: str, message: str) -> Response:
    return Response(request_id, error=message or "error")


def auth_challenge(request_id: str, url: str) -> Response:
    return Response(request_id, result=AUTH_URL, error=url)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(text: object) -> Any:
    if not isinstance(text, str):
        raise InvalidPayloadError("message must be JSON text")

    def no_constants(name: str) -> Any:
        raise InvalidPayloadError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=no_constants)
    except InvalidPayloadError:
        raise
    except (ValueError, RecursionError):
        raise InvalidPayloadError("message is not valid JSON") from None


def _message_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidPayloadError(f"id must be a string of 1 to {MAX_ID_LENGTH} characters")
    return value


def parse_request(text: object) -> Request:
    """A request from decrypted content; InvalidPayloadError names the first problem.

    Once the id is read, errors are InvalidRequestError carrying it, so the caller can
    answer with an error response. Unknown keys are ignored; `params` may be absent
    (some clients omit it for ping).
    """
    data = _loads(text)
    if not isinstance(data, dict):
        raise InvalidPayloadError("request must be a JSON object")
    request_id = _message_id(data.get("id"))
    # From here on the client can be told what is wrong with its request.
    method = data.get("method")
    if not isinstance(method, str) or not _METHOD.match(method):
        raise InvalidRequestError("method must be a short lowercase name", request_id)
    params = data.get("params", [])
    if not isinstance(params, list) or len(params) > MAX_PARAMS:
        raise InvalidRequestError(
            f"params must be an array of at most {MAX_PARAMS} strings", request_id
        )
    if not all(isinstance(p, str) for p in params):
        raise InvalidRequestError("params must be strings (JSON-stringify objects)", request_id)
    return Request(request_id, method, tuple(params))


def request_id_hint(text: object) -> str:
    """Best effort: the id of a request that fails to parse (so the error can name it)."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return ""
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
            return value
    return ""


def parse_response(text: object) -> Response:
    data = _loads(text)
    if not isinstance(data, dict):
        raise InvalidPayloadError("response must be a JSON object")
    response_id = _message_id(data.get("id"))
    result = data.get("result")
    error_text = data.get("error")
    if result is not None and not isinstance(result, str):
        raise InvalidPayloadError("result must be a string")
    if error_text is not None and not isinstance(error_text, str):
        raise InvalidPayloadError("error must be a string")
    return Response(response_id, result or None, error_text or None)


# method -> (fewest, most) params, per the NIP's method table
ARITY: dict[str, tuple[int, int]] = {
    CONNECT: (1, 3),
    SIGN_EVENT: (1, 1),
    PING: (0, 0),
    GET_PUBLIC_KEY: (0, 0),
    NIP04_ENCRYPT: (2, 2),
    NIP04_DECRYPT: (2, 2),
    NIP44_ENCRYPT: (2, 2),
    NIP44_DECRYPT: (2, 2),
    SWITCH_RELAYS: (0, 0),
    LOGOUT: (0, 0),
}
CIPHER_METHODS = frozenset({NIP04_ENCRYPT, NIP04_DECRYPT, NIP44_ENCRYPT, NIP44_DECRYPT})


def checked_request(request: Request) -> Request:
    """`request` if its method is known and its params have that method's form.

    InvalidRequestError (with the request id) otherwise. Requested permissions of a
    connect are read leniently, as `parse_nostrconnect_uri` does: an app asking for
    something we do not know still connects with the rest.
    """
    if request.method not in ARITY:
        raise InvalidRequestError(f"unsupported method {request.method}", request.id)
    fewest, most = ARITY[request.method]
    count = len(request.params)
    if not fewest <= count <= most:
        wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
        raise InvalidRequestError(
            f"{request.method} takes {wanted} params, got {count}", request.id
        )
    try:
        if request.method == CONNECT:
            _pubkey(request.params[0], "connect remote signer pubkey")
            parse_permissions(request.params[2] if count > 2 else None, strict=False)
        elif request.method in CIPHER_METHODS:
            _pubkey(request.params[0], f"{request.method} third-party pubkey")
        elif request.method == SIGN_EVENT:
            event_template(request.params[0])
    except InvalidPayloadError as exc:
        raise InvalidRequestError(str(exc), request.id) from None
    return request


@dataclass(frozen=True)
class ConnectParams:
    remote_signer_pubkey: str
    secret: str | None = field(default=None, repr=False)
    perms: tuple[Permission, ...] = ()


@dataclass(frozen=True)
class CipherParams:
    """The params of nip04/nip44 encrypt and decrypt."""

    third_party_pubkey: str
    text: str = field(repr=False)  # a plaintext to encrypt, or a ciphertext


def _of_method(request: Request, methods: frozenset[str]) -> Request:
    if request.method not in methods:
        raise InvalidRequestError(f"not a {' or '.join(sorted(methods))} request", request.id)
    return checked_request(request)


def connect_params(request: Request) -> ConnectParams:
    params = _of_method(request, frozenset({CONNECT})).params
    secret = params[1] if len(params) > 1 and params[1] else None
    perms = parse_permissions(params[2] if len(params) > 2 else None, strict=False)
    return ConnectParams(params[0], secret, perms)


def cipher_params(request: Request) -> CipherParams:
    params = _of_method(request, CIPHER_METHODS).params
    return CipherParams(params[0], params[1])


def event_template(param: str, *, pubkey: str | None = None) -> EventTemplate:
    """The template in a sign_event param: a JSON-stringified {kind, content, tags,
    created_at}. With `pubkey`, a template naming another pubkey is refused; without it,
    a named pubkey is only checked for form. An `id` or `sig` is always refused: we
    compute both (see `event.template_from_dict`)."""
    try:
        data = json.loads(param)
    except (ValueError, TypeError, RecursionError):
        raise InvalidPayloadError("sign_event param is not a JSON event template") from None
    if isinstance(data, dict) and "pubkey" in data and pubkey is None:
        given = data.pop("pubkey")
        _pubkey(given if isinstance(given, str) else "", "sign_event template pubkey")
    try:
        return template_from_dict(data, pubkey=pubkey)
    except InvalidEventError as exc:
        raise InvalidPayloadError(f"sign_event template: {exc}") from None


def sign_event_template(request: Request, *, pubkey: str) -> EventTemplate:
    """The template a sign_event request asks the identity `pubkey` to sign."""
    params = _of_method(request, frozenset({SIGN_EVENT})).params
    try:
        return event_template(params[0], pubkey=pubkey)
    except InvalidPayloadError as exc:
        raise InvalidRequestError(str(exc), request.id) from None


def is_nip04_payload(content: str) -> bool:
    """NIP-04 ciphertexts end in `?iv=<base64>`; NIP-44 payloads are plain base64."""
    return "?iv=" in content


# ---------------------------------------------------------------- permissions


@dataclass(frozen=True, order=True)
class Permission:
    """One NIP-46 permission: a method, and for sign_event optionally one event kind."""

    method: str
    kind: int | None = None

    def __str__(self) -> str:
        return self.method if self.kind is None else f"{self.method}:{self.kind}"

    def covers(self, method: str, kind: int | None) -> bool:
        """Whether this permission allows `method` (on an event of `kind`)."""
        if self.method != method:
            return False
        return self.kind is None or self.kind == kind


def parse_permissions(text: str | None, *, strict: bool = True) -> tuple[Permission, ...]:
    """`sign_event:1,nip44_encrypt` -> permissions, sorted and de-duplicated.

    strict (for what our own users type): unknown methods and bad parameters are errors.
    Lenient (for what a client asks): they are dropped, so an app asking for something
    we do not know still connects with the rest.
    """
    if text is None:
        return ()
    if not isinstance(text, str) or len(text) > 4096:
        raise InvalidPayloadError("permissions must be a string of at most 4096 characters")
    found: set[Permission] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        method, _, param = item.partition(":")
        method = method.strip()
        param = param.strip()
        if method not in GRANTABLE_METHODS:
            if strict:
                known = ", ".join(sorted(GRANTABLE_METHODS))
                raise InvalidPayloadError(f"unknown permission {method!r} (one of: {known})")
            continue
        kind: int | None = None
        if param:
            if method != SIGN_EVENT or not param.isdigit() or int(param) > MAX_KIND:
                if strict:
                    raise InvalidPayloadError(
                        f"permission {item!r}: only sign_event takes a parameter, "
                        f"an event kind between 0 and {MAX_KIND}"
                    )
                if method != SIGN_EVENT:
                    found.add(Permission(method))
                continue
            kind = int(param)
        found.add(Permission(method, kind))
    return tuple(sorted(found))


def format_permissions(perms: Iterable[Permission]) -> str:
    return ",".join(str(p) for p in sorted(set(perms)))


def permits(perms: Iterable[Permission], method: str, kind: int | None = None) -> bool:
    return any(p.covers(method, kind) for p in perms)


def intersect_permissions(
    requested: Sequence[Permission], allowed: Sequence[Permission] | None
) -> tuple[Permission, ...]:
    """What of `requested` falls within `allowed` (None: everything is allowed).

    `sign_event` (any kind) requested under an allowance of `sign_event:1,sign_event:7`
    yields exactly those kinds: the narrower side wins.
    """
    if allowed is None:
        return tuple(sorted(set(requested)))
    result: set[Permission] = set()
    for want in requested:
        for have in allowed:
            if want.method != have.method:
                continue
            if want.kind is None:
                result.add(have)
            elif have.kind is None or have.kind == want.kind:
                result.add(want)
    return tuple(sorted(result))


# ---------------------------------------------------------------- URIs


def _pubkey(value: str, what: str) -> str:
    if not _HEX_KEY.match(value):
        raise InvalidPayloadError(f"{what} must be 64 lowercase hex characters")
    return value


def _relay(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidPayloadError("relay must be a ws:// or wss:// URL") from None
    if parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        raise InvalidPayloadError("relay must be a ws:// or wss:// URL")
    return url.strip()


def _relays(values: Iterable[str]) -> tuple[str, ...]:
    relays = tuple(dict.fromkeys(_relay(v) for v in values))
    if not relays:
        raise InvalidPayloadError("a connection URI needs at least one relay")
    if len(relays) > MAX_RELAYS:
        raise InvalidPayloadError(f"at most {MAX_RELAYS} relays")
    return relays


def _secret(value: str | None) -> str | None:
    if value is None:
        return None
    if not value or len(value) > MAX_SECRET_LENGTH:
        raise InvalidPayloadError(f"secret must be 1 to {MAX_SECRET_LENGTH} characters")
    return value


def _split(uri: object, scheme: str) -> tuple[str, dict[str, list[str]]]:
    if not isinstance(uri, str) or len(uri) > 8192:
        raise InvalidPayloadError(f"not a {scheme}:// URI")
    prefix = f"{scheme}://"
    if not uri.lower().startswith(prefix):
        raise InvalidPayloadError(f"not a {scheme}:// URI")
    rest = uri[len(prefix) :]
    pubkey, _, query = rest.partition("?")
    return pubkey.rstrip("/"), parse_qs(query, keep_blank_values=False)


def _query(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs)


def _one(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


@dataclass(frozen=True)
class BunkerUri:
    """`bunker://`: made by the remote signer, pasted into a client."""

    remote_signer_pubkey: str
    relays: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _pubkey(self.remote_signer_pubkey, "remote signer pubkey")
        _relays(self.relays)
        _secret(self.secret)

    def __str__(self) -> str:
        pairs = [("relay", r) for r in self.relays]
        if self.secret is not None:
            pairs.append(("secret", self.secret))
        return f"bunker://{self.remote_signer_pubkey}?{_query(pairs)}"


def parse_bunker_uri(uri: object) -> BunkerUri:
    pubkey, params = _split(uri, "bunker")
    return BunkerUri(
        remote_signer_pubkey=_pubkey(pubkey, "remote signer pubkey"),
        relays=_relays(params.get("relay", [])),
        secret=_secret(_one(params, "secret")),
    )


@dataclass(frozen=True)
class NostrConnectUri:
    """`nostrconnect://`: made by a client, handed to the remote signer (scanned, pasted)."""

    client_pubkey: str
    relays: tuple[str, ...]
    secret: str = field(repr=False)
    perms: tuple[Permission, ...] = ()
    name: str | None = None
    url: str | None = None
    image: str | None = None

    def __post_init__(self) -> None:
        _pubkey(self.client_pubkey, "client pubkey")
        _relays(self.relays)
        _secret(self.secret)

    def __str__(self) -> str:
        pairs = [("relay", r) for r in self.relays]
        pairs.append(("secret", self.secret))
        if self.perms:
            pairs.append(("perms", format_permissions(self.perms)))
        for key in ("name", "url", "image"):
            value = getattr(self, key)
            if value:
                pairs.append((key, value))
        return f"nostrconnect://{self.client_pubkey}?{_query(pairs)}"


def _metadata(params: dict[str, list[str]]) -> dict[str, Any]:
    """The older form carried name/url/perms in one `metadata` JSON parameter."""
    raw = _one(params, "metadata")
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidPayloadError("metadata must be a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidPayloadError("metadata must be a JSON object")
    return data


def _short_text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value[:limit]


def _web_url(value: object, limit: int = 500) -> str | None:
    """An http(s) URL, else None: the app's url and image end up in front of an operator,
    so a javascript: or data: URL is dropped rather than shown (or linked)."""
    text = _short_text(value, limit)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


def parse_nostrconnect_uri(uri: object) -> NostrConnectUri:
    pubkey, params = _split(uri, "nostrconnect")
    metadata = _metadata(params)
    secret = _one(params, "secret")
    if secret is None:
        raise InvalidPayloadError("a nostrconnect:// URI must carry a secret")
    perms_text = _one(params, "perms")
    if perms_text is None and isinstance(metadata.get("perms"), str):
        perms_text = metadata["perms"]
    return NostrConnectUri(
        client_pubkey=_pubkey(pubkey, "client pubkey"),
        relays=_relays(params.get("relay", [])),
        secret=secret,
        perms=parse_permissions(perms_text, strict=False),
        name=_short_text(_one(params, "name") or metadata.get("name"), 200),
        url=_web_url(_one(params, "url") or metadata.get("url")),
        image=_web_url(_one(params, "image") or metadata.get("image")),
    )


__all__ = [
    "ACK",
    "ARITY",
    "AUTH_URL",
    "CIPHER_METHODS",
    "GRANTABLE_METHODS",
    "KIND",
    "METHODS",
    "PONG",
    "BunkerUri",
    "CipherParams",
    "ConnectParams",
    "NostrConnectUri",
    "Permission",
    "Request",
    "Response",
    "auth_challenge",
    "checked_request",
    "cipher_params",
    "connect_params",
    "error",
    "event_template",
    "format_permissions",
    "intersect_permissions",
    "is_nip04_payload",
    "ok",
    "parse_bunker_uri",
    "parse_nostrconnect_uri",
    "parse_permissions",
    "parse_request",
    "parse_response",
    "permits",
    "request_id_hint",
    "sign_event_template",
]
