"""End to end: a served gateway over real signers, scraped at /metrics like Prometheus."""

from __future__ import annotations

import json
import re

from .conftest import Server
from .exposition import Family, parse, value

SIGN_ROUTE = "/v1/identities/{identity_id}/sign"


def scrape(server: Server, token: str) -> tuple[str, dict[str, Family]]:
    reply = server.client(token).get("/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return reply.text, parse(reply.text)


def test_signing_is_counted_and_nothing_identifying_is_exported(sqlite_server: Server) -> None:
    server = sqlite_server
    admin = server.admin
    created = admin.post("/v1/identities", json={"threshold": 2, "participants": 3})
    assert created.status_code == 201, created.text
    identity = created.json()
    contents = [f"secret diary entry {i} 7f3a9" for i in range(3)]
    _, before = scrape(server, server.harness.admin_token)
    signed = []
    for content in contents:
        reply = admin.post(
            f"/v1/identities/{identity['id']}/sign", json={"kind": 1, "content": content}
        )
        assert reply.status_code == 200, reply.text
        signed.append(reply.json())

    text, families = scrape(server, server.harness.admin_token)

    # Signer calls: every partial_sign timed; each of the 3 events signed by 2 signers.
    assert (
        value(
            families, "nostr_passport_signer_call_duration_seconds_count", operation="partial_sign"
        )
        >= 3
    )
    assert (
        value(
            families, "nostr_passport_signer_call_duration_seconds_count", operation="commitments"
        )
        >= 2
    )
    ops = "nostr_passport_signer_operations_total"
    signed_now = value(families, ops, operation="partial_sign")
    assert signed_now - value(before, ops, operation="partial_sign") == 6  # 3 events x t=2
    kinds = {
        labels["provider_kind"]
        for _, labels, _ in families["nostr_passport_signer_call_duration_seconds"].samples
    }
    assert kinds == {"simulator"}
    # Gateway requests by route template and status class.
    assert (
        value(
            families,
            "nostr_passport_http_requests_total",
            method="POST",
            route=SIGN_ROUTE,
            status="2xx",
        )
        == 3
    )
    assert (
        value(
            families,
            "nostr_passport_http_requests_total",
            method="POST",
            route="/v1/identities",
            status="2xx",
        )
        == 1
    )
    assert (
        value(families, "nostr_passport_http_request_duration_seconds_count", route=SIGN_ROUTE) == 3
    )
    assert value(families, "nostr_passport_sign_events_total", tenant="default") == 3
    assert value(families, "nostr_passport_audit_append_failures_total") == 0
    assert value(families, "nostr_passport_audit_records_total") >= 5
    for sid in ("signer-1", "signer-2", "signer-3"):
        assert value(families, "nostr_passport_signer_up", signer=sid) == 1
        assert value(families, "nostr_passport_signer_nonces_fresh", signer=sid) >= 0
    assert value(families, "nostr_passport_signers_healthy") == 3
    assert value(families, "nostr_passport_required_signers") == 2
    assert value(families, "nostr_passport_ceremonies", status="pending") == 0
    assert value(families, "nostr_passport_cost_usd_total", provider_kind="simulator") == 0

    # Nothing identifying: no identity id, key, token, event id, signature or content.
    forbidden = [
        identity["id"],
        identity["pubkey"],
        identity["npub"],
        server.harness.admin_token,
        *contents,
    ]
    for event in signed:
        forbidden += [event["id"], event["sig"]]
    for secret in forbidden:
        assert secret not in text
    labels = " ".join(re.findall(r"\{[^}]*\}", text))
    assert not re.search(r"[0-9a-f]{32}", labels), "no hex ids or keys in any label"
    assert "np_" not in text


def test_metrics_need_an_installation_operator_role(sqlite_server: Server) -> None:
    server = sqlite_server
    assert server.client().get("/metrics").status_code == 401
    assert server.client().get("/v1/ops/cost").status_code == 401
    app_token, _ = server.harness.token("app")
    assert server.client(app_token).get("/metrics").status_code == 403
    assert server.client(app_token).get("/v1/ops/cost").status_code == 403
    foreign, _ = server.harness.token("admin", tenant="acme")
    assert server.client(foreign).get("/metrics").status_code == 403
    for role in ("operator", "auditor"):
        token, _ = server.harness.token(role)
        assert server.client(token).get("/metrics").status_code == 200
        assert server.client(token).get("/v1/ops/cost").status_code == 200
    _, families = scrape(server, server.harness.admin_token)
    assert (
        value(families, "nostr_passport_http_requests_total", route="/metrics", status="4xx") == 3
    )
    # The refusals are in the audit log, as every denial is.
    audit = server.admin.get("/v1/audit", params={"limit": 1000}).json()["records"]
    denied = [r for r in audit if r["action"] == "ops.metrics" and r["outcome"] == "denied"]
    assert len(denied) == 3  # app x2, foreign admin


def test_a_down_signer_shows_unavailable_and_its_errors_counted(sqlite_server: Server) -> None:
    server = sqlite_server
    admin = server.admin
    identity = admin.post("/v1/identities", json={"threshold": 2, "participants": 3}).json()
    server.harness.signers["signer-2"].down = True
    for i in range(3):
        reply = admin.post(
            f"/v1/identities/{identity['id']}/sign", json={"kind": 1, "content": str(i)}
        )
        assert reply.status_code == 200, reply.text  # two healthy signers remain

    _, families = scrape(server, server.harness.admin_token)
    assert value(families, "nostr_passport_signer_up", signer="signer-2") == 0
    assert value(families, "nostr_passport_signer_up", signer="signer-1") == 1
    assert value(families, "nostr_passport_signers_healthy") == 2
    assert (
        value(
            families,
            "nostr_passport_signer_call_errors_total",
            signer="signer-2",
            error="connection",
        )
        >= 1
    )
    assert (
        value(
            families,
            "nostr_passport_signer_call_errors_total",
            signer="signer-2",
            operation="health",
        )
        >= 1
    )
    assert value(families, "nostr_passport_signer_failovers_total", signer="signer-2") >= 1
    # The first signing round chose signer-2 (healthy as far as the pool knew) and lost it.
    assert value(families, "nostr_passport_coordinator_retries_total", operation="signing") >= 1
    for sid in ("signer-1", "signer-3"):
        errors = [
            v
            for _, labels, v in families["nostr_passport_signer_call_errors_total"].samples
            if labels["signer"] == sid
        ]
        assert sum(errors) == 0


def test_unmatched_paths_are_not_labels(sqlite_server: Server) -> None:
    server = sqlite_server
    assert server.admin.get("/v1/no/such/path/abcdef0123456789").status_code == 404
    text, families = scrape(server, server.harness.admin_token)
    assert "abcdef0123456789" not in text
    assert (
        value(families, "nostr_passport_http_requests_total", route="unmatched", status="4xx") == 1
    )


def test_cost_report_route(sqlite_server: Server) -> None:
    server = sqlite_server
    identity = server.admin.post("/v1/identities", json={}).json()
    server.admin.post(f"/v1/identities/{identity['id']}/sign", json={"kind": 1, "content": "x"})
    report = server.admin.get("/v1/ops/cost").json()
    assert report["currency"] == "USD" and "check your contract" in report["note"]
    assert [p["provider_kind"] for p in report["providers"]] == ["simulator"]
    assert report["providers"][0]["signers"] == ["signer-1", "signer-2", "signer-3"]
    assert report["total_usd"] == 0
    ops = {o["operation"]: o["count"] for o in report["operations"]}
    assert ops["partial_sign"] >= 2
    assert identity["id"] not in json.dumps(report)


def test_audit_failures_are_counted_once_and_refusals_show_as_5xx(sqlite_server: Server) -> None:
    from ..service.test_audit import block_audit_inserts

    server = sqlite_server
    identity = server.admin.post("/v1/identities", json={}).json()
    block_audit_inserts(server.harness.store)
    refused = server.admin.post(
        f"/v1/identities/{identity['id']}/sign", json={"kind": 1, "content": "x"}
    )
    assert refused.status_code == 503 and refused.json()["error"] == "audit_unavailable"
    _, families = scrape(server, server.harness.admin_token)
    assert value(families, "nostr_passport_audit_append_failures_total") == 1
    assert not families["nostr_passport_sign_events_total"].samples  # refused before signing
    assert (
        value(families, "nostr_passport_http_requests_total", route=SIGN_ROUTE, status="5xx") == 1
    )


def test_a_scrape_only_token_reads_metrics_and_nothing_else(sqlite_server: Server) -> None:
    """What docs/operations.md recommends for Prometheus: auditor scoped to ops.metrics."""
    from nostr_passport.store.tokens import TokenScopes

    server = sqlite_server
    token, _ = server.harness.token("auditor", TokenScopes(methods=("ops.metrics",)))
    scraper = server.client(token)
    assert scraper.get("/metrics").status_code == 200
    assert scraper.get("/v1/ops/cost").status_code == 200
    assert scraper.get("/v1/audit").status_code == 403
    assert scraper.get("/v1/tokens").status_code == 403
