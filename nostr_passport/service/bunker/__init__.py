"""The NIP-46 remote signer ("bunker"): apps sign and encrypt through relays.

Modules, one idea each:
- settings: the bunker's knobs;
- keys: remote-signer keys, each a hidden threshold identity on the same signers;
- envelope: the encrypted content of kind 24133 events (NIP-44, NIP-04 for old clients);
- grants: which permissions a connection gets, and its grants in force;
- access: who may manage an identity's bunker (issue URIs, approve, revoke);
- dispatch: one request event in, the signed response event(s) out (blocking);
- admin: what the HTTP API and the CLI call (URIs, nostrconnect, connections, approvals);
- service: the asyncio side (relay pool, subscription, workers, publishing);
- runtime: admin + service together, as the web app holds them;
- wellknown: /.well-known/nostr.json;
- commands: the `nostr-passport bunker ...` command line.
"""
