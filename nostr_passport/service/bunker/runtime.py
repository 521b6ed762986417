"""The bunker as a running server holds it: admin functions plus the relay service.

`start()` runs inside the web server's event loop (the app's lifespan); the admin
functions are called from request threads and reach the service through its
thread-safe entry points.
"""

from __future__ import annotations

from nostr_passport.errors import ConflictError
from nostr_passport.service.passport import Passport

from .admin import BunkerAdmin
from .dispatch import Dispatcher, Outgoing
from .keys import RemoteSigners
from .service import BunkerService
from .settings import BunkerSettings
from .wellknown import nostr_json


class BunkerRuntime:
    def __init__(self, passport: Passport, settings: BunkerSettings) -> None:
        self.passport = passport
        self.settings = settings
        self.signers = RemoteSigners(passport)
        self.dispatcher = Dispatcher(passport, self.signers, settings, on_change=self._changed)
        self.service: BunkerService | None = None
        self.admin = BunkerAdmin(
            passport,
            self.signers,
            self.dispatcher,
            settings,
            on_change=self._changed_and_listening,
            publish=self._publish,
            on_decided=self._decided,
        )

    async def start(self) -> None:
        service = BunkerService(self.passport, self.signers, self.dispatcher, self.settings)
        await service.start()
        self.service = service

    async def close(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            await service.close()

    # Callbacks from threads (requests, workers); harmless before start / after close.

    def _changed(self) -> None:
        if self.service is not None:
            self.service.request_sync()

    def _changed_and_listening(self) -> None:
        if self.service is not None:
            self.service.sync_blocking()

    def _decided(self, request_id: str) -> None:
        if self.service is not None:
            self.service.submit_decided(request_id)

    def _publish(self, outgoing: Outgoing) -> None:
        if self.service is None:
            raise ConflictError("this server runs no bunker")
        self.service.publish_blocking(outgoing)

    def nostr_json(self, name: str | None) -> dict[str, object]:
        return nostr_json(self.passport, self.settings.relays, name)
