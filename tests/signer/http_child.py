"""A signer served over HTTP in its own process, for the HTTP tests.

    python -m tests.signer.http_child SIGNER_ID STATE_DIR COORDINATOR_PUBKEY_HEX

Goes through the same path as `nostr-passport signer serve --provider simulator`
(signer/cli_support.py) and prints the listening address and the signer's public key.
"""

from __future__ import annotations

import argparse
import sys

from nostr_passport.signer.cli_support import serve_signer_from_cli


def main(argv: list[str]) -> int:
    signer_id, state_dir, coordinator_key = argv
    args = argparse.Namespace(
        id=signer_id,
        provider="simulator",
        state_dir=state_dir,
        host="127.0.0.1",
        port=0,
        coordinator_key=coordinator_key,
        production=False,
    )
    return serve_signer_from_cli(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
