"""`nostr-passport audit ...` and `nostr-passport attest ...` (docs/audit.md section 8).

Verification runs offline: from an export file, or from the data directory's store. Only
signing a checkpoint needs the running server, because only it holds the HSM session.
Exit codes: 0 verified, 1 read but NOT verified (or an error), 2 input unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nostr_passport.config import load_config
from nostr_passport.service import audit_commands
from nostr_passport.store import Store
from nostr_passport.store.canonical import canonical_json

AddOptions = Callable[[argparse.ArgumentParser], None]


class AuditCliError(Exception):
    """A failure to report on stderr with exit status 1."""


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise AuditCliError(f"cannot read {path}: {exc.strerror}") from None


def _keys(paths: list[str] | None) -> set[str] | None:
    if not paths:
        return None
    return {audit_commands.public_key_hex(_read(p)) for p in paths}


def _open_store(args: argparse.Namespace, data_dir_of: Callable[[Any], Path]) -> Store:
    config = load_config(data_dir_of(args))
    return Store.open(config.store_url, migrate=False)


def _print(result: dict[str, Any], args: argparse.Namespace) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    summary = result.get("summary")
    if isinstance(summary, list):
        print("\n".join(summary))
    elif isinstance(summary, str):
        print(summary)
    else:
        print(json.dumps(result, indent=2, ensure_ascii=False))


def register(
    commands: Any,
    *,
    add_data_dir: AddOptions,
    add_remote: AddOptions,
    add_json: AddOptions,
    data_dir_of: Callable[[Any], Path],
    api_of: Callable[[argparse.Namespace], Any],
) -> None:
    """Add the `audit` and `attest` command groups to the top-level subparsers."""

    def cmd_verify(args: argparse.Namespace) -> int:
        keys = _keys(args.key)
        if args.export:
            result, code = audit_commands.verify_command(
                export=_read(args.export), trusted_keys=keys
            )
        else:
            store = _open_store(args, data_dir_of)
            try:
                result, code = audit_commands.verify_command(store=store, trusted_keys=keys)
            finally:
                store.close()
        _print(result, args)
        return code

    def cmd_export(args: argparse.Namespace) -> int:
        store = _open_store(args, data_dir_of)
        try:
            data = audit_commands.export_command(store)
        finally:
            store.close()
        if args.output and args.output != "-":
            Path(args.output).write_bytes(data)
            print(f"exported to {args.output}", file=sys.stderr)
        else:
            sys.stdout.buffer.write(data)
        return 0

    def cmd_proof(args: argparse.Namespace) -> int:
        if args.verify:
            result, code = audit_commands.verify_proof_command(
                _read(args.verify), trusted_keys=_keys(args.key)
            )
            _print(result, args)
            return code
        if args.index is None:
            raise AuditCliError("give a record index, or --verify FILE")
        store = _open_store(args, data_dir_of)
        try:
            proof = audit_commands.proof_view(store, args.index, tree_size=args.size)
        finally:
            store.close()
        # Canonical JSON, so the very output can be verified with `audit proof --verify`.
        print(canonical_json(proof))
        return 0

    def cmd_checkpoint(args: argparse.Namespace) -> int:
        result = api_of(args).call("POST", "/v1/audit/checkpoints")
        _print(result, args) if args.json else print(json.dumps(result["checkpoint"]))
        return 0

    def cmd_attest_get(args: argparse.Namespace) -> int:
        bundle = api_of(args).call("GET", f"/v1/identities/{args.identity}/attestation")
        text = canonical_json(bundle)  # the verifier reads canonical JSON only
        if args.output and args.output != "-":
            Path(args.output).write_text(text)
        else:
            print(text)
        return 0

    def cmd_attest_verify(args: argparse.Namespace) -> int:
        result, code = audit_commands.attest_verify_command(
            _read(args.bundle),
            trusted_audit_keys=_keys(args.audit_key),
            trusted_attestation_keys=_keys(args.attestation_key),
        )
        _print(result, args)
        return code

    audit = commands.add_parser(
        "audit",
        help="verify, export and prove the tamper-evident audit log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    acts = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    p = acts.add_parser(
        "verify", help="recompute every leaf, root and checkpoint; exit 1 at the first bad one"
    )
    p.add_argument("--export", metavar="FILE", help="verify an export file ('-': stdin)")
    p.add_argument("--key", action="append", metavar="PEM", help="pin the audit key (repeatable)")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(run=cmd_verify)

    p = acts.add_parser("export", help="write the log and its checkpoints (JSON lines)")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    add_data_dir(p)
    p.set_defaults(run=cmd_export)

    p = acts.add_parser("proof", help="inclusion proof of record N, or verify a proof file")
    p.add_argument("index", nargs="?", type=int, help="record index")
    p.add_argument("--size", type=int, help="tree size (default: the latest checkpoint)")
    p.add_argument("--verify", metavar="FILE", help="verify a proof file offline")
    p.add_argument("--key", action="append", metavar="PEM", help="pin the audit key")
    add_data_dir(p)
    add_json(p)
    p.set_defaults(run=cmd_proof)

    p = acts.add_parser("checkpoint", help="have the server sign a checkpoint now (admin)")
    add_remote(p)
    add_json(p)
    p.set_defaults(run=cmd_checkpoint)

    attest = commands.add_parser("attest", help="key attestation bundles")
    atts = attest.add_subparsers(dest="attest_command", metavar="ACTION", required=True)
    p = atts.add_parser("get", help="fetch an identity's attestation bundle from the server")
    p.add_argument("identity")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    add_remote(p)
    p.set_defaults(run=cmd_attest_get)

    p = atts.add_parser(
        "verify", help="verify a bundle offline and say which HSM holds which share"
    )
    p.add_argument("bundle", help="bundle file ('-': stdin)")
    p.add_argument("--audit-key", action="append", metavar="PEM", help="pin the audit key")
    p.add_argument(
        "--attestation-key", action="append", metavar="PEM", help="pin an HSM attestation key"
    )
    add_json(p)
    p.set_defaults(run=cmd_attest_verify)
