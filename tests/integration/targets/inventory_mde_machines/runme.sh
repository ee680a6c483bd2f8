#!/usr/bin/env bash
# The inventory plugin defender.endpoint.mde_machines in real ansible-inventory and ansible-playbook runs against
# the emulator (seed "fleet": 314 machines); the API calls are read from the emulator's request log, the output
# compared with golden files (golden/, written once with UPDATE_GOLDEN=1 and reviewed by hand).
set -eu -o pipefail

# shellcheck source=../setup_mde/files/runme_config.sh
. ../setup_mde/files/runme_config.sh "$@"
LOGS="$OUTPUT_DIR/logs"
OUT="$OUTPUT_DIR/out"
mkdir -p "$LOGS" "$OUT"
export ANSIBLE_FORCE_COLOR=false
export XDG_CACHE_HOME="$OUTPUT_DIR/xdg"
export ANSIBLE_INVENTORY_CACHE_CONNECTION="$OUTPUT_DIR/inventory-cache"
# the connection settings come from the environment, as the modules take them
eval "$(check env)"

expect_eq() {  # what, expected, actual
    if [ "$2" != "$3" ]; then echo "FAIL: $1: expected [$2], got [$3]"; exit 1; fi
    echo "ok: $1"
}
expect_in() {  # what, needle, file
    if ! grep -qF -- "$2" "$3"; then echo "FAIL: $1: '$2' not in $3"; tail -30 "$3"; exit 1; fi
    echo "ok: $1"
}
inventory() {  # log name, expected rc (0 or fail), args...
    local name=$1 want=$2 rc=0; shift 2
    ansible-inventory "$@" > "$OUT/$name" 2> "$LOGS/$name.log" || rc=$?
    if [ "$want" = 0 ] && [ "$rc" != 0 ]; then echo "FAIL: $name failed"; tail -40 "$LOGS/$name.log"; exit 1; fi
    if [ "$want" = fail ] && [ "$rc" = 0 ]; then echo "FAIL: $name was expected to fail"; tail -40 "$LOGS/$name.log"; exit 1; fi
    echo "ran: ansible-inventory $name (rc $rc)"
}
calls() { check calls "$1" | tr '\n' ';'; }

check reset fleet

echo "== the inventory cases, every isolation state: --list and --graph equal the golden files"
mark=$(check mark)
inventory cases.json 0 -i cases.mde_machines.yml --list
check compare "$OUT/cases.json" golden/cases.json
echo "ok: cases --list is the golden one"
expect_eq "calls of a first run: one list of machines, one of actions, one token" \
    "api list_actions 1;api list_machines 1;login openid_configuration 1;login token 1;" "$(calls "$mark")"
expect_eq "mde_isolated" "35e976c474881444a0be94a282891c2f7e0a151d both-restricting.contoso.com iso-isolated.contoso.com iso-isolating.contoso.com iso-release-failed.contoso.com" \
    "$(check hosts "$OUT/cases.json" mde_isolated | tr '\n' ' ' | sed 's/ $//')"
expect_eq "the newest of three records keeps the name" "['92cb67a5a5b4f53da9d61ab961465f3457e5b7ab', '35e976c474881444a0be94a282891c2f7e0a151d']" \
    "$(check hostvar "$OUT/cases.json" reimaged-01.contoso.com mde_duplicate_of)"

echo "== the whole fleet: --graph equals the golden file, the token is reused"
mark=$(check mark)
inventory fleet.graph 0 -i fleet.mde_machines.yml --graph
check compare "$OUT/fleet.graph" golden/fleet.graph
echo "ok: fleet --graph is the golden one"
mark=$(check mark)
inventory fleet.json 0 -i fleet.mde_machines.yml --list
expect_eq "calls of 314 machines with isolation_state (token cached)" "api list_actions 1;api list_machines 1;" "$(calls "$mark")"
expect_eq "hosts" "314" "$(check hosts "$OUT/fleet.json" | wc -l)"

