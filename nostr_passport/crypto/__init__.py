"""Pure cryptography: curve helpers, BIP-340, FROST (BIP 445), dealer, DKG, DLEQ, ECDH.

Nothing here does I/O or keeps global state, and nothing here imports the rest of
the package: everything else builds on these functions.
"""
