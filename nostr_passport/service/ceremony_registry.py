"""What a ceremony can run: operations, their parameter checks and their executors.

Modules that own a sensitive operation register it here (`register_executor`); the
ceremony service runs the executor only once the quorum is reached. An executor gets the
executing admin's principal, the ceremony's public parameters and, for operations that
declare `needs_material`, the material presented at execute time, already checked
against the `material_sha256` the approvers saw. It returns an ExecutionResult: a public
part (stored on the ceremony and in the audit log) and a `once` part (returned to the
executing caller only, e.g. a new token: never stored).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nostr_passport.errors import BadRequestError

from .ceremony_errors import SecretInParamsError

if TYPE_CHECKING:
    from .access import Principal
    from .passport import Passport

# The sensitive operations the design names (section 4.7), one name each everywhere: the
# registry, the executors, the config's [ceremonies.required] table and the audit log.
# Each needs an executor registered by the module that implements it before it can be
# proposed (tests/ceremonies check that every one of them is registered).
RESTORE_IDENTITY = "restore_identity"
DELETE_IDENTITY = "delete_identity"
IMPORT_IDENTITY = "import_identity"
MIGRATE_PARTICIPANT = "migrate_participant"  # provider migration, one share at a time
MIGRATE_SIGNER = "migrate_signer"  # every share of a signer to another: then retire it
DESTROY_KEK = "destroy_kek"  # KEK rotation: new KEK, rewrap, destroy the old one
RESHAPE_IDENTITY = "reshape_identity"  # threshold or signer-set change
CREATE_ADMIN_TOKEN = "create_admin_token"  # noqa: S105 - an operation name
SENSITIVE_OPERATIONS = (
    RESTORE_IDENTITY,
    DELETE_IDENTITY,
    IMPORT_IDENTITY,
    MIGRATE_PARTICIPANT,
    MIGRATE_SIGNER,
    DESTROY_KEK,
    RESHAPE_IDENTITY,
    CREATE_ADMIN_TOKEN,
)

MATERIAL_HASH_PARAM = "material_sha256"
_OPERATION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Parameter names and values that betray a secret. Parameters are stored, shown to every
# admin and auditor and hashed into the audit log, so a secret there would be published.
_SECRET_WORDS = frozenset(
    {
        "secret",
        "token",
        "password",
        "passphrase",
        "nsec",
        "ncryptsec",
        "private",
        "privkey",
        "seckey",
        "seed",
        "pin",
        "mnemonic",
        "material",
    }
)
_SECRET_VALUES = ("np_", "nsec1", "ncryptsec1")
_ALLOWED_SECRET_LIKE_NAMES = frozenset({"token_name", "token_id", MATERIAL_HASH_PARAM})
MAX_PARAMS_BYTES = 8 * 1024


@dataclass(frozen=True)
class Execution:
    """Everything an executor may use. `material` is None unless the operation needs it."""

    passport: Passport
    principal: Principal  # the admin who asked to execute (the audit log names them)
    ceremony_id: str
    tenant_id: str
    params: Mapping[str, Any]
    material: bytes | None
    request_id: str


@dataclass(frozen=True)
class ExecutionResult:
    public: dict[str, Any] = field(default_factory=dict)  # stored and audited
    once: dict[str, Any] = field(default_factory=dict)  # returned once, stored nowhere

    def __repr__(self) -> str:
        return f"ExecutionResult(public={self.public!r})"


Executor = Callable[[Execution], ExecutionResult]
ParamsCheck = Callable[[Mapping[str, Any]], dict[str, Any]]


def _no_params_check(params: Mapping[str, Any]) -> dict[str, Any]:
    return dict(params)


@dataclass(frozen=True)
class OperationSpec:
    name: str
    executor: Executor
    check_params: ParamsCheck = _no_params_check  # returns the normalised params or raises 400
    needs_material: bool = False
    identity_param: str | None = None  # which param names an identity (scope checks, audit)


class CeremonyRegistry:
    """Operations by name. One per process by default (REGISTRY); tests build their own."""

    def __init__(self) -> None:
        self._specs: dict[str, OperationSpec] = {}

    def register(self, spec: OperationSpec) -> None:
        if not _OPERATION_NAME.match(spec.name):
            raise ValueError(f"operation name {spec.name!r} must match {_OPERATION_NAME.pattern}")
        self._specs[spec.name] = spec

    def spec(self, operation: str) -> OperationSpec:
        found = self._specs.get(operation)
        if found is None:
            known = ", ".join(sorted(self._specs)) or "none"
            raise BadRequestError(
                f"operation {operation!r} cannot be run by a ceremony here (registered: {known})"
            )
        return found

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(sorted(self._specs))


REGISTRY = CeremonyRegistry()


def register_executor(
    operation: str,
    fn: Executor,
    *,
    check_params: ParamsCheck | None = None,
    needs_material: bool = False,
    identity_param: str | None = None,
    registry: CeremonyRegistry = REGISTRY,
) -> None:
    """Make `operation` runnable by ceremonies: `fn` runs once its quorum is reached."""
    registry.register(
        OperationSpec(
            name=operation,
            executor=fn,
            check_params=check_params or _no_params_check,
            needs_material=needs_material,
            identity_param=identity_param,
        )
    )


def checked_params(spec: OperationSpec, params: object) -> dict[str, Any]:
    """The operation's normalised public parameters, or 400 (secrets are refused outright)."""
    if not isinstance(params, Mapping):
        raise BadRequestError("params must be a JSON object")
    refuse_secrets(params)
    normalised = spec.check_params(params)
    if spec.needs_material:
        digest = normalised.get(MATERIAL_HASH_PARAM)
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise BadRequestError(
                f"{spec.name} needs params.{MATERIAL_HASH_PARAM}: the SHA-256 (64 lowercase hex)"
                " of the material presented at execute time"
            )
    from nostr_passport.store.canonical import canonical_json_bytes

    try:
        size = len(canonical_json_bytes(normalised))
    except (TypeError, ValueError):
        raise BadRequestError("params must be plain JSON") from None
    if size > MAX_PARAMS_BYTES:
        raise BadRequestError(f"params must be at most {MAX_PARAMS_BYTES} bytes of JSON")
    return normalised


def refuse_secrets(value: object, path: str = "params") -> None:
    """400 when a key or string inside `value` looks like a token, nsec or passphrase."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadRequestError(f"{path} keys must be strings")
            lowered = key.lower()
            words = set(re.split(r"[^a-z0-9]+", lowered))
            if lowered not in _ALLOWED_SECRET_LIKE_NAMES and words & _SECRET_WORDS:
                raise SecretInParamsError(
                    f"{path}.{key} looks like a secret; ceremony params are public "
                    f"(pass a hash as {MATERIAL_HASH_PARAM} and the material at execute time)"
                )
            refuse_secrets(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            refuse_secrets(item, f"{path}[{i}]")
    elif isinstance(value, str) and value.strip().lower().startswith(_SECRET_VALUES):
        # The message names where, never what: the value itself is the secret.
        raise SecretInParamsError(f"{path} looks like a secret (token or nsec); refused")


def material_digest(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()
