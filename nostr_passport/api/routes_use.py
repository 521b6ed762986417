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


@router.post(
    "/nip44/encrypt",
    summary="NIP-44 v2 encrypt to a peer",
    openapi_extra=body_schema(EncryptBody),
)
async def nip44_encrypt(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(EncryptBody, await json_body(request))
    passport = passport_of(request)
    ciphertext = await run_in_threadpool(
        lambda: passport.nip44_encrypt(
            principal, identity_id, body.pubkey, body.plaintext, request_id=request_id_of(request)
        )
    )
    return {"ciphertext": ciphertext}


@router.post(
    "/nip44/decrypt",
    summary="NIP-44 v2 decrypt from a peer",
    openapi_extra=body_schema(DecryptBody),
)
async def nip44_decrypt(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(DecryptBody, await json_body(request))
    passport = passport_of(request)
    plaintext = await run_in_threadpool(
        lambda: passport.nip44_decrypt(
            principal, identity_id, body.pubkey, body.ciphertext, request_id=request_id_of(request)
        )
    )
    return {"plaintext": plaintext}


@router.post(
    "/nip04/encrypt",
    summary="NIP-04 encrypt to a peer (legacy; prefer NIP-44)",
    openapi_extra=body_schema(EncryptBody),
)
async def nip04_encrypt(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(EncryptBody, await json_body(request))
    passport = passport_of(request)
    ciphertext = await run_in_threadpool(
        lambda: passport.nip04_encrypt(
            principal, identity_id, body.pubkey, body.plaintext, request_id=request_id_of(request)
        )
    )
    return {"ciphertext": ciphertext}


@router.post(
    "/nip04/decrypt",
    summary="NIP-04 decrypt from a peer (legacy)",
    openapi_extra=body_schema(DecryptBody),
)
async def nip04_decrypt(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(DecryptBody, await json_body(request))
    passport = passport_of(request)
    plaintext = await run_in_threadpool(
        lambda: passport.nip04_decrypt(
            principal, identity_id, body.pubkey, body.ciphertext, request_id=request_id_of(request)
        )
    )
    return {"plaintext": plaintext}
