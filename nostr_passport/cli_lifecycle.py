"""`nostr-passport` commands for the key lifecycle (docs/cli.md).

- `identity refresh|backup|restore|import|migrate|reshape`;
- `signer list|drain|rotate-kek`.

Everything goes through a running server's HTTP API with the caller's own token. The
sensitive operations (restore, import, migrate, reshape, KEK destruction) are ceremonies,
run through the shared flow of `cli_ceremony` (`propose_and_run`, `emit_run`). Secrets
(an nsec, an ncryptsec password) are read from stdin or a terminal prompt, never from the
command line, and are never printed: ceremony params carry only their SHA-256.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nostr_passport.cli import ApiError, CliError, emit_json, emit_table, warn
from nostr_passport.cli_ceremony import (
    AddOptions,
    ApiOf,
    api_path,
    command_adder,
    emit_run,
    propose_and_run,
    read_import_material,
    read_text_file,
    sha256_hex,
)

BACKUP_FORMAT = "nostr-passport-backup/1"
MAX_PARTICIPANT = 254


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


# ================================================================ identity commands


def _identity(api: Any, identity_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.call("GET", api_path("/v1/identities", identity_id))
    return found


def _holders(identity: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{s['participant']}={s['signer_id']}"
        for s in sorted(identity.get("signers", []), key=lambda s: int(s["participant"]))
    )


def cmd_refresh(args: argparse.Namespace, api: Any) -> int:
    done = api.call("POST", api_path("/v1/identities", args.id, "refresh"))
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
        document = api.call("POST", api_path("/v1/identities", args.id, "backup"), body)
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
    moved = f"migrated participant {args.participant} of {args.id} to {args.to_signer}"
    return emit_run(args, run, _identity_after(api, args.id, lambda _: moved))


def cmd_reshape(args: argparse.Namespace, api: Any) -> int:
    if len(set(args.signer)) != len(args.signer):
        raise CliError("--signer: a signer is named twice")
    if not 1 <= args.threshold <= len(args.signer):
        raise CliError(f"--threshold must be from 1 to the number of signers ({len(args.signer)})")
    params = {"identity_id": args.id, "threshold": args.threshold, "signers": list(args.signer)}
    run = propose_and_run(api, args, "reshape_identity", params)

    def reshaped(identity: dict[str, Any]) -> str:
        return f"reshaped {args.id}: {identity['threshold']}-of-{identity['participants']}"

    return emit_run(args, run, _identity_after(api, args.id, reshaped))


def _identity_after(
    api: Any, identity_id: str, headline: Callable[[dict[str, Any]], str]
) -> Callable[[dict[str, Any]], None]:
    """What migrate and reshape print once executed: the identity as it is now."""

    def describe(result: dict[str, Any]) -> None:
        identity = _identity(api, identity_id)
        print(f"{headline(identity)} (epoch {identity.get('epoch')}, same npub {identity['npub']})")
        print(f"  holders now: {_holders(identity)}")

    return describe


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


# ================================================================ registration


def register(
    *,
    identities: Any,
    signers: Any,
    add_remote: AddOptions,
    add_json: AddOptions,
    api_of: ApiOf,
) -> None:
    """Add the lifecycle commands to `identity` and `signer`."""
    add = command_adder(add_remote, add_json, api_of)

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
