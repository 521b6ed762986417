"""The signer as its own process: the SignerClient operations over HTTP, signed both ways.

Every operation is `POST /v1/<operation>` with a JSON body (signer/wire.py) and the
request-signing headers of signer/http_auth.py; every reply, errors included, carries
the signer's signature. `GET /healthz` is the one unauthenticated route, for process
supervisors; it says only whether the signer is healthy.

Nothing here opens a provider at import time: `serve_signer` opens it inside the
serving process (PKCS#11 modules must be loaded after any fork).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nostr_passport.errors import BadRequestError, PassportError, PayloadTooLargeError
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.signer.error_codes import error_body, status_of
from nostr_passport.signer.http_auth import (
    DEFAULT_WINDOW_SECONDS,
    HEADER_NONCE,
    HEADER_RESPONSE_SIGNATURE,
    RequestVerifier,
    public_key_bytes,
    response_signature,
)
from nostr_passport.signer.lifecycle_wire import (
    DealImportedArgs,
    DkgBytes,
    DkgMessageArgs,
    DkgStep1Args,
    RefreshDealArgs,
    RefreshReceiveArgs,
    ReshapeDealArgs,
    ReshapeReceiveArgs,
)
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.wire import (
    CommitmentsArgs,
    DealIdentityArgs,
    DeleteShareArgs,
    EcdhArgs,
    ExportShareArgs,
    IdentityArgs,
    NoArgs,
    PartialSignArgs,
    ReceiveShareArgs,
    dumps,
    loads,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
JSON = "application/json"


@dataclass(frozen=True)
class _Operation:
    args: type
    call: Callable[[LocalSigner, Any], Any]


def _delete(signer: LocalSigner, a: DeleteShareArgs) -> dict[str, Any]:
    signer.delete_share(a.identity_id, a.epoch)
    return {}


OPERATIONS: dict[str, _Operation] = {
    "info": _Operation(NoArgs, lambda s, a: s.info()),
    "health": _Operation(NoArgs, lambda s, a: {"ok": s.health()}),
    "deal_identity": _Operation(
        DealIdentityArgs, lambda s, a: s.deal_identity(a.identity_id, a.threshold, a.slots, a.epoch)
    ),
    "receive_share": _Operation(
        ReceiveShareArgs,
        lambda s, a: s.receive_share(
            a.identity_id,
            a.participant,
            a.epoch,
            a.threshold,
            a.group_pubkey,
            a.vss_commitments,
            a.blob,
            a.participants,
        ),
    ),
    "commitments": _Operation(
        CommitmentsArgs, lambda s, a: {"commitments": s.commitments(a.count)}
    ),
    "partial_sign": _Operation(
        PartialSignArgs, lambda s, a: {"partial_signatures": s.partial_sign(a.requests)}
    ),
    "ecdh_share": _Operation(EcdhArgs, lambda s, a: s.ecdh_share(a.request)),
    "attest": _Operation(IdentityArgs, lambda s, a: s.attest(a.identity_id)),
    "held_share": _Operation(IdentityArgs, lambda s, a: s.held_share(a.identity_id)),
    "export_share": _Operation(
        ExportShareArgs,
        lambda s, a: {"blob": s.export_share(a.identity_id, a.recipient_transport_key)},
    ),
    "delete_share": _Operation(DeleteShareArgs, _delete),
    "deal_imported_identity": _Operation(
        DealImportedArgs,
        lambda s, a: s.deal_identity(
            a.identity_id, a.threshold, a.slots, a.epoch, wrapped_secret=a.wrapped_secret
        ),
    ),
    "dkg_host_pubkey": _Operation(NoArgs, lambda s, a: DkgBytes(s.dkg_host_pubkey())),
    "dkg_step1": _Operation(
        DkgStep1Args,
        lambda s, a: DkgBytes(s.dkg_step1(a.identity_id, a.hostpubkeys, a.threshold)),
    ),
    "dkg_step2": _Operation(
        DkgMessageArgs, lambda s, a: DkgBytes(s.dkg_step2(a.identity_id, a.message))
    ),
    "dkg_finalize": _Operation(
        DkgMessageArgs, lambda s, a: s.dkg_finalize(a.identity_id, a.message)
    ),
    "rotate_kek": _Operation(NoArgs, lambda s, a: s.rotate_kek()),
    "refresh_deal": _Operation(
        RefreshDealArgs,
        lambda s, a: s.refresh_deal(a.identity_id, a.from_epoch, a.to_epoch, a.slots),
    ),
    "refresh_receive": _Operation(
        RefreshReceiveArgs,
        lambda s, a: s.refresh_receive(
            a.identity_id, a.from_epoch, a.to_epoch, a.deals, a.participants
        ),
    ),
    "reshape_deal": _Operation(
        ReshapeDealArgs,
        lambda s, a: s.reshape_deal(
            a.identity_id, a.from_epoch, a.to_epoch, a.quorum, a.new_threshold, a.slots
        ),
    ),
    "reshape_receive": _Operation(
        ReshapeReceiveArgs,
        lambda s, a: s.reshape_receive(
            a.identity_id,
            a.to_epoch,
            a.participant,
            a.new_threshold,
            a.new_participants,
            a.group_pubkey,
            a.deals,
        ),
    ),
}


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_signer_app(
    signer: LocalSigner,
    allowed_coordinator_keys: Collection[bytes],
    signer_key: Ed25519PrivateKey,
    *,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """The signer's HTTP app. Coordinator keys are raw 32-byte Ed25519 public keys."""
    verifier = RequestVerifier(
        signer.signer_id,
        allowed_coordinator_keys,
        signer.store.remember_request_nonce,
        window_seconds=window_seconds,
    )

    def signed(request_nonce: str, status: int, payload: bytes) -> Response:
        signature = response_signature(signer_key, request_nonce, status, payload)
        return Response(
            payload,
            status_code=status,
            media_type=JSON,
            headers={HEADER_RESPONSE_SIGNATURE: signature},
        )

    async def operation(request: Request) -> Response:
        request_nonce = request.headers.get(HEADER_NONCE, "")
        name = request.path_params["operation"]
        try:
            body = await _body(request, max_body_bytes)
            await run_in_threadpool(
                verifier.verify, request.method, request.url.path, request.headers, body
            )
            op = OPERATIONS.get(name)
            if op is None:
                raise BadRequestError(f"unknown signer operation {name!r}")
            args: Any = loads(body, op.args)
            result = await run_in_threadpool(op.call, signer, args)
            return signed(request_nonce, 200, dumps(result))
        except Exception as exc:
            status = status_of(exc)
            if status >= 500:
                # Our messages carry no secrets; a foreign exception's might, so only its type.
                detail = str(exc) if isinstance(exc, PassportError) else type(exc).__name__
                log.error("signer %s: %s failed: %s", signer.signer_id, name, detail)
            payload = json.dumps(error_body(exc), separators=(",", ":")).encode()
            return signed(request_nonce, status, payload)

    async def healthz(request: Request) -> Response:
        ok = await run_in_threadpool(signer.health)
        return Response(
            json.dumps({"ok": ok}).encode(), status_code=200 if ok else 503, media_type=JSON
        )

    return Starlette(
        routes=[
            Route("/v1/{operation}", operation, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


# ---------------------------------------------------------------- serving


@dataclass(frozen=True)
class SignerServerConfig:
    signer_id: str
    provider: ProviderConfig
    state_dir: Path
    allowed_coordinator_keys: tuple[bytes, ...]
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (reported through on_ready)
    production: bool = False
    nonce_batch_size: int = 100
    window_seconds: int = DEFAULT_WINDOW_SECONDS


@dataclass(frozen=True)
class ServingSigner:
    """What `serve_signer` reports once it listens: where, and the key replies are signed with."""

    host: str
    port: int
    signer_public_key: bytes


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BadRequestError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def serve_signer(
    config: SignerServerConfig, on_ready: Callable[[ServingSigner], None] | None = None
) -> None:
    """Open the provider in THIS process, then serve until interrupted (one process)."""
    import uvicorn

    provider = open_provider(config.provider)
    try:
        signer = LocalSigner(
            config.signer_id,
            provider,
            config.state_dir,
            nonce_batch_size=config.nonce_batch_size,
            production=config.production,
        )
    except BaseException:
        provider.close()
        raise
    try:
        key = signer.response_signing_key()
        app = create_signer_app(
            signer,
            config.allowed_coordinator_keys,
            key,
            window_seconds=config.window_seconds,
        )
        sock = _listening_socket(config.host, config.port)
        host, port = sock.getsockname()[:2]
        if on_ready is not None:
            on_ready(ServingSigner(host, port, public_key_bytes(key)))
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        server.run(sockets=[sock])
    finally:
        signer.close()