echo "== isolation_state false: no machine-actions call"
mark=$(check mark)
inventory plain.json 0 -i plain.mde_machines.yml --list
expect_eq "calls of 314 machines without isolation_state" "api list_machines 1;" "$(calls "$mark")"
expect_eq "no isolation variables" "None" "$(check hostvar "$OUT/plain.json" iso-isolated.contoso.com mde_isolation)"
expect_eq "same hosts" "$(check hosts "$OUT/fleet.json" | md5sum)" "$(check hosts "$OUT/plain.json" | md5sum)"

echo "== pages of 50 machines with next links: the same inventory in 7 list calls"
check page-size 50
mark=$(check mark)
inventory fleet_paged.json 0 -i fleet.mde_machines.yml --list
expect_eq "calls across page boundaries" "api list_actions 1;api list_machines 7;" "$(calls "$mark")"
check compare "$OUT/fleet_paged.json" "$OUT/fleet.json"
echo "ok: the paged inventory equals the unpaged one"

echo "== cache: a fresh cache makes no call at all"
inventory cached_first.json 0 -i cached.mde_machines.yml --list
cache_files() { find "$ANSIBLE_INVENTORY_CACHE_CONNECTION" -type f | LC_ALL=C sort | xargs sha256sum; }
before=$(cache_files)
[ -n "$before" ] || { echo "FAIL: no cache file written"; exit 1; }
mark=$(check mark)
inventory cached_hit.json 0 -i cached.mde_machines.yml --list
expect_eq "calls with a fresh cache (API and login)" "" "$(calls "$mark")"
check compare "$OUT/cached_hit.json" "$OUT/cached_first.json"
echo "ok: the cached inventory equals the fetched one"

echo "== a failure on the 4th page: no partial inventory, the cache is kept"
check fail-page 150
mark=$(check mark)
MDE_MAX_RETRIES=0 ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true inventory failed.json fail -i cached.mde_machines.yml --list --flush-cache
expect_in "the error says no host of it is used" "the inventory was not built (no host of it is used)" "$LOGS/failed.json.log"
expect_in "the error names the failed call" "HTTP 503" "$LOGS/failed.json.log"
expect_eq "pages asked before the failure" "api list_machines 4;" "$(calls "$mark")"
MDE_MAX_RETRIES=0 inventory failed_lenient.json 0 -i cached.mde_machines.yml --list --flush-cache
expect_eq "without any_unparsed_is_failed: no host at all" "0" "$(check hosts "$OUT/failed_lenient.json" | wc -l)"
expect_eq "the cache of the earlier good run is kept" "$before" "$(cache_files)"
check clear-faults
check page-size 10000

echo "== a play over mde_isolated with the release role"
mark=$(check mark)
start=$SECONDS
MDE_POLL_INTERVAL=0.2 ansible-playbook -i cases.mde_machines.yml release.yml -e "report_path=$OUT/release.json" > "$LOGS/release.log" 2>&1 \
    || { echo "FAIL: release play"; tail -40 "$LOGS/release.log"; exit 1; }
echo "ran: release play ($((SECONDS - start)) s)"
expect_eq "the play reuses the inventory's token: no login call" "" "$(check calls "$mark" | grep '^login' || true)"
check posts "$mark" | LC_ALL=C sort > "$OUT/release.posts"
check compare "$OUT/release.posts" golden/release.posts
echo "ok: the running isolation and restriction cancelled, one unisolate per host still isolated (golden/release.posts)"
inventory after.json 0 -i cases.mde_machines.yml --list
expect_eq "mde_isolated after the play" "" "$(check hosts "$OUT/after.json" mde_isolated)"
case "$(check hostvar "$OUT/after.json" iso-isolated.contoso.com mde_isolation)" in
    releasing|released) echo "ok: a host being released (or released)";;
    *) echo "FAIL: iso-isolated.contoso.com is not being released"; exit 1;;
esac
expect_eq "the host whose pending isolation was cancelled" "unknown" "$(check hostvar "$OUT/after.json" iso-isolating.contoso.com mde_isolation)"

echo "== no machines at all (the API's 404): an empty inventory, not an error"
check reset none
ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true inventory empty.json 0 -i plain.mde_machines.yml --list
expect_eq "hosts" "0" "$(check hosts "$OUT/empty.json" | wc -l)"
expect_in "a warning says so" "MDE listed no machines" "$LOGS/empty.json.log"
