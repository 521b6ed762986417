"""Configuration: one TOML file (DATA_DIR/nostr-passport.toml) plus environment overrides.

Environment variables win over the file: NOSTR_PASSPORT_<SECTION>__<KEY>, for example
NOSTR_PASSPORT_SERVER__PORT=9000 or NOSTR_PASSPORT_STORE__URL=postgresql+psycopg://...;
lists (signers, relay urls) take JSON. The data directory itself comes from --data-dir,
else NOSTR_PASSPORT_DATA_DIR, else ./data. Everything is validated at start: a bad value
is a ConfigError naming the key, and `nostr-passport config check` lists every problem.

Relative paths inside the file (signer state dirs, softhsm2.conf, the coordinator key)
are relative to the data directory, so a data directory can be moved as a whole.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from nostr_passport.errors import ConfigError

CONFIG_FILE_NAME = "nostr-passport.toml"
DATABASE_FILE_NAME = "nostr-passport.db"
ENV_PREFIX = "NOSTR_PASSPORT_"
DATA_DIR_ENV = "NOSTR_PASSPORT_DATA_DIR"
DEFAULT_DATA_DIR = "data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_BODY_LIMIT = 256 * 1024

SIGNER_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    mode: Literal["development", "production"] = "development"
    # Request bodies above this are refused with 413 before any parsing.
    max_body_bytes: int = Field(default=DEFAULT_BODY_LIMIT, ge=1024, le=64 * 1024 * 1024)


class StoreSettings(_Section):
    # None: SQLite file DATA_DIR/nostr-passport.db.
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^(sqlite(\+pysqlite)?|postgresql\+psycopg)://", url):
            raise ValueError("must start with sqlite+pysqlite:// or postgresql+psycopg://")
        return url


def _provider_table(provider: dict[str, Any]) -> dict[str, Any]:
    """`provider` if hsm.ProviderConfig.from_mapping accepts it; ValueError otherwise."""
    from nostr_passport.hsm import ProviderConfig

    try:
        ProviderConfig.from_mapping(provider)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return provider


class LocalSignerSettings(_Section):
    """A signer running inside the gateway process (the embedded default)."""

    id: str = Field(pattern=SIGNER_ID_PATTERN)
    kind: Literal["local"]
    state_dir: str
    # A provider table as hsm.ProviderConfig.from_mapping reads it (kind, name, profile...).
    provider: dict[str, Any]
    nonce_batch_size: int = Field(default=100, ge=1, le=10_000)

    @field_validator("provider")
    @classmethod
    def _provider_parses(cls, provider: dict[str, Any]) -> dict[str, Any]:
        from nostr_passport.hsm import ProviderConfig

        try:
            ProviderConfig.from_mapping(provider)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return provider


class HttpSignerSettings(_Section):
    """A signer in its own process or host (`nostr-passport signer serve`)."""

    id: str = Field(pattern=SIGNER_ID_PATTERN)
    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="the signer's Ed25519 key")


SignerSettings = Annotated[LocalSignerSettings | HttpSignerSettings, Field(discriminator="kind")]


class AuditSettings(_Section):
    """The audit log's checkpoints (docs/audit.md): who signs them, how often."""

    # The audit provider (a provider table like a signer's): its attestation key signs
    # checkpoints and nothing else. None: the first local signer's provider (older
    # data directories); `init` writes an own SoftHSM2 token "np-audit".
    provider: dict[str, Any] | None = None
    # Seconds between scheduled checkpoints in `serve` (0: on demand only).
    checkpoint_every: float = Field(default=300.0, ge=0)
    log_id: str = Field(default="nostr-passport", min_length=1, max_length=128)

    @field_validator("provider")
    @classmethod
    def _provider_parses(cls, provider: dict[str, Any] | None) -> dict[str, Any] | None:
        if provider is None:
            return None
        return _provider_table(provider)


class LimitsSettings(_Section):
    max_participants: int = Field(default=7, ge=2, le=255)
    max_threshold: int = Field(default=7, ge=1, le=255)
    max_batch_events: int = Field(default=500, ge=1, le=10_000)
    max_label_length: int = Field(default=200, ge=1, le=200)


