"""Remote-signer keys: the key a bunker talks to apps with, as HSM-protected as the user's.

NIP-46 separates the remote-signer key (it decrypts requests and signs the kind 24133
responses) from the user's key (it signs the user's events). Ours is a hidden threshold
identity on the same signers, one per user identity, created on the first `bunker uri`:
decrypting a request is threshold ECDH with the client's key, signing a response is a
FROST signature, so the gateway holds nothing secret, not even for the transport.

"Hidden" means the identity lives in its own tenant (BUNKER_TENANT) that no API token
belongs to, so it never shows in an owner's identity list and no token can use it
directly; the bunker reaches it through the coordinator, and audits every use.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from nostr_passport.errors import (
    BadRequestError,
    IdentityDisabledError,
    NotFoundError,
    PassportError,
)
from nostr_passport.nostr.relay import AUTH_EVENT_KIND
from nostr_passport.service.access import Principal
from nostr_passport.service.audit import ALLOWED, ERROR, OK
from nostr_passport.service.events import prepare_event, signed_event
from nostr_passport.service.keys import IdentityKeys
from nostr_passport.service.passport import Passport, new_request_id
from nostr_passport.store.bunker_tables import (
    RemoteSignerRecord,
    all_remote_signers,
    delete_bunker_state,
    insert_remote_signer,
    orphaned_remote_signers,
    remote_signer_by_pubkey,
    remote_signer_of,
)
from nostr_passport.store.identities import IdentityRecord, identity_by_id, identity_header
from nostr_passport.store.tokens import TokenScopes

log = logging.getLogger(__name__)

BUNKER_TENANT = "_bunker"


@dataclass(frozen=True)
class RemoteSigner:
    """A user identity's remote-signer key (public data only)."""

    identity_id: str  # the user's identity
    tenant_id: str  # the user's tenant
    signer_identity_id: str  # the hidden identity holding the remote-signer key
    pubkey: str  # x-only hex: what apps p-tag and encrypt to

    @classmethod
    def of(cls, record: RemoteSignerRecord) -> RemoteSigner:
        return cls(
            record.identity_id, record.tenant_id, record.signer_identity_id, record.signer_pubkey
        )


def internal_principal(actor: str) -> Principal:
    """Who creates and deletes hidden identities (in BUNKER_TENANT only)."""
    return Principal(
        token_id=actor[:128],
        tenant_id=BUNKER_TENANT,
        role="admin",
        scopes=TokenScopes(),
        expires_at=None,
    )


