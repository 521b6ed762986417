"""Cost of the key lifecycle, as ratios to dealer key generation of the same shape.

Two parts, each with its own baseline measured in the same run:

1. Pure crypto, in process: whole ChillDKG sessions (every participant's steps and the
   coordinator's, host keys generated once beforehand as the long-term keys they are)
   per second, against trusted-dealer keygens (`dealer.split`) per second.
2. Through real signers: a Passport over five LocalSigners on the HSM simulator, then
   over five SoftHSM2 tokens (SQLite store, no HTTP). Identity creation by DKG and by
   dealer go through the same `Passport.create_identity` (placement, audit, store), so
   their ratio is the cost of the key generation itself. Then share refresh
   (grace_seconds=0), backup of two shares to the two signers not holding the identity
   plus their restore there, a 2-of-3 -> 3-of-5 reshape, and KEK rotation of every
   signer: seconds per 100 rewrapped values (mostly shares; nonce-batch seeds and
   signer keys count too, as LocalSigner.rewrap_all reports them).

`measure(seconds)` returns a flat dict: rates in operations per second, ratios to the
baseline, and the KEK figures. Run directly: `python -m benchmarks.lifecycle [seconds]`.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from nostr_passport.config import Settings
from nostr_passport.crypto import dealer, dkg
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.softhsm import init_token
from nostr_passport.service.access import Principal, local_admin
from nostr_passport.service.gateway import assemble
from nostr_passport.service.lifecycle.backup import BackupTarget, backup_identity, restore_identity
from nostr_passport.service.lifecycle.context import LifecycleContext
from nostr_passport.service.lifecycle.kek import rotate_keks
from nostr_passport.service.lifecycle.refresh import refresh_identity
from nostr_passport.service.lifecycle.reshape import reshape_identity
from nostr_passport.service.passport import Passport
from nostr_passport.signer.local import LocalSigner
from nostr_passport.store import Store
from nostr_passport.store.identities import share_counts

from .hsm import BENCH_PIN, SOFTHSM_MODULE

T = TypeVar("T")

CRYPTO_SHAPES = ((2, 3), (3, 5))
KINDS = ("simulator", "softhsm2")
SIGNERS = 5  # enough for a 3-of-5 reshape and for backup targets beside a 2-of-3


# ---------------------------------------------------------------------- timing


def _rate(run: Callable[[], object], seconds: float) -> float:
    """Calls of `run` per second, over at least one call and about `seconds`."""
    return _prepared_rate(lambda: None, lambda _: run(), seconds)


def _prepared_rate(prepare: Callable[[], T], run: Callable[[T], object], seconds: float) -> float:
    """Calls of `run(prepare())` per second, counting only `run` (setup is untimed)."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    count, spent = 0, 0.0
    while count == 0 or spent < seconds:
        prepared = prepare()
        start = time.perf_counter()
        run(prepared)
        spent += time.perf_counter() - start
        count += 1
    return count / spent


# ---------------------------------------------------------------- pure crypto


def chilldkg_session(params: dkg.SessionParams, hostseckeys: list[bytes]) -> dkg.DKGOutput:
    """One whole ChillDKG session in memory: every participant and the coordinator."""
    states1, pmsgs1 = [], []
    for hostseckey in hostseckeys:
        state1, pmsg1 = dkg.participant_step1(hostseckey, params, secrets.token_bytes(32))
        states1.append(state1)
        pmsgs1.append(pmsg1)
    cstate, cmsg1 = dkg.coordinator_step1(pmsgs1, params)
    states2, pmsgs2 = [], []
    for hostseckey, state1 in zip(hostseckeys, states1, strict=True):
        state2, pmsg2 = dkg.participant_step2(hostseckey, state1, cmsg1, secrets.token_bytes(32))
        states2.append(state2)
        pmsgs2.append(pmsg2)
    cmsg2, output, _ = dkg.coordinator_finalize(cstate, pmsgs2)
    for state2 in states2:
        dkg.participant_finalize(state2, cmsg2)
    return output


