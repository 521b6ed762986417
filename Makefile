# The two commands a newcomer needs: `make serve` and `make test`.
# Everything else is installed on demand into .venv (and, as root, Debian's softhsm2).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
DEB_PACKAGES := softhsm2 p11-kit-modules

.PHONY: install deb venv test serve bench lint clean

install: deb venv

# Debian packages the suite needs; only attempted as root, skipped when present.
deb:
	@if ! command -v softhsm2-util >/dev/null 2>&1 || [ ! -e /usr/lib/softhsm/libsofthsm2.so ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing $(DEB_PACKAGES)"; \
	    (apt-get install -y -qq $(DEB_PACKAGES) >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null && apt-get install -y -qq $(DEB_PACKAGES) >/dev/null)); \
	  else \
	    echo "note: softhsm2 is not installed and we are not root; SoftHSM2 tests will fail." >&2; \
	  fi; \
	fi

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.lock
	$(PIP) install -q --disable-pip-version-check --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -p no:cacheprovider

serve: install
	$(VENV)/bin/nostr-passport serve

bench: install
	$(PY) -m benchmarks.run_all

lint: install
	$(VENV)/bin/ruff check nostr_passport tests benchmarks
	$(VENV)/bin/ruff format --check nostr_passport tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
