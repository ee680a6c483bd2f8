#!/usr/bin/env bash
# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# One row of the supported-core matrix: ansible-test sanity, units and integration with one
# ansible-core (in its own .venv-core-X.Y, made by tests/utils/ansible_test.py), against an
# emulator of its own and in a scratch tree of its own, so rows can run beside each other and
# beside `make integration`.
#
#   tests/ecosystem/matrix.sh CORE PYTHON_BIN PYTHON_VERSION [INTEGRATION_TARGET...]
#   tests/ecosystem/matrix.sh 2.20 python3.12 3.12 mde_machine_action_cancel    # smoke target only
#   tests/ecosystem/matrix.sh 2.20 python3.12 3.12                              # every target
#   tests/ecosystem/matrix.sh 2.17 python3.11 3.11 mde_machine_action_cancel    # smoke target only
#
# Results (junit, bot files) land in .cache/matrix/core-CORE/output; the emulator in
# .emulator/matrix-CORE. Exits non-zero when any part fails (all parts still run).
set -eu -o pipefail
cd "$(dirname "$0")/../.."

[ $# -ge 3 ] || { echo "usage: $0 CORE PYTHON_BIN PYTHON_VERSION [INTEGRATION_TARGET...]" >&2; exit 2; }
CORE=$1 PYTHON_BIN=$2 PYVER=$3
shift 3
TARGETS=("$@")
VENV=${VENV:-.venv}
VPY=$VENV/bin/python
EMU_DIR=.emulator/matrix-$CORE
RESULTS=.cache/matrix/core-$CORE/output
SCRATCH=${TMPDIR:-/tmp}/defender-endpoint-ansible-test/matrix-$CORE-$(pwd | sha256sum | cut -c1-12)
CONFIG=$EMU_DIR/integration_config.yml
AT=(python3 tests/utils/ansible_test.py --core "$CORE" --python-bin "$PYTHON_BIN" --scratch "$SCRATCH" --results "$RESULTS")

mkdir -p "$RESULTS"
stop_emulator() { "$VPY" tests/emulator/run_emulator.py stop --workdir "$EMU_DIR" >/dev/null || true; }
trap stop_emulator EXIT

failed=()
part() {  # name, command...
    local name=$1 start=$SECONDS
    shift
    echo "=== [core $CORE] $name"
    if "$@"; then
        echo "=== [core $CORE] $name: passed in $((SECONDS - start)) s"
    else
        echo "=== [core $CORE] $name: FAILED after $((SECONDS - start)) s"
        failed+=("$name")
    fi
}

part sanity "${AT[@]}" sanity --python "$PYVER" --venv
part units "${AT[@]}" units --python "$PYVER" --requirements

"$VPY" tests/emulator/run_emulator.py start --workdir "$EMU_DIR" --time-scale "${TEST_TIME_SCALE:-60}" --seed empty
"$VPY" tests/utils/emulator_env.py integration-config --workdir "$EMU_DIR" --out "$CONFIG"
MDE_INTEGRATION_CONFIG=$CONFIG part "integration ${TARGETS[*]:-(all targets)}" \
    "${AT[@]}" integration --python "$PYVER" --local "${TARGETS[@]}"

if [ ${#failed[@]} -gt 0 ]; then
    echo "core $CORE: FAILED: ${failed[*]}"
    exit 1
fi
echo "core $CORE: sanity, units and integration passed"
