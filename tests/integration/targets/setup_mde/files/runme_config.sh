# shellcheck shell=bash
# Sourced by the shell targets' runme.sh (`. ../setup_mde/files/runme_config.sh "$@"`): sets CONFIG, the
# settings file the emulator start wrote, and check(), the target's check.py with it. ansible-test passes
# the file with -e @FILE only for cloud targets; else it sits two folders up. Without it a target stops
# with a message, unless it sources this with CONFIG_OPTIONAL=1 (then CONFIG is "-": the target starts its own).
CONFIG=""
prev=""
for arg in "$@"; do
    if [ "$prev" = "-e" ] && [ "${arg#@}" != "$arg" ]; then CONFIG="${arg#@}"; fi
    prev="$arg"
done
[ -n "$CONFIG" ] || CONFIG="$(cd ../.. && pwd)/integration_config.yml"
if [ ! -f "$CONFIG" ]; then
    if [ -n "${CONFIG_OPTIONAL:-}" ]; then
        CONFIG="-"
    else
        echo "runme.sh needs tests/integration/integration_config.yml: start the emulator (make emulator-start)"
        exit 1
    fi
fi
check() { python3 check.py "$CONFIG" "$@"; }
