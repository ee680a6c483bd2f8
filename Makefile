# defender.endpoint: developer entry points. `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
ANSIBLE_TEST := $(PYTHON) tests/utils/ansible_test.py --venv $(VENV)
EMU := $(VPY) tests/emulator/run_emulator.py
EMU_ENV := $(VPY) tests/utils/emulator_env.py
# ansible-playbook runs from the checkout through this collections path (a link to the checkout)
COLLECTIONS := $(CURDIR)/.cache/collections
TEST_EMU_DIR ?= .emulator/test
DEMO_EMU_DIR := .emulator/demo
TEST_TIME_SCALE ?= 60
PY_TEST_VERSION ?= 3.11

.PHONY: help venv collection-link demo test check lint units emulator-tests sanity integration smoke bench emulator-start emulator-stop clean

help:
	@echo "Run from the checkout; each target sets up what it needs (.venv, emulators, ansible-test trees)."
	@echo "  make demo            the demo playbooks against the emulator (about 1.5 min cold)"
	@echo "  make check           the everyday loop: lint, units, emulator-tests, sanity, smoke (under 5 min warm)"
	@echo "  make test            everything CI runs (.ci/run): check's parts, the whole integration suite, the"
	@echo "                       fault matrix, docs, ecosystem and the core matrix (under 30 min on 2 cores)"
	@echo "Parts (each runs alone too):"
	@echo "  make lint            antsibull-changelog lint, reliability-doc freshness, ansible-lint (production)"
	@echo "  make units           ansible-test units (default core)"
	@echo "  make emulator-tests  the emulator's own pytest suite"
	@echo "  make sanity          ansible-test sanity, no ignore files (default core)"
	@echo "  make smoke           one integration target ($(SMOKE_TARGET)) against an emulator of its own"
	@echo "  make integration     every integration target but the fault matrix, at -vvv, then a secret scan"
	@echo "  make reliability     the fault matrix, bad inputs, concurrency, kill -9, TLS (mde_reliability)"
	@echo "  make docs-check      build the docs site and check it in headless Chromium"
	@echo "  make ecosystem       Galaxy build/install, AWX credential type, EE context, changelog release"
	@echo "  make matrix          sanity, units and smoke on the newest (2.20) and oldest (2.17) cores"
	@echo "Other:"
	@echo "  make bench           module vs barest uri task, calls, bulk run; writes docs/performance.md (not part of make test)"
	@echo "  make reliability-doc rewrite docs/reliability.md's tables from the last reliability run"
	@echo "  make docs            build the docs site into docs/build/html"
	@echo "  make venv collection-link   .venv, and .cache/collections pointing at the checkout (playbooks by hand)"
	@echo "  make emulator-start | emulator-stop   an emulator for running targets by hand"
	@echo "  make clean           remove emulator state, caches and test output (the virtualenvs stay)"

$(VENV)/.installed: requirements.txt requirements-dev.txt tests/emulator/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

collection-link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/defender
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/defender/endpoint

# ---- demo --------------------------------------------------------------------------------
demo: venv collection-link
	@bash demo/run_demo.sh "$(VENV)" "$(DEMO_EMU_DIR)" "$(COLLECTIONS)"

# ---- tests -------------------------------------------------------------------------------
# `make test` (what CI runs) and `make check` (the everyday loop) run their parts through
# tests/utils/test_parts.py: a lane is a list of parts run one after another, lanes run side by
# side, a failed part lets the others run, and a table of wall times ends the run. Parts in
# different lanes never share an emulator, an ansible-test scratch tree or a results folder.
AT_TMP := $(or $(TMPDIR),/tmp)/defender-endpoint-ansible-test
REPO_HASH := $(shell printf '%s' '$(CURDIR)' | sha256sum | cut -c1-12)
INTEGRATION_SCRATCH := $(AT_TMP)/integration-$(REPO_HASH)
# the integration target `make check` runs (the core matrix runs it on the other cores too)
SMOKE_TARGET ?= mde_machine_action_cancel
RUN_PARTS = $(VPY) tests/utils/test_parts.py

