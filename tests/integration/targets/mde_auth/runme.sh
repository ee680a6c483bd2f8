#!/usr/bin/env bash
# Real ansible-playbook runs (not module calls) for what only a whole run can show: settings
# from environment variables alone, the token cache across tasks, forks and plays, each kind
# of credential, a wrong secret, and that no secret or token ever reaches the output.
# Every fact is read from the emulator's request log (check.py), never from the module.
set -eu -o pipefail

# shellcheck source=../setup_mde/files/runme_config.sh
. ../setup_mde/files/runme_config.sh "$@"
LOGS="$OUTPUT_DIR/logs"
mkdir -p "$LOGS"
export ANSIBLE_INVENTORY="$INVENTORY_PATH"
export ANSIBLE_FORCE_COLOR=false

fresh_cache() {
    export XDG_CACHE_HOME="$OUTPUT_DIR/xdg-$1"
    rm -rf "$XDG_CACHE_HOME"
}
clear_mde_env() {
    unset MDE_CLIENT_ID MDE_CLIENT_SECRET MDE_CLIENT_CERTIFICATE_PATH MDE_CLIENT_CERTIFICATE_PASSWORD MDE_ACCESS_TOKEN || true
}
expect_eq() {  # what, expected, actual
    if [ "$2" != "$3" ]; then echo "FAIL: $1: expected $2, got $3"; exit 1; fi
    echo "ok: $1 = $3"
}
expect_in() {  # what, needle, file
    if ! grep -qF -- "$2" "$3"; then echo "FAIL: $1: '$2' not in $3"; tail -20 "$3"; exit 1; fi
    echo "ok: $1"
}
play() {  # log name, playbook, extra args...
    local name=$1 book=$2; shift 2
    ansible-playbook "$book" -vvv "$@" > "$LOGS/$name.log" 2>&1
}
play_fails() {
    local name=$1 book=$2; shift 2
    if ansible-playbook "$book" -vvv "$@" > "$LOGS/$name.log" 2>&1; then
        echo "FAIL: $name was expected to fail"; tail -30 "$LOGS/$name.log"; exit 1
    fi
}

check reset
eval "$(check env default)"

echo "== settings from MDE_* environment variables only; login calls per play"
fresh_cache forks
mark=$(check mark)
play forks_first forks.yml -f 5 -i inventory.forks
expect_eq "token requests for 20 tasks over 5 forks" 1 "$(check count "$mark" login token)"
expect_eq "login-host requests for 20 tasks over 5 forks (msal discovery + token)" 2 "$(check count "$mark" login)"
expect_eq "API calls for 20 look-ups" 20 "$(check count "$mark" api list_actions)"
mark=$(check mark)
play forks_second forks.yml -f 5 -i inventory.forks
expect_eq "login-host requests for a second play within the token's lifetime" 0 "$(check count "$mark" login)"
[ "$(find "$XDG_CACHE_HOME/defender.endpoint/tokens" -name '*.json' | wc -l)" = 1 ] || { echo "FAIL: expected one cached token"; exit 1; }
expect_eq "token cache file mode" 600 "$(stat -c %a "$(find "$XDG_CACHE_HOME/defender.endpoint/tokens" -name '*.json')")"
expect_eq "token cache folder mode" 700 "$(stat -c %a "$XDG_CACHE_HOME/defender.endpoint/tokens")"
rm -rf "$XDG_CACHE_HOME/defender.endpoint/tokens"
mark=$(check mark)
play forks_third forks.yml -f 5 -i inventory.forks
expect_eq "login-host requests for a play whose token is gone (the tenant's OpenID configuration stays cached)" 1 "$(check count "$mark" login)"

echo "== a cache folder others can write to is refused"
chmod 777 "$XDG_CACHE_HOME/defender.endpoint/tokens"
mark=$(check mark)
play_fails cache_refused lookup.yml
expect_in "refusal names the folder and the fix" "is writable by other users" "$LOGS/cache_refused.log"
expect_eq "requests with a refused cache" 0 "$(( $(check count "$mark" api) + $(check count "$mark" login) ))"
chmod 700 "$XDG_CACHE_HOME/defender.endpoint/tokens"

echo "== a wrong client secret"
fresh_cache wrong
MDE_CLIENT_SECRET=$(check wrong-secret)
export MDE_CLIENT_SECRET
mark=$(check mark)
play_fails wrong_secret lookup.yml
expect_in "says the credentials were rejected" "rejected the credentials" "$LOGS/wrong_secret.log"
expect_in "names the option to fix" "client_secret (MDE_CLIENT_SECRET)" "$LOGS/wrong_secret.log"
expect_in "carries Entra ID's code" "AADSTS7000215" "$LOGS/wrong_secret.log"
expect_eq "API calls with a wrong secret" 0 "$(check count "$mark" api)"
cached=$(find "$XDG_CACHE_HOME" -path '*/tokens/*.json' 2>/dev/null | wc -l)
expect_eq "tokens cached for a wrong secret" 0 "$cached"
eval "$(check env default)"

