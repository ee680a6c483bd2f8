#!/usr/bin/env bash
# The procedures (roles containment, release, cancel_pending_actions) in real ansible-playbook runs against the
# emulator; every fact is read from the emulator's request log and state, or from the roles' report files.
set -eu -o pipefail

# shellcheck source=../setup_mde/files/runme_config.sh
. ../setup_mde/files/runme_config.sh "$@"
LOGS="$OUTPUT_DIR/logs"
OUT="$OUTPUT_DIR/out"
mkdir -p "$LOGS" "$OUT/packages"
export ANSIBLE_FORCE_COLOR=false
export XDG_CACHE_HOME="$OUTPUT_DIR/xdg"
# the emulator's rate-limit windows run faster than real time; the modules learn it from the environment
MDE_TIME_SCALE=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["mde_time_scale"])' "$CONFIG")
export MDE_TIME_SCALE

WEB=7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a
DB=4b8e1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b
LT=1e5bc9d7e413ddd7902c2932e418702b84d0cc07
LIST='["web-prod-01", "db-prod-02", "'$LT'"]'

expect_eq() {  # what, expected, actual
    if [ "$2" != "$3" ]; then echo "FAIL: $1: expected [$2], got [$3]"; exit 1; fi
    echo "ok: $1"
}
expect_in() {  # what, needle, file
    if ! grep -qF -- "$2" "$3"; then echo "FAIL: $1: '$2' not in $3"; tail -30 "$3"; exit 1; fi
    echo "ok: $1"
}
play() {  # log name, expected rc (0 or fail), args...
    local name=$1 want=$2 rc=0 start=$SECONDS; shift 2
    ansible-playbook -e "@$CONFIG" "$@" > "$LOGS/$name.log" 2>&1 || rc=$?
    if [ "$want" = 0 ] && [ "$rc" != 0 ]; then echo "FAIL: $name failed"; tail -40 "$LOGS/$name.log"; exit 1; fi
    if [ "$want" = fail ] && [ "$rc" = 0 ]; then echo "FAIL: $name was expected to fail"; tail -40 "$LOGS/$name.log"; exit 1; fi
    echo "ran: $name (rc $rc, $((SECONDS - start)) s)"
}
posts() { check posts "$1" | LC_ALL=C sort | tr '\n' ';'; }

check reset

echo "== bad input fails before any action is launched"
mark=$(check mark)
play bad_inputs 0 bad_inputs.yml
expect_eq "POSTs for bad inputs" "" "$(posts "$mark")"

CONTAIN='{"procedure": "containment", "containment_machines": '$LIST', "containment_comment": "INC-4711 contain",
  "containment_tag": "INC-4711", "containment_collect_package": true, "containment_package_dest": "'$OUT/packages'",
  "containment_poll_interval": 1, "containment_report_path": "'$OUT/contain.json'", "summary_out": "'$OUT/summary.json'"}'

echo "== check mode: nothing is launched"
mark=$(check mark)
play contain_check 0 role.yml --check -e "$CONTAIN"
expect_eq "POSTs in check mode" "" "$(posts "$mark")"
expect_eq "check mode summary" "db-prod-02 ok collect=would be launched/changed isolate=would be launched/changed scan=would be launched/changed tag=present/changed " \
    "$(check report "$OUT/summary.json" | sed -n 2p)"
[ ! -e "$OUT/contain.json" ] || { echo "FAIL: the report was written in check mode"; exit 1; }

echo "== containment of 3 machines, the scan fails on one: the others complete, the play fails after the summary"
check fail-scan "$LT"
# web-prod-01 comes first: its isolation, scan and collection stay Pending until their second poll
check hold "$WEB" 3 2
mark=$(check mark)
play contain_fault fail role.yml -e "$CONTAIN"
check unhold "$WEB"
# what the person watching sees: a line per poll of each action launched (as many as the emulator saw polls of it),
# naming step, machine, action, status and time waited; web-prod-01's three say Pending first
check progress "$mark" "$LOGS/contain_fault.log" "$OUT/contain.json" 3 > "$OUT/progress.txt" || { cat "$OUT/progress.txt"; exit 1; }
echo "ok: a progress line per poll ($(grep -c polls= "$OUT/progress.txt") actions)"
expect_in "the failure names the machine" "Containment failed on lt-0412.contoso.com" "$LOGS/contain_fault.log"
check report "$OUT/contain.json" > "$OUT/contain_fault.txt"
expect_eq "report" "web-prod-01.contoso.com ok collect=Succeeded/changed isolate=Succeeded/changed scan=Succeeded/changed tag=present/changed 
db-prod-02 ok collect=Succeeded/changed isolate=Succeeded/changed scan=Succeeded/changed tag=present/changed 
lt-0412.contoso.com FAILED isolate=Succeeded/changed tag=present/changed Run the antivirus scan: refused" "$(sed 's/: MDE API POST .*Scan refused by the test.*/: refused/' "$OUT/contain_fault.txt")"
expect_eq "launches" "collect_investigation_package $DB;collect_investigation_package $WEB;isolate $LT;isolate $DB;isolate $WEB;machine_tags $LT;machine_tags $DB;machine_tags $WEB;run_antivirus_scan $LT;run_antivirus_scan $DB;run_antivirus_scan $WEB;" \
    "$(posts "$mark")"
