"""The lifecycle and ceremony commands against a real server (one for the module).

The data directory gets two spare local signers (software simulator) before `serve`, as
backup, restore and migration targets. The tests run in file order: everything that a
single admin runs directly comes first; the last test adds a second admin, from which on
the sensitive operations wait for a second approval.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from coincurve import PrivateKey
from nostr_sdk import Event

from nostr_passport.hsm.transport import TransportBlob
from nostr_passport.nostr import nip19

from .processes import ROOT, Running, cli_command, cli_env, free_port, init_data_dir, serving

SPARES = ("spare-1", "spare-2")
# NIP-49's test vector (nostr-protocol/nips 49.md, "Test Data"); not in ../shared/vectors,
# tests/lifecycle/test_import.py uses the same one.
NCRYPTSEC = (
    "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm"
    "8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p"
)
NCRYPTSEC_PASSWORD = "nostr"
NCRYPTSEC_SECRET = "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"


@dataclass
class Env:
    data_dir: Path
    token: str
    server: Running
    signers: list[str] = field(default_factory=list)  # ids, in `signer list` order

    def remote(self, *args: str, token: str | None = None) -> list[str]:
        return [*args, "--url", self.server.url, "--token", token or self.token]


def spare_signers_toml() -> str:
    return "".join(
        f'\n[[signers]]\nid = "{sid}"\nkind = "local"\nstate_dir = "signers/{sid}"\n'
        f'provider = {{ kind = "simulator", name = "simulator-{sid}", '
        f'state_dir = "signers/{sid}/hsm" }}\n'
        for sid in SPARES
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("cli-lifecycle") / "data"
    info = init_data_dir(data_dir)
    with (data_dir / "nostr-passport.toml").open("a", encoding="utf-8") as config:
        config.write(spare_signers_toml())
    port = free_port()
    # A refresh waits one signing deadline before deleting the old epoch: 2 s, not 5.
    fast = {"NOSTR_PASSPORT_SIGNING__DEADLINE_SECONDS": "2.0"}
    with serving(["serve", "--data-dir", str(data_dir), "--port", str(port)], env=fast) as server:
        yield Env(data_dir, info["admin_token"], server)


def cli(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), *args],
        env=cli_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def ok(args: list[str], stdin: str | None = None) -> str:
    result = cli(args, stdin)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout


def ok_json(args: list[str], stdin: str | None = None) -> Any:
    return json.loads(ok([*args, "--json"], stdin))


def fails(args: list[str], code: int = 1, stdin: str | None = None) -> str:
    result = cli(args, stdin)
    assert result.returncode == code, f"{args}: {result.returncode} {result.stdout}"
    assert result.stderr.strip(), args
    return result.stderr


def create(env: Env, *extra: str) -> dict[str, Any]:
    identity: dict[str, Any] = ok_json(env.remote("identity", "create", *extra))
    return identity


def show(env: Env, identity_id: str) -> dict[str, Any]:
    identity: dict[str, Any] = ok_json(env.remote("identity", "show", identity_id))
    return identity


def holders(identity: dict[str, Any]) -> dict[int, str]:
    return {s["participant"]: s["signer_id"] for s in identity["signers"]}


def signer_ids(env: Env) -> list[str]:
    if not env.signers:
        env.signers = [s["id"] for s in ok_json(env.remote("signer", "list"))]
    return env.signers


def non_holders(env: Env, identity: dict[str, Any]) -> list[str]:
    held = set(holders(identity).values())
    return [s for s in signer_ids(env) if s not in held]


def signs_as(env: Env, identity_id: str, pubkey: str) -> None:
    event = json.loads(ok(env.remote("identity", "sign", identity_id, "--kind", "1")))
    assert event["pubkey"] == pubkey
    assert Event.from_json(json.dumps(event)).verify()


def server_output(server: Running) -> str:
    """What the server printed so far (read without waiting: it keeps running)."""
    chunks: list[bytes] = []
    for stream in (server.process.stdout, server.process.stderr):
        assert stream is not None
        fd = stream.fileno()
        os.set_blocking(fd, False)
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def x_only(secret: bytes) -> str:
    return str(PrivateKey(secret).public_key.format()[1:].hex())


# ================================================================ single admin


def test_create_with_keygen_then_refresh(env: Env) -> None:
    dkg = create(env, "--keygen", "dkg")
    dealer = create(env, "--keygen", "dealer", "--label", "dealt")
    assert dkg["keygen_method"] == "dkg" and dealer["keygen_method"] == "dealer"
    assert "keygen:    dkg" in ok(env.remote("identity", "show", dkg["id"]))

    text = ok(env.remote("identity", "refresh", dealer["id"]))
    expected = f"epoch {dealer['epoch']} -> {dealer['epoch'] + 1} (same npub {dealer['npub']})"
    assert f"refreshed {dealer['id']}: {expected}" in text
    signs_as(env, dealer["id"], dealer["pubkey"])


def test_signer_list_shows_transport_keys(env: Env) -> None:
    listed = ok_json(env.remote("signer", "list"))
    by_id = {s["id"]: s for s in listed}
    assert {"signer-1", "signer-2", "signer-3", *SPARES} <= set(by_id)
    assert all(by_id[s]["provider_kind"] == "simulator" and by_id[s]["simulated"] for s in SPARES)
    table = ok(env.remote("signer", "list"))
    assert "TRANSPORT KEY" in table
    for s in listed:
        assert s["transport_public_key"] in table and s["id"] in table


def test_backup_then_restore_by_ceremony(env: Env, tmp_path: Path) -> None:
    identity = create(env)
    targets = non_holders(env, identity)[:2]
    to = [arg for p, t in enumerate(targets) for arg in ("--to", f"{p}={t}")]
    out = tmp_path / "backup.json"

    refused = fails(env.remote("identity", "backup", identity["id"], *to, "-o", str(out)))
    assert "keeps its keys in software" in refused and "--allow-software" in refused
    assert not out.exists()

    result = cli(
        env.remote("identity", "backup", identity["id"], *to, "--allow-software", "-o", str(out))
    )
    assert result.returncode == 0, result.stderr
    assert "no key share in the clear" in result.stderr and "one half of a restore" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["format"] == "nostr-passport-backup/1"
    assert document["identity_id"] == identity["id"] and document["pubkey"] == identity["pubkey"]
    assert [s["participant"] for s in document["shares"]] == [0, 1]
    for share in document["shares"]:
        # Only public fields and the sealed blob: an ECIES envelope to the target's key.
        assert set(share) == {
            "participant",
            "signer_id",
            "pubshare",
            "target_transport_key",
            "target_fingerprint",
            "target_label",
            "blob",
        }
        sealed = TransportBlob.from_bytes(bytes.fromhex(share["blob"]))
        assert len(sealed.ciphertext) >= 32 + 16
    again = fails(
        env.remote("identity", "backup", identity["id"], *to, "--allow-software", "-o", str(out))
    )
    assert "refusing to overwrite" in again

    place = [arg for p, t in enumerate(targets) for arg in ("--place", f"{p}={t}")]
    restored = ok_json(env.remote("identity", "restore", str(out), *place))
    assert restored["executed"] and restored["ceremony"]["operation"] == "restore_identity"
    assert restored["ceremony"]["status"] == "executed"
    after = show(env, identity["id"])
    assert holders(after)[0] == targets[0] and holders(after)[1] == targets[1]
    assert after["npub"] == identity["npub"]
    signs_as(env, identity["id"], identity["pubkey"])


def test_import_nsec_and_ncryptsec(env: Env) -> None:
    secret = os.urandom(32)
    nsec = nip19.nsec_encode(secret)
    result = cli(env.remote("identity", "import", "--nsec-stdin", "--json"), f"{nsec}\n")
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout)
    identity = imported["identity"]
    assert identity["pubkey"] == x_only(secret)
    assert identity["imported_from_software"] and identity["keygen_method"] == "import"
    assert [s["signer_id"] for s in identity["signers"]] == signer_ids(env)[:3]
    signs_as(env, identity["id"], identity["pubkey"])

    vector = ok(
        env.remote("identity", "import", "--ncryptsec-stdin", "-t", "2", "--label", "nip49"),
        f"{NCRYPTSEC}\n{NCRYPTSEC_PASSWORD}\n",
    )
    expected = x_only(bytes.fromhex(NCRYPTSEC_SECRET))
    assert nip19.npub_encode(bytes.fromhex(expected)) in vector
    assert "marked imported_from_software" in vector

    garbage = fails(env.remote("identity", "import", "--nsec-stdin"), stdin="hello-not-a-key\n")
    assert "expected a nsec1" in garbage and "hello-not-a-key" not in garbage
    no_password = fails(env.remote("identity", "import", "--ncryptsec-stdin"), stdin=NCRYPTSEC)
    assert "second line" in no_password

    # The key never shows: not in the CLI's output, the server's, or any data dir file.
    hidden = [
        nsec,
        secret.hex(),
        NCRYPTSEC_SECRET,
        nip19.nsec_encode(bytes.fromhex(NCRYPTSEC_SECRET)),
    ]
    printed = result.stdout + result.stderr + vector + server_output(env.server)
    for s in hidden:
        assert s not in printed
    for path in env.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for s in hidden:
                assert s.encode() not in data, path
            assert secret not in data and bytes.fromhex(NCRYPTSEC_SECRET) not in data, path


def test_migrate_then_reshape(env: Env) -> None:
    identity = create(env)
    target = non_holders(env, identity)[0]
    text = ok(env.remote("identity", "migrate", identity["id"], "0", target))
    assert f"migrated participant 0 of {identity['id']} to {target}" in text
    after = show(env, identity["id"])
    assert holders(after)[0] == target and after["epoch"] == identity["epoch"] + 1
    signs_as(env, identity["id"], identity["pubkey"])
    taken = holders(after)[1]
    refused = fails(env.remote("identity", "migrate", identity["id"], "2", taken))
    assert f"{taken} already holds participant 1" in refused

    # Reshape onto a new signer set (the two spares and one more), same npub.
    new_set = [*SPARES, next(s for s in signer_ids(env) if s not in SPARES)]
    reshape = ["identity", "reshape", identity["id"], "--threshold", "2"]
    reshaped = ok_json(env.remote(*reshape, *(a for s in new_set for a in ("--signer", s))))
    assert reshaped["executed"] and reshaped["ceremony"]["operation"] == "reshape_identity"
    final = show(env, identity["id"])
    assert list(holders(final).values()) == new_set and final["threshold"] == 2
    signs_as(env, identity["id"], identity["pubkey"])


def test_rotate_kek(env: Env) -> None:
    identity = create(env)
    rotated = ok_json(env.remote("signer", "rotate-kek"))["rotated"]
    assert set(rotated) == set(signer_ids(env))
    assert all(r["destroyed_kek_ids"] and r["new_kek_id"] for r in rotated.values())
    table = ok(env.remote("signer", "rotate-kek", "--signer", "spare-1"))
    assert "spare-1" in table and "signer-1" not in table
    signs_as(env, identity["id"], identity["pubkey"])


def test_ceremony_propose_show_list_reject(env: Env) -> None:
    identity = create(env)
    proposed = ok_json(
        env.remote(
            "ceremony",
            "propose",
            "delete_identity",
            "--param",
            f"identity_id={identity['id']}",
            "--param",
            "force=false",
            "--ttl",
            "600",
        )
    )
    cid = proposed["id"]
    assert proposed["params"] == {"identity_id": identity["id"], "force": False}
    assert proposed["expires_at"] - proposed["created_at"] == 600
    assert "delete_identity" in ok(env.remote("ceremony", "show", cid))
    assert "rejected" in ok(env.remote("ceremony", "reject", cid, "--reason", "kept"))
    shown = ok_json(env.remote("ceremony", "show", cid))
    assert shown["status"] == "rejected"
    listed = ok_json(env.remote("ceremony", "list", "--status", "rejected"))
    assert cid in [c["id"] for c in listed]
    closed = fails(env.remote("ceremony", "execute", cid))
    assert "was rejected" in closed


def test_bad_input_is_named(env: Env, tmp_path: Path) -> None:
    assert "not_found" in fails(env.remote("identity", "refresh", "id_nothing"))
    assert "not_found" in fails(
        env.remote("identity", "backup", "id_nothing", "--to", "0=spare-1", "--allow-software")
    )
    assert "not_found" in fails(env.remote("identity", "migrate", "id_nothing", "0", "spare-1"))
    usage = fails(env.remote("identity", "backup", "id_x", "--to", "spare-1"), code=2)
    assert "--to wants PARTICIPANT=VALUE" in usage
    usage = fails(env.remote("identity", "restore", "f.json", "--place", "a=b"), code=2)
    assert "--place wants PARTICIPANT=VALUE" in usage
    not_backup = tmp_path / "x.json"
    not_backup.write_text('{"hello": 1}')
    assert "not a nostr-passport-backup/1" in fails(
        env.remote("identity", "restore", str(not_backup), "--place", "0=spare-1")
    )
    identity = create(env)
    unknown = fails(
        env.remote("identity", "backup", identity["id"], "--to", "0=nosuchsigner", "--to", "1=zz")
    )
    assert "neither a registered signer nor a transport key" in unknown


# ================================================================ two admins (keep last)


def test_two_admins_need_two_approvals(env: Env) -> None:
    second = ok_json(env.remote("token", "create", "--role", "admin", "--name", "second"))
    token2 = second["token"]
    # From two admins on, a third admin token and a delete are proposed as ceremonies.
    third = cli(env.remote("token", "create", "--role", "admin", "--name", "third", "--json"))
    assert third.returncode == 0 and "proposing a ceremony" in third.stderr
    proposed = json.loads(third.stdout)
    assert proposed["ceremony"]["operation"] == "create_admin_token"
    assert not proposed["executed"]
    ok(env.remote("ceremony", "approve", proposed["ceremony"]["id"], token=token2))
    minted = ok(env.remote("ceremony", "execute", proposed["ceremony"]["id"], token=token2))
    assert "np_" in minted  # shown once, to the admin who executed

    doomed = create(env)
    deletion = cli(env.remote("identity", "delete", doomed["id"]))
    assert deletion.returncode == 0 and "delete_identity ceremony" in deletion.stderr
    assert "1 more needed" in deletion.stdout
    assert show(env, doomed["id"])["id"] == doomed["id"]  # nothing ran yet

    identity = create(env)
    target = non_holders(env, identity)[0]
    pending = cli(env.remote("identity", "migrate", identity["id"], "1", target))
    assert pending.returncode == 0, pending.stderr
    out = pending.stdout
    cid = next(w for w in out.split() if w.startswith("cer_"))
    assert "needs 2 admin approvals" in out and "1 more needed" in out
    assert f"nostr-passport ceremony approve {cid}" in out
    assert f"nostr-passport ceremony execute {cid}" in out
    assert env.token not in out
    assert holders(show(env, identity["id"]))[1] != target  # nothing ran yet
    assert "quorum_not_reached" in fails(env.remote("ceremony", "execute", cid))

    approved = ok(env.remote("ceremony", "approve", cid, token=token2))
    assert "migrate_participant" in approved and target in approved  # shown before approving
    assert "approved (2 of 2 approvals)" in approved
    executed = ok(env.remote("ceremony", "execute", cid))
    assert f"executed {cid} (migrate_participant)" in executed
    assert holders(show(env, identity["id"]))[1] == target
    signs_as(env, identity["id"], identity["pubkey"])

    # rotate-kek now needs a destroy_kek ceremony: proposed, then vetoed by the second admin.
    kek = cli(env.remote("signer", "rotate-kek", "--json"))
    assert kek.returncode == 0 and "destroy_kek ceremony" in kek.stderr
    report = json.loads(kek.stdout)
    assert not report["executed"] and report["ceremony"]["operation"] == "destroy_kek"
    kek_id = report["ceremony"]["id"]
    stale = fails(
        env.remote("ceremony", "approve", kek_id, "--params-hash", "0" * 64, token=token2)
    )
    assert "ceremony_params_mismatch" in stale
    rejected = ok_json(env.remote("ceremony", "reject", kek_id, "--reason", "no", token=token2))
    assert rejected["status"] == "rejected" and rejected["approvals"] == 1
