"""`nostr-passport`: the one command line entry point.

Where commands act:
- `init`, `serve`, `config check`: on the data directory (--data-dir, else
  $NOSTR_PASSPORT_DATA_DIR, else ./data).
- `identity ...`, `ceremony ...`, `signer list|rotate-kek`: always through a running
  server's HTTP API (--url, --token or $NOSTR_PASSPORT_URL, $NOSTR_PASSPORT_TOKEN). Local
  signers keep single-use nonce state that only one process may own, so the CLI never
  opens them next to a running server. The lifecycle and ceremony commands are in
  cli_lifecycle.py and cli_ceremony.py (docs/cli.md).
- `token ...`: through the server when --url or --token is given; otherwise directly on
  the data directory's store as its administrator (only the store is touched: this is
  how to mint a token when none is left).
- `signer serve`: runs one signer as its own process for the gateway to call over HTTP.

Exit status: 0 success, 1 the operation failed (message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import httpx

from nostr_passport import __version__
from nostr_passport.cli_audit import AuditCliError
from nostr_passport.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    Config,
    default_data_dir,
    load_config,
    static_problems,
)
from nostr_passport.errors import PassportError

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
URL_ENV = "NOSTR_PASSPORT_URL"
TOKEN_ENV = "NOSTR_PASSPORT_TOKEN"  # noqa: S105 - the name of a variable, not a token


class CliError(Exception):
    """A failure to report on stderr with exit status 1."""


class ApiError(CliError):
    """The server's error answer: its HTTP status and error code (when it gave one)."""

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# ================================================================ output helpers


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(h) for h in headers], *[["" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def warn(message: str) -> None:
    print(message, file=sys.stderr)


# ================================================================ HTTP client


class Api:
    """A thin client of the server's HTTP API for the CLI."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        if not token:
            raise CliError(f"no API token: pass --token or set {TOKEN_ENV}")
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        try:
            response = self.client.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.client.base_url}: {exc}") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            if isinstance(data, dict) and "error" in data:
                raise ApiError(
                    f"{data['error']}: {data.get('message', '')} (HTTP {response.status_code})",
                    response.status_code,
                    str(data["error"]),
                )
            raise ApiError(f"HTTP {response.status_code}", response.status_code)
        return data


def api_of(args: argparse.Namespace) -> Api:
    return Api(
        args.url or os.environ.get(URL_ENV) or DEFAULT_URL, args.token or os.environ.get(TOKEN_ENV)
    )


# ================================================================ init / serve / config


def data_dir_of(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) if args.data_dir else default_data_dir()


def cmd_init(args: argparse.Namespace) -> int:
    from nostr_passport.service.bootstrap import initialise

    result = initialise(data_dir_of(args), provider=args.provider, store_url=args.store_url)
    for warning in result.warnings:
        warn(warning)
    if args.json:
        emit_json(
            {
                "admin_token": result.admin_token,
                "admin_token_id": result.admin_token_id,
                "data_dir": str(result.data_dir),
                "config": str(result.config_path),
                "store_url": result.store_url,
                "signers": result.provider_kind,
            }
        )
    else:
        print(f"initialised {result.data_dir}")
        print(f"  config:  {result.config_path}")
        print(f"  store:   {result.store_url}")
        print(f"  signers: 3 local signers on {result.provider_kind}")
        print()
        print("admin token (shown once, store it now):")
        print(f"  {result.admin_token}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nostr_passport.api.app import create_app
    from nostr_passport.service.bootstrap import initialise, is_initialised
    from nostr_passport.service.gateway import open_gateway

    data_dir = data_dir_of(args)
    if not is_initialised(data_dir):
        result = initialise(data_dir)
        for warning in result.warnings:
            warn(warning)
        print(f"initialised {result.data_dir} (first run)")
        print("admin token (shown once, store it now):")
        print(f"  {result.admin_token}")
    config = load_config(data_dir)
    host = args.host or config.settings.server.host
    port = args.port or config.settings.server.port
    passport = open_gateway(config)
    from nostr_passport.service.ceremonies import CeremonyPolicy

    app = create_app(
        passport,
        max_body_bytes=config.settings.server.max_body_bytes,
        ceremony_policy=CeremonyPolicy.of(config.settings.ceremonies),
        pricing_file=config.data_dir / "pricing.toml",
    )
    from nostr_passport.api.routes_bunker import install_bunker
    from nostr_passport.service.bunker.commands import bunker_settings
    from nostr_passport.service.bunker.runtime import BunkerRuntime

    relays = args.relay or config.settings.relays.urls
    public_url = args.public_url or f"http://{host}:{port}"
    settings = bunker_settings(relays, public_url, relay_auth=config.settings.relays.auth)
    install_bunker(app, BunkerRuntime(passport, settings))
    print(f"NostrPassport {__version__} listening on http://{host}:{port}", flush=True)
    print(
        "  tokens: use the admin token printed when the data directory was initialised "
        f"(lost it? `nostr-passport token create --data-dir {config.data_dir} --role admin`)",
        flush=True,
    )
    print(f"  API: http://{host}:{port}/docs  (OpenAPI at /openapi.json)", flush=True)
    if relays:
        print(f"  NIP-46 bunker on {', '.join(relays)}", flush=True)
    schedules = [
        s
        for s in (_checkpoint_schedule(passport, config), _rotation_schedule(passport, config))
        if s
    ]
    try:
        uvicorn.run(app, host=host, port=port, log_level=args.log_level, access_log=False)
    finally:
        for schedule in schedules:
            schedule.stop()
        passport.close()
    return 0


def _checkpoint_schedule(passport: Any, config: Any) -> Any:
    """Start signing audit checkpoints every audit.checkpoint_every seconds (0: never)."""
    from nostr_passport.service.audit_access import audit_provider_of
    from nostr_passport.service.audit_schedule import CheckpointSchedule

    every = config.settings.audit.checkpoint_every
    if every <= 0:
        return None
    provider = audit_provider_of(passport)
    if provider is None:
        warn("no audit provider and no local signer: audit checkpoints only on demand")
        return None
    schedule = CheckpointSchedule(passport.store, provider, every, passport.audit_log_id)
    schedule.start()
    print(f"  audit checkpoints every {every:g} s", flush=True)
    return schedule


def _rotation_schedule(passport: Any, config: Any) -> Any:
    """Refresh shares and rotate KEKs as [rotation] asks (0: on demand only)."""
    from nostr_passport.service.lifecycle.context import LifecycleContext
    from nostr_passport.service.lifecycle_schedule import LifecycleSchedule

    rotation = config.settings.rotation
    schedule = LifecycleSchedule(
        LifecycleContext.of(passport),
        refresh_every=rotation.refresh_every,
        kek_rotate_every=rotation.kek_rotate_every,
        check_every=rotation.check_every,
    )
    if not schedule.active:
        return None
    schedule.start()
    for name, every in (
        ("share refresh", rotation.refresh_every),
        ("KEK rotation", rotation.kek_rotate_every),
    ):
        if every > 0:
            print(f"  {name} every {every:g} s", flush=True)
    return schedule


def cmd_config_check(args: argparse.Namespace) -> int:
    from nostr_passport.store import Store

    try:
        config = load_config(data_dir_of(args))
    except PassportError as exc:
        warn(f"problem: {exc}")
        return 1
    problems = static_problems(config)
    try:
        store = Store.open(config.store_url, migrate=False)
        reachable = store.ping()
        store.close()
        if not reachable:
            problems.append(f"store: {config.store_url} does not answer")
    except PassportError as exc:
        problems.append(f"store: {exc}")
    if args.json:
        emit_json({"config": str(config.path), "ok": not problems, "problems": problems})
    else:
        for problem in problems:
            print(f"problem: {problem}")
        if not problems:
            print(f"{config.path}: ok ({len(config.settings.signers)} signers)")
    return 1 if problems else 0


# ================================================================ identities (HTTP)


def _identity_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            i["id"],
            i["npub"],
            f"{i['threshold']}-of-{i['participants']}",
            i["status"],
            i.get("label") or "",
        ]
        for i in items
    ]


def cmd_identity_create(args: argparse.Namespace) -> int:
    body = {"threshold": args.threshold, "participants": args.participants}
    if args.label is not None:
        body["label"] = args.label
    if args.keygen is not None:
        body["keygen"] = args.keygen
    identity = api_of(args).call("POST", "/v1/identities", body)
    return _show_identity(args, identity)


def _show_identity(args: argparse.Namespace, identity: dict[str, Any]) -> int:
    if args.json:
        emit_json(identity)
        return 0
    print(f"id:        {identity['id']}")
    print(f"npub:      {identity['npub']}")
    print(f"pubkey:    {identity['pubkey']}")
    print(f"threshold: {identity['threshold']}-of-{identity['participants']}")
    print(f"status:    {identity['status']}")
    if identity.get("keygen_method"):
        print(f"keygen:    {identity['keygen_method']}")
    if identity.get("label"):
        print(f"label:     {identity['label']}")
    for s in identity.get("signers", []):
        print(f"  participant {s['participant']}: {s['signer_id']}  pubshare {s['pubshare']}")
    return 0


def cmd_identity_list(args: argparse.Namespace) -> int:
    api = api_of(args)
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if after:
            params["after"] = after
        page = api.call("GET", "/v1/identities", params=params)
        items.extend(page["identities"])
        after = page.get("next")
        if not after:
            break
    if args.json:
        emit_json(items)
    else:
        emit_table(_identity_rows(items), ["ID", "NPUB", "T-OF-N", "STATUS", "LABEL"])
    return 0


def cmd_identity_show(args: argparse.Namespace) -> int:
    return _show_identity(args, api_of(args).call("GET", f"/v1/identities/{args.id}"))


def cmd_identity_status(status: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        verb = "disable" if status == "disabled" else "enable"
        identity = api_of(args).call("POST", f"/v1/identities/{args.id}/{verb}")
        return _show_identity(args, identity)

    return run


def cmd_identity_delete(args: argparse.Namespace) -> int:
    api = api_of(args)
    params = {"force": "true"} if args.force else None
    try:
        report = api.call("DELETE", f"/v1/identities/{args.id}", params=params)
    except ApiError as exc:
        if exc.code != "ceremony_required":
            raise
        warn("deleting an identity needs several admins here: proposing a delete_identity ceremony")
        ceremony = {"identity_id": args.id, "force": bool(args.force)}
        return _by_ceremony(api, args, "delete_identity", ceremony, _print_deletion)
    if args.json:
        emit_json(report)
    else:
        _print_deletion(report)
    return 0


def _print_deletion(report: dict[str, Any]) -> None:
    print(f"deleted {report['id']}")
    if report["shares_remaining_at"]:
        print(f"  shares may remain at: {', '.join(report['shares_remaining_at'])}")


def _by_ceremony(
    api: Api,
    args: argparse.Namespace,
    operation: str,
    params: dict[str, Any],
    describe: Callable[[dict[str, Any]], None],
) -> int:
    """What a direct call refused with `ceremony_required`, proposed as a ceremony."""
    from nostr_passport.cli_ceremony import emit_run, propose_and_run

    return emit_run(args, propose_and_run(api, args, operation, params), describe)


def _read_event_argument(value: str) -> Any:
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        text = Path(value[1:]).read_text(encoding="utf-8")
    else:
        text = value
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CliError(f"--event is not valid JSON: {exc}") from None


def cmd_identity_sign(args: argparse.Namespace) -> int:
    if args.event is not None:
        template = _read_event_argument(args.event)
    else:
        if args.kind is None:
            raise CliError("give --kind (with --content, --tag) or --event JSON")
        template = {
            "kind": args.kind,
            "content": args.content or "",
            "tags": [tag.split(",") for tag in args.tag or []],
        }
        if args.created_at is not None:
            template["created_at"] = args.created_at
    event = api_of(args).call("POST", f"/v1/identities/{args.id}/sign", template)
    print(json.dumps(event, ensure_ascii=False, indent=2 if args.pretty else None))
    return 0


# ================================================================ tokens (HTTP or local)


def _local(args: argparse.Namespace) -> bool:
    return not (args.url or args.token)


def _scopes_body(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "identities": args.identity or None,
        "methods": args.method or None,
        "kinds": args.kind or None,
    }


def cmd_token_create(args: argparse.Namespace) -> int:
    if _local(args):
        issued = _local_call(
            args, lambda passport, admin: _local_token_create(passport, admin, args)
        )
    else:
        body: dict[str, Any] = {"name": args.name, "role": args.role, "scopes": _scopes_body(args)}
        if args.expires_in is not None:
            body["expires_in"] = args.expires_in
        if args.tenant is not None:
            body["tenant"] = args.tenant
        api = api_of(args)
        try:
            issued = api.call("POST", "/v1/tokens", body)
        except ApiError as exc:
            if exc.code != "ceremony_required" or args.role != "admin":
                raise
            warn("a new admin token needs several admins here: proposing a ceremony")
            ceremony: dict[str, Any] = {"token_name": args.name}
            if args.expires_in is not None:
                ceremony["expires_in"] = args.expires_in
            return _by_ceremony(api, args, "create_admin_token", ceremony, _print_admin_token)
    if args.json:
        emit_json(issued)
    else:
        print(f"token {issued['id']} ({issued['role']}, tenant {issued['tenant']}):")
        print(f"  {issued['token']}")
        print("shown once: store it now.")
    return 0


def _print_admin_token(result: dict[str, Any]) -> None:
    print(f"token {result['token_id']} (admin, tenant {result['tenant']}):")
    print(f"  {result['token']}")
    print("shown once: store it now.")


def _local_token_create(passport: Any, admin: Any, args: argparse.Namespace) -> dict[str, Any]:
    from nostr_passport.api.render import issued_token_json
    from nostr_passport.store.tokens import TokenScopes

    scopes = TokenScopes(
        identities=tuple(args.identity) if args.identity else None,
        methods=tuple(args.method) if args.method else None,
        kinds=tuple(args.kind) if args.kind else None,
    )
    expires_at = passport.now() + args.expires_in if args.expires_in else None
    issued = passport.create_token(
        admin,
        name=args.name,
        role=args.role,
        scopes=scopes,
        expires_at=expires_at,
        tenant=args.tenant,
    )
    return issued_token_json(issued)


def _local_call(args: argparse.Namespace, action: Callable[[Any, Any], Any]) -> Any:
    """Run `action(passport, local admin)` on the data directory's store (no signers)."""
    from nostr_passport.service.access import local_admin
    from nostr_passport.service.gateway import assemble
    from nostr_passport.store import Store

    config: Config = load_config(data_dir_of(args))
    store = Store.open(config.store_url)
    passport = assemble(store, {}, config.settings)
    try:
        return action(passport, local_admin(f"cli:{_user()}"))
    finally:
        passport.close()


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return str(os.getuid())


def cmd_token_list(args: argparse.Namespace) -> int:
    from nostr_passport.api.render import token_json

    if _local(args):
        tokens = _local_call(
            args, lambda passport, admin: [token_json(v) for v in passport.list_tokens(admin)]
        )
    else:
        tokens = api_of(args).call("GET", "/v1/tokens")["tokens"]
    if args.json:
        emit_json(tokens)
    else:
        rows = [
            [t["id"], t["role"], t["name"], t["tenant"], "revoked" if t["revoked_at"] else "active"]
            for t in tokens
        ]
        emit_table(rows, ["ID", "ROLE", "NAME", "TENANT", "STATE"])
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from nostr_passport.api.render import token_json

    if _local(args):
        view = _local_call(
            args, lambda passport, admin: token_json(passport.revoke_token(admin, args.id))
        )
    else:
        view = api_of(args).call("DELETE", f"/v1/tokens/{args.id}")
    if args.json:
        emit_json(view)
    else:
        print(f"revoked {view['id']}")
    return 0


# ================================================================ signer serve


def cmd_signer_serve(args: argparse.Namespace) -> int:
    from nostr_passport.signer.cli_support import serve_signer_from_cli

    return serve_signer_from_cli(args)


def cmd_signer_key(args: argparse.Namespace) -> int:
    from nostr_passport.signer.cli_support import signer_key_from_cli

    return signer_key_from_cli(args)


# ================================================================ parser


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory (default: $NOSTR_PASSPORT_DATA_DIR or ./data)",
    )


def _add_remote(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help=f"server URL (default: ${URL_ENV} or {DEFAULT_URL})")
    p.add_argument("--token", help=f"API token (default: ${TOKEN_ENV})")


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nostr-passport",
        description="Threshold (FROST) + HSM custody server for Nostr identities.",
        epilog="Start with `nostr-passport serve` (initialises ./data on first run).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "init", help="create a data directory, signers and the first admin token"
    )
    _add_data_dir(p)
    _add_json(p)
    p.add_argument(
        "--provider",
        choices=("auto", "softhsm2", "simulator"),
        default="auto",
        help="HSM for the three local signers (auto: SoftHSM2 if installed, else simulator)",
    )
    p.add_argument("--store-url", help="PostgreSQL URL (default: SQLite in the data directory)")
    p.set_defaults(run=cmd_init)

    p = commands.add_parser(
        "serve", help="run the HTTP server (runs init first on an empty data dir)"
    )
    _add_data_dir(p)
    p.add_argument("--host", help=f"listen address (default from config, {DEFAULT_HOST})")
    p.add_argument("--port", type=int, help=f"listen port (default from config, {DEFAULT_PORT})")
    p.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug")
    )
    p.add_argument(
        "--relay", action="append", help="NIP-46 bunker relay, repeatable (default: config)"
    )
    p.add_argument("--public-url", help="this server's URL as browsers reach it (auth pages)")
    p.set_defaults(run=cmd_serve)

    # ---------------------------------------------------------------- identity
    identity = commands.add_parser("identity", help="manage and use identities (via the server)")
    ids = identity.add_subparsers(dest="identity_command", metavar="ACTION", required=True)

    p = ids.add_parser("create", help="create a t-of-n identity")
    _add_remote(p)
    _add_json(p)
    p.add_argument("--threshold", "-t", type=int, default=2, help="signers needed (default 2)")
    p.add_argument("--participants", "-n", type=int, default=3, help="shares (default 3)")
    p.add_argument("--label", help="a name for people")
    p.add_argument(
        "--keygen",
        choices=("dkg", "dealer"),
        help="dkg: ChillDKG, no HSM ever holds the whole key; dealer: one HSM deals the "
        "shares (default: the server's choice, DKG when every chosen signer supports it)",
    )
    p.set_defaults(run=cmd_identity_create)

    p = ids.add_parser("list", help="list identities")
    _add_remote(p)
    _add_json(p)
    p.set_defaults(run=cmd_identity_list)

    p = ids.add_parser("show", help="show one identity")
    _add_remote(p)
    _add_json(p)
    p.add_argument("id")
    p.set_defaults(run=cmd_identity_show)

    p = ids.add_parser("sign", help="sign an event; prints the signed NIP-01 event")
    _add_remote(p)
    p.add_argument("id")
    p.add_argument("--event", help="template JSON, @file or - for stdin")
    p.add_argument("--kind", type=int, help="event kind")
    p.add_argument("--content", help="event content")
    p.add_argument("--tag", action="append", help="a tag as comma-separated values, e.g. t,nostr")
    p.add_argument("--created-at", type=int, help="unix seconds (default: now)")
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
    p.set_defaults(run=cmd_identity_sign)

    for name, status, text in (
        ("disable", "disabled", "stop all use of an identity"),
        ("enable", "active", "allow a disabled identity again"),
    ):
        p = ids.add_parser(name, help=text)
        _add_remote(p)
        _add_json(p)
        p.add_argument("id")
        p.set_defaults(run=cmd_identity_status(status))

    p = ids.add_parser("delete", help="delete an identity and its shares (admin)")
    _add_remote(p)
    _add_json(p)
    p.add_argument("id")
    p.add_argument("--force", action="store_true", help="delete even if a signer cannot confirm")
    p.set_defaults(run=cmd_identity_delete)

    # ---------------------------------------------------------------- token
    token = commands.add_parser(
        "token", help="API tokens (via the server with --url/--token, else on the data dir)"
    )
    toks = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)

    p = toks.add_parser("create", help="create a token (printed once)")
    _add_data_dir(p)
    _add_remote(p)
    _add_json(p)
    p.add_argument("--role", required=True, choices=("admin", "operator", "auditor", "app"))
    p.add_argument("--name", default="token", help="a name for people")
    p.add_argument("--identity", action="append", help="scope: allowed identity id (repeat)")
    p.add_argument("--method", action="append", help="scope: allowed method, e.g. sign_event")
    p.add_argument("--kind", action="append", type=int, help="scope: allowed event kind (repeat)")
    p.add_argument("--expires-in", type=int, metavar="SECONDS", help="expiry from now")
    p.add_argument("--tenant", help="tenant (default: the caller's)")
    p.set_defaults(run=cmd_token_create)

    p = toks.add_parser("list", help="list tokens (metadata only)")
    _add_data_dir(p)
    _add_remote(p)
    _add_json(p)
    p.set_defaults(run=cmd_token_list)

    p = toks.add_parser("revoke", help="revoke a token")
    _add_data_dir(p)
    _add_remote(p)
    _add_json(p)
    p.add_argument("id")
    p.set_defaults(run=cmd_token_revoke)

    # ---------------------------------------------------------------- bunker
    from nostr_passport.service.bunker.commands import register as register_bunker

    register_bunker(commands, add_remote=_add_remote, api_of=api_of)

    # ---------------------------------------------------------------- audit / attest
    from nostr_passport.cli_audit import register as register_audit

    register_audit(
        commands,
        add_data_dir=_add_data_dir,
        add_remote=_add_remote,
        add_json=_add_json,
        data_dir_of=data_dir_of,
        api_of=api_of,
    )

    # ---------------------------------------------------------------- signer
    signer = commands.add_parser(
        "signer", help="signers: list them, rotate their KEKs, run one as its own process"
    )
    sigs = signer.add_subparsers(dest="signer_command", metavar="ACTION", required=True)
    p = sigs.add_parser("serve", help="serve one signer over HTTP (signed requests only)")
    p.add_argument("--id", required=True, help="signer id, as in the gateway's config")
    p.add_argument(
        "--provider",
        required=True,
        help="simulator | softhsm2:<token-label> | path to a provider TOML table",
    )
    p.add_argument("--state-dir", required=True, help="where the signer keeps its wrapped state")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument(
        "--coordinator-key",
        required=True,
        help="the gateway's Ed25519 public key (hex) or a file holding it",
    )
    p.add_argument(
        "--production", action="store_true", help="refuse software providers (simulator, SoftHSM2)"
    )
    p.set_defaults(run=cmd_signer_serve)
    p = sigs.add_parser("key", help="print this signer's public key and transport key")
    p.add_argument("--id", required=True, help="signer id, as in the gateway's config")
    p.add_argument("--provider", required=True, help="as for `signer serve`")
    p.add_argument("--state-dir", required=True, help="as for `signer serve`")
    p.set_defaults(run=cmd_signer_key)

    # ---------------------------------------------------------------- lifecycle / ceremony
    from nostr_passport.cli_lifecycle import register as register_lifecycle

    register_lifecycle(
        identities=ids,
        signers=sigs,
        add_remote=_add_remote,
        add_json=_add_json,
        api_of=api_of,
    )
    from nostr_passport.cli_ceremony import register as register_ceremony

    register_ceremony(commands, add_remote=_add_remote, add_json=_add_json, api_of=api_of)

    # ---------------------------------------------------------------- config
    cfg = commands.add_parser("config", help="configuration")
    cfgs = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    p = cfgs.add_parser("check", help="validate the config; exit 1 on problems")
    _add_data_dir(p)
    _add_json(p)
    p.set_defaults(run=cmd_config_check)
    return parser


def fail(message: str) -> NoReturn:
    warn(f"error: {message}")
    raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (CliError, AuditCliError, PassportError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
