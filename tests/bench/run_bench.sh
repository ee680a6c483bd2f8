#!/usr/bin/env bash
# make bench: figures from the emulator's request log (see bench.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
"$1/bin/python" tests/bench/bench.py "$1" "$2"
# one rate budget across two concurrent jobs (issue 14): 429s and span vs the floor, Redis and file backends (reported, never asserted)
PATH="$1/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$2" "$1/bin/python" tests/integration/targets/mde_rate_budget/rate_budget.py - \
    tests/output/bench/rate_budget figures