def crypto_rates(t: int, n: int, seconds: float) -> tuple[float, float]:
    """(dealer keygens/s, whole ChillDKG sessions/s) for t-of-n."""
    hostseckeys = [secrets.token_bytes(32) for _ in range(n)]
    params = dkg.SessionParams(tuple(dkg.hostpubkey_gen(k) for k in hostseckeys), t)
    chilldkg_session(params, hostseckeys)  # warm-up (and a check that it runs)
    dealer_rate = _rate(lambda: dealer.split(dealer.generate_secret(), t, n), seconds)
    dkg_rate = _rate(lambda: chilldkg_session(params, hostseckeys), seconds)
    return dealer_rate, dkg_rate


# ------------------------------------------------------------- through signers


def _settings() -> Settings:
    # Generous per-call timeouts: on a busy 2-core machine a SoftHSM2 DKG round can be
    # slow, and a timeout would measure a failure, not the operation.
    signing = {"deadline_seconds": 30.0, "signer_timeout_seconds": 10.0}
    return Settings(signing=signing, rate_limit={"enabled": False})  # type: ignore[arg-type]


def _provider_configs(kind: str, base: Path, count: int) -> list[ProviderConfig]:
    if kind == "simulator":
        return [
            ProviderConfig(kind="simulator", name=f"sim-{i}", state_dir=str(base / f"sim-{i}"))
            for i in range(count)
        ]
    # SoftHSM2 reads its token directory in C_Initialize only: every token first.
    configs = []
    for i in range(count):
        conf = init_token(base / "softhsm", f"lifecycle-{i}", BENCH_PIN)
        configs.append(
            ProviderConfig(
                kind="pkcs11",
                name=f"softhsm-{i}",
                profile="softhsm2",
                module_path=SOFTHSM_MODULE,
                token_label=f"lifecycle-{i}",
                user_pin=BENCH_PIN,
                softhsm2_conf=str(conf),
            )
        )
    return configs


@contextmanager
def passport_over(kind: str, count: int = SIGNERS) -> Iterator[Passport]:
    """A Passport over `count` LocalSigners of `kind` and a SQLite store, all temporary."""
    with tempfile.TemporaryDirectory(prefix="np-bench-lifecycle-") as tmp:
        base = Path(tmp)
        configs = _provider_configs(kind, base / "hsm", count)
        signers: dict[str, LocalSigner] = {}
        try:
            for i, config in enumerate(configs):
                sid = f"{kind}-{i}"
                signers[sid] = LocalSigner(
                    sid, open_provider(config), base / sid, nonce_batch_size=16
                )
        except BaseException:
            for signer in signers.values():
                signer.close()
            raise
        store = Store.open(f"sqlite+pysqlite:///{base / 'store.db'}")
        passport = assemble(store, signers, _settings())
        try:
            passport.register_signers()
            yield passport
        finally:
            passport.close()  # the pool closes the signers and their providers


class _Bench:
    """The lifecycle operations of one Passport, each as a timed callable."""

    def __init__(self, passport: Passport) -> None:
        self.passport = passport
        self.admin: Principal = local_admin("bench")
        self.ctx = LifecycleContext.of(passport)

    def create(self, keygen: str, t: int = 2, n: int = 3) -> str:
        view = self.passport.create_identity(
            self.admin, threshold=t, participants=n, keygen=keygen, label="bench"
        )
        return view.id

    def holders(self, identity_id: str) -> list[str]:
        record = self.ctx.identity(identity_id)
        return [s.signer_id for s in sorted(record.shares, key=lambda s: s.participant)]

    def backup_restore(self, identity_id: str) -> None:
        """Participants 0 and 1 backed up to the two signers not holding the identity,
        then restored there (the identity's record moves them)."""
        free = [sid for sid in self.passport.pool.ids if sid not in self.holders(identity_id)]
        infos = {sid: self.passport.pool.info(sid, self.ctx.timeout) for sid in free[:2]}
        targets = {i: BackupTarget.of(infos[sid]) for i, sid in enumerate(free[:2])}
        backup = backup_identity(self.ctx, identity_id, targets, allow_software_targets=True)
        restore_identity(self.ctx, backup, dict(enumerate(free[:2])))

    def reshape_to_3of5(self, identity_id: str) -> None:
        reshape_identity(
            self.ctx, identity_id, threshold=3, signer_ids=self.passport.pool.ids, grace_seconds=0
        )

    def current_shares(self) -> int:
        """Shares of current epochs the store places on the signers (they may hold more:
        a restore leaves the old holder's copy)."""
        with self.passport.store.read() as conn:
            return sum(share_counts(conn).values())

    def rotate_keks(self, seconds: float) -> tuple[float, int, int]:
        """(seconds, values rewrapped, rounds) of rounds of KEK rotation of every signer,
        one signer after another, repeated for about `seconds` (at least one round)."""
        spent, rewrapped, rounds = 0.0, 0, 0
        while rounds == 0 or spent < seconds:
            start = time.perf_counter()
            rotations = rotate_keks(self.ctx)
            spent += time.perf_counter() - start
            rewrapped += sum(r.rewrapped for r in rotations.values())
            rounds += 1
        return spent, max(1, rewrapped), rounds