-include mk/*.mk

# Lane 1 is the integration suite on the default core, split in two (the fault matrix has an
# emulator and scratch tree of its own); lane 2 the rest. See README.md, "Development".
TEST_LANE_1 ?= integration reliability
TEST_LANE_2 ?= lint units emulator-tests sanity docs-check ecosystem matrix-newest matrix-oldest
CHECK_LANES ?= "lint units emulator-tests sanity smoke"

test: venv
	@$(RUN_PARTS) --title "make test" --log-dir tests/output/parts "$(TEST_LANE_1)" "$(TEST_LANE_2)"

check: venv
	@$(RUN_PARTS) --title "make check" --log-dir tests/output/check-parts $(CHECK_LANES)

lint: venv collection-link
	$(VENV)/bin/antsibull-changelog lint
	@# the published fault-matrix tables must show what matrix.py defines (no emulator needed)
	$(VPY) tests/integration/targets/mde_reliability/reliability.py - - check-doc docs/reliability.md
	@# ANSIBLE_HOME of its own: a stray copy of the collection in ~/.ansible/collections must not shadow the checkout
	ANSIBLE_HOME=$(CURDIR)/.cache/ansible-lint-home ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(VENV)/bin/ansible-lint --offline --profile production

units: venv
	$(ANSIBLE_TEST) units --python $(PY_TEST_VERSION) --requirements

emulator-tests: venv
	$(VPY) -m pytest -q -p no:cacheprovider tests/emulator/tests

sanity: venv
	$(ANSIBLE_TEST) sanity --python $(PY_TEST_VERSION) --venv

# the emulator the integration parts run against, and the settings file it writes for the targets
INTEGRATION_CONFIG ?= tests/integration/integration_config.yml
emulator-start: venv
	$(EMU) start --workdir $(TEST_EMU_DIR) --time-scale $(TEST_TIME_SCALE) --seed empty
	$(EMU_ENV) integration-config --workdir $(TEST_EMU_DIR) --out $(INTEGRATION_CONFIG)

emulator-stop:
	@if [ -x $(VPY) ] && [ -f $(TEST_EMU_DIR)/emulator.json ]; then $(EMU) stop --workdir $(TEST_EMU_DIR); fi

# every integration target but the fault matrix (`make reliability`), at -vvv, then a scan of the
# output for secrets; INTEGRATION_TARGETS picks targets. A scratch tree of its own, so that it runs
# beside `make units` and `make sanity`.
INTEGRATION_TARGETS ?= --exclude mde_reliability
INTEGRATION_LOG ?= tests/output/integration-vvv.log
integration: venv
	@trap '$(MAKE) --no-print-directory emulator-stop TEST_EMU_DIR=$(TEST_EMU_DIR)' EXIT; \
	$(MAKE) --no-print-directory emulator-start TEST_EMU_DIR=$(TEST_EMU_DIR) INTEGRATION_CONFIG=$(INTEGRATION_CONFIG); \
	mkdir -p tests/output; \
	MDE_INTEGRATION_CONFIG=$(abspath $(INTEGRATION_CONFIG)) $(ANSIBLE_TEST) --scratch $(INTEGRATION_SCRATCH) \
		integration -vvv --python $(PY_TEST_VERSION) --local $(INTEGRATION_TARGETS) 2>&1 | tee $(INTEGRATION_LOG); \
	$(VPY) tests/utils/scan_secrets.py --config $(INTEGRATION_CONFIG) tests/output

# one integration target on the default core (`make check`), with an emulator and scratch tree of its
# own, so that it can run while `make integration` does
smoke: venv
	@$(MAKE) --no-print-directory integration INTEGRATION_TARGETS=$(SMOKE_TARGET) TEST_EMU_DIR=.emulator/smoke \
		INTEGRATION_CONFIG=.emulator/smoke/integration_config.yml INTEGRATION_SCRATCH=$(AT_TMP)/smoke-$(REPO_HASH) \
		INTEGRATION_LOG=tests/output/smoke-vvv.log

bench: venv collection-link
	@bash tests/bench/run_bench.sh "$(VENV)" "$(COLLECTIONS)"

clean:
	rm -rf .emulator .cache tests/output tests/integration/integration_config.yml
