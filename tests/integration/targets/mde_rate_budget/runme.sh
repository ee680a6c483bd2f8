#!/usr/bin/env bash
# One rate budget across AWX jobs (issue 14): two concurrent ansible-playbook "jobs" against an emulator
# and a redis-server of this target's own (see rate_budget.py). Needs redis-server (Debian's package;
# .ci/run installs it when missing).
set -eu -o pipefail

# shellcheck source=../setup_mde/files/runme_config.sh
CONFIG_OPTIONAL=1 . ../setup_mde/files/runme_config.sh "$@"

COLLECTION_ROOT="${OUTPUT_DIR%%/tests/output/*}"
WORK="$OUTPUT_DIR/rate_budget"
status=0
python3 rate_budget.py "$CONFIG" "$WORK" run || status=$?
# keep the figures (tests/output/data is copied back to the checkout)
mkdir -p "$COLLECTION_ROOT/tests/output/data"
cp "$WORK/results.json" "$COLLECTION_ROOT/tests/output/data/rate_budget.json" 2>/dev/null || true
exit "$status"
