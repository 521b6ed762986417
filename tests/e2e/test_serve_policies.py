"""`serve` applies the config's [rotation] schedule and [ceremonies] policy."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from .processes import free_port, init_data_dir, serving

# Short grace periods: the refresh waits one signing deadline before deleting old shares.
FAST = {
    "NOSTR_PASSPORT_SIGNING__DEADLINE_SECONDS": "1.5",
    "NOSTR_PASSPORT_SIGNING__SIGNER_TIMEOUT_SECONDS": "1.0",
}


def test_serve_refreshes_on_schedule_and_applies_the_ceremony_policy(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    admin_token = str(init_data_dir(data_dir)["admin_token"])
    with (data_dir / "nostr-passport.toml").open("a", encoding="utf-8") as config:
        config.write(
            "\n[rotation]\nrefresh_every = 2\ncheck_every = 0.5\n"
            "\n[ceremonies]\nrequired = {delete_identity = 1}\n"
        )
    port = free_port()
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with serving(args, env=FAST) as server:
        auth = {"Authorization": f"Bearer {admin_token}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
            identity = client.post("/v1/identities", json={}).json()
            deadline = time.monotonic() + 60
            epoch = 0
            while epoch < 1 and time.monotonic() < deadline:
                time.sleep(0.5)
                epoch = client.get(f"/v1/identities/{identity['id']}").json()["epoch"]
            assert epoch >= 1, "the schedule refreshed nothing within 60 s"
            shown = client.get(f"/v1/identities/{identity['id']}").json()
            assert shown["npub"] == identity["npub"]
            records = client.get(
                "/v1/audit", params={"identity": identity["id"], "actor": "schedule"}
            ).json()["records"]
            assert any(r["action"] == "identity.refresh" for r in records)

            # Two admins, yet [ceremonies] asks one approval for delete_identity: direct.
            second = client.post("/v1/tokens", json={"role": "admin", "name": "second"})
            assert second.status_code == 201, second.text
            victim = client.post("/v1/identities", json={}).json()["id"]
            client.post(f"/v1/identities/{victim}/disable")  # out of the refresh schedule
            deleted = client.delete(f"/v1/identities/{victim}")
            assert deleted.status_code == 200, deleted.text
            # Other operations keep the default of two approvals.
            token = client.post("/v1/tokens", json={"role": "admin", "name": "third"})
            assert token.status_code == 403 and token.json()["error"] == "ceremony_required"
