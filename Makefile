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

.PHONY: help venv collection-link demo test lint units emulator-tests sanity integration bench emulator-start emulator-stop clean

help:
	@echo "make demo   - run the demo against the emulator (sets everything up)"
	@echo "make test   - every test CI runs: unit, emulator, sanity, integration"
	@echo "make bench  - API and login calls per task/play, from the emulator's request log"
	@echo "make lint | units | emulator-tests | sanity | integration - one part of the tests"

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
# Parts of `make test`; files in mk/ add their own (TEST_PARTS += ...).
TEST_PARTS := lint units emulator-tests sanity integration
-include mk/*.mk

test: venv
	@for part in $(TEST_PARTS); do echo "=== make $$part"; $(MAKE) --no-print-directory $$part || exit 1; done
	@echo "make test: all parts passed ($(TEST_PARTS))"

lint: venv collection-link
	$(VENV)/bin/antsibull-changelog lint
	@# ANSIBLE_HOME of its own: a stray copy of the collection in ~/.ansible/collections must not shadow the checkout
	ANSIBLE_HOME=$(CURDIR)/.cache/ansible-lint-home ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) $(VENV)/bin/ansible-lint --offline --profile production

units: venv
	$(ANSIBLE_TEST) units --python $(PY_TEST_VERSION) --requirements

emulator-tests: venv
	$(VPY) -m pytest -q tests/emulator/tests

sanity: venv
	$(ANSIBLE_TEST) sanity --python $(PY_TEST_VERSION) --venv

emulator-start: venv
	$(EMU) start --workdir $(TEST_EMU_DIR) --time-scale $(TEST_TIME_SCALE) --seed empty
	$(EMU_ENV) integration-config --workdir $(TEST_EMU_DIR)

emulator-stop:
	@if [ -x $(VPY) ] && [ -f $(TEST_EMU_DIR)/emulator.json ]; then $(EMU) stop --workdir $(TEST_EMU_DIR); fi

integration: venv
	@trap '$(MAKE) --no-print-directory emulator-stop' EXIT; \
	$(MAKE) --no-print-directory emulator-start; \
	mkdir -p tests/output; \
	$(ANSIBLE_TEST) integration -vvv --python $(PY_TEST_VERSION) --local $(INTEGRATION_TARGETS) 2>&1 | tee tests/output/integration-vvv.log; \
	$(VPY) tests/utils/scan_secrets.py --config tests/integration/integration_config.yml tests/output

bench: venv collection-link
	@bash tests/bench/run_bench.sh "$(VENV)" "$(COLLECTIONS)"

clean:
	rm -rf .emulator .cache tests/output tests/integration/integration_config.yml
