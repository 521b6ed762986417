"""`python -m nostr_passport` is `nostr-passport`."""

import sys

from nostr_passport.cli import main

sys.exit(main())
