"""The ceremony flow shared by several commands, and the `ceremony` commands (docs/cli.md).

- `propose_and_run` proposes a sensitive operation, executes it at once when the quorum is
  already reached (a single-admin install), and otherwise `emit_run` prints what the other
  admins run; `identity restore|import|migrate|reshape|delete`, `signer drain|rotate-kek`
  and `token create --role admin` use it;
- `ceremony propose|list|show|approve|reject|execute`.

Everything goes through a running server's HTTP API with the caller's own token. Secrets
(an nsec, an ncryptsec password) are read from stdin or a terminal prompt, never from the
command line (it shows in `ps`), and are never printed: ceremony params carry only their
SHA-256.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from nostr_passport.cli import CliError, emit_json, emit_table

PROG = "nostr-passport"

AddOptions = Callable[[argparse.ArgumentParser], None]
ApiOf = Callable[[argparse.Namespace], Any]
Action = Callable[[argparse.Namespace, Any], int]
Prompt = Callable[[str], str]


# ================================================================ small parsers


def key_value(value: str) -> tuple[str, Any]:
    """--param KEY=VALUE: VALUE as JSON when it parses (numbers, lists, true), else a string."""
    key, sep, raw = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--param wants KEY=VALUE; got {value!r}")
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw
    return key.strip(), parsed


key_value.__name__ = "--param KEY=VALUE"


def sha256_hex(text: str) -> str:
    """The material hash a ceremony approves: SHA-256 of the text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_text_file(path: str) -> str:
    """A file's exact text (no newline translation: its hash must match its bytes)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text") from None


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def read_stdin_text(stream: BinaryIO) -> str:
    """All of stdin as UTF-8, less one trailing newline (the one `echo` or a heredoc adds)."""
    try:
        text = stream.read().decode("utf-8")
    except UnicodeDecodeError:
        raise CliError("stdin is not UTF-8 text") from None
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def read_import_material(
    kind: str,
    stream: BinaryIO | None = None,
    *,
    tty: bool | None = None,
    ask: Prompt = getpass.getpass,
) -> str:
    """The import material: "nsec1..." or "ncryptsec1...<newline><password>".

    From a terminal both are asked without echo; otherwise the key is stdin's first line
    and (ncryptsec) the password its second. Errors never quote what was read.
    """
    prefix = "nsec1" if kind == "nsec" else "ncryptsec1"
    password: str | None = None
    if tty if tty is not None else _stdin_is_tty():
        key = ask(f"{kind} (not echoed): ").strip()
        if kind == "ncryptsec":
            password = ask("ncryptsec password (not echoed): ")
    else:
        lines = read_stdin_text(stream or _stdin()).splitlines()
        key = lines[0].strip() if lines else ""
        if kind == "ncryptsec" and len(lines) > 1:
            password = lines[1]
    if not key.lower().startswith(prefix):
        raise CliError(f"expected a {prefix}... key on the first line of stdin; found none")
    if kind == "ncryptsec":
        if not password:
            raise CliError(
                "the ncryptsec password goes on the second line of stdin "
                "(or run in a terminal to be asked for it)"
            )
        return f"{key}\n{password}"
    return key


def read_execute_material(args: argparse.Namespace) -> str | None:
    if args.material_file:
        return read_text_file(args.material_file)
    if not args.material_stdin:
        return None
    if _stdin_is_tty():
        # From a terminal this is an import's key: asked without echo.
        key = getpass.getpass("key, nsec1... or ncryptsec1... (not echoed): ").strip()
        if key.lower().startswith("ncryptsec1"):
            return f"{key}\n{getpass.getpass('ncryptsec password (not echoed): ')}"
        return key
    return read_stdin_text(_stdin())


def api_path(*parts: str) -> str:
    return "/".join(quote(p, safe="") if i else p for i, p in enumerate(parts))


def _when(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# ================================================================ the ceremony flow


@dataclass
class CeremonyRun:
    """A proposed ceremony, the result if it was executed at once, and what comes next."""

    ceremony: dict[str, Any]
    result: dict[str, Any] | None = None
    next_steps: list[str] = field(default_factory=list)
    note: str = ""  # how the final step gets its material, when it needs one

    @property
    def executed(self) -> bool:
        return self.result is not None


def _suffix(args: argparse.Namespace) -> str:
    """The --url to repeat in printed commands (never the token: each admin uses their own)."""
    url = getattr(args, "url", None)
    return f" --url {url}" if url else ""


def propose_and_run(
    api: Any,
    args: argparse.Namespace,
    operation: str,
    params: Mapping[str, Any],
    *,
    material: str | None = None,
    material_hint: str = "",
    material_note: str = "",
) -> CeremonyRun:
    """Propose `operation`; execute it at once when the proposal alone is the quorum.

    `material_hint` is how the final `ceremony execute` gets the material (e.g.
    "--material-file backup.json"), `material_note` what to feed it; the material itself
    is never printed.
    """
    ceremony = api.call("POST", "/v1/ceremonies", {"operation": operation, "params": params})
    cid = str(ceremony["id"])
    execute = f"{PROG} ceremony execute {cid}{f' {material_hint}' if material_hint else ''}"
    execute += _suffix(args)
    if ceremony.get("status") != "approved":
        return CeremonyRun(
            ceremony,
            next_steps=[
                f"{PROG} ceremony show {cid}{_suffix(args)}",
                f"{PROG} ceremony approve {cid} --params-hash {ceremony['params_hash']}"
                f"{_suffix(args)}",
                execute,
            ],
            note=material_note,
        )
    body = {} if material is None else {"material": material}
    try:
        outcome = api.call("POST", api_path("/v1/ceremonies", cid, "execute"), body)
    except CliError as exc:
        raise CliError(
            f"ceremony {cid} ({operation}) is approved but executing it failed: {exc}. "
            f"It stays approved until it expires: retry with `{execute}`"
        ) from None
    return CeremonyRun(outcome["ceremony"], result=dict(outcome.get("result") or {}))


def emit_run(
    args: argparse.Namespace,
    run: CeremonyRun,
    describe: Callable[[dict[str, Any]], None],
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Print an executed ceremony's result (via `describe`) or the steps still to take."""
    if args.json:
        emit_json(
            {
                "ceremony": run.ceremony,
                "executed": run.executed,
                "result": run.result,
                "next": run.next_steps,
                **({"note": run.note} if run.note else {}),
                **(extra or {}),
            }
        )
        return 0
    if run.result is not None:
        describe(run.result)
        return 0
    c = run.ceremony
    missing = max(0, int(c["required"]) - int(c["approvals"]))
    print(
        f"ceremony {c['id']} proposed: {c['operation']} needs {c['required']} admin approvals "
        f"({c['approvals']} so far, yours included); {missing} more needed."
    )
    print(f"  status: {c['status']}, expires {_when(c.get('expires_at'))}")
    print("Each other admin reviews and approves it with their own token:")
    for step in run.next_steps[:-1]:
        print(f"  {step}")
    print("Then any admin executes it:")
    print(f"  {run.next_steps[-1]}")
    if run.note:
        print(f"  ({run.note})")
    return 0


