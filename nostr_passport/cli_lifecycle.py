"""`nostr-passport` commands for the key lifecycle and ceremonies (docs/cli.md).

- `identity refresh|backup|restore|import|migrate|reshape` and `signer list|drain|rotate-kek`;
- `ceremony propose|list|show|approve|reject|execute`.

Everything goes through a running server's HTTP API with the caller's own token. The
sensitive operations (restore, import, migrate, reshape, KEK destruction) are ceremonies:
one shared flow (`propose_and_run`) proposes them, executes them at once when the quorum
is already reached (a single-admin install), and otherwise prints what the other admins
run. Secrets (an nsec, an ncryptsec password) are read from stdin or a terminal prompt,
never from the command line (it shows in `ps`), and are never printed: ceremony params
carry only their SHA-256.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from nostr_passport.cli import ApiError, CliError, emit_json, emit_table, warn

PROG = "nostr-passport"
BACKUP_FORMAT = "nostr-passport-backup/1"
MAX_PARTICIPANT = 254

AddOptions = Callable[[argparse.ArgumentParser], None]
ApiOf = Callable[[argparse.Namespace], Any]
Prompt = Callable[[str], str]


# ================================================================ small parsers


def participant_pair(option: str, example: str) -> Callable[[str], tuple[int, str]]:
    """An argparse type for PARTICIPANT=VALUE (a usage error, exit 2, when malformed)."""

    def parse(value: str) -> tuple[int, str]:
        number, sep, target = value.partition("=")
        number, target = number.strip(), target.strip()
        if not sep or not number.isdigit() or not target:
            raise argparse.ArgumentTypeError(
                f"{option} wants PARTICIPANT=VALUE, e.g. {option} {example}; got {value!r}"
            )
        if int(number) > MAX_PARTICIPANT:
            raise argparse.ArgumentTypeError(
                f"{option}: participant numbers go from 0 to {MAX_PARTICIPANT}; got {number}"
            )
        return int(number), target

    parse.__name__ = f"{option} PARTICIPANT=VALUE"
    return parse


def pairs_to_map(pairs: Sequence[tuple[int, str]], option: str) -> dict[str, str]:
    """{"participant": value}, refusing a participant named twice."""
    result: dict[str, str] = {}
    for participant, value in pairs:
        key = str(participant)
        if key in result:
            raise CliError(f"{option}: participant {participant} is given twice")
        result[key] = value
    return result


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


def _path(*parts: str) -> str:
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
        outcome = api.call("POST", _path("/v1/ceremonies", cid, "execute"), body)
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


# ================================================================ identity commands


def _identity(api: Any, identity_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.call("GET", _path("/v1/identities", identity_id))
    return found


def _holders(identity: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{s['participant']}={s['signer_id']}"
        for s in sorted(identity.get("signers", []), key=lambda s: int(s["participant"]))
    )


def cmd_refresh(args: argparse.Namespace, api: Any) -> int:
    done = api.call("POST", _path("/v1/identities", args.id, "refresh"))
    if args.json:
        emit_json(done)
    else:
        print(
            f"refreshed {done['id']}: epoch {done['from_epoch']} -> {done['to_epoch']} "
            f"(same npub {done['npub']})"
        )
        print(f"  signers: {', '.join(done.get('signers', []))}")
        print("  take a new backup now: backups of the old epoch no longer restore")
    if done.get("leftovers"):
        warn(
            "old shares could not be deleted yet at: "
            f"{', '.join(map(str, done['leftovers']))} (the next refresh clears them)"
        )
    return 0


BACKUP_NOTE = (
    "note: {where} holds no key share in the clear: each share is sealed to its target "
    "HSM's transport key and opens only inside that HSM. It is still one half of a restore "
    "(with a restore ceremony and the target signers it brings the shares back): keep it "
    "like an HSM backup, and take a new one after every refresh."
)


def write_private(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to a new 0600 file; an existing one only with `force` (then made 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CliError(f"{path} exists: refusing to overwrite it (--force replaces it)") from None
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def cmd_backup(args: argparse.Namespace, api: Any) -> int:
    targets = pairs_to_map(args.to, "--to")
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not args.force:
        raise CliError(f"{out} exists: refusing to overwrite it (--force replaces it)")
    body = {"to": targets, "allow_software": bool(args.allow_software)}
    try:
        document = api.call("POST", _path("/v1/identities", args.id, "backup"), body)
    except ApiError as exc:
        if exc.code == "backup_target_refused" and not args.allow_software:
            raise CliError(
                f"{exc}. Pass --allow-software to accept a target that keeps its keys in "
                "software (simulator, SoftHSM2: development only)"
            ) from None
        raise
    if not isinstance(document, dict) or document.get("format") != BACKUP_FORMAT:
        raise CliError(f"the server answered something that is not a {BACKUP_FORMAT} document")
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        warn(BACKUP_NOTE.format(where="this backup"))
        return 0
    write_private(out, text, force=args.force)
    shares = [
        {k: s.get(k) for k in ("participant", "target_label", "target_fingerprint")}
        for s in document.get("shares", [])
    ]
    if args.json:
        emit_json(
            {
                "file": str(out),
                "identity_id": document.get("identity_id"),
                "epoch": document.get("epoch"),
                "shares": shares,
            }
        )
    else:
        print(f"backup of {document.get('identity_id')} (epoch {document.get('epoch')}) -> {out}")
        for s in shares:
            print(
                f"  participant {s['participant']} sealed to {s['target_label'] or '?'} "
                f"(transport key {s['target_fingerprint']})"
            )
    warn(BACKUP_NOTE.format(where=str(out)))
    return 0


def cmd_restore(args: argparse.Namespace, api: Any) -> int:
    placements = pairs_to_map(args.place, "--place")
    text = read_text_file(args.file)
    try:
        document = json.loads(text)
    except ValueError:
        raise CliError(f"{args.file} is not a backup document (not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != BACKUP_FORMAT:
        raise CliError(f"{args.file} is not a {BACKUP_FORMAT} document")
    identity_id = document.get("identity_id")
    if not isinstance(identity_id, str) or not identity_id:
        raise CliError(f"{args.file} names no identity_id")
    backed_up = {str(s.get("participant")) for s in document.get("shares", [])}
    missing = sorted(set(placements) - backed_up, key=int)
    if missing:
        raise CliError(
            f"--place: the backup holds no share of participant {', '.join(missing)} "
            f"(it has {', '.join(sorted(backed_up, key=int)) or 'none'})"
        )
    params = {
        "identity_id": identity_id,
        "placements": placements,
        "material_sha256": sha256_hex(text),
    }
    run = propose_and_run(
        api,
        args,
        "restore_identity",
        params,
        material=text,
        material_hint=f"--material-file {args.file}",
    )

    def describe(result: dict[str, Any]) -> None:
        identity = _identity(api, str(result.get("id", identity_id)))
        print(f"restored {identity['id']} (npub {identity['npub']})")
        print(f"  participants restored: {', '.join(map(str, result.get('restored', [])))}")
        print(f"  holders now: {_holders(identity)}")

    return emit_run(args, run, describe)


def _default_signers(api: Any, count: int) -> list[str]:
    listed = api.call("GET", "/v1/signers").get("signers", [])
    ids = [str(s["id"]) for s in listed]
    if len(ids) < count:
        raise CliError(f"{count} signers are needed and the server lists {len(ids)}")
    return ids[:count]


def cmd_import(args: argparse.Namespace, api: Any) -> int:
    kind = "nsec" if args.nsec_stdin else "ncryptsec"
    signers = list(args.signer) if args.signer else None
    if signers is not None and len(set(signers)) != len(signers):
        raise CliError("--signer: a signer is named twice")
    if args.threshold < 1:
        raise CliError("--threshold must be at least 1")
    material = read_import_material(kind)
    if signers is None:
        signers = _default_signers(api, args.participants)
    params: dict[str, Any] = {
        "threshold": args.threshold,
        "signers": signers,
        "material_sha256": sha256_hex(material),
    }
    if args.label is not None:
        params["label"] = args.label
    run = propose_and_run(
        api,
        args,
        "import_identity",
        params,
        material=material,
        material_hint="--material-stdin",
        material_note=f"stdin: the {kind} line"
        + (", then the password line" if kind == "ncryptsec" else "")
        + "; asked without echo on a terminal",
    )
    del material
    identity: dict[str, Any] | None = None
    if run.result is not None and run.result.get("id"):
        identity = _identity(api, str(run.result["id"]))

    def describe(result: dict[str, Any]) -> None:
        assert identity is not None
        print(f"imported {identity['id']}")
        print(f"  npub:      {identity['npub']}")
        print(f"  threshold: {identity['threshold']}-of-{identity['participants']}")
        print(f"  holders:   {_holders(identity)}")
        print(
            "  marked imported_from_software: the key existed whole outside any HSM, and "
            "whoever had it may have it still"
        )

    return emit_run(args, run, describe, {"identity": identity} if identity else None)


def cmd_migrate(args: argparse.Namespace, api: Any) -> int:
    # Checked here too, so a plain mistake is named before a ceremony is opened for it.
    holders = {int(s["participant"]): s["signer_id"] for s in _identity(api, args.id)["signers"]}
    if args.participant not in holders:
        raise CliError(
            f"{args.id} has no participant {args.participant} "
            f"(it has {', '.join(map(str, sorted(holders)))})"
        )
    for participant, signer in holders.items():
        if signer == args.to_signer:
            raise CliError(
                f"{args.to_signer} already holds participant {participant} of {args.id}: "
                "one signer holds at most one share of an identity"
            )
    params = {
        "identity_id": args.id,
        "participant": args.participant,
        "to_signer": args.to_signer,
    }
    run = propose_and_run(api, args, "migrate_participant", params)

    def describe(result: dict[str, Any]) -> None:
        identity = _identity(api, args.id)
        print(
            f"migrated participant {args.participant} of {args.id} to {args.to_signer} "
            f"(epoch {identity.get('epoch')}, same npub {identity['npub']})"
        )
        print(f"  holders now: {_holders(identity)}")

    return emit_run(args, run, describe)


def cmd_reshape(args: argparse.Namespace, api: Any) -> int:
    if len(set(args.signer)) != len(args.signer):
        raise CliError("--signer: a signer is named twice")
    if not 1 <= args.threshold <= len(args.signer):
        raise CliError(f"--threshold must be from 1 to the number of signers ({len(args.signer)})")
    params = {"identity_id": args.id, "threshold": args.threshold, "signers": list(args.signer)}
    run = propose_and_run(api, args, "reshape_identity", params)

    def describe(result: dict[str, Any]) -> None:
        identity = _identity(api, args.id)
        print(
            f"reshaped {args.id}: {identity['threshold']}-of-{identity['participants']} "
            f"(epoch {identity.get('epoch')}, same npub {identity['npub']})"
        )
        print(f"  holders now: {_holders(identity)}")

    return emit_run(args, run, describe)


# ================================================================ signer commands


def cmd_signer_drain(args: argparse.Namespace, api: Any) -> int:
    if args.from_signer == args.to_signer:
        raise CliError("drain: the signer to empty and --to must differ")
    params = {"from_signer": args.from_signer, "to_signer": args.to_signer}
    run = propose_and_run(api, args, "migrate_signer", params)

    def describe(result: dict[str, Any]) -> None:
        moved = result.get("moved", [])
        print(
            f"moved {len(moved)} share(s) from {args.from_signer} to {args.to_signer}; "
            f"{args.from_signer} holds nothing now and can be removed from the config"
        )
        for identity_id in moved:
            print(f"  {identity_id}")

    return emit_run(args, run, describe)


def cmd_signer_list(args: argparse.Namespace, api: Any) -> int:
    signers = api.call("GET", "/v1/signers").get("signers", [])
    if args.json:
        emit_json(signers)
        return 0
    emit_table(
        [
            [
                s["id"],
                s.get("kind"),
                s.get("provider_kind"),
                "yes" if s.get("simulated") else "no",
                "yes" if s.get("supports_dkg") else "no",
                s.get("transport_public_key"),
            ]
            for s in signers
        ],
        ["ID", "KIND", "PROVIDER", "SIMULATED", "DKG", "TRANSPORT KEY (backup --to)"],
    )
    return 0


def _print_rotations(rotated: Mapping[str, Any]) -> None:
    emit_table(
        [
            [
                sid,
                r.get("new_kek_id"),
                ", ".join(map(str, r.get("destroyed_kek_ids", []))) or "-",
                r.get("rewrapped"),
            ]
            for sid, r in sorted(rotated.items())
        ],
        ["SIGNER", "NEW KEK", "DESTROYED", "REWRAPPED"],
    )


def cmd_rotate_kek(args: argparse.Namespace, api: Any) -> int:
    signers = list(args.signer) if args.signer else None
    body = {} if signers is None else {"signers": signers}
    try:
        done = api.call("POST", "/v1/signers/rotate-kek", body)
    except ApiError as exc:
        if exc.code != "ceremony_required":
            raise
        warn(
            "rotating KEKs destroys the old ones and needs several admins here: "
            "proposing a destroy_kek ceremony"
        )
        run = propose_and_run(api, args, "destroy_kek", body)
        return emit_run(args, run, _print_rotations)
    if args.json:
        emit_json(done)
    else:
        _print_rotations(done.get("rotated", {}))
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
    c = api.call("GET", _path("/v1/ceremonies", args.id))
    if args.json:
        emit_json(c)
    else:
        show_ceremony(c)
    return 0


def cmd_ceremony_approve(args: argparse.Namespace, api: Any) -> int:
    # What is approved is shown first, and the approval is bound to exactly that (the
    # params hash shown, unless --params-hash names the one agreed elsewhere).
    current = api.call("GET", _path("/v1/ceremonies", args.id))
    out = sys.stderr if args.json else sys.stdout
    print(
        f"approving {current['id']}: {current['operation']} "
        f"{json.dumps(current.get('params', {}), sort_keys=True, ensure_ascii=False)} "
        f"(params hash {current.get('params_hash')})",
        file=out,
    )
    body = {"params_hash": args.params_hash or current.get("params_hash")}
    c = api.call("POST", _path("/v1/ceremonies", args.id, "approve"), body)
    if args.json:
        emit_json(c)
        return 0
    print(f"{c['id']}: {c['status']} ({c['approvals']} of {c['required']} approvals)")
    if c["status"] == "approved":
        print(f"quorum reached: run `{PROG} ceremony execute {c['id']}{_suffix(args)}`")
    return 0


def cmd_ceremony_reject(args: argparse.Namespace, api: Any) -> int:
    body = {} if args.reason is None else {"reason": args.reason}
    c = api.call("POST", _path("/v1/ceremonies", args.id, "reject"), body)
    if args.json:
        emit_json(c)
    else:
        print(f"{c['id']}: {c['status']} ({c['operation']})")
    return 0


def cmd_ceremony_execute(args: argparse.Namespace, api: Any) -> int:
    material = read_execute_material(args)
    body = {} if material is None else {"material": material}
    outcome = api.call("POST", _path("/v1/ceremonies", args.id, "execute"), body)
    if args.json:
        emit_json(outcome)
        return 0
    c = outcome["ceremony"]
    print(f"executed {c['id']} ({c['operation']})")
    print_result(outcome.get("result") or {})
    return 0


# ================================================================ registration


def register(
    commands: Any,
    *,
    identities: Any,
    signers: Any,
    add_remote: AddOptions,
    add_json: AddOptions,
    api_of: ApiOf,
) -> None:
    """Add the lifecycle commands to `identity` and `signer`, and the `ceremony` group."""

    def remote(action: Callable[[argparse.Namespace, Any], int]) -> Callable[..., int]:
        def run(args: argparse.Namespace) -> int:
            return action(args, api_of(args))

        return run

    def add(
        parent: Any, name: str, text: str, action: Callable[[argparse.Namespace, Any], int]
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text)
        add_remote(p)
        add_json(p)
        p.set_defaults(run=remote(action))
        return p

    to_pair = participant_pair("--to", "0=signer-4")
    place_pair = participant_pair("--place", "0=signer-4")

    # ---------------------------------------------------------------- identity
    p = add(
        identities,
        "refresh",
        "refresh an identity's shares (new epoch, same npub; old shares then deleted)",
        cmd_refresh,
    )
    p.add_argument("id")

    p = add(
        identities,
        "backup",
        "export shares sealed to other HSMs' transport keys (restore needs a ceremony)",
        cmd_backup,
    )
    p.add_argument("id")
    p.add_argument(
        "--to",
        action="append",
        required=True,
        type=to_pair,
        metavar="P=TARGET",
        help="participant P's share goes to TARGET: a signer id or a transport public key "
        "(hex, from `signer list`); repeat for each participant",
    )
    p.add_argument(
        "--allow-software",
        action="store_true",
        help="accept targets that keep keys in software (simulator, SoftHSM2): development",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here (0600), not to stdout")
    p.add_argument("--force", action="store_true", help="overwrite an existing FILE")

    p = add(
        identities,
        "restore",
        "restore shares from a backup file into their target signers (a ceremony)",
        cmd_restore,
    )
    p.add_argument("file", metavar="FILE", help="the backup document (`identity backup -o`)")
    p.add_argument(
        "--place",
        action="append",
        required=True,
        type=place_pair,
        metavar="P=SIGNER",
        help="put participant P's share on SIGNER (the signer it was sealed to); repeat",
    )

    p = add(
        identities,
        "import",
        "import a software key (nsec or NIP-49 ncryptsec from stdin) as shares (a ceremony)",
        cmd_import,
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--nsec-stdin",
        action="store_true",
        help="read the nsec from stdin's first line (asked without echo on a terminal)",
    )
    source.add_argument(
        "--ncryptsec-stdin",
        action="store_true",
        help="read the ncryptsec from stdin's first line and its password from the second",
    )
    p.add_argument("--threshold", "-t", type=int, default=2, help="signers needed (default 2)")
    p.add_argument(
        "--signer",
        action="append",
        metavar="SIGNER",
        help="a signer to hold a share, in participant order; repeat (default: the first "
        "--participants signers of `signer list`)",
    )
    p.add_argument(
        "--participants", "-n", type=int, default=3, help="shares when --signer is not given"
    )
    p.add_argument("--label", help="a name for people")

    p = add(
        identities,
        "migrate",
        "move one participant's share to another signer (a ceremony; refreshes the shares)",
        cmd_migrate,
    )
    p.add_argument("id")
    p.add_argument("participant", type=int, help="participant number (0-based)")
    p.add_argument("to_signer", metavar="TO_SIGNER", help="the signer to hold it")

    p = add(
        identities,
        "reshape",
        "change an identity's threshold or signer set, same npub (a ceremony)",
        cmd_reshape,
    )
    p.add_argument("id")
    p.add_argument("--threshold", "-t", type=int, required=True, help="new threshold")
    p.add_argument(
        "--signer",
        action="append",
        required=True,
        metavar="SIGNER",
        help="a signer of the new set, in participant order; repeat",
    )

    # ---------------------------------------------------------------- signer
    add(
        signers,
        "list",
        "list the registered signers, their HSMs and transport keys (backup targets)",
        cmd_signer_list,
    )
    p = add(
        signers,
        "drain",
        "move every share a signer holds to another signer (same npubs, zero downtime), "
        "so the first can be retired (a migrate_signer ceremony, system tenant)",
        cmd_signer_drain,
    )
    p.add_argument("from_signer", metavar="SIGNER", help="the signer to empty")
    p.add_argument("--to", dest="to_signer", required=True, help="the signer that takes over")
    p = add(
        signers,
        "rotate-kek",
        "new KEK in each signer's HSM, shares rewrapped, old KEK destroyed (admin; "
        "a destroy_kek ceremony from two admins on)",
        cmd_rotate_kek,
    )
    p.add_argument(
        "--signer", action="append", metavar="SIGNER", help="only this signer; repeat (default all)"
    )

    # ---------------------------------------------------------------- ceremony
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
