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
# python3-venv too when $(PYTHON) has no ensurepip (Debian's python3 without python3-venv).
SOFTHSM_MODULE := /usr/lib/softhsm/libsofthsm2.so
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
deb:
	@pkgs=""; \
	if ! command -v softhsm2-util >/dev/null 2>&1 || [ ! -e $(SOFTHSM_MODULE) ]; then pkgs=" $(DEB_PACKAGES)"; fi; \
	if [ ! -x $(PIP) ] && ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then pkgs="$$pkgs python3-venv"; fi; \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$pkgs (apt-get)"; \
	    $(APT_INSTALL) $$pkgs >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && $(APT_INSTALL) $$pkgs >/dev/null; } || \
	      { echo "error: apt-get install$$pkgs failed" >&2; exit 1; }; \
	  else \
	    echo "note: missing Debian packages:$$pkgs; not root, so not installing them. Run:" >&2; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$pkgs" >&2; \
	    echo "(without softhsm2 the SoftHSM2 tests fail and 'make serve' falls back to the simulator; without python3-venv there is no .venv)" >&2; \
	  fi; \
	fi

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(PIP) || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || \
	  { rm -rf $(VENV); echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: sudo apt-get install -y python3-venv" >&2; exit 1; }
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