def signer_rates(kind: str, seconds: float) -> dict[str, float]:
    """Rates (per second) of the lifecycle operations through `kind` signers."""
    out: dict[str, float] = {}
    with passport_over(kind) as passport:
        bench = _Bench(passport)
        # Warm-up: first nonce batches, first signer keys, first DKG host keys.
        for keygen in ("dealer", "dkg"):
            bench.create(keygen)
        out["dealer_create_2of3_per_s"] = _rate(lambda: bench.create("dealer"), seconds)
        out["dkg_create_2of3_per_s"] = _rate(lambda: bench.create("dkg"), seconds)
        out["dealer_create_3of5_per_s"] = _rate(lambda: bench.create("dealer", 3, 5), seconds / 2)
        out["dkg_create_3of5_per_s"] = _rate(lambda: bench.create("dkg", 3, 5), seconds / 2)

        refreshed = bench.create("dealer")
        out["refresh_2of3_per_s"] = _rate(
            lambda: refresh_identity(bench.ctx, refreshed, grace_seconds=0), seconds
        )
        out["backup_restore_2_shares_per_s"] = _prepared_rate(
            lambda: bench.create("dealer"), bench.backup_restore, seconds
        )
        out["reshape_2of3_to_3of5_per_s"] = _prepared_rate(
            lambda: bench.create("dealer"), bench.reshape_to_3of5, seconds
        )

        out["kek_rotation_shares_in_store"] = float(bench.current_shares())
        elapsed, rewrapped, rounds = bench.rotate_keks(seconds / 2)
        out["kek_rotation_values_per_round"] = rewrapped / rounds
        out["kek_rotation_s_per_100_wrapped"] = elapsed / rewrapped * 100
    return out


# ---------------------------------------------------------------------- all


def measure(seconds: float = 1.0) -> dict[str, float]:
    """Every figure of the section, flat: `crypto_*` and `{simulator,softhsm2}_*` keys.

    Ratios: `*_ratio` = rate / dealer-keygen rate of the same shape on the same signers
    (in-process dealer.split for crypto_*); above 1 is faster than the baseline.
    `*_kek_per_100_in_dealer_creates` = KEK rotation time per 100 rewrapped values
    divided by the time of one 2-of-3 dealer creation on the same signers.
    """
    out: dict[str, float] = {}
    for t, n in CRYPTO_SHAPES:
        dealer_rate, dkg_rate = crypto_rates(t, n, seconds)
        shape = f"{t}of{n}"
        out[f"crypto_dealer_keygen_{shape}_per_s"] = dealer_rate
        out[f"crypto_chilldkg_{shape}_per_s"] = dkg_rate
        out[f"crypto_chilldkg_{shape}_ratio"] = dkg_rate / dealer_rate
    for kind in KINDS:
        rates = signer_rates(kind, seconds)
        for key, value in rates.items():
            out[f"{kind}_{key}"] = value
        base = rates["dealer_create_2of3_per_s"]
        for key in (
            "dkg_create_2of3",
            "refresh_2of3",
            "backup_restore_2_shares",
            "reshape_2of3_to_3of5",
        ):
            out[f"{kind}_{key}_ratio"] = rates[f"{key}_per_s"] / base
        out[f"{kind}_dkg_create_3of5_ratio"] = (
            rates["dkg_create_3of5_per_s"] / rates["dealer_create_3of5_per_s"]
        )
        out[f"{kind}_kek_per_100_in_dealer_creates"] = (
            rates["kek_rotation_s_per_100_wrapped"] * base
        )
    return out


