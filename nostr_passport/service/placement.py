"""Where the shares of a new identity go: n distinct signers, spread over providers.

Two shares on one HSM (or one HSM vendor's cloud) would let one compromise count twice,
so signers are picked round-robin across provider groups: a provider gets a second share
only when every provider already has one. Within a group the least-loaded signer (fewest
shares held) goes first, which also spreads nonce and CPU load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nostr_passport.errors import SignersUnavailableError


@dataclass(frozen=True)
class Candidate:
    signer_id: str
    provider: str  # groups signers sharing an HSM (vendor/model/serial)
    healthy: bool
    load: int  # shares held


def place_shares(candidates: Sequence[Candidate], n: int) -> tuple[str, ...]:
    """n signer ids, participant order (the first one deals); raises when too few are up."""
    usable = [c for c in candidates if c.healthy]
    if len(usable) < n:
        down = sorted(c.signer_id for c in candidates if not c.healthy)
        detail = f" (unreachable: {', '.join(down)})" if down else ""
        raise SignersUnavailableError(
            f"{n} healthy signers are needed and only {len(usable)} are available{detail}"
        )
    groups: dict[str, list[Candidate]] = {}
    for c in sorted(usable, key=lambda c: (c.load, c.signer_id)):
        groups.setdefault(c.provider, []).append(c)
    picked: list[str] = []
    used: dict[str, int] = dict.fromkeys(groups, 0)
    while len(picked) < n:
        # The provider with the fewest picks; ties to the one whose next signer is least loaded.
        provider = min(
            (p for p in groups if groups[p]),
            key=lambda p: (used[p], groups[p][0].load, groups[p][0].signer_id),
        )
        picked.append(groups[provider].pop(0).signer_id)
        used[provider] += 1
    return tuple(picked)
