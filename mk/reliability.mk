# Reliability and security (issue 5). The mde_reliability integration target runs inside
# `make integration` (so in `make test` and CI); these are shortcuts around it.
REL_EMU_DIR ?= .emulator/reliability
# outside the checkout: ansible-test, started in a tree inside a git repository, lists files with git
REL_TMP ?= $(AT_TMP)/reliability-$(REPO_HASH)

.PHONY: reliability reliability-doc

# only the reliability target, against an emulator of its own (safe beside other runs)
reliability: venv
	@mkdir -p $(REL_TMP) tests/output; \
	trap '$(EMU) stop --workdir $(REL_EMU_DIR)' EXIT; \
	$(EMU) start --workdir $(REL_EMU_DIR) --time-scale $(TEST_TIME_SCALE) --seed empty; \
	$(EMU_ENV) integration-config --workdir $(REL_EMU_DIR) --out $(REL_TMP)/integration_config.yml; \
	MDE_INTEGRATION_CONFIG=$(REL_TMP)/integration_config.yml $(ANSIBLE_TEST) --scratch $(REL_TMP)/scratch \
		integration -vvv --python $(PY_TEST_VERSION) --local mde_reliability 2>&1 | tee tests/output/reliability-vvv.log; \
	$(VPY) tests/utils/scan_secrets.py --config $(REL_TMP)/integration_config.yml tests/output/reliability-vvv.log

# rewrite the tables of docs/reliability.md from matrix.py and the last run's figures
reliability-doc: venv
	$(VPY) tests/integration/targets/mde_reliability/reliability.py - tests/output/data/reliability.json doc docs/reliability.md
