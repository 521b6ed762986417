"""`nostr-passport bunker ...`: the command line of the bunker, through the HTTP API.

Like `identity ...`, these commands talk to a running server (its signers own their
nonce state; the CLI never opens them beside it). cli.py mounts them with
`register(commands, add_remote=..., api_of=...)`:

    bunker uri IDENTITY [--relay URL ...] [--perms P] [--expires-in S]
                        [--grant-ttl S] [--grant-uses N]      prints the bunker:// URI only
    bunker connect IDENTITY nostrconnect://... [--perms P]   accept an app's URI
    bunker connections IDENTITY                              app connections and grants
    bunker revoke IDENTITY CLIENT_PUBKEY                     end one
    bunker requests IDENTITY                                 requests waiting for approval
    bunker decide REQUEST_ID once|always|for|deny [--seconds S]

And for `serve`: `bunker_settings(relays, public_url)` from `--relay` / the config.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from nostr_passport.nostr.relay import normalize_relay_url

from .settings import BunkerSettings


class ApiClient(Protocol):
    """What the CLI's HTTP client offers (cli.Api)."""

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any: ...


ApiFactory = Callable[[argparse.Namespace], ApiClient]


def bunker_settings(
    relays: Sequence[str], public_url: str, *, relay_auth: bool = True
) -> BunkerSettings:
    """The bunker of `serve`; a malformed relay URL is a ConfigError (exit 1).

    `relay_auth`: answer relays' NIP-42 AUTH challenges with the bunker's key."""
    checked = tuple(dict.fromkeys(normalize_relay_url(url) for url in relays))
    return BunkerSettings(relays=checked, public_url=public_url, relay_auth=relay_auth)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(h) for h in headers], *[["" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _optional(body: dict[str, Any], **values: Any) -> dict[str, Any]:
    body.update({k: v for k, v in values.items() if v is not None})
    return body


# ---------------------------------------------------------------- commands


def cmd_uri(args: argparse.Namespace, api: ApiClient) -> int:
    body = _optional(
        {"relays": args.relay or []},
        perms=args.perms,
        expires_in=args.expires_in,
        grant_ttl=args.grant_ttl,
        grant_uses=args.grant_uses,
    )
    issued = api.call("POST", f"/v1/identities/{args.identity}/bunker/uri", body)
    if args.json:
        _print_json(issued)
    else:
        print(issued["uri"])  # nothing else on stdout: `uri=$(nostr-passport bunker uri ...)`
    return 0


def cmd_connect(args: argparse.Namespace, api: ApiClient) -> int:
    body = _optional(
        {"uri": args.uri}, perms=args.perms, grant_ttl=args.grant_ttl, grant_uses=args.grant_uses
    )
    connection = api.call("POST", f"/v1/identities/{args.identity}/bunker/nostrconnect", body)
    if args.json:
        _print_json(connection)
    else:
        grants = ",".join(g["permission"] for g in connection["grants"]) or "-"
        name = connection.get("name") or "app"
        print(f"connected {name} ({connection['client_pubkey']}): {grants}")
    return 0


def cmd_connections(args: argparse.Namespace, api: ApiClient) -> int:
    items = api.call("GET", f"/v1/identities/{args.identity}/bunker/connections")["connections"]
    if args.json:
        _print_json(items)
        return 0
    rows = [
        [
            c["client_pubkey"],
            c["via"],
            c["status"],
            c.get("name") or "",
            ",".join(g["permission"] for g in c["grants"]) or "-",
        ]
        for c in items
    ]
    _print_table(rows, ["CLIENT", "VIA", "STATUS", "NAME", "GRANTS"])
    return 0


def cmd_revoke(args: argparse.Namespace, api: ApiClient) -> int:
    path = f"/v1/identities/{args.identity}/bunker/connections/{args.client}"
    view = api.call("DELETE", path)
    if args.json:
        _print_json(view)
    else:
        print(f"revoked {view['client_pubkey']}")
    return 0


def cmd_requests(args: argparse.Namespace, api: ApiClient) -> int:
    items = api.call("GET", f"/v1/identities/{args.identity}/bunker/requests")["requests"]
    if args.json:
        _print_json(items)
        return 0
    rows = [
        [r["id"], r["client_pubkey"], r["method"], "" if r["kind"] is None else r["kind"]]
        for r in items
    ]
    _print_table(rows, ["REQUEST", "CLIENT", "METHOD", "KIND"])
    return 0


def cmd_decide(args: argparse.Namespace, api: ApiClient) -> int:
    body = _optional({"decision": args.decision}, seconds=args.seconds)
    view = api.call("POST", f"/v1/bunker/requests/{args.request_id}", body)
    if args.json:
        _print_json(view)
    else:
        print(f"{view['id']}: {view['status']}")
    return 0


# ---------------------------------------------------------------- parser


def register(
    commands: Any,
    *,
    add_remote: Callable[[argparse.ArgumentParser], None],
    api_of: ApiFactory,
) -> None:
    """Add `bunker ...` to the CLI's subcommands."""
    bunker = commands.add_parser("bunker", help="NIP-46 remote signing (via the server)")
    actions = bunker.add_subparsers(dest="bunker_command", metavar="ACTION", required=True)

    def command(
        name: str, text: str, run: Callable[[argparse.Namespace, ApiClient], int]
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=text)
        add_remote(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(run=lambda args: run(args, api_of(args)))
        return parser

    def grant_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--perms", help="most an app may get, e.g. sign_event:1,nip44_encrypt (default: all)"
        )
        parser.add_argument("--grant-ttl", type=int, metavar="SECONDS", help="grants expire")
        parser.add_argument("--grant-uses", type=int, metavar="N", help="uses per grant")

    p = command("uri", "print a fresh bunker:// URI (one-time secret)", cmd_uri)
    p.add_argument("identity")
    p.add_argument("--relay", action="append", help="relay for the URI (default: the server's)")
    p.add_argument("--expires-in", type=int, metavar="SECONDS", help="the secret expires")
    grant_options(p)

    p = command("connect", "accept an app's nostrconnect:// URI", cmd_connect)
    p.add_argument("identity")
    p.add_argument("uri", help="nostrconnect://...")
    grant_options(p)

    p = command("connections", "list app connections and their grants", cmd_connections)
    p.add_argument("identity")

    p = command("revoke", "revoke an app connection", cmd_revoke)
    p.add_argument("identity")
    p.add_argument("client", help="the app's public key (hex)")

    p = command("requests", "list requests waiting for approval", cmd_requests)
    p.add_argument("identity")

    p = command("decide", "approve or deny a waiting request", cmd_decide)
    p.add_argument("request_id")
    p.add_argument("decision", choices=("once", "always", "for", "deny"))
    p.add_argument("--seconds", type=int, help="with `for`: how long the grant lasts")
