# Ecosystem (issue 4): docs site, Galaxy/AWX/EE/changelog tests, and the supported-core matrix.
# Parts of `make test` (and so of .ci/run): docs-check ecosystem matrix.
ECO_VENV ?= .venv-ecosystem
ECO_BIN := $(ECO_VENV)/bin
# The default core (2.19, .venv) runs the whole suite in `make test`; the newest core and the oldest one
# (meta/runtime.yml requires_ansible) run sanity, units and the smoke integration target.
MATRIX_NEWEST ?= 2.20 python3.12 3.12
MATRIX_OLDEST ?= 2.17 python3.11 3.11
MATRIX_SMOKE_TARGET ?= $(SMOKE_TARGET)

.PHONY: ecosystem-venv docs chromium docs-check ecosystem matrix matrix-newest matrix-oldest

$(ECO_VENV)/.installed: requirements.txt docs/requirements.txt tests/ecosystem/requirements.txt
	$(PYTHON) -m venv $(ECO_VENV)
	$(ECO_BIN)/python -m pip install --quiet --upgrade pip
	$(ECO_BIN)/python -m pip install --quiet -r tests/ecosystem/requirements.txt
	touch $@

ecosystem-venv: $(ECO_VENV)/.installed

# lint the collection docs and build the site into docs/build/html (offline)
docs: ecosystem-venv
	bash docs/build_site.sh $(ECO_BIN)

# headless Chromium from Debian's packages (no browser downloads); installed when missing and root
chromium:
	@if command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: apt-get install -y chromium (as root)"; exit 1; fi

# build the site, then open it in headless Chromium and check what a reader sees
docs-check: docs chromium
	$(ECO_BIN)/python -m pytest -q -p no:cacheprovider tests/ecosystem/test_docs_site.py

# Galaxy build/install + playbook, AWX credential type through ansible-runner, EE build context, changelog release
ecosystem: venv ecosystem-venv
	$(ECO_BIN)/python -m pytest -q -p no:cacheprovider tests/ecosystem --ignore=tests/ecosystem/test_docs_site.py

matrix: matrix-newest matrix-oldest

matrix-newest: venv
	bash tests/ecosystem/matrix.sh $(MATRIX_NEWEST) $(MATRIX_SMOKE_TARGET)

matrix-oldest: venv
	bash tests/ecosystem/matrix.sh $(MATRIX_OLDEST) $(MATRIX_SMOKE_TARGET)

