"""NostrPassport: threshold (FROST) + HSM custody for Nostr identities."""

__version__ = "0.1.0"
