"""The lifecycle and ceremony commands against a fake server (httpx.MockTransport).

Argument parsing, the shared propose-then-execute flow, what is sent and what is never
printed. tests/e2e/test_cli_lifecycle.py runs the same commands against a real server.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from nostr_passport import cli, cli_ceremony
from nostr_passport.cli_ceremony import read_import_material

NSEC = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
Handler = Callable[[str, str, Any], tuple[int, Any]]


@dataclass
class FakeServer:
    """Answers by (method, path); records every request body."""

    routes: dict[tuple[str, str], Callable[[Any], tuple[int, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Any, status: int = 200) -> None:
        self.routes[(method, path)] = lambda body: (status, answer)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
        self.calls.append((request.method, path, body))
        route = self.routes.get((request.method, path))
        if route is None:
            return httpx.Response(404, json={"error": "not_found", "message": path})
        status, answer = route(body)
        return httpx.Response(status, json=answer)

    def posted(self, path: str) -> list[Any]:
        return [b for m, p, b in self.calls if m == "POST" and p == path]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer()

    def api_of(args: Any) -> cli.Api:
        api = cli.Api("http://np.test", "np_test")
        api.client = httpx.Client(
            base_url="http://np.test", transport=httpx.MockTransport(fake.handle)
        )
        return api

    monkeypatch.setattr(cli, "api_of", api_of)
    return fake


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: bytes | None = None
) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        if stdin is not None:
            patch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ceremony(cid: str, operation: str, status: str, required: int = 1, **extra: Any) -> Any:
    return {
        "id": cid,
        "operation": operation,
        "params": extra.pop("params", {}),
        "params_hash": "ab" * 32,
        "required": required,
        "approvals": 1,
        "approved_by": [],
        "status": status,
        "proposed_by": "tok_a",
        "created_at": 1_800_000_000,
        "expires_at": 1_800_086_400,
        "decided_at": None,
        "decided_by": None,
        "result": None,
        **extra,
    }


IDENTITY = {
    "id": "id_1",
    "npub": "npub1xyz",
    "pubkey": "00" * 32,
    "threshold": 2,
    "participants": 3,
    "status": "active",
    "epoch": 2,
    "keygen_method": "import",
    "imported_from_software": True,
    "signers": [
        {"participant": i, "signer_id": f"signer-{i + 1}", "pubshare": "02" + "11" * 32}
        for i in range(3)
    ],
}


# ================================================================ parsing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["identity", "backup", "id_1", "--to", "signer-4"], "PARTICIPANT=VALUE"),
        (["identity", "backup", "id_1", "--to", "x=signer-4"], "PARTICIPANT=VALUE"),
        (["identity", "backup", "id_1", "--to", "0="], "PARTICIPANT=VALUE"),
        (["identity", "backup", "id_1", "--to", "300=s"], "from 0 to 254"),
        (["identity", "restore", "f.json", "--place", "zero=s"], "--place"),
        (["identity", "backup", "id_1"], "--to"),
        (["identity", "create", "--keygen", "magic"], "invalid choice"),
        (["identity", "import", "--nsec-stdin", "--ncryptsec-stdin"], "not allowed"),
        (["identity", "import"], "one of the arguments"),
        (["ceremony", "propose", "x", "--param", "novalue"], "KEY=VALUE"),
        (["ceremony", "execute", "c", "--material-file", "f", "--material-stdin"], "not allowed"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2 and message in err


def test_key_value_reads_json_when_it_parses() -> None:
    assert cli_ceremony.key_value("n=3") == ("n", 3)
    assert cli_ceremony.key_value('s=["a"]') == ("s", ["a"])
    assert cli_ceremony.key_value("name=bob") == ("name", "bob")
    assert cli_ceremony.key_value("force=true") == ("force", True)


def test_create_sends_keygen_only_when_given(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/v1/identities", IDENTITY, 201)
    assert run(["identity", "create", "--keygen", "dealer", "--json"], capsys)[0] == 0
    assert run(["identity", "create"], capsys)[0] == 0
    first, second = server.posted("/v1/identities")
    assert first["keygen"] == "dealer" and "keygen" not in second


# ================================================================ the ceremony flow


def test_approved_proposal_executes_at_once_with_the_material(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    backup = tmp_path / "b.json"
    text = json.dumps(
        {"format": "nostr-passport-backup/1", "identity_id": "id_1", "shares": [{"participant": 0}]}
    )
    backup.write_bytes(text.encode())
    server.on("POST", "/v1/ceremonies", ceremony("cer_1", "restore_identity", "approved"), 201)
    done = ceremony("cer_1", "restore_identity", "executed")
    server.on("POST", "/v1/ceremonies/cer_1/execute", {"ceremony": done, "result": {"id": "id_1"}})
    server.on("GET", "/v1/identities/id_1", IDENTITY)
    code, out, _ = run(["identity", "restore", str(backup), "--place", "0=signer-4"], capsys)
    assert code == 0 and "restored id_1" in out
    (proposal,) = server.posted("/v1/ceremonies")
    assert proposal == {
        "operation": "restore_identity",
        "params": {
            "identity_id": "id_1",
            "placements": {"0": "signer-4"},
            "material_sha256": hashlib.sha256(text.encode()).hexdigest(),
        },
    }
    assert server.posted("/v1/ceremonies/cer_1/execute") == [{"material": text}]


def test_pending_proposal_prints_the_steps_and_does_not_execute(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/v1/ceremonies", ceremony("cer_2", "migrate_participant", "pending", 2), 201)
    server.on("GET", "/v1/identities/id_1", IDENTITY)
    code, _, err = run(["identity", "migrate", "id_1", "0", "signer-2"], capsys)
    assert code == 1 and "already holds participant 1" in err
    code, _, err = run(["identity", "migrate", "id_1", "7", "signer-4"], capsys)
    assert code == 1 and "no participant 7" in err
    assert not server.posted("/v1/ceremonies")
    code, out, _ = run(
        ["identity", "migrate", "id_1", "0", "signer-4", "--url", "http://np.test"], capsys
    )
    assert code == 0
    assert "needs 2 admin approvals" in out and "1 more needed" in out
    assert f"nostr-passport ceremony approve cer_2 --params-hash {'ab' * 32}" in out
    assert "nostr-passport ceremony execute cer_2 --url http://np.test" in out
    assert "np_test" not in out  # never the token
    assert not server.posted("/v1/ceremonies/cer_2/execute")
    code, out, _ = run(["identity", "migrate", "id_1", "0", "signer-4", "--json"], capsys)
    report = json.loads(out)
    assert report["executed"] is False and len(report["next"]) == 3
    (first, _) = server.posted("/v1/ceremonies")
    assert first["params"] == {"identity_id": "id_1", "participant": 0, "to_signer": "signer-4"}


def test_failed_execution_names_the_ceremony_to_retry(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/v1/ceremonies", ceremony("cer_3", "reshape_identity", "approved"), 201)
    server.on(
        "POST",
        "/v1/ceremonies/cer_3/execute",
        {"error": "lifecycle_failed", "message": "signer down"},
        502,
    )
    code, _, err = run(
        ["identity", "reshape", "id_1", "-t", "2", "--signer", "a", "--signer", "b"], capsys
    )
    assert code == 1 and "cer_3" in err and "signer down" in err and "stays approved" in err


def test_rotate_kek_falls_back_to_a_destroy_kek_ceremony(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on(
        "POST",
        "/v1/signers/rotate-kek",
        {"error": "ceremony_required", "message": "destroy_kek needs 2 admin approvals"},
        403,
    )
    server.on("POST", "/v1/ceremonies", ceremony("cer_4", "destroy_kek", "pending", 2), 201)
    code, out, err = run(["signer", "rotate-kek", "--signer", "signer-1"], capsys)
    assert code == 0 and "destroy_kek ceremony" in err and "cer_4" in out
    assert server.posted("/v1/ceremonies")[0] == {
        "operation": "destroy_kek",
        "params": {"signers": ["signer-1"]},
    }


def test_other_api_errors_are_not_turned_into_ceremonies(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/v1/signers/rotate-kek", {"error": "forbidden", "message": "no"}, 403)
    code, _, err = run(["signer", "rotate-kek"], capsys)
    assert code == 1 and err.startswith("error: forbidden") and not server.posted("/v1/ceremonies")


# ================================================================ import: secrets stay out


def test_import_nsec_reads_stdin_and_never_prints_the_key(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", "/v1/signers", {"signers": [{"id": f"signer-{i}"} for i in (1, 2, 3, 4)]})
    server.on("POST", "/v1/ceremonies", ceremony("cer_5", "import_identity", "approved"), 201)
    done = ceremony("cer_5", "import_identity", "executed")
    server.on("POST", "/v1/ceremonies/cer_5/execute", {"ceremony": done, "result": {"id": "id_1"}})
    server.on("GET", "/v1/identities/id_1", IDENTITY)
    code, out, err = run(
        ["identity", "import", "--nsec-stdin", "--label", "imported"], capsys, f"{NSEC}\n".encode()
    )
    assert code == 0 and "npub1xyz" in out and "imported_from_software" in out
    assert NSEC not in out + err
    (proposal,) = server.posted("/v1/ceremonies")
    assert proposal["params"] == {
        "threshold": 2,
        "signers": ["signer-1", "signer-2", "signer-3"],
        "label": "imported",
        "material_sha256": hashlib.sha256(NSEC.encode()).hexdigest(),
    }
    assert NSEC not in json.dumps(proposal)
    assert server.posted("/v1/ceremonies/cer_5/execute") == [{"material": NSEC}]


def test_import_material_forms() -> None:
    assert read_import_material("nsec", io.BytesIO(f"{NSEC}\r\n".encode()), tty=False) == NSEC
    two_lines = io.BytesIO(b"ncryptsec1abc\npass word \n")
    assert read_import_material("ncryptsec", two_lines, tty=False) == "ncryptsec1abc\npass word "
    asked = iter(["ncryptsec1abc\n", "pw"])
    assert (
        read_import_material("ncryptsec", tty=True, ask=lambda _: next(asked))
        == "ncryptsec1abc\npw"
    )
    with pytest.raises(cli.CliError, match="second line"):
        read_import_material("ncryptsec", io.BytesIO(b"ncryptsec1abc\n"), tty=False)
    with pytest.raises(cli.CliError) as wrong:
        read_import_material("ncryptsec", io.BytesIO(NSEC.encode()), tty=False)
    assert NSEC not in str(wrong.value)


def test_pending_import_says_how_to_give_the_key_again(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/v1/ceremonies", ceremony("cer_6", "import_identity", "pending", 2), 201)
    code, out, err = run(
        ["identity", "import", "--nsec-stdin", "--signer", "a", "--signer", "b"],
        capsys,
        NSEC.encode(),
    )
    assert code == 0 and "  nostr-passport ceremony execute cer_6 --material-stdin\n" in out
    assert "(stdin: the nsec line; asked without echo on a terminal)" in out
    assert NSEC not in out + err and not server.posted("/v1/ceremonies/cer_6/execute")


# ================================================================ backup file


def test_backup_file_is_private_and_not_overwritten(
    server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = {
        "format": "nostr-passport-backup/1",
        "identity_id": "id_1",
        "epoch": 1,
        "shares": [{"participant": 0, "target_label": "signer-4", "target_fingerprint": "f1"}],
    }
    server.on("POST", "/v1/identities/id_1/backup", document)
    out_file = tmp_path / "backup.json"
    code, out, err = run(
        ["identity", "backup", "id_1", "--to", "0=signer-4", "-o", str(out_file)], capsys
    )
    assert code == 0 and "sealed to signer-4" in out and "no key share in the clear" in err
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert json.loads(out_file.read_text()) == document
    assert server.posted("/v1/identities/id_1/backup") == [
        {"to": {"0": "signer-4"}, "allow_software": False}
    ]
    code, _, err = run(
        ["identity", "backup", "id_1", "--to", "0=signer-4", "-o", str(out_file)], capsys
    )
    assert code == 1 and "refusing to overwrite" in err
    out_file.chmod(0o644)
    code, _, _ = run(
        ["identity", "backup", "id_1", "--to", "0=s", "-o", str(out_file), "--force"], capsys
    )
    assert code == 0 and stat.S_IMODE(out_file.stat().st_mode) == 0o600


def test_backup_refusal_of_software_targets_says_what_to_do(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on(
        "POST",
        "/v1/identities/id_1/backup",
        {"error": "backup_target_refused", "message": "keeps its keys in software"},
        400,
    )
    code, _, err = run(["identity", "backup", "id_1", "--to", "0=s", "--to", "0=t"], capsys)
    assert code == 1 and "given twice" in err
    code, _, err = run(["identity", "backup", "id_1", "--to", "0=s"], capsys)
    assert code == 1 and "--allow-software" in err


# ================================================================ ceremony commands


def test_approve_binds_to_the_params_shown(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = ceremony("cer_7", "delete_identity", "pending", 2, params={"identity_id": "id_1"})
    server.on("GET", "/v1/ceremonies/cer_7", pending)
    server.on("POST", "/v1/ceremonies/cer_7/approve", {**pending, "status": "approved"})
    code, out, _ = run(["ceremony", "approve", "cer_7"], capsys)
    assert code == 0 and "delete_identity" in out and "id_1" in out
    assert "ceremony execute cer_7" in out
    code, _, _ = run(["ceremony", "approve", "cer_7", "--params-hash", "cd" * 32], capsys)
    assert server.posted("/v1/ceremonies/cer_7/approve") == [
        {"params_hash": "ab" * 32},
        {"params_hash": "cd" * 32},
    ]


def test_propose_list_reject_execute(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("POST", "/v1/ceremonies", ceremony("cer_8", "create_admin_token", "pending", 2), 201)
    code, out, _ = run(
        [
            "ceremony",
            "propose",
            "create_admin_token",
            "--params",
            '{"token_name": "ops"}',
            "--param",
            "expires_in=3600",
            "--ttl",
            "600",
        ],
        capsys,
    )
    assert code == 0 and "cer_8" in out
    assert server.posted("/v1/ceremonies")[0] == {
        "operation": "create_admin_token",
        "params": {"token_name": "ops", "expires_in": 3600},
        "ttl_seconds": 600,
    }
    server.on(
        "GET",
        "/v1/ceremonies?status=pending",
        {"ceremonies": [ceremony("cer_8", "x", "pending", 2)]},
    )
    code, out, _ = run(["ceremony", "list", "--status", "pending"], capsys)
    assert code == 0 and "cer_8" in out and "1/2" in out
    server.on("POST", "/v1/ceremonies/cer_8/reject", ceremony("cer_8", "x", "rejected", 2))
    code, out, _ = run(["ceremony", "reject", "cer_8", "--reason", "no"], capsys)
    assert code == 0 and "rejected" in out
    assert server.posted("/v1/ceremonies/cer_8/reject") == [{"reason": "no"}]
    done = ceremony("cer_9", "create_admin_token", "executed")
    server.on(
        "POST",
        "/v1/ceremonies/cer_9/execute",
        {"ceremony": done, "result": {"id": "tok_n", "token": "np_secret"}},
    )
    code, out, _ = run(["ceremony", "execute", "cer_9"], capsys)
    assert code == 0 and "np_secret" in out and "shown once" in out
    assert server.posted("/v1/ceremonies/cer_9/execute") == [{}]


def test_execute_material_from_stdin_drops_one_trailing_newline(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    done = ceremony("cer_10", "import_identity", "executed")
    server.on("POST", "/v1/ceremonies/cer_10/execute", {"ceremony": done, "result": {"id": "id_1"}})
    code, _, _ = run(
        ["ceremony", "execute", "cer_10", "--material-stdin"], capsys, b"ncryptsec1a\npw\n"
    )
    assert code == 0
    assert server.posted("/v1/ceremonies/cer_10/execute") == [{"material": "ncryptsec1a\npw"}]
