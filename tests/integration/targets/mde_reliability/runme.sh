#!/usr/bin/env bash
# Reliability and security checks (issue 5) as real ansible-playbook runs against the emulator:
# the fault matrix, the bad-input table, 20 processes sharing one token cache and one rate budget,
# kill -9 while the cache is written, TLS defaults, and a scan of every output for secrets.
# What is checked is defined in matrix.py; reliability.py runs it and reads every fact from the
# emulator (request log, state, issued tokens), never from the module's own word.
set -eu -o pipefail

# shellcheck source=../setup_mde/files/runme_config.sh
. ../setup_mde/files/runme_config.sh "$@"

# ansible-test runs a copy of tests/integration; the collection (docs/, tests/output/) holds OUTPUT_DIR
COLLECTION_ROOT="${OUTPUT_DIR%%/tests/output/*}"
# the published tables must show what matrix.py defines: checked once by `make lint` (reliability.py - - check-doc), not here

WORK="$OUTPUT_DIR/reliability"
rm -rf "$WORK"
status=0
python3 reliability.py "$CONFIG" "$WORK" run || status=$?
# keep the figures for `make reliability-doc` (tests/output/data is copied back to the checkout)
mkdir -p "$COLLECTION_ROOT/tests/output/data"
cp "$WORK/results.json" "$COLLECTION_ROOT/tests/output/data/reliability.json" 2>/dev/null || true
exit "$status"
