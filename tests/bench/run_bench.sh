#!/usr/bin/env bash
# make bench: figures from the emulator's request log (see bench.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
"$1/bin/python" tests/bench/bench.py "$1" "$2"
