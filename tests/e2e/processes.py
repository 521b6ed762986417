"""Running `nostr-passport` as real subprocesses: init, serve, signer serve."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def cli_command() -> list[str]:
    """The console script, as installed by `make install` (pip install -e .)."""
    script = Path(sys.executable).with_name("nostr-passport")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nostr_passport"]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTR_PASSPORT_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), *args],
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            raise RuntimeError(f"process exited with {process.returncode}: {out}\n{err}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Running:
    process: subprocess.Popen[str]
    url: str

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@contextmanager
def serving(
    args: Sequence[str], health_path: str = "/healthz", env: dict[str, str] | None = None
) -> Iterator[Running]:
    """Start `nostr-passport <args>` (which must include --port) and wait for it to answer."""
    port = args[list(args).index("--port") + 1]
    process = subprocess.Popen(
        [*cli_command(), *args],
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    running = Running(process, f"http://127.0.0.1:{port}")
    try:
        wait_http(running.url + health_path, process=process)
        yield running
    finally:
        running.stop()
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


def init_data_dir(data_dir: Path, store_url: str | None = None) -> dict[str, Any]:
    args = ["init", "--data-dir", str(data_dir), "--json"]
    if store_url:
        args += ["--store-url", store_url]
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
