"""TEMPORARY: `nostr-passport` with stand-ins for nostr modules that have not landed yet."""

import sys

from tests.service.nostr_shims import install

install()

from nostr_passport.cli import main  # noqa: E402

sys.exit(main())
