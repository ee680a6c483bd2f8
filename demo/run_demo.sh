#!/usr/bin/env bash
# make demo: start the emulator with actions in several states, look them up and cancel the
# ones still running, run again to show nothing changes, show the results, stop the emulator.
set -euo pipefail
VENV=$1 WORKDIR=$2 COLLECTIONS=$3
PY="$VENV/bin/python"
cd "$(dirname "$0")/.."

"$PY" tests/emulator/run_emulator.py start --workdir "$WORKDIR" --seed demo
trap '"$PY" tests/emulator/run_emulator.py stop --workdir "$WORKDIR" >/dev/null' EXIT
eval "$("$PY" tests/utils/emulator_env.py shell --workdir "$WORKDIR")"
"$PY" tests/utils/emulator_env.py reset --workdir "$WORKDIR" --seed demo
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS" ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
# the demo's own token cache and rate budget, so it leaves nothing in ~/.cache
export XDG_CACHE_HOME="$PWD/.cache/demo-xdg"
rm -rf "$XDG_CACHE_HOME"
PLAYBOOK="$VENV/bin/ansible-playbook"

echo
echo "=== First run: look the actions up and cancel the ones still running"
seq0=$("$PY" tests/utils/emulator_env.py last-seq --workdir "$WORKDIR")
"$PLAYBOOK" demo/demo.yml
seq1=$("$PY" tests/utils/emulator_env.py last-seq --workdir "$WORKDIR")
echo
echo "=== Second run: nothing is left to cancel, every task is ok (changed=0)"
"$PLAYBOOK" demo/demo.yml
echo
echo "=== What the emulator saw during the first run"
"$PY" tests/utils/emulator_env.py summary --workdir "$WORKDIR" --since "$seq0" --until "$seq1" | sed 's/^/  /'
echo "=== ... and during the second run (the token came from the cache: no login calls)"
"$PY" tests/utils/emulator_env.py summary --workdir "$WORKDIR" --since "$seq1" | sed 's/^/  /'
