"""Import of an existing (software) key: how its secret travels to the dealing signer.

The gateway seals the secret to ONE signer's transport key the moment it has decoded
it; only that signer's HSM can open it, inside deal_identity, where it becomes the
constant of the sharing polynomial.
"""

from __future__ import annotations

import struct

IMPORT_PREFIX = b"np-import-transport|"


def import_aad(identity_id: str) -> bytes:
    """AAD of an imported secret: bound to the identity it is imported as."""
    raw = identity_id.encode("utf-8")
    return IMPORT_PREFIX + struct.pack(">H", len(raw)) + raw
