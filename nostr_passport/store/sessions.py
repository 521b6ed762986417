"""Optional record of signing sessions (which signers took part in which operation)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from .canonical import canonical_json
from .tables import signing_sessions


def record_session(
    conn: Connection,
    *,
    session_id: str,
    identity_id: str,
    request_id: str,
    operation: str,
    signer_ids: tuple[str, ...],
    event_ids: tuple[str, ...],
    outcome: str,
    now: int,
) -> None:
    conn.execute(
        signing_sessions.insert().values(
            id=session_id,
            identity_id=identity_id,
            request_id=request_id,
            operation=operation,
            signer_ids=canonical_json(list(signer_ids)),
            event_ids=canonical_json(list(event_ids)),
            outcome=outcome,
            created_at=now,
        )
    )