echo "== client certificate: PEM, encrypted PEM, PKCS#12"
CERT_PEM=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["mde_cert_path"])' "$CONFIG")
CERT_ENC=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["mde_cert_encrypted_path"])' "$CONFIG")
CERT_PFX=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["mde_cert_pfx_path"])' "$CONFIG")
CERT_PW=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["mde_cert_password"])' "$CONFIG")
for kind in pem encrypted pfx; do
    clear_mde_env
    eval "$(check env cert)"
    case $kind in
        pem) export MDE_CLIENT_CERTIFICATE_PATH="$CERT_PEM" ;;
        encrypted) export MDE_CLIENT_CERTIFICATE_PATH="$CERT_ENC" MDE_CLIENT_CERTIFICATE_PASSWORD="$CERT_PW" ;;
        pfx) export MDE_CLIENT_CERTIFICATE_PATH="$CERT_PFX" MDE_CLIENT_CERTIFICATE_PASSWORD="$CERT_PW" ;;
    esac
    fresh_cache "cert-$kind"
    mark=$(check mark)
    play "cert_$kind" lookup.yml
    expect_eq "token requests with a $kind certificate" 1 "$(check count "$mark" login token)"
done
export MDE_CLIENT_CERTIFICATE_PASSWORD="not-the-password"
for path in "$CERT_ENC" "$CERT_PFX"; do
    export MDE_CLIENT_CERTIFICATE_PATH="$path"
    mark=$(check mark)
    play_fails cert_wrong_password lookup.yml
    expect_in "a wrong password for $(basename "$path") names the option" "client_certificate_password" "$LOGS/cert_wrong_password.log"
    expect_eq "requests with a wrong certificate password" 0 "$(( $(check count "$mark" api) + $(check count "$mark" login) ))"
done

echo "== a ready access token: no login host at all"
clear_mde_env
eval "$(check env default)"
TOKEN=$(check token)
clear_mde_env
export MDE_ACCESS_TOKEN="$TOKEN"
unset TOKEN
fresh_cache token
mark=$(check mark)
play access_token lookup.yml
expect_eq "login-host requests with access_token" 0 "$(check count "$mark" login)"
expect_eq "API calls with access_token" 1 "$(check count "$mark" api)"
clear_mde_env

echo "== a role granted after the token was cached: one fresh token, and the launch goes through"
clear_mde_env
eval "$(check env readonly)"
fresh_cache roles
MACHINE=$(check add-machine)
mark=$(check mark)
play_fails roles_missing roles.yml -e "machine_id=$MACHINE"
expect_in "says the fresh token did not carry the role" "the fresh token did not carry the role" "$LOGS/roles_missing.log"
expect_in "says how long a grant can take" "up to about an hour" "$LOGS/roles_missing.log"
expect_in "names the role the call needs" "Machine.Scan" "$LOGS/roles_missing.log"
expect_eq "token requests of the refused run (the first and one fresh one)" 2 "$(check count "$mark" login token)"
expect_eq "launch POSTs of the refused run (the first and one with the fresh token)" 2 "$(check count "$mark" api run_antivirus_scan)"
expect_eq "scans created by the refused run" "" "$(check actions "$MACHINE" RunAntiVirusScan)"
check grant readonly Machine.Scan
mark=$(check mark)
play roles_granted roles.yml -e "machine_id=$MACHINE"
expect_eq "token requests once the role is granted (the cached token lacks it: exactly one fresh token)" 1 "$(check count "$mark" login token)"
expect_eq "launch POSTs once the role is granted (refused with the cached token, then created)" 2 "$(check count "$mark" api run_antivirus_scan)"
expect_eq "scans created once the role is granted" 1 "$(check actions "$MACHINE" RunAntiVirusScan | grep -c .)"
expect_in "the run reports the scan as started" "changed=1" "$LOGS/roles_granted.log"
clear_mde_env

echo "== no secret and no token in any output"
check scan "$LOGS"/*.log
# files other than the token cache: the rate budget state must not hold secrets either
find "$OUTPUT_DIR"/xdg-* -type f ! -path '*/tokens/*' -print0 | xargs -0 -r python3 check.py "$CONFIG" scan
