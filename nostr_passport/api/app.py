"""The FastAPI application: routes, the error mapping, body limit, request ids, OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

import nostr_passport
from nostr_passport.config import default_data_dir
from nostr_passport.ops.cost import PRICING_FILE_NAME, load_pricing
from nostr_passport.ops.gateway import instrument
from nostr_passport.service.ceremonies import Ceremonies, CeremonyPolicy
from nostr_passport.service.passport import Passport

from . import (
    routes_audit,
    routes_ceremonies,
    routes_console,
    routes_health,
    routes_identities,
    routes_ops,
    routes_signers,
    routes_tokens,
    routes_use,
)
from .body_limit import BodyLimitMiddleware
from .errors import install_error_handlers
from .metrics_middleware import MetricsMiddleware
from .models import (
    BackupBody,
    CreateIdentityBody,
    CreateTokenBody,
    DecryptBody,
    EncryptBody,
    EventTemplateBody,
    RotateKekBody,
    SignBatchBody,
)
from .request import RequestIdMiddleware

BODY_MODELS: tuple[type[BaseModel], ...] = (
    CreateIdentityBody,
    EventTemplateBody,
    SignBatchBody,
    EncryptBody,
    DecryptBody,
    CreateTokenBody,
    BackupBody,
    RotateKekBody,
)


def create_app(
    passport: Passport,
    *,
    max_body_bytes: int = 256 * 1024,
    ceremony_policy: CeremonyPolicy | None = None,
    pricing_file: Path | None = None,
) -> FastAPI:
    """The app over `passport`; `pricing_file`: the cost table (ops/cost.py), by default
    pricing.toml in the default data directory, if it exists."""
    app = FastAPI(
        title="NostrPassport",
        version=nostr_passport.__version__,
        summary="Threshold (FROST) + HSM custody for Nostr identities",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.passport = passport
    pricing = load_pricing(pricing_file or default_data_dir() / PRICING_FILE_NAME)
    app.state.ops_metrics = instrument(passport, pricing)  # before anything keeps .audit
    if ceremony_policy is not None:
        app.state.ceremonies = Ceremonies(passport, policy=ceremony_policy)
    install_error_handlers(app)
    for router in (
        routes_health.router,
        routes_identities.router,
        routes_use.router,
        routes_tokens.router,
        routes_ceremonies.router,
        routes_signers.router,
        routes_audit.router,
        routes_ops.router,
        routes_console.router,  # the operator page /ops (not in the OpenAPI document)
    ):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.ops_metrics)
    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """Add the request body models (parsed by hand, after auth) to the OpenAPI components."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in BODY_MODELS:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        schema["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "np_... API token"}
        }
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
