"""Loaded PKCS#11 modules: one per path per process, one lock per module.

Why this exists:
- python-pkcs11 calls C_Initialize(NULL), which tells the module the application is
  single-threaded; SoftHSM2 then takes no locks and crashes under concurrent calls.
  Every call into a module therefore goes through `LoadedModule.lock`.
- A module must be (re)initialised in each process: after fork the child inherits
  the parent's initialised state, so `ensure_current` re-runs C_Finalize/C_Initialize
  when the pid changed. Nothing is loaded at import time.
- Several providers (three signers of the embedded server) may use several tokens
  of one module; they share the loaded module, its lock, and one logged-in session
  per token (PKCS#11 login state is per token and application, so a second C_Login
  would fail with CKR_USER_ALREADY_LOGGED_IN).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pkcs11
from pkcs11 import exceptions as p11e

from nostr_passport.errors import (
    ConfigError,
    ProviderAuthenticationError,
    ProviderUnavailableError,
)

_PIN_ERRORS = (
    p11e.PinIncorrect,
    p11e.PinInvalid,
    p11e.PinLenRange,
    p11e.PinExpired,
    p11e.PinLocked,
    p11e.UserPinNotInitialized,
)


@dataclass(frozen=True)
class _PinDigest:
    """A salted digest, so a shared session can check a later PIN without storing it twice."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, pin: str) -> _PinDigest:
        salt = secrets.token_bytes(16)
        return cls(salt, hashlib.sha256(salt + pin.encode()).digest())

    def matches(self, pin: str) -> bool:
        return hmac.compare_digest(self.digest, hashlib.sha256(self.salt + pin.encode()).digest())

    def __repr__(self) -> str:
        return "_PinDigest(<hidden>)"


@dataclass(eq=False)
class LoadedModule:
    path: str
    env: tuple[tuple[str, str], ...]
    lib: Any
    lock: threading.RLock
    pid: int
    # Bumped on every (re)initialisation: sessions and object handles of an older
    # generation are dead.
    generation: int = 0
    users: int = 0
    # What our env variables held before we set them, restored when the module is finalised.
    saved_env: dict[str, str | None] = field(default_factory=dict)
    _sessions: dict[int, tuple[Any, _PinDigest]] = field(default_factory=dict)

    def ensure_current(self) -> None:
        """Re-initialise in a forked child. Call with `lock` held."""
        if self.pid == os.getpid():
            return
        self._sessions.clear()  # the parent's handles mean nothing here
        with contextlib.suppress(p11e.PKCS11Error):
            self.lib.finalize()
        _apply_env(self.env)
        try:
            self.lib.initialize()
        except p11e.PKCS11Error as exc:
            raise ProviderUnavailableError(
                f"cannot re-initialise PKCS#11 module {self.path} after fork: {type(exc).__name__}"
            ) from None
        self.pid = os.getpid()
        self.generation += 1

    def session(self, slot_id: int, token: Any, pin: str) -> Any:
        """The logged-in R/W session for one token, opened on first use. Lock held."""
        cached = self._sessions.get(slot_id)
        if cached is not None:
            session, digest = cached
            if not digest.matches(pin):
                raise ProviderAuthenticationError(
                    "PIN does not match the one this process already logged in with"
                )
            return session
        try:
            session = token.open(rw=True, user_pin=pin)
        except _PIN_ERRORS as exc:
            raise ProviderAuthenticationError(
                f"login to token {token.label!r} failed ({type(exc).__name__})"
            ) from None
        except p11e.UserAlreadyLoggedIn:
            # Someone else in this process logged in outside our registry.
            raise ProviderAuthenticationError(
                f"token {token.label!r} is already logged in by another user of the module"
            ) from None
        except p11e.PKCS11Error as exc:
            raise ProviderUnavailableError(
                f"cannot open a session on token {token.label!r}: {type(exc).__name__}"
            ) from None
        self._sessions[slot_id] = (session, _PinDigest.of(pin))
        return session

    def drop_session(self, slot_id: int) -> None:
        """Forget a broken session; the next call opens a new one. Lock held."""
        cached = self._sessions.pop(slot_id, None)
        if cached is not None:
            with contextlib.suppress(p11e.PKCS11Error):
                cached[0].close()

    def _close_all(self) -> None:
        for slot_id in list(self._sessions):
            self.drop_session(slot_id)


_registry: dict[str, LoadedModule] = {}
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time stays locked forever in the child.
    global _registry_lock
    _registry_lock = threading.Lock()
    for module in _registry.values():
        module.lock = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _apply_env(env: tuple[tuple[str, str], ...]) -> None:
    for key, value in env:
        os.environ[key] = value


def _current_env(env: tuple[tuple[str, str], ...]) -> dict[str, str | None]:
    return {key: os.environ.get(key) for key, _ in env}


def _restore_env(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def acquire(path: str, env: Mapping[str, str]) -> LoadedModule:
    """The process-wide module for `path`, loading it on first use."""
    if not os.path.isfile(path):
        raise ProviderUnavailableError(
            f"PKCS#11 module not found at {path!r}: install the vendor library or fix "
            "module_path in the provider config"
        )
    wanted = tuple(sorted(env.items()))
    with _registry_lock:
        module = _registry.get(path)
        if module is None:
            saved = _current_env(wanted)
            module = LoadedModule(path, wanted, _load(path, wanted), threading.RLock(), os.getpid())
            module.saved_env = saved
            _registry[path] = module
        with module.lock:
            module.ensure_current()
            if module.env != wanted:
                if module.users:
                    raise ConfigError(
                        f"PKCS#11 module {path} is already in use with a different "
                        f"environment ({_env_names(module.env)}); all providers of one "
                        "module in one process must share it"
                    )
                _reinitialise(module, wanted)
            elif not module.lib.initialized:
                _reinitialise(module, wanted)
            module.users += 1
        return module


def release(module: LoadedModule) -> None:
    """One user fewer; the last one closes sessions and finalises the module."""
    with _registry_lock, module.lock:
        module.users = max(0, module.users - 1)
        if module.users == 0 and module.pid == os.getpid():
            module._close_all()
            with contextlib.suppress(p11e.PKCS11Error):
                module.lib.finalize()
            module.generation += 1
            _restore_env(module.saved_env)


def _reinitialise(module: LoadedModule, env: tuple[tuple[str, str], ...]) -> None:
    module._close_all()
    with contextlib.suppress(p11e.PKCS11Error):
        module.lib.finalize()
    module.saved_env = _current_env(env)
    _apply_env(env)
    try:
        module.lib.initialize()
    except p11e.PKCS11Error as exc:
        raise ProviderUnavailableError(
            f"cannot initialise PKCS#11 module {module.path}: {type(exc).__name__}"
        ) from None
    module.env = env
    module.generation += 1


def _load(path: str, env: tuple[tuple[str, str], ...]) -> Any:
    _apply_env(env)
    try:
        return pkcs11.lib(path)
    except p11e.PKCS11Error as exc:
        raise ProviderUnavailableError(
            f"cannot load PKCS#11 module {path!r} ({type(exc).__name__}); check that it is "
            "a PKCS#11 library for this platform and that its configuration is readable"
        ) from None


def _env_names(env: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{k}={v}" for k, v in env) or "no variables"
