"""/.well-known/nostr.json: NIP-05 names and where each remote signer listens (NIP-46).

`names` maps an identity's label (when it is a valid NIP-05 local part) to the user's
pubkey; `nip46` maps both the user's pubkey and its remote-signer pubkey to the relays
the bunker listens on (the NIP-05 login form), and `nip46.relays` lists them once more
(the form of the current NIP-46 text). Only active identities that have a bunker are
published. `?name=x` narrows `names` (and `nip46`) to that one name; `_` or no name
gives them all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nostr_passport.service.passport import Passport
from nostr_passport.store.bunker_tables import published_signers

_LOCAL_PART = re.compile(r"^[a-z0-9._-]{1,64}$")


def nostr_json(passport: Passport, relays: Sequence[str], name: str | None) -> dict[str, object]:
    wanted = None if name in (None, "", "_") else (name or "").lower()
    with passport.store.read() as conn:
        published = published_signers(conn)
    names: dict[str, str] = {}
    nip46: dict[str, object] = {}
    for signer in published:
        label = (signer.label or "").lower()
        named = bool(_LOCAL_PART.match(label))
        if wanted is not None and (not named or label != wanted):
            continue
        if named:
            names[label] = signer.user_pubkey
        nip46[signer.user_pubkey] = list(relays)
        nip46[signer.signer_pubkey] = list(relays)
    if relays and nip46:
        nip46["relays"] = list(relays)
    return {"names": names, "nip46": nip46}