class SigningSettings(_Section):
    # Whole-operation budget, retries on other signer subsets included.
    deadline_seconds: float = Field(default=5.0, gt=0, le=120)
    # One call to one signer; shorter than the deadline so a slow signer leaves time to retry.
    signer_timeout_seconds: float = Field(default=2.0, gt=0, le=120)
    # How many preprocessed nonce commitments to fetch from a signer at a time.
    commitment_batch_size: int = Field(default=64, ge=1, le=1000)
    # How long a failed signer is tried last (after the healthy ones).
    signer_backoff_seconds: float = Field(default=2.0, ge=0, le=600)
    record_sessions: bool = False
    # Batch concurrent partial_sign calls to one signer into one call (see service/coalescing).
    coalesce: bool = True
    # Ed25519 key the gateway signs its requests to HTTP signers with (file, 0600).
    coordinator_key_file: str = "coordinator.key"

    @model_validator(mode="after")
    def _timeout_within_deadline(self) -> SigningSettings:
        if self.signer_timeout_seconds > self.deadline_seconds:
            raise ValueError("signer_timeout_seconds must not exceed deadline_seconds")
        return self


class RateLimitSettings(_Section):
    enabled: bool = True
    # Per API token: a bucket of `burst` requests refilled at `requests_per_second`.
    requests_per_second: float = Field(default=50.0, gt=0, le=1_000_000)
    burst: int = Field(default=100, ge=1, le=1_000_000)


class RelaysSettings(_Section):
    urls: list[str] = Field(default_factory=list)
    # Answer NIP-42 AUTH challenges as the bunker's remote-signer key (docs/bunker.md):
    # relays that serve NIP-46 often deliver kind 24133 only to authenticated pubkeys.
    auth: bool = True

    @field_validator("urls")
    @classmethod
    def _websocket_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.match(r"^wss?://\S+$", url):
                raise ValueError(f"relay url {url!r} must start with ws:// or wss://")
        return urls


class CeremoniesSettings(_Section):
    """M-of-N admin approvals for sensitive operations (docs/ceremonies.md).

    M is capped by the tenant's active admins, so a single-admin installation still works
    (bootstrap); from two admins on, every sensitive operation needs `required` of them.
    """

    default_required: int = Field(default=2, ge=1, le=100)
    # Per operation (names as in docs/ceremonies.md), e.g. {destroy_kek = 3}.
    required: dict[str, int] = Field(default_factory=dict)
    # How long a proposal stays open for approvals (seconds), by default and per operation.
    ttl_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    ttl: dict[str, int] = Field(default_factory=dict)

    @field_validator("required")
    @classmethod
    def _approvals(cls, value: dict[str, int]) -> dict[str, int]:
        return _per_operation(value, 1, 100)

    @field_validator("ttl")
    @classmethod
    def _ttls(cls, value: dict[str, int]) -> dict[str, int]:
        return _per_operation(value, 60, 30 * 86_400)


def _per_operation(value: dict[str, int], low: int, high: int) -> dict[str, int]:
    for name, number in value.items():
        if not re.match(r"^[a-z][a-z0-9_]{0,63}$", name):
            raise ValueError(f"{name!r} is not an operation name")
        if isinstance(number, bool) or not low <= number <= high:
            raise ValueError(f"{name}: {number} is not between {low} and {high}")
    return value


class RotationSettings(_Section):
    """Scheduled key hygiene in `serve` (docs/lifecycle.md); 0 turns a schedule off."""

    # Seconds between share refreshes of each active identity (same npub, new shares).
    refresh_every: float = Field(default=0.0, ge=0)
    # Seconds between KEK rotations of each signer (new KEK, rewrap, old KEK destroyed).
    kek_rotate_every: float = Field(default=0.0, ge=0)
    # How often the schedule looks for due work.
    check_every: float = Field(default=60.0, gt=0, le=86_400)


class Settings(BaseSettings):
    """The whole configuration. Built by `load_config`, never directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",  # other NOSTR_PASSPORT_* variables (DATA_DIR...) are not settings
        frozen=True,
    )

    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    signers: list[SignerSettings] = Field(default_factory=list)
    limits: LimitsSettings = LimitsSettings()
    signing: SigningSettings = SigningSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    relays: RelaysSettings = RelaysSettings()
    audit: AuditSettings = AuditSettings()
    ceremonies: CeremoniesSettings = CeremoniesSettings()
    rotation: RotationSettings = RotationSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: the environment overrides the file (passed as init kwargs).
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        ids = [s.id for s in self.signers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate signer ids: {', '.join(duplicates)}")
        if self.limits.max_threshold > self.limits.max_participants:
            raise ValueError("limits.max_threshold must not exceed limits.max_participants")
        return self


@dataclass(frozen=True)
class Config:
    """Validated settings plus where they came from."""

    data_dir: Path
    path: Path
    settings: Settings

    def resolve(self, path: str) -> Path:
        """A path from the config file, relative ones taken from the data directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.data_dir / p

    @property
    def store_url(self) -> str:
        if self.settings.store.url is not None:
            return self.settings.store.url
        return f"sqlite+pysqlite:///{self.data_dir / DATABASE_FILE_NAME}"

    @property
    def production(self) -> bool:
        return self.settings.server.mode == "production"


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def config_path(data_dir: Path) -> Path:
    return data_dir / CONFIG_FILE_NAME


