"""Parallel calls to a set of signers for lifecycle steps, with readable failures."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from nostr_passport.errors import PassportError
from nostr_passport.service.signer_pool import SignerPool, failure_reason
from nostr_passport.signer.errors import ShareNotFoundError
from nostr_passport.signer.protocol import SignerClient

T = TypeVar("T")


def call_each(
    pool: SignerPool, calls: Mapping[str, Callable[[SignerClient], T]], timeout: float
) -> tuple[dict[str, T], dict[str, str]]:
    """Every call in parallel: (results, failure reasons by signer id)."""
    return pool.call_all(calls, timeout)


def describe(failures: Mapping[str, str]) -> str:
    return "; ".join(f"{sid}: {why}" for sid, why in sorted(failures.items()))


def delete_epoch_everywhere(
    pool: SignerPool, identity_id: str, epoch: int, signer_ids: Iterable[str], timeout: float
) -> list[str]:
    """Best-effort delete of one epoch's share on every signer; ids that failed.

    A signer without that epoch is fine (nothing to delete) and is not marked failed in
    the pool: a missing share is not an outage.
    """

    def delete(client: SignerClient) -> bool:
        try:
            client.delete_share(identity_id, epoch)
        except ShareNotFoundError:
            return False
        except PassportError as exc:
            if exc.code in ("share_not_found", "epoch_mismatch"):
                return False
            raise
        return True

    ids = [sid for sid in signer_ids if sid in pool]
    _, failures = pool.call_all({sid: delete for sid in ids}, timeout)
    return sorted(failures)


__all__ = ["call_each", "delete_epoch_everywhere", "describe", "failure_reason"]