class RemoteSigners:
    """Find, create and use remote-signer keys. Thread-safe; caches public data only."""

    def __init__(self, passport: Passport) -> None:
        self.passport = passport
        self._by_pubkey: dict[str, RemoteSigner] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lookup

    def _remember(self, signer: RemoteSigner) -> RemoteSigner:
        with self._lock:
            self._by_pubkey[signer.pubkey] = signer
        return signer

    def by_pubkey(self, pubkey: str) -> RemoteSigner | None:
        with self._lock:
            found = self._by_pubkey.get(pubkey)
        if found is not None:
            return found
        with self.passport.store.read() as conn:
            record = remote_signer_by_pubkey(conn, pubkey)
        return None if record is None else self._remember(RemoteSigner.of(record))

    def of_identity(self, identity_id: str) -> RemoteSigner | None:
        with self.passport.store.read() as conn:
            record = remote_signer_of(conn, identity_id)
        return None if record is None else self._remember(RemoteSigner.of(record))

    def all(self) -> list[RemoteSigner]:
        with self.passport.store.read() as conn:
            records = all_remote_signers(conn)
        return [self._remember(RemoteSigner.of(r)) for r in records]

    # ------------------------------------------------------------ creation

    def ensure(self, identity: IdentityRecord, actor: str, request_id: str) -> RemoteSigner:
        """The identity's remote-signer key, created (keygen on the signers) if missing."""
        existing = self.of_identity(identity.id)
        if existing is not None:
            return existing
        principal = internal_principal(f"bunker/{actor}")
        view = self.passport.create_identity(
            principal,
            threshold=identity.threshold,
            participants=identity.participants,
            label=f"remote signer of {identity.id}",
            request_id=request_id,
        )
        record = RemoteSignerRecord(
            identity_id=identity.id,
            tenant_id=identity.tenant_id,
            signer_identity_id=view.id,
            signer_pubkey=view.pubkey,
            created_at=self.passport.now(),
            created_by=actor[:128],
        )
        try:
            self.passport.store.run_write(lambda conn: insert_remote_signer(conn, record))
        except IntegrityError:
            # Another request (or gateway) created one first: keep theirs, drop ours.
            self._discard(view.id, principal, request_id)
            winner = self.of_identity(identity.id)
            if winner is None:
                raise
            return winner
        return self._remember(RemoteSigner.of(record))

    def retire_orphans(self) -> list[str]:
        """Delete the remote-signer keys (shares at the signers, then our rows) of
        identities that were deleted; ids of the identities done. A signer that cannot
        confirm leaves the key for the next round (Passport disables it meanwhile).
        """
        with self.passport.store.read() as conn:
            orphans = orphaned_remote_signers(conn)
        retired: list[str] = []
        for record in orphans:
            principal = internal_principal("bunker/cleanup")
            try:
                self.passport.delete_identity(
                    principal, record.signer_identity_id, request_id=new_request_id()
                )
            except NotFoundError:
                pass  # already gone (another gateway was first)
            except PassportError as exc:
                log.warning(
                    "remote-signer key of %s not deleted yet: %s", record.identity_id, exc.code
                )
                continue
            self._forget_state(record.identity_id)
            with self._lock:
                self._by_pubkey.pop(record.signer_pubkey, None)
            retired.append(record.identity_id)
        return retired

    def _forget_state(self, identity_id: str) -> None:
        self.passport.store.run_write(lambda conn: delete_bunker_state(conn, identity_id))

    def _discard(self, signer_identity_id: str, principal: Principal, request_id: str) -> None:
        try:
            self.passport.delete_identity(
                principal, signer_identity_id, force=True, request_id=request_id
            )
        except PassportError as exc:
            log.error("unused remote-signer key %s not deleted: %s", signer_identity_id, exc.code)

    # ------------------------------------------------------------ use

    def _keys(self, signer: RemoteSigner) -> IdentityKeys:
        """Key material of the hidden identity (row read each time: status and epoch)."""
        passport = self.passport
        with passport.store.read() as conn:
            header = identity_header(conn, signer.signer_identity_id)
            if header is None:
                raise NotFoundError(f"remote-signer key of {signer.identity_id} is missing")
            if header.status != "active":
                raise IdentityDisabledError(f"remote-signer key of {signer.identity_id} disabled")
            keys = passport.keys.cached(header.id, header.epoch)
            if keys is not None:
                return keys
            record = identity_by_id(conn, signer.signer_identity_id)
        if record is None:
            raise NotFoundError(f"remote-signer key of {signer.identity_id} is missing")
        return passport.keys.keys(record)

    def _record_faults(self, signer: RemoteSigner, request_id: str, faults: Any) -> None:
        audit = self.passport.audit
        for fault in faults:
            audit.try_record(
                audit.entry(
                    actor="bunker",
                    tenant_id=BUNKER_TENANT,
                    action="signer.fault",
                    outcome=ERROR,
                    request_id=request_id,
                    identity_id=signer.signer_identity_id,
                    details={
                        "signer_id": fault.signer_id,
                        "participant": fault.participant,
                        "contribution": fault.contribution,
                    },
                )
            )

    def shared_x(self, signer: RemoteSigner, peer: bytes, request_id: str) -> bytes:
        """x(s·P) of the remote-signer key s and a client key P (threshold ECDH).

        The caller writes the audit record first (fail closed) and keeps the result in
        memory only for the one request it answers.
        """
        outcome = self.passport.coordinator.shared_x(self._keys(signer), peer, request_id)
        if outcome.faults:
            self._record_faults(signer, request_id, outcome.faults)
        return outcome.shared_x

    def sign(
        self, signer: RemoteSigner, template: Mapping[str, Any], request_id: str
    ) -> dict[str, Any]:
        """A kind 24133 event of the remote-signer key, FROST-signed (id computed here)."""
        unsigned = prepare_event(template, signer.pubkey, self.passport.now())
        outcome = self.passport.coordinator.sign_events(
            self._keys(signer), [unsigned.event], [unsigned.id], request_id
        )
        if outcome.faults:
            self._record_faults(signer, request_id, outcome.faults)
        return signed_event(unsigned, outcome.signatures[0])

    def usable(self, signer: RemoteSigner) -> bool:
        """Whether the key can sign now (its hidden identity exists and is active)."""
        try:
            self._keys(signer)
        except (NotFoundError, IdentityDisabledError):
            return False
        return True

    def sign_auth(self, signer: RemoteSigner, template: Mapping[str, Any]) -> dict[str, Any]:
        """A NIP-42 AUTH event (kind 22242) of the remote-signer key, FROST-signed.

        Audited like a request (fail closed: no record, no signature), with the relay it
        is for; the challenge is not recorded (it proves nothing once used).
        """
        if template.get("kind") != AUTH_EVENT_KIND:
            raise BadRequestError("only kind 22242 AUTH events are signed for relays")
        relay = next((t[1] for t in template.get("tags", []) if len(t) > 1 and t[0] == "relay"), "")
        request_id = "nip42_" + secrets.token_hex(8)
        audit = self.passport.audit

        def entry(outcome: str, details: dict[str, Any]) -> Any:
            return audit.entry(
                actor="bunker",
                tenant_id=signer.tenant_id,
                action="bunker.relay_auth",
                outcome=outcome,
                request_id=request_id,
                identity_id=signer.identity_id,
                details={"relay": str(relay)[:200], "remote_signer": signer.pubkey, **details},
            )

        audit.record(entry(ALLOWED, {}))
        try:
            event = self.sign(signer, template, request_id)
        except PassportError as exc:
            audit.try_record(entry(ERROR, {"error": exc.code}))
            raise
        audit.try_record(entry(OK, {"event_id": event["id"]}))
        return event