def _location(loc: tuple[int | str, ...]) -> str:
    # Discriminated unions add the tag ("local"/"http") to the path: keep only real keys.
    parts = [str(p) for p in loc if p not in ("local", "http")]
    return ".".join(parts) or "(top level)"


def validation_problems(exc: ValidationError) -> list[str]:
    """One readable line per pydantic error: `section.key: what is wrong`."""
    lines = []
    for err in exc.errors():
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{_location(tuple(err['loc']))}: {message}")
    return lines


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist (run `nostr-passport init`)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


def load_config(data_dir: Path | str | None = None) -> Config:
    """Read DATA_DIR/nostr-passport.toml, apply the environment, validate everything."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    directory = directory.expanduser().resolve()
    path = config_path(directory)
    settings = settings_from(read_config_file(path), path)
    return Config(data_dir=directory, path=path, settings=settings)


def settings_from(data: Mapping[str, Any], path: Path) -> Settings:
    """Validated settings from a parsed document (plus the environment)."""
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc))
        raise ConfigError(f"invalid configuration in {path}: {problems}") from None


# ---------------------------------------------------------------- writing the file


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else _toml_string(key)


def _toml_string(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("configuration numbers must be finite")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise ConfigError(f"cannot write {type(value).__name__} to TOML")


def render_toml(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text for a two-level document: scalars, [tables] and [[arrays of tables]].

    Enough for our config file (tomllib reads but cannot write TOML).
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]

    def is_table_array(value: Any) -> bool:
        return (
            isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)
        )

    # Plain keys first: after a [table] header they would belong to that table.
    for key, value in data.items():
        if not isinstance(value, Mapping) and not is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_toml_key(key)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
        elif is_table_array(value):
            for item in value:
                lines += ["", f"[[{_toml_key(key)}]]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def static_problems(config: Config) -> list[str]:
    """What is wrong or dangerous in a config that parsed (no network, no HSM access).

    `nostr-passport config check` adds the live checks (store, signers) to these.
    """
    from nostr_passport.hsm import ProviderConfig

    settings = config.settings
    problems: list[str] = []
    if len(settings.signers) < 2:
        problems.append(f"signers: {len(settings.signers)} configured, at least 2 are needed")
    http = [s for s in settings.signers if isinstance(s, HttpSignerSettings)]
    key_file = config.resolve(settings.signing.coordinator_key_file)
    if http and not key_file.is_file():
        problems.append(f"signing.coordinator_key_file: {key_file} does not exist")
    for signer in settings.signers:
        if not isinstance(signer, LocalSignerSettings):
            continue
        provider = ProviderConfig.from_mapping(signer.provider)
        where = f"signers[{signer.id}].provider"
        if provider.kind == "simulator" and config.production:
            problems.append(f"{where}: the simulator refuses to run in production mode")
        if provider.kind == "pkcs11":
            if provider.user_pin is None and not provider.user_pin_env:
                problems.append(f"{where}: set user_pin_env (or user_pin)")
            elif provider.user_pin_env and provider.user_pin_env not in os.environ:
                problems.append(f"{where}: environment variable {provider.user_pin_env} is unset")
            if provider.softhsm2_conf and not config.resolve(provider.softhsm2_conf).is_file():
                problems.append(f"{where}.softhsm2_conf: {provider.softhsm2_conf} does not exist")
        if config.production and provider.kind == "pkcs11" and provider.profile == "softhsm2":
            problems.append(f"{where}: SoftHSM2 is a software token, not an HSM (production mode)")
    problems.extend(_ceremony_problems(settings.ceremonies))
    return problems


def _ceremony_problems(ceremonies: CeremoniesSettings) -> list[str]:
    from nostr_passport.service.ceremony_registry import SENSITIVE_OPERATIONS

    problems = []
    for table in ("required", "ttl"):
        for name in getattr(ceremonies, table):
            if name not in SENSITIVE_OPERATIONS:
                problems.append(
                    f"ceremonies.{table}.{name}: unknown operation "
                    f"(known: {', '.join(SENSITIVE_OPERATIONS)})"
                )
    return problems
