"""Using an identity: sign events, NIP-44 and NIP-04 encryption by threshold ECDH."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from .models import DecryptBody, EncryptBody, EventTemplateBody, SignBatchBody
from .request import body_schema, json_body, passport_of, principal_of, request_id_of, validated

router = APIRouter(prefix="/v1/identities/{identity_id}", tags=["signing"])


@router.post(
    "/sign",
    summary="Sign one event template; returns the signed NIP-01 event",
    openapi_extra=body_schema(EventTemplateBody),
)
async def sign(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    data = await json_body(request)
    validated(EventTemplateBody, data)  # types first; the service checks meaning
    passport = passport_of(request)
    events = await run_in_threadpool(
        lambda: passport.sign_events(
            principal, identity_id, [data], request_id=request_id_of(request)
        )
    )
    return events[0]


@router.post(
    "/sign-batch",
    summary="Sign many templates in one round (each event its own nonce)",
    openapi_extra=body_schema(SignBatchBody),
)
async def sign_batch(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    data = await json_body(request)
    validated(SignBatchBody, data)
    passport = passport_of(request)
    events = await run_in_threadpool(
        lambda: passport.sign_events(
            principal, identity_id, data["events"], request_id=request_id_of(request)
        )
    )
    return {"events": events}


def _cipher_route(operation: str, summary: str, encrypt: bool) -> None:
    """POST /{nip44|nip04}/{encrypt|decrypt}: the four differ only in what they call and
    which field goes in and comes out (plaintext <-> ciphertext)."""
    version, direction = operation.split("_")
    model: type[EncryptBody] | type[DecryptBody] = EncryptBody if encrypt else DecryptBody
    given, returned = ("plaintext", "ciphertext") if encrypt else ("ciphertext", "plaintext")

    async def handler(request: Request, identity_id: str) -> dict[str, Any]:
        principal = await principal_of(request)
        body = validated(model, await json_body(request))
        passport = passport_of(request)
        run = getattr(passport, operation)
        result = await run_in_threadpool(
            lambda: run(
                principal,
                identity_id,
                body.pubkey,
                getattr(body, given),
                request_id=request_id_of(request),
            )
        )
        return {returned: result}

    handler.__name__ = operation  # the OpenAPI operation id
    router.post(f"/{version}/{direction}", summary=summary, openapi_extra=body_schema(model))(
        handler
    )


_cipher_route("nip44_encrypt", "NIP-44 v2 encrypt to a peer", encrypt=True)
_cipher_route("nip44_decrypt", "NIP-44 v2 decrypt from a peer", encrypt=False)
_cipher_route("nip04_encrypt", "NIP-04 encrypt to a peer (legacy; prefer NIP-44)", encrypt=True)
_cipher_route("nip04_decrypt", "NIP-04 decrypt from a peer (legacy)", encrypt=False)