expect_eq "packages downloaded" "$DB.zip $WEB.zip" "$(find "$OUT/packages" -name '*.zip' -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
expect_eq "state of the failed machine" "isolated=True tags=finance,INC-4711" "$(check state "$LT")"

echo "== the re-run picks up where it stopped: only the failed machine's scan and collection are launched"
check clear-faults
mark=$(check mark)
play contain_rerun 0 role.yml -e "$CONTAIN"
expect_eq "launches of the re-run" "collect_investigation_package $LT;run_antivirus_scan $LT;" "$(posts "$mark")"
expect_eq "re-run report for the failed machine" "lt-0412.contoso.com ok collect=Succeeded/changed isolate=Succeeded/ok scan=Succeeded/changed tag=present/ok " \
    "$(check report "$OUT/contain.json" | sed -n 3p)"

echo "== per inventory host, forks 3: a third run launches nothing, every step ok"
HOSTMODE='{"procedure": "containment", "procedure_hosts": "machines", "containment_comment": "INC-4711 contain",
  "containment_tag": "INC-4711", "containment_collect_package": true, "containment_package_dest": "'$OUT/packages'",
  "containment_poll_interval": 1, "summary_out": "'$OUT/summary.json'"}'
mark=$(check mark)
play contain_hosts 0 role.yml -i inventory.hosts -f 3 -e "$HOSTMODE"
expect_eq "POSTs of a run with everything done" "" "$(posts "$mark")"
expect_eq "nothing changed" "0" "$(check report "$OUT/summary.json" | grep -c changed || true)"
expect_eq "one entry per host" "3" "$(check report "$OUT/summary.json" | grep -c ' ok ')"

echo "== release refuses a machine with a containment action pending; the others are released"
PENDING=$(check add-action "$LT" RunAntiVirusScan)
RELEASE='{"procedure": "release", "release_machines": '$LIST', "release_comment": "INC-4711 clean", "release_remove_tag": "INC-4711",
  "release_poll_interval": 1, "release_report_path": "'$OUT/release.json'", "summary_out": "'$OUT/summary.json'"}'
mark=$(check mark)
play release_refused fail role.yml -e "$RELEASE"
check progress "$mark" "$LOGS/release_refused.log" "$OUT/release.json" > "$OUT/progress.txt" || { cat "$OUT/progress.txt"; exit 1; }
echo "ok: a progress line per poll of the release ($(grep -c polls= "$OUT/progress.txt") actions)"
expect_in "says how to go on" "set release_cancel_pending to true" "$LOGS/release_refused.log"
expect_eq "release launches" "machine_tags $DB;machine_tags $WEB;unisolate $DB;unisolate $WEB;" "$(posts "$mark")"
expect_eq "the refused machine is still contained" "isolated=True tags=finance,INC-4711" "$(check state "$LT")"
expect_eq "a released machine" "isolated=False tags=prod,web tier,ansible-managed" "$(check state "$WEB")"

echo "== release with release_cancel_pending, per inventory host: cancels first, then releases"
mark=$(check mark)
play release_cancel 0 role.yml -i inventory.hosts -f 3 -e '{"procedure": "release", "procedure_hosts": "machines",
  "release_comment": "INC-4711 clean", "release_remove_tag": "INC-4711", "release_cancel_pending": true, "release_poll_interval": 1,
  "summary_out": "'"$OUT/summary.json"'"}'
expect_eq "cancel, then release" "cancel_action $PENDING;machine_tags $LT;unisolate $LT;" "$(posts "$mark")"
expect_eq "the pending scan" "Cancelled" "$(check statuses "$PENDING")"
expect_in "summary names the cancellation" "cancel_RunAntiVirusScan=Cancelled/changed" <(check report "$OUT/summary.json")

echo "== cancel_pending_actions: only the types asked, then nothing left to cancel"
ISO=$(check add-action "$DB" Isolate)
SCAN=$(check add-action "$DB" RunAntiVirusScan)
CANCEL='{"procedure": "cancel_pending_actions", "cancel_pending_actions_machines": ["'$DB'", "web-prod-01"],
  "cancel_pending_actions_comment": "INC-4711 withdrawn", "cancel_pending_actions_types": ["RunAntiVirusScan"],
  "cancel_pending_actions_report_path": "'$OUT/cancel.json'", "summary_out": "'$OUT/summary.json'"}'
mark=$(check mark)
play cancel 0 role.yml -e "$CANCEL"
expect_eq "cancels" "cancel_action $SCAN;" "$(posts "$mark")"
expect_eq "statuses" "Pending Cancelled" "$(check statuses "$ISO" "$SCAN")"
expect_eq "cancel report" "db-prod-02 ok cancel_RunAntiVirusScan=Cancelled/changed 
web-prod-01.contoso.com ok  " "$(check report "$OUT/cancel.json")"

echo "== a wait that runs out fails the machine, naming the bound (db-prod-02's scan stays Pending)"
check hold "$DB" 0 0
play contain_timeout fail role.yml -e '{"procedure": "containment", "containment_machines": ["db-prod-02"],
  "containment_comment": "INC-4712 contain", "containment_isolate": false, "containment_wait_timeout": 1,
  "containment_poll_interval": 1, "summary_out": "'"$OUT/summary.json"'"}'
check unhold "$DB"
expect_in "the wait ran out" "is still Pending after containment_wait_timeout=1 s" "$LOGS/contain_timeout.log"
expect_eq "the summary" "db-prod-02 FAILED " "$(check report "$OUT/summary.json" | cut -d' ' -f1-2) "
