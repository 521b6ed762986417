"""Development/test helper: create SoftHSM2 tokens in a directory of our choosing.

Never used in production: a SoftHSM2 token is a set of files, and its keys are only
as safe as the directory that holds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from nostr_passport.errors import HsmError, ProviderUnavailableError

CONF_NAME = "softhsm2.conf"
DEFAULT_SO_PIN = "so-pin-0000"


def softhsm2_conf(directory: str | Path) -> Path:
    """The softhsm2.conf for `directory` (tokens in directory/tokens), written if absent."""
    base = Path(directory)
    tokens = base / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = base / CONF_NAME
    if not conf.exists():
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
            "slots.removable = false\n"
        )
    return conf


def init_token(
    directory: str | Path,
    label: str,
    user_pin: str,
    so_pin: str = DEFAULT_SO_PIN,
) -> Path:
    """Initialise a new token `label` under `directory`; returns the SOFTHSM2_CONF path.

    Several tokens may share one directory (one module, several signers). SoftHSM2
    scans its token directory only in C_Initialize: create every token before the first
    provider of the process opens the module (or after all of them are closed).
    """
    util = shutil.which("softhsm2-util")
    if util is None:
        raise ProviderUnavailableError("softhsm2-util not found: install Debian's softhsm2")
    conf = softhsm2_conf(directory)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    args = [util, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", user_pin]
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # Never echo the command line: it carries both PINs.
        detail = result.stderr.strip().replace(user_pin, "***").replace(so_pin, "***")
        raise HsmError(f"softhsm2-util could not create token {label!r}: {detail}")
    return conf
