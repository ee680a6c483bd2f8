#!/usr/bin/env bash
# make bench: the module beside the barest uri task, calls from the emulator's log, the bulk run
# (bench.py writes tests/output/bench/bench.json), then docs/performance.md and its chart from that
# JSON (render.py, in the bench's own venv .venv-bench: matplotlib).
# BENCH_RUNS (A/B pairs of plays, default 5; the module process alone gets 5 times as many), BENCH_BACKENDS (default "file redis"), BENCH_PARTS.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv-bench/bin/python ] || ! .venv-bench/bin/python -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -q -r tests/bench/requirements.txt
fi
uptime
"$1/bin/python" tests/bench/bench.py "$1" "$2"
# one rate budget across two concurrent jobs (issue 14): 429s and span vs the floor, Redis and file backends (reported, never asserted)
PATH="$1/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$2" "$1/bin/python" tests/integration/targets/mde_rate_budget/rate_budget.py - \
    tests/output/bench/rate_budget figures
if [ -f tests/bench/render.py ]; then
    cp tests/output/bench/bench.json docs/performance.json
    .venv-bench/bin/python tests/bench/render.py docs/performance.json
fi
