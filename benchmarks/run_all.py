"""`make bench`: every benchmark in one process, as ratios to baselines of the same run.

Sections: crypto (benchmarks/signing.py: the BIP-340 baseline and FROST), HSM providers,
signers, HTTP gateway, relays, NIP-46 and the key lifecycle (benchmarks/lifecycle.py).
The last line printed is one JSON object with every figure (signing.py's keys
included), for scripts.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks import hsm, http, lifecycle, nip46, relay, signer, signing


def section(title: str) -> None:
    print(f"\n== {title}")


def main(argv: list[str]) -> None:
    seconds = float(argv[1]) if len(argv) > 1 else 1.0
    out: dict[str, Any] = {}

    section("crypto (in-process, per second; ratio to single-key BIP-340 signing)")
    table = signing.rows(seconds)
    signing.print_table(table)
    out.update(signing.summary(table))
    frost_2of3 = out["frost_2of3_sign_per_s"]

    section("HSM providers (ops per second; ratio SoftHSM2 / simulator)")
    hsm_results = hsm.measure(seconds / 2)
    for name in hsm.BENCHES:
        sim, soft = hsm_results["simulator"][name], hsm_results["softhsm2"][name]
        print(f"{name:36}{sim:12.0f}{soft:12.0f}{soft / sim:10.3f}")
        out[f"hsm_simulator_{name}"] = round(sim, 1)
        out[f"hsm_softhsm2_{name}"] = round(soft, 1)

    section("signers (partial signatures/s; ratio to in-memory FROST partial signing)")
    sig = signer.measure(seconds)
    base = sig["in_memory_psig_per_s"]
    for key, value in sig.items():
        ratio = f"{value / base:10.3f}" if key.endswith(("per_s", "batch10")) else ""
        print(f"{key:44}{value:14.6g}{ratio}")
        out[f"signer_{key}"] = value
    for kind in signer.KINDS:
        gain = sig[f"{kind}_refill_s_per_nonce_batch1"] / sig[f"{kind}_refill_s_per_nonce_batch100"]
        print(f"{kind}: nonce refill per nonce is {gain:.1f}x cheaper in batches of 100")
        out[f"signer_{kind}_refill_batch_gain"] = round(gain, 2)

    section("HTTP gateway (2-of-3, local signers; ratio to in-process FROST 2-of-3)")
    web = http.measure()
    print(json.dumps(web))
    out["http_sign_per_s"] = round(web["requests_per_second"], 1)
    out["http_p50_ms"] = round(web["p50_ms"], 2)
    out["http_p99_ms"] = round(web["p99_ms"], 2)
    out["http_ratio_to_frost_2of3"] = round(web["requests_per_second"] / frost_2of3, 4)
    print(f"HTTP signatures/s over in-process FROST 2-of-3: {out['http_ratio_to_frost_2of3']}")

    section("relays (publish -> own subscription round trip)")
    relays = relay.measure(100)
    print(json.dumps(relays))
    out["relays"] = relays

    section("NIP-46 bunker (sign round trips through a local relay; ratio to HTTP signing)")
    bunker = nip46.measure(200)
    for name, result in bunker.items():
        rate = result["requests_per_second"]
        ratio = rate / web["requests_per_second"]
        print(
            f"{name:10} {rate:8.1f}/s  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms"
            f"  ratio to HTTP {ratio:.3f}"
        )
        out[f"nip46_{name}_sign_per_s"] = round(rate, 1)
        out[f"nip46_{name}_p50_ms"] = round(result["p50_ms"], 2)
        out[f"nip46_{name}_p99_ms"] = round(result["p99_ms"], 2)
        out[f"nip46_{name}_ratio_to_http"] = round(ratio, 4)

    section("key lifecycle (ratio to dealer keygen of the same shape, same signers)")
    cycle = lifecycle.measure(seconds)
    lifecycle.print_report(cycle)
    for key, value in cycle.items():
        out[f"lifecycle_{key}"] = float(f"{value:.4g}")

    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