ROWS = (
    # (label, rate key, ratio key) per kind
    ("identity by DKG, 2-of-3", "dkg_create_2of3_per_s", "dkg_create_2of3_ratio"),
    (
        "identity by DKG, 3-of-5 (vs dealer 3-of-5)",
        "dkg_create_3of5_per_s",
        "dkg_create_3of5_ratio",
    ),
    ("share refresh, 2-of-3", "refresh_2of3_per_s", "refresh_2of3_ratio"),
    (
        "backup + restore of 2 shares",
        "backup_restore_2_shares_per_s",
        "backup_restore_2_shares_ratio",
    ),
    ("reshape 2-of-3 -> 3-of-5", "reshape_2of3_to_3of5_per_s", "reshape_2of3_to_3of5_ratio"),
)


def print_report(m: dict[str, float]) -> None:
    """The table: rates with their ratio to the dealer baseline of the same run."""
    for t, n in CRYPTO_SHAPES:
        shape = f"{t}of{n}"
        base = m[f"crypto_dealer_keygen_{shape}_per_s"]
        rate = m[f"crypto_chilldkg_{shape}_per_s"]
        print(f"crypto {t}-of-{n}: dealer.split {base:10.1f} /s  (1.000)")
        print(f"crypto {t}-of-{n}: ChillDKG     {rate:10.1f} /s  ({rate / base:.4f})")
    for kind in KINDS:
        base = m[f"{kind}_dealer_create_2of3_per_s"]
        print(f"{kind:9} identity by dealer, 2-of-3{'':17}{base:10.2f} /s  (1.000)")
        for label, rate_key, ratio_key in ROWS:
            rate, ratio = m[f"{kind}_{rate_key}"], m[f"{kind}_{ratio_key}"]
            print(f"{kind:9} {label:44}{rate:10.2f} /s  ({ratio:.3f})")
        per_100 = m[f"{kind}_kek_per_100_in_dealer_creates"]
        values = m[f"{kind}_kek_rotation_values_per_round"]
        shares = m[f"{kind}_kek_rotation_shares_in_store"]
        print(
            f"{kind:9} KEK rotation of all {SIGNERS} signers ({values:.0f} values rewrapped,"
            f" {shares:.0f} current shares in the store): per 100 values"
            f" {m[f'{kind}_kek_rotation_s_per_100_wrapped']:.3f} s = {per_100:.2f} dealer creations"
        )
    print(interpretation(m))


def interpretation(m: dict[str, float]) -> str:
    """One line: what DKG and the lifecycle operations cost, counted in dealer keygens."""
    sim, soft = KINDS

    def cost(key: str) -> str:
        return f"{1 / m[f'{sim}_{key}']:.1f} ({sim}) / {1 / m[f'{soft}_{key}']:.1f} ({soft})"

    return (
        f"ChillDKG costs {1 / m['crypto_chilldkg_2of3_ratio']:.0f} dealer keygens in-process"
        f" at 2-of-3 ({1 / m['crypto_chilldkg_3of5_ratio']:.0f} at 3-of-5); through signers"
        f" a DKG identity costs {cost('dkg_create_2of3_ratio')} dealer identities,"
        f" a refresh {cost('refresh_2of3_ratio')},"
        f" a 2-of-3 -> 3-of-5 reshape {cost('reshape_2of3_to_3of5_ratio')}"
    )


def main(argv: list[str]) -> None:
    seconds = float(argv[1]) if len(argv) > 1 else 1.0
    start = time.perf_counter()
    m = measure(seconds)
    print_report(m)
    print(f"(section took {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main(sys.argv)