# ================================================================ ceremony commands


def _ceremony_rows(items: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [
        [
            c["id"],
            c["operation"],
            c["status"],
            f"{c['approvals']}/{c['required']}",
            _when(c.get("expires_at")),
            c.get("proposed_by"),
        ]
        for c in items
    ]


def show_ceremony(c: Mapping[str, Any]) -> None:
    print(f"id:          {c['id']}")
    print(f"operation:   {c['operation']}")
    print(f"status:      {c['status']} ({c['approvals']} of {c['required']} approvals)")
    print(f"params:      {json.dumps(c.get('params', {}), sort_keys=True, ensure_ascii=False)}")
    print(f"params hash: {c.get('params_hash')}")
    print(f"proposed by: {c.get('proposed_by')} at {_when(c.get('created_at'))}")
    print(f"expires:     {_when(c.get('expires_at'))}")
    for a in c.get("approved_by", []):
        counted = "" if a.get("counts", True) else "  (no longer counts)"
        print(f"approved by: {a.get('token_id')} at {_when(a.get('approved_at'))}{counted}")
    if c.get("decided_by"):
        print(f"decided by:  {c['decided_by']} at {_when(c.get('decided_at'))}")
    if c.get("result") is not None:
        print(f"result:      {json.dumps(c['result'], sort_keys=True, ensure_ascii=False)}")


def print_result(result: Mapping[str, Any]) -> None:
    secret = result.get("token")
    for key, value in result.items():
        if key != "token":
            print(f"  {key}: {_plain(value)}")
    if secret:
        print("token (shown once, store it now):")
        print(f"  {secret}")


def cmd_ceremony_propose(args: argparse.Namespace, api: Any) -> int:
    params: dict[str, Any] = {}
    if args.params is not None:
        try:
            loaded = json.loads(args.params)
        except ValueError as exc:
            raise CliError(f"--params is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise CliError("--params must be a JSON object")
        params.update(loaded)
    params.update(dict(args.param or []))
    body: dict[str, Any] = {"operation": args.operation, "params": params}
    if args.ttl is not None:
        body["ttl_seconds"] = args.ttl
    c = api.call("POST", "/v1/ceremonies", body)
    if args.json:
        emit_json(c)
        return 0
    show_ceremony(c)
    cid = c["id"]
    if c["status"] == "approved":
        print(f"quorum reached: run `{PROG} ceremony execute {cid}{_suffix(args)}`")
    else:
        print(f"other admins: `{PROG} ceremony approve {cid} --params-hash {c['params_hash']}`")
    return 0


def cmd_ceremony_list(args: argparse.Namespace, api: Any) -> int:
    params = {"status": args.status} if args.status else None
    items = api.call("GET", "/v1/ceremonies", params=params)["ceremonies"]
    if args.json:
        emit_json(items)
    else:
        emit_table(
            _ceremony_rows(items),
            ["ID", "OPERATION", "STATUS", "APPROVALS", "EXPIRES", "PROPOSED BY"],
        )
    return 0


def cmd_ceremony_show(args: argparse.Namespace, api: Any) -> int:
    c = api.call("GET", api_path("/v1/ceremonies", args.id))
    if args.json:
        emit_json(c)
    else:
        show_ceremony(c)
    return 0


def cmd_ceremony_approve(args: argparse.Namespace, api: Any) -> int:
    # What is approved is shown first, and the approval is bound to exactly that (the
    # params hash shown, unless --params-hash names the one agreed elsewhere).
    current = api.call("GET", api_path("/v1/ceremonies", args.id))
    out = sys.stderr if args.json else sys.stdout
    print(
        f"approving {current['id']}: {current['operation']} "
        f"{json.dumps(current.get('params', {}), sort_keys=True, ensure_ascii=False)} "
        f"(params hash {current.get('params_hash')})",
        file=out,
    )
    body = {"params_hash": args.params_hash or current.get("params_hash")}
    c = api.call("POST", api_path("/v1/ceremonies", args.id, "approve"), body)
    if args.json:
        emit_json(c)
        return 0
    print(f"{c['id']}: {c['status']} ({c['approvals']} of {c['required']} approvals)")
    if c["status"] == "approved":
        print(f"quorum reached: run `{PROG} ceremony execute {c['id']}{_suffix(args)}`")
    return 0


def cmd_ceremony_reject(args: argparse.Namespace, api: Any) -> int:
    body = {} if args.reason is None else {"reason": args.reason}
    c = api.call("POST", api_path("/v1/ceremonies", args.id, "reject"), body)
    if args.json:
        emit_json(c)
    else:
        print(f"{c['id']}: {c['status']} ({c['operation']})")
    return 0


def cmd_ceremony_execute(args: argparse.Namespace, api: Any) -> int:
    material = read_execute_material(args)
    body = {} if material is None else {"material": material}
    outcome = api.call("POST", api_path("/v1/ceremonies", args.id, "execute"), body)
    if args.json:
        emit_json(outcome)
        return 0
    c = outcome["ceremony"]
    print(f"executed {c['id']} ({c['operation']})")
    print_result(outcome.get("result") or {})
    return 0


# ================================================================ registration


def command_adder(
    add_remote: AddOptions, add_json: AddOptions, api_of: ApiOf
) -> Callable[[Any, str, str, Action], argparse.ArgumentParser]:
    """`add(parent, name, text, action)`: a remote `--json` command running `action(args, api)`."""

    def remote(action: Action) -> Callable[..., int]:
        def run(args: argparse.Namespace) -> int:
            return action(args, api_of(args))

        return run

    def add(parent: Any, name: str, text: str, action: Action) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text)
        add_remote(p)
        add_json(p)
        p.set_defaults(run=remote(action))
        return p

    return add


def register(
    commands: Any,
    *,
    add_remote: AddOptions,
    add_json: AddOptions,
    api_of: ApiOf,
) -> None:
    """Add the `ceremony` group."""
    add = command_adder(add_remote, add_json, api_of)

    ceremony = commands.add_parser(
        "ceremony",
        help="sensitive operations approved by several admins (propose, approve, execute)",
        description="A ceremony runs a sensitive operation once enough distinct admins of "
        "the tenant approved it, each with their own token (docs/ceremonies.md).",
    )
    cers = ceremony.add_subparsers(dest="ceremony_command", metavar="ACTION", required=True)

    p = add(cers, "propose", "propose an operation (counts as your approval)", cmd_ceremony_propose)
    p.add_argument("operation", help="e.g. delete_identity, create_admin_token, destroy_kek")
    p.add_argument(
        "--param",
        action="append",
        type=key_value,
        metavar="KEY=VALUE",
        help='a parameter; VALUE is read as JSON when it parses (3, true, ["a"]), else text',
    )
    p.add_argument("--params", metavar="JSON", help="parameters as a JSON object")
    p.add_argument("--ttl", type=int, metavar="SECONDS", help="expiry (default: the policy's)")

    p = add(cers, "list", "list this tenant's ceremonies", cmd_ceremony_list)
    p.add_argument(
        "--status",
        choices=("pending", "approved", "executing", "executed", "rejected", "expired"),
        help="only ceremonies in this state",
    )

    p = add(cers, "show", "show one ceremony", cmd_ceremony_show)
    p.add_argument("id", metavar="CID")

    p = add(
        cers,
        "approve",
        "approve with your token (shows the operation and params first)",
        cmd_ceremony_approve,
    )
    p.add_argument("id", metavar="CID")
    p.add_argument(
        "--params-hash",
        metavar="H",
        help="refuse unless the params hash is H (as agreed out of band); default: the "
        "hash of the params shown",
    )

    p = add(cers, "reject", "reject (veto) an open ceremony: final", cmd_ceremony_reject)
    p.add_argument("id", metavar="CID")
    p.add_argument("--reason", help="why, for the audit log")

    p = add(cers, "execute", "run an approved ceremony (result shown once)", cmd_ceremony_execute)
    p.add_argument("id", metavar="CID")
    material = p.add_mutually_exclusive_group()
    material.add_argument(
        "--material-file", metavar="F", help="the material approved by hash (a backup file)"
    )
    material.add_argument(
        "--material-stdin",
        action="store_true",
        help="read the material from stdin, less one trailing newline (an import: the key "
        "line, then the ncryptsec password line; asked without echo on a terminal)",
    )
