"""Bad input over HTTP: each case gets its documented 4xx and changes nothing in the store.

The store is dumped (every row of every table) before and after each request. The only
allowed difference is a `denied` audit record for a 403: refusals of an authenticated
caller are audited by design (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ..store.databases import dump_tables
from .conftest import BODY_LIMIT, Server

HEX_PEER = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"


class Setup:
    def __init__(self, server: Server) -> None:
        self.server = server
        admin = server.admin
        self.mine = admin.post("/v1/identities", json={"threshold": 2, "participants": 3}).json()
        self.other = admin.post("/v1/identities", json={"threshold": 2, "participants": 3}).json()
        app = admin.post(
            "/v1/tokens",
            json={
                "name": "scoped",
                "role": "app",
                "scopes": {"identities": [self.mine["id"]], "kinds": [1]},
            },
        ).json()
        self.app_token = app["token"]
        self.signed = admin.post(
            f"/v1/identities/{self.mine['id']}/sign",
            json={"kind": 1, "content": "x", "created_at": 1000},
        ).json()


def raw(client: httpx.Client, method: str, path: str, content: bytes) -> httpx.Response:
    return client.request(
        method, path, content=content, headers={"Content-Type": "application/json"}
    )


def chunked(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        piece = min(8192, size - sent)
        sent += piece
        yield b" " * piece


Case = Callable[[Server, Setup], httpx.Response]


def sign_path(s: Setup, which: str = "mine") -> str:
    return f"/v1/identities/{getattr(s, which)['id']}/sign"


CASES: list[tuple[str, Case, int, str]] = [
    (
        "malformed JSON",
        lambda v, s: raw(v.admin, "POST", sign_path(s), b'{"kind": 1,'),
        400,
        "bad_request",
    ),
    ("JSON array body", lambda v, s: v.admin.post(sign_path(s), json=[1, 2]), 400, "bad_request"),
    (
        "NaN literal",
        lambda v, s: raw(v.admin, "POST", sign_path(s), b'{"kind": NaN}'),
        400,
        "bad_request",
    ),
    ("empty body", lambda v, s: raw(v.admin, "POST", sign_path(s), b""), 400, "bad_request"),
    (
        "not UTF-8",
        lambda v, s: raw(v.admin, "POST", sign_path(s), b'{"content":"\xff"}'),
        400,
        "bad_request",
    ),
    (
        "kind as string",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": "1"}),
        400,
        "bad_request",
    ),
    (
        "kind out of range",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 70000}),
        400,
        "bad_request",
    ),
    (
        "content as number",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "content": 5}),
        400,
        "bad_request",
    ),
    (
        "tags not arrays",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "tags": ["t"]}),
        400,
        "bad_request",
    ),
    (
        "tag with a number",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "tags": [["t", 1]]}),
        400,
        "bad_request",
    ),
    (
        "unknown field",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "extra": 1}),
        400,
        "bad_request",
    ),
    (
        "created_at negative",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "created_at": -1}),
        400,
        "bad_request",
    ),
    (
        "created_at float",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "created_at": 1.5}),
        400,
        "bad_request",
    ),
    (
        "pubkey disagrees",
        lambda v, s: v.admin.post(sign_path(s), json={"kind": 1, "pubkey": s.other["pubkey"]}),
        400,
        "bad_request",
    ),
    (
        "id disagrees",
        lambda v, s: v.admin.post(sign_path(s), json={**_template(s.signed), "content": "changed"}),
        400,
        "bad_request",
    ),
    (
        "sig disagrees",
        lambda v, s: v.admin.post(sign_path(s), json={**_template(s.signed), "sig": "00" * 64}),
        400,
        "bad_request",
    ),
    (
        "batch with one bad event",
        lambda v, s: v.admin.post(
            sign_path(s) + "-batch", json={"events": [{"kind": 1}, {"kind": -1}]}
        ),
        400,
        "bad_request",
    ),
    (
        "empty batch",
        lambda v, s: v.admin.post(sign_path(s) + "-batch", json={"events": []}),
        400,
        "bad_request",
    ),
    (
        "threshold as string",
        lambda v, s: v.admin.post("/v1/identities", json={"threshold": "2"}),
        400,
        "bad_request",
    ),
    (
        "threshold too high",
        lambda v, s: v.admin.post("/v1/identities", json={"threshold": 4, "participants": 3}),
        400,
        "bad_request",
    ),
    (
        "participants too many",
        lambda v, s: v.admin.post("/v1/identities", json={"threshold": 2, "participants": 9}),
        400,
        "bad_request",
    ),
    (
        "peer key not hex",
        lambda v, s: v.admin.post(
            sign_path(s)[:-5] + "/nip44/encrypt", json={"pubkey": "zz", "plaintext": "x"}
        ),
        400,
        "bad_request",
    ),
    (
        "peer key off curve",
        lambda v, s: v.admin.post(
            sign_path(s)[:-5] + "/nip04/encrypt", json={"pubkey": "ff" * 32, "plaintext": "x"}
        ),
        400,
        "bad_request",
    ),
    (
        "plaintext missing",
        lambda v, s: v.admin.post(sign_path(s)[:-5] + "/nip44/encrypt", json={"pubkey": HEX_PEER}),
        400,
        "bad_request",
    ),
    (
        "token role unknown",
        lambda v, s: v.admin.post("/v1/tokens", json={"role": "root"}),
        400,
        "bad_request",
    ),
    (
        "token scope method unknown",
        lambda v, s: v.admin.post(
            "/v1/tokens", json={"role": "app", "scopes": {"methods": ["sing"]}}
        ),
        400,
        "bad_request",
    ),
    (
        "oversize body",
        lambda v, s: raw(v.admin, "POST", sign_path(s), b" " * (BODY_LIMIT + 1)),
        413,
        "payload_too_large",
    ),
    (
        "oversize chunked body",
        lambda v, s: v.admin.post(sign_path(s), content=chunked(BODY_LIMIT + 10)),
        413,
        "payload_too_large",
    ),
    (
        "no token",
        lambda v, s: v.client().post(sign_path(s), json={"kind": 1}),
        401,
        "unauthenticated",
    ),
    (
        "wrong token",
        lambda v, s: v.client("np_" + "A" * 43).post(sign_path(s), json={"kind": 1}),
        401,
        "unauthenticated",
    ),
    (
        "not a bearer token",
        lambda v, s: v.client().get("/v1/identities", headers={"Authorization": "Basic eDp5"}),
        401,
        "unauthenticated",
    ),
    (
        "unknown identity",
        lambda v, s: v.admin.post("/v1/identities/id_00000000000000000000/sign", json={"kind": 1}),
        404,
        "not_found",
    ),
    (
        "unknown identity show",
        lambda v, s: v.admin.get("/v1/identities/id_missing"),
        404,
        "not_found",
    ),
    ("unknown route", lambda v, s: v.admin.get("/v1/nothing"), 404, "not_found"),
    ("wrong method", lambda v, s: v.admin.put("/v1/identities"), 405, "method_not_allowed"),
    (
        "app: other identity",
        lambda v, s: v.client(s.app_token).post(sign_path(s, "other"), json={"kind": 1}),
        403,
        "forbidden",
    ),
    (
        "app: other kind",
        lambda v, s: v.client(s.app_token).post(sign_path(s), json={"kind": 4}),
        403,
        "forbidden",
    ),
    (
        "app: management route",
        lambda v, s: v.client(s.app_token).post("/v1/identities", json={}),
        403,
        "forbidden",
    ),
    (
        "app: delete",
        lambda v, s: v.client(s.app_token).delete(f"/v1/identities/{s.mine['id']}"),
        403,
        "forbidden",
    ),
]


def _template(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in ("kind", "content", "tags", "created_at", "pubkey", "id")}


@pytest.fixture
def setup(server: Server) -> Setup:
    return Setup(server)


def test_bad_input_table(server: Server, setup: Setup) -> None:
    store = server.harness.store
    failures = []
    for name, case, status, code in CASES:
        before = dump_tables(store)
        response = case(server, setup)
        after = dump_tables(store)
        body = response.json()
        if response.status_code != status or body.get("error") != code or not body.get("message"):
            failures.append(f"{name}: {response.status_code} {body}")
            continue
        new_audit = [row for row in after["audit_log"] if row not in before["audit_log"]]
        allowed_audit = status == 403 and all(row[6] == "denied" for row in new_audit)
        if new_audit and not allowed_audit:
            failures.append(f"{name}: unexpected audit records {new_audit}")
        del before["audit_log"], after["audit_log"]
        if before != after:
            failures.append(f"{name}: store changed")
    assert not failures, "\n".join(failures)
    # the identities still sign after all that
    ok = server.admin.post(sign_path(setup), json={"kind": 1, "content": "still fine"})
    assert ok.status_code == 200
