"""Refresh through the authorised wrapper: admins and operators may, apps may not."""

from __future__ import annotations

import pytest

from nostr_passport.errors import NotFoundError, PermissionDeniedError
from nostr_passport.service import lifecycle_ops

from ..service.harness import Harness


def test_refresh_keeps_the_pubkey_and_checks_the_caller(harness: Harness) -> None:
    h = harness
    record = h.passport.create_identity(h.admin, threshold=2, participants=3)
    result = lifecycle_ops.refresh(h.passport, h.admin, record.id, "req-1")
    assert result.pubkey == record.pubkey and result.to_epoch > result.from_epoch
    _, app = h.token("app")
    with pytest.raises(PermissionDeniedError):
        lifecycle_ops.refresh(h.passport, app, record.id, "req-2")
    _, foreign = h.token("admin", tenant="acme")
    with pytest.raises(NotFoundError):
        lifecycle_ops.refresh(h.passport, foreign, record.id, "req-3")
